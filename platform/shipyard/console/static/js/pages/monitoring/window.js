// The Monitoring tab's view and its window picker. The view (window, bucket size, and the
// drift and accuracy choices) lives in the URL's query, so that a view is reachable by its URL:
//   ?range=24h&bucket=PT15M            a window back from now, by 15 minutes
//   ?start=<ISO>&end=<ISO>&bucket=PT1H  a fixed window
//   &feature=petal_length&sort=psi&generation=v1&role=challenger&accuracy=f1
// WindowPicker draws the Window and Bucket selects (and a custom start and end) that change it.

import { clear, errorSlot, field, h, showError, withBusy } from "../../dom.js";
import { timeLabel } from "./format.js";

export const HOUR = 3600;
const RANGES = [
  { key: "1h", label: "Last hour", seconds: HOUR, bucket: "PT1M" },
  { key: "24h", label: "Last 24 hours", seconds: 24 * HOUR, bucket: "PT15M" },
  { key: "7d", label: "Last 7 days", seconds: 7 * 24 * HOUR, bucket: "PT1H" },
  { key: "30d", label: "Last 30 days", seconds: 30 * 24 * HOUR, bucket: "PT6H" },
];
const CUSTOM = "custom";
const DEFAULT_RANGE = "24h";
const BUCKETS = [
  { key: "PT1M", label: "Minute", seconds: 60 },
  { key: "PT5M", label: "5 minutes", seconds: 300 },
  { key: "PT15M", label: "15 minutes", seconds: 900 },
  { key: "PT1H", label: "Hour", seconds: HOUR },
  { key: "PT6H", label: "6 hours", seconds: 6 * HOUR },
  { key: "P1D", label: "Day", seconds: 24 * HOUR },
];
/** More points than this make a chart unreadable (and the API stops at 10,000). */
const MAX_POINTS = 1500;
/** What drift's features may be sorted by (the URL's `sort`), with their names. */
export const DRIFT_SORTS = [
  ["psi", "PSI"], ["js_distance", "Jensen-Shannon distance"], ["hellinger", "Hellinger distance"],
  ["wasserstein", "Wasserstein distance"], ["p_value", "p-value"],
];

// -- the view: what the URL asks for ------------------------------------------------------

/** The view a URL's query names, with defaults for what it leaves out. */
export function viewFrom(query) {
  const instant = (name) => (Number.isNaN(Date.parse(query.get(name) || "")) ? "" : query.get(name));
  const start = instant("start");
  const end = instant("end");
  const custom = Boolean(start && end);
  const range = custom ? CUSTOM : (RANGES.find((r) => r.key === query.get("range")) || rangeOf(DEFAULT_RANGE)).key;
  const bucket = BUCKETS.find((b) => b.key === (query.get("bucket") || "").toUpperCase());
  return {
    range, start, end,
    bucket: bucket ? bucket.key : defaultBucket(range),
    feature: query.get("feature") || "",
    sort: DRIFT_SORTS.some(([key]) => key === query.get("sort")) ? query.get("sort") : "psi",
    generation: query.get("generation") || "",
    role: query.get("role") === "challenger" ? "challenger" : "main",
    accuracy: query.get("accuracy") || "",
  };
}

/** The URL query of a view (only what differs from the defaults, besides window and bucket). */
export function queryOf(view) {
  const query = new URLSearchParams();
  if (view.range === CUSTOM) {
    query.set("start", view.start);
    query.set("end", view.end);
  } else {
    query.set("range", view.range);
  }
  query.set("bucket", view.bucket);
  if (view.feature) query.set("feature", view.feature);
  if (view.sort !== "psi") query.set("sort", view.sort);
  if (view.generation) query.set("generation", view.generation);
  if (view.role !== "main") query.set("role", view.role);
  if (view.accuracy) query.set("accuracy", view.accuracy);
  return query;
}

function rangeOf(key) {
  return RANGES.find((r) => r.key === key);
}

export function bucketOf(key) {
  return BUCKETS.find((b) => b.key === key);
}

function defaultBucket(range) {
  return (rangeOf(range) || rangeOf("7d")).bucket;
}

/** Window length in seconds, or null while a custom window is incomplete or reversed. */
function windowSeconds(view) {
  if (view.range !== CUSTOM) return rangeOf(view.range).seconds;
  const span = (Date.parse(view.end) - Date.parse(view.start)) / 1000;
  return Number.isFinite(span) && span > 0 ? span : null;
}

function tooManyPoints(view, bucket) {
  const span = windowSeconds(view);
  return span !== null && span / bucket.seconds > MAX_POINTS;
}

/** The smallest bucket that keeps the charts readable, when the chosen one does not. */
export function fittingBucket(view) {
  const chosen = bucketOf(view.bucket);
  if (!tooManyPoints(view, chosen)) return chosen.key;
  return (BUCKETS.find((b) => !tooManyPoints(view, b)) || BUCKETS[BUCKETS.length - 1]).key;
}

/**
 * The window's start and end in epoch seconds, on whole buckets of `step` seconds (whole
 * rollups, as the CLI reads them): a range ends at the bucket that holds now.
 */
