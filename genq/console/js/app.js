// The console's shell: sign-in, the navigation, and the hash routes of its pages.

import { ApiError, del, get, onUnauthorized, post, session } from "./api.js";
import { fill, h } from "./dom.js";
import { jobPage, jobsPage, resetFilters } from "./jobs.js";
import { adminPage, keysPage, usagePage } from "./account.js";
import { modelsPage, playPage } from "./models.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const notice = document.getElementById("notice");

/** What the page knows of the signed-in account (GET /v1/account), or null. */
export const state = { account: null };

const routes = [
  [/^#\/models$/, modelsPage, "models"],
  [/^#\/play\/(.+)$/, playPage, "models"],
  [/^#\/jobs$/, jobsPage, "jobs"],
  [/^#\/jobs\/(.+)$/, jobPage, "jobs"],
  [/^#\/keys$/, keysPage, "keys"],
  [/^#\/usage$/, usagePage, "usage"],
  [/^#\/admin$/, adminPage, "admin"],
];

let leaving = new AbortController();

export function say(message) {
  notice.textContent = message || "";
  notice.hidden = !message;
}

async function route() {
  leaving.abort();
  leaving = new AbortController();
  say("");
  if (!session.key) {
    signInPage();
    return;
  }
  const hash = location.hash || "#/models";
  for (const [pattern, page, section] of routes) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const a of nav.querySelectorAll("a")) {
      if (a.dataset.section === section) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    fill(main, h("p", { class: "muted", text: "Loading…" }));
    try {
      // Inside the try: a malformed escape (#/jobs/%E0) throws, and is shown like any error.
      const args = match.slice(1).map(decodeURIComponent);
      await page(main, { signal: leaving.signal, state, args });
    } catch (error) {
      if (leaving.signal.aborted) return;
      fill(main, h("h1", { text: "Something went wrong" }), h("p", { class: "form-error", role: "alert", text: error.message }));
    }
    document.title = `${main.querySelector("h1")?.textContent || "genq"} · genq console`;
    // A screen reader starts reading the new page; the next Tab goes into it.
    if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
    return;
  }
  location.replace("#/models");
}

function showSignedIn() {
  const signed = Boolean(session.key);
  nav.hidden = !signed;
  who.hidden = !signed;
  const account = state.account;
  document.getElementById("who-name").textContent = account ? `${account.name}${account.admin ? " (admin)" : ""}` : "";
  document.getElementById("nav-admin").hidden = !(account && account.admin);
}

async function loadAccount(key) {
  try {
    return await get("/v1/account", { key });
  } catch (error) {
    // Without the account route the key is checked on the models list instead.
    if (error instanceof ApiError && error.status === 404) {
      await get("/v1/models", { key });
      return null;
    }
    throw error;
  }
}

async function signIn(key, { minted = false } = {}) {
  state.account = await loadAccount(key);
  session.set(key, { minted });
  showSignedIn();
}

/**
 * Forget the key; one a sign-in link made for this page is deleted first (a pasted key is
 * the user's to keep). ``refused``: the server already refuses the key, so it is not asked.
 */
async function signOut(message, { refused = false } = {}) {
  if (session.minted && session.key && !refused) await deleteOwnKey(session.key, state.account?.key?.id);
  session.clear();
  resetFilters();
  state.account = null;
  showSignedIn();
  if (location.hash && !location.hash.startsWith("#/models")) history.replaceState(null, "", "#/models");
  route().then(() => say(message || ""));
}

function signInPage() {
  showSignedIn();
  const error = h("p", { class: "form-error", role: "alert", id: "sign-in-error" });
  const input = h("input", { id: "api-key", name: "key", type: "password", autocomplete: "off", spellcheck: "false", required: true, "aria-describedby": "api-key-hint sign-in-error" });
  const button = h("button", { type: "submit", text: "Sign in" });
  const form = h(
    "form",
    { novalidate: true, "aria-labelledby": "sign-in-title" },
    h("label", { for: "api-key", text: "API key" }),
    h("p", { class: "hint muted", id: "api-key-hint", text: "A key such as gq_…. genq serve saves the first one in its data folder (the api-key file) and prints a one-time sign-in link when it starts; genq console-link prints another." }),
    input,
    button,
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.textContent = "Paste an API key.";
      input.focus();
      return;
    }
    button.disabled = true;
    error.textContent = "";
    try {
      await signIn(key);
      input.value = "";
      route();
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401 ? "This key is not valid (or is disabled)." : e.message;
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  fill(main, h("section", { class: "signin card" }, h("h1", { id: "sign-in-title", text: "Sign in to genq" }), form));
  input.focus();
}

/** Delete a key with itself, as far as the server lets: a key nobody holds any more. */
async function deleteOwnKey(key, keyId) {
  try {
    const id = keyId ?? (await get("/v1/account", { key })).key.id;
    await del(`/v1/keys/${encodeURIComponent(id)}`, { key });
  } catch {
    // Already gone, or the server has no account routes: nothing more to do.
  }
}

/**
 * Whether to leave the signed-in account for the link's: asked on the page, Stay first. A
 * link from someone else would otherwise sign this page in to their account (login CSRF).
 * Leaving the page for another route answers Stay.
 */
function askToSwitch(current, next) {
  leaving.abort();
  leaving = new AbortController();
  const { signal } = leaving;
  say("");
  showSignedIn();
  return new Promise((resolve) => {
    const stay = h("button", { type: "button", class: "secondary", "data-action": "stay", text: `Stay as ${current}`, onclick: () => resolve(false) });
    const go = h("button", { type: "button", "data-action": "switch", text: `Switch to ${next}`, onclick: () => resolve(true) });
    signal.addEventListener("abort", () => resolve(false));
    fill(
      main,
      h(
        "section",
        { class: "card", role: "alertdialog", "aria-labelledby": "switch-title", "aria-describedby": "switch-text", "data-switch": "" },
        h("h1", { id: "switch-title", text: "Switch accounts?" }),
        h("p", { id: "switch-text", text: `This page is signed in as ${current}. The sign-in link you opened signs in as ${next}: switch only if you asked for that link yourself.` }),
        h("div", { class: "actions" }, stay, go),
      ),
    );
    document.title = "Switch accounts? · genq console";
    stay.focus();
  });
}

/**
 * A ``#sign-in=TOKEN`` link: take it out of the address bar and trade the token for a key;
 * where the page is already signed in, the new key is kept only if the user says so.
 */
async function signInWithLink() {
  const match = location.hash.match(/^#sign-in=([A-Za-z0-9_-]+)$/);
  if (!match) return false;
  history.replaceState(null, "", `${location.pathname}${location.search}#/models`);
  let answer;
  try {
    answer = await post("/v1/console/sign-in", { token: match[1] }, { key: null });
  } catch (error) {
    await route();
    const why = error instanceof ApiError && error.status === 401 ? "This sign-in link was already used or has expired: ask for a new one (genq console-link), or paste a key." : error.message;
    say(why);
    return true;
  }
  if (session.key && !state.account) {
    try {
      state.account = await loadAccount(session.key);
    } catch (error) {
      // A refused key is no session to keep.
      if (error instanceof ApiError && error.status === 401) session.clear();
    }
  }
  if (session.key) {
    const current = state.account ? state.account.name : "the account of the key given earlier";
    if (!(await askToSwitch(current, answer.account.name))) {
      await deleteOwnKey(answer.key);
      await route();
      say(`Still signed in as ${current}; the link was not used.`);
      return true;
    }
  }
  try {
    await signIn(answer.key, { minted: true });
  } catch (error) {
    await route();
    say(error.message);
    return true;
  }
  await route();
  return true;
}

document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
onUnauthorized(() => signOut("The key was refused (disabled or deleted): sign in again.", { refused: true }));
window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#sign-in=")) signInWithLink();
  else route();
});

async function start() {
  if (await signInWithLink()) return;
  if (session.key) {
    try {
      state.account = await loadAccount(session.key);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        signOut("The key was refused: sign in again.", { refused: true });
        return;
      }
    }
  }
  showSignedIn();
  await route();
}

start();
