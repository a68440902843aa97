// One model (/console/models/<name>): its versions, the details of one (features, target,
// problem type, packages, a summary of its baseline records), deploying a version as a
// model service, and replacing the model a service serves with a reason: the validation's
// checks first, then the replacement, followed until it is decided, and the history.

import { ApiError, get, post, seg } from "../api.js";
import {
  append, clear, errorSlot, field, formatBytes, formatTime, h, link, showError, table, toast, withBusy,
} from "../dom.js";
import { serviceUrl } from "./service.js";
import { projectLabel, projectNames, visibleProjects } from "./models.js";

const REASONS = [
  ["accuracy", "Accuracy"],
  ["data_drift", "Data drift"],
  ["errors", "Errors"],
  ["scheduled_refresh", "Scheduled refresh"],
  ["scoring_speed", "Scoring speed"],
  ["other", "Other"],
];
const POLL_MS = 2000;
const MAX_CATEGORIES_SHOWN = 5;

export async function render(root, ctx) {
  const [name] = ctx.params;
  const path = `/api/v1/models/${seg(name)}`;
  document.title = `${name} · Models · Shipyard`;
  const life = { controller: new AbortController(), timers: new Set() };
  let versions;
  try {
    ({ versions } = await get(path));
  } catch (error) {
    if (!(error instanceof ApiError) || ![403, 404].includes(error.status)) throw error;
    root.append(
      h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumbs" },
        link("/console/models", "Models"), " / ", h("span", {}, name)),
      h("h1", {}, name),
      h("p", { class: "error", role: "alert" }, error.message),
      h("p", {}, link("/console/models", "Back to the models")));
    return undefined;
  }
  const [projectList, environments, services] = await Promise.all([
    visibleProjects(), environmentsOrNone(), modelServices(),
  ]);
  const projects = projectNames(projectList);
  const newest = versions[versions.length - 1];
  const asked = Number(ctx.query.get("version"));
  const shown = versions.find((v) => v.version === asked) || newest;
  const page = { name, path, versions, projects, life };
  const past = h("section", { class: "card titled replacements", "aria-labelledby": "past-title",
                              hidden: !services.length });

  const details = h("section", { class: "card titled", "aria-labelledby": "version-title" });
  const versionsTable = h("div");
  const select = (version) => {
    drawVersions(versionsTable, page, version, select);
    drawDetails(details, page, version);
    const url = new URL(location.href);
    url.searchParams.set("version", String(version.version));
    history.replaceState(null, "", url.pathname + url.search);
  };
  root.append(
    h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumbs" },
      link("/console/models", "Models"), " / ", h("span", {}, name)),
    h("div", { class: "page-head" },
      h("h1", {}, name),
      h("span", { class: "badge kind-model" }, plural(versions.length, "version")),
      newest.description ? h("p", { class: "description" }, newest.description) : null),
    h("section", { class: "versions", "aria-labelledby": "versions-title" },
      h("h2", { id: "versions-title" }, "Versions"), versionsTable),
    details,
    h("div", { class: "grid model-actions" },
      deployCard(page, environments, projectList, ctx),
      replaceCard(page, services, past)),
    past,
  );
  drawVersions(versionsTable, page, shown, select);
  drawDetails(details, page, shown);
  return () => {
    life.controller.abort();
    for (const timer of life.timers) clearTimeout(timer);
  };
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

async function environmentsOrNone() {
  try {
    return await get("/api/v1/environments");
  } catch {
    return { default: "", environments: [] };
  }
}

async function modelServices() {
  try {
    return (await get("/api/v1/services", { query: { kind: "model" } })).services;
  } catch {
    return [];
  }
}

/** "iris", 2 -> "iris:2", as the API names a model version. */
function versionRef(name, number) {
  return `${name}:${number}`;
}

// -- versions and the details of one ---------------------------------------------------

function drawVersions(container, page, selected, select) {
  const rows = [...page.versions].reverse();
  clear(container).append(table([
    { label: "Version", value: (v) => `v${v.version}` },
    { label: "Uploaded", value: (v) => formatTime(v.created_at) },
    { label: "Problem type", value: (v) => v.problem_type },
    { label: "Features", value: (v) => String(v.features.length) },
    { label: "Baseline records", value: (v) => String(v.baseline_rows) },
    { label: "Size", value: (v) => formatBytes(v.size) },
    { label: "Details", value: (v) => {
      const current = v.version === selected.version;
      const button = h("button", {
        type: "button", "aria-pressed": current ? "true" : "false", class: current ? "primary" : null,
      }, `Show version ${v.version}`);
      button.addEventListener("click", () => select(v));
      return button;
    } },
  ], rows, { caption: `Versions of ${page.name}, newest first` }));
}

