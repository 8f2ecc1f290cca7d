// Serving the socket bridge's connections from the worker: the bridge's byte channel is a WebSocket on
// 127.0.0.1 whose messages go straight into Python (browsercouch/tab/channel.py) and back. The HTTP
// parsing, the CouchDB API and the storage all run in Python; this only moves messages.

import { PBKDF2_ITERATIONS } from "./constants.js";

const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");

// The admin's credential fields as CouchDB stores them, derived here with WebCrypto: Python's pure
// PBKDF2 would take seconds in Pyodide.
async function adminCredentials({ name, password }) {
  const salt = hex(crypto.getRandomValues(new Uint8Array(16)));
  const encode = (text) => new TextEncoder().encode(text);
  const key = await crypto.subtle.importKey("raw", encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: encode(salt), iterations: PBKDF2_ITERATIONS }, key, 256);
  return { name, password, salt, derived_key: hex(bits), iterations: PBKDF2_ITERATIONS };
}

function connect(url) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error(`cannot open the bridge's channel ${url.split("/channel/")[0]}`));
  });
}

// Serve the channel at `channel` (ws://127.0.0.1:PORT/channel/TOKEN) until it closes, allowing the web
// origins `cors` by CORS and the names `hostnames` in Host headers; `onClosed()` is called then. Returns
// a function that stops serving.
export async function serveChannel(tab, { channel, admin, cors = [], hostnames = [] }, onClosed) {
  const credentials = admin ? await adminCredentials(admin) : null;
  const socket = await connect(channel);
  tab.serve((message) => socket.send(message), credentials, cors, hostnames);
  socket.onmessage = ({ data }) => tab.receive(new Uint8Array(data));
  socket.onclose = () => {
    tab.stop_serving();
    onClosed();
  };
  return () => {
    socket.onclose = null;
    socket.close();
    tab.stop_serving();
  };
}
