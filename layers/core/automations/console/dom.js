// Building the page. Every value goes in as text (textContent, text nodes, attributes): never as HTML, since
// automation names, templates and event data are user input. Shared widgets: dialogs, toasts, formatting.

import { explain, get } from "./api.js";

const PROPS = new Set(["value", "checked", "disabled", "selected", "indeterminate", "open"]);

function add(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function set(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (name === "text") el.textContent = String(value);
    else if (name === "dataset") for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (PROPS.has(name)) el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  return el;
}

/** An HTML element: h("a", {href: "#/x", class: "link"}, "text", child, ...). */
export function h(tag, attrs, ...children) {
  return add(set(document.createElement(tag), attrs), children);
}

const SVG = "http://www.w3.org/2000/svg";

/** An SVG element, as h() makes HTML ones. */
export function s(tag, attrs, ...children) {
  return add(set(document.createElementNS(SVG, tag), attrs), children);
}

export function clear(el, ...children) {
  el.replaceChildren();
  return add(el, children);
}

/** A link inside the console: the hash of a route, every part encoded. */
export function route(...parts) {
  const query = parts.length && typeof parts[parts.length - 1] === "object" ? parts.pop() : null;
  let hash = "#/" + parts.map((p) => encodeURIComponent(String(p))).join("/");
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
    const text = q.toString();
    if (text) hash += "?" + text;
  }
  return hash;
}

// --- formatting ---------------------------------------------------------------------------------------------

const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const DAY = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
const NUMBER = new Intl.NumberFormat();

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : DATE.format(date);
}

export function timeTag(iso) {
  return h("time", { datetime: iso || "", title: iso || "" }, when(iso));
}

export function shortDay(day) {
  return DAY.format(new Date(`${day}T00:00:00Z`));
}

export function num(value) {
  return value === null || value === undefined ? "—" : NUMBER.format(value);
}

export function pct(rate) {
  if (rate === null || rate === undefined) return "—";
  const value = rate * 100;
  return `${value >= 10 || value === 0 ? value.toFixed(0) : value.toFixed(1)}%`;
}

export function badge(status, title) {
  return h("span", { class: `badge badge-${String(status).replace(/[^a-z_-]/gi, "")}`, title }, status);
}

export function chip(text, extra) {
  return h("span", { class: "chip" }, text, extra);
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}

/** What a detail page shows, read from the API while the page says "Loading…". On an error the page says it
 * under its crumb (`[href, text]`) and title, and the answer is null; null too when the page was left meanwhile. */
export async function loadDetail(ctx, route, crumb, title) {
  clear(ctx.main, loading());
  try {
    const found = await get(route);
    return ctx.alive() ? found : null;
  } catch (error) {
    if (ctx.alive()) clear(ctx.main, h("p", { class: "crumbs" }, h("a", { href: crumb[0] }, crumb[1])), h("h1", null, title), h("p", { class: "error" }, explain(error)));
    return null;
  }
}

export function pretty(value) {
  return h("pre", { class: "code" }, JSON.stringify(value, null, 2));
}

/** A definition list of label/value pairs; values may be elements. */
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([label, value]) => [h("dt", null, label), h("dd", null, value ?? "—")]),
  );
}

// --- feedback -----------------------------------------------------------------------------------------------

let toastTimer = null;

/** A short message at the bottom of the page. */
export function toast(message, kind = "ok") {
  const box = document.getElementById("toast");
  if (!box) return;
  box.onclick = () => box.classList.remove("shown");
  clear(box, message);
  box.className = `toast toast-${kind} shown`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => box.classList.remove("shown"), kind === "error" ? 8000 : 4000);
}

function dialog() {
  let box = document.getElementById("dialog");
  if (!box) {
    box = h("dialog", { id: "dialog", class: "dialog" });
    document.body.append(box);
  }
  return box;
}

/**
 * Ask before doing something: resolves to the values of the dialog's fields (an object, empty without fields)
 * when confirmed, null when cancelled. fields: [{name, label, value, type, placeholder, required}].
 */
export function ask({ title, message, confirm = "OK", danger = false, fields = [] }) {
  const box = dialog();
  return new Promise((resolve) => {
    const inputs = fields.map((f) =>
      h("input", {
        name: f.name,
        type: f.type || "text",
        value: f.value ?? "",
        placeholder: f.placeholder,
        required: f.required,
        autocomplete: "off",
      }),
    );
    const form = h(
      "form",
      { method: "dialog", class: "dialog-form" },
      h("h2", null, title),
      message ? (message instanceof Node ? message : h("p", null, message)) : null,
      fields.map((f, i) => h("label", { class: "field" }, h("span", null, f.label), inputs[i])),
      h(
        "div",
        { class: "dialog-actions" },
        h("button", { type: "button", class: "button", value: "cancel", onclick: () => box.close("cancel") }, "Cancel"),
        h("button", { type: "submit", class: danger ? "button danger" : "button primary", value: "ok" }, confirm),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!form.reportValidity()) return;
      box.close("ok");
    });
    clear(box, form);
    box.returnValue = "";
    box.addEventListener(
      "close",
      () => {
        if (box.returnValue !== "ok") return resolve(null);
        resolve(Object.fromEntries(inputs.map((input) => [input.name, input.value])));
      },
      { once: true },
    );
    box.showModal();
    (inputs[0] || form.querySelector("button[type=submit]")).focus();
  });
}

/** A button that runs an async action once at a time, shows it is busy, and reports a failure. */
export function action(label, run, attrs = {}) {
  const button = h("button", { type: "button", class: "button", ...attrs }, label);
  button.addEventListener("click", async () => {
    if (button.disabled) return;
    button.disabled = true;
    button.classList.add("busy");
    try {
      await run(button);
    } finally {
      button.disabled = false;
      button.classList.remove("busy");
    }
  });
  return button;
}
