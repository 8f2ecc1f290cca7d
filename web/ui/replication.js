// The replication panel: POST /_replicate between the selected database and a remote database URL, as a
// pull, a push or a sync (a push and a pull started together), one-shot or live (continuous).
//
// A one-shot _replicate answers when it is done, with its history; a live one answers at once with its
// `_local_id` and runs until cancelled. While a run lasts, GET /_active_tasks every POLL_MS gives its
// counters (docs_written, changes_pending) for the progress bar and the log. The log keeps the last
// LOG_SIZE runs in localStorage, newest first, without credentials.

import { byId, callJson, describeError, h, reportingTo } from "./dom.js";

const POLL_MS = 300;
const LOG_SIZE = 20;
const LOG_KEY = "browsercouch.replication-log";
const ARROWS = { pull: "←", push: "→", sync: "⇄" };

// btoa() takes Latin-1 only: encode the credentials as UTF-8 first.
const base64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));

function remoteEndpoint(url, user, password) {
  if (!user) return url;
  return { url, headers: { Authorization: `Basic ${base64(`${user}:${password}`)}` } };
}

function replicationsFor(direction, db, remote, continuous) {
  const pull = { source: remote, target: db, continuous };
  const push = { source: db, target: remote, create_target: true, continuous };
  return { pull: [pull], push: [push], sync: [push, pull] }[direction];
}

// An endpoint as a task names it, made comparable: browsercouch says "local database NAME" and masks
// credentials in URLs; CouchDB may add a trailing slash.
function endpointName(endpoint) {
  const text = String(endpoint?.url ?? endpoint).replace(/^local database /, "");
  try {
    const url = new URL(text);
    url.username = "";
    url.password = "";
    return url.href.replace(/\/+$/, "");
  } catch {
    return text.replace(/\/+$/, "");
  }
}

// The task of one replication (a "leg" of a run): by id once known, else by source and target names,
// else the only replication task running, when the run has only one leg.
function findTask(tasks, leg, legCount) {
  if (leg.id) return tasks.find((task) => task.replication_id === leg.id);
  const byNames = tasks.find((task) => endpointName(task.source) === endpointName(leg.spec.source)
    && endpointName(task.target) === endpointName(leg.spec.target));
  return byNames ?? (legCount === 1 && tasks.length === 1 ? tasks[0] : undefined);
}

function loadLog() {
  try {
    return JSON.parse(localStorage.getItem(LOG_KEY)) ?? [];
  } catch {
    return [];
  }
}

