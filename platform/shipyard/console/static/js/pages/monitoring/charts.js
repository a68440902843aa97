// The Monitoring tab's charts (uPlot): a figure with its heading, a time-series line chart,
// the baseline-and-live bars of a distribution, each with a legend of checkboxes that show and
// hide its lines, the values under the cursor as a line of text, and a width that follows
// the page's.

import uPlot from "/console/assets/vendor/uplot.js";
import { clear, h, uid } from "../../dom.js";
import { NUMBER, timeLabel } from "./format.js";
import { note } from "./section.js";

/** Line colours, distinct and dark enough on white (WCAG 3:1 for graphics). */
export const COLOURS = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490", "#4d7c0f",
                        "#a21caf", "#374151"];
const DASHES = { solid: undefined, dashed: [6, 4], dotted: [2, 3] };

/** The uPlot charts of one part of the page, destroyed together when it is drawn again. */
export class Charts {
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
export function chartFigure(title, description) {
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
export function drawLines(charts, slot, { x, xEnd, lines, format, empty, yMin = 0 }) {
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
export function emptyFigure(slot, text) {
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
export function drawBars(charts, slot, { bins, baseline, live }) {
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