export function windowOf(view, step) {
  let start;
  let end;
  if (view.range === CUSTOM) {
    start = Date.parse(view.start) / 1000;
    end = Date.parse(view.end) / 1000;
  } else {
    end = Date.now() / 1000;
    start = end - rangeOf(view.range).seconds;
  }
  start = Math.floor(start / step) * step;
  end = Math.max(Math.ceil(end / step) * step, start + step);
  return { start, end, query: { start: isoOf(start), end: isoOf(end) } };
}

/** Drift and accuracy are kept by the hour: the bucket, at least an hour. */
export function driftBucket(bucket) {
  return bucketOf(bucket).seconds < HOUR ? "PT1H" : bucket;
}

export function durationLabel(seconds) {
  const bucket = BUCKETS.find((b) => b.seconds === seconds);
  if (bucket) return bucket.label.toLowerCase();
  return seconds % HOUR === 0 ? `${seconds / HOUR} hours` : `${seconds} seconds`;
}

function isoOf(epochSeconds) {
  return new Date(epochSeconds * 1000).toISOString().replace(".000Z", "Z");
}

export function epochOf(iso) {
  return Date.parse(iso) / 1000;
}

/** An ISO instant as a datetime-local input's value (local time, to the minute). */
function localInputValue(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T`
    + `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function isoFromLocalInput(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString().replace(/:\d\d\.\d{3}Z$/, ":00Z");
}

// -- the window and bucket pickers --------------------------------------------------------

/**
 * The Window and Bucket pickers of `page` (which has `view`, `remember()` and `load()`),
 * the place their error shows and the line that says the window shown.
 */
export class WindowPicker {
  constructor(page) {
    this.page = page;
    this.slot = errorSlot();
    this.text = h("p", { class: "hint insights-window", "aria-live": "polite" });
  }

  draw() {
    const { page } = this;
    const range = h("select", { name: "range" },
      RANGES.map((r) => h("option", { value: r.key, selected: r.key === page.view.range }, r.label)),
      h("option", { value: CUSTOM, selected: page.view.range === CUSTOM }, "Custom…"));
    const start = h("input", { type: "datetime-local", name: "start",
                               value: localInputValue(page.view.start) });
    const end = h("input", { type: "datetime-local", name: "end",
                             value: localInputValue(page.view.end) });
    const bucket = h("select", { name: "bucket" });
    const apply = h("button", { type: "submit", class: "primary" }, "Show");
    const refresh = h("button", { type: "button" }, "Refresh");
    const customFields = h("div", { class: "insights-custom" },
      field("Start", start), field("End", end), apply);
    this.controls = { range, start, end, bucket, customFields };
    this.fillBuckets();
    customFields.hidden = page.view.range !== CUSTOM;

    range.addEventListener("change", () => {
      if (range.value === CUSTOM) {
        customFields.hidden = false;
        if (!start.value || !end.value) {
          const now = Date.now();
          const span = windowSeconds(page.view) || 24 * HOUR;
          start.value = localInputValue(new Date(now - span * 1000).toISOString());
          end.value = localInputValue(new Date(now).toISOString());
        }
        start.focus();
        return;
      }
      customFields.hidden = true;
      page.view = { ...page.view, range: range.value, start: "", end: "", bucket: defaultBucket(range.value) };
      this.apply();
    });
    bucket.addEventListener("change", () => {
      page.view = { ...page.view, bucket: bucket.value };
      this.apply();
    });
    const form = h("form", { class: "toolbar insights-controls", "aria-label": "Monitoring view" },
      field("Window", range), customFields, field("Bucket", bucket), refresh);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const from = isoFromLocalInput(start.value);
      const to = isoFromLocalInput(end.value);
      if (!from || !to || Date.parse(to) <= Date.parse(from)) {
        showError(this.slot, new Error("Give a start and an end after it."));
        return;
      }
      showError(this.slot, null);
      page.view = { ...page.view, range: CUSTOM, start: from, end: to };
      page.view.bucket = fittingBucket(page.view);
      this.apply();
    });
    refresh.addEventListener("click", () => withBusy(refresh, () => page.load(), { slot: this.slot, busyText: "Refreshing…" }));
    return form;
  }

  /** The bucket options; those that would draw too many points are disabled. */
  fillBuckets() {
    const { bucket } = this.controls;
    clear(bucket).append(...BUCKETS.map((b) => h("option", {
      value: b.key, selected: b.key === this.page.view.bucket, disabled: tooManyPoints(this.page.view, b),
    }, b.label)));
  }

  /** The page's view changed here: the pickers follow it, the URL says it, the page loads it. */
  apply() {
    const { page } = this;
    page.view.bucket = fittingBucket(page.view);
    this.controls.range.value = page.view.range;
    this.controls.customFields.hidden = page.view.range !== CUSTOM;
    this.fillBuckets();
    page.remember();
    page.load();
  }

  /** Says the window about to be shown (from `windowOf`) and clears the last error. */
  showWindow(chosen) {
    const bucketLabel = bucketOf(this.page.view.bucket).label.toLowerCase();
    this.text.textContent = `${timeLabel(chosen.start)} to ${timeLabel(chosen.end)} `
      + `(your local time), by ${bucketLabel}.`;
    showError(this.slot, null);
  }
}
