// The Monitoring tab's accuracy (what `shipyard accuracy` shows) of a model service: the
// accuracy health, the metrics per generation on the predictions joined to actuals, the
// confusion matrix, and the chosen metric over time.
// API: GET .../accuracy, .../accuracy/over-time.

import { get } from "../../api.js";
import { append, clear, errorSlot, field, h, table } from "../../dom.js";
import { Charts, COLOURS, chartFigure, drawLines } from "./charts.js";
import { PRECISE, asCount, asPrecise, sentence, seriesName, shown } from "./format.js";
import { guarded, healthLine, isAbsence, loading, note } from "./section.js";
import { HOUR, bucketOf, driftBucket, durationLabel, epochOf, windowOf } from "./window.js";

const ACCURACY_LABELS = {
  accuracy: "Accuracy", balanced_accuracy: "Balanced accuracy", precision: "Precision",
  recall: "Recall", f1: "F1", auc: "AUC", log_loss: "Log loss", rmse: "RMSE", mae: "MAE",
  mape: "MAPE", r2: "R²", gamma_deviance: "Gamma deviance",
};

/**
 * The Accuracy section of `page` (which has `ctx`, `view`, `isModel`, `signal()` and
 * `remember()`); a note only, for a service that is not a model's.
 */
export class AccuracySection {
  constructor(page) {
    this.page = page;
    this.charts = new Charts();
    this.section = h("section", { class: "insights-section", "aria-labelledby": "mon-accuracy" });
  }

  destroy() {
    this.charts.destroy();
  }

  async load() {
    this.controller = this.page.signal(this.controller);
    const { signal } = this.controller;
    this.charts.destroy();
    const heading = h("h2", { id: "mon-accuracy" }, "Accuracy");
    if (!this.page.isModel) {
      clear(this.section).append(heading, note("Accuracy is measured for model services, from "
        + "actuals (true outcomes) joined to their predictions by association id."));
      return;
    }
    const slot = errorSlot();
    const busy = loading();
    append(clear(this.section), [heading, healthLine("Accuracy health", this.page.ctx.service.accuracy_health),
                                  slot, busy]);
    const step = Math.max(HOUR, bucketOf(this.page.view.bucket).seconds);
    const query = windowOf(this.page.view, step).query;
    await guarded(slot, async () => {
      let summary;
      try {
        summary = await get(`${this.page.ctx.path}/accuracy`, { query, signal });
      } catch (error) {
        if (!isAbsence(error)) throw error;
        this.section.append(note(`No accuracy to show: ${sentence(error.message)}`));
        return;
      }
      if (!summary.problem_type) {
        busy.remove();
        this.section.append(note("No actuals joined to predictions in this window yet: send the "
          + "true outcomes with `shipyard actuals upload` or POST …/actuals, by association id "
          + "(set the association id columns in Settings)."));
        return;
      }
      const overTime = await get(`${this.page.ctx.path}/accuracy/over-time`, {
        query: { ...query, bucket_size: driftBucket(this.page.view.bucket) }, signal,
      });
      busy.remove();
      this.draw(summary, overTime);
    });
    busy.remove();
  }

  draw(summary, overTime) {
    const metrics = overTime.metrics;
    const entries = [...summary.generations];
    if (summary.overall && summary.overall.rows) entries.push({ generation: "all", role: "main", ...summary.overall });
    this.section.append(
      h("p", {}, `A ${summary.problem_type} model; metrics on the predictions joined to actuals.`),
      table([
        { label: "Generation", value: (e) => (e.generation === "all" ? "all main calls" : seriesName(e)) },
        { label: "Rows", value: (e) => asCount(e.rows) },
        ...metrics.map((m) => ({ label: ACCURACY_LABELS[m] || m, value: (e) => asPrecise(e[m]) })),
      ], entries, { caption: "Per generation and role" }));
    const matrix = summary.overall?.confusion_matrix;
    if (matrix && matrix.labels.length <= 20) this.section.append(confusionTable(matrix));

    const metric = metrics.includes(this.page.view.accuracy) ? this.page.view.accuracy : metrics[0];
    const select = h("select", { name: "accuracy" },
      metrics.map((m) => h("option", { value: m, selected: m === metric }, ACCURACY_LABELS[m] || m)));
    select.addEventListener("change", () => {
      this.page.view = { ...this.page.view, accuracy: select.value };
      this.page.remember();
      this.load();
    });
    const slot = chartFigure(`${ACCURACY_LABELS[metric] || metric} over time`,
      `By ${durationLabel(overTime.bucket_size_seconds)}; a gap: no actual joined`);
    this.section.append(h("div", { class: "toolbar" }, field("Accuracy metric", select)),
                        h("div", { class: "insights-grid" }, slot.figure));
    const first = overTime.series[0]?.buckets || [];
    const x = first.map((b) => epochOf(b.start));
    drawLines(this.charts, slot, {
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

function confusionTable(matrix) {
  const columns = [
    { label: "Actual \\ predicted", value: (row) => h("strong", {}, String(row.label)) },
    ...matrix.labels.map((label, index) => ({ label: String(label), value: (row) => asCount(row.counts[index]) })),
  ];
  const rows = matrix.labels.map((label, index) => ({ label, counts: matrix.matrix[index] }));
  return table(columns, rows, { caption: "Confusion matrix (all main calls): a row per actual label, a column per predicted one" });
}
