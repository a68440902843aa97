// The services list (/ and /console/services): every service the caller may see, in one
// GET, as a table with its kind, environment, health, state, what serves it, and a switch
// to enable it and one to deploy it. The list's filters are form controls that write the
// URL's query, so a filtered list has an address. Also exports the enable and deploy
// switches (serviceSwitches) that the service's overview uses too.

import { get, post, seg } from "../api.js";
import { clear, errorSlot, field, h, link, showError, toast } from "../dom.js";
import { serviceUrl } from "./service.js";

const HEALTH_STATUSES = ["passing", "warning", "failing", "unknown"];
const STATES = ["stopped", "building", "starting", "running", "switching", "stopping", "failed"];
/** States that change by themselves: while one shows, the list refreshes. */
export const MOVING_STATES = new Set(["building", "starting", "switching", "stopping"]);
const REFRESH_MS = 5000;
const SEARCH_DELAY_MS = 250;

const ORDERS = [
  ["name", "Name (A to Z)"], ["-name", "Name (Z to A)"],
  ["-created_at", "Newest first"], ["created_at", "Oldest first"],
  ["-updated_at", "Recently changed"], ["state", "State"],
];

/** The filters, in the order the form shows them: the query key, its label, its choices. */
function filterSpecs(environments, projects) {
  const health = () => [
    ["", "Any"],
    ...HEALTH_STATUSES.map((s) => [s, s]),
    ["warning,failing", "warning or failing"],
  ];
  return [
    { key: "kind", label: "Kind", choices: [["", "Any"], ["custom", "custom"], ["model", "model"]] },
    { key: "state", label: "State", choices: [["", "Any"], ...STATES.map((s) => [s, s])] },
    { key: "environment", label: "Environment",
      choices: [["", "Any"], ...environments.map((e) => [e.name, e.name])] },
    { key: "service_health", label: "Service health", choices: health() },
    { key: "drift_health", label: "Drift health", choices: health() },
    { key: "accuracy_health", label: "Accuracy health", choices: health() },
    { key: "enabled", label: "Enabled", choices: [["", "Any"], ["true", "yes"], ["false", "no"]] },
    { key: "deployed", label: "Deployed", choices: [["", "Any"], ["true", "yes"], ["false", "no"]] },
    { key: "runner", label: "Runner", choices: [["", "Any"], ["local", "local"], ["docker", "docker"]] },
    ...(projects.length > 1
      ? [{ key: "project", label: "Project",
           choices: [["", "Any"], ...projects.map((p) => [p.name, p.name])] }]
      : []),
    { key: "order_by", label: "Order by", choices: ORDERS },
  ];
}

export async function render(root, ctx) {
  document.title = "Services · Shipyard";
  const [environments, projects] = await Promise.all([
    get("/api/v1/environments").then((a) => a.environments, () => []),
    get("/iam/projects").then((a) => a.projects, () => []),
  ]);
  const view = listView(filterSpecs(environments, projects), ctx.query);
  root.append(
    h("div", { class: "page-head services-head" },
      h("h1", {}, "Services"),
      link("/console/services/new", "New service", { class: "button primary" })),
    view.form,
    view.status,
    view.slot,
    view.tableArea,
  );
  await view.load();
  return view.stop;
}

// -- the list and its filters ---------------------------------------------------------

function listView(specs, query) {
  const controls = new Map();
  const search = h("input", { type: "search", name: "search", maxlength: "200",
                              autocomplete: "off", value: query.get("search") || "",
                              placeholder: "Name or description" });
  controls.set("search", search);
  const fields = [field("Search", search)];
  for (const spec of specs) {
    const select = filterSelect(spec, query.get(spec.key) || "");
    controls.set(spec.key, select);
    fields.push(field(spec.label, select));
  }
  const reset = h("button", { type: "reset" }, "Clear filters");
  const form = h("form", { class: "toolbar service-filters", role: "search",
                           "aria-label": "Filter services" }, fields, reset);
  const status = h("p", { class: "hint list-count", role: "status", "aria-live": "polite" });
  const slot = errorSlot();
  const tableArea = h("div", { class: "services-list" });
  const rows = new Map();
  let controller = null;
  let timer = null;
  let searchTimer = null;
  let stopped = false;

  function currentQuery() {
    const params = new URLSearchParams();
    for (const [key, control] of controls) {
      const value = control.value.trim();
      if (value && !(key === "order_by" && value === "name")) params.set(key, value);
    }
    return params;
  }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    clearTimeout(timer);
    try {
      const answer = await get("/api/v1/services", { query: Object.fromEntries(currentQuery()),
                                                     signal });
      if (stopped) return;
      showError(slot, null);
      drawList(tableArea, rows, answer.services, status, currentQuery().toString() !== "",
               rowChanged);
      scheduleRefresh(answer.services);
    } catch (error) {
      if (error.name === "AbortError" || stopped) return;
      showError(slot, error);
    }
  }

  /** While a service builds, starts, switches or stops, fetch the list again in a while. */
  function scheduleRefresh(services) {
    clearTimeout(timer);
    if (services.some((s) => MOVING_STATES.has(s.state))) timer = setTimeout(load, REFRESH_MS);
  }

  /** A switch changed a service: follow it while it builds or stops. */
  function rowChanged(service) {
    if (!MOVING_STATES.has(service.state) || stopped) return;
    clearTimeout(timer);
    timer = setTimeout(load, REFRESH_MS);
  }

  function filtersChanged() {
    const text = currentQuery().toString();
    history.replaceState(null, "", `${location.pathname}${text ? `?${text}` : ""}`);
    load();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    filtersChanged();
  });
  form.addEventListener("change", (event) => {
    if (event.target !== search) filtersChanged();
  });
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(filtersChanged, SEARCH_DELAY_MS);
  });
  form.addEventListener("reset", (event) => {
    event.preventDefault();
    search.value = "";
    for (const [key, control] of controls) {
      if (control !== search) control.value = key === "order_by" ? "name" : "";
    }
    filtersChanged();
  });

  function stop() {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(searchTimer);
    if (controller) controller.abort();
  }
  return { form, status, slot, tableArea, load, stop };
}

