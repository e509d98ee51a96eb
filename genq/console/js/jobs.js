// The account's jobs, and one job's page.

import { TERMINAL, del, followJob, get } from "./api.js";
import { credits, fill, h, statusBadge, when } from "./dom.js";
import { runAgain } from "./models.js";
import { facts, liveJob, results } from "./run.js";

const STATUSES = ["queued", "running", "succeeded", "failed", "canceled", "expired"];
const filters = { status: "", model: "" };

/** Back to every job: on sign-out, so the next account does not start filtered. */
export function resetFilters() {
  filters.status = "";
  filters.model = "";
}

function select(id, label, choices, value, onchange) {
  return h(
    "div",
    {},
    h("label", { for: id, text: label }),
    h("select", { id, onchange }, h("option", { value: "", text: "all" }), choices.map((c) => h("option", { value: c, text: c, selected: c === value }))),
  );
}

export async function jobsPage(main, { signal }) {
  const models = await get("/v1/models", { signal });
  const table = h("div", { class: "table-wrap" });
  const pager = h("div", { class: "actions" });
  const message = h("p", { class: "form-error", role: "alert" });
  const cursors = [null];
  // Each load's number: an answer that comes after a later load was asked for is dropped.
  let asked = 0;

  async function load(index) {
    const mine = ++asked;
    const params = new URLSearchParams({ limit: "20" });
    if (filters.status) params.set("status", filters.status);
    if (filters.model) params.set("model", filters.model);
    if (cursors[index]) params.set("cursor", cursors[index]);
    const page = await get(`/v1/jobs?${params}`, { signal });
    if (mine !== asked) return;
    message.textContent = "";
    if (page.next_cursor) cursors[index + 1] = page.next_cursor;
    const rows = page.data.map((job) =>
      h(
        "tr",
        { "data-job-row": job.id },
        h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.id)}`, class: "mono", text: job.id })),
        h("td", { text: job.model }),
        h("td", {}, statusBadge(job.status)),
        h("td", { class: "hide-narrow", text: when(job.created_at) }),
        h("td", { class: "hide-narrow", text: job.cost?.actual === null ? "—" : credits(job.cost?.actual) }),
      ),
    );
    fill(
      table,
      rows.length
        ? h("table", {}, h("caption", { class: "muted", text: `Page ${index + 1}` }), h("thead", {}, h("tr", {}, ["Job", "Model", "Status", "Created", "Cost"].map((t, i) => h("th", { scope: "col", class: i > 2 ? "hide-narrow" : null, text: t })))), h("tbody", {}, rows))
        : h("p", { class: "muted", "data-empty": "", text: "No jobs." }),
    );
    fill(
      pager,
      index > 0 ? h("button", { type: "button", class: "secondary", text: "← Newer", onclick: () => show(index - 1) }) : null,
      page.next_cursor ? h("button", { type: "button", class: "secondary", text: "Older →", onclick: () => show(index + 1) }) : null,
    );
  }

  /** A load the user asked for on this page: its error shown above the table. */
  async function show(index) {
    const mine = asked + 1;
    try {
      await load(index);
    } catch (error) {
      if (mine === asked && !signal.aborted) message.textContent = error.message;
    }
  }

  const refilter = (name) => (event) => {
    filters[name] = event.target.value;
    cursors.length = 1;
    show(0);
  };
  fill(
    main,
    h("h1", { text: "Jobs" }),
    h(
      "div",
      { class: "filters" },
      select("filter-status", "Status", STATUSES, filters.status, refilter("status")),
      select("filter-model", "Model", models.data.map((m) => m.name), filters.model, refilter("model")),
      h("button", { type: "button", class: "secondary", text: "Refresh", onclick: () => show(0) }),
    ),
    message,
    table,
    pager,
  );
  await load(0);
}

export async function jobPage(main, { signal, args }) {
  const id = args[0];
  const job = await get(`/v1/jobs/${encodeURIComponent(id)}`, { signal });
  const path = `/v1/jobs/${encodeURIComponent(id)}`;
  const events = h("ol", { class: "logs", "data-events": "" });
  const message = h("p", { class: "form-error", role: "alert" });
  const actions = h(
    "div",
    { class: "actions" },
    h("button", { type: "button", class: "secondary", "data-action": "run-again", text: "Run again", onclick: () => runAgain(job.model, job.input) }),
    h("button", {
      type: "button",
      class: "danger",
      "data-action": "delete",
      text: "Delete",
      onclick: async () => {
        if (!confirm(`Delete ${id} and its files?`)) return;
        try {
          await del(path);
          location.hash = "#/jobs";
        } catch (error) {
          message.textContent = error.message;
        }
      },
    }),
  );
  const addEvent = (type, data) => {
    const { job_id: _, type: __, created_at: at, ...rest } = data;
    events.append(h("li", { text: `${at ? new Date(at).toLocaleTimeString() : ""} ${type} ${JSON.stringify(rest)}` }));
  };
  const body = TERMINAL.has(job.status) ? h("div", {}, facts(job), job.status === "succeeded" ? results(job) : null) : liveJob(job, { signal, onEvent: addEvent });
  fill(
    main,
    h("p", {}, h("a", { href: "#/jobs", text: "← Jobs" })),
    h("h1", { class: "mono", text: id }),
    actions,
    message,
    h("h2", { text: "Result" }),
    body,
    h("h2", { text: "Input" }),
    h("pre", { class: "snippet", "data-input": "", text: JSON.stringify(job.input, null, 2) }),
    Object.keys(job.metadata || {}).length ? [h("h2", { text: "Metadata" }), h("pre", { class: "snippet", text: JSON.stringify(job.metadata, null, 2) })] : null,
    h("h2", { text: "Events" }),
    events,
  );
  if (TERMINAL.has(job.status)) {
    followJob(id, addEvent, { signal }).catch((error) => {
      events.append(h("li", { text: error.message }));
    });
  }
}
