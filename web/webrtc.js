// WebRTC links between this browser's browsercouch and other browsers' (issue 14), with no server between
// them. The page owns the RTCPeerConnections (workers have none) and only moves their data channels'
// messages to and from Python in the shared worker (browsercouch/tab/peers.py), which runs HTTP/1.1
// over them: each side opens a channel labelled "requests" for its own requests and serves the other's.
// This module pairs two browsers: it makes offers and answers, signs them with the pairing secret, and
// carries them through a rendezvous database on any CouchDB both reach (Room), or as codes the users copy
// or scan (createInvitation, acceptInvitation, completeInvitation).
//
// Messages to the worker: {type: "rtc-open", link, peer} once a channel opened, {type: "rtc-frame", link,
// direction: "served"|"requests", data: ArrayBuffer}, {type: "rtc-closed", link}. From the worker:
// {type: "rtc-send", link, direction, data}, and {type: "rtc-drop", link} when the peer sent something
// that is not a frame (TabCouch hands them to `fromWorker`).
//
// Pairing: an offer and an answer each carry HMAC-SHA256(secret, their fields and SDP). The SDP holds the
// DTLS certificate's fingerprint, so a verified answer binds the encrypted connection to someone who knows
// the secret: a third tab in the room, or anyone posting to the rendezvous database, cannot step in. A
// peer is named by its server uuid; the replicator reaches it at http://<uuid>.webrtc/<db>. ICE
// candidates travel inside the SDP (gathering ends before it is sent): on a LAN, host candidates come in
// milliseconds; for the internet, give STUN/TURN servers as `iceServers`.

const LABEL = "requests";
const PROTOCOL = "browsercouch-webrtc/1";
const CODE_PREFIX = "bc1.";
// How long ICE gathering may take before the SDP goes out with the candidates found so far.
const GATHER_TIMEOUT_MS = 5000;
// A pending offer that gets no answer in this time is dropped (the peer left).
const ANSWER_TIMEOUT_MS = 30000;
// Rendezvous: hellos older than this are from peers long gone; a long-poll waits at most this long.
const HELLO_MAX_AGE_MS = 10 * 60 * 1000;
const LONGPOLL_MS = 20000;
const RETRY_MS = 1000;

const encoder = new TextEncoder();

