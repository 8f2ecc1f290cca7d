// The extension's service worker: it owns serving. It runs the socket bridge (a native messaging host,
// `python -m browsercouch.bridge`), asks it to listen, and hands the bridge's byte channel to the
// browsercouch shared worker (app/couch-worker.js) through the offscreen document (server.js), which keeps
// that worker alive. A connected native port keeps this service worker alive while serving.
//
// Lifecycle: `start` persists the settings and launches the bridge; a bridge that goes away on its own
// (crashed, killed) is launched again with a growing delay and its new channel handed to the same worker,
// so serving resumes; after RESTART_DELAYS_MS.length failures in a row it gives up (state "failed").
// When the browser starts (or this worker wakes up) and the settings say serving, it resumes.
// LAN mode binds 0.0.0.0 and always hands the worker an admin (generated on the first LAN start);
// loopback mode hands it none (admin party, as the native server on 127.0.0.1). `cors` lists the web
// origins allowed to call the server from a page (CouchDB's [cors]: "*" for any; none by default);
// `hostnames` the names peers may use in Host besides the machine's addresses (`--hostname`).
// LAN discovery: once serving the LAN, the bridge is asked to announce the server (DNS-SD over mDNS,
// `_couchdb._tcp`, with `name`, the display name: `--name`) and to browse for others; what it finds
// comes back unasked and is the status' `peers`. Loopback serving neither announces nor browses.
//
// Messages from extension pages (chrome.runtime.sendMessage), each answered with the status:
//   {type: "start", port, lan, admin?, cors?, hostnames?, name?}   serve with these settings (omitted ones: as
//                                stored; the same settings while running: nothing to do)
//   {type: "stop"}
//   {type: "status"}
// Status: {serving, state, stage, port, lan, cors, host, urls, note, admin: {name, password} | null,
//   uuid, connections, requests, log: [lines], error, storageError, name, announced, peers: [PEER]}.
//   PEER: {name, uuid, kind: "browser"|"server"|"couchdb", auth, url, addresses, port, instance, version}. `serving` is the persisted choice; `state`
//   is "stopped", "starting", "serving", "restarting" or "failed"; `log` is this worker's events, then the
//   shared worker's recent lines (its access log).
//
// Native messaging with the bridge (control only):
//   -> {type: "listen", host, port}   <- {type: "listening", host, port, channel, addresses?}
//                                     <- {type: "error", error, reason}
//   -> {type: "ping"}                 <- {type: "pong", connections, channel}
//   -> {type: "announce", uuid, name, auth}   <- {type: "announced", instance | null, reason?}
//                                     <- {type: "peers", peers} (unasked, whenever they change)
// The bridge exits, closing every connection, when its port disconnects: that is how serving stops.
//
// The offscreen document connects a runtime port named "server":
//   -> {type: "serve", channel, admin, cors, hostnames}, {type: "stop-serving"}
//   <- the shared worker's {type: "progress" | "ready" | "failed" | "serving" | "serve-error" |
//      "serve-closed" | "stats"} (web/couch-worker.js has their fields)

import { DEFAULT_PORT, HOST_NAME } from "./app/constants.js";

const DEFAULTS = { serving: false, port: DEFAULT_PORT, lan: false, admin: null, cors: [], hostnames: [],
  name: null };
const ADMIN_NAME = "admin";
// Delays before relaunching a bridge that went away; the count is how many failures in a row we accept.
const RESTART_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000];
// The bridge is asked how it is every PING_MS; a channel missing in CHANNEL_MISSES pongs in a row means
// the worker lost it, and the bridge is restarted.
const PING_MS = 5000;
const CHANNEL_MISSES = 2;
// How long a running bridge gets to confirm a stop (free its port) before it is disconnected anyway.
const STOP_WAIT_MS = 2000;
const LOG_LINES = 100;

