// A service's Logs tab: what its instances printed (GET .../logs?tail=N), each instance
// under its "==> generation instance <==" header. The API answers a snapshot, so Refresh
// reads it again and Follow re-reads it every few seconds while the tab is open.

import { get } from "../api.js";
import { errorSlot, field, h, showError, withBusy } from "../dom.js";

const FOLLOW_MS = 3000;
const DEFAULT_TAIL = 200;
const BOTTOM_SLACK = 48;

export async function render(root, ctx) {
  const controller = new AbortController();
  let timer = null;
  let reading = false;

  const tail = h("input", { type: "number", name: "tail", min: "0", max: "100000", step: "1",
                            value: String(DEFAULT_TAIL), class: "logs-tail" });
  const refreshButton = h("button", { type: "button" }, "Refresh");
  const follow = h("input", { type: "checkbox", name: "follow" });
  const slot = errorSlot();
  const updated = h("p", { class: "hint logs-updated", "aria-live": "off" });
  const log = h("pre", { class: "log runtime-log", role: "log", "aria-label": "Runtime logs",
                         tabindex: "0" });

  async function read() {
    if (reading) return;
    reading = true;
    try {
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < BOTTOM_SLACK;
      const lines = Math.max(0, Number.parseInt(tail.value, 10) || 0);
      const text = await get(`${ctx.path}/logs`, { as: "text", query: { tail: lines }, signal: controller.signal });
      log.textContent = text || "No output yet: the service has no instance running, or it printed nothing.";
      updated.textContent = `Read at ${new Date().toLocaleTimeString()}.`;
      showError(slot, null);
      if (atBottom || !log.dataset.read) log.scrollTop = log.scrollHeight;
      log.dataset.read = "1";
    } finally {
      reading = false;
    }
  }

  function readQuietly() {
    read().catch((error) => {
      if (error.name !== "AbortError") showError(slot, error);
    });
  }

  function setFollow(on) {
    clearInterval(timer);
    timer = on ? setInterval(readQuietly, FOLLOW_MS) : null;
  }

  refreshButton.addEventListener("click", () => withBusy(refreshButton, read, { slot, busyText: "Reading…" }));
  follow.addEventListener("change", () => {
    setFollow(follow.checked);
    if (follow.checked) readQuietly();
  });
  tail.addEventListener("change", readQuietly);

  root.append(
    h("div", { class: "toolbar logs-toolbar" },
      field("Lines per instance", tail),
      h("label", { class: "switch logs-follow" }, follow, `Follow (every ${FOLLOW_MS / 1000} s)`),
      refreshButton),
    slot,
    updated,
    log);

  await read().catch((error) => showError(slot, error));

  return () => {
    setFollow(false);
    controller.abort();
  };
}
