// A job followed live: status, queue position, progress, logs, streamed text, then results.

import { ApiError, TERMINAL, followJob, get, post } from "./api.js";
import { bytes, credits, fill, h, seconds, statusBadge } from "./dom.js";

/** The outputs of a finished job, each with its player or picture, download, size, sha256. */
export function results(job) {
  const outputs = job.outputs || [];
  if (!outputs.length) return h("p", { class: "muted", text: "No outputs." });
  const single = outputs.length === 1 && !outputs[0].content_type.startsWith("image/");
  return h("div", { class: single ? "results single" : "results", "data-results": job.id }, outputs.map((o, i) => output(job, o, i)));
}

function output(job, o, index) {
  const type = o.content_type || "";
  const name = `${job.id}-${index}`;
  let media;
  if (type.startsWith("image/")) {
    media = h("a", { href: o.url, target: "_blank", rel: "noopener", title: "Open at full size" }, h("img", { src: o.url, alt: `Output ${index + 1} of ${job.model}`, width: o.width, height: o.height, loading: "lazy" }));
  } else if (type.startsWith("video/")) {
    media = h("video", { src: o.url, controls: true, preload: "metadata", poster: o.thumbnail_url, width: o.width, height: o.height, playsinline: true });
  } else if (type.startsWith("audio/")) {
    media = h("audio", { src: o.url, controls: true, preload: "metadata" });
  } else if (type.startsWith("text/")) {
    media = h("pre", { class: "stream-text", "data-output-text": String(index), text: "…" });
    fetch(o.url, { credentials: "omit" })
      .then((r) => {
        if (!r.ok) throw new Error(String(r.status));
        return r.text();
      })
      .then((t) => {
        media.textContent = t;
      })
      .catch(() => {
        // Text in object storage is another origin, which the page may not read: linked.
        fill(media, "The text could not be shown here: ", h("a", { href: o.url, target: "_blank", rel: "noopener", text: "open it" }), ".");
      });
  }
  const facts = [type, bytes(o.size)];
  if (o.width && o.height) facts.push(`${o.width}×${o.height}`);
  if (o.duration) facts.push(seconds(o.duration));
  return h(
    "figure",
    { class: "result", "data-output": String(index) },
    media,
    h(
      "figcaption",
      {},
      h("a", { href: o.url, download: name, text: "Download" }),
      ` · ${facts.filter(Boolean).join(" · ")}`,
      h("br"),
      h("span", { class: "mono", title: "SHA-256", text: `sha256 ${o.sha256}` }),
    ),
  );
}

/** Timings and cost of a job, as a definition list. */
export function facts(job) {
  const load = job.metrics?.load_time;
  const rows = [
    ["Status", statusBadge(job.status)],
    ["Model", job.model],
    ["Created", job.created_at ? new Date(job.created_at).toLocaleString() : "—"],
    ["Queued for", seconds(job.metrics?.queue_time)],
    // Only a job whose worker had to load the model first has a load time.
    ...(load === null || load === undefined ? [] : [["Loaded model in", seconds(load)]]),
    ["Ran for", seconds(job.metrics?.inference_time)],
    ["Cost", job.cost?.actual === null || job.cost?.actual === undefined ? `estimate ${credits(job.cost?.estimate, "—")}` : `${credits(job.cost.actual)} credits`],
  ];
  if (job.error) rows.push(["Error", `${job.error.code}: ${job.error.message}`]);
  return h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", { text: k }), h("dd", { "data-fact": k.toLowerCase() }, v)]));
}

/** Seconds left in words, rounded up: "about 40 s left", "about 3 min left", "about 2 h left"; "" for none left. */
export function etaText(left) {
  if (!(left > 0)) return "";
  if (left < 90) return `about ${Math.ceil(left)} s left`;
  if (left < 90 * 60) return `about ${Math.ceil(left / 60)} min left`;
  return `about ${Math.ceil(left / 3600)} h left`;
}

/**
 * A live view of a job, which follows its events until it ends.
 * Returns the element; ``signal`` stops following when the page is left; ``onEvent`` sees
 * each event too, ``onDone`` the finished job.
 */
