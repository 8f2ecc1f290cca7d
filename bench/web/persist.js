// The persist benchmark's page: starts persist-worker.js and keeps what it reports for the driver
// (bench/bench_web.py), which calls window.startPersist({sizes, writes}) and then polls
// window.persistRun: {log: [lines], rows: null until done, error: null unless it failed}.

window.startPersist = (options) => {
  const run = { log: [], rows: null, error: null };
  window.persistRun = run;
  const worker = new Worker(new URL("./persist-worker.js", import.meta.url), { type: "module" });
  worker.onerror = (event) => { run.error = event.message || "persist-worker.js failed to start"; };
  worker.onmessage = ({ data }) => {
    if (data.type === "log") run.log.push(data.text);
    else if (data.type === "done") run.rows = data.rows;
    else if (data.type === "failed") run.error = data.error;
    if (data.type !== "log") worker.terminate();
  };
  worker.postMessage(options);
};
