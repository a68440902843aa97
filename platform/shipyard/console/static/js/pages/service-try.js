// A service's "Try it" tab: a form that calls the live generation through the gateway
// (/user-services/invoke/<name><path>) with the browser's session, and shows the status,
// the generation that answered (X-Shipyard-Generation) and the answer.
//
// A model service gets one input per feature of its model and a Predict button; a custom
// service gets a route picker built from its live generation's OpenAPI document, with an
// input per path or query parameter and per property of a JSON object body (else a JSON
// text area).

import { csrfToken, get, seg } from "../api.js";
import { clear, errorSlot, field, h, link, showError, uid, withBusy } from "../dom.js";
import { serviceUrl } from "./service.js";

const METHODS = ["get", "post", "put", "patch", "delete"];
const PREDICT_PATH = "/api/v1.0/predict/";
const WAIT_MS = 2000;
const WAIT_POLLS = 300;

// ---- OpenAPI reading -------------------------------------------------------------------

function resolve(document, schema, depth = 0) {
  if (!schema || typeof schema !== "object" || depth > 10) return schema || {};
  if (typeof schema.$ref === "string" && schema.$ref.startsWith("#/")) {
    const target = schema.$ref.slice(2).split("/")
      .reduce((node, key) => (node ? node[key.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined), document);
    return resolve(document, target, depth + 1);
  }
  if (Array.isArray(schema.allOf)) {
    const merged = { type: "object", properties: {}, required: [] };
    for (const part of schema.allOf.map((p) => resolve(document, p, depth + 1))) {
      Object.assign(merged.properties, part.properties || {});
      merged.required.push(...(part.required || []));
    }
    return merged;
  }
  return schema;
}

/** Every operation of the document: {method, path, operation, parameters}. */
function operationsOf(document) {
  const found = [];
  for (const [path, item] of Object.entries(document.paths || {})) {
    for (const method of METHODS) {
      const operation = item && item[method];
      if (!operation) continue;
      const parameters = [...(item.parameters || []), ...(operation.parameters || [])]
        .map((p) => resolve(document, p))
        .filter((p) => p && (p.in === "path" || p.in === "query"));
      found.push({ method, path, operation, parameters });
    }
  }
  return found;
}

/** The JSON example of a media type: its `example`, else its first `examples` value. */
function exampleOf(media, schema) {
  if (!media) return undefined;
  if ("example" in media) return media.example;
  const first = Object.values(media.examples || {})[0];
  if (first && "value" in first) return first.value;
  if (schema && "example" in schema) return schema.example;
  return undefined;
}

/** The operation to show first: one with a JSON body example (as the CLI picks), else the first. */
function preferredIndex(operations) {
  const withExample = operations.findIndex((o) => {
    const media = ((o.operation.requestBody || {}).content || {})["application/json"];
    return media && exampleOf(media) !== undefined && !o.path.includes("{");
  });
  return withExample >= 0 ? withExample : 0;
}

// ---- Inputs ----------------------------------------------------------------------------

function typeOf(schema) {
  if (!schema) return "any";
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== "null") || "any";
  return schema.type || (schema.properties ? "object" : "any");
}

