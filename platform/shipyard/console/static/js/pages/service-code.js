// A service's Code tab: its files in a list, one open in a CodeMirror editor; Save writes
// it back (PUT .../files/<path>), "Save and deploy" also (enables the service and) starts a
// build and goes to the Builds tab, where its log streams. New file / Delete file change
// the file set. Leaving with unsaved changes asks first (links, other files, a reload).

import { del, get, post, put, seg } from "../api.js";
import { clear, errorSlot, field, formatBytes, h, showError, toast, withBusy } from "../dom.js";
import { createEditor } from "/console/assets/vendor/codemirror.js";
import { serviceUrl } from "./service.js";

const EDITABLE_LIMIT = 1024 * 1024;
const LEAVE_QUESTION = "The open file has unsaved changes. Leave without saving them?";

/** The API path of one file: each segment encoded, the slashes kept. */
function filePath(servicePath, path) {
  return `${servicePath}/files/${path.split("/").map(seg).join("/")}`;
}

function languageOf(path) {
  if (path.endsWith(".py")) return "python";
  if (path.endsWith(".json")) return "json";
  return "text";
}

/** The file's text, or null when it is not UTF-8 text (a model, an image). */
function textOf(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes.includes(0)) return null;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** Which file to open first: the one the URL names, app.py, or the first. */
function firstFile(files, asked) {
  const paths = files.map((f) => f.path);
  if (asked && paths.includes(asked)) return asked;
  if (paths.includes("app.py")) return "app.py";
  return paths[0] || null;
}

function rememberInUrl(path) {
  const url = new URL(location.href);
  if (path) url.searchParams.set("file", path);
  else url.searchParams.delete("file");
  history.replaceState(null, "", url.pathname + url.search);
}

