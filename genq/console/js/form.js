// A model's input form, drawn from its JSON Schema and the x-playground hints on each field.

import { h, uid } from "./dom.js";

const IMAGE_REFERENCE = "image-reference";
const AUDIO_REFERENCE = "audio-reference";
const REFERENCES = [IMAGE_REFERENCE, AUDIO_REFERENCE];

function hintsOf(prop) {
  return prop["x-playground"] || {};
}

function typeOf(prop) {
  const t = prop.type;
  if (Array.isArray(t)) return t.find((x) => x !== "null") || "string";
  if (t) return t;
  if (prop.enum) return typeof prop.enum[0] === "number" ? "number" : "string";
  return "string";
}

function isUpload(prop) {
  const hints = hintsOf(prop);
  if (hints.widget === "file-upload") return true;
  if (REFERENCES.includes(prop.format)) return true;
  return typeOf(prop) === "array" && prop.items && REFERENCES.includes(prop.items.format);
}

/** What a file picker offers: images for an image reference, sounds for an audio one. */
function acceptOf(uploadKind, format) {
  if (uploadKind === "image" || format === IMAGE_REFERENCE) return "image/*";
  if (uploadKind === "audio" || format === AUDIO_REFERENCE) return "audio/*";
  return null;
}

function widgetOf(prop, name) {
  const hints = hintsOf(prop);
  const type = typeOf(prop);
  if (isUpload(prop)) return "file-upload";
  if (prop.enum) return hints.widget === "radio" || hints.widget === "segmented" ? "segmented" : "select";
  if (type === "boolean") return "switch";
  if (type === "integer" || type === "number") {
    // A seed is a number to type or randomize, never a position on a slider.
    if (name === "seed" || hints.widget === "number") return "number";
    if (hints.widget === "slider") return hints.widget;
    const bounded = prop.minimum !== undefined && prop.maximum !== undefined;
    return bounded && (prop.maximum - prop.minimum) / stepOf(prop) <= 1000 ? "slider" : "number";
  }
  if (type === "array" || type === "object") return "json";
  if (hints.widget === "textarea" || (prop.maxLength ?? 0) > 300) return "textarea";
  return "text";
}

function stepOf(prop) {
  const hints = hintsOf(prop);
  if (hints.step) return hints.step;
  if (prop.multipleOf) return prop.multipleOf;
  return typeOf(prop) === "integer" ? 1 : "any";
}

const plain = (v) => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(12))));

