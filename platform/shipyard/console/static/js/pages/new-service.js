// A new service (/console/services/new), two ways: from a template (its kind, name,
// environment, packages and description; POST /api/v1/services), then on to its code;
// or from a registered model's version (POST /api/v1/models/<name>/deploy), which creates
// the model service and deploys it, then on to the service. ?model=<name>&version=<n>
// picks the model and version beforehand (a model's page can link here).

import { get, post, seg } from "../api.js";
import { clear, errorSlot, field, h, link, showError, withBusy } from "../dom.js";
import { serviceUrl } from "./service.js";

const NAME_PATTERN = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
const NAME_HINT = "Lowercase letters, digits and single hyphens, up to 63 characters (a DNS label).";
const ACCESS_LEVELS = [
  ["project", "project: the project's members"],
  ["instance", "instance: every user of this Shipyard"],
  ["public", "public: anyone, without signing"],
];

export async function render(root, ctx) {
  document.title = "New service · Shipyard";
  const [environments, projects, models] = await Promise.all([
    get("/api/v1/environments"),
    get("/iam/projects").then((a) => a.projects, () => []),
    get("/api/v1/models").then((a) => a.models, () => []),
  ]);
  root.append(
    h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumbs" },
      link("/console/services", "Services"), " / ", h("span", {}, "New service")),
    h("h1", {}, "New service"),
    h("div", { class: "grid new-service" },
      templateForm(environments, projects, ctx),
      modelForm(environments, projects, models, ctx)),
  );
  const first = root.querySelector("input[name=name]");
  if (first) first.focus();
}

// -- from a template ---------------------------------------------------------------------

function templateForm(environments, projects, ctx) {
  const controls = {
    kind: h("select", { name: "kind" },
      h("option", { value: "custom" }, "custom: your own Flask code"),
      h("option", { value: "model" }, "model: serves a trained model")),
    name: nameInput("name"),
    environment: environmentSelect(environments),
    packages: h("textarea", { name: "packages", rows: "4", spellcheck: "false",
                              placeholder: "flask>=3\nnumpy" }),
    description: h("input", { name: "description", autocomplete: "off", maxlength: "500" }),
    access: h("select", { name: "access_level" },
      ACCESS_LEVELS.map(([value, text]) => h("option", { value, selected: value === "project" }, text))),
    project: projectSelect(projects),
  };
  const slot = errorSlot();
  const button = h("button", { type: "submit", class: "primary" }, "Create service");
  const form = h("form", { class: "card", "aria-labelledby": "from-template-title", novalidate: true },
    h("h2", { id: "from-template-title" }, "From a template"),
    h("p", { class: "hint" },
      "Starts from the kind's template; edit its code next, then deploy it."),
    field("Kind", controls.kind),
    field("Name", controls.name, NAME_HINT),
    field("Environment", controls.environment, "The resources each instance gets."),
    field("Packages", controls.packages, "One requirement per line, as pip reads it; optional."),
    field("Description", controls.description),
    field("Access level", controls.access, "Who may call the service."),
    projects.length > 1 ? field("Project", controls.project) : null,
    slot,
    h("div", { class: "actions" }, button));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(button, async () => {
      const spec = templateSpec(controls, projects.length > 1);
      const service = await post("/api/v1/services", spec);
      ctx.navigate(serviceUrl(service.name, "code"));
    }, { slot, busyText: "Creating…" });
  });
  return form;
}

/** The ServiceSpec the form asks for; an invalid name is refused here, before the API. */
function templateSpec(controls, withProject) {
  checkName(controls.name);
  const spec = {
    name: controls.name.value.trim(),
    kind: controls.kind.value,
    environment: controls.environment.value,
    packages: linesOf(controls.packages.value),
    description: controls.description.value.trim(),
    access_level: controls.access.value,
  };
  if (withProject && controls.project.value) spec.project = controls.project.value;
  return spec;
}

function linesOf(text) {
  return text.split("\n").map((line) => line.trim()).filter((line) => line && !line.startsWith("#"));
}

// -- from a model ------------------------------------------------------------------------