/** A filter's select; a value from the URL that is not a choice (a list) is added. */
function filterSelect(spec, current) {
  const choices = [...spec.choices];
  if (current && !choices.some(([value]) => value === current)) {
    choices.push([current, current.split(",").join(" or ")]);
  }
  const fallback = spec.key === "order_by" ? "name" : "";
  return h("select", { name: spec.key },
    choices.map(([value, text]) => h("option", {
      value, selected: value === (current || fallback),
    }, text)));
}

/** The columns; "Serving" only where the listing says what serves each service. */
function columns(withServing) {
  return [
    ["Name"], ["Kind", "hide-narrow"], ["Environment", "hide-narrow"], ["Health"], ["State"],
    withServing ? ["Serving", "hide-narrow"] : null, ["Enabled"], ["Deployed"],
  ].filter(Boolean);
}

/** Draw the table, reusing the rows of services already shown (their switches keep focus). */
function drawList(area, rows, services, status, filtered, rowChanged) {
  status.textContent = countText(services.length, filtered);
  if (!services.length) {
    rows.clear();
    clear(area).append(h("p", { class: "empty" }, filtered
      ? "No service matches these filters."
      : ["No service yet. ", link("/console/services/new", "Create one"), "."]));
    return;
  }
  const withServing = services.some((s) => "live_generation" in s || "mapping" in s);
  let body = area.querySelector("tbody");
  if (body && body.dataset.serving !== String(withServing)) {
    rows.clear();
    body = null;
  }
  if (!body) {
    body = h("tbody", { dataset: { serving: String(withServing) } });
    clear(area).append(h("div", { class: "table-wrap", tabindex: "0", role: "region",
                                  "aria-label": "Services table" },
      h("table", { class: "services-table" },
        h("caption", { class: "visually-hidden" }, "Services"),
        h("thead", {}, h("tr", {}, columns(withServing).map(([label, cls]) =>
          h("th", { scope: "col", class: cls || null }, label)))),
        body)));
  }
  const seen = new Set();
  const fragment = document.createDocumentFragment();
  for (const service of services) {
    seen.add(service.name);
    let row = rows.get(service.name);
    if (row) row.update(service);
    else {
      row = serviceRow(service, withServing, rowChanged);
      rows.set(service.name, row);
    }
    fragment.append(row.element);
  }
  for (const name of [...rows.keys()]) if (!seen.has(name)) rows.delete(name);
  body.replaceChildren(fragment);
}

function countText(count, filtered) {
  const noun = count === 1 ? "service" : "services";
  const verb = count === 1 ? "matches" : "match";
  return filtered ? `${count} ${noun} ${verb} these filters.` : `${count} ${noun}.`;
}

/** One row: built once, then updated in place when the list is fetched again. */
function serviceRow(service, withServing, changed) {
  const cells = {
    kind: h("td", { class: "hide-narrow" }), environment: h("td", { class: "hide-narrow" }), health: h("td"),
    state: h("td"), serving: h("td", { class: "hide-narrow" }),
  };
  const switches = serviceSwitches(service, { onChange: (now) => {
    update(now);
    changed(now);
  } });
  const element = h("tr", {},
    h("th", { scope: "row" }, link(serviceUrl(service.name), service.name),
      service.description ? h("small", { class: "row-description" }, service.description) : null),
    cells.kind, cells.environment, cells.health, cells.state, withServing ? cells.serving : null,
    h("td", {}, switches.enable), h("td", {}, switches.deploy));
  function update(now) {
    cells.kind.replaceChildren(h("span", { class: `badge kind-${now.kind}` }, now.kind));
    cells.environment.replaceChildren(now.environment || "—");
    cells.health.replaceChildren(healthBadges(now));
    cells.state.replaceChildren(stateBadge(now));
    cells.serving.replaceChildren(servingText(now));
    switches.update(now);
  }
  update(service);
  return { element, update };
}

