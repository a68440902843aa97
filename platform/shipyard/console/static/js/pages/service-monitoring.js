// A service's Monitoring tab: what `shipyard stats`, `shipyard drift` and `shipyard accuracy`
// show, as figures and charts (uPlot) over one window. The window (last 1h/24h/7d/30d, or a
// start and an end) and the bucket size live in the URL's query, with the drift and accuracy
// choices, so that a view is reachable by its URL:
//   ?range=24h&bucket=PT15M            a window back from now, by 15 minutes
//   ?start=<ISO>&end=<ISO>&bucket=PT1H  a fixed window
//   &feature=petal_length&sort=psi&generation=v1&role=challenger&accuracy=f1
// API: GET .../stats, .../stats/over-time, .../drift/features, .../drift/target,
// .../drift/over-time, .../drift/distribution, .../accuracy, .../accuracy/over-time.

import uPlot from "/console/assets/vendor/uplot.js";
import { get } from "../api.js";
import { append, clear, errorSlot, field, h, showError, table, uid, withBusy } from "../dom.js";

const HOUR = 3600;
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
const STATS_METRICS = [
  "total_requests", "total_predictions", "prediction_warnings", "response_time_p50",
  "response_time_p90", "response_time_p99", "user_error_rate", "server_error_rate",
  "cpu_percent_mean", "memory_bytes_mean",
];
const DRIFT_SORTS = [
  ["psi", "PSI"], ["js_distance", "Jensen-Shannon distance"], ["hellinger", "Hellinger distance"],
  ["wasserstein", "Wasserstein distance"], ["p_value", "p-value"],
];
const ACCURACY_LABELS = {
  accuracy: "Accuracy", balanced_accuracy: "Balanced accuracy", precision: "Precision",
  recall: "Recall", f1: "F1", auc: "AUC", log_loss: "Log loss", rmse: "RMSE", mae: "MAE",
  mape: "MAPE", r2: "R²", gamma_deviance: "Gamma deviance",
};
const PREDICTION = "prediction";
/** Line colours, distinct and dark enough on white (WCAG 3:1 for graphics). */
const COLOURS = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490", "#4d7c0f",
                 "#a21caf", "#374151"];
const DASHES = { solid: undefined, dashed: [6, 4], dotted: [2, 3] };
const NUMBER = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const PRECISE = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });

export async function render(root, ctx) {
  const page = new MonitoringPage(root, ctx);
  await page.start();
  return () => page.destroy();
}

// -- the view: what the URL asks for ------------------------------------------------------

