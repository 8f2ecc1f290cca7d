// The few helpers every panel shares: building elements, calling the CouchDB API with JSON, turning its
// `{error, reason}` answers into exceptions, and URL-encoding names into paths.

export const byId = (id) => document.getElementById(id);

// h("li", {dataset: {db: "x"}, onclick}, "text", child): an element with properties set and children
// appended (strings become text nodes; null and false are skipped).
export function h(tag, properties = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(properties)) {
    if (name === "dataset") Object.assign(element.dataset, value);
    else element[name] = value;
  }
  element.append(...children.filter((child) => child !== null && child !== false));
  return element;
}

export class CouchError extends Error {
  constructor(status, error, reason) {
    super(`${error}: ${reason}`);
    this.status = status;
    this.error = error;
    this.reason = reason;
  }
}

// A request whose answer is JSON; a non-2xx status throws a CouchError carrying CouchDB's error and reason.
// `body` is sent as JSON unless it already is bytes.
export async function callJson(couch, method, path, body, headers = {}) {
  const sendsJson = body !== undefined && !(body instanceof Uint8Array);
  const response = await couch.request(method, path, {
    headers: { Accept: "application/json", ...(sendsJson ? { "Content-Type": "application/json" } : {}), ...headers },
    body: sendsJson ? JSON.stringify(body) : body,
  });
  let answer;
  try {
    answer = response.json();
  } catch {
    answer = { error: "bad_response", reason: response.text() || `HTTP ${response.status}` };
  }
  if (response.status >= 400) {
    throw new CouchError(response.status, answer.error ?? "error", answer.reason ?? `HTTP ${response.status}`);
  }
  return answer;
}

// How an error is shown to the user: CouchDB's "error: reason", or the message of anything else.
export const describeError = (error) => error.message || String(error);

export const dbPath = (db) => "/" + encodeURIComponent(db);

// Design and local documents keep their prefix unencoded, as CouchDB's own links do.
export function docPath(db, id) {
  const prefix = ["_design/", "_local/"].find((candidate) => id.startsWith(candidate)) ?? "";
  return `${dbPath(db)}/${prefix}${encodeURIComponent(id.slice(prefix.length))}`;
}

export const attachmentPath = (db, id, name) =>
  `${docPath(db, id)}/${name.split("/").map(encodeURIComponent).join("/")}`;

export const query = (parameters) => new URLSearchParams(parameters).toString();

// Show `button`'s hidden confirmation group; `onConfirm` runs when its confirm button is clicked.
export function confirmStep(button, confirmation, confirmButton, cancelButton, onConfirm) {
  button.addEventListener("click", () => { confirmation.hidden = false; });
  cancelButton.addEventListener("click", () => { confirmation.hidden = true; });
  confirmButton.addEventListener("click", () => {
    confirmation.hidden = true;
    onConfirm();
  });
}

// `action` as an event handler that shows its failure in `errorElement` (cleared when it starts).
export function reportingTo(errorElement, action) {
  return async (...args) => {
    errorElement.textContent = "";
    try {
      await action(...args);
    } catch (error) {
      errorElement.textContent = describeError(error);
    }
  };
}
