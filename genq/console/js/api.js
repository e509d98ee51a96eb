// The genq API as the console uses it: the key in sessionStorage, sent only in the
// Authorization header; event streams read with fetch, since EventSource sends no headers.

const KEY = "genq.console.key";
// Set when the key was made for this page by a sign-in link: signing out deletes it.
const MINTED = "genq.console.minted";
const listeners = new Set();

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  get minted() {
    return sessionStorage.getItem(MINTED) === "1";
  },
  set(key, { minted = false } = {}) {
    sessionStorage.setItem(KEY, key);
    if (minted) sessionStorage.setItem(MINTED, "1");
    else sessionStorage.removeItem(MINTED);
  },
  clear() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(MINTED);
    sessionStorage.removeItem("genq.console.rerun");
  },
};

/** Called with no argument when the key is refused (401). */
export function onUnauthorized(listener) {
  listeners.add(listener);
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `the server answered ${status}`);
    this.status = status;
    this.code = error.code || null;
    this.details = Array.isArray(error.details) ? error.details : [];
  }
}

function headers(key, extra = {}) {
  const out = { Accept: "application/json", ...extra };
  const k = key === undefined ? session.key : key;
  if (k) out.Authorization = `Bearer ${k}`;
  return out;
}

/** A request to the API; the JSON answer, or ApiError. */
export async function api(method, path, body, { key, signal } = {}) {
  const init = { method, headers: headers(key), signal, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && key === undefined) for (const l of listeners) l(error);
    throw error;
  }
  return data;
}

export const get = (path, options) => api("GET", path, undefined, options);
export const post = (path, body, options) => api("POST", path, body ?? {}, options);
export const del = (path, options) => api("DELETE", path, undefined, options);

export const TERMINAL = new Set(["succeeded", "failed", "canceled", "expired"]);

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** Server-sent events from a stream of text chunks: yields {id, type, data}. */
export async function* parseEvents(reader) {
  let buffer = "";
  let event = { id: null, type: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const newline = buffer[cut] === "\r" && buffer[cut + 1] === "\n" ? 2 : 1;
      if (buffer[cut] === "\r" && cut + 1 === buffer.length) break; // a \n may follow
      const line = buffer.slice(0, cut);
      buffer = buffer.slice(cut + newline);
      if (line === "") {
        if (event.data.length) yield { id: event.id, type: event.type, data: event.data.join("\n") };
        event = { id: null, type: "message", data: [] };
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let v = colon < 0 ? "" : line.slice(colon + 1);
      if (v.startsWith(" ")) v = v.slice(1);
      if (field === "data") event.data.push(v);
      else if (field === "event") event.type = v;
      else if (field === "id") event.id = v;
    }
  }
}

/**
 * Follow a job's events until its terminal status, calling onEvent(type, data) for each;
 * a dropped stream is resumed after the last event seen (Last-Event-ID).
 * onState("connected" | "reconnecting") tells how the stream is doing.
 */
export async function followJob(jobId, onEvent, { signal, onState } = {}) {
  let last = null;
  let failures = 0;
  while (!signal?.aborted) {
    try {
      const extra = { Accept: "text/event-stream" };
      if (last !== null) extra["Last-Event-ID"] = last;
      const response = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events`, {
        headers: headers(undefined, extra),
        signal,
        cache: "no-store",
        credentials: "omit",
      });
      if (!response.ok) {
        let body = null;
        try {
          body = await response.json();
        } catch {
          body = null;
        }
        const error = new ApiError(response.status, body);
        // A refused key signs the page out, as on every other request.
        if (response.status === 401) for (const l of listeners) l(error);
        throw error;
      }
      onState?.("connected");
      failures = 0;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for await (const event of parseEvents(reader)) {
        if (event.id !== null) last = event.id;
        let data = {};
        try {
          data = JSON.parse(event.data);
        } catch {
          data = { message: event.data };
        }
        onEvent(event.type, data);
        if (event.type === "status" && TERMINAL.has(data.status)) return data.status;
      }
    } catch (error) {
      if (signal?.aborted) return null;
      if (error instanceof ApiError && error.status < 500 && error.status !== 429) throw error;
    }
    failures += 1;
    onState?.("reconnecting");
    await sleep(Math.min(250 * 2 ** failures, 5000), signal);
  }
  return null;
}
