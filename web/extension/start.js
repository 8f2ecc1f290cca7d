// The start URL, for automation (`browsercouch browser`, the tests): opening
//
//   chrome-extension://EXTENSION_ID/start.html?port=DEFAULT_PORT[&lan=1][&admin=USER:PASS]
//     [&cors=ORIGIN ...][&hostname=NAME ...][&name=TEXT][&then=app]
//
// starts serving with those settings (`cors` repeated for each origin allowed; `cors=` alone for none;
// without `cors` the stored origins stay; `hostname` likewise for the names peers may use besides the
// machine's addresses; `name` the display name announced on the LAN) (as the popup's Start button does;
// the settings persist), then shows the state until it is "serving" or "failed" (also in `document.body.dataset.state`, and the whole
// status as JSON in `document.body.dataset.status`). `then=app` opens the web app once serving.
// `start.html?stop=1` stops serving.

import { DEFAULT_PORT } from "./app/constants.js";

const POLL_MS = 250;
const SETTLED = new Set(["serving", "failed", "stopped"]);

const byId = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const message = params.has("stop")
  ? { type: "stop" }
  : { type: "start", port: Number(params.get("port") ?? DEFAULT_PORT), lan: params.get("lan") === "1", admin: admin(),
    cors: params.has("cors") ? params.getAll("cors").filter(Boolean) : undefined,
    hostnames: params.has("hostname") ? params.getAll("hostname").filter(Boolean) : undefined,
    name: params.get("name") ?? undefined };

// `admin=USER:PASS`: the LAN admin to use (else the one the extension generated and keeps).
function admin() {
  const spec = params.get("admin");
  if (!spec) return null;
  const at = spec.indexOf(":");
  return { name: spec.slice(0, at), password: spec.slice(at + 1) };
}

function show(status) {
  byId("state").textContent = status.state;
  byId("state").className = `state ${status.state}`;
  byId("urls").replaceChildren(...status.urls.map((url) => Object.assign(document.createElement("li"),
    { textContent: url })));
  byId("admin").hidden = !status.admin;
  byId("admin-name").textContent = status.admin?.name ?? "";
  byId("admin-password").textContent = status.admin?.password ?? "";
  byId("error").textContent = status.error ?? "";
  document.body.dataset.status = JSON.stringify(status);
  document.body.dataset.state = status.state;
}

let status = await chrome.runtime.sendMessage(message);
show(status);
while (!SETTLED.has(status.state)) {
  await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  status = await chrome.runtime.sendMessage({ type: "status" });
  show(status);
}
if (status.state === "serving" && params.get("then") === "app") location.replace("app/index.html");
