// A few helpers to build pages without innerHTML: text from the API is always text.

/**
 * An element: h("button", {class: "primary", onclick: fn, "aria-label": "Save"}, "Save").
 * Attributes whose value is false, null or undefined are left out; `on...` ones are
 * listeners; children may be strings, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name === "value" && "value" in element) {
      element.value = value;
    } else if (name === "checked" || name === "selected" || name === "disabled") {
      element[name] = Boolean(value);
      if (value) element.setAttribute(name, "");
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
  return element;
}

let nextId = 0;
/** A unique id for labelling (label for=, aria-describedby). */
export function uid(prefix = "f") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A labelled form field: the control with a <label>, and an optional hint. */
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid();
  const parts = [h("label", { for: control.id }, labelText), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("small", { id: hintId, class: "hint" }, hint));
  }
  return h("div", { class: "field" }, parts);
}

/** The place an action's error shows, next to the action (role=alert reads it out). */
export function errorSlot() {
  return h("p", { class: "error", role: "alert", hidden: true });
}

export function showError(slot, error) {
  slot.textContent = error ? (error.message || String(error)) : "";
  slot.hidden = !error;
}

/**
 * Run `action` for a button: the button is disabled and shows `busyText` meanwhile, and
 * an error lands in `slot` (or a toast). Resolves to the action's result, or undefined.
 */
export async function withBusy(button, action, { slot, busyText } = {}) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (busyText) button.textContent = busyText;
  if (slot) showError(slot, null);
  try {
    return await action();
  } catch (error) {
    if (slot) showError(slot, error);
    else toast(error.message || String(error), "error");
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (busyText) button.textContent = label;
  }
}

export function toast(message, kind = "info") {
  const area = document.getElementById("toasts");
  if (!area) return;
  const note = h("div", { class: `toast ${kind}` }, message);
  area.append(note);
  setTimeout(() => note.remove(), kind === "error" ? 8000 : 4000);
}

/** A table from column specs [{label, value: row => node|text}] and rows. */
export function table(columns, rows, { caption, empty = "Nothing yet." } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  // The wrapper scrolls a wide table on a narrow screen: keyboards must reach it too.
  return h("div", { class: "table-wrap", tabindex: "0", role: "region",
                    "aria-label": caption || "Table" },
    h("table", {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", {}, c.value(row))))))));
}

/** A link to another console page (the router handles it without reloading). */
export function link(href, text, attrs = {}) {
  return h("a", { href, "data-route": "", ...attrs }, text);
}

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}