/** The service's state, with its status message on hover and for readers. */
export function stateBadge(service, { withMessage = true } = {}) {
  const state = service.state || "unknown";
  const message = withMessage && service.status_message;
  return h("span", { class: `badge state-${state}`, title: message || null },
    state, message ? h("span", { class: "visually-hidden" }, `: ${message}`) : null);
}

/** Badges for the service's health, drift health and accuracy health, where known. */
export function healthBadges(service) {
  const parts = [
    ["service_health", "Service"], ["drift_health", "Drift"], ["accuracy_health", "Accuracy"],
  ];
  const badges = [];
  for (const [key, noun] of parts) {
    const health = service[key];
    if (!health || (key !== "service_health" && health.status === "unknown")) continue;
    const reasons = (health.reasons || []).join("; ");
    badges.push(h("span", { class: `badge health-${health.status}`, title: reasons || null },
      `${noun}: ${health.status}`));
  }
  return badges.length ? h("span", { class: "health-badges" }, badges) : "—";
}

/** What serves: the live generation, or each generation's share of the mapping. */
export function servingText(service) {
  const mapping = service.mapping || [];
  if (mapping.length > 1) {
    return mapping.map((e) => `${e.generation} ${Math.round(e.proba * 1000) / 10}%`).join(", ");
  }
  if (mapping.length === 1) return mapping[0].generation;
  return service.live_generation || "—";
}

// -- the switches -----------------------------------------------------------------------

/**
 * The "Enabled <name>" and "Deployed <name>" switches of a service. A change calls the
 * API; the switch shows progress meanwhile and goes back, with the API's message, if it
 * fails. `onChange(service)` gets the service's new state (what the API answered merged
 * over what was known). `update(service)` sets them from a newer answer.
 */
export function serviceSwitches(service, { onChange, named = false } = {}) {
  let known = service;
  const enable = switchControl(`Enabled ${service.name}`, named && "Enabled", service.enabled, async (on) => {
    const answer = await post(`/api/v1/services/${seg(known.name)}/${on ? "enable" : "disable"}`);
    return { ...known, ...answer };
  });
  const deploy = switchControl(`Deployed ${service.name}`, named && "Deployed", service.deployed, async (on) => {
    const path = `/api/v1/services/${seg(known.name)}/${on ? "deploy" : "undeploy"}`;
    const answer = await post(path);
    if (on) {
      toast(`Deploying ${known.name}: building ${answer.tag}.`);
      return { ...known, deployed: true, state: "building",
               status_message: `building ${answer.tag}` };
    }
    return { ...known, ...answer };
  });
  for (const control of [enable, deploy]) {
    control.onDone = (now) => {
      known = now;
      enable.set(now.enabled);
      deploy.set(now.deployed);
      if (onChange) onChange(now);
    };
  }
  return {
    enable: enable.element,
    deploy: deploy.element,
    update(now) {
      known = now;
      enable.set(now.enabled);
      deploy.set(now.deployed);
    },
  };
}

/** A switch whose accessible name is `name`; `shown`, if given, is written before it. */
function switchControl(name, shown, checked, action) {
  const input = h("input", { type: "checkbox", "aria-label": name, checked });
  const label = h("span", { class: "switch-text", "aria-hidden": "true" }, checked ? "On" : "Off");
  const problem = h("span", { class: "switch-error", role: "alert", hidden: true });
  const element = h("span", { class: "switch-cell" },
    h("label", { class: "switch" },
      shown ? h("span", { class: "switch-name", "aria-hidden": "true" }, shown) : null, input, label),
    problem);
  const control = {
    element,
    busy: false,
    onDone: null,
    set(value) {
      if (control.busy) return;
      input.checked = Boolean(value);
      label.textContent = input.checked ? "On" : "Off";
    },
  };
  function setBusy(busy, text) {
    control.busy = busy;
    // aria-disabled rather than disabled: the switch keeps the keyboard's focus.
    if (busy) input.setAttribute("aria-disabled", "true");
    else input.removeAttribute("aria-disabled");
    input.setAttribute("aria-busy", String(busy));
    element.classList.toggle("busy", busy);
    label.textContent = text;
  }
  input.addEventListener("click", (event) => {
    if (control.busy) event.preventDefault();
  });
  input.addEventListener("change", async () => {
    const wanted = input.checked;
    setBusy(true, wanted ? "Turning on…" : "Turning off…");
    problem.hidden = true;
    problem.textContent = "";
    let now = null;
    try {
      now = await action(wanted);
    } catch (error) {
      input.checked = !wanted;
      problem.textContent = error.message || String(error);
      problem.hidden = false;
    } finally {
      setBusy(false, input.checked ? "On" : "Off");
    }
    if (now && control.onDone) control.onDone(now);
  });
  return control;
}
