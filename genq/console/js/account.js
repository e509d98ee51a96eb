// The account's keys and usage, and the admin's accounts and keys.

import { ApiError, del, get, post } from "./api.js";
import { copy, credits, fill, h, when } from "./dom.js";

function unavailable(main, title, error) {
  if (error instanceof ApiError && error.status === 404 && error.code === "not_found") {
    fill(main, h("h1", { text: title }), h("p", { class: "muted", text: "This server does not offer this page yet." }));
    return true;
  }
  return false;
}

function shownOnce(answer) {
  const button = h("button", { type: "button", class: "secondary", text: "Copy", onclick: (e) => copy(answer.key, e.currentTarget) });
  return h(
    "div",
    { class: "secret", role: "status", "data-new-key": answer.id },
    h("strong", { text: "New key, shown this once:" }),
    h("code", { "data-plain-key": "", text: answer.key }),
    button,
  );
}

export async function keysPage(main, { signal, state }) {
  let listed;
  try {
    listed = await get("/v1/keys", { signal });
  } catch (error) {
    if (unavailable(main, "Keys", error)) return;
    throw error;
  }
  const table = h("div", { class: "table-wrap" });
  const created = h("div", { "aria-live": "polite" });
  const message = h("p", { class: "form-error", role: "alert" });

  async function act(key, action) {
    message.textContent = "";
    const path = `/v1/keys/${encodeURIComponent(key.id)}`;
    if (key.current && action !== "enable" && !confirm(`This is the key this page signed in with: ${action} it and sign out?`)) return;
    if (action === "delete" && !key.current && !confirm(`Delete the key ${key.prefix}…? Programs using it stop working.`)) return;
    try {
      if (action === "delete") await del(path);
      else await post(`${path}/${action}`);
    } catch (error) {
      message.textContent = error.message;
      return;
    }
    await reload();
  }

  function render(keys) {
    const rows = keys.map((k) =>
      h(
        "tr",
        { "data-key-row": k.id, "data-disabled": k.disabled ? "true" : "false" },
        h("td", {}, h("span", { text: k.name || "(no name)" }), k.current ? h("span", { class: "badge ok", text: "this page" }) : null),
        h("td", { class: "mono", text: `${k.prefix}…` }),
        h("td", { class: "hide-narrow", text: when(k.created_at) }),
        h("td", { class: "hide-narrow", text: k.last_used_at ? when(k.last_used_at) : "—" }),
        h("td", {}, k.disabled ? h("span", { class: "badge bad", text: "disabled" }) : h("span", { class: "badge ok", text: "active" })),
        h(
          "td",
          {},
          h("div", { class: "actions" },
            k.disabled
              ? h("button", { type: "button", class: "secondary", "data-action": "enable", text: "Enable", "aria-label": `Enable ${k.name || k.prefix}`, onclick: () => act(k, "enable") })
              : h("button", { type: "button", class: "secondary", "data-action": "disable", text: "Disable", "aria-label": `Disable ${k.name || k.prefix}`, onclick: () => act(k, "disable") }),
            h("button", { type: "button", class: "danger", "data-action": "delete", text: "Delete", "aria-label": `Delete ${k.name || k.prefix}`, onclick: () => act(k, "delete") }),
          ),
        ),
      ),
    );
    fill(
      table,
      h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Key", "Created", "Last used", "State", ""].map((t, i) => h("th", { scope: "col", class: i === 2 || i === 3 ? "hide-narrow" : null, text: t })))), h("tbody", {}, rows)),
    );
  }

  async function reload() {
    try {
      render((await get("/v1/keys", { signal })).data);
    } catch (error) {
      message.textContent = error.message;
    }
  }

  const nameInput = h("input", { id: "new-key-name", type: "text", maxlength: 100, autocomplete: "off" });
  const form = h(
    "form",
    { class: "filters", novalidate: true, "aria-label": "Create a key" },
    h("div", {}, h("label", { for: "new-key-name", text: "Name (optional)" }), nameInput),
    h("button", { type: "submit", text: "Create key" }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    const name = nameInput.value.trim();
    try {
      const answer = await post("/v1/keys", name ? { name } : {});
      fill(created, shownOnce(answer));
      nameInput.value = "";
      await reload();
    } catch (error) {
      message.textContent = error.message;
    }
  });
  const account = state.account;
  fill(
    main,
    h("h1", { text: "Keys" }),
    account ? h("p", { class: "muted", text: `Keys of the account ${account.name}.` }) : null,
    form,
    created,
    message,
    table,
  );
  render(listed.data);
}

function bars(rows, label) {
  const most = Math.max(0, ...rows.map((r) => Number(r.spent)));
  return h(
    "div",
    { class: "bars" },
    rows.map((r) =>
      h(
        "div",
        { class: "bar" },
        h("span", { text: label(r) }),
        h("meter", { min: 0, max: most || 1, value: Number(r.spent), "aria-label": `${label(r)}: ${credits(r.spent)} credits` }),
        h("span", { text: `${credits(r.spent)} · ${r.jobs} job${r.jobs === 1 ? "" : "s"}` }),
      ),
    ),
  );
}