/** The view a URL's query names, with defaults for what it leaves out. */
function viewFrom(query) {
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
function queryOf(view) {
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

function bucketOf(key) {
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
function fittingBucket(view) {
  const chosen = bucketOf(view.bucket);
  if (!tooManyPoints(view, chosen)) return chosen.key;
  return (BUCKETS.find((b) => !tooManyPoints(view, b)) || BUCKETS[BUCKETS.length - 1]).key;
}

/**
 * The window's start and end in epoch seconds, on whole buckets of `step` seconds (whole
 * rollups, as the CLI reads them): a range ends at the bucket that holds now.
 */
function windowOf(view, step) {
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

function isoOf(epochSeconds) {
  return new Date(epochSeconds * 1000).toISOString().replace(".000Z", "Z");
}

function epochOf(iso) {
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

// -- formatting ----------------------------------------------------------------------------

function shown(value, format = (v) => NUMBER.format(v)) {
  return value === null || value === undefined ? "—" : format(value);
}

const asCount = (v) => shown(v, (n) => NUMBER.format(n));
const asMs = (v) => shown(v, (n) => `${NUMBER.format(n)} ms`);
const asPercent = (v) => shown(v, (n) => `${NUMBER.format(n * 100)}%`);
const asCpu = (v) => shown(v, (n) => `${NUMBER.format(n)}%`);
const asPrecise = (v) => shown(v, (n) => PRECISE.format(n));

function asBytes(value) {
  if (value === null || value === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let number = Math.abs(value);
  let unit = 0;
  while (number >= 1024 && unit < units.length - 1) {
    number /= 1024;
    unit += 1;
  }
  return `${value < 0 ? "-" : ""}${NUMBER.format(number)} ${units[unit]}`;
}

function timeLabel(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

function seriesName(entry) {
  if (!entry.generation) return "service";
  return entry.role === "challenger" ? `${entry.generation} (challenger)` : entry.generation;
}

/** A short note in place of a section that has nothing to show, and why. */
function note(text) {
  return h("p", { class: "insights-note" }, text);
}

function loading(text = "Loading…") {
  return h("p", { class: "loading" }, text);
}

/** A message ending with one full stop. */
function sentence(text) {
  return `${String(text).replace(/[.\s]+$/, "")}.`;
}

/** Whether an API error only says that a service has no such data (not a failure). */
function isAbsence(error) {
  return error && (error.status === 404 || error.status === 409);
}

// -- charts ------------------------------------------------------------------------------

/** The uPlot charts of one part of the page, destroyed together when it is drawn again. */
class Charts {
  constructor() {
    this.entries = new Set();
  }

  add(plot, host) {
    const observer = new ResizeObserver(() => {
      const width = host.clientWidth;
      if (width > 0 && Math.abs(width - plot.width) > 1) plot.setSize({ width, height: plotHeight(width) });
    });
    observer.observe(host);
    this.entries.add({ plot, observer });
  }

  destroy() {
    for (const { plot, observer } of this.entries) {
      observer.disconnect();
      plot.destroy();
    }
    this.entries.clear();
  }
}

function plotHeight(width) {
  return width < 500 ? 200 : 240;
}

/** A figure with its heading (caption) and a place for the chart, its legend and readout. */
function chartFigure(title, description) {
  const headingId = uid("chart");
  const plot = h("div", { class: "insights-plot" });
  const readout = h("p", { class: "insights-readout hint", "aria-live": "off" });
  const legend = h("div", { class: "insights-legend" });
  const figure = h("figure", { class: "chart insights-chart", "aria-labelledby": headingId },
    h("figcaption", {},
      h("h3", { id: headingId }, title),
      description ? h("span", { class: "hint" }, description) : null),
    plot, legend, readout);
  return { figure, plot, readout, legend, title };
}

function axisSize(self, values) {
  if (!values) return 48;
  const longest = Math.max(0, ...values.map((text) => String(text ?? "").length));
  return Math.max(40, Math.min(120, longest * 7 + 18));
}

const AXIS_STYLE = {
  stroke: "#52606d",
  font: "12px system-ui, sans-serif",
  grid: { stroke: "#e5e7eb", width: 1 },
  ticks: { stroke: "#d9dee4", width: 1 },
};

/**
 * A time-series line chart into `slot` (from chartFigure): `x` epoch seconds, `lines` of
 * {label, values, colour, dash}, `format` for the y values. Nothing drawn (a note instead)
 * when no line has a value.
 */
function drawLines(charts, slot, { x, xEnd, lines, format, empty, yMin = 0 }) {
  const shownLines = lines.filter(hasValues);
  if (!x.length || !shownLines.length) {
    emptyFigure(slot, empty || "No data in this window.");
    return null;
  }
  const width = Math.max(240, slot.plot.clientWidth || 600);
  const options = {
    width,
    height: plotHeight(width),
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    scales: {
      x: { time: true, range: (self, min, max) => [x[0], Math.max(xEnd ?? max, max)] },
      y: yMin === null ? { auto: true } : { range: (self, min, max) => yRange(min, max, yMin) },
    },
    axes: [
      { ...AXIS_STYLE },
      { ...AXIS_STYLE, size: axisSize, values: (self, splits) => splits.map((v) => format(v)) },
    ],
    series: [
      {},
      ...shownLines.map((line) => ({
        label: line.label, stroke: line.colour, width: 2, dash: DASHES[line.dash || "solid"],
        spanGaps: false,
        points: { show: x.length <= 60, size: 6, filter: (self, index, show) => (show ? null : isolated(self.data[index])) },
        value: (self, v) => format(v),
      })),
    ],
    hooks: { setCursor: [(self) => showReadout(self, slot, shownLines, format)] },
  };
  const plot = new uPlot(options, [x, ...shownLines.map((line) => line.values)], slot.plot);
  charts.add(plot, slot.plot);
  drawLegend(slot, plot, shownLines);
  showReadout(plot, slot, shownLines, format);
  return plot;
}

function hasValues(line) {
  return line.values.some((v) => v !== null && v !== undefined);
}

/** A figure whose chart has nothing to draw: a note in its place. */
function emptyFigure(slot, text) {
  slot.plot.replaceWith(note(text));
  slot.legend.remove();
  slot.readout.remove();
}

/** From `floor` (or the lowest value) to a little over the highest value. */
function yRange(min, max, floor) {
  const low = Math.min(floor, min ?? floor);
  let high = max ?? 1;
  if (!(high > low)) high = low + 1;
  return [low, high + (high - low) * 0.08];
}

/** A legend of checkboxes (keyboard-reachable) that show and hide each line. */
function drawLegend(slot, plot, lines) {
  const items = lines.map((line, index) => {
    const box = h("input", { type: "checkbox", checked: true });
    box.addEventListener("change", () => plot.setSeries(index + 1, { show: box.checked }));
    const swatch = h("span", { class: `insights-swatch ${line.dash || "solid"}`, "aria-hidden": "true" });
    swatch.style.borderColor = line.colour;
    return h("li", {}, h("label", {}, box, swatch, line.label));
  });
  clear(slot.legend).append(h("ul", { "aria-label": `Lines of ${slot.title}` }, items));
}

/** The values under the cursor (or the latest values) as text below the chart. */
function showReadout(plot, slot, lines, format) {
  const x = plot.data[0];
  let index = plot.cursor.idx;
  let prefix = "";
  if (index === null || index === undefined) {
    index = lastIndexWithData(plot.data, lines);
    prefix = "Latest: ";
  }
  if (index < 0) {
    slot.readout.textContent = "";
    return;
  }
  const parts = lines.map((line, i) => `${line.label} ${format(plot.data[i + 1][index])}`);
  slot.readout.textContent = `${prefix}${timeLabel(x[index])} — ${parts.join(" · ")}`;
}

/** The last bucket where a line (not a reference line, such as a threshold) has a value. */
function lastIndexWithData(data, lines) {
  const measured = data.slice(1).filter((_, i) => !lines[i].reference);
  for (let index = data[0].length - 1; index >= 0; index -= 1) {
    if (measured.some((values) => values[index] !== null && values[index] !== undefined
                                  && values[index] !== 0)) return index;
  }
  return data[0].length - 1;
}

/** The indexes of values with no value on either side: a line cannot show them, a point does. */
function isolated(values) {
  const found = [];
  for (let i = 0; i < values.length; i += 1) {
    const present = (j) => values[j] !== null && values[j] !== undefined;
    if (present(i) && !present(i - 1) && !present(i + 1)) found.push(i);
  }
  return found.length ? found : null;
}

/**
 * Baseline and live shares of each bin side by side as bars (x: the bins), into `slot`.
 */
function drawBars(charts, slot, { bins, baseline, live }) {
  const width = Math.max(240, slot.plot.clientWidth || 600);
  const x = bins.map((_, index) => index);
  const crowded = () => slot.plot.clientWidth / bins.length < 80;
  const bars = (align) => uPlot.paths.bars({ size: [0.42, 48], align, gap: 1 });
  const lines = [
    { label: "Baseline", values: baseline, colour: "#52606d" },
    { label: "Live", values: live, colour: "#1d4ed8" },
  ];
  const format = (v) => (v === null || v === undefined ? "—" : `${NUMBER.format(v * 100)}%`);
  const options = {
    width,
    height: plotHeight(width) + 40,
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    scales: {
      x: { time: false, range: [-0.5, bins.length - 0.5] },
      y: { range: (self, min, max) => yRange(min, max, 0) },
    },
    axes: [
      {
        ...AXIS_STYLE, grid: { show: false },
        splits: () => x,
        values: (self, splits) => splits.map((i) => binLabel(bins[i], crowded() ? 12 : 10)),
        rotate: () => (crowded() ? -50 : 0),
        size: () => (crowded() ? 92 : 36),
      },
      { ...AXIS_STYLE, size: axisSize, values: (self, splits) => splits.map(format) },
    ],
    series: [
      {},
      { label: "Baseline", stroke: lines[0].colour, fill: "rgba(82, 96, 109, 0.55)", paths: bars(-1), points: { show: false } },
      { label: "Live", stroke: lines[1].colour, fill: "rgba(29, 78, 216, 0.7)", paths: bars(1), points: { show: false } },
    ],
    hooks: {
      setCursor: [(self) => {
        const index = self.cursor.idx;
        slot.readout.textContent = index === null || index === undefined
          ? "Point at a bar for its bin's shares."
          : `${bins[index]} — baseline ${format(baseline[index])} · live ${format(live[index])}`;
      }],
    },
  };
  const plot = new uPlot(options, [x, baseline, live], slot.plot);
  charts.add(plot, slot.plot);
  drawLegend(slot, plot, lines);
  slot.readout.textContent = "Point at a bar for its bin's shares.";
  return plot;
}

function binLabel(label, most) {
  const text = String(label);
  return text.length > most ? `${text.slice(0, most - 1)}…` : text;
}

// -- the page ------------------------------------------------------------------------------

class MonitoringPage {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.view = viewFrom(ctx.query);
    this.view.bucket = fittingBucket(this.view);
    this.controllers = new Set();
    this.charts = { stats: new Charts(), drift: new Charts(), feature: new Charts(), accuracy: new Charts() };
    this.isModel = ctx.service.kind === "model";
  }

  async start() {
    this.windowSlot = errorSlot();
    this.windowText = h("p", { class: "hint insights-window", "aria-live": "polite" });
    this.summary = h("section", { class: "insights-section", "aria-labelledby": "mon-summary" });
    this.overTime = h("section", { class: "insights-section", "aria-labelledby": "mon-over-time" });
    this.drift = h("section", { class: "insights-section", "aria-labelledby": "mon-drift" });
    this.accuracy = h("section", { class: "insights-section", "aria-labelledby": "mon-accuracy" });
    this.root.append(this.drawControls(), this.windowSlot, this.windowText,
                     this.summary, this.overTime, this.drift, this.accuracy);
    await this.load();
  }

  destroy() {
    for (const controller of this.controllers) controller.abort();
    this.controllers.clear();
    for (const charts of Object.values(this.charts)) charts.destroy();
  }

  /** An AbortController for one load, aborted when the page goes or loads again. */
  signal(previous) {
    if (previous) {
      previous.abort();
      this.controllers.delete(previous);
    }
    const controller = new AbortController();
    this.controllers.add(controller);
    return controller;
  }

  /** The URL says the view; a new entry in the history, so Back returns to the last view. */
  remember() {
    const url = `${location.pathname}?${queryOf(this.view).toString()}`;
    if (url !== `${location.pathname}${location.search}`) history.pushState(null, "", url);
  }

  // -- the window and bucket pickers --

  drawControls() {
    const range = h("select", { name: "range" },
      RANGES.map((r) => h("option", { value: r.key, selected: r.key === this.view.range }, r.label)),
      h("option", { value: CUSTOM, selected: this.view.range === CUSTOM }, "Custom…"));
    const start = h("input", { type: "datetime-local", name: "start",
                               value: localInputValue(this.view.start) });
    const end = h("input", { type: "datetime-local", name: "end",
                             value: localInputValue(this.view.end) });
    const bucket = h("select", { name: "bucket" });
    const apply = h("button", { type: "submit", class: "primary" }, "Show");
    const refresh = h("button", { type: "button" }, "Refresh");
    const customFields = h("div", { class: "insights-custom" },
      field("Start", start), field("End", end), apply);
    this.controls = { range, start, end, bucket, customFields };
    this.fillBuckets();
    customFields.hidden = this.view.range !== CUSTOM;

    range.addEventListener("change", () => {
      if (range.value === CUSTOM) {
        customFields.hidden = false;
        if (!start.value || !end.value) {
          const now = Date.now();
          const span = windowSeconds(this.view) || 24 * HOUR;
          start.value = localInputValue(new Date(now - span * 1000).toISOString());
          end.value = localInputValue(new Date(now).toISOString());
        }
        start.focus();
        return;
      }
      customFields.hidden = true;
      this.view = { ...this.view, range: range.value, start: "", end: "", bucket: defaultBucket(range.value) };
      this.applyView();
    });
    bucket.addEventListener("change", () => {
      this.view = { ...this.view, bucket: bucket.value };
      this.applyView();
    });
    const form = h("form", { class: "toolbar insights-controls", "aria-label": "Monitoring view" },
      field("Window", range), customFields, field("Bucket", bucket), refresh);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const from = isoFromLocalInput(start.value);
      const to = isoFromLocalInput(end.value);
      if (!from || !to || Date.parse(to) <= Date.parse(from)) {
        showError(this.windowSlot, new Error("Give a start and an end after it."));
        return;
      }
      showError(this.windowSlot, null);
      this.view = { ...this.view, range: CUSTOM, start: from, end: to };
      this.view.bucket = fittingBucket(this.view);
      this.applyView();
    });
    refresh.addEventListener("click", () => withBusy(refresh, () => this.load(), { slot: this.windowSlot, busyText: "Refreshing…" }));
    return form;
  }

  /** The bucket options; those that would draw too many points are disabled. */
  fillBuckets() {
    const { bucket } = this.controls;
    clear(bucket).append(...BUCKETS.map((b) => h("option", {
      value: b.key, selected: b.key === this.view.bucket, disabled: tooManyPoints(this.view, b),
    }, b.label)));
  }

  applyView() {
    this.view.bucket = fittingBucket(this.view);
    this.controls.range.value = this.view.range;
    this.controls.customFields.hidden = this.view.range !== CUSTOM;
    this.fillBuckets();
    this.remember();
    this.load();
  }

  // -- loading --

  async load() {
    const step = bucketOf(this.view.bucket).seconds;
    this.window = windowOf(this.view, step);
    const bucketLabel = bucketOf(this.view.bucket).label.toLowerCase();
    this.windowText.textContent = `${timeLabel(this.window.start)} to ${timeLabel(this.window.end)} `
      + `(your local time), by ${bucketLabel}.`;
    showError(this.windowSlot, null);
    await Promise.all([this.loadStats(), this.loadDrift(), this.loadAccuracy()]);
  }

  /** Run a section's loading; an error lands in its own slot (an abort is silent). */
  async guarded(slot, action) {
    try {
      await action();
    } catch (error) {
      if (error.name === "AbortError") return;
      showError(slot, error);
    }
  }

  // -- stats: figures and charts --

  async loadStats() {
    this.statsController = this.signal(this.statsController);
    const { signal } = this.statsController;
    const slot = errorSlot();
    this.charts.stats.destroy();
    const busy = loading();
    clear(this.summary).append(h("h2", { id: "mon-summary" }, "Summary"), slot, busy);
    clear(this.overTime).append(h("h2", { id: "mon-over-time" }, "Over time"));
    await this.guarded(slot, async () => {
      const query = this.window.query;
      const [summary, overTime] = await Promise.all([
        get(`${this.ctx.path}/stats`, { query, signal }),
        get(`${this.ctx.path}/stats/over-time`, {
          query: { ...query, bucket_size: this.view.bucket, metric: STATS_METRICS.join(",") }, signal,
        }),
      ]);
      this.drawSummary(summary, slot);
      this.drawOverTime(overTime);
    });
    busy.remove();
  }

  drawSummary(summary, slot) {
    const overall = summary.overall;
    const figures = [
      ["Requests", asCount(overall.total_requests)],
      ["Predictions", asCount(overall.total_predictions)],
      ["Prediction warnings", asCount(overall.prediction_warnings)],
      ["Response time p50", asMs(overall.response_time.p50)],
      ["Response time p90", asMs(overall.response_time.p90)],
      ["Response time p99", asMs(overall.response_time.p99)],
      ["User errors", asPercent(overall.user_error_rate)],
      ["Server errors", asPercent(overall.server_error_rate)],
      [`Slow requests (over ${NUMBER.format(summary.slow_request_ms)} ms)`, asCount(overall.slow_requests)],
      ["Timeouts", asCount(overall.timeouts)],
      ["Consumers", asCount(overall.num_consumers)],
      ["Peak load (calls a minute)", asCount(overall.peak_load)],
    ];
    this.summary.append(
      h("dl", { class: "insights-figures", "aria-label": "Service figures over the window" },
        figures.map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", {}, value)))),
      table([
        { label: "Generation", value: (g) => seriesName(g) },
        { label: "Requests", value: (g) => asCount(g.total_requests) },
        { label: "Predictions", value: (g) => asCount(g.total_predictions) },
        { label: "p50", value: (g) => asMs(g.response_time.p50) },
        { label: "p90", value: (g) => asMs(g.response_time.p90) },
        { label: "p99", value: (g) => asMs(g.response_time.p99) },
        { label: "User errors", value: (g) => asPercent(g.user_error_rate) },
        { label: "Server errors", value: (g) => asPercent(g.server_error_rate) },
        { label: "CPU (mean)", value: (g) => asCpu(g.cpu_percent.mean) },
        { label: "Memory (mean)", value: (g) => asBytes(g.memory_bytes.mean) },
      ], summary.generations, {
        caption: "Per generation (the challenger's beside the main ones)",
        empty: "No generation answered a call in this window.",
      }),
    );
    showError(slot, null);
  }

  drawOverTime(answer) {
    const step = answer.bucket_size;
    const first = answer.series[0]?.buckets || [];
    const x = first.map((b) => epochOf(b.start));
    const xEnd = first.length ? epochOf(first[first.length - 1].end) : undefined;
    const per = answer.series.map((entry, index) => ({
      name: seriesName(entry), colour: COLOURS[index % COLOURS.length], buckets: entry.buckets,
    }));
    const lines = (metric, { dash, suffix = "", only } = {}) => per
      .filter((s) => !only || only(s))
      .map((s) => ({
        label: suffix ? `${s.name} ${suffix}` : s.name, colour: s.colour, dash,
        values: s.buckets.map((b) => b[metric]),
      }));
    const byBucket = `per ${bucketOf(this.view.bucket)?.label.toLowerCase() || `${step} s`}`;
    const grid = h("div", { class: "insights-grid" });
    this.overTime.append(grid);
    const charts = [
      ["Requests", `Calls ${byBucket}`, lines("total_requests"), asCount, "No calls in this window."],
      ["Predictions", `Rows scored ${byBucket}; dashed: prediction warnings`,
       [...lines("total_predictions"), ...lines("prediction_warnings", { dash: "dashed", suffix: "warnings" })
         .filter((line) => line.values.some((v) => v))],
       asCount, "No predictions in this window."],
      ["Response time", "p50 solid, p90 dashed, p99 dotted",
       [...lines("response_time_p50", { suffix: "p50" }),
        ...lines("response_time_p90", { dash: "dashed", suffix: "p90" }),
        ...lines("response_time_p99", { dash: "dotted", suffix: "p99" })],
       asMs, "No calls in this window."],
      ["Error rates", "User errors (4xx) solid, server errors (5xx) dashed",
       [...lines("user_error_rate", { suffix: "user" }),
        ...lines("server_error_rate", { dash: "dashed", suffix: "server" })],
       asPercent, "No calls in this window."],
      ["CPU", "Mean of the instances' samples", lines("cpu_percent_mean", { only: (s) => s.name !== "service" }),
       asCpu, "No usage sample in this window."],
      ["Memory", "Mean of the instances' samples", lines("memory_bytes_mean", { only: (s) => s.name !== "service" }),
       asBytes, "No usage sample in this window."],
    ];
    for (const [title, description, chartLines, format, empty] of charts) {
      const slot = chartFigure(title, description);
      grid.append(slot.figure);
      drawLines(this.charts.stats, slot, { x, xEnd, lines: chartLines, format, empty });
    }
  }

  // -- drift --

  async loadDrift() {
    this.driftController = this.signal(this.driftController);
    const { signal } = this.driftController;
    this.charts.drift.destroy();
    this.charts.feature.destroy();
    const heading = h("h2", { id: "mon-drift" }, "Drift");
    if (!this.isModel) {
      clear(this.drift).append(heading, note("Drift is measured for model services: their "
        + "features and predictions against the model's baseline. This service runs its own code."));
      return;
    }
    const slot = errorSlot();
    const busy = loading();
    append(clear(this.drift), [heading, healthLine("Drift health", this.ctx.service.drift_health),
                                this.drawDriftControls(), slot, busy]);
    const query = this.driftQuery();
    await this.guarded(slot, async () => {
      let features;
      let target;
      try {
        [features, target] = await Promise.all([
          get(`${this.ctx.path}/drift/features`, { query: { ...query, metric: this.view.sort }, signal }),
          get(`${this.ctx.path}/drift/target`, { query, signal }),
        ]);
      } catch (error) {
        if (!isAbsence(error)) throw error;
        busy.remove();
        this.drift.append(note(`No drift to show: ${sentence(error.message)}`));
        return;
      }
      busy.remove();
      this.drawDriftSummary(features);
      this.drawFeatureTable(features);
      this.drawTarget(target);
      this.featureArea = h("div", { class: "insights-feature" });
      this.drift.append(this.featureArea);
      await this.loadFeature(features);
    });
    busy.remove();
  }

  /** generation, role and the window on whole hours (drift is kept by the hour). */
  driftQuery() {
    const step = Math.max(HOUR, bucketOf(this.view.bucket).seconds);
    const hours = windowOf(this.view, step);
    const generation = this.driftGeneration();
    return { ...hours.query, role: this.view.role, ...(generation ? { generation } : {}) };
  }

  /** The generation drift is of: the URL's, else the one serving the calls asked for. */
  driftGeneration() {
    if (this.view.generation === "newest") return "";
    if (this.view.generation) return this.view.generation;
    const { service } = this.ctx;
    return (this.view.role === "challenger" ? service.challenger : service.live_generation) || "";
  }

  drawDriftControls() {
    const generations = [...new Set([
      ...(this.ctx.service.mapping || []).map((m) => m.generation),
      this.ctx.service.live_generation, this.ctx.service.challenger, this.view.generation,
    ].filter((tag) => tag && tag !== "newest"))].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
    const generation = h("select", { name: "generation" },
      h("option", { value: "newest" }, "Newest (with those on its baseline)"),
      generations.map((tag) => h("option", { value: tag }, tag)));
    generation.value = this.driftGeneration() || "newest";
    const role = h("select", { name: "role" },
      h("option", { value: "main", selected: this.view.role === "main" }, "Main calls"),
      h("option", { value: "challenger", selected: this.view.role === "challenger" }, "Challenger calls"));
    const sort = h("select", { name: "sort" },
      DRIFT_SORTS.map(([key, label]) => h("option", { value: key, selected: key === this.view.sort }, label)));
    generation.addEventListener("change", () => this.changeDrift({ generation: generation.value }));
    role.addEventListener("change", () => this.changeDrift({ role: role.value, generation: "" }));
    sort.addEventListener("change", () => this.changeDrift({ sort: sort.value }));
    const hasChallenger = Boolean(this.ctx.service.challenger) || this.view.role === "challenger";
    return h("div", { class: "toolbar insights-drift-controls" },
      field("Generation", generation),
      hasChallenger ? field("Calls", role) : null,
      field("Sort features by", sort));
  }

  changeDrift(changes) {
    this.view = { ...this.view, ...changes };
    this.remember();
    this.loadDrift();
  }

  drawDriftSummary(answer) {
    const t = answer.thresholds;
    const count = answer.features.length;
    const verdict = answer.too_small
      ? `Too few rows to judge: ${asCount(answer.rows)} scored, ${asCount(t.min_rows)} needed.`
      : `${answer.drifted} of ${count} features drifted.`;
    this.drift.append(h("p", { class: "insights-drift-head" },
      h("strong", {}, verdict), " ",
      `Generation${answer.generations.length === 1 ? "" : "s"} ${answer.generations.join(", ")} `
        + `(${answer.role} calls): ${asCount(answer.rows)} rows scored, `
        + `${asCount(answer.data_errors)} data errors; baseline ${asCount(answer.baseline_rows)} rows. `
        + `Drifted at PSI ≥ ${t.psi}, JS ≥ ${t.js_distance} or p-value < ${t.p_value}`
        + `${count > 1 ? ` / ${count} features` : ""}, from ${asCount(t.min_rows)} rows.`));
  }

  drawFeatureTable(answer) {
    const flag = (entry) => {
      if (entry.drifted) return h("span", { class: "badge bad" }, "Drifted");
      if (entry.too_small) return h("span", { class: "badge" }, "Too few rows");
      return h("span", { class: "badge ok" }, "Stable");
    };
    const choose = (entry) => {
      const button = h("button", { type: "button", class: "link-button",
                                   "aria-pressed": String(entry.name === this.view.feature) }, entry.name);
      button.addEventListener("click", () => this.chooseFeature(entry.name));
      return button;
    };
    this.drift.append(table([
      { label: "Feature", value: choose },
      { label: "Type", value: (f) => f.type },
      { label: "Importance", value: (f) => asPrecise(f.importance) },
      { label: "PSI", value: (f) => asPrecise(f.psi) },
      { label: "JS distance", value: (f) => asPrecise(f.js_distance) },
      { label: "p-value", value: (f) => `${asPrecise(f.p_value)} (${f.test})` },
      { label: "Rows (live / baseline)", value: (f) => `${asCount(f.current_rows)} / ${asCount(f.reference_rows)}` },
      { label: "Drift", value: flag },
    ], answer.features, { caption: `Features, most drifted first by ${sortLabel(answer.metric)}`,
                          empty: "The model names no feature." }));
  }

  drawTarget(answer) {
    const entry = answer.target;
    const box = h("div", { class: "card insights-target", role: "group", "aria-labelledby": "mon-target" },
      h("h3", { id: "mon-target" }, "Target drift"));
    if (!entry) {
      box.append(note("Unknown until the supervisor has had the model's predictions on its baseline "
        + "(taken before a generation serves)."));
    } else {
      const verdict = entry.drifted ? h("span", { class: "badge bad" }, "Drifted")
        : entry.too_small ? h("span", { class: "badge" }, "Too few rows to judge")
          : h("span", { class: "badge ok" }, "Stable");
      box.append(h("dl", { class: "insights-figures" },
        h("div", {}, h("dt", {}, "Prediction"), h("dd", {}, verdict)),
        h("div", {}, h("dt", {}, "PSI"), h("dd", {}, asPrecise(entry.psi))),
        h("div", {}, h("dt", {}, "JS distance"), h("dd", {}, asPrecise(entry.js_distance))),
        h("div", {}, h("dt", {}, `p-value (${entry.test})`), h("dd", {}, asPrecise(entry.p_value))),
        h("div", {}, h("dt", {}, "Rows (live / baseline)"),
          h("dd", {}, `${asCount(entry.current_rows)} / ${asCount(entry.reference_rows)}`))));
    }
    this.drift.append(box);
  }

  chooseFeature(name) {
    this.view = { ...this.view, feature: name };
    this.remember();
    for (const button of this.drift.querySelectorAll("td .link-button")) {
      button.setAttribute("aria-pressed", String(button.textContent === name));
    }
    if (this.lastFeatures) this.loadFeature(this.lastFeatures);
  }

  /** The chosen feature's drift over time and its baseline and live distributions. */
  async loadFeature(features) {
    this.lastFeatures = features;
    this.featureController = this.signal(this.featureController);
    const { signal } = this.featureController;
    this.charts.feature.destroy();
    const names = features.features.map((f) => f.name);
    const feature = this.view.feature && (names.includes(this.view.feature) || this.view.feature === PREDICTION)
      ? this.view.feature : (names[0] || PREDICTION);
    const select = h("select", { name: "feature" },
      names.map((name) => h("option", { value: name, selected: name === feature }, name)),
      h("option", { value: PREDICTION, selected: feature === PREDICTION }, "prediction (target)"));
    select.addEventListener("change", () => this.chooseFeature(select.value));
    const slot = errorSlot();
    const busy = loading();
    const grid = h("div", { class: "insights-grid" });
    clear(this.featureArea).append(
      h("div", { class: "toolbar" }, field("Feature", select)), slot, grid, busy);
    const query = this.driftQuery();
    const bucket = driftBucket(this.view.bucket);
    await this.guarded(slot, async () => {
      const [overTime, distribution] = await Promise.all([
        get(`${this.ctx.path}/drift/over-time`, { query: { ...query, feature, bucket_size: bucket }, signal }),
        get(`${this.ctx.path}/drift/distribution`, { query: { ...query, feature }, signal }),
      ]);
      this.drawDriftOverTime(grid, feature, overTime);
      this.drawDistribution(grid, feature, distribution);
    });
    busy.remove();
  }

  drawDriftOverTime(grid, feature, answer) {
    const x = answer.series.map((b) => epochOf(b.start));
    const judged = (key) => answer.series.map((b) => (b.too_small ? null : b[key]));
    const constant = (value) => answer.series.map(() => value);
    const slot = chartFigure(`Drift of ${feature} over time`,
      `By ${durationLabel(answer.bucket_size_seconds)}; dashed: the thresholds; `
      + "a gap: too few rows to judge");
    grid.append(slot.figure);
    const last = answer.series[answer.series.length - 1];
    if (!answer.series.some((b) => !b.too_small)) {
      emptyFigure(slot, `No ${durationLabel(answer.bucket_size_seconds)} with enough rows to judge `
        + `(${asCount(answer.thresholds.min_rows)} at least).`);
      return;
    }
    drawLines(this.charts.feature, slot, {
      x,
      xEnd: last ? epochOf(last.end) : undefined,
      lines: [
        { label: "PSI", values: judged("psi"), colour: COLOURS[0] },
        { label: "JS distance", values: judged("js_distance"), colour: COLOURS[1] },
        { label: "PSI threshold", values: constant(answer.thresholds.psi), colour: COLOURS[0], dash: "dashed", reference: true },
        { label: "JS threshold", values: constant(answer.thresholds.js_distance), colour: COLOURS[1], dash: "dashed", reference: true },
      ],
      format: (v) => shown(v, (n) => PRECISE.format(n)),
      empty: "No bucket with enough rows to judge.",
    });
  }

  drawDistribution(grid, feature, answer) {
    const slot = chartFigure(`Baseline and live distribution of ${feature}`,
      `Share of rows per bin: baseline ${asCount(answer.reference.rows)} rows, `
      + `live ${asCount(answer.current.rows)}`);
    grid.append(slot.figure);
    drawBars(this.charts.feature, slot, {
      bins: answer.bins, baseline: answer.reference.shares, live: answer.current.shares,
    });
    const rows = answer.bins.map((bin, index) => ({
      bin, was: answer.reference.shares[index], now: answer.current.shares[index],
    }));
    slot.figure.append(h("details", { class: "insights-details" },
      h("summary", {}, "Show as a table"),
      table([
        { label: "Bin", value: (r) => r.bin },
        { label: "Baseline", value: (r) => asPercent(r.was) },
        { label: "Live", value: (r) => asPercent(r.now) },
        { label: "Change", value: (r) => `${r.now >= r.was ? "+" : ""}${NUMBER.format((r.now - r.was) * 100)} pts` },
      ], rows, { caption: `${feature} by bin` })));
  }

  // -- accuracy --

  async loadAccuracy() {
    this.accuracyController = this.signal(this.accuracyController);
    const { signal } = this.accuracyController;
    this.charts.accuracy.destroy();
    const heading = h("h2", { id: "mon-accuracy" }, "Accuracy");
    if (!this.isModel) {
      clear(this.accuracy).append(heading, note("Accuracy is measured for model services, from "
        + "actuals (true outcomes) joined to their predictions by association id."));
      return;
    }
    const slot = errorSlot();
    const busy = loading();
    append(clear(this.accuracy), [heading, healthLine("Accuracy health", this.ctx.service.accuracy_health),
                                   slot, busy]);
    const step = Math.max(HOUR, bucketOf(this.view.bucket).seconds);
    const query = windowOf(this.view, step).query;
    await this.guarded(slot, async () => {
      let summary;
      try {
        summary = await get(`${this.ctx.path}/accuracy`, { query, signal });
      } catch (error) {
        if (!isAbsence(error)) throw error;
        this.accuracy.append(note(`No accuracy to show: ${sentence(error.message)}`));
        return;
      }
      if (!summary.problem_type) {
        busy.remove();
        this.accuracy.append(note("No actuals joined to predictions in this window yet: send the "
          + "true outcomes with `shipyard actuals upload` or POST …/actuals, by association id "
          + "(set the association id columns in Settings)."));
        return;
      }
      const overTime = await get(`${this.ctx.path}/accuracy/over-time`, {
        query: { ...query, bucket_size: driftBucket(this.view.bucket) }, signal,
      });
      busy.remove();
      this.drawAccuracy(summary, overTime);
    });
    busy.remove();
  }

  drawAccuracy(summary, overTime) {
    const metrics = overTime.metrics;
    const entries = [...summary.generations];
    if (summary.overall && summary.overall.rows) entries.push({ generation: "all", role: "main", ...summary.overall });
    this.accuracy.append(
      h("p", {}, `A ${summary.problem_type} model; metrics on the predictions joined to actuals.`),
      table([
        { label: "Generation", value: (e) => (e.generation === "all" ? "all main calls" : seriesName(e)) },
        { label: "Rows", value: (e) => asCount(e.rows) },
        ...metrics.map((m) => ({ label: ACCURACY_LABELS[m] || m, value: (e) => asPrecise(e[m]) })),
      ], entries, { caption: "Per generation and role" }));
    const matrix = summary.overall?.confusion_matrix;
    if (matrix && matrix.labels.length <= 20) this.accuracy.append(confusionTable(matrix));

    const metric = metrics.includes(this.view.accuracy) ? this.view.accuracy : metrics[0];
    const select = h("select", { name: "accuracy" },
      metrics.map((m) => h("option", { value: m, selected: m === metric }, ACCURACY_LABELS[m] || m)));
    select.addEventListener("change", () => {
      this.view = { ...this.view, accuracy: select.value };
      this.remember();
      this.loadAccuracy();
    });
    const slot = chartFigure(`${ACCURACY_LABELS[metric] || metric} over time`,
      `By ${durationLabel(overTime.bucket_size_seconds)}; a gap: no actual joined`);
    this.accuracy.append(h("div", { class: "toolbar" }, field("Accuracy metric", select)),
                         h("div", { class: "insights-grid" }, slot.figure));
    const first = overTime.series[0]?.buckets || [];
    const x = first.map((b) => epochOf(b.start));
    drawLines(this.charts.accuracy, slot, {
      x,
      xEnd: first.length ? epochOf(first[first.length - 1].end) : undefined,
      lines: overTime.series.map((entry, index) => ({
        label: seriesName(entry), colour: COLOURS[index % COLOURS.length],
        dash: entry.role === "challenger" ? "dashed" : undefined,
        values: entry.buckets.map((b) => b[metric]),
      })),
      format: (v) => shown(v, (n) => PRECISE.format(n)),
      yMin: null,
      empty: "No actual joined in this window.",
    });
  }
}

/** The service's drift or accuracy health now (over its own window), with its reasons. */
function healthLine(label, health) {
  if (!health) return null;
  const reasons = health.reasons || [];
  return h("p", { class: "insights-health" },
    `${label} (last ${health.window_hours} hours): `,
    h("span", { class: `badge health-${health.status}` }, health.status),
    reasons.length ? ` ${reasons.join("; ")}.` : "");
}

function confusionTable(matrix) {
  const columns = [
    { label: "Actual \\ predicted", value: (row) => h("strong", {}, String(row.label)) },
    ...matrix.labels.map((label, index) => ({ label: String(label), value: (row) => asCount(row.counts[index]) })),
  ];
  const rows = matrix.labels.map((label, index) => ({ label, counts: matrix.matrix[index] }));
  return table(columns, rows, { caption: "Confusion matrix (all main calls): a row per actual label, a column per predicted one" });
}

/** Drift and accuracy are kept by the hour: the bucket, at least an hour. */
function driftBucket(bucket) {
  return bucketOf(bucket).seconds < HOUR ? "PT1H" : bucket;
}

function durationLabel(seconds) {
  const bucket = BUCKETS.find((b) => b.seconds === seconds);
  if (bucket) return bucket.label.toLowerCase();
  return seconds % HOUR === 0 ? `${seconds / HOUR} hours` : `${seconds} seconds`;
}

function sortLabel(metric) {
  return (DRIFT_SORTS.find(([key]) => key === metric) || [metric, metric])[1];
}