function b64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64url(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function randomToken(bytes = 16) {
  return b64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function macKey(secret, usage) {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false,
    [usage]);
}

// The signed fields of an offer or answer, in a fixed order.
function macText(m) {
  return [PROTOCOL, m.kind, m.room ?? "", m.from, m.to ?? "", m.session, m.to_session ?? "", m.sdp ?? ""]
    .join("\n");
}

async function sign(secret, message) {
  const mac = await crypto.subtle.sign("HMAC", await macKey(secret, "sign"), encoder.encode(macText(message)));
  return { ...message, mac: b64url(mac) };
}

async function verified(secret, message) {
  if (typeof message.mac !== "string") return false;
  try {
    return await crypto.subtle.verify("HMAC", await macKey(secret, "verify"), unb64url(message.mac),
      encoder.encode(macText(message)));
  } catch {
    return false;
  }
}

async function pipe(bytes, transform) {
  const stream = new Blob([bytes]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// A pairing message as a short text: JSON, deflated, base64url.
export async function encodeCode(message) {
  return CODE_PREFIX + b64url(await pipe(encoder.encode(JSON.stringify(message)), new CompressionStream("deflate-raw")));
}

export async function decodeCode(code) {
  const text = code.trim();
  if (!text.startsWith(CODE_PREFIX)) throw new Error("not a browsercouch pairing code");
  try {
    const bytes = await pipe(unb64url(text.slice(CODE_PREFIX.length)), new DecompressionStream("deflate-raw"));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error("the pairing code is damaged (copy all of it)");
  }
}

// One RTCPeerConnection to one peer. state: "pairing", "connected" (both channels open) or "closed".
class Link {
  constructor(links, { role, session, secret, room = null }) {
    this.links = links;
    this.id = randomToken(9);
    this.role = role;
    this.session = session;
    this.secret = secret;
    this.room = room;
    this.peer = null;
    this.peerSession = null;
    this.state = "pairing";
    this.announced = false;
    this.wasConnected = false;
    this.channels = { requests: null, served: null };
    this.queued = { requests: [], served: [] };
    this.pc = new RTCPeerConnection({ iceServers: links.iceServers });
    this.pc.ondatachannel = ({ channel }) => {
      if (channel.label === LABEL && !this.channels.served) this.wire(channel, "served");
    };
    this.pc.onconnectionstatechange = () => {
      if (["failed", "closed"].includes(this.pc.connectionState)) this.close();
    };
    this.wire(this.pc.createDataChannel(LABEL), "requests");
  }

  wire(channel, direction) {
    this.channels[direction] = channel;
    channel.binaryType = "arraybuffer";
    channel.onopen = () => this.opened(direction);
    channel.onclose = () => this.close();
    channel.onmessage = ({ data }) => {
      this.links.port.postMessage({ type: "rtc-frame", link: this.id, direction, data }, [data]);
    };
  }

  opened(direction) {
    if (this.state === "closed") return;
    if (!this.announced) {
      this.announced = true;
      this.links.port.postMessage({ type: "rtc-open", link: this.id, peer: this.peer });
    }
    for (const data of this.queued[direction].splice(0)) this.channels[direction].send(data);
    if (Object.values(this.channels).every((channel) => channel?.readyState === "open")) {
      this.state = "connected";
      this.wasConnected = true;
      this.links.changed();
    }
  }

  send(direction, data) {
    const channel = this.channels[direction];
    if (this.state === "closed") return;
    if (channel?.readyState !== "open") {
      this.queued[direction].push(data);
      return;
    }
    try {
      channel.send(data);
    } catch {
      this.close();
    }
  }

  // The local description once ICE gathering is over (or GATHER_TIMEOUT_MS passed): candidates included.
  async description() {
    if (this.pc.iceGatheringState !== "complete") {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
        this.pc.addEventListener("icegatheringstatechange", () => {
          if (this.pc.iceGatheringState === "complete") {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    }
    const keep = this.links.candidateFilter;
    const lines = this.pc.localDescription.sdp.split("\r\n");
    return lines.filter((line) => !line.startsWith("a=candidate:") || keep(line.split(" ")[4])).join("\r\n");
  }

  async offer() {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return this.description();
  }

  async answer(sdp) {
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    return this.description();
  }

  async accept(sdp) {
    await this.pc.setRemoteDescription({ type: "answer", sdp });
  }

  close() {
    if (this.state === "closed") return;
    this.state = "closed";
    this.pc.close();
    if (this.announced) this.links.port.postMessage({ type: "rtc-closed", link: this.id });
    this.links.closed(this);
  }

  describe() {
    return { link: this.id, peer: this.peer, state: this.state, role: this.role, room: this.room?.name ?? null };
  }
}

// Every link of this page. `onChange()` is called when one connects or closes. `iceServers` are STUN/TURN
// servers (none on a LAN); `candidateFilter(address)` says which of this browser's ICE candidates to
// offer the peer (all by default; the tests keep loopback ones only, so no check leaves 127.0.0.1).
export class PeerLinks {
  constructor(port, uuid, { iceServers = [], candidateFilter = () => true } = {}) {
    this.port = port;
    this.uuid = uuid;
    this.iceServers = iceServers;
    this.candidateFilter = candidateFilter;
    this.links = new Map();
    this.listeners = new Set();
  }

  onChange(listener) {
    this.listeners.add(listener);
  }

  changed() {
    for (const listener of this.listeners) listener(this.list());
  }

  list() {
    return [...this.links.values()].map((link) => link.describe());
  }

  connected(peer) {
    return [...this.links.values()].some((link) => link.peer === peer && link.state === "connected");
  }

  create(options) {
    const link = new Link(this, options);
    this.links.set(link.id, link);
    this.changed();
    return link;
  }

  closed(link) {
    this.links.delete(link.id);
    this.changed();
    link.room?.linkClosed(link);
  }

  // A message from the worker.
  fromWorker(data) {
    if (data.type === "rtc-send") this.links.get(data.link)?.send(data.direction, data.data);
    else if (data.type === "rtc-drop") this.links.get(data.link)?.close();
  }

  // Close every link to `peer` (the tests' way of cutting a link mid-sync).
  drop(peer) {
    for (const link of [...this.links.values()]) if (link.peer === peer) link.close();
  }

  // Copy-paste pairing, step 1 (this browser): a new link and the invitation code to give the other
  // browser. The code holds a fresh pairing secret: whoever has it can answer, so show it only to them.
  async createInvitation() {
    const link = this.create({ role: "offer", session: randomToken(), secret: randomToken() });
    const sdp = await link.offer();
    const code = await encodeCode({ kind: "invite", from: this.uuid, session: link.session, secret: link.secret, sdp });
    return { link, code };
  }

  // Step 2 (the other browser): the answer code for an invitation code.
  async acceptInvitation(code) {
    const invite = await decodeCode(code);
    if (invite.kind !== "invite") throw new Error("this is not an invitation code");
    if (invite.from === this.uuid) throw new Error("this invitation comes from this browser");
    this.drop(invite.from);
    const link = this.create({ role: "answer", session: randomToken(), secret: invite.secret });
    link.peer = invite.from;
    link.peerSession = invite.session;
    const sdp = await link.answer(invite.sdp);
    const answer = await sign(link.secret, {
      kind: "answer", from: this.uuid, to: invite.from, session: link.session, to_session: invite.session, sdp,
    });
    return { link, code: await encodeCode(answer) };
  }

  // Step 3 (this browser again): connect `link` with the answer code.
  async completeInvitation(link, code) {
    const answer = await decodeCode(code);
    if (answer.kind !== "answer" || answer.to !== this.uuid || answer.to_session !== link.session) {
      throw new Error("this answer code is not for this invitation");
    }
    if (!(await verified(link.secret, answer))) throw new Error("this answer code is not signed with the invitation's secret");
    this.drop(answer.from);
    link.peer = answer.from;
    link.peerSession = answer.session;
    await link.accept(answer.sdp);
    return link;
  }

  // Rendezvous pairing: meet every browser that joins the same room of `url` (a database URL; user and
  // password for it if needed) with the same secret.
  joinRoom(options) {
    const room = new Room(this, options);
    room.start();
    return room;
  }
}

// A rendezvous database: hellos, offers and answers as documents {room, kind, from, to, session,
// to_session, sdp, time, mac}. Each browser posts a hello with a new session on joining and after every
// link it had closes; of two browsers, the one with the smaller uuid offers to the other's latest hello,
// and the other answers an offer made to its current session.
export class Room {
  constructor(links, { url, user = "", password = "", room, secret }) {
    if (!room || !secret) throw new Error("a room needs a name and a secret");
    const parsed = new URL(url);
    this.headers = { "content-type": "application/json" };
    const name = user || decodeURIComponent(parsed.username);
    if (name) {
      const pass = password || decodeURIComponent(parsed.password);
      this.headers.authorization = `Basic ${btoa(unescape(encodeURIComponent(`${name}:${pass}`)))}`;
    }
    parsed.username = parsed.password = "";
    this.url = parsed.href.replace(/\/+$/, "");
    this.links = links;
    this.name = room;
    this.secret = secret;
    this.session = null;
    this.latest = new Map(); // peer uuid -> the time of its latest hello seen
    this.stopped = false;
    this.error = null;
    this.controller = new AbortController();
  }

  async call(method, path, body) {
    const response = await fetch(this.url + path, {
      method, headers: this.headers, body: body === undefined ? undefined : JSON.stringify(body),
      signal: this.controller.signal,
    });
    const result = await response.json();
    if (!response.ok) throw new Error(`${method} ${this.url}${path.split("?")[0]}: ${response.status} ${result.reason ?? result.error}`);
    return result;
  }

  async post(message) {
    const doc = await sign(this.secret, { ...message, room: this.name, from: this.links.uuid, time: Date.now() });
    await this.call("PUT", `/${encodeURIComponent(`${this.name}:${doc.kind}:${doc.from}:${randomToken(6)}`)}`, doc);
  }

  async hello() {
    this.session = randomToken();
    await this.post({ kind: "hello", session: this.session });
  }

  async start() {
    let since = 0;
    while (!this.stopped) {
      try {
        if (this.session === null) await this.hello();
        const feed = await this.call("POST",
          `/_changes?feed=longpoll&include_docs=true&filter=_selector&timeout=${LONGPOLL_MS}&since=${encodeURIComponent(since)}`,
          { selector: { room: this.name } });
        since = feed.last_seq;
        for (const row of feed.results) if (row.doc && !row.deleted) await this.handle(row.doc);
        this.error = null;
      } catch (error) {
        if (this.stopped) return;
        this.error = String(error.message || error);
        this.links.changed();
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  async handle(doc) {
    const me = this.links.uuid;
    if (doc.from === me || !(await verified(this.secret, doc))) return;
    if (doc.kind === "hello") await this.onHello(doc);
    else if (doc.kind === "offer" && doc.to === me && doc.to_session === this.session) await this.onOffer(doc);
    else if (doc.kind === "answer" && doc.to === me) await this.onAnswer(doc);
  }

  linksTo(peer) {
    return [...this.links.links.values()].filter((link) => link.peer === peer);
  }

  async onHello(doc) {
    if (Date.now() - doc.time > HELLO_MAX_AGE_MS || (this.latest.get(doc.from) ?? 0) >= doc.time) return;
    this.latest.set(doc.from, doc.time);
    if (this.links.uuid > doc.from) return; // the peer with the smaller uuid offers
    for (const link of this.linksTo(doc.from)) link.close();
    const link = this.links.create({ role: "offer", session: this.session, secret: this.secret, room: this });
    link.peer = doc.from;
    link.peerSession = doc.session;
    const sdp = await link.offer();
    setTimeout(() => { if (link.state === "pairing") link.close(); }, ANSWER_TIMEOUT_MS);
    await this.post({ kind: "offer", to: doc.from, session: this.session, to_session: doc.session, sdp });
  }

  async onOffer(doc) {
    for (const link of this.linksTo(doc.from)) link.close();
    const link = this.links.create({ role: "answer", session: this.session, secret: this.secret, room: this });
    link.peer = doc.from;
    link.peerSession = doc.session;
    const sdp = await link.answer(doc.sdp);
    await this.post({ kind: "answer", to: doc.from, session: this.session, to_session: doc.session, sdp });
  }

  async onAnswer(doc) {
    const link = this.linksTo(doc.from).find((candidate) => candidate.role === "offer"
      && candidate.state === "pairing" && candidate.session === doc.to_session && candidate.peerSession === doc.session);
    if (link) await link.accept(doc.sdp);
  }

  // A link of this room closed: announce a new session, so the pair meets again.
  linkClosed(link) {
    if (this.stopped || !link.wasConnected) return;
    this.hello().catch(() => { this.session = null; }); // the watch loop posts it once the database answers
  }

  stop() {
    this.stopped = true;
    this.controller.abort();
    for (const link of [...this.links.links.values()]) if (link.room === this) link.close();
  }
}
