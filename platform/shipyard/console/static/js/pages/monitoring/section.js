// What the Monitoring tab's sections (stats, drift, accuracy) share: a note in place of what
// has nothing to show, the loading line, how a section's loading fails, the health line.

import { h, showError } from "../../dom.js";

/** A short note in place of a section that has nothing to show, and why. */
export function note(text) {
  return h("p", { class: "insights-note" }, text);
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading" }, text);
}

/** Whether an API error only says that a service has no such data (not a failure). */
export function isAbsence(error) {
  return error && (error.status === 404 || error.status === 409);
}

/** Run a section's loading; an error lands in its own slot (an abort is silent). */
export async function guarded(slot, action) {
  try {
    await action();
  } catch (error) {
    if (error.name === "AbortError") return;
    showError(slot, error);
  }
}

/** The service's drift or accuracy health now (over its own window), with its reasons. */
export function healthLine(label, health) {
  if (!health) return null;
  const reasons = health.reasons || [];
  return h("p", { class: "insights-health" },
    `${label} (last ${health.window_hours} hours): `,
    h("span", { class: `badge health-${health.status}` }, health.status),
    reasons.length ? ` ${reasons.join("; ")}.` : "");
}
