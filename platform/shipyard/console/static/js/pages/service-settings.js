// A service's Settings tab: what PATCH /api/v1/services/<name> changes, one section at a
// time (each saves on its own, shows its progress and the API's error where it was saved):
// name and description, access level, data collection, environment and packages, its
// environment variables (NAME=value lines: `env`, all of them at once), the names of its
// secrets (never their values; set with `shipyard secrets set`), health
// thresholds, and the monitoring settings (`shipyard services update --monitoring`):
// association id columns, drift, prediction warnings, monitoring health. Then a danger
// zone: undeploy, and delete the service (confirmed by typing its name).
// An empty number field sends null: the setting goes back to its default.

import { del, get, patch, post } from "../api.js";
import { clear, errorSlot, field, formatTime, h, table, toast, uid, withBusy } from "../dom.js";
import { serviceUrl } from "./service.js";

const ACCESS_LEVELS = [
  ["public", "Public", "Anyone who can reach the gateway may call it, without signing."],
  ["instance", "Instance", "Any user of this Shipyard, and any service's instance."],
  ["project", "Project", "Its project's collaborators, the project's services and holders of its API keys."],
];
const ACCURACY_METRICS = ["accuracy", "balanced_accuracy", "precision", "recall", "f1", "auc",
                          "log_loss", "rmse", "mae", "mape", "r2", "gamma_deviance"];

export async function render(root, ctx) {
  const page = new SettingsPage(root, ctx);
  await page.draw();
  return () => page.destroy();
}

// -- small builders ------------------------------------------------------------------------

function numberInput(name, value, { min, max, step = "any" } = {}) {
  return h("input", { type: "number", name, inputmode: "decimal", step, min, max,
                      value: value === null || value === undefined ? "" : String(value) });
}

/** A field's number, or null when it is empty (the API's default); NaN is refused. */
function numberOf(input, label) {
  const text = input.value.trim();
  if (text === "") return null;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`${label}: give a number, or leave it empty for the default.`);
  return value;
}

function toggle(label, checked, name) {
  const input = h("input", { type: "checkbox", name, checked: Boolean(checked) });
  return { input, node: h("div", { class: "settings-switch" }, h("label", { class: "switch" }, input, label)) };
}

function columnsOf(text) {
  return text.split(",").map((part) => part.trim()).filter(Boolean);
}

function packagesOf(text) {
  return text.split("\n").map((line) => line.trim()).filter((line) => line && !line.startsWith("#"));
}

/** NAME=value lines as the API's `env`; a line without a name and "=" is refused, named. */
function variablesOf(text) {
  const env = {};
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith("#")) continue;
    const at = trimmed.indexOf("=");
    if (at <= 0) throw new Error(`Variables: "${trimmed}" is not NAME=value.`);
    env[trimmed.slice(0, at).trim()] = trimmed.slice(at + 1);
  }
  return env;
}

function variableLines(env) {
  return Object.entries(env || {}).map(([name, value]) => `${name}=${value}`).join("\n");
}

// -- the page ------------------------------------------------------------------------------