let settings = { ...DEFAULTS };
const live = freshLive();
const events = [];
let bridge = null; // the native Port, while the bridge runs
let server = null; // the offscreen document's Port
let failures = 0; // bridge failures in a row
let restartTimer = null;
let pingTimer = null;
let channelMisses = 0;
let confirmStop = null; // resolves stopListening() when the bridge says "stopped" or goes away

function freshLive() {
  return { state: "stopped", stage: null, host: null, port: null, channel: null, addresses: null, uuid: null,
    connections: 0, requests: 0, workerLog: [], storageError: null, error: null, announced: null, peers: [] };
}

function log(text) {
  events.push(`${new Date().toTimeString().slice(0, 8)} ${text}`);
  events.splice(0, events.length - LOG_LINES);
}

// One operation at a time: a start, a stop and a bridge restart never interleave.
let queue = Promise.resolve();
function serialized(operation) {
  const run = queue.then(operation);
  queue = run.catch(() => {});
  return run;
}

async function save(changes) {
  settings = { ...settings, ...changes };
  await chrome.storage.local.set({ settings });
}

function newAdmin() {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  const password = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
  return { name: ADMIN_NAME, password };
}

// --- serving -----------------------------------------------------------------------------------------------

// `admin` ({name, password}, optional) replaces the stored LAN admin: `browsercouch browser --admin`.
async function start({ port = settings.port, lan = settings.lan, admin: given = null,
  cors = settings.cors, hostnames = settings.hostnames, name = settings.name } = {}) {
  port = Number(port);
  lan = Boolean(lan);
  cors = [...new Set(cors.map(corsOrigin))];
  hostnames = [...new Set(hostnames.map((name) => String(name).trim().toLowerCase()).filter(Boolean))];
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`not a TCP port: ${port}`);
  if (given && !(given.name && given.password)) throw new Error("an admin needs a name and a password");
  const sameAdmin = !given || (settings.admin?.name === given.name && settings.admin?.password === given.password);
  const sameCors = cors.join(" ") === settings.cors.join(" ");
  const sameHostnames = hostnames.join(" ") === settings.hostnames.join(" ");
  name = String(name ?? "").trim() || null;
  const running = ["starting", "serving", "restarting"].includes(live.state);
  if (running && settings.serving && settings.port === port && settings.lan === lan && sameAdmin && sameCors
    && sameHostnames && settings.name === name) {
    return;
  }
  await stopListening();
  let admin = given ?? settings.admin;
  if (lan && !admin) {
    admin = newAdmin();
    log(`generated a password for "${admin.name}" (LAN peers must log in)`);
  }
  await save({ serving: true, port, lan, admin, cors, hostnames, name });
  failures = 0;
  launch("starting");
}

// An origin as CouchDB's [cors] origins match it (scheme://host[:port], exactly), or "*".
function corsOrigin(text) {
  const origin = String(text).trim().replace(/\/$/, "");
  if (origin === "*" || /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]+$/i.test(origin)) return origin;
  throw new Error(`not a web origin (scheme://host[:port], or *): ${text}`);
}

async function stop() {
  await save({ serving: false });
  server?.postMessage({ type: "stop-serving" });
  await stopListening();
  halt();
  Object.assign(live, freshLive());
  await closeServerDocument();
  log("stopped");
}

async function fail(error) {
  await save({ serving: false });
  halt();
  Object.assign(live, { state: "failed", stage: null, channel: null, error });
  log(`failed: ${error}`);
  await closeServerDocument();
}

// Ask a running bridge to close its listener and connections, so that the next bridge can take the port.
function stopListening() {
  if (bridge === null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, STOP_WAIT_MS);
    function done() {
      clearTimeout(timer);
      confirmStop = null;
      resolve();
    }
    confirmStop = done;
    bridge.postMessage({ type: "stop" });
  });
}

// End the bridge (it closes the listener and every connection) without treating it as a crash.
function halt() {
  clearTimeout(restartTimer);
  clearInterval(pingTimer);
  restartTimer = pingTimer = null;
  const port = bridge;
  bridge = null;
  port?.disconnect();
}