function drawDetails(section, page, version) {
  const baseline = h("div", { "aria-live": "polite" },
    h("p", { class: "loading" }, version.baseline_rows ? "Loading the baseline…" : ""));
  clear(section).append(
    h("h2", { id: "version-title" }, `Version ${version.version}`),
    h("dl", { class: "facts" },
      fact("Model version", h("code", {}, versionRef(page.name, version.version))),
      fact("Uploaded", formatTime(version.created_at)),
      fact("Problem type", version.problem_type),
      fact("Target", version.target || "none named"),
      fact("Packages", version.packages.length ? version.packages.join(", ") : "—"),
      fact("Description", version.description || "—"),
      fact("Project", projectLabel(version.project_id, page.projects)),
      fact("File", `${formatBytes(version.size)}, SHA-256 `, h("code", { class: "sha" }, version.sha256)),
      fact("Baseline records", String(version.baseline_rows))),
    baseline,
  );
  loadBaseline(baseline, page, version);
}

function fact(term, ...value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

async function loadBaseline(container, page, version) {
  let records = [];
  if (version.baseline_rows) {
    try {
      ({ records } = await get(`${page.path}/versions/${version.version}/baseline`,
                               { signal: page.life.controller.signal }));
    } catch (error) {
      if (error.name === "AbortError") return;
      clear(container).append(h("p", { class: "error", role: "alert" }, error.message));
      return;
    }
  }
  append(clear(container), [
    h("h3", {}, "Features"),
    table([
      { label: "Feature", value: (f) => h("code", {}, f.name) },
      { label: "Type", value: (f) => f.type },
      { label: "In the baseline", value: (f) => summary(records.map((r) => r[f.name]), f.type) },
    ], version.features, { caption: records.length
      ? `Features of version ${version.version}, with a summary of its ${plural(records.length, "baseline record")}`
      : `Features of version ${version.version} (no baseline records)` }),
    version.target && records.length ? h("p", {}, h("strong", {}, `Target ${version.target}: `),
      summary(records.map((r) => r[version.target]),
              version.problem_type === "regression" ? "number" : "string")) : null,
  ]);
}

/** A column of baseline values in a line: the range and mean, or the commonest values. */
function summary(values, type) {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (!present.length) return "—";
  if (type === "number" || type === "integer") {
    const numbers = present.map(Number).filter(Number.isFinite);
    if (numbers.length) {
      const mean = numbers.reduce((a, b) => a + b, 0) / numbers.length;
      return `min ${round(Math.min(...numbers))} · mean ${round(mean)} · max ${round(Math.max(...numbers))}`;
    }
  }
  const counts = new Map();
  for (const value of present) counts.set(String(value), (counts.get(String(value)) || 0) + 1);
  const commonest = [...counts].sort((a, b) => b[1] - a[1]);
  const shown = commonest.slice(0, MAX_CATEGORIES_SHOWN).map(([v, n]) => `${v} (${n})`).join(", ");
  const more = commonest.length > MAX_CATEGORIES_SHOWN ? `, and ${commonest.length - MAX_CATEGORIES_SHOWN} more` : "";
  return `${plural(commonest.length, "value")}: ${shown}${more}`;
}

function round(number) {
  return Number.isInteger(number) ? String(number) : number.toPrecision(4).replace(/\.?0+$/, "");
}

function versionSelect(page, name) {
  return h("select", { name },
    [...page.versions].reverse().map((v, index) =>
      h("option", { value: String(v.version) }, `v${v.version}${index === 0 ? " (newest)" : ""}`)));
}

// -- deploy ---------------------------------------------------------------------------

function deployCard(page, environments, projectList, ctx) {
  const version = versionSelect(page, "version");
  const service = h("input", { name: "service", value: page.name, autocomplete: "off",
                               spellcheck: "false", required: true });
  const environment = h("select", { name: "environment" },
    h("option", { value: "" }, environments.default ? `Default (${environments.default})` : "Default"),
    environments.environments.map((e) => h("option", { value: e.name },
      e.description ? `${e.name} — ${e.description}` : e.name)));
  const project = h("select", { name: "project" },
    h("option", { value: "" }, "Default (your own)"),
    projectList.map((p) => h("option", { value: p.name }, p.name)));
  const slot = errorSlot();
  const button = h("button", { type: "submit", class: "primary" }, "Deploy");
  const form = h("form", { novalidate: true, class: "card titled", "aria-labelledby": "deploy-title" },
    h("h2", { id: "deploy-title" }, "Deploy a version"),
    h("p", { class: "hint" },
      "Makes a model service that serves the version, or a new generation of the model service of that name."),
    field("Version to deploy", version),
    field("Service name", service, "An existing model service of this name gets a new generation."),
    field("Environment", environment),
    field("Project", project, "Where a new service goes."),
    slot,
    h("div", { class: "actions" }, button));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(button, async () => {
      const body = { version: Number(version.value), service: service.value.trim() || undefined,
                     environment: environment.value || undefined, project: project.value || undefined };
      const answer = await post(`${page.path}/deploy`, body);
      toast(`Deploying ${versionRef(page.name, body.version)} as ${answer.service} ${answer.generation.tag}.`);
      ctx.navigate(serviceUrl(answer.service));
    }, { slot, busyText: "Deploying…" });
  });
  return form;
}

