// The Monitoring tab's drift (what `shipyard drift` shows) of a model service: the drift
// health, the generation, calls and sort pickers, a table of the features by drift, the target's
// drift, and the chosen feature's drift over time with its baseline and live distributions.
// API: GET .../drift/features, .../drift/target, .../drift/over-time, .../drift/distribution.

import { get } from "../../api.js";
import { clear, errorSlot, field, h, table } from "../../dom.js";
import { COLOURS, chartFigure, drawBars, drawLines, emptyFigure } from "./charts.js";
import { NUMBER, PRECISE, asCount, asPercent, asPrecise, shown } from "./format.js";
import { ModelSection } from "./model-section.js";
import { guarded, loading, note } from "./section.js";
import { DRIFT_SORTS, HOUR, bucketOf, driftBucket, durationLabel, epochOf, windowOf } from "./window.js";

const PREDICTION = "prediction";

/** The Drift section of a service's Monitoring tab (see `ModelSection`). */
export class DriftSection extends ModelSection {
  constructor(page) {
    super(page, {
      id: "mon-drift", title: "Drift", health: ["Drift health", "drift_health"],
      notModel: "Drift is measured for model services: their features and predictions "
        + "against the model's baseline. This service runs its own code.",
    });
  }

  controls() {
    return this.drawControls();
  }

  async fill(signal, busy) {
    const query = this.driftQuery();
    let features;
    let target;
    try {
      [features, target] = await Promise.all([
        get(`${this.page.ctx.path}/drift/features`, { query: { ...query, metric: this.page.view.sort }, signal }),
        get(`${this.page.ctx.path}/drift/target`, { query, signal }),
      ]);
    } catch (error) {
      if (this.absent(error, busy)) return;
      throw error;
    }
    busy.remove();
    this.drawSummary(features);
    this.drawFeatureTable(features);
    this.drawTarget(target);
    this.featureArea = h("div", { class: "insights-feature" });
    this.section.append(this.featureArea);
    await this.loadFeature(features);
  }

  /** generation, role and the window on whole hours (drift is kept by the hour). */
  driftQuery() {
    const step = Math.max(HOUR, bucketOf(this.page.view.bucket).seconds);
    const hours = windowOf(this.page.view, step);
    const generation = this.driftGeneration();
    return { ...hours.query, role: this.page.view.role, ...(generation ? { generation } : {}) };
  }

  /** The generation drift is of: the URL's, else the one serving the calls asked for. */
  driftGeneration() {
    const { view, ctx: { service } } = this.page;
    if (view.generation === "newest") return "";
    if (view.generation) return view.generation;
    return (view.role === "challenger" ? service.challenger : service.live_generation) || "";
  }

  drawControls() {
    const { view, ctx: { service } } = this.page;
    const generations = [...new Set([
      ...(service.mapping || []).map((m) => m.generation),
      service.live_generation, service.challenger, view.generation,
    ].filter((tag) => tag && tag !== "newest"))].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
    const generation = h("select", { name: "generation" },
      h("option", { value: "newest" }, "Newest (with those on its baseline)"),
      generations.map((tag) => h("option", { value: tag }, tag)));
    generation.value = this.driftGeneration() || "newest";
    const role = h("select", { name: "role" },
      h("option", { value: "main", selected: view.role === "main" }, "Main calls"),
      h("option", { value: "challenger", selected: view.role === "challenger" }, "Challenger calls"));
    const sort = h("select", { name: "sort" },
      DRIFT_SORTS.map(([key, label]) => h("option", { value: key, selected: key === view.sort }, label)));
    generation.addEventListener("change", () => this.change({ generation: generation.value }));
    role.addEventListener("change", () => this.change({ role: role.value, generation: "" }));
    sort.addEventListener("change", () => this.change({ sort: sort.value }));
    const hasChallenger = Boolean(service.challenger) || view.role === "challenger";
    return h("div", { class: "toolbar insights-drift-controls" },
      field("Generation", generation),
      hasChallenger ? field("Calls", role) : null,
      field("Sort features by", sort));
  }

  drawSummary(answer) {
    const t = answer.thresholds;
    const count = answer.features.length;
    const verdict = answer.too_small
      ? `Too few rows to judge: ${asCount(answer.rows)} scored, ${asCount(t.min_rows)} needed.`
      : `${answer.drifted} of ${count} features drifted.`;
    this.section.append(h("p", { class: "insights-drift-head" },
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
                                   "aria-pressed": String(entry.name === this.page.view.feature) }, entry.name);
      button.addEventListener("click", () => this.chooseFeature(entry.name));
      return button;
    };
    this.section.append(table([
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
    this.section.append(box);
  }

  chooseFeature(name) {
    this.page.view = { ...this.page.view, feature: name };
    this.page.remember();
    for (const button of this.section.querySelectorAll("td .link-button")) {
      button.setAttribute("aria-pressed", String(button.textContent === name));
    }
    if (this.lastFeatures) this.loadFeature(this.lastFeatures);
  }

  /** The chosen feature's drift over time and its baseline and live distributions. */
  async loadFeature(features) {
    this.lastFeatures = features;
    this.featureController = this.page.signal(this.featureController);
    const { signal } = this.featureController;
    this.charts.destroy();
    const names = features.features.map((f) => f.name);
    const { view } = this.page;
    const feature = view.feature && (names.includes(view.feature) || view.feature === PREDICTION)
      ? view.feature : (names[0] || PREDICTION);
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
    const bucket = driftBucket(view.bucket);
    await guarded(slot, async () => {
      const [overTime, distribution] = await Promise.all([
        get(`${this.page.ctx.path}/drift/over-time`, { query: { ...query, feature, bucket_size: bucket }, signal }),
        get(`${this.page.ctx.path}/drift/distribution`, { query: { ...query, feature }, signal }),
      ]);
      this.drawOverTime(grid, feature, overTime);
      this.drawDistribution(grid, feature, distribution);
    });
    busy.remove();
  }

  drawOverTime(grid, feature, answer) {
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
    drawLines(this.charts, slot, {
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
    drawBars(this.charts, slot, {
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
}

function sortLabel(metric) {
  return (DRIFT_SORTS.find(([key]) => key === metric) || [metric, metric])[1];
}
