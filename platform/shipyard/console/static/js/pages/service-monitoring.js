// A service's Monitoring tab: what `shipyard stats`, `shipyard drift` and `shipyard accuracy`
// show, as figures and charts (uPlot) over one window. The window (last 1h/24h/7d/30d, or a
// start and an end) and the bucket size live in the URL's query, with the drift and accuracy
// choices, so that a view is reachable by its URL (monitoring/window.js says how). This module
// composes the tab: the window picker, then the stats, drift and accuracy sections
// (monitoring/*.js), which share its view, its URL and its loads' AbortControllers.

import { AccuracySection } from "./monitoring/accuracy.js";
import { DriftSection } from "./monitoring/drift.js";
import { StatsSection } from "./monitoring/stats.js";
import { WindowPicker, bucketOf, fittingBucket, queryOf, viewFrom, windowOf } from "./monitoring/window.js";

export async function render(root, ctx) {
  const page = new MonitoringPage(root, ctx);
  await page.start();
  return () => page.destroy();
}

class MonitoringPage {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.view = viewFrom(ctx.query);
    this.view.bucket = fittingBucket(this.view);
    this.controllers = new Set();
    this.isModel = ctx.service.kind === "model";
  }

  async start() {
    this.picker = new WindowPicker(this);
    this.stats = new StatsSection(this);
    this.drift = new DriftSection(this);
    this.accuracy = new AccuracySection(this);
    this.root.append(this.picker.draw(), this.picker.slot, this.picker.text,
                     this.stats.summary, this.stats.overTime, this.drift.section, this.accuracy.section);
    await this.load();
  }

  destroy() {
    for (const controller of this.controllers) controller.abort();
    this.controllers.clear();
    for (const section of [this.stats, this.drift, this.accuracy]) section.destroy();
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

  /** Every section again, over the window the view says now. */
  async load() {
    this.window = windowOf(this.view, bucketOf(this.view.bucket).seconds);
    this.picker.showWindow(this.window);
    await Promise.all([this.stats.load(), this.drift.load(), this.accuracy.load()]);
  }
}
