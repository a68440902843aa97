// The Monitoring tab's accuracy (what `shipyard accuracy` shows) of a model service: the
// accuracy health, the metrics per generation on the predictions joined to actuals, the
// confusion matrix, and the chosen metric over time.
// API: GET .../accuracy, .../accuracy/over-time.

import { get } from "../../api.js";
import { field, h, table } from "../../dom.js";
import { COLOURS, chartFigure, drawLines } from "./charts.js";
import { PRECISE, asCount, asPrecise, seriesName, shown } from "./format.js";
import { ModelSection } from "./model-section.js";
import { note } from "./section.js";
import { HOUR, bucketOf, driftBucket, durationLabel, epochOf, windowOf } from "./window.js";

const ACCURACY_LABELS = {
  accuracy: "Accuracy", balanced_accuracy: "Balanced accuracy", precision: "Precision",
  recall: "Recall", f1: "F1", auc: "AUC", log_loss: "Log loss", rmse: "RMSE", mae: "MAE",
  mape: "MAPE", r2: "R²", gamma_deviance: "Gamma deviance",
};

/** The Accuracy section of a service's Monitoring tab (see `ModelSection`). */
export class AccuracySection extends ModelSection {
  constructor(page) {
    super(page, {
      id: "mon-accuracy", title: "Accuracy", health: ["Accuracy health", "accuracy_health"],
      notModel: "Accuracy is measured for model services, from actuals (true outcomes) "
        + "joined to their predictions by association id.",
    });
  }

  async fill(signal, busy) {
    const step = Math.max(HOUR, bucketOf(this.page.view.bucket).seconds);
    const query = windowOf(this.page.view, step).query;
    let summary;
    try {
      summary = await get(`${this.page.ctx.path}/accuracy`, { query, signal });
    } catch (error) {
      if (this.absent(error, busy)) return;
      throw error;
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
    select.addEventListener("change", () => this.change({ accuracy: select.value }));
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