class SettingsPage {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.service = ctx.service;
    this.controller = new AbortController();
  }

  destroy() {
    this.controller.abort();
  }

  async draw() {
    const environments = await get("/api/v1/environments", { signal: this.controller.signal })
      .catch(() => null);
    this.root.append(
      h("p", { class: "hint" }, "Each section saves on its own. Monitoring and health changes "
        + "count from the next call, without a redeploy; the environment, packages and variables "
        + "from the next build."),
      this.general(),
      this.access(),
      this.dataCollection(),
      this.environment(environments),
      this.variables(),
      this.secrets(),
      this.associationIds(),
      ...(this.service.kind === "model"
        ? [this.drift(), this.predictionWarnings(), this.monitoringHealth()]
        : [h("p", { class: "hint" }, "Drift, prediction warnings and accuracy health are "
            + "settings of model services.")]),
      this.healthThresholds(),
      this.dangerZone(),
    );
  }

  /**
   * One section: a form with its fields and its own Save button; `changes()` says what
   * PATCH sends (it may throw to refuse), `refill(service)` puts the saved values back.
   */
  section({ title, description, save, fields, changes, refill, afterSave }) {
    const headingId = uid("settings");
    const button = h("button", { type: "submit", class: "primary" }, save);
    const slot = errorSlot();
    const saved = h("p", { class: "settings-saved", role: "status" });
    // novalidate: the API's own message says what is wrong, where the section was saved.
    const form = h("form", { class: "card settings-section", "aria-labelledby": headingId, novalidate: true },
      h("h2", { id: headingId }, title),
      description ? h("p", { class: "hint" }, description) : null,
      fields,
      slot,
      h("div", { class: "actions" }, button, saved));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      saved.textContent = "";
      withBusy(button, async () => {
        const body = changes();
        const updated = await patch(this.ctx.path, body);
        this.service = { ...this.service, ...updated };
        if (refill) refill(this.service);
        saved.textContent = `Saved at ${new Date().toLocaleTimeString()}.`;
        if (afterSave) await afterSave(updated);
      }, { slot, busyText: "Saving…" });
    });
    return form;
  }

  general() {
    const name = h("input", { name: "name", value: this.service.name, autocomplete: "off",
                              required: true, maxlength: "63", spellcheck: "false" });
    const description = h("input", { name: "description", value: this.service.description || "",
                                     maxlength: "500" });
    return this.section({
      title: "General",
      save: "Save general settings",
      fields: [
        field("Service name", name, "A lowercase DNS label. Renaming changes the service's URLs "
          + "(its callers must use the new one)."),
        field("Description", description, "One line, 500 characters at most."),
      ],
      changes: () => {
        const body = { description: description.value };
        if (name.value.trim() !== this.service.name) body.name = name.value.trim();
        return body;
      },
      refill: (service) => {
        name.value = service.name;
        description.value = service.description || "";
      },
      afterSave: async (updated) => {
        if (updated.name !== this.ctx.name) {
          toast(`Renamed to ${updated.name}.`);
          this.ctx.navigate(serviceUrl(updated.name, "settings"));
        } else {
          await this.ctx.reload().catch(() => {});
        }
      },
    });
  }

  access() {
    const group = uid("access");
    const radios = ACCESS_LEVELS.map(([value]) => h("input", {
      type: "radio", name: group, value, checked: this.service.access_level === value,
    }));
    const options = ACCESS_LEVELS.map(([value, label, hint], index) => {
      const hintId = uid("hint");
      radios[index].setAttribute("aria-describedby", hintId);
      return h("div", { class: "settings-radio" },
        h("label", {}, radios[index], label),
        h("small", { class: "hint", id: hintId }, hint));
    });
    return this.section({
      title: "Access",
      description: "Who may call the service through the gateway. Collaborators always manage it.",
      save: "Save access level",
      fields: h("fieldset", {}, h("legend", {}, "Access level"), options),
      changes: () => ({ access_level: radios.find((r) => r.checked)?.value || "project" }),
      refill: (service) => {
        for (const radio of radios) radio.checked = radio.value === service.access_level;
      },
    });
  }

  dataCollection() {
    const collect = toggle("Collect prediction data", this.service.collect_prediction_data,
                           "collect_prediction_data");
    return this.section({
      title: "Data collection",
      description: "Keep each call's request and answer in the query log (for exports and "
        + "replays), besides its line of stats.",
      save: "Save data collection",
      fields: collect.node,
      changes: () => ({ collect_prediction_data: collect.input.checked }),
      refill: (service) => { collect.input.checked = Boolean(service.collect_prediction_data); },
    });
  }

  environment(catalog) {
    const names = catalog ? catalog.environments.map((env) => env.name) : [];
    if (this.service.environment && !names.includes(this.service.environment)) names.unshift(this.service.environment);
    const environment = h("select", { name: "environment" },
      names.map((name) => h("option", { value: name, selected: name === this.service.environment },
                            describeEnvironment(catalog, name))));
    const packages = h("textarea", { name: "packages", rows: "4", spellcheck: "false" },
                       (this.service.packages || []).join("\n"));
    const runner = h("select", { name: "runner" },
      [["", "The platform's default"], ["local", "local"], ["docker", "docker"]].map(([value, label]) =>
        h("option", { value, selected: (this.service.runner || "") === value }, label)));
    return this.section({
      title: "Environment",
      description: "What the next build installs and where its instances run.",
      save: "Save environment",
      fields: [
        field("Environment", environment, "Its CPU, memory and GPU."),
        field("Packages", packages, "One PEP 508 requirement a line, such as flask>=3."),
        field("Runner", runner),
      ],
      changes: () => ({ environment: environment.value, packages: packagesOf(packages.value),
                        runner: runner.value }),
      refill: (service) => {
        environment.value = service.environment;
        packages.value = (service.packages || []).join("\n");
        runner.value = service.runner || "";
      },
    });
  }

  variables() {
    const text = h("textarea", { name: "env", rows: "4", spellcheck: "false", autocomplete: "off" },
                   variableLines(this.service.env));
    return this.section({
      title: "Environment variables",
      description: "Environment variables its code reads (os.environ), from its next deploy on; "
        + "each generation keeps its own, and a rollback brings them back. Not for secrets: "
        + "collaborators read them, and the build log shows them.",
      save: "Save variables",
      fields: field("Variables", text, "One NAME=value a line."),
      changes: () => ({ env: variablesOf(text.value) }),
      refill: (service) => { text.value = variableLines(service.env); },
    });
  }

  /** Its secrets by name: a value is never answered, nor typed here (the CLI reads it). */
  secrets() {
    const headingId = uid("settings");
    const body = h("div", {}, h("p", { class: "hint" }, "Loading…"));
    get(`${this.ctx.path}/secrets`, { signal: this.controller.signal }).then((answer) => {
      const waiting = new Set(answer.waiting);
      clear(body);
      body.append(table([
        { label: "Name", value: (secret) => secret.name },
        { label: "Set", value: (secret) => formatTime(secret.updated_at) },
        { label: "In what serves", value: (secret) => (waiting.has(secret.name)
          ? "Not yet: at the next deploy" : "Yes") },
      ], answer.secrets, { caption: "Secrets", empty: "No secrets." }));
    }).catch((error) => {
      if (error.name === "AbortError") return;
      clear(body);
      body.append(h("p", { class: "hint" }, `The secrets could not be listed: ${error.message}`));
    });
    return h("section", { class: "card settings-section", "aria-labelledby": headingId },
      h("h2", { id: headingId }, "Secrets"),
      h("p", { class: "hint" }, "Given to its code as environment variables from its next "
        + "deploy on, sealed at rest, never shown again. Set one from a terminal:"),
      h("p", {}, h("code", {}, `shipyard secrets set ${this.service.name} NAME`)),
      body);
  }

  associationIds() {
    const monitoring = this.service.monitoring || {};
    const columns = h("input", { name: "association_id_columns", autocomplete: "off", spellcheck: "false",
                                 value: (monitoring.association_id_columns || []).join(", ") });
    const required = toggle("Required in prediction requests", monitoring.required_in_prediction_requests,
                            "required_in_prediction_requests");
    return this.section({
      title: "Association ids",
      description: "The columns of each record that identify it, to join actuals (true outcomes) "
        + "to its prediction. They are not features: the model never sees them.",
      save: "Save association ids",
      fields: [
        field("Association id columns", columns, "Comma-separated, up to 10, such as order_id."),
        required.node,
      ],
      changes: () => ({ monitoring: {
        association_id_columns: columnsOf(columns.value),
        required_in_prediction_requests: required.input.checked,
      } }),
      refill: (service) => {
        columns.value = (service.monitoring.association_id_columns || []).join(", ");
        required.input.checked = Boolean(service.monitoring.required_in_prediction_requests);
      },
    });
  }

  drift() {
    const monitoring = this.service.monitoring || {};
    const t = monitoring.drift_thresholds || {};
    const features = toggle("Track feature drift", monitoring.feature_drift, "feature_drift");
    const target = toggle("Track target drift", monitoring.target_drift, "target_drift");
    const psi = numberInput("psi", t.psi, { min: "0", max: "100" });
    const js = numberInput("js_distance", t.js_distance, { min: "0", max: "1" });
    const pValue = numberInput("p_value", t.p_value, { min: "0", max: "1" });
    const minRows = numberInput("min_rows", t.min_rows, { min: "1", max: "1000000", step: "1" });
    return this.section({
      title: "Drift",
      description: "A feature drifted at a PSI or a Jensen-Shannon distance at or over these, or a "
        + "test's p-value under the p-value divided by the features tested. Empty: the default.",
      save: "Save drift settings",
      fields: [
        features.node, target.node,
        h("fieldset", {}, h("legend", {}, "Drift thresholds"),
          h("div", { class: "settings-fields" },
            field("PSI threshold", psi, "0 to 100 (default 0.2)"),
            field("Jensen-Shannon threshold", js, "0 to 1 (default 0.1)"),
            field("p-value threshold", pValue, "0 to 1 (default 0.05)"),
            field("Minimum rows", minRows, "Fewer rows are too few to judge (default 100)"))),
      ],
      changes: () => ({ monitoring: {
        feature_drift: features.input.checked,
        target_drift: target.input.checked,
        drift_thresholds: {
          psi: numberOf(psi, "PSI threshold"), js_distance: numberOf(js, "Jensen-Shannon threshold"),
          p_value: numberOf(pValue, "p-value threshold"), min_rows: numberOf(minRows, "Minimum rows"),
        },
      } }),
      refill: (service) => {
        const m = service.monitoring;
        features.input.checked = m.feature_drift;
        target.input.checked = m.target_drift;
        psi.value = m.drift_thresholds.psi;
        js.value = m.drift_thresholds.js_distance;
        pValue.value = m.drift_thresholds.p_value;
        minRows.value = m.drift_thresholds.min_rows;
      },
    });
  }

  predictionWarnings() {
    const w = (this.service.monitoring || {}).prediction_warnings || {};
    const enabled = toggle("Flag unusual predictions", w.enabled, "prediction_warnings_enabled");
    const flagInputs = toggle("Flag inputs outside the baseline's", w.flag_inputs, "flag_inputs");
    const lower = numberInput("lower", w.lower);
    const upper = numberInput("upper", w.upper);
    const margin = numberInput("margin", w.margin, { min: "0", max: "10" });
    const confidence = numberInput("min_confidence", w.min_confidence, { min: "0", max: "1" });
    return this.section({
      title: "Prediction warnings",
      description: "A flagged prediction still answers, with an X-Shipyard-Prediction-Warning header.",
      save: "Save prediction warnings",
      fields: [
        enabled.node, flagInputs.node,
        h("div", { class: "settings-fields" },
          field("Lower bound", lower, "A regression's lowest expected prediction; empty: the baseline's"),
          field("Upper bound", upper, "Its highest; empty: the baseline's"),
          field("Margin", margin, "Past the baseline target's range, as a share of it (default 0.1)"),
          field("Minimum confidence", confidence, "A classification's top probability under this is flagged (default 0.5)")),
      ],
      changes: () => ({ monitoring: { prediction_warnings: {
        enabled: enabled.input.checked, flag_inputs: flagInputs.input.checked,
        lower: numberOf(lower, "Lower bound"), upper: numberOf(upper, "Upper bound"),
        margin: numberOf(margin, "Margin"), min_confidence: numberOf(confidence, "Minimum confidence"),
      } } }),
      refill: (service) => {
        const now = service.monitoring.prediction_warnings;
        enabled.input.checked = now.enabled;
        flagInputs.input.checked = now.flag_inputs;
        lower.value = now.lower ?? "";
        upper.value = now.upper ?? "";
        margin.value = now.margin;
        confidence.value = now.min_confidence;
      },
    });
  }

  monitoringHealth() {
    const m = (this.service.monitoring || {}).health || {};
    const hours = numberInput("window_hours", m.window_hours, { min: "1", max: "8784", step: "1" });
    const important = numberInput("important_feature", m.important_feature, { min: "0", max: "1" });
    const metric = h("select", { name: "accuracy_metric" },
      h("option", { value: "" }, "The problem type's (accuracy or RMSE)"),
      ACCURACY_METRICS.map((name) => h("option", { value: name, selected: m.accuracy_metric === name }, name)));
    const warning = numberInput("accuracy_warning", m.accuracy_warning, { min: "0", max: "10" });
    const failing = numberInput("accuracy_failing", m.accuracy_failing, { min: "0", max: "10" });
    return this.section({
      title: "Drift and accuracy health",
      description: "What the service's drift health and accuracy health are judged by.",
      save: "Save drift and accuracy health",
      fields: h("div", { class: "settings-fields" },
        field("Health window (hours)", hours, "Looked back over, up to now (default 24)"),
        field("Important feature", important, "A drifted feature this important fails drift health (default 0.2)"),
        field("Accuracy metric", metric),
        field("Accuracy warning", warning, "Relative degradation from the baseline's (0.05: 5% worse)"),
        field("Accuracy failing", failing, "Relative degradation that fails (default 0.10)")),
      changes: () => ({ monitoring: { health: {
        window_hours: numberOf(hours, "Health window"),
        important_feature: numberOf(important, "Important feature"),
        accuracy_metric: metric.value || null,
        accuracy_warning: numberOf(warning, "Accuracy warning"),
        accuracy_failing: numberOf(failing, "Accuracy failing"),
      } } }),
      refill: (service) => {
        const now = service.monitoring.health;
        hours.value = now.window_hours;
        important.value = now.important_feature;
        metric.value = now.accuracy_metric || "";
        warning.value = now.accuracy_warning;
        failing.value = now.accuracy_failing;
      },
    });
  }

  healthThresholds() {
    const t = this.service.health_thresholds || {};
    const level = (key) => t[key] || {};
    const inputs = {
      window_minutes: numberInput("window_minutes", t.window_minutes, { min: "1", max: "10080", step: "1" }),
      min_requests: numberInput("min_requests", t.min_requests, { min: "1", step: "1" }),
      slow_request_ms: numberInput("slow_request_ms", t.slow_request_ms, { min: "0" }),
      server_warning: numberInput("server_error_rate_warning", level("server_error_rate").warning, { min: "0" }),
      server_failing: numberInput("server_error_rate_failing", level("server_error_rate").failing, { min: "0" }),
      user_warning: numberInput("user_error_rate_warning", level("user_error_rate").warning, { min: "0" }),
      user_failing: numberInput("user_error_rate_failing", level("user_error_rate").failing, { min: "0" }),
      p90_warning: numberInput("response_time_p90_ms_warning", level("response_time_p90_ms").warning, { min: "0" }),
      p90_failing: numberInput("response_time_p90_ms_failing", level("response_time_p90_ms").failing, { min: "0" }),
    };
    const pair = (label, warning, failing, hint) => h("fieldset", {}, h("legend", {}, label),
      h("div", { class: "settings-fields" },
        field(`${label}: warning over`, warning, hint), field(`${label}: failing over`, failing, hint)));
    return this.section({
      title: "Health thresholds",
      description: "The service's health over its last calls. Empty: the default.",
      save: "Save health thresholds",
      fields: [
        h("div", { class: "settings-fields" },
          field("Health window (minutes)", inputs.window_minutes),
          field("Minimum requests", inputs.min_requests, "Fewer calls: health unknown"),
          field("Slow request (ms)", inputs.slow_request_ms, "Calls over this count as slow")),
        pair("Server error rate", inputs.server_warning, inputs.server_failing, "A share: 0.01 is 1%"),
        pair("User error rate", inputs.user_warning, inputs.user_failing, "A share: 0.1 is 10%"),
        pair("Response time p90 (ms)", inputs.p90_warning, inputs.p90_failing),
      ],
      changes: () => ({ health_thresholds: {
        window_minutes: numberOf(inputs.window_minutes, "Health window"),
        min_requests: numberOf(inputs.min_requests, "Minimum requests"),
        slow_request_ms: numberOf(inputs.slow_request_ms, "Slow request"),
        server_error_rate: { warning: numberOf(inputs.server_warning, "Server error rate: warning"),
                             failing: numberOf(inputs.server_failing, "Server error rate: failing") },
        user_error_rate: { warning: numberOf(inputs.user_warning, "User error rate: warning"),
                           failing: numberOf(inputs.user_failing, "User error rate: failing") },
        response_time_p90_ms: { warning: numberOf(inputs.p90_warning, "Response time p90: warning"),
                                failing: numberOf(inputs.p90_failing, "Response time p90: failing") },
      } }),
      refill: (service) => {
        const now = service.health_thresholds;
        inputs.window_minutes.value = now.window_minutes;
        inputs.min_requests.value = now.min_requests;
        inputs.slow_request_ms.value = now.slow_request_ms;
        inputs.server_warning.value = now.server_error_rate.warning;
        inputs.server_failing.value = now.server_error_rate.failing;
        inputs.user_warning.value = now.user_error_rate.warning;
        inputs.user_failing.value = now.user_error_rate.failing;
        inputs.p90_warning.value = now.response_time_p90_ms.warning;
        inputs.p90_failing.value = now.response_time_p90_ms.failing;
      },
    });
  }

  // -- danger zone --

  dangerZone() {
    const headingId = uid("danger");
    const box = h("section", { class: "card settings-section settings-danger", "aria-labelledby": headingId },
      h("h2", { id: headingId }, "Danger zone"));
    if (this.service.deployed) box.append(this.undeployPart());
    box.append(this.deletePart());
    return box;
  }

  undeployPart() {
    const slot = errorSlot();
    const button = h("button", { type: "button", class: "danger" }, "Undeploy");
    const area = h("div", { class: "actions" }, button);
    button.addEventListener("click", () => {
      const confirm = h("button", { type: "button", class: "danger solid" }, "Undeploy now");
      const cancel = h("button", { type: "button" }, "Cancel");
      cancel.addEventListener("click", () => {
        clear(area).append(button);
        button.focus();
      });
      confirm.addEventListener("click", () => withBusy(confirm, async () => {
        await post(`${this.ctx.path}/undeploy`);
        toast(`${this.service.name} is stopping.`);
        this.service = { ...this.service, deployed: false };
        await this.ctx.reload().catch(() => {});
        clear(area).append(h("p", { class: "settings-saved", role: "status" },
          "Undeployed: its instances are stopping. It can be deleted once they have stopped."));
      }, { slot, busyText: "Undeploying…" }));
      clear(area).append(h("span", {}, "Stop serving it? Its calls are refused until it is deployed again."),
                         confirm, cancel);
      confirm.focus();
    });
    return h("div", { class: "settings-danger-part" },
      h("h3", {}, "Undeploy"),
      h("p", { class: "hint" }, "Stop serving the service; its generations are kept."),
      area, slot);
  }

  deletePart() {
    const name = this.service.name;
    const slot = errorSlot();
    const typed = h("input", { name: "confirm_name", autocomplete: "off", spellcheck: "false" });
    const button = h("button", { type: "submit", class: "danger solid", disabled: true }, "Delete service");
    typed.addEventListener("input", () => { button.disabled = typed.value !== name; });
    const form = h("form", { class: "settings-danger-part", "aria-label": "Delete service" },
      h("h3", {}, "Delete service"),
      h("p", { class: "hint" }, "Deletes the service with its files and generations; its calls stay "
        + "in the query log. A deployed service must be undeployed first."),
      field(`Type ${name} to confirm`, typed),
      h("div", { class: "actions" }, button),
      slot);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (typed.value !== name) return;
      withBusy(button, async () => {
        await del(this.ctx.path);
        toast(`Deleted ${name}.`);
        this.ctx.navigate("/console/services");
      }, { slot, busyText: "Deleting…" }).finally(() => { button.disabled = typed.value !== name; });
    });
    return form;
  }
}

function describeEnvironment(catalog, name) {
  const env = catalog?.environments.find((e) => e.name === name);
  if (!env) return name;
  const memory = env.memory_bytes ? `${Math.round(env.memory_bytes / 2 ** 20)} MiB` : "";
  const gpu = env.gpu ? `, ${env.gpu} GPU` : "";
  return `${name} (${env.cpu} CPU${memory ? `, ${memory}` : ""}${gpu})`;
}
