// The model registry (/console/models): every model the caller may see with its newest
// version, each linking to its own page, and the form that uploads a trained model (a
// joblib or pickle file with its metadata: features, target, problem type, packages,
// description and baseline records) as a new model or a new version of one.

import { ApiError, csrfToken, get, seg } from "../api.js";
import { clear, errorSlot, field, h, link, showError, table, toast } from "../dom.js";

const FEATURE_TYPES = ["number", "integer", "string", "boolean"];
const PROBLEM_TYPES = ["classification", "regression"];
const DEFAULT_PACKAGES = ["joblib", "pandas", "scikit-learn"];

/** The console page of one model. */
export function modelUrl(name) {
  return `/console/models/${seg(name)}`;
}

/** The projects the caller sees (none if they cannot be read). */
export async function visibleProjects() {
  try {
    return (await get("/iam/projects")).projects;
  } catch {
    return [];
  }
}

/** Project id -> name. */
export function projectNames(projects) {
  return new Map(projects.map((p) => [p.id, p.name]));
}

export async function render(root) {
  document.title = "Models · Shipyard";
  const registry = h("section", { class: "registry", "aria-labelledby": "registry-title" });
  const projectList = await visibleProjects();
  const projects = projectNames(projectList);
  async function refresh() {
    const { models } = await get("/api/v1/models");
    drawRegistry(registry, models, projects);
    return models;
  }
  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Models")),
    h("p", { class: "hint" },
      "Trained models and their versions. Open a model to see its versions, deploy one as a ",
      "model service, or replace the model a service serves."),
    registry,
    uploadCard(projectList, refresh),
  );
  await refresh();
}

// -- the registry ---------------------------------------------------------------------

function drawRegistry(section, models, projects) {
  clear(section).append(
    h("h2", { id: "registry-title" }, "Registry"),
    table([
      { label: "Model", value: (m) => link(modelUrl(m.name), m.name) },
      { label: "Newest version", value: (m) => `v${m.latest_version}` },
      { label: "Versions", value: (m) => String(m.versions) },
      { label: "Project", value: (m) => projectLabel(m.project_id, projects) },
    ], models, { caption: "Models", empty: "No model yet: upload one below." }),
  );
}

export function projectLabel(id, projects) {
  if (!id) return "—";
  return projects.get(id) || id;
}

// -- the upload form ------------------------------------------------------------------

/** What the form holds beside its fields: the baseline records read from a file. */
function uploadState() {
  return { baseline: null, baselineFrom: "" };
}

