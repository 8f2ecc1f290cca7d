// The toolbar popup: start and stop serving, and what is being served. Everything goes through the
// background's message API (background.js); the popup keeps no state of its own. Once serving, the
// Peers view (app/ui/peers.js) joins the serving browsercouch (the app's shared worker).

import { startTabCouch } from "./app/couch.js";
import { createPeersPanel, lanPeers, urlPeers } from "./app/ui/peers.js";

const REFRESH_MS = 1000;
const LABELS = { stopped: "stopped", starting: "starting…", serving: "serving", restarting: "restarting…",
  failed: "failed" };

const byId = (id) => document.getElementById(id);
const form = byId("settings");
let editing = false; // the user touched the settings: refreshes no longer overwrite them
let peersView = null; // the Peers view's start, once serving

function send(message) {
  return chrome.runtime.sendMessage(message);
}

function link(url) {
  const a = document.createElement("a");
  a.href = url;
  a.target = "_blank";
  a.textContent = url;
  const li = document.createElement("li");
  li.append(a);
  return li;
}

function show(status) {
  const running = ["starting", "serving", "restarting"].includes(status.state);
  const state = byId("state");
  state.textContent = status.state === "starting" && status.stage ? status.stage : LABELS[status.state];
  state.className = `state ${status.state}`;
  document.body.dataset.state = status.state;
  if (!editing) {
    byId("port").value = status.port;
    form.mode.value = status.lan ? "lan" : "loopback";
    byId("cors").value = status.cors.join(" ");
  }
  for (const input of form.querySelectorAll("input")) input.disabled = running;
  byId("start").disabled = running;
  byId("stop").disabled = !running;
  byId("error").textContent = [status.error, status.storageError && `saving failed: ${status.storageError}`]
    .filter(Boolean).join("\n");
  byId("serving").hidden = !running;
  byId("urls").replaceChildren(...status.urls.map(link));
  byId("note").textContent = status.note ?? "";
  byId("admin").hidden = !status.admin;
  byId("admin-name").textContent = status.admin?.name ?? "";
  byId("admin-password").textContent = status.admin?.password ?? "";
  byId("connections").textContent = status.connections;
  byId("requests").textContent = status.requests;
  const log = byId("log");
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.textContent = status.log.join("\n");
  if (atBottom) log.scrollTop = log.scrollHeight;
  if (status.state === "serving" && peersView === null) {
    peersView = startTabCouch().then((couch) => createPeersPanel(couch, byId("peers"),
      { sources: [lanPeers(), urlPeers()] }));
  }
  byId("peers").hidden = peersView === null;
}

async function refresh() {
  show(await send({ type: "status" }));
}

form.addEventListener("input", () => { editing = true; });
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  editing = false;
  const cors = byId("cors").value.split(/[\s,]+/).filter(Boolean);
  show(await send({ type: "start", port: Number(byId("port").value), lan: form.mode.value === "lan", cors }));
});
byId("stop").addEventListener("click", async () => show(await send({ type: "stop" })));

await refresh();
setInterval(refresh, REFRESH_MS);
