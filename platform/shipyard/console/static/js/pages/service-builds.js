// A service's Builds tab: every generation and its build's state, and the log of one
// (?build=N, else the newest) streaming live while the build runs
// (GET .../builds/<n>/log?follow=true), its state updated when it ends, then whether the
// new generation came to serve.

import { get, post, streamLines } from "../api.js";
import { clear, errorSlot, formatTime, h, link, showError, table, toast, withBusy } from "../dom.js";
import { serviceUrl } from "./service.js";

const ENDED = new Set(["succeeded", "failed"]);
const RETRY_MS = 1000;
const STATE_POLL_MS = 2000;
const SERVE_POLL_MS = 1500;
const SERVE_POLLS = 200;
const BOTTOM_SLACK = 48;

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

function isAbort(error) {
  return error && error.name === "AbortError";
}

function stateBadge(state) {
  return h("span", { class: `badge state-${stateClass(state)}` }, state || "unknown");
}

/** The console's state colours: a build's states mapped onto a service's. */
function stateClass(state) {
  return { succeeded: "running", failed: "failed", building: "building", pending: "starting" }[state]
    || state || "unknown";
}

function buildsTable(name, builds, selected) {
  const newestFirst = builds.slice().reverse();
  return table([
    { label: "Generation", value: (b) => link(`${serviceUrl(name, "builds")}?build=${b.build}`, b.tag,
        b.build === selected ? { "aria-current": "true", "aria-label": `${b.tag}, shown below` }
          : { "aria-label": `Show the log of ${b.tag}` }) },
    { label: "Build state", value: (b) => stateBadge(b.build_state) },
    { label: "Created", value: (b) => formatTime(b.created_at) },
    { label: "Environment", value: (b) => b.environment },
    { label: "Model", value: (b) => b.model_version || "—" },
    { label: "Error", value: (b) => b.build_error ? h("span", { class: "build-error" }, b.build_error) : "—" },
  ], newestFirst, { caption: "Builds, newest first", empty: "No builds yet: deploy the service to build its first generation." });
}

export async function render(root, ctx) {
  const controller = new AbortController();
  const { signal } = controller;
  const buildsPath = `${ctx.path}/builds`;

  const slot = errorSlot();
  const deployButton = h("button", { type: "button", class: "primary" }, "Deploy");
  deployButton.addEventListener("click", () => withBusy(deployButton, async () => {
    const generation = await post(`${ctx.path}/deploy`);
    toast(`Building ${generation.tag}…`);
    ctx.navigate(`${serviceUrl(ctx.name, "builds")}?build=${generation.build}`);
  }, { slot, busyText: "Deploying…" }));

  const listHolder = h("div", { class: "builds-list" });
  root.append(
    h("div", { class: "toolbar" },
      h("p", { class: "hint" }, "Deploy snapshots the service's files as a new generation and builds it."),
      h("span", { class: "spacer" }), deployButton),
    slot,
    listHolder);

  let builds = (await get(buildsPath)).builds;
  const asked = Number.parseInt(ctx.query.get("build") || "", 10);
  const current = builds.find((b) => b.build === asked) || builds[builds.length - 1];
  listHolder.append(buildsTable(ctx.name, builds, current && current.build));
  if (!current) return () => controller.abort();

  const badge = h("span", { class: "build-state" }, stateBadge(current.build_state));
  const outcome = h("p", { class: "build-outcome", role: "status", "aria-live": "polite" });
  const logSlot = errorSlot();
  const log = h("pre", {
    class: "log build-log", role: "log", "aria-live": "polite", "aria-label": "Build log",
    tabindex: "0",
  });
  root.append(h("section", { class: "build-log-section", "aria-labelledby": "build-log-title" },
    h("div", { class: "build-log-head" },
      h("h2", { id: "build-log-title" }, `Log of ${current.tag}`), badge),
    outcome, logSlot, log));

  function appendLine(text) {
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < BOTTOM_SLACK;
    const line = h("span", { class: text.startsWith("warning:") ? "log-warning" : null }, text, "\n");
    log.append(line);
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function showState(build) {
    clear(badge).append(stateBadge(build.build_state));
    if (build.build_state === "failed") {
      outcome.textContent = `The build of ${build.tag} failed${build.build_error ? `: ${build.build_error}` : "."}`;
    } else if (build.build_state === "succeeded") {
      outcome.textContent = `${build.tag} built.`;
    } else {
      outcome.textContent = `Building ${build.tag}… the log follows as it happens.`;
    }
  }

  async function refreshList() {
    builds = (await get(buildsPath, { signal })).builds;
    clear(listHolder).append(buildsTable(ctx.name, builds, current.build));
  }

  /** Follow the log until the build ends, picking the stream up again if it breaks. */
  async function followLog() {
    const logPath = `${buildsPath}/${current.build}/log`;
    let seen = 0;
    showState(current);
    for (;;) {
      try {
        await streamLines(logPath, (text) => { seen += 1; appendLine(text); },
                          { signal, query: { follow: "true", after: seen } });
        showError(logSlot, null);
      } catch (error) {
        if (isAbort(error) || signal.aborted) return null;
        showError(logSlot, error);
      }
      if (signal.aborted) return null;
      const build = await get(`${buildsPath}/${current.build}`, { signal });
      showState(build);
      if (ENDED.has(build.build_state)) return build;
      await sleep(RETRY_MS, signal);
    }
  }

  /** While the log streams, the build's state (pending, building) read every few seconds. */
  function pollState() {
    const timer = setInterval(() => {
      get(`${buildsPath}/${current.build}`, { signal })
        .then((build) => { if (!ENDED.has(build.build_state)) showState(build); })
        .catch(() => {});
    }, STATE_POLL_MS);
    return () => clearInterval(timer);
  }

  /** After a build that succeeded: whether its generation came to serve. */
  async function watchServing(build) {
    for (let poll = 0; poll < SERVE_POLLS && !signal.aborted; poll += 1) {
      const service = await ctx.reload({ signal });
      if (service.live_generation === build.tag) {
        outcome.textContent = `${build.tag} built and serves now.`;
        return;
      }
      if (service.target_generation !== build.tag) {
        if (poll > 0) {
          outcome.textContent = `${build.tag} built but did not start${service.status_message ? `: ${service.status_message}` : "."}`;
        }
        return;
      }
      if (["failed", "crashed"].includes(service.state)) {
        outcome.textContent = `${build.tag} built but did not start${service.status_message ? `: ${service.status_message}` : "."}`;
        return;
      }
      outcome.textContent = `${build.tag} built; starting it…`;
      await sleep(SERVE_POLL_MS, signal);
    }
  }

  (async () => {
    const stopPolling = ENDED.has(current.build_state) ? () => {} : pollState();
    signal.addEventListener("abort", stopPolling, { once: true });
    const ended = await followLog().finally(stopPolling);
    if (!ended || signal.aborted) return;
    await refreshList();
    if (ended.build_state === "succeeded") {
      await watchServing(ended);
    }
  })().catch((error) => {
    if (!isAbort(error) && !signal.aborted) showError(logSlot, error);
  });

  return () => controller.abort();
}
