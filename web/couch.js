// Two ways for the web app to reach a CouchDB, with one interface:
//
//   const response = await couch.request(method, path, { headers, body });
//   response.status, response.headers (lowercase names), response.body (Uint8Array),
//   response.text(), response.json()
//
// `path` starts with "/" and is already URL-encoded ("/db/doc%2Fid?conflicts=true"); `body` is a string,
// a Uint8Array or undefined. Only whole responses: no continuous feeds.
//
// TabCouch is browsercouch running in the browser: Pyodide in a module SharedWorker (couch-worker.js),
// one per origin, so every tab of the app sees the same databases; they are persisted in OPFS by a file
// writer each page starts (opfs-writer.js). HttpCouch is any CouchDB reached with fetch: from a web page
// it must allow the page's origin by CORS (browsercouch serve --cors ORIGIN); the extension's pages
// reach any (its host permissions).

class CouchResponse {
  constructor(status, headers, body) {
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  text() {
    return new TextDecoder().decode(this.body);
  }

  json() {
    return JSON.parse(this.text());
  }
}

function encodeBody(body) {
  if (body === undefined || body === null) return null;
  return typeof body === "string" ? new TextEncoder().encode(body) : body;
}

export class HttpCouch {
  constructor(baseUrl) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.name = this.baseUrl;
  }

  async request(method, path, { headers = {}, body } = {}) {
    const response = await fetch(this.baseUrl + path, { method, headers, body: encodeBody(body) });
    const names = {};
    response.headers.forEach((value, name) => { names[name.toLowerCase()] = value; });
    return new CouchResponse(response.status, names, new Uint8Array(await response.arrayBuffer()));
  }
}

// Start browsercouch in the shared worker, or join it. `onProgress({stage, percent})` is called while it
// loads; the returned promise resolves once the databases are open, to a TabCouch whose `info` is the
// worker's ready message ({uuid, storage, timings}).
export function startTabCouch({ onProgress = () => {}, workerUrl = new URL("./couch-worker.js", import.meta.url) } = {}) {
  const worker = new SharedWorker(workerUrl, { type: "module", name: "browsercouch" });
  const port = worker.port;
  hostFileWriter(port);
  const pending = new Map();
  let nextId = 1;
  let couch = null;
  return new Promise((resolve, reject) => {
    worker.onerror = (event) => reject(new Error(event.message || "the browsercouch worker failed to start"));
    port.onmessage = ({ data }) => {
      if (data.type === "progress") onProgress(data);
      else if (data.type === "failed") reject(new Error(data.error));
      else if (data.type === "ready") resolve(couch = new TabCouch(port, pending, () => nextId++, data));
      else if (data.type === "rtc-send" || data.type === "rtc-drop") couch?.onPeerMessage?.(data);
      else if (data.type === "response") {
        const { resolve: done, reject: fail } = pending.get(data.id);
        pending.delete(data.id);
        if (data.error) fail(new Error(data.error));
        else done(new CouchResponse(data.status, data.headers, data.body));
      }
    };
    port.start();
  });
}

// Start this page's file writer (a dedicated worker: only those may open OPFS sync access handles) and
// hand its port to the shared worker `workerPort` belongs to. One writer of the origin writes at a time;
// this one takes over if the page whose writer is in use goes. Returns the writer's Worker.
export function hostFileWriter(workerPort, writerUrl = new URL("./opfs-writer.js", import.meta.url)) {
  const writer = new Worker(writerUrl, { type: "module", name: "browsercouch files" });
  const channel = new MessageChannel();
  writer.postMessage({ type: "port" }, [channel.port1]);
  workerPort.postMessage({ type: "writer" }, [channel.port2]);
  return writer;
}

class TabCouch {
  constructor(port, pending, newId, info) {
    this.port = port;
    this.pending = pending;
    this.newId = newId;
    this.info = info;
    this.name = "this browser";
    this.onPeerMessage = null; // set by the page's WebRTC links (webrtc.js) to get their frames
  }

  request(method, path, { headers = {}, body } = {}) {
    const id = this.newId();
    const bytes = encodeBody(body);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Transfer only a buffer made here: the caller's own Uint8Array stays usable.
      this.port.postMessage({ type: "request", id, method, path, headers, body: bytes },
        typeof body === "string" ? [bytes.buffer] : []);
    });
  }
}