function modelForm(environments, projects, models, ctx) {
  const title = h("h2", { id: "from-model-title" }, "From a model");
  if (!models.length) {
    return h("section", { class: "card", "aria-labelledby": "from-model-title" }, title,
      h("p", { class: "empty" }, "No model in the registry yet. ",
        link("/console/models", "Upload one on the Models page"), "."));
  }
  const wanted = { model: ctx.query.get("model"), version: ctx.query.get("version") };
  const controls = {
    model: h("select", { name: "model" },
      models.map((m) => h("option", { value: m.name, selected: m.name === wanted.model }, m.name))),
    version: h("select", { name: "version" }),
    service: nameInput("service", false),
    environment: environmentSelect(environments),
    project: projectSelect(projects),
  };
  const versionNote = h("p", { class: "hint version-note", "aria-live": "polite" });
  const slot = errorSlot();
  const button = h("button", { type: "submit", class: "primary" }, "Create and deploy");
  const form = h("form", { class: "card", "aria-labelledby": "from-model-title", novalidate: true },
    title,
    h("p", { class: "hint" },
      "Creates the model service of a version (or updates it if it exists) and deploys it."),
    field("Model", controls.model),
    field("Version", controls.version),
    versionNote,
    field("Service name", controls.service, "Empty for the model's own name."),
    field("Environment", controls.environment),
    projects.length > 1 ? field("Project", controls.project, "A new service's project.") : null,
    slot,
    h("div", { class: "actions" }, button));

  let versions = [];
  async function loadVersions() {
    const name = controls.model.value;
    clear(controls.version).append(h("option", { value: "" }, "Loading…"));
    controls.version.disabled = true;
    showError(slot, null);
    try {
      versions = (await get(`/api/v1/models/${seg(name)}`)).versions;
      if (controls.model.value !== name) return;
      const chosen = versions.some((v) => String(v.version) === wanted.version)
        ? wanted.version : String(versions.at(-1)?.version);
      clear(controls.version).append(...versions.slice().reverse().map((v, index) =>
        h("option", { value: String(v.version), selected: String(v.version) === chosen },
          `v${v.version}${index === 0 ? " (newest)" : ""}`)));
      controls.service.placeholder = name;
      describeVersion();
    } catch (error) {
      clear(controls.version);
      showError(slot, error);
    } finally {
      controls.version.disabled = false;
    }
  }
  function describeVersion() {
    const chosen = versions.find((v) => String(v.version) === controls.version.value);
    versionNote.textContent = chosen
      ? `${chosen.problem_type}, ${chosen.features.length} features`
        + `${chosen.target ? `, predicts ${chosen.target}` : ""}`
        + `${chosen.description ? `: ${chosen.description}` : ""}`
      : "";
  }
  controls.model.addEventListener("change", loadVersions);
  controls.version.addEventListener("change", describeVersion);
  loadVersions();

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(button, async () => {
      if (controls.service.value.trim()) checkName(controls.service);
      const body = { environment: controls.environment.value };
      if (controls.version.value) body.version = Number(controls.version.value);
      if (controls.service.value.trim()) body.service = controls.service.value.trim();
      if (projects.length > 1 && controls.project.value) body.project = controls.project.value;
      const answer = await post(`/api/v1/models/${seg(controls.model.value)}/deploy`, body);
      ctx.navigate(serviceUrl(answer.service));
    }, { slot, busyText: "Deploying…" });
  });
  return form;
}

// -- shared controls ----------------------------------------------------------------------

function nameInput(name, required = true) {
  return h("input", { name, required, autocomplete: "off", spellcheck: "false",
                      autocapitalize: "none", maxlength: "63", pattern: NAME_PATTERN });
}

function checkName(input) {
  const value = input.value.trim();
  if (!value) throw new Error("A name is needed.");
  if (!new RegExp(`^${NAME_PATTERN}$`).test(value) || value.includes("--")) {
    input.focus();
    throw new Error(`${JSON.stringify(value)} is not a valid name. ${NAME_HINT}`);
  }
}

function environmentSelect(answer) {
  return h("select", { name: "environment" },
    answer.environments.map((e) => h("option", { value: e.name, selected: e.name === answer.default },
      `${e.name}: ${e.cpu} CPU, ${formatMemory(e.memory_bytes)}${e.gpu ? `, ${e.gpu} GPU` : ""}`
      + `${e.description ? ` (${e.description})` : ""}`)));
}

function projectSelect(projects) {
  return h("select", { name: "project" },
    h("option", { value: "" }, "Default (your own)"),
    projects.map((p) => h("option", { value: p.name }, p.name)));
}

function formatMemory(bytes) {
  const gib = bytes / 1024 ** 3;
  return gib >= 1 ? `${Math.round(gib * 10) / 10} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`;
}