// `onChange()` is called when a run may have changed the selected database (it wrote documents or ended).
export function createReplicationPanel(couch, { onChange }) {
  const startButton = byId("repl-start");
  const stopButton = byId("repl-stop");
  const progress = byId("repl-progress");
  const state = byId("repl-state");
  const error = byId("repl-error");
  let db = null;
  let log = loadLog();
  let current = null;
  const items = new WeakMap();

  // Each entry keeps its <li> while it is updated, so whoever holds the element sees it change.
  function showEntry(entry) {
    const item = items.get(entry) ?? h("li");
    items.set(entry, item);
    item.dataset.status = entry.status;
    const route = `${entry.local} ${ARROWS[entry.direction]} ${entry.remote}`;
    item.replaceChildren(h("span", { className: "badge" }, entry.status),
      h("span", { className: "muted" }, new Date(entry.time).toLocaleString()),
      h("span", {}, `${entry.direction}${entry.live ? " (live)" : ""}: ${route}`),
      h("span", { className: "written" }, `${entry.docsWritten} docs written`),
      entry.error && h("span", { className: "error" }, entry.error));
    return item;
  }

  function renderLog() {
    localStorage.setItem(LOG_KEY, JSON.stringify(log));
    byId("repl-log").replaceChildren(...log.map(showEntry));
  }

  function showRunning(run) {
    current = run;
    startButton.disabled = run !== null;
    stopButton.disabled = run === null;
  }

  function showProgress(run) {
    const tasks = run.legs.map((leg) => leg.task).filter(Boolean);
    const written = tasks.reduce((sum, task) => sum + task.docs_written, 0);
    const pending = tasks.reduce((sum, task) => sum + (task.changes_pending ?? NaN), 0);
    if (written > run.entry.docsWritten) {
      run.entry.docsWritten = written;
      onChange();
    }
    if (tasks.length === 0 || Number.isNaN(pending)) progress.removeAttribute("value");
    else progress.value = pending === 0 ? 1 : written / (written + pending);
    state.textContent = run.legs.filter((leg) => leg.task).map(({ label, task }) =>
      `${label}${task.docs_read} read, ${task.docs_written} written, ${task.changes_pending ?? "?"} pending`)
      .join(" · ");
    renderLog();
  }

  async function poll(run) {
    const tasks = await callJson(couch, "GET", "/_active_tasks").catch(() => null);
    if (tasks === null || current !== run) return;
    const replications = tasks.filter((task) => task.type === "replication");
    for (const leg of run.legs) leg.task = findTask(replications, leg, run.legs.length);
    if (run.entry.live && run.legs.every((leg) => leg.id && !leg.task)) {
      finish(run, "error", "the replication ended on the server");
    } else {
      showProgress(run);
    }
  }

  function finish(run, status, message = "") {
    clearInterval(run.poller);
    run.entry.status = status;
    run.entry.error = message;
    if (status === "completed") progress.value = 1;
    state.textContent = "";
    showRunning(null);
    renderLog();
    onChange();
  }

  function begin(entry, legs) {
    const run = { entry, legs, stopped: false };
    run.poller = setInterval(() => poll(run), POLL_MS);
    progress.value = 0;
    showRunning(run);
    renderLog();
    return run;
  }

  async function start(event) {
    event.preventDefault();
    const url = byId("repl-url").value.trim();
    if (db === null) throw new Error("Select a database first.");
    if (!url) throw new Error("Enter the URL of the remote database.");
    const direction = byId("repl-direction").value;
    const live = byId("repl-live").checked;
    const remote = remoteEndpoint(url, byId("repl-user").value, byId("repl-password").value);
    const entry = { time: Date.now(), direction, live, local: db, remote: endpointName(url), status: "running",
      docsWritten: 0, error: "", ids: [] };
    log = [entry, ...log].slice(0, LOG_SIZE);
    const legs = replicationsFor(direction, db, remote, live)
      .map((spec) => ({ spec, label: spec.source === db ? "push: " : "pull: ", id: null, task: null }));
    const run = begin(entry, legs);
    const outcomes = await Promise.allSettled(legs.map((leg) => callJson(couch, "POST", "/_replicate", leg.spec)));
    outcomes.forEach((outcome, index) => { legs[index].answer = outcome.value; });
    const failures = outcomes.filter((outcome) => outcome.status === "rejected")
      .map((outcome) => describeError(outcome.reason));
    if (live) {
      legs.forEach((leg) => { leg.id = leg.answer?._local_id ?? null; });
      entry.ids = legs.map((leg) => leg.id).filter(Boolean);
      if (failures.length) await cancel(run);
    } else {
      entry.docsWritten = legs.reduce((sum, leg) => sum + (leg.answer?.history?.[0]?.docs_written ?? 0), 0);
    }
    if (run.stopped) finish(run, "stopped");
    else if (failures.length) finish(run, "error", failures.join("; "));
    else if (!live) finish(run, "completed");
    else renderLog();
  }

  // Cancel a run's replications: by id when known (live ones), else by their request plus `cancel`.
  async function cancel(run) {
    await Promise.allSettled(run.legs.map((leg) => callJson(couch, "POST", "/_replicate",
      leg.id ? { replication_id: leg.id, cancel: true } : { ...leg.spec, cancel: true })));
  }

  async function stop() {
    const run = current;
    run.stopped = true;
    await cancel(run);
    if (run.entry.live) finish(run, "stopped");
  }

  // Runs logged as running by an earlier page: resume watching the ones still running on this server.
  async function resumeLiveRuns() {
    const tasks = await callJson(couch, "GET", "/_active_tasks").catch(() => []);
    const running = new Set(tasks.map((task) => task.replication_id));
    for (const entry of log.filter((item) => item.status === "running")) {
      if (current === null && entry.ids?.length && entry.ids.every((id) => running.has(id))) {
        begin(entry, entry.ids.map((id) => ({ id, spec: null, label: "", task: null })));
      } else {
        entry.status = "stopped";
      }
    }
    renderLog();
  }

  byId("repl-form").addEventListener("submit", reportingTo(error, start));
  stopButton.addEventListener("click", reportingTo(error, stop));
  byId("repl-url").value = log[0]?.remote ?? "";
  resumeLiveRuns();

  return {
    show(name) {
      db = name;
    },
  };
}
