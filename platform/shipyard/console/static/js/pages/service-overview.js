// A service's Overview tab: its state, URL on the gateway, kind, environment and access
// level with the enable and deploy switches; its traffic (switch to the newest
// generation, roll back, and the mapping editor whose shares must add up to 100%); its
// generations (build, share of traffic, challenger, cpu and memory over the last hour)
// and its instances. Everything is fetched again every few seconds while the tab is open,
// without touching what the user is editing.

import { ApiError, del, get, post, put } from "../api.js";
import {
  clear, errorSlot, formatBytes, formatTime, h, showError, toast, withBusy,
} from "../dom.js";
import { healthBadges, serviceSwitches, stateBadge } from "./services.js";

const REFRESH_MS = 4000;
const STATS_EVERY = 8; // refreshes between two fetches of the usage figures (~30 s)
const STATS_WINDOW = "1h";

export async function render(root, ctx) {
  const view = overviewView(ctx);
  root.append(view.element);
  await view.refresh({ withStats: true, service: ctx.service });
  return view.stop;
}

function overviewView(ctx) {
  let service = ctx.service;
  let generations = [];
  let usage = new Map();
  let canManage = true;
  let stopped = false;
  let timer = null;
  let ticks = 0;
  let inFlight = null;

  const pageSlot = errorSlot();
  const switches = serviceSwitches(service, { onChange: () => refresh(), named: true });
  const facts = h("dl", { class: "facts overview-facts" });
  const traffic = trafficPanel(ctx, () => refresh());
  const generationsArea = h("div", { class: "generations-area" });
  const generationsSlot = errorSlot();
  const instancesArea = h("div", { class: "instances-area" });

  const element = h("div", { class: "service-overview" },
    pageSlot,
    h("section", { class: "card", "aria-labelledby": "overview-service-title" },
      h("h2", { id: "overview-service-title" }, "Service"),
      facts,
      h("div", { class: "actions overview-switches" }, switches.enable, switches.deploy)),
    traffic.element,
    h("section", { class: "card", "aria-labelledby": "overview-generations-title" },
      h("h2", { id: "overview-generations-title" }, "Generations"),
      generationsSlot, generationsArea),
    h("section", { class: "card", "aria-labelledby": "overview-instances-title" },
      h("h2", { id: "overview-instances-title" }, "Instances"),
      instancesArea));

  async function fetchAll(withStats, known) {
    const asks = [
      known ? Promise.resolve(known) : ctx.reload(),
      canManage ? get(`${ctx.path}/generations`).then((a) => a.generations, noAccess) : null,
      canManage && withStats
        ? get(`${ctx.path}/stats`, { query: { start: STATS_WINDOW } }).then(usageOf, () => null)
        : null,
    ];
    return Promise.all(asks);
  }

  function noAccess(error) {
    if (error instanceof ApiError && error.status === 403) {
      canManage = false;
      return null;
    }
    throw error;
  }

  /** Fetch the service (and its generations, and now and then its usage) and redraw. */
  async function refresh({ withStats = false, service: known = null } = {}) {
    if (inFlight) return inFlight;
    clearTimeout(timer);
    inFlight = (async () => {
      try {
        const [now, gens, stats] = await fetchAll(withStats, known);
        if (stopped) return;
        service = now;
        if (gens) generations = gens;
        if (stats) usage = stats;
        showError(pageSlot, null);
        draw();
      } catch (error) {
        if (stopped) return;
        showError(pageSlot, error);
        if (error instanceof ApiError && error.status === 404) stopped = true;
      } finally {
        inFlight = null;
        schedule();
      }
    })();
    return inFlight;
  }

  function schedule() {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (document.hidden) return schedule();
      ticks += 1;
      refresh({ withStats: ticks % STATS_EVERY === 0 });
      return undefined;
    }, REFRESH_MS);
  }

  function draw() {
    switches.update(service);
    redraw(facts, serviceFacts(service));
    if (!canManage) {
      traffic.element.hidden = true;
      redraw(generationsArea, h("p", { class: "empty" },
        "Only the service's collaborators see its generations."));
    } else {
      traffic.update(service, generations);
      redraw(generationsArea, generationsTable(generations, usage, challengerAction));
    }
    redraw(instancesArea, instancesTable(service.instances || []));
  }

  function challengerAction(generation) {
    return (event) => withBusy(event.currentTarget, async () => {
      if (generation.challenger) {
        await del(`${ctx.path}/challenger`);
        toast(`${generation.tag} is no longer the challenger.`);
      } else {
        await put(`${ctx.path}/challenger`, { generation: generation.tag });
        toast(`${generation.tag} is the challenger: it gets a copy of every call.`);
      }
      await refresh();
      // The button was redrawn (its label changed): keep the keyboard's place on it.
      const again = generationsArea.querySelector(`[data-key="challenger-${CSS.escape(generation.tag)}"]`);
      if (again) again.focus();
    }, { slot: generationsSlot });
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
  }
  return { element, refresh, stop };
}

