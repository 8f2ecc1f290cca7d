// The offscreen document (server.html): while the extension serves, it holds a connection to the
// browsercouch shared worker, so the worker lives even with no tab of the app open, and relays between the
// worker and the background service worker (background.js has the message schema).
//
// The worker is joined with the same URL and name as the app's couch.js, so it is the very worker the
// app's tabs use: what they show is what peers are served.

import { hostFileWriter } from "./app/couch.js";

const RELAYED = new Set(["progress", "ready", "failed", "serving", "serve-error", "serve-closed", "stats"]);
// A service worker that restarted drops our port; we connect again after this delay.
const RECONNECT_MS = 1000;

const worker = new SharedWorker(chrome.runtime.getURL("app/couch-worker.js"),
  { type: "module", name: "browsercouch" });
let outcome = null; // the worker's ready or failed message, once it came
let pendingServe = null; // a serve message that came before the worker was ready
let background = null;

function relay(message) {
  background?.postMessage(message);
}

worker.onerror = (event) => {
  outcome = { type: "failed", error: event.message || "the browsercouch worker failed to start" };
  relay(outcome);
};

worker.port.onmessage = ({ data }) => {
  if (data.type === "ready" || data.type === "failed") outcome = data;
  if (data.type === "ready" && pendingServe) {
    worker.port.postMessage(pendingServe);
    pendingServe = null;
  }
  if (RELAYED.has(data.type)) relay(data);
};
worker.port.start();
hostFileWriter(worker.port);

function serve(message) {
  if (outcome?.type === "ready") worker.port.postMessage(message);
  else pendingServe = message;
}

function connect() {
  background = chrome.runtime.connect({ name: "server" });
  background.onMessage.addListener((message) => {
    if (message.type === "serve") serve(message);
    else if (message.type === "stop-serving") worker.port.postMessage(message);
  });
  background.onDisconnect.addListener(() => {
    background = null;
    setTimeout(connect, RECONNECT_MS);
  });
  if (outcome) relay(outcome);
}

connect();