function uploadCard(projects, refresh) {
  const state = uploadState();
  const controls = uploadControls(projects);
  const baselineNote = h("p", { class: "hint", id: "baseline-note", "aria-live": "polite" },
                         "No baseline records yet.");
  const slot = errorSlot();
  const done = h("p", { class: "success", role: "status", hidden: true });
  const progress = h("progress", { max: "100", value: "0", "aria-label": "Upload progress",
                                   hidden: true });
  const progressText = h("span", { class: "hint", "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary" }, "Upload model");

  controls.metadataFile.addEventListener("change", () =>
    readMetadataFile(controls, state, baselineNote, slot));
  controls.baselineFile.addEventListener("change", () =>
    readBaselineFile(controls, state, baselineNote, slot));
  controls.modelFile.addEventListener("change", () => {
    const file = controls.modelFile.files[0];
    if (file && !controls.name.value) controls.name.value = nameFromFile(file.name);
  });

  const form = h("form", { class: "card titled upload-form", "aria-labelledby": "upload-title",
                           novalidate: true },
    h("h2", { id: "upload-title" }, "Upload a model"),
    h("p", { class: "hint" },
      "A new name makes a new model; the name of an existing model adds a version to it."),
    h("div", { class: "grid" },
      h("div", {},
        field("Model file", controls.modelFile, "The trained model, saved with joblib or pickle."),
        field("Model name", controls.name, "Lowercase letters, digits and hyphens."),
        field("Problem type", controls.problemType),
        field("Target", controls.target, "The column the model predicts (optional)."),
        field("Description", controls.description),
        field("Project", controls.project, "Where a new model goes; a new version stays in its model's project.")),
      h("div", {},
        field("Metadata file (optional)", controls.metadataFile,
              ["A JSON object as ", h("code", {}, "shipyard models upload --metadata"),
               " reads it; it fills in the fields below."]),
        field("Features", controls.features,
              "One per line: name, or name: type (number, integer, string or boolean)."),
        field("Packages", controls.packages,
              "One per line; empty for the defaults (joblib, pandas, scikit-learn)."),
        field("Baseline records (optional)", controls.baselineFile,
              "CSV with a header row, or JSON records: a sample of the training data, kept for monitoring. Columns that are neither a feature nor the target are left out."),
        baselineNote)),
    slot, done,
    h("div", { class: "actions" }, button, progress, progressText));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(slot, null);
    done.hidden = true;
    let payload;
    try {
      payload = uploadPayload(controls, state);
    } catch (error) {
      showError(slot, error);
      return;
    }
    const label = button.textContent;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = "Uploading…";
    progress.hidden = false;
    progress.value = 0;
    progressText.textContent = "Uploading… 0%";
    try {
      const version = await uploadWithProgress(payload, (fraction) => {
        const percent = Math.round(fraction * 100);
        progress.value = percent;
        progressText.textContent = percent < 100 ? `Uploading… ${percent}%` : "Storing…";
      });
      clear(done).append(`Uploaded ${version.name} version ${version.version}. `,
                         link(modelUrl(version.name), `Open ${version.name}`));
      done.hidden = false;
      toast(`Uploaded ${version.name}:${version.version}.`);
      resetForm(form, state, baselineNote);
      await refresh();
    } catch (error) {
      showError(slot, error);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      button.textContent = label;
      progress.hidden = true;
      progressText.textContent = "";
    }
  });
  return form;
}

function uploadControls(projects) {
  return {
    modelFile: h("input", { type: "file", name: "model", required: true,
                            accept: ".joblib,.pkl,.pickle,.sav,application/octet-stream" }),
    name: h("input", { name: "name", required: true, autocomplete: "off", spellcheck: "false",
                       maxlength: "63" }),
    problemType: h("select", { name: "problem_type" },
      PROBLEM_TYPES.map((type) => h("option", { value: type }, type))),
    target: h("input", { name: "target", autocomplete: "off", spellcheck: "false" }),
    description: h("input", { name: "description", autocomplete: "off" }),
    project: h("select", { name: "project" },
      h("option", { value: "" }, "Default (your own)"),
      projects.map((p) => h("option", { value: p.name }, p.name))),
    metadataFile: h("input", { type: "file", name: "metadata_file", accept: ".json,application/json" }),
    features: h("textarea", { name: "features", rows: "6", spellcheck: "false",
                              placeholder: "sepal_length: number\nsepal_width: number" }),
    packages: h("textarea", { name: "packages", rows: "3", spellcheck: "false",
                              placeholder: DEFAULT_PACKAGES.join("\n") }),
    baselineFile: h("input", { type: "file", name: "baseline_file",
                               accept: ".csv,.json,text/csv,application/json" }),
  };
}

function resetForm(form, state, baselineNote) {
  form.reset();
  Object.assign(state, uploadState());
  baselineNote.textContent = "No baseline records yet.";
}

/** `iris-v2.joblib` -> `iris-v2`: a model name from a file's name, as far as it can. */
function nameFromFile(fileName) {
  return fileName.replace(/\.[^.]*$/, "").toLowerCase().replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-").replace(/^-|-$/g, "").slice(0, 63);
}