/**
 * Replace an area's content only when it changed (compared as text and attributes), and
 * put the focus back on the control with the same data-key afterwards.
 */
const drawings = new WeakMap(); // area -> a copy of what it shows, to compare with

function redraw(area, content) {
  const fresh = h("div", {}, content);
  const before = drawings.get(area);
  if (before && before.isEqualNode(fresh)) return;
  drawings.set(area, fresh.cloneNode(true));
  const focused = area.contains(document.activeElement)
    ? document.activeElement.closest("[data-key]") : null;
  const key = focused ? focused.dataset.key : null;
  area.replaceChildren(...fresh.childNodes);
  if (key) {
    const again = area.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

// -- the service's facts --------------------------------------------------------------

/** The service's address on the gateway, as a caller outside writes it. */
function gatewayUrl(name) {
  return `${location.origin}/user-services/invoke/${encodeURIComponent(name)}`;
}

function serviceFacts(service) {
  const url = gatewayUrl(service.name);
  const copy = h("button", { type: "button", class: "copy-url", "data-key": "copy-url",
                             "aria-label": "Copy the service's URL" }, "Copy");
  copy.addEventListener("click", () => copyText(url));
  const serving = servingLine(service);
  return [
    h("dt", {}, "State"),
    h("dd", {}, stateBadge(service, { withMessage: false }),
      service.status_message ? h("span", { class: "status-message" }, ` ${service.status_message}`) : null),
    h("dt", {}, "URL"),
    h("dd", { class: "service-url" }, h("code", {}, url), " ", copy),
    h("dt", {}, "Kind"), h("dd", {}, service.kind),
    h("dt", {}, "Environment"), h("dd", {}, service.environment || "—"),
    h("dt", {}, "Access level"), h("dd", {}, service.access_level),
    h("dt", {}, "Serving"), h("dd", {}, serving),
    h("dt", {}, "Challenger"), h("dd", {}, service.challenger || "none"),
    h("dt", {}, "Health"), h("dd", {}, healthBadges(service), healthReasons(service)),
    h("dt", {}, "Updated"), h("dd", {}, formatTime(service.updated_at)),
  ];
}

/** Why a health is not passing, as the API says it. */
function healthReasons(service) {
  const reasons = ["service_health", "drift_health", "accuracy_health"]
    .flatMap((key) => (service[key] && service[key].status !== "passing" ? service[key].reasons || [] : []));
  return reasons.length ? h("ul", { class: "health-reasons" }, reasons.map((r) => h("li", {}, r))) : null;
}

function servingLine(service) {
  const mapping = service.mapping || [];
  const live = mapping.length
    ? mapping.map((e) => `${e.generation} ${percent(e.proba * 100)}`).join(", ")
    : (service.live_generation || "nothing");
  const target = service.target_generation && service.target_generation !== service.live_generation
    && mapping.length <= 1 ? ` (${service.target_generation} to take over)` : "";
  return `${live}${target}`;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast("URL copied.");
  } catch {
    toast("The browser did not let the page copy; select the URL instead.", "error");
  }
}

function percent(value) {
  return `${Math.round(value * 10) / 10}%`;
}

// -- traffic: switch, roll back, the mapping editor --------------------------------------

function trafficPanel(ctx, refresh) {
  const slot = errorSlot();
  const newest = h("button", { type: "button" }, "Switch to newest");
  const rollbackTarget = h("select", { name: "rollback", id: "rollback-target" });
  const rollback = h("button", { type: "button" }, "Roll back");
  const rollbackHint = h("small", { class: "hint" });
  const editor = mappingEditor(ctx, refresh);
  const notDeployed = h("p", { class: "hint", hidden: true },
    "The service is not deployed: deploy it to route traffic between its generations.");

  newest.addEventListener("click", () => withBusy(newest, async () => {
    const generation = await post(`${ctx.path}/switch-to-newest`);
    toast(`Switching all traffic to ${generation.tag}.`);
    editor.forget();
    await refresh();
  }, { slot, busyText: "Switching…" }));
  rollback.addEventListener("click", () => withBusy(rollback, async () => {
    const generation = await post(`${ctx.path}/rollback`, { generation: rollbackTarget.value });
    toast(`Rolling back: all traffic to ${generation.tag}.`);
    editor.forget();
    await refresh();
  }, { slot, busyText: "Rolling back…" }));

  const element = h("section", { class: "card", "aria-labelledby": "overview-traffic-title" },
    h("h2", { id: "overview-traffic-title" }, "Traffic"),
    notDeployed,
    h("div", { class: "actions traffic-actions" },
      newest,
      h("span", { class: "rollback-group" },
        h("label", { for: "rollback-target" }, "Roll back to"),
        rollbackTarget, rollback),
      rollbackHint),
    slot,
    editor.element);

  function update(service, generations) {
    notDeployed.hidden = Boolean(service.deployed);
    const built = generations.filter((g) => g.build_state === "succeeded");
    const choices = rollbackChoices(service, built);
    const before = rollbackTarget.value;
    const wanted = choices.map((g) => g.tag).join(",");
    if (rollbackTarget.dataset.choices !== wanted) {
      clear(rollbackTarget).append(...choices.map((g) => h("option", { value: g.tag }, g.tag)));
      rollbackTarget.dataset.choices = wanted;
      if (choices.some((g) => g.tag === before)) rollbackTarget.value = before;
    }
    const none = !choices.length;
    rollbackTarget.disabled = none;
    rollback.disabled = none || rollback.getAttribute("aria-busy") === "true";
    rollbackHint.textContent = none ? "No earlier built generation to roll back to." : "";
    editor.update(service, built);
  }
  return { element, update };
}

/** Built generations to roll back to: the older ones first, newest of them first. */
function rollbackChoices(service, built) {
  const serving = new Set((service.mapping || []).map((e) => e.generation));
  if (!serving.size && service.live_generation) serving.add(service.live_generation);
  const numberOf = (tag) => Number(tag.slice(1));
  const top = Math.max(0, ...[...serving].map(numberOf));
  const others = built.filter((g) => !(serving.size === 1 && serving.has(g.tag)));
  return others.sort((a, b) => {
    const olderA = numberOf(a.tag) < top;
    const olderB = numberOf(b.tag) < top;
    if (olderA !== olderB) return olderA ? -1 : 1;
    return numberOf(b.tag) - numberOf(a.tag);
  });
}

/**
 * One number input per built generation ("Share of v1 (%)"), filled with the mapping
 * asked for. Save stays disabled, with a visible message, until the shares add up to
 * 100%; "Split evenly" and "Reset" help. What the user typed survives the refreshes.
 */
function mappingEditor(ctx, refresh) {
  const list = h("div", { class: "mapping-shares" });
  const total = h("p", { class: "mapping-total", id: "mapping-total", "aria-live": "polite" });
  const slot = errorSlot();
  const save = h("button", { type: "submit", class: "primary",
                             "aria-describedby": "mapping-total" }, "Save mapping");
  const even = h("button", { type: "button" }, "Split evenly");
  const reset = h("button", { type: "button" }, "Reset");
  const empty = h("p", { class: "empty", hidden: true },
    "No built generation yet: deploy the service to build one.");
  const inputs = new Map(); // tag -> {row, input, now}
  let dirty = false;
  let saving = false;
  let asked = new Map(); // tag -> desired percent

  const form = h("form", { class: "mapping-editor", "aria-labelledby": "mapping-title", novalidate: true },
    h("h3", { id: "mapping-title" }, "Mapping"),
    h("p", { class: "hint" },
      "Each generation's share of live traffic. It takes effect once every generation in it "
      + "has a healthy instance; generations left at 0% stop."),
    empty, list, total, slot,
    h("div", { class: "actions" }, save, even, reset));

  function shares() {
    return [...inputs].map(([tag, { input }]) => [tag, Number(input.value)]);
  }

  function check() {
    const values = shares();
    const bad = values.find(([, v]) => !Number.isFinite(v) || v < 0 || v > 100);
    const sum = Math.round(values.reduce((acc, [, v]) => acc + (Number.isFinite(v) ? v : 0), 0) * 10) / 10;
    let message;
    let ok = false;
    if (!values.length) message = "";
    else if (bad) message = `The share of ${bad[0]} must be a number from 0 to 100.`;
    else if (sum !== 100) message = `Total ${sum}%: the shares must add up to 100% to save.`;
    else {
      message = "Total 100%.";
      ok = true;
    }
    total.textContent = message;
    total.classList.toggle("invalid", !ok && values.length > 0);
    save.disabled = !ok || saving;
    for (const [, { input }] of inputs) input.setAttribute("aria-invalid", String(!ok && values.length > 0));
    return ok;
  }

  function addInput(tag, value) {
    const input = h("input", { type: "number", min: "0", max: "100", step: "0.1",
                               inputmode: "decimal", class: "share", name: `share-${tag}`,
                               value: String(value) });
    input.id = `share-${tag}`;
    const now = h("small", { class: "hint" });
    const row = h("div", { class: "field inline share-row" },
      h("label", { for: input.id }, `Share of ${tag} (%)`), input, now);
    input.addEventListener("input", () => {
      dirty = true;
      check();
    });
    inputs.set(tag, { row, input, now });
  }

  function update(service, built) {
    asked = new Map(built.map((g) => [g.tag, round(g.desired_percent || 0)]));
    const tags = built.map((g) => g.tag);
    const same = tags.length === inputs.size && tags.every((t) => inputs.has(t));
    if (!same) {
      for (const tag of [...inputs.keys()]) if (!asked.has(tag)) {
        inputs.get(tag).row.remove();
        inputs.delete(tag);
      }
      for (const tag of tags) if (!inputs.has(tag)) addInput(tag, dirty ? 0 : asked.get(tag));
      list.replaceChildren(...tags.map((t) => inputs.get(t).row));
    }
    if (!dirty) for (const [tag, { input }] of inputs) input.value = String(asked.get(tag));
    for (const g of built) {
      const live = round(g.mapped_percent || 0);
      inputs.get(g.tag).now.textContent = live === round(g.desired_percent || 0)
        ? `now ${live}%` : `now ${live}%, ${round(g.desired_percent || 0)}% asked for`;
    }
    empty.hidden = built.length > 0;
    even.disabled = reset.disabled = !built.length;
    form.classList.toggle("inactive", !service.deployed);
    check();
  }

  even.addEventListener("click", () => {
    const tags = [...inputs.keys()];
    const base = Math.floor(1000 / tags.length) / 10;
    tags.forEach((tag, index) => {
      const last = index === tags.length - 1;
      inputs.get(tag).input.value = String(last ? round(100 - base * (tags.length - 1)) : base);
    });
    dirty = true;
    check();
  });
  reset.addEventListener("click", () => {
    dirty = false;
    for (const [tag, { input }] of inputs) input.value = String(asked.get(tag) ?? 0);
    showError(slot, null);
    check();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!check()) return;
    saving = true;
    withBusy(save, async () => {
      const entries = shares().filter(([, v]) => v > 0)
        .map(([generation, v]) => ({ generation, proba: v / 100 }));
      await put(`${ctx.path}/mapping`, { entries });
      toast(`Mapping saved: ${entries.map((e) => `${e.generation} ${percent(e.proba * 100)}`).join(", ")}.`);
      dirty = false;
      await refresh();
    }, { slot, busyText: "Saving…" }).then(() => {
      saving = false;
      check();
    });
  });

  return {
    element: form,
    update,
    /** Drop the user's edits (after a switch or a rollback, the mapping changed). */
    forget() { dirty = false; },
  };
}