function launch(state) {
  halt();
  Object.assign(live, { state, error: null, host: null, port: null, channel: null, addresses: null,
    connections: 0 });
  const host = settings.lan ? "0.0.0.0" : "127.0.0.1";
  log(`starting the bridge: listen on ${host}:${settings.port}`);
  const port = chrome.runtime.connectNative(HOST_NAME);
  bridge = port;
  port.onMessage.addListener((message) => {
    // Not queued: a start or a stop waits for it inside the queue.
    if (message?.type === "stopped") confirmStop?.();
    else serialized(() => port === bridge && onBridgeMessage(message));
  });
  port.onDisconnect.addListener(() => {
    if (port === bridge) confirmStop?.();
    const reason = (chrome.runtime.lastError?.message || "the bridge exited").replace(/\.$/, "");
    serialized(() => port === bridge && onBridgeGone(reason));
  });
  port.postMessage({ type: "listen", host, port: settings.port });
}

const BRIDGE_HANDLERS = {
  async listening(message) {
    Object.assign(live, { host: message.host, port: message.port, channel: message.channel,
      addresses: message.addresses ?? null });
    log(`the bridge listens on ${message.host}:${message.port}`);
    channelMisses = 0;
    pingTimer = setInterval(() => bridge?.postMessage({ type: "ping" }), PING_MS);
    await handToWorker();
  },
  async error(message) {
    const text = message.reason || message.error;
    if (live.channel === null) return fail(`cannot listen on ${settings.port}: ${text}`);
    log(`bridge: ${text}`);
  },
  announced(message) {
    live.announced = message.instance;
    log(message.instance ? `announced on the LAN as "${message.instance}"` : message.reason);
  },
  peers(message) {
    live.peers = message.peers ?? [];
  },
  async pong(message) {
    live.connections = message.connections ?? live.connections;
    channelMisses = message.channel === false && live.state === "serving" ? channelMisses + 1 : 0;
    if (channelMisses >= CHANNEL_MISSES) return restartBridge("the worker lost the bridge's channel");
  },
};

function onBridgeMessage(message) {
  return BRIDGE_HANDLERS[message?.type]?.(message);
}

function onBridgeGone(reason) {
  bridge = null;
  clearInterval(pingTimer);
  if (!settings.serving) return;
  if (live.state === "starting" && live.channel === null) {
    return fail(`the bridge did not start (${reason}). Is it installed? Run: browsercouch install-bridge`);
  }
  return restartBridge(reason);
}

async function restartBridge(reason) {
  await stopListening();
  halt();
  failures += 1;
  if (failures > RESTART_DELAYS_MS.length) return fail(`the bridge keeps failing: ${reason}`);
  const delay = RESTART_DELAYS_MS[failures - 1];
  Object.assign(live, { state: "restarting", channel: null, connections: 0 });
  log(`${reason}; restarting the bridge in ${delay / 1000} s`);
  restartTimer = setTimeout(() => serialized(() => {
    restartTimer = null;
    if (settings.serving && bridge === null) launch("restarting");
  }), delay);
}

// --- the offscreen document and the shared worker ----------------------------------------------------------

async function serverDocumentExists() {
  const contexts = await chrome.runtime.getContexts({ contextTypes: ["OFFSCREEN_DOCUMENT"] });
  return contexts.length > 0;
}

async function handToWorker() {
  if (await serverDocumentExists()) {
    sendServe();
    return;
  }
  // The document connects back ("server" port) once loaded; onServerConnect hands it the channel then.
  await chrome.offscreen.createDocument({ url: "server.html", reasons: ["WORKERS"],
    justification: "Keeps the browsercouch shared worker running while it serves peers." });
}

function sendServe() {
  if (server === null || live.channel === null) return;
  server.postMessage({ type: "serve", channel: live.channel, admin: settings.lan ? settings.admin : null,
    cors: settings.cors, hostnames: settings.hostnames });
}