async function readMetadataFile(controls, state, note, slot) {
  const file = controls.metadataFile.files[0];
  if (!file) return;
  showError(slot, null);
  try {
    const metadata = JSON.parse(await file.text());
    if (!metadata || typeof metadata !== "object" || Array.isArray(metadata)) {
      throw new Error(`${file.name} must hold a JSON object`);
    }
    fillFromMetadata(controls, metadata);
    if (Array.isArray(metadata.baseline)) {
      state.baseline = { kind: "records", records: metadata.baseline };
      state.baselineFrom = file.name;
      note.textContent = `${metadata.baseline.length} baseline records from ${file.name}.`;
    }
  } catch (error) {
    showError(slot, new Error(`Cannot read ${file.name}: ${error.message}`));
  }
}

function fillFromMetadata(controls, metadata) {
  if (typeof metadata.name === "string" && !controls.name.value) controls.name.value = metadata.name;
  if (Array.isArray(metadata.features)) {
    controls.features.value = metadata.features
      .map((f) => (typeof f === "string" ? f : `${f.name}: ${f.type || "number"}`)).join("\n");
  }
  if (typeof metadata.target === "string") controls.target.value = metadata.target;
  if (PROBLEM_TYPES.includes(metadata.problem_type)) controls.problemType.value = metadata.problem_type;
  if (Array.isArray(metadata.packages)) controls.packages.value = metadata.packages.join("\n");
  if (typeof metadata.description === "string") controls.description.value = metadata.description;
}

