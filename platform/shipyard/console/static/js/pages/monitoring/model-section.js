// What the Monitoring tab's model sections (drift, accuracy) share: a section of their own
// with its heading, a note in place of the figures for a service that is not a model's, the
// health line, a loading line, an error slot, a note when the service has no such data yet,
// and a view change (kept in the URL) that loads the section again.

import { append, clear, errorSlot, h } from "../../dom.js";
import { Charts } from "./charts.js";
import { sentence } from "./format.js";
import { guarded, healthLine, isAbsence, loading, note } from "./section.js";

/**
 * A section of `page` (which has `ctx`, `view`, `isModel`, `signal()` and `remember()`).
 * A subclass gives `id`, `title`, `health` (the label and the service's field of its health
 * line), `notModel` (the note for a service that is not a model's) and `fill(signal, busy)`,
 * and may give `controls()`.
 */
export class ModelSection {
  constructor(page, { id, title, health, notModel }) {
    this.page = page;
    this.id = id;
    this.title = title;
    this.health = health;
    this.notModel = notModel;
    this.charts = new Charts();
    this.section = h("section", { class: "insights-section", "aria-labelledby": id });
  }

  destroy() {
    this.charts.destroy();
  }

  async load() {
    this.controller = this.page.signal(this.controller);
    const { signal } = this.controller;
    this.charts.destroy();
    const heading = h("h2", { id: this.id }, this.title);
    if (!this.page.isModel) {
      clear(this.section).append(heading, note(this.notModel));
      return;
    }
    const slot = errorSlot();
    const busy = loading();
    const [label, field] = this.health;
    append(clear(this.section), [heading, healthLine(label, this.page.ctx.service[field]),
                                  this.controls(), slot, busy]);
    await guarded(slot, () => this.fill(signal, busy));
    busy.remove();
  }

  /** The section's own pickers, above its figures (none by default). */
  controls() {
    return null;
  }

  /**
   * Whether `error` only says the service has no such data, in which case a note in place
   * of the figures says so; any other error is for the caller to throw.
   */
  absent(error, busy) {
    if (!isAbsence(error)) return false;
    busy.remove();
    this.section.append(note(`No ${this.title.toLowerCase()} to show: ${sentence(error.message)}`));
    return true;
  }

  /** Change the view (kept in the URL) and load the section again. */
  change(changes) {
    this.page.view = { ...this.page.view, ...changes };
    this.page.remember();
    this.load();
  }
}