// -- replace the model of a service ------------------------------------------------------

/** The replacement form; `past` shows the chosen service's replacements. */
function replaceCard(page, services, past) {
  const card = h("section", { class: "card titled", "aria-labelledby": "replace-title" },
    h("h2", { id: "replace-title" }, "Replace the model of a service"));
  if (!services.length) {
    card.append(h("p", { class: "empty" },
      "No model service yet: deploy a version first, then replace its model here."));
    return card;
  }
  const service = h("select", { name: "service" },
    services.map((s) => h("option", { value: s.name }, s.name)));
  if (services.some((s) => s.name === page.name)) service.value = page.name;
  const version = versionSelect(page, "replacement_version");
  const reason = h("select", { name: "reason", required: true },
    REASONS.map(([value, text]) => h("option", { value }, text)));
  const note = h("textarea", { name: "note", rows: "2", maxlength: "1000" });
  const slot = errorSlot();
  const outcome = h("div", { class: "replacement-outcome", "aria-live": "polite" });
  const validate = h("button", { type: "button" }, "Validate");
  const replace = h("button", { type: "submit", class: "primary" }, "Replace model");
  const chosen = () => ({ service: service.value, model: page.name, version: Number(version.value) });

  validate.addEventListener("click", () => withBusy(validate, async () => {
    const plan = await post(replacementsPath(service.value) + "/validate",
                            { model: page.name, version: Number(version.value) });
    drawPlan(outcome, plan);
  }, { slot, busyText: "Validating…" }));

  const form = h("form", { novalidate: true, "aria-label": "Replace the model of a service" },
    h("p", { class: "hint" },
      "A model service's model version is swapped for one of this model's. The new version is first checked against the serving one (same features, target and problem type); a failing check blocks it. The old generation keeps serving until the new one has predicted on its baseline."),
    field("Service", service),
    field("New model version", version),
    field("Reason", reason),
    field("Note (optional)", note),
    slot,
    h("div", { class: "actions" }, validate, replace),
    outcome);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const target = chosen();
    withBusy(replace, async () => {
      try {
        const replacement = await post(replacementsPath(target.service), {
          model: target.model, version: target.version, reason: reason.value,
          note: note.value.trim() || undefined,
        });
        drawReplacement(outcome, replacement);
        follow(page, target.service, replacement.id, outcome, past);
      } catch (error) {
        if (error instanceof ApiError && error.type === "ReplacementBlocked") {
          await showBlocked(outcome, target.service);
        }
        throw error;
      } finally {
        await drawHistory(past, target.service);
      }
    }, { slot, busyText: "Replacing…" });
  });
  service.addEventListener("change", () => {
    clear(outcome);
    showError(slot, null);
    drawHistory(past, service.value);
  });
  version.addEventListener("change", () => {
    clear(outcome);
    showError(slot, null);
  });
  card.append(form);
  drawHistory(past, service.value);
  return card;
}

function replacementsPath(service) {
  return `/api/v1/services/${seg(service)}/model-replacements`;
}