async function readBaselineFile(controls, state, note, slot) {
  const file = controls.baselineFile.files[0];
  if (!file) return;
  showError(slot, null);
  try {
    const text = await file.text();
    const json = file.name.toLowerCase().endsWith(".json") || /^\s*[[{]/.test(text);
    if (json) {
      const records = JSON.parse(text);
      if (!Array.isArray(records)) throw new Error("the JSON must be a list of records");
      state.baseline = { kind: "records", records };
    } else {
      const rows = parseCsv(text);
      if (rows.length < 1) throw new Error("the CSV has no header row");
      state.baseline = { kind: "csv", header: rows[0], rows: rows.slice(1) };
    }
    state.baselineFrom = file.name;
    const count = state.baseline.kind === "csv" ? state.baseline.rows.length
      : state.baseline.records.length;
    note.textContent = `${count} baseline records from ${file.name}.`;
    if (!controls.features.value.trim()) {
      controls.features.value = inferFeatures(state.baseline, controls.target.value.trim())
        .map((f) => `${f.name}: ${f.type}`).join("\n");
    }
  } catch (error) {
    state.baseline = null;
    note.textContent = "No baseline records yet.";
    showError(slot, new Error(`Cannot read ${file.name}: ${error.message}`));
  }
}

/** The features a baseline's columns suggest (every column but the target). */
function inferFeatures(baseline, target) {
  const records = baseline.kind === "csv" ? baseline.rows.map((row) => csvRecord(baseline.header, row))
    : baseline.records.filter((r) => r && typeof r === "object");
  const names = baseline.kind === "csv" ? baseline.header
    : [...new Set(records.flatMap((r) => Object.keys(r)))];
  return names.filter((name) => name && name !== target)
    .map((name) => ({ name, type: inferType(records.map((r) => r[name])) }));
}

function inferType(values) {
  const present = values.filter((v) => v !== undefined && v !== null && v !== "");
  if (!present.length) return "string";
  const text = present.map(String);
  if (text.every((v) => v === "true" || v === "false")) return "boolean";
  if (text.every((v) => /^-?\d+$/.test(v))) return "integer";
  if (text.every((v) => v.trim() !== "" && Number.isFinite(Number(v)))) return "number";
  return "string";
}

/** RFC 4180 CSV: rows of cells, with quoted cells that may hold commas, quotes and newlines. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  const body = text.replace(/^\uFEFF/, "");
  for (let i = 0; i < body.length; i += 1) {
    const c = body[i];
    if (quoted) {
      if (c === '"' && body[i + 1] === '"') { cell += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(cell); cell = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && body[i + 1] === "\n") i += 1;
      row.push(cell); rows.push(row); row = []; cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
  return rows.filter((r) => r.length > 1 || r[0] !== "");
}

function csvRecord(header, row) {
  return Object.fromEntries(header.map((name, index) => [name, row[index]]));
}

function parseFeatures(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line, index) => {
    const match = line.match(/^([^:,\s]+)\s*(?:[:,\s]\s*(\S+))?$/);
    if (!match) throw new Error(`Feature line ${index + 1} is not "name" or "name: type": ${line}`);
    const type = (match[2] || "number").toLowerCase();
    if (!FEATURE_TYPES.includes(type)) {
      throw new Error(`Feature ${match[1]} has the unknown type ${type}; known: ${FEATURE_TYPES.join(", ")}`);
    }
    return { name: match[1], type };
  });
}

/** A CSV cell as the value a feature of `type` holds (numbers and booleans typed). */
function typedCell(value, type) {
  if (value === undefined || value === "") return type === "string" ? (value ?? null) : null;
  if (type === "number" || type === "integer") {
    const number = Number(value);
    return value.trim() !== "" && Number.isFinite(number) ? number : value;
  }
  if (type === "boolean") return value === "true" ? true : value === "false" ? false : value;
  return value;
}

function targetCell(value) {
  if (value === undefined || value === "") return null;
  const number = Number(value);
  return value.trim() !== "" && Number.isFinite(number) ? number : value;
}

function baselineRecords(baseline, features, target) {
  if (!baseline) return [];
  if (baseline.kind === "records") return baseline.records;
  const types = new Map(features.map((f) => [f.name, f.type]));
  return baseline.rows.map((row) => {
    const record = {};
    baseline.header.forEach((name, index) => {
      if (types.has(name)) record[name] = typedCell(row[index], types.get(name));
      else if (target && name === target) record[name] = targetCell(row[index]);
    });
    return record;
  });
}

/** The multipart body of the upload, or an error naming what the form lacks. */
function uploadPayload(controls, state) {
  const file = controls.modelFile.files[0];
  if (!file) throw new Error("Choose the model file to upload.");
  const name = controls.name.value.trim();
  if (!name) throw new Error("Give the model a name.");
  const features = parseFeatures(controls.features.value);
  if (!features.length) throw new Error("Name the model's features, one per line.");
  const target = controls.target.value.trim();
  const packages = controls.packages.value.split("\n").map((p) => p.trim()).filter(Boolean);
  const metadata = {
    name, features, target, problem_type: controls.problemType.value,
    description: controls.description.value.trim(),
    baseline: baselineRecords(state.baseline, features, target),
  };
  if (packages.length) metadata.packages = packages;
  if (controls.project.value) metadata.project = controls.project.value;
  const body = new FormData();
  body.append("metadata", JSON.stringify(metadata));
  body.append("model", file, file.name);
  return body;
}

/**
 * POST the upload with XMLHttpRequest, whose upload events tell the progress that fetch
 * does not; answers the new version, or throws the API's error as an ApiError.
 */
function uploadWithProgress(body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/models");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch (error) {
          reject(error);
        }
        return;
      }
      reject(errorOfXhr(xhr));
    });
    xhr.addEventListener("error", () => reject(new Error("The upload failed: Shipyard cannot be reached.")));
    xhr.addEventListener("abort", () => reject(new Error("The upload was cancelled.")));
    xhr.send(body);
  });
}

function errorOfXhr(xhr) {
  let type = "HTTPError";
  let message = `${xhr.status} ${xhr.statusText}`;
  try {
    const answer = JSON.parse(xhr.responseText);
    if (answer && answer.error) {
      type = answer.error.type || type;
      message = answer.error.message || message;
    }
  } catch {
    // not JSON: keep the status line
  }
  if (xhr.status === 401) {
    window.dispatchEvent(new CustomEvent("shipyard:signed-out", { detail: message }));
  }
  return new ApiError(xhr.status, type, message);
}