export async function render(root, ctx) {
  const state = { files: [], open: null, saved: "", dirty: false, editor: null };

  const list = h("ul", { class: "file-tree" });
  const title = h("h2", { class: "code-file-title", id: "code-file-title" }, "No file open");
  const mark = h("span", { class: "badge warn code-dirty", hidden: true }, "Unsaved changes");
  const facts = h("span", { class: "hint" });
  const host = h("div", { class: "editor" });
  const slot = errorSlot();

  const saveButton = h("button", { type: "button" }, "Save");
  const deployButton = h("button", { type: "button", class: "primary" }, "Save and deploy");
  const newButton = h("button", { type: "button", "aria-expanded": "false",
                                  "aria-controls": "code-new-file" }, "New file");
  const deleteButton = h("button", { type: "button", class: "danger" }, "Delete file");

  const newPath = h("input", { name: "path", required: true, autocomplete: "off",
                               placeholder: "lib/helpers.py", spellcheck: "false" });
  const newSlot = errorSlot();
  const createButton = h("button", { type: "submit", class: "primary" }, "Create");
  const cancelNew = h("button", { type: "button" }, "Cancel");
  const newForm = h("form", { class: "card code-new-file", id: "code-new-file", hidden: true,
                              "aria-label": "New file" },
    field("Path of the new file", newPath, "Relative to the service's folder; folders are made as needed."),
    newSlot,
    h("div", { class: "actions" }, createButton, cancelNew));

  function setDirty(dirty) {
    state.dirty = dirty;
    mark.hidden = !dirty;
    for (const button of list.querySelectorAll("button")) {
      button.classList.toggle("unsaved", dirty && button.dataset.path === state.open);
    }
  }

  function mayLeave() {
    return !state.dirty || window.confirm(LEAVE_QUESTION);
  }

  function drawList() {
    clear(list);
    if (!state.files.length) {
      list.append(h("li", { class: "empty code-no-files" }, "No files yet."));
      return;
    }
    for (const file of state.files) {
      const button = h("button", {
        type: "button", dataset: { path: file.path }, title: `${file.path} · ${formatBytes(file.size)}`,
        "aria-current": file.path === state.open ? "true" : null,
      }, file.path);
      button.addEventListener("click", () => {
        if (file.path !== state.open && mayLeave()) openFile(file.path);
      });
      list.append(h("li", {}, button));
    }
  }

  function showEditor(path, text) {
    if (state.editor) state.editor.destroy();
    state.editor = null;
    clear(host);
    if (text === null) {
      host.append(h("p", { class: "empty code-binary" },
        "This file is not text (or is too large): it cannot be edited here."));
      return;
    }
    state.editor = createEditor(host, {
      doc: text,
      language: languageOf(path),
      label: `Code of ${path}`,
      onChange: (value) => setDirty(value !== state.saved),
    });
    // The editor's scroller holds the focusable text area; saying so satisfies checkers
    // (axe's scrollable-region-focusable) without adding a tab stop.
    const content = host.querySelector(".cm-content");
    if (content) {
      content.setAttribute("tabindex", "0");
      content.setAttribute("aria-describedby", "code-editor-keys");
    }
  }

  function enableActions() {
    const editable = Boolean(state.editor);
    saveButton.disabled = !editable;
    deployButton.disabled = false;
    deleteButton.disabled = !state.open;
  }

  async function openFile(path) {
    showError(slot, null);
    state.open = path;
    state.saved = "";
    setDirty(false);
    rememberInUrl(path);
    drawList();
    if (!path) {
      title.textContent = "No file open";
      facts.textContent = "";
      showEditor(null, null);
      clear(host).append(h("p", { class: "empty" }, "This service has no files. Make one with New file."));
      enableActions();
      return;
    }
    title.textContent = path;
    const info = state.files.find((f) => f.path === path);
    facts.textContent = info ? formatBytes(info.size) : "";
    clear(host).append(h("p", { class: "loading" }, "Loading…"));
    try {
      const buffer = info && info.size > EDITABLE_LIMIT ? null
        : await (await get(filePath(ctx.path, path), { as: "response" })).arrayBuffer();
      if (state.open !== path) return;
      const text = buffer === null ? null : textOf(buffer);
      state.saved = text ?? "";
      showEditor(path, text);
    } catch (error) {
      clear(host);
      showError(slot, error);
    }
    enableActions();
  }

  async function loadFiles() {
    const answer = await get(`${ctx.path}/files`);
    state.files = answer.files.slice().sort((a, b) => a.path.localeCompare(b.path));
  }

  /** Write the open file back; nothing to do when it is unchanged and `always` is off. */
  async function save({ always = true } = {}) {
    if (!state.editor || (!always && !state.dirty)) return;
    const path = state.open;
    const text = state.editor.getValue();
    const written = await put(filePath(ctx.path, path), text,
                              { contentType: "text/plain; charset=utf-8" });
    state.saved = text;
    setDirty(state.editor.getValue() !== text);
    const info = state.files.find((f) => f.path === path);
    if (info && written) Object.assign(info, written);
    facts.textContent = formatBytes(written ? written.size : text.length);
  }

  saveButton.addEventListener("click", () => withBusy(saveButton, async () => {
    await save();
    toast(`Saved ${state.open}.`);
  }, { slot, busyText: "Saving…" }));

  deployButton.addEventListener("click", () => withBusy(deployButton, async () => {
    await save({ always: false });
    // As `shipyard deploy` does: a service switched off is switched on to deploy it.
    const current = await ctx.reload();
    if (!current.enabled) await post(`${ctx.path}/enable`);
    const generation = await post(`${ctx.path}/deploy`);
    toast(`Building ${generation.tag}…`);
    ctx.navigate(`${serviceUrl(ctx.name, "builds")}?build=${generation.build}`);
  }, { slot, busyText: "Deploying…" }));

  function toggleNewForm(show) {
    newForm.hidden = !show;
    newButton.setAttribute("aria-expanded", String(show));
    showError(newSlot, null);
    if (show) newPath.focus();
    else newButton.focus();
  }

  newButton.addEventListener("click", () => toggleNewForm(newForm.hidden));
  cancelNew.addEventListener("click", () => toggleNewForm(false));
  newForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const path = newPath.value.trim().replace(/^\.?\/+/, "");
    if (state.files.some((f) => f.path === path)) {
      showError(newSlot, new Error(`${path} already exists.`));
      return;
    }
    if (!mayLeave()) return;
    withBusy(createButton, async () => {
      await put(filePath(ctx.path, path), "", { contentType: "text/plain; charset=utf-8" });
      await loadFiles();
      newPath.value = "";
      toggleNewForm(false);
      await openFile(path);
      if (state.editor) state.editor.focus();
    }, { slot: newSlot, busyText: "Creating…" });
  });

  deleteButton.addEventListener("click", () => {
    const path = state.open;
    if (!path || !window.confirm(`Delete ${path}? It is gone once deleted.`)) return;
    withBusy(deleteButton, async () => {
      await del(filePath(ctx.path, path));
      setDirty(false);
      await loadFiles();
      toast(`Deleted ${path}.`);
      await openFile(firstFile(state.files, null));
    }, { slot, busyText: "Deleting…" });
  });

  // Leaving with unsaved changes: console links ask first, a reload or close asks the browser's way.
  function onLinkClick(event) {
    const anchor = event.target.closest("a[href]");
    if (!anchor || !state.dirty || anchor.target || event.button !== 0) return;
    if (!window.confirm(LEAVE_QUESTION)) {
      event.preventDefault();
      event.stopPropagation();
    } else {
      setDirty(false);
    }
  }
  function onBeforeUnload(event) {
    if (!state.dirty) return;
    event.preventDefault();
    event.returnValue = "";
  }
  host.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      if (!saveButton.disabled) saveButton.click();
    }
  });
  document.addEventListener("click", onLinkClick, true);
  window.addEventListener("beforeunload", onBeforeUnload);

  root.append(
    h("div", { class: "toolbar code-toolbar" },
      newButton, deleteButton, h("span", { class: "spacer" }), saveButton, deployButton),
    newForm,
    slot,
    h("div", { class: "editor-layout" },
      h("nav", { "aria-label": "Files" }, list),
      h("div", { class: "code-pane" },
        h("div", { class: "code-head" }, title, mark, facts),
        host,
        h("p", { class: "hint", id: "code-editor-keys" },
          "Tab indents; press Escape then Tab to leave the editor. Ctrl+S saves."))),
  );

  await loadFiles();
  await openFile(firstFile(state.files, ctx.query.get("file")));

  return () => {
    document.removeEventListener("click", onLinkClick, true);
    window.removeEventListener("beforeunload", onBeforeUnload);
    if (state.editor) state.editor.destroy();
  };
}