/** A validation's dry run: the versions it would swap and each check. */
function drawPlan(container, plan) {
  clear(container).append(
    h("p", {}, "Replacing ", h("code", {}, plan.from_model_version || "nothing"), " by ",
      h("code", {}, plan.to_model_version), ` on ${plan.service}: `,
      statusBadge(plan.validation.status)),
    checksTable(plan.validation));
}

function drawReplacement(container, replacement) {
  clear(container).append(
    h("p", {}, `Replacement ${replacement.id} of `, h("code", {}, replacement.from_model_version || "nothing"),
      " by ", h("code", {}, replacement.to_model_version), ": ", stateBadge(replacement.state),
      replacement.message && replacement.state !== "blocked" ? ` ${replacement.message}` : "",
      replacement.generation
        ? [" · ", link(serviceUrl(replacement.service, "builds"), `Build log of ${replacement.generation}`)]
        : null),
    checksTable(replacement.validation));
}

/** After a blocked replacement, the validation that blocked it (the newest recorded). */
async function showBlocked(container, service) {
  try {
    const { replacements } = await get(replacementsPath(service));
    const newest = replacements[0];
    if (newest && newest.state === "blocked") drawReplacement(container, newest);
  } catch {
    // the error itself is shown already
  }
}

/** Poll a replacement until it is decided (replaced or failed), redrawing it each time. */
function follow(page, service, id, outcome, past) {
  const poll = async () => {
    page.life.timers.delete(timer);
    if (page.life.controller.signal.aborted) return;
    let replacement;
    try {
      replacement = await get(`${replacementsPath(service)}/${seg(id)}`,
                              { signal: page.life.controller.signal });
    } catch (error) {
      if (error.name !== "AbortError") toast(error.message, "error");
      return;
    }
    drawReplacement(outcome, replacement);
    if (replacement.state === "validating") {
      timer = setTimeout(poll, POLL_MS);
      page.life.timers.add(timer);
      return;
    }
    toast(`Replacement ${replacement.state}: ${replacement.to_model_version} on ${service}.`,
          replacement.state === "replaced" ? "info" : "error");
    await drawHistory(past, service);
  };
  let timer = setTimeout(poll, POLL_MS);
  page.life.timers.add(timer);
}

async function drawHistory(container, service) {
  let replacements;
  try {
    ({ replacements } = await get(replacementsPath(service)));
  } catch (error) {
    clear(container).append(h("h2", { id: "past-title" }, `Past replacements of ${service}`),
                            h("p", { class: "error", role: "alert" }, error.message));
    return;
  }
  clear(container).append(
    h("h2", { id: "past-title" }, `Past replacements of ${service}`),
    table([
      { label: "When", value: (r) => formatTime(r.created_at) },
      { label: "Reason", value: (r) => reasonLabel(r.reason) },
      { label: "From", value: (r) => h("code", {}, r.from_model_version || "—") },
      { label: "To", value: (r) => h("code", {}, r.to_model_version) },
      { label: "State", value: (r) => stateBadge(r.state) },
      { label: "Checks", value: (r) => checksDisclosure(r) },
      { label: "By", value: (r) => r.created_by },
      { label: "Note and message", value: (r) => [r.note, r.note && r.message ? " — " : "", r.message] },
    ], replacements, { caption: `Model replacements of ${service}, newest first`,
                       empty: `No replacement of ${service}'s model yet.` }));
}

function checksDisclosure(replacement) {
  return h("details", {},
    h("summary", {}, statusBadge(replacement.validation.status)),
    checksTable(replacement.validation));
}

function reasonLabel(reason) {
  const found = REASONS.find(([value]) => value === reason);
  return found ? found[1] : reason;
}

const STATUS_SHOWN = {
  passing: ["✓ pass", "ok"],
  warning: ["! warning", "warn"],
  failing: ["✗ fail", "bad"],
};

function statusBadge(status) {
  const [text, kind] = STATUS_SHOWN[status] || [status, ""];
  return h("span", { class: `badge ${kind}` }, text);
}

function stateBadge(state) {
  const kind = { replaced: "ok", validating: "warn", blocked: "bad", failed: "bad" }[state] || "";
  return h("span", { class: `badge ${kind}` }, state);
}

/** Each check of a validation: its name, pass or fail, and its message. */
function checksTable(validation) {
  return h("ul", { class: "check-list", "aria-label": "Validation checks" },
    validation.checks.map((check) => h("li", { class: `check check-${check.status}` },
      statusBadge(check.status), " ", h("strong", {}, check.name), ": ", check.message)));
}