export async function usagePage(main, { signal }) {
  const days = h("select", { id: "usage-days" }, [7, 30, 90, 366].map((d) => h("option", { value: String(d), text: `${d} days`, selected: d === 30 })));
  const body = h("div", {});
  async function load() {
    let usage;
    try {
      usage = await get(`/v1/usage?days=${days.value}`, { signal });
    } catch (error) {
      if (unavailable(main, "Usage", error)) return;
      throw error;
    }
    const busy = usage.by_day.filter((d) => d.jobs > 0);
    fill(
      body,
      h(
        "dl",
        { class: "facts" },
        h("dt", { text: "Balance" }),
        h("dd", { "data-balance": "", text: usage.credits === null ? "no limit" : `${credits(usage.credits)} credits` }),
        h("dt", { text: "Held by unfinished jobs" }),
        h("dd", { text: `${credits(usage.held)} credits` }),
      ),
      h("h2", { text: "By model" }),
      usage.by_model.length ? bars(usage.by_model, (r) => r.model) : h("p", { class: "muted", text: "No jobs in this period." }),
      h("h2", { text: "By day (UTC)" }),
      busy.length ? [bars(busy, (r) => r.day), h("p", { class: "muted", text: "Days without jobs are left out." })] : h("p", { class: "muted", text: "No jobs in this period." }),
    );
  }
  days.addEventListener("change", load);
  fill(main, h("h1", { text: "Usage" }), h("div", { class: "filters" }, h("div", {}, h("label", { for: "usage-days", text: "Period" }), days)), body);
  await load();
}

export async function adminPage(main, { signal, state }) {
  if (state.account && !state.account.admin) {
    fill(main, h("h1", { text: "Admin" }), h("p", { text: "Only admin accounts see this page." }));
    return;
  }
  const accountsBox = h("div", { class: "table-wrap" });
  const keysBox = h("div", { class: "table-wrap" });
  const created = h("div", { "aria-live": "polite" });
  const message = h("p", { class: "form-error", role: "alert" });

  async function run(action) {
    message.textContent = "";
    try {
      await action();
      await load();
    } catch (error) {
      message.textContent = error.message;
    }
  }

  function topUp(account) {
    const id = `top-up-${account.id}`;
    const amount = h("input", { id, type: "number", min: "0", step: "any", class: "narrow" });
    const form = h("form", { class: "pair", novalidate: true }, h("label", { for: id, class: "sr", text: "Add credits" }), amount, h("button", { type: "submit", class: "secondary", text: "Add" }));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const value = Number(amount.value);
      if (!(value > 0)) {
        message.textContent = "The amount to add must be more than 0.";
        amount.focus();
        return;
      }
      run(() => post(`/v1/admin/accounts/${encodeURIComponent(account.id)}/credits`, { amount: value }));
    });
    return account.credits === null ? h("span", { class: "muted", text: "no limit" }) : form;
  }

  async function load() {
    let accounts;
    let keys;
    try {
      [accounts, keys] = await Promise.all([get("/v1/admin/accounts", { signal }), get("/v1/admin/keys", { signal })]);
    } catch (error) {
      if (unavailable(main, "Admin", error)) return;
      throw error;
    }
    fill(
      accountsBox,
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ["Account", "Balance", "Held", "Keys", "Top up"].map((t) => h("th", { scope: "col", text: t })))),
        h(
          "tbody",
          {},
          accounts.data.map((a) =>
            h("tr", { "data-account-row": a.name }, h("td", {}, a.name, a.admin ? h("span", { class: "badge", text: "admin" }) : null), h("td", { text: credits(a.credits) }), h("td", { text: credits(a.held) }), h("td", { text: String(a.keys) }), h("td", {}, topUp(a))),
          ),
        ),
      ),
    );
    fill(
      keysBox,
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ["Account", "Name", "Key", "State", ""].map((t) => h("th", { scope: "col", text: t })))),
        h(
          "tbody",
          {},
          keys.data.map((k) =>
            h(
              "tr",
              { "data-admin-key": k.id },
              h("td", { text: k.account?.name || "" }),
              h("td", { text: k.name || "(no name)" }),
              h("td", { class: "mono", text: `${k.prefix}…` }),
              h("td", { text: k.disabled ? "disabled" : "active" }),
              h("td", {}, h("button", { type: "button", class: "secondary", text: k.disabled ? "Enable" : "Disable", onclick: () => {
                if (k.current && !confirm("This is the key this page signed in with: disable it?")) return;
                run(() => post(`/v1/admin/keys/${encodeURIComponent(k.id)}/${k.disabled ? "enable" : "disable"}`));
              } })),
            ),
          ),
        ),
      ),
    );
  }

  const name = h("input", { id: "new-account-name", type: "text", required: true, autocomplete: "off" });
  const limit = h("input", { id: "new-account-credits", type: "number", min: "0", step: "any" });
  const admin = h("input", { id: "new-account-admin", type: "checkbox", role: "switch" });
  const form = h(
    "form",
    { class: "filters", novalidate: true, "aria-label": "Create an account" },
    h("div", {}, h("label", { for: "new-account-name", text: "Name" }), name),
    h("div", {}, h("label", { for: "new-account-credits", text: "Credits (empty: no limit)" }), limit),
    h("div", { class: "switch" }, admin, h("label", { for: "new-account-admin", text: "Admin" })),
    h("button", { type: "submit", text: "Create account" }),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!name.value.trim()) {
      message.textContent = "An account needs a name.";
      name.focus();
      return;
    }
    // A half-typed number ("12e") reads as "", which must not pass for "no limit".
    if (limit.validity.badInput) {
      message.textContent = "Credits must be a number (or empty: no limit).";
      limit.focus();
      return;
    }
    const body = { name: name.value.trim(), admin: admin.checked };
    if (limit.value.trim() !== "") body.credits = Number(limit.value);
    run(async () => {
      const answer = await post("/v1/admin/accounts", body);
      fill(created, h("p", { text: `Account ${answer.name} created.` }), answer.key ? shownOnce(answer.key) : null);
      name.value = "";
      limit.value = "";
    });
  });
  fill(main, h("h1", { text: "Admin" }), h("h2", { text: "Accounts" }), form, created, message, accountsBox, h("h2", { text: "Every key" }), keysBox);
  await load();
}