async function closeServerDocument() {
  if (await serverDocumentExists()) await chrome.offscreen.closeDocument();
}

const SERVER_HANDLERS = {
  progress(message) {
    live.stage = message.stage;
  },
  ready(message) {
    Object.assign(live, { stage: null, uuid: message.uuid });
  },
  failed(message) {
    return fail(`browsercouch did not start: ${message.error}`);
  },
  serving() {
    live.state = "serving";
    failures = 0;
    log(`serving on ${urls().join(" ")}`);
    if (settings.lan) bridge?.postMessage({ type: "announce", uuid: live.uuid, name: settings.name, auth: true });
  },
  "serve-error"(message) {
    return restartBridge(`the worker could not serve: ${message.error}`);
  },
  "serve-closed"() {
    // The channel closed under a running bridge (a bridge that exits is noticed through its port).
    if (live.state === "serving" && bridge !== null) return restartBridge("the bridge's channel closed");
  },
  stats(message) {
    Object.assign(live, { connections: message.connections ?? live.connections,
      requests: message.requests ?? live.requests, workerLog: message.log ?? live.workerLog,
      storageError: message.last_error ?? null });
  },
};

function onServerConnect(port) {
  if (port.name !== "server") return;
  serialized(async () => {
    await loaded;
    if (!settings.serving) {
      port.disconnect();
      await closeServerDocument();
      return;
    }
    server = port;
    port.onMessage.addListener((message) => serialized(() => SERVER_HANDLERS[message?.type]?.(message)));
    port.onDisconnect.addListener(() => serialized(() => onServerGone(port)));
    sendServe();
  });
}

function onServerGone(port) {
  if (server !== port) return;
  server = null;
  // The worker went with its document: a fresh bridge gets a fresh document (and worker) a channel.
  if (settings.serving && bridge !== null) return restartBridge("the serving document closed");
}

// --- status and messages -----------------------------------------------------------------------------------

function urls(port = live.port ?? settings.port) {
  const lan = settings.lan ? (live.addresses ?? []).map((address) => `http://${address}:${port}/`) : [];
  return [`http://127.0.0.1:${port}/`, ...lan];
}

function status() {
  const port = live.port ?? settings.port;
  let note = null;
  if (settings.lan && live.addresses === null) note = `LAN peers use http://<this machine's address>:${port}/`;
  else if (settings.lan && live.addresses.length === 0) note = "This machine has no LAN address right now.";
  return {
    serving: settings.serving, state: live.state, stage: live.stage, port, lan: settings.lan,
    cors: settings.cors, host: live.host,
    urls: urls(port), note, admin: settings.lan ? settings.admin : null, uuid: live.uuid,
    connections: live.connections, requests: live.requests, log: [...events, ...live.workerLog],
    error: live.error, storageError: live.storageError, name: settings.name, announced: live.announced,
    peers: live.peers,
  };
}

const MESSAGE_HANDLERS = { start, stop, status: () => {} };

chrome.runtime.onMessage.addListener((message, sender, reply) => {
  const handler = MESSAGE_HANDLERS[message?.type];
  if (handler === undefined) return false;
  serialized(async () => {
    await loaded;
    await handler(message);
  }).then(() => reply(status()), (error) => reply({ ...status(), error: String(error?.message ?? error) }));
  return true; // the reply comes later
});

chrome.runtime.onConnect.addListener(onServerConnect);

// --- resuming ----------------------------------------------------------------------------------------------

const loaded = chrome.storage.local.get("settings").then((stored) => {
  settings = { ...DEFAULTS, ...stored.settings };
});

function resume() {
  return serialized(async () => {
    await loaded;
    if (!settings.serving || bridge !== null || restartTimer !== null) return;
    log("resuming serving");
    failures = 0;
    launch("starting");
  });
}

// Registered at the top level so that a browser start wakes this worker; resume() also runs on any wake.
chrome.runtime.onStartup.addListener(resume);
chrome.runtime.onInstalled.addListener(resume);
resume();