function round(value) {
  return Math.round(value * 10) / 10;
}

// -- generations and instances ------------------------------------------------------------

/** Per generation (main role): its mean and peak cpu and memory over the stats window. */
function usageOf(stats) {
  const usage = new Map();
  for (const figures of stats.generations || []) {
    if (figures.role !== "main") continue;
    usage.set(figures.generation, { cpu: figures.cpu_percent, memory: figures.memory_bytes });
  }
  return usage;
}

function generationsTable(generations, usage, challengerAction) {
  if (!generations.length) {
    return h("p", { class: "empty" }, "No generation yet: deploy the service to build its first.");
  }
  const models = generations.some((g) => g.model_version);
  const rows = generations.slice().reverse().map((g) => {
    const use = usage.get(g.tag) || {};
    const canChallenge = g.build_state === "succeeded" && (g.desired_percent || 0) < 100;
    const action = canChallenge || g.challenger
      ? h("button", { type: "button", "data-key": `challenger-${g.tag}`, onclick: challengerAction(g) },
        g.challenger ? `Unset challenger ${g.tag}` : `Make ${g.tag} the challenger`)
      : null;
    return h("tr", {},
      h("th", { scope: "row" }, g.tag),
      h("td", {}, h("span", { class: `badge state-${buildClass(g.build_state)}`,
                              title: g.build_error || null }, g.build_state)),
      h("td", { class: "hide-narrow" }, formatTime(g.created_at)),
      models ? h("td", {}, g.model_version || "—") : null,
      h("td", {}, sharesText(g)),
      h("td", { class: "hide-narrow" }, g.mounted ? "yes" : "no"),
      h("td", {}, g.challenger ? h("span", { class: "badge warn" }, "challenger") : null, " ", action),
      h("td", { class: "hide-narrow" }, usageText(use.cpu, (v) => `${round(v)}%`)),
      h("td", { class: "hide-narrow" }, usageText(use.memory, formatBytes)));
  });
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Generations table" },
    h("table", { class: "generations-table" },
      h("caption", {}, "Generations, newest first (cpu and memory: mean / peak per instance, last hour)"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Generation"),
        h("th", { scope: "col" }, "Build"),
        h("th", { scope: "col", class: "hide-narrow" }, "Created"),
        models ? h("th", { scope: "col" }, "Model") : null,
        h("th", { scope: "col" }, "Mapped"),
        h("th", { scope: "col", class: "hide-narrow" }, "Healthy instance"),
        h("th", { scope: "col" }, "Challenger"),
        h("th", { scope: "col", class: "hide-narrow" }, "CPU"),
        h("th", { scope: "col", class: "hide-narrow" }, "Memory"))),
      h("tbody", {}, rows)));
}

