// A service's API keys tab: the keys that open it to whoever holds one (sent in the
// X-Api-Key header), as `shipyard api-keys` lists, creates and revokes them.
// A new key's secret is shown once, in a marked box with a Copy button, and never again
// (the API keeps only its hash). Revoking asks to confirm first.
// API: GET/POST .../api-keys, DELETE .../api-keys/<id>.

import { del, get, post, seg } from "../api.js";
import { append, clear, errorSlot, field, formatTime, h, showError, table, toast, withBusy } from "../dom.js";

const MAX_NAME = 63;

export async function render(root, ctx) {
  const controller = new AbortController();
  const listSlot = errorSlot();
  const list = h("div", { class: "keys-list", "aria-live": "polite" }, h("p", { class: "loading" }, "Loading…"));
  const secretArea = h("div", { class: "keys-secret-area" });

  async function refresh() {
    const answer = await get(`${ctx.path}/api-keys`, { signal: controller.signal });
    drawList(answer.api_keys || []);
  }

  function drawList(keys) {
    const active = keys.filter((key) => !key.revoked_at);
    const revoked = keys.filter((key) => key.revoked_at);
    append(clear(list), [
      table([
        { label: "Name", value: (key) => key.name || h("span", { class: "hint" }, "(no name)") },
        { label: "Key", value: (key) => h("code", {}, key.hint) },
        { label: "Id", value: (key) => h("code", {}, key.id) },
        { label: "Created", value: (key) => formatTime(key.created_at) },
        { label: "Actions", value: (key) => revokeControl(key) },
      ], active, { caption: "Active keys", empty: "No active API key: the service is called with "
        + "a signed request (or by anyone, when public)." }),
      revoked.length ? h("details", { class: "keys-revoked" },
        h("summary", {}, `${revoked.length} revoked`),
        table([
          { label: "Name", value: (key) => key.name || "(no name)" },
          { label: "Key", value: (key) => h("code", {}, key.hint) },
          { label: "Revoked", value: (key) => formatTime(key.revoked_at) },
        ], revoked, { caption: "Revoked keys" })) : null]);
  }

  /** "Revoke <name>", then a confirm step in its place: Revoke key / Cancel. */
  function revokeControl(key) {
    const label = key.name || key.id;
    const slot = errorSlot();
    const cell = h("div", { class: "keys-revoke" });
    const start = h("button", { type: "button", class: "danger", "aria-label": `Revoke ${label}` }, "Revoke");
    start.addEventListener("click", () => {
      const confirm = h("button", { type: "button", class: "danger solid",
                                    "aria-label": `Confirm revoking ${label}` }, "Revoke key");
      const cancel = h("button", { type: "button" }, "Cancel");
      const question = h("span", { class: "keys-confirm", role: "group", "aria-label": `Revoke ${label}?` },
        h("span", {}, "Callers using it are refused within seconds."), confirm, cancel);
      cancel.addEventListener("click", () => {
        clear(cell).append(start, slot);
        start.focus();
      });
      confirm.addEventListener("click", () => withBusy(confirm, async () => {
        await del(`${ctx.path}/api-keys/${seg(key.id)}`);
        toast(`Revoked the API key ${label}.`);
        await refresh();
        list.querySelector("button")?.focus();
      }, { slot, busyText: "Revoking…" }));
      clear(cell).append(question, slot);
      confirm.focus();
    });
    cell.append(start, slot);
    return cell;
  }

  /** The new key's secret, once: a marked box with a Copy button and a Done button. */
  function showSecret(created) {
    const value = h("input", { id: "new-api-key", readonly: true, value: created.api_key,
                               spellcheck: "false", autocomplete: "off", class: "mono" });
    const copy = h("button", { type: "button", class: "primary" }, "Copy");
    const done = h("button", { type: "button" }, "Done, I saved it");
    const status = h("span", { class: "hint", role: "status" });
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(created.api_key);
        status.textContent = "Copied.";
      } catch {
        value.select();
        status.textContent = "Copying is not allowed here: the key is selected, copy it with your keyboard.";
      }
    });
    value.addEventListener("focus", () => value.select());
    done.addEventListener("click", () => {
      clear(secretArea);
      nameInput.focus();
    });
    const box = h("section", { class: "keys-secret", "aria-labelledby": "new-key-title" },
      h("h3", { id: "new-key-title" }, `Copy the new key${created.name ? ` “${created.name}”` : ""} now`),
      h("p", {}, "This is the only time it is shown: Shipyard keeps only a hash of it. "
        + "Callers send it in the ", h("code", {}, "X-Api-Key"), " header."),
      h("div", { class: "keys-secret-value" }, field("New API key", value), copy, done),
      status);
    clear(secretArea).append(box);
    value.focus();
  }

  const nameInput = h("input", { name: "name", maxlength: String(MAX_NAME), autocomplete: "off",
                                 placeholder: "crm-app" });
  const createButton = h("button", { type: "submit", class: "primary" }, "Create API key");
  const createSlot = errorSlot();
  const form = h("form", { class: "card keys-form", "aria-labelledby": "keys-create-title" },
    h("h2", { id: "keys-create-title" }, "Create an API key"),
    h("p", { class: "hint" }, "A key opens this service to whoever holds it, whatever its access "
      + "level; revoke it when it is no longer needed."),
    h("div", { class: "keys-create" },
      field("Key name", nameInput, `Optional, ${MAX_NAME} characters at most: who or what uses it.`),
      createButton),
    createSlot);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(createButton, async () => {
      const name = nameInput.value.trim();
      const created = await post(`${ctx.path}/api-keys`, name ? { name } : {});
      nameInput.value = "";
      showSecret(created);
      await refresh();
    }, { slot: createSlot, busyText: "Creating…" });
  });

  root.append(form, secretArea, h("h2", {}, "Keys"), listSlot, list);
  try {
    await refresh();
  } catch (error) {
    if (error.name !== "AbortError") {
      clear(list);
      showError(listSlot, error);
    }
  }
  return () => {
    controller.abort();
    clear(secretArea);
  };
}
