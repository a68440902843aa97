// Entry of static/vendor/codemirror.js, the console's code editor: CodeMirror 6 behind
// one function, so the console's own scripts never import CodeMirror directly.
// Bundled by scripts/refresh-console-vendor.sh (esbuild --bundle --format=esm --minify).
//
// No eval and no inline scripts: the bundle runs under `script-src 'self'`. CodeMirror
// adds its styles through style-mod (constructed stylesheets, or <style> elements where
// those are missing), which `style-src 'self' 'unsafe-inline'` allows.

import { basicSetup } from "codemirror";
import { indentWithTab } from "@codemirror/commands";
import { json } from "@codemirror/lang-json";
import { python } from "@codemirror/lang-python";
import { indentUnit } from "@codemirror/language";
import { EditorState } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";

const LANGUAGES = {
  python: () => [python(), indentUnit.of("    ")],
  json: () => json(),
  text: () => [],
};

/**
 * Make an editor inside `parent` (an Element).
 *
 * - doc: the initial text ("" by default).
 * - language: "python", "json" or "text" (the default); anything else throws a TypeError.
 * - onChange(text): called with the whole text after each edit the user makes; not
 *   called by setValue.
 * - readOnly: the text can be read, selected and copied, not changed.
 * - label: the content area's accessible name (aria-label); "Code editor" by default.
 *
 * Tab indents; Escape then Tab (or Ctrl-M / Shift-Alt-M) moves focus out of the editor.
 *
 * Returns { getValue(), setValue(text), focus(), destroy() }. setValue replaces the
 * text and starts a fresh undo history (it loads a document; it is not an edit).
 */
export function createEditor(
  parent,
  { doc = "", language = "text", onChange = null, readOnly = false, label = "Code editor" } = {},
) {
  if (!Object.hasOwn(LANGUAGES, language)) {
    throw new TypeError(`unknown editor language: ${language}`);
  }
  const attributes = { "aria-label": label };
  if (readOnly) attributes["aria-readonly"] = "true";
  const extensions = [
    basicSetup,
    keymap.of([indentWithTab]),
    LANGUAGES[language](),
    EditorView.contentAttributes.of(attributes),
    EditorState.readOnly.of(Boolean(readOnly)),
  ];
  if (onChange) {
    extensions.push(
      EditorView.updateListener.of((update) => {
        if (update.docChanged) onChange(update.state.doc.toString());
      }),
    );
  }
  const stateFor = (text) => EditorState.create({ doc: text, extensions });
  const view = new EditorView({ parent, state: stateFor(String(doc)) });

  return {
    getValue() {
      return view.state.doc.toString();
    },
    setValue(text) {
      // setState replaces the state without running update listeners: no onChange.
      view.setState(stateFor(String(text)));
    },
    focus() {
      view.focus();
    },
    destroy() {
      view.destroy();
    },
  };
}
