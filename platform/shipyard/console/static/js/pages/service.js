// One service: its header (state, URL) and tabs, each tab a module of its own
// (./service-<tab>.js) drawn into the panel below.

import { get, seg } from "../api.js";
import { h, link } from "../dom.js";

export const TABS = [
  ["overview", "Overview"],
  ["code", "Code"],
  ["builds", "Builds"],
  ["logs", "Logs"],
  ["try", "Try it"],
  ["monitoring", "Monitoring"],
  ["keys", "API keys"],
  ["settings", "Settings"],
  ["integrate", "Integrate"],
];

const MODULES = {
  overview: () => import("./service-overview.js"),
  code: () => import("./service-code.js"),
  builds: () => import("./service-builds.js"),
  logs: () => import("./service-logs.js"),
  try: () => import("./service-try.js"),
  monitoring: () => import("./service-monitoring.js"),
  keys: () => import("./service-keys.js"),
  settings: () => import("./service-settings.js"),
  integrate: () => import("./service-integrate.js"),
};

/** The page's URL for one tab of a service. */
export function serviceUrl(name, tab = "overview") {
  const base = `/console/services/${seg(name)}`;
  return tab === "overview" ? base : `${base}/${tab}`;
}

export async function render(root, ctx) {
  const [name, tab = "overview"] = ctx.params;
  const path = `/api/v1/services/${seg(name)}`;
  const service = await get(path);
  const label = TABS.find(([key]) => key === tab)[1];
  document.title = `${service.name} · ${label} · Shipyard`;
  const panel = h("section", { class: "tab-panel", id: "tab-panel", "aria-label": label });
  const stateBadge = h("span", { class: `badge state-${service.state || "unknown"}` },
                       service.state || "unknown");
  const description = h("p", { class: "description", hidden: !service.description },
                        service.description || "");
  root.append(
    h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumbs" },
      link("/console/services", "Services"), " / ", h("span", {}, service.name)),
    h("div", { class: "page-head" },
      h("h1", {}, service.name),
      h("span", { class: `badge kind-${service.kind}` }, service.kind),
      stateBadge,
      description),
    h("nav", { class: "tabs", "aria-label": "Service" },
      h("ul", {}, TABS.map(([key, text]) => h("li", {},
        link(serviceUrl(service.name, key), text,
             key === tab ? { "aria-current": "page" } : {}))),
        h("li", {}, h("a", { href: `/services/${seg(service.name)}/docs` }, "Swagger")))),
    panel,
  );
  const module = await MODULES[tab]();
  return module.render(panel, {
    ...ctx,
    name: service.name,
    service,
    path,
    /** The service again, as the API has it now (the header's state follows it). */
    reload: async (options) => {
      const now = await get(path, options);
      const state = now.state || "unknown";
      stateBadge.className = `badge state-${state}`;
      stateBadge.textContent = state;
      description.textContent = now.description || "";
      description.hidden = !now.description;
      return now;
    },
  });
}