/** A control for one value of a schema, prefilled, and how to read its value back. */
function valueControl(name, schema, initial) {
  const type = typeOf(schema);
  let control;
  let read;
  if (Array.isArray(schema.enum) && schema.enum.length) {
    control = h("select", { name },
      h("option", { value: "" }, "—"),
      schema.enum.map((choice, index) => h("option", {
        value: String(index), selected: initial !== undefined && choice === initial,
      }, JSON.stringify(choice))));
    read = () => (control.value === "" ? undefined : schema.enum[Number(control.value)]);
  } else if (type === "boolean") {
    control = h("select", { name },
      h("option", { value: "" }, "—"),
      h("option", { value: "true", selected: initial === true }, "true"),
      h("option", { value: "false", selected: initial === false }, "false"));
    read = () => (control.value === "" ? undefined : control.value === "true");
  } else if (type === "number" || type === "integer") {
    control = h("input", { name, type: "number", step: type === "integer" ? "1" : "any",
                           inputmode: type === "integer" ? "numeric" : "decimal",
                           value: typeof initial === "number" ? String(initial) : null });
    read = () => (control.value === "" || Number.isNaN(control.valueAsNumber) ? undefined
      : control.valueAsNumber);
  } else if (type === "string") {
    control = h("input", { name, type: "text", autocomplete: "off",
                           value: typeof initial === "string" ? initial : null });
    read = () => (control.value === "" ? undefined : control.value);
  } else {
    control = h("textarea", { name, rows: "3", spellcheck: "false" },
      initial === undefined ? "" : JSON.stringify(initial, null, 2));
    read = () => (control.value.trim() === "" ? undefined : parseJson(control.value, name));
  }
  return { control, read };
}

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${what} is not valid JSON: ${error.message}`);
  }
}

function hintOf(schema, required) {
  const parts = [typeOf(schema)];
  if (required) parts.push("required");
  if (schema.description) parts.push(schema.description);
  return parts.join(" · ");
}

// ---- Calling the service ---------------------------------------------------------------

/** One call through the gateway, with the session; resolves to what to show. */
async function invoke(name, method, path, { body, contentType } = {}) {
  const headers = { Accept: "application/json, text/plain;q=0.9, */*;q=0.5" };
  if (body !== undefined) headers["Content-Type"] = contentType || "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  const started = performance.now();
  const response = await fetch(`/user-services/invoke/${seg(name)}${path}`, {
    method, headers, body, credentials: "same-origin",
  });
  const text = await response.text();
  return {
    status: response.status,
    statusText: response.statusText,
    ok: response.ok,
    generation: response.headers.get("X-Shipyard-Generation"),
    contentType: response.headers.get("Content-Type") || "",
    ms: Math.round(performance.now() - started),
    text,
  };
}

function answerText(result) {
  if (result.contentType.includes("json")) {
    try {
      return JSON.stringify(JSON.parse(result.text), null, 2);
    } catch {
      // not JSON after all: show it as it came
    }
  }
  return result.text;
}

/** The result area: a status line and the answer (an <output> named "Answer"). */
function resultArea() {
  const status = h("p", { class: "try-status", "aria-live": "polite" });
  const summary = h("p", { class: "try-summary", hidden: true });
  const answer = h("output", { class: "try-answer", "aria-label": "Answer", tabindex: "0" });
  const section = h("section", { class: "try-result card", "aria-label": "Result" },
    h("h2", {}, "Answer"), status, summary, answer);
  return {
    section,
    show(result, summaryText) {
      status.textContent = "";
      status.append(
        h("span", { class: `badge ${result.ok ? "ok" : "bad"} try-code` }, `${result.status} ${result.statusText}`),
        result.generation ? ` · answered by ${result.generation}` : "",
        ` · ${result.ms} ms`);
      summary.textContent = summaryText || "";
      summary.hidden = !summaryText;
      answer.textContent = answerText(result);
    },
  };
}

// ---- Model services ----------------------------------------------------------------------

/** The model's features [{name, type}] and an example record, from its version and its docs. */
async function modelInputs(ctx, document) {
  const predict = ((document.paths || {})[PREDICT_PATH] || {}).post || {};
  const media = ((predict.requestBody || {}).content || {})["application/json"] || {};
  const example = exampleOf(media);
  const record = Array.isArray(example) && example[0] && typeof example[0] === "object" ? example[0] : {};
  let features = null;
  let model = null;
  try {
    const builds = (await get(`${ctx.path}/builds`)).builds;
    const live = builds.find((b) => b.tag === ctx.service.live_generation);
    if (live && live.model_version) {
      const [modelName, version] = live.model_version.split(":");
      const details = await get(`/api/v1/models/${seg(modelName)}/versions/${seg(version)}`);
      features = details.features;
      model = `${details.name} version ${details.version}`;
    }
  } catch {
    // fall back on the documentation's record schema
  }
  if (!features) {
    const schema = resolve(document, media.schema);
    const records = (schema.oneOf || [schema]).map((s) => resolve(document, s)).find((s) => s.type === "array");
    const properties = records ? resolve(document, records.items).properties || {} : {};
    features = Object.entries(properties).map(([name, s]) => ({ name, type: typeOf(s) }));
  }
  return { features, record, model };
}

function predictionSummary(result) {
  try {
    const answer = JSON.parse(result.text);
    if (!answer || !Array.isArray(answer.predictions) || !answer.predictions.length) return "";
    let text = `Prediction: ${JSON.stringify(answer.predictions[0])}`;
    const probabilities = answer.probabilities && answer.probabilities[0];
    if (Array.isArray(probabilities) && probabilities.length) {
      text += ` (probability ${Math.max(...probabilities).toFixed(3)})`;
    }
    return text;
  } catch {
    return "";
  }
}

async function renderModelForm(panel, ctx, document) {
  const { features, record, model } = await modelInputs(ctx, document);
  if (!features.length) {
    panel.append(h("p", { class: "empty" }, "The model's features are not known: use the custom form below."));
    return false;
  }
  const reads = features.map((feature) => {
    const { control, read } = valueControl(feature.name, { type: feature.type }, record[feature.name]);
    control.id = uid("feature");
    return { name: feature.name, read, node: field(feature.name, control, feature.type || "any") };
  });
  const slot = errorSlot();
  const button = h("button", { type: "submit", class: "primary" }, "Predict");
  const result = resultArea();
  const form = h("form", { class: "card try-form", "aria-labelledby": "try-model-title" },
    h("h2", { id: "try-model-title" }, model ? `Predict with ${model}` : "Predict"),
    h("p", { class: "hint" }, `One record, sent as JSON to POST ${PREDICT_PATH}. Prefilled with a record of the model's baseline where there is one.`),
    h("div", { class: "try-fields" }, reads.map((r) => r.node)),
    slot,
    h("div", { class: "actions" }, button));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(button, async () => {
      const row = {};
      for (const { name, read } of reads) {
        const value = read();
        if (value !== undefined) row[name] = value;
      }
      const answer = await invoke(ctx.name, "POST", PREDICT_PATH, { body: JSON.stringify([row]) });
      result.show(answer, answer.ok ? predictionSummary(answer) : "");
    }, { slot, busyText: "Predicting…" });
  });
  panel.append(form, result.section);
  return true;
}

