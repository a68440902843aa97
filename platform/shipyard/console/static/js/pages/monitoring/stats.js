// The Monitoring tab's stats (what `shipyard stats` shows): the service's figures over the
// window, a table per generation, and the charts over time (requests, predictions, response
// time, error rates, CPU, memory), by the bucket picked.
// API: GET .../stats, .../stats/over-time.

import { get } from "../../api.js";
import { clear, errorSlot, h, showError, table } from "../../dom.js";
import { Charts, COLOURS, chartFigure, drawLines } from "./charts.js";
import { NUMBER, asBytes, asCount, asCpu, asMs, asPercent, seriesName } from "./format.js";
import { guarded, loading } from "./section.js";
import { bucketOf, epochOf } from "./window.js";

const STATS_METRICS = [
  "total_requests", "total_predictions", "prediction_warnings", "response_time_p50",
  "response_time_p90", "response_time_p99", "user_error_rate", "server_error_rate",
  "cpu_percent_mean", "memory_bytes_mean",
];

/** The Summary and Over time sections of `page` (which has `ctx`, `view`, `window`, `signal()`). */
export class StatsSection {
  constructor(page) {
    this.page = page;
    this.charts = new Charts();
    this.summary = h("section", { class: "insights-section", "aria-labelledby": "mon-summary" });
    this.overTime = h("section", { class: "insights-section", "aria-labelledby": "mon-over-time" });
  }

  destroy() {
    this.charts.destroy();
  }

  async load() {
    this.controller = this.page.signal(this.controller);
    const { signal } = this.controller;
    const slot = errorSlot();
    this.charts.destroy();
    const busy = loading();
    clear(this.summary).append(h("h2", { id: "mon-summary" }, "Summary"), slot, busy);
    clear(this.overTime).append(h("h2", { id: "mon-over-time" }, "Over time"));
    await guarded(slot, async () => {
      const query = this.page.window.query;
      const [summary, overTime] = await Promise.all([
        get(`${this.page.ctx.path}/stats`, { query, signal }),
        get(`${this.page.ctx.path}/stats/over-time`, {
          query: { ...query, bucket_size: this.page.view.bucket, metric: STATS_METRICS.join(",") }, signal,
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
    const byBucket = `per ${bucketOf(this.page.view.bucket)?.label.toLowerCase() || `${step} s`}`;
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
      drawLines(this.charts, slot, { x, xEnd, lines: chartLines, format, empty });
    }
  }
}