/** The message of the schema's rule a value breaks, or null. Worded as the server words them. */
export function problem(prop, value, required) {
  const type = typeOf(prop);
  if (value === undefined) return required ? "is required" : null;
  if (type === "integer" || type === "number") {
    if (typeof value !== "number" || Number.isNaN(value)) return "must be a number";
    if (type === "integer" && !Number.isInteger(value)) return `${value} is not a whole number`;
    if (prop.minimum !== undefined && value < prop.minimum)
      return `${plain(value)} is less than the minimum of ${plain(prop.minimum)}`;
    if (prop.maximum !== undefined && value > prop.maximum)
      return `${plain(value)} is greater than the maximum of ${plain(prop.maximum)}`;
    if (prop.exclusiveMinimum !== undefined && value <= prop.exclusiveMinimum)
      return `${plain(value)} is less than or equal to the minimum of ${plain(prop.exclusiveMinimum)}`;
    if (prop.exclusiveMaximum !== undefined && value >= prop.exclusiveMaximum)
      return `${plain(value)} is greater than or equal to the maximum of ${plain(prop.exclusiveMaximum)}`;
  }
  if (type === "string" && typeof value === "string") {
    const length = [...value].length;
    if (prop.minLength !== undefined && length < prop.minLength)
      return prop.minLength === 1 ? "should be non-empty" : `is shorter than ${prop.minLength} characters`;
    if (prop.maxLength !== undefined && length > prop.maxLength) {
      if (value.startsWith("data:"))
        return `the file is too large: ${length} characters as a data: URI, over the limit of ${prop.maxLength}`;
      return `is longer than ${prop.maxLength} characters (it has ${length})`;
    }
  }
  if (type === "array" && Array.isArray(value)) {
    if (prop.minItems !== undefined && value.length < prop.minItems)
      return `needs at least ${prop.minItems} item${prop.minItems === 1 ? "" : "s"}`;
    if (prop.maxItems !== undefined && value.length > prop.maxItems)
      return `takes at most ${prop.maxItems} item${prop.maxItems === 1 ? "" : "s"}`;
    if (prop.items && prop.items.maxLength !== undefined) {
      const long = value.find((v) => typeof v === "string" && v.length > prop.items.maxLength);
      if (long !== undefined) return `an item is longer than ${prop.items.maxLength} characters`;
    }
  }
  if (prop.enum && !prop.enum.some((e) => e === value)) return "is not one of the choices";
  return null;
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** One field: its element, and how to read, set and flag its value. */
function field(name, prop, required, onChange) {
  const id = uid(`in-${name}`);
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const widget = widgetOf(prop, name);
  const type = typeOf(prop);
  const hints = hintsOf(prop);
  const title = prop.title || name;
  const describedBy = `${hintId} ${errorId}`;
  const common = { id, name, "aria-describedby": describedBy, "data-field": name };
  if (required) common.required = true;
  const error = h("p", { class: "error", id: errorId, "aria-live": "polite" });
  const labelText = [title, required ? " (required)" : ""];
  let control;
  let read;
  let write;
  let extra = null;
  let uploads = [];
  const changed = () => onChange(name);

  if (widget === "select") {
    const options = prop.enum.map((value, i) => h("option", { value: String(i), text: String(value) }));
    const hasBlank = !required && prop.default === undefined;
    if (hasBlank) options.unshift(h("option", { value: "", text: "(model's choice)" }));
    control = h("select", { ...common, onchange: changed }, options);
    read = () => (control.value === "" ? undefined : prop.enum[Number(control.value)]);
    write = (v) => {
      const i = prop.enum.findIndex((e) => e === v);
      control.value = i < 0 ? (hasBlank ? "" : "0") : String(i);
    };
  } else if (widget === "segmented") {
    const group = uid(`seg-${name}`);
    const radios = prop.enum.map((value, i) =>
      h("label", { class: "switch" }, h("input", { type: "radio", name: group, value: String(i), onchange: changed }), String(value)),
    );
    control = h("div", { role: "radiogroup", id, "aria-describedby": describedBy, "data-field": name }, radios);
    const inputs = () => [...control.querySelectorAll("input")];
    read = () => {
      const on = inputs().find((r) => r.checked);
      return on ? prop.enum[Number(on.value)] : undefined;
    };
    write = (v) => {
      for (const r of inputs()) r.checked = prop.enum[Number(r.value)] === v;
    };
  } else if (widget === "switch") {
    control = h("input", { ...common, type: "checkbox", role: "switch", onchange: changed });
    read = () => control.checked;
    write = (v) => {
      control.checked = Boolean(v);
    };
  } else if (widget === "slider" || widget === "number") {
    const limits = { min: prop.minimum ?? prop.exclusiveMinimum, max: prop.maximum ?? prop.exclusiveMaximum, step: stepOf(prop) };
    // No min or max: the browser's own range check would block the form before ours names
    // the limit. The step (the hint's, or 1 for whole numbers) is what the arrow keys move by.
    control = h("input", { ...common, type: "number", step: limits.step, inputmode: type === "integer" ? "numeric" : "decimal", oninput: changed, "data-min": limits.min, "data-max": limits.max });
    if (widget === "slider") {
      const range = h("input", { type: "range", min: limits.min, max: limits.max, step: limits.step, "aria-label": `${title} slider`, tabindex: "-1" });
      range.addEventListener("input", () => {
        control.value = range.value;
        changed();
      });
      control.addEventListener("input", () => {
        if (control.value !== "") range.value = control.value;
      });
      extra = range;
    }
    read = () => {
      // A half-typed number ("12e") reads as "", which must not pass for an empty field.
      if (control.validity.badInput) return NaN;
      if (control.value.trim() === "") return undefined;
      const n = Number(control.value);
      return Number.isNaN(n) ? NaN : n;
    };
    write = (v) => {
      control.value = v === undefined || v === null ? "" : String(v);
      if (extra) extra.value = v === undefined || v === null ? String(prop.default ?? limits.min ?? 0) : String(v);
    };
    if (name === "seed") {
      const hi = Math.min(prop.maximum ?? 2 ** 32 - 1, Number.MAX_SAFE_INTEGER);
      const lo = prop.minimum ?? 0;
      extra = h("button", {
        type: "button",
        class: "secondary",
        "data-action": "randomize",
        "aria-label": "Randomize the seed",
        onclick: () => {
          const r = new Uint32Array(2);
          crypto.getRandomValues(r);
          const span = hi - lo + 1;
          control.value = String(lo + ((r[0] * 2 ** 32 + r[1]) % span));
          changed();
        },
        text: "Randomize",
      });
    }
  } else if (widget === "file-upload") {
    const multiple = type === "array" || Boolean(hints.multiple);
    const accept = hints.accept || acceptOf(hints.uploadKind, prop.format || prop.items?.format);
    const list = h("ul", { class: "muted" });
    control = h("input", { ...common, type: "file", accept, multiple });
    control.addEventListener("change", async () => {
      uploads = await Promise.all([...control.files].map(readFile));
      list.replaceChildren(...[...control.files].map((f) => h("li", { text: `${f.name} (${f.size} bytes)` })));
      changed();
    });
    extra = list;
    read = () => {
      if (!uploads.length) return undefined;
      return multiple ? uploads : uploads[0];
    };
    write = (v) => {
      // A value can come from "run again": kept until a file is chosen instead.
      if (v === undefined) uploads = [];
      else uploads = Array.isArray(v) ? v : [v];
      list.replaceChildren(...uploads.map((u, i) => h("li", { text: `earlier file ${i + 1} (${u.length} characters)` })));
    };
  } else if (widget === "json") {
    const text = type === "array" && prop.items && ["string", "number", "integer"].includes(prop.items.type);
    control = h("textarea", { ...common, rows: hints.rows || 3, oninput: changed, placeholder: text ? "one item a line" : "JSON" });
    read = () => {
      const raw = control.value.trim();
      if (raw === "") return undefined;
      if (text) {
        const items = raw.split("\n").map((s) => s.trim()).filter(Boolean);
        return prop.items.type === "string" ? items : items.map(Number);
      }
      try {
        return JSON.parse(raw);
      } catch {
        return Symbol.for("invalid-json");
      }
    };
    write = (v) => {
      if (v === undefined) control.value = "";
      else if (text && Array.isArray(v)) control.value = v.join("\n");
      else control.value = JSON.stringify(v, null, 2);
    };
  } else {
    const attrs = { ...common, oninput: changed };
    if (prop.maxLength !== undefined) attrs["data-max-length"] = prop.maxLength;
    control = widget === "textarea" ? h("textarea", { ...attrs, rows: hints.rows || 3 }) : h("input", { ...attrs, type: "text" });
    read = () => (control.value === "" ? undefined : control.value);
    write = (v) => {
      control.value = v === undefined || v === null ? "" : String(v);
    };
  }

  const label =
    widget === "segmented"
      ? h("span", { class: "label", id: `${id}-label`, text: labelText.join("") })
      : h("label", { for: id }, labelText.join(""));
  if (widget === "segmented") control.setAttribute("aria-labelledby", `${id}-label`);
  const hint = h("p", { class: "hint", id: hintId, text: describe(prop) });
  const body =
    widget === "switch"
      ? h("div", { class: "switch" }, control, label)
      : [label, hint, extra && widget !== "file-upload" ? h("div", { class: "pair" }, extra.type === "range" ? [extra, control] : [control, extra]) : control, widget === "file-upload" ? extra : null];
  const element = h("div", { class: "field", "data-name": name }, body, widget === "switch" ? hint : null, error);
  const focusable = widget === "segmented" ? control.querySelector("input") : control;
  return {
    name,
    prop,
    required,
    advanced: Boolean(hints.advanced),
    element,
    read,
    write,
    focus: () => focusable.focus(),
    flag(message) {
      error.textContent = message || "";
      if (message) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    },
  };
}

function describe(prop) {
  const parts = [];
  if (prop.description) parts.push(prop.description);
  const lo = prop.minimum ?? prop.exclusiveMinimum;
  const hi = prop.maximum ?? prop.exclusiveMaximum;
  if (lo !== undefined && hi !== undefined) parts.push(`From ${plain(lo)} to ${plain(hi)}.`);
  else if (lo !== undefined) parts.push(`At least ${plain(lo)}.`);
  else if (hi !== undefined) parts.push(`At most ${plain(hi)}.`);
  if (prop.maxLength !== undefined && !prop.format) parts.push(`Up to ${prop.maxLength} characters.`);
  return parts.join(" ");
}

/**
 * The form of a schema, its fields filled from ``initial`` or the schema's defaults:
 * {element, values(), validate(), showServerErrors(details), reset(values)}.
 */
export function schemaForm(schema, initial, onChange) {
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const fields = Object.entries(props).map(([name, prop]) =>
    field(name, prop, required.has(name), (n) => {
      byName.get(n).flag("");
      onChange?.();
    }),
  );
  const byName = new Map(fields.map((f) => [f.name, f]));
  const main = fields.filter((f) => !f.advanced);
  const advanced = fields.filter((f) => f.advanced);
  const formError = h("div", { class: "form-error", role: "alert" });
  const element = h(
    "div",
    { class: "fields" },
    main.map((f) => f.element),
    advanced.length ? h("details", { class: "advanced" }, h("summary", { text: `Advanced (${advanced.length})` }), advanced.map((f) => f.element)) : null,
    formError,
  );

  function reset(values) {
    for (const f of fields) {
      const v = values && Object.hasOwn(values, f.name) ? values[f.name] : f.prop.default;
      f.write(v);
      f.flag("");
    }
    formError.textContent = "";
    const extra = values ? Object.keys(values).filter((k) => !byName.has(k)) : [];
    if (extra.length) formError.textContent = `Not inputs of this model, left out: ${extra.join(", ")}`;
  }

  function values() {
    const out = {};
    for (const f of fields) {
      const v = f.read();
      // Not a number yet (validate() says so): left out of estimates and snippets.
      if (v !== undefined && !Number.isNaN(v)) out[f.name] = v;
    }
    return out;
  }

  /** Flag each field that breaks its schema; true when none does. */
  function validate() {
    let first = null;
    for (const f of fields) {
      const v = f.read();
      const message = v === Symbol.for("invalid-json") ? "is not valid JSON" : problem(f.prop, v, f.required);
      f.flag(message);
      if (message && !first) first = f;
    }
    if (first) {
      if (first.advanced) first.element.closest("details").open = true;
      first.focus();
    }
    return first === null;
  }

  /** The server's 422 details on their fields (path "input/NAME/..."); the rest above. */
  function showServerErrors(details, message) {
    const loose = [];
    let first = null;
    for (const d of details || []) {
      const path = String(d.path || "").split("/");
      const name = path[0] === "input" ? path[1] : path[0];
      const f = byName.get(name);
      if (f) {
        f.flag(d.message);
        if (!first) first = f;
        if (f.advanced) f.element.closest("details").open = true;
      } else loose.push(`${d.path}: ${d.message}`);
    }
    formError.textContent = loose.length ? loose.join("; ") : first ? "" : message || "";
    if (first) first.focus();
  }

  reset(initial);
  return { element, values, validate, showServerErrors, reset, fields: byName };
}

/** What a job with these inputs should cost: per job, per output, per second of media. */
export function estimate(price, input) {
  if (!price) return null;
  const outputs = Number(input.num_images || input.num_outputs || 1);
  const secondsOf = Number(input.duration || 0);
  const total = (price.per_job || 0) + (price.per_output || 0) * outputs + (price.per_second || 0) * secondsOf;
  return { total: Number(total.toPrecision(12)), outputs, seconds: secondsOf, open: (price.per_second || 0) > 0 && !input.duration };
}

function shellQuote(s) {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

function python(value, indent = "") {
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "string" || typeof value === "number") return JSON.stringify(value);
  const inner = `${indent}    `;
  if (Array.isArray(value)) return value.length ? `[\n${value.map((v) => inner + python(v, inner)).join(",\n")},\n${indent}]` : "[]";
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${python(v, inner)}`).join(",\n")},\n${indent}}`;
}

/**
 * Whether ``genq run --input k=TEXT`` would read TEXT as JSON rather than as text: Python's
 * json.loads, which takes JSON and the constants NaN, Infinity and -Infinity besides. Over
 * the mark, never under it: a string said to parse is only quoted when it need not be.
 */
function readAsJson(text) {
  if (/NaN|Infinity/.test(text)) return true;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The current form as a curl command, a Python SDK call and a ``genq run`` command. */
export function snippets(origin, model, input) {
  const body = JSON.stringify({ model, input });
  const curl = [`curl -s ${origin}/v1/jobs`, `  -H "Authorization: Bearer $GENQ_API_KEY"`, `  -H 'Content-Type: application/json'`, `  -d ${shellQuote(body)}`].join(" \\\n");
  const py = [
    "import genq",
    "",
    `client = genq.Client(${JSON.stringify(origin)})  # the key from GENQ_API_KEY`,
    `job = client.run(${JSON.stringify(model)}, ${python(input)})`,
    "print(job.outputs)",
  ].join("\n");
  const pairs = Object.entries(input).map(([k, v]) => {
    const text = typeof v === "string" && !readAsJson(v) ? v : JSON.stringify(v);
    return `  --input ${shellQuote(`${k}=${text}`)}`;
  });
  const cli = [`GENQ_URL=${origin} genq run ${shellQuote(model)}`, ...pairs].join(" \\\n");
  return { curl, python: py, cli };
}