// ---- Custom services ---------------------------------------------------------------------

function bodyInputs(document, operation) {
  const content = (operation.requestBody || {}).content || {};
  const type = Object.keys(content).find((t) => t.includes("json")) || Object.keys(content)[0];
  if (!type) return null;
  const media = content[type];
  const schema = resolve(document, media.schema);
  const example = exampleOf(media, schema);
  const required = new Set(schema.required || []);
  if (type.includes("json") && typeOf(schema) === "object" && schema.properties
      && Object.keys(schema.properties).length) {
    const fields = Object.entries(schema.properties).map(([name, property]) => {
      const resolved = resolve(document, property);
      const initial = example && typeof example === "object" ? example[name]
        : (resolved.example ?? resolved.default);
      const { control, read } = valueControl(name, resolved, initial);
      control.id = uid("body");
      return { name, read, node: field(name, control, hintOf(resolved, required.has(name))) };
    });
    return {
      contentType: type,
      nodes: [h("fieldset", { class: "try-body" }, h("legend", {}, `Body (${type})`), fields.map((f) => f.node))],
      read() {
        const body = {};
        for (const { name, read } of fields) {
          const value = read();
          if (value !== undefined) body[name] = value;
        }
        return JSON.stringify(body);
      },
    };
  }
  const initial = example === undefined ? "" : (typeof example === "string" && !type.includes("json")
    ? example : JSON.stringify(example, null, 2));
  const area = h("textarea", { name: "body", rows: "8", spellcheck: "false" }, initial);
  return {
    contentType: type,
    nodes: [field(`Request body (${type})`, area)],
    read() {
      if (type.includes("json") && area.value.trim()) parseJson(area.value, "The request body");
      return area.value;
    },
  };
}

function parameterInputs(document, parameters) {
  return parameters.map((parameter) => {
    const schema = resolve(document, parameter.schema || {});
    const initial = parameter.example ?? schema.example ?? schema.default;
    const { control, read } = valueControl(parameter.name, schema, initial);
    control.id = uid("param");
    if (parameter.required || parameter.in === "path") control.required = true;
    const hint = `${parameter.in} parameter · ${hintOf(schema, parameter.required || parameter.in === "path")}`;
    return { parameter, read, node: field(parameter.name, control, hint) };
  });
}

