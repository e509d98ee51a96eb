// Building the page's elements. Text always goes in as text nodes, never as HTML.

const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "open", "selected"]);

/** An element with attributes, listeners (onclick: fn) and children (nodes or text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = String(value);
    else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (PROPERTIES.has(name)) el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace everything in ``el`` with ``children``. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
/** A fresh element id with a readable prefix. */
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A number of bytes as people read it. */
export function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** An ISO time as a short local date and time. */
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** Credits as a number with no float noise; null means no limit. */
export function credits(n, none = "no limit") {
  if (n === null || n === undefined) return none;
  return String(Number(Number(n).toPrecision(12)));
}

/** Seconds with a unit. */
export function seconds(s) {
  if (s === null || s === undefined) return "—";
  return s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`;
}

/** A status word as a badge. */
export function statusBadge(status) {
  return h("span", { class: `badge status-${status}`, "data-status": status, text: status });
}

/** Put text on the clipboard, and say so on the button that asked. */
export async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    if (button) flash(button, "Copied");
  } catch {
    if (button) flash(button, "Copy failed: select and copy by hand");
  }
}

function flash(button, words) {
  const before = button.textContent;
  button.textContent = words;
  setTimeout(() => {
    button.textContent = before;
  }, 1500);
}