function sharesText(g) {
  const live = round(g.mapped_percent || 0);
  const desired = round(g.desired_percent || 0);
  return live === desired ? `${live}%` : `${live}% → ${desired}%`;
}

function usageText(figure, format) {
  if (!figure || figure.mean === null || figure.mean === undefined) return "—";
  return `${format(figure.mean)} / ${format(figure.max)}`;
}

function buildClass(state) {
  return { succeeded: "running", failed: "failed", building: "building", pending: "starting" }[state]
    || "unknown";
}

function instancesTable(instances) {
  if (!instances.length) return h("p", { class: "empty" }, "No instance runs.");
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Instances table" },
    h("table", { class: "instances-table" },
      h("caption", {}, "Instances (cpu and memory: the latest sample)"),
      h("thead", {}, h("tr", {},
        ["Instance", "Generation", "State", "Address", "Restarts", "CPU", "Memory", "Last error"]
          .map((label, index) => h("th", { scope: "col",
                                          class: [3, 4, 7].includes(index) ? "hide-narrow" : null }, label)))),
      h("tbody", {}, instances.map((i) => h("tr", {},
        h("th", { scope: "row" }, h("code", { title: i.id }, shortId(i.id))),
        h("td", {}, i.generation || "—"),
        h("td", {}, h("span", { class: `badge state-${instanceClass(i.state)}` }, i.state)),
        h("td", { class: "hide-narrow" }, i.address ? h("code", {}, i.address) : "—"),
        h("td", { class: "hide-narrow" }, String(i.restarts ?? 0)),
        h("td", {}, i.cpu_percent === null || i.cpu_percent === undefined ? "—" : `${round(i.cpu_percent)}%`),
        h("td", {}, formatBytes(i.memory_bytes)),
        h("td", { class: "hide-narrow instance-error" }, i.last_error || "—"))))));
}

function shortId(id) {
  return id && id.length > 14 ? `${id.slice(0, 14)}…` : id || "—";
}

function instanceClass(state) {
  return { healthy: "running", starting: "starting", pending: "starting", unhealthy: "failed",
           exited: "stopped" }[state] || state || "unknown";
}