/** The path with its parameters filled in, and its query string. */
function callPath(path, parameterFields) {
  let filled = path;
  const query = new URLSearchParams();
  for (const { parameter, read } of parameterFields) {
    const value = read();
    if (parameter.in === "path") {
      if (value === undefined) throw new Error(`Fill in the path parameter ${parameter.name}.`);
      filled = filled.replace(`{${parameter.name}}`, encodeURIComponent(String(value)));
    } else if (value !== undefined) {
      query.set(parameter.name, typeof value === "string" ? value : JSON.stringify(value));
    }
  }
  const text = query.toString();
  return text ? `${filled}?${text}` : filled;
}

function renderCustomForm(panel, ctx, document) {
  const operations = operationsOf(document);
  if (!operations.length) {
    panel.append(h("p", { class: "empty" }, "The live generation documents no route."));
    return;
  }
  const picker = h("select", { name: "route" }, operations.map((o, index) => h("option", { value: String(index) },
    `${o.method.toUpperCase()} ${o.path}${o.operation.summary ? ` — ${o.operation.summary}` : ""}`)));
  picker.value = String(preferredIndex(operations));
  const inputs = h("div", { class: "try-fields" });
  const description = h("p", { class: "hint try-description" });
  const slot = errorSlot();
  const button = h("button", { type: "submit", class: "primary" }, "Send");
  const result = resultArea();
  let current = null;

  function drawOperation() {
    const chosen = operations[Number(picker.value)];
    const parameters = parameterInputs(document, chosen.parameters);
    const body = bodyInputs(document, chosen.operation);
    current = { chosen, parameters, body };
    description.textContent = chosen.operation.description || chosen.operation.summary || "";
    clear(inputs).append(...parameters.map((p) => p.node), ...(body ? body.nodes : []));
    if (!parameters.length && !body) inputs.append(h("p", { class: "hint" }, "This route takes no input."));
    showError(slot, null);
  }

  const form = h("form", { class: "card try-form", "aria-labelledby": "try-route-title" },
    h("h2", { id: "try-route-title" }, "Call a route"),
    field("Route", picker),
    description,
    inputs,
    slot,
    h("div", { class: "actions" }, button));
  picker.addEventListener("change", drawOperation);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(button, async () => {
      const { chosen, parameters, body } = current;
      const path = callPath(chosen.path, parameters);
      const options = body ? { body: body.read(), contentType: body.contentType } : {};
      result.show(await invoke(ctx.name, chosen.method.toUpperCase(), path, options));
    }, { slot, busyText: "Sending…" });
  });
  drawOperation();
  panel.append(form, result.section);
}

// ---- The tab -----------------------------------------------------------------------------

/** Wait while a first generation is being deployed; the service once it serves (or not). */
async function serving(ctx, note, signal) {
  let service = ctx.service;
  for (let poll = 0; poll < WAIT_POLLS && !service.live_generation; poll += 1) {
    const deploying = service.target_generation && !["failed", "crashed", "stopped"].includes(service.state);
    if (!deploying) break;
    note.textContent = `Waiting for ${service.target_generation} to serve…`;
    await new Promise((resolve) => setTimeout(resolve, WAIT_MS));
    if (signal.aborted) return null;
    service = await get(ctx.path, { signal });
  }
  note.textContent = "";
  return service;
}

export async function render(root, ctx) {
  const controller = new AbortController();
  const note = h("p", { class: "hint", role: "status" });
  const panel = h("div", { class: "try-panel" });
  root.append(note, panel);

  (async () => {
    const service = await serving(ctx, note, controller.signal);
    if (!service || controller.signal.aborted) return;
    if (!service.live_generation) {
      panel.append(h("p", { class: "empty" }, `${ctx.name} serves no generation yet: deploy it from the `,
        link(serviceUrl(ctx.name, "code"), "Code tab"), ", then try it here."));
      return;
    }
    const document = await get(`${ctx.path}/openapi.json`, { signal: controller.signal });
    if (controller.signal.aborted) return;
    panel.append(h("p", { class: "hint" },
      `Calls ${service.live_generation} (the live generation) through the gateway at `,
      h("code", {}, `/user-services/invoke/${ctx.name}`), ", signed in as you."));
    const liveCtx = { ...ctx, service };
    if (ctx.service.kind === "model" && await renderModelForm(panel, liveCtx, document)) return;
    renderCustomForm(panel, liveCtx, document);
  })().catch((error) => {
    if (error.name === "AbortError") return;
    const slot = errorSlot();
    panel.append(slot);
    showError(slot, error);
  });

  return () => controller.abort();
}