export function liveJob(job, { signal, onDone, onEvent } = {}) {
  const status = h("span", { "data-live-status": "", role: "status", "aria-live": "polite" }, statusBadge(job.status));
  const position = h("span", { class: "muted", "data-queue": "" });
  const eta = h("span", { class: "muted", "data-eta": "", title: "The server's estimate of when the job will be done" });
  const connection = h("span", { class: "muted", "aria-live": "polite" });
  const progress = h("progress", { max: 1, value: 0, "aria-label": "Progress" });
  const stepText = h("span", { class: "muted", "data-steps": "" });
  const logs = h("pre", { class: "logs", "aria-label": "Log", "data-logs": "" });
  const text = h("div", { class: "stream-text", "data-stream-text": "", "aria-live": "off", hidden: true });
  const out = h("div", { "data-live-results": "" });
  const cancel = h("button", { type: "button", class: "danger", "data-action": "cancel", text: "Cancel" });
  const element = h(
    "section",
    { class: "run card", "data-job": job.id, "aria-label": `Job ${job.id}` },
    h("div", { class: "actions" }, status, position, eta, h("a", { href: `#/jobs/${encodeURIComponent(job.id)}`, class: "mono", text: job.id }), cancel, connection),
    h("div", {}, progress, stepText),
    text,
    logs,
    out,
  );
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      const answer = await post(`/v1/jobs/${encodeURIComponent(job.id)}/cancel`);
      setStatus(answer.status, answer.cancel_requested);
    } catch (error) {
      connection.textContent = error.message;
      cancel.disabled = false;
    }
  });

  let current = job.status;
  function setStatus(s, asked) {
    current = s;
    fill(status, statusBadge(s));
    if (asked && !TERMINAL.has(s)) fill(position, "stopping…");
    else if (s !== "queued") position.textContent = "";
    if (TERMINAL.has(s)) {
      cancel.hidden = true;
      showEta(null);
    }
  }
  // The last estimate read (``eta_seconds``) counts down between reads, once a second.
  let doneAt = null;
  let ticking = null;
  function tick() {
    eta.textContent = doneAt === null ? "" : etaText((doneAt - Date.now()) / 1000);
    if (!eta.textContent || signal?.aborted) {
      clearInterval(ticking);
      ticking = null;
    }
  }
  function showEta(seconds) {
    doneAt = typeof seconds === "number" && !TERMINAL.has(current) ? Date.now() + seconds * 1000 : null;
    tick();
    if (eta.textContent && ticking === null) ticking = setInterval(tick, 1000);
  }
  function log(message) {
    logs.append(`${message}\n`);
    logs.scrollTop = logs.scrollHeight;
  }
  setStatus(job.status, job.cancel_requested);
  if (job.queue_position !== undefined && job.queue_position !== null && job.status === "queued") {
    position.textContent = `position ${job.queue_position} in the queue`;
  }
  showEta(job.eta_seconds);

  async function finish() {
    try {
      const done = await get(`/v1/jobs/${encodeURIComponent(job.id)}`);
      setStatus(done.status, false);
      if (done.status === "succeeded" && done.progress?.total) progress.value = 1;
      fill(out, facts(done), done.status === "succeeded" ? results(done) : null);
      onDone?.(done);
    } catch (error) {
      log(`could not read the finished job: ${error.message}`);
    }
  }

  async function queuePosition() {
    // The stream says when the status changes; where a queued job stands comes from polling.
    while (current === "queued" && !signal?.aborted) {
      try {
        const now = await get(`/v1/jobs/${encodeURIComponent(job.id)}`, { signal });
        if (now.status === "queued" && now.queue_position !== null && now.queue_position !== undefined) {
          position.textContent = now.status_message || `position ${now.queue_position} in the queue`;
        }
        if (!TERMINAL.has(now.status)) showEta(now.eta_seconds);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  async function runningEta() {
    // Once, as the job starts: its estimate from here on counts down from this read.
    try {
      const now = await get(`/v1/jobs/${encodeURIComponent(job.id)}`, { signal });
      if (now.status === "running") showEta(now.eta_seconds);
    } catch {
      // The countdown of the last estimate goes on.
    }
  }

  if (TERMINAL.has(job.status)) {
    finish();
    return element;
  }
  queuePosition();
  followJob(
    job.id,
    (type, data) => {
      onEvent?.(type, data);
      if (type === "status") {
        const was = current;
        setStatus(data.status, false);
        if (data.status === "running" && was !== "running") runningEta();
      } else if (type === "progress") {
        if (data.total > 0) {
          progress.max = 1;
          progress.value = data.fraction ?? data.step / data.total;
          stepText.textContent = `step ${data.step} of ${data.total}${data.message ? ` — ${data.message}` : ""}`;
        } else if (data.message) stepText.textContent = data.message;
      } else if (type === "log") {
        log(data.message ?? "");
      } else if (type === "text") {
        text.hidden = false;
        text.append(data.delta ?? "");
      } else if (type === "output") {
        log(`output ${data.content_type} (${bytes(data.size)})`);
      }
    },
    {
      signal,
      onState: (state) => {
        connection.textContent = state === "reconnecting" ? "connection lost, reconnecting…" : "";
      },
    },
  )
    .then((end) => {
      if (end) finish();
    })
    .catch((error) => {
      connection.textContent = error instanceof ApiError ? error.message : String(error);
    });
  return element;
}
