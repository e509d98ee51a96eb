// The models list, and each model's playground.

import { ApiError, get, post } from "./api.js";
import { copy, credits, fill, h } from "./dom.js";
import { estimate, schemaForm, snippets } from "./form.js";
import { liveJob } from "./run.js";

const RERUN = "genq.console.rerun";

/** Open a model's playground with this input (the jobs pages' "run again"). */
export function runAgain(model, input) {
  sessionStorage.setItem(RERUN, JSON.stringify({ model, input }));
  location.hash = `#/play/${encodeURIComponent(model)}`;
}

function priceText(price) {
  if (!price) return "";
  const parts = [];
  if (price.per_job) parts.push(`${credits(price.per_job)} a job`);
  if (price.per_output) parts.push(`${credits(price.per_output)} an output`);
  if (price.per_second) parts.push(`${credits(price.per_second)} a second`);
  return parts.length ? parts.join(" + ") : "free";
}

export async function modelsPage(main, { signal }) {
  const { data } = await get("/v1/models", { signal });
  const items = data.map((m) =>
    h(
      "li",
      { class: "card", "data-model": m.name },
      h("h2", {}, m.available ? h("a", { href: `#/play/${encodeURIComponent(m.name)}`, text: m.name }) : m.name),
      h("p", {}, h("span", { class: "badge", text: m.modality }), " ", m.available ? h("span", { class: "badge ok", text: "available" }) : h("span", { class: "badge bad", text: "unavailable" })),
      h("p", { text: m.description || "" }),
      h("p", { class: "muted", text: `Price: ${priceText(m.price)} (credits)` }),
      m.available ? null : h("p", { class: "form-error", text: m.unavailable_reason || "This model cannot run on this server." }),
      m.aliases?.length ? h("p", { class: "muted", text: `Also known as: ${m.aliases.join(", ")}` }) : null,
    ),
  );
  fill(main, h("h1", { text: "Models" }), h("ul", { class: "models" }, items));
}

export async function playPage(main, { signal, args }) {
  const name = args[0];
  const model = await get(`/v1/models/${encodeURIComponent(name)}`, { signal });
  let initial;
  const saved = sessionStorage.getItem(RERUN);
  if (saved) {
    sessionStorage.removeItem(RERUN);
    try {
      const { model: m, input } = JSON.parse(saved);
      if (m === model.name || model.aliases?.includes(m)) initial = input;
    } catch {
      initial = undefined;
    }
  }
  const cost = h("p", { class: "estimate", "aria-live": "polite", "data-estimate": "" });
  const copyOut = h("pre", { class: "snippet", "data-snippet": "", hidden: true });
  const runArea = h("div", { "data-run-area": "" });
  const origin = location.origin;
  let lastSnippet = null;

  const update = () => {
    const input = form.values();
    const e = estimate(model.price, input);
    if (e) {
      const open = e.open ? ` + ${credits(model.price.per_second)} a second of output` : "";
      cost.textContent = `Estimated cost: ${credits(e.total)} credits${open}`;
    }
    if (lastSnippet) showSnippet(lastSnippet);
  };
  const form = schemaForm(model.input_schema || { properties: {} }, initial, update);

  function showSnippet(kind) {
    lastSnippet = kind;
    const all = snippets(origin, model.name, form.values());
    copyOut.textContent = all[kind];
    copyOut.hidden = false;
    copyOut.dataset.snippet = kind;
  }
  const copyButtons = [
    ["curl", "curl"],
    ["python", "Python"],
    ["cli", "genq run"],
  ].map(([kind, label]) =>
    h("button", {
      type: "button",
      class: "secondary",
      "data-copy": kind,
      text: `Copy as ${label}`,
      onclick: (event) => {
        showSnippet(kind);
        copy(copyOut.textContent, event.currentTarget);
      },
    }),
  );

  const submit = h("button", { type: "submit", text: "Run", disabled: !model.available });
  const element = h(
    "form",
    { novalidate: true, "aria-label": `${model.name} input`, "data-playground": model.name },
    form.element,
    cost,
    h("div", { class: "actions" }, submit, h("button", { type: "button", class: "secondary", text: "Reset", onclick: () => { form.reset(undefined); update(); } })),
    h("div", { class: "actions" }, copyButtons),
    copyOut,
  );
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.validate()) return;
    submit.disabled = true;
    try {
      const job = await post("/v1/jobs", { model: model.name, input: form.values() }, { signal });
      fill(runArea, liveJob(job, { signal }));
      runArea.scrollIntoView({ block: "nearest", behavior: "smooth" });
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) form.showServerErrors(error.details, error.message);
      else if (!signal.aborted) form.showServerErrors([], error.message);
    } finally {
      submit.disabled = !model.available;
    }
  });

  fill(
    main,
    h("p", {}, h("a", { href: "#/models", text: "← Models" })),
    h("h1", { text: model.name }),
    h("p", { class: "muted" }, h("span", { class: "badge", text: model.modality }), " ", model.description || ""),
    model.available ? null : h("p", { class: "form-error", role: "alert", text: model.unavailable_reason || "unavailable" }),
    h("div", { class: "play" }, h("section", { "aria-label": "Input" }, element), h("section", { "aria-label": "Result" }, runArea)),
  );
  update();
}
