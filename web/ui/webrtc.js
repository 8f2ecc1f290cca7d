// The WebRTC panel: pair this browser with another, through a rendezvous database or with codes to copy
// (or scan as QR codes), and list the browsers connected. Syncing with a paired browser is the Peers
// view's job (`webrtcPeers` is its source of them) or the Replication panel's, with the URL
// http://<its uuid>.webrtc/<db> this panel shows for each.

import qrcode from "../vendor/qrcode.mjs";
import { byId, h, reportingTo } from "./dom.js";

const ROOM_KEY = "browsercouch.webrtc-room";

// A QR code of `text` as an SVG inside `element`.
function showQr(element, text) {
  const qr = qrcode(0, "L");
  qr.addData(text);
  qr.make();
  element.innerHTML = qr.createSvgTag({ cellSize: 2, margin: 2, alt: "the same code as a QR code" });
}

export function createWebrtcPanel(peers) {
  const error = byId("rtc-error");
  const report = (action) => reportingTo(error, action);
  let invitation = null;
  let room = null;

  byId("rtc-uuid").textContent = peers.uuid;
  byId("webrtc").hidden = false;

  const saved = JSON.parse(localStorage.getItem(ROOM_KEY) || "{}");
  for (const field of ["url", "user", "name"]) byId(`rtc-room-${field}`).value = saved[field] ?? "";

  function showPeers(list) {
    const items = list.filter((link) => link.peer).map((link) => h("li", { dataset: { peer: link.peer, state: link.state } },
      h("code", {}, link.peer), ` ${link.state}`,
      link.state === "connected" ? h("span", { className: "muted" }, ` — replicate with http://${link.peer}.webrtc/DB`) : null,
      h("button", { type: "button", onclick: () => peers.drop(link.peer) }, "Disconnect")));
    byId("rtc-peers").replaceChildren(...(items.length ? items : [h("li", { className: "muted" }, "none yet")]));
    if (room) byId("rtc-room-state").textContent = room.error ? `rendezvous: ${room.error}` : `in room ${room.name}`;
  }
  peers.onChange(showPeers);
  showPeers(peers.list());

  byId("rtc-invite").onclick = report(async () => {
    invitation = await peers.createInvitation();
    byId("rtc-invite-code").value = invitation.code;
    showQr(byId("rtc-invite-qr"), invitation.code);
    byId("rtc-invite-box").hidden = false;
  });

  byId("rtc-connect").onclick = report(async () => {
    if (!invitation) throw new Error("create an invitation first");
    await peers.completeInvitation(invitation.link, byId("rtc-answer-input").value);
  });

  byId("rtc-join").onclick = report(async () => {
    const { code } = await peers.acceptInvitation(byId("rtc-join-code").value);
    byId("rtc-answer-code").value = code;
    showQr(byId("rtc-answer-qr"), code);
    byId("rtc-answer-box").hidden = false;
  });

  byId("rtc-room-form").onsubmit = report(async (event) => {
    event.preventDefault();
    const options = {
      url: byId("rtc-room-url").value.trim(), user: byId("rtc-room-user").value,
      password: byId("rtc-room-password").value, room: byId("rtc-room-name").value.trim(),
      secret: byId("rtc-room-secret").value,
    };
    room?.stop();
    room = peers.joinRoom(options);
    localStorage.setItem(ROOM_KEY, JSON.stringify({ url: options.url, user: options.user, name: options.room }));
    byId("rtc-room-leave").disabled = false;
    showPeers(peers.list());
  });

  byId("rtc-room-leave").onclick = () => {
    room?.stop();
    room = null;
    byId("rtc-room-leave").disabled = true;
    byId("rtc-room-state").textContent = "";
  };
}

// The Peers view's source of paired browsers (ui/peers.js): each link to a browser, connected or not,
// as a peer at http://<uuid>.webrtc/. A paired browser is served as its owner's loopback client is: no
// login when it has no admin, the web app's default.
export function webrtcPeers(links) {
  return {
    label: "over WebRTC",
    async list() {
      const seen = new Map();
      for (const link of links.list()) {
        if (link.peer && seen.get(link.peer)?.state !== "connected") seen.set(link.peer, link);
      }
      const peers = [...seen.values()].map((link) => ({ key: link.peer, name: `browser ${link.peer.slice(0, 8)}`,
        url: `http://${link.peer}.webrtc/`, kind: "webrtc",
        auth: false, state: link.state === "connected" ? "paired over WebRTC" : "pairing over WebRTC" }));
      const note = peers.length ? null : "Pair with another browser in the WebRTC panel to sync with it here.";
      return { peers, note };
    },
  };
}
