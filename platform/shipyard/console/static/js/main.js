// The console's entry: who is signed in, the top bar, and the router that draws the page
// a URL names (every page is reachable by its URL; links change pages without reloading).

import { del, get, post } from "./api.js";
import { clear, errorSlot, field, h, link, withBusy } from "./dom.js";

const SERVICE_TABS = ["overview", "code", "builds", "logs", "try", "monitoring", "keys",
                      "settings", "integrate"];

const ROUTES = [
  { pattern: /^\/(?:console\/?)?$|^\/console\/services\/?$/, page: () => import("./pages/services.js") },
  { pattern: /^\/console\/services\/new$/, page: () => import("./pages/new-service.js") },
  { pattern: new RegExp(`^/console/services/([^/]+)(?:/(${SERVICE_TABS.join("|")}))?/?$`),
    page: () => import("./pages/service.js") },
  { pattern: /^\/console\/models\/?$/, page: () => import("./pages/models.js") },
  { pattern: /^\/console\/models\/([^/]+)\/?$/, page: () => import("./pages/model.js") },
  { pattern: /^\/console\/admin\/?$/, page: () => import("./pages/admin.js") },
];

const state = { session: null, cleanup: null, rendering: 0 };

function main() {
  return document.getElementById("main");
}

/** Go to a console URL without reloading the page. */
export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
}

async function render() {
  const ticket = ++state.rendering;
  if (state.cleanup) {
    try { state.cleanup(); } catch { /* a page's cleanup failing must not stop the next */ }
    state.cleanup = null;
  }
  const root = main();
  if (!state.session) {
    drawTopBar();
    renderSignIn(root);
    return;
  }
  drawTopBar();
  const path = location.pathname;
  const route = ROUTES.find((r) => r.pattern.test(path));
  clear(root);
  if (!route) {
    document.title = "Not found · Shipyard";
    root.append(h("h1", {}, "Not found"), h("p", {}, "No console page has this address. "),
                link("/", "Back to the services"));
    return;
  }
  const params = path.match(route.pattern).slice(1)
    .map((p) => (p === undefined ? p : decodeURIComponent(p)));
  // Each render draws into a view of its own: a slower, older render still finishing
  // (Back pressed twice) draws into a view no longer on the page.
  const view = h("div", { class: "view" }, h("p", { class: "loading" }, "Loading…"));
  root.append(view);
  try {
    const module = await route.page();
    if (ticket !== state.rendering) return;
    clear(view);
    const cleanup = await module.render(view, {
      params, query: new URLSearchParams(location.search), session: state.session, navigate,
    });
    if (ticket !== state.rendering) {
      if (typeof cleanup === "function") cleanup();
      return;
    }
    state.cleanup = typeof cleanup === "function" ? cleanup : null;
  } catch (error) {
    if (ticket !== state.rendering) return;
    clear(view);
    view.append(h("h1", {}, "Something went wrong"),
                h("p", { class: "error", role: "alert" }, error.message || String(error)));
  }
  markCurrentNav();
}

function drawTopBar() {
  const bar = clear(document.getElementById("top"));
  const brand = h("a", { href: "/", "data-route": "", class: "brand" }, "Shipyard");
  if (!state.session) {
    bar.append(h("nav", { "aria-label": "Main" }, brand));
    return;
  }
  const items = [
    ["/console/services", "Services"],
    ["/console/models", "Models"],
  ];
  if (state.session.is_admin) items.push(["/console/admin", "Administration"]);
  const signOut = h("button", { type: "button", class: "link-button" }, "Sign out");
  signOut.addEventListener("click", () => withBusy(signOut, async () => {
    await del("/iam/session");
    state.session = null;
    navigate("/");
  }));
  bar.append(h("nav", { "aria-label": "Main" },
    brand,
    h("ul", { class: "nav-items" },
      items.map(([href, text]) => h("li", {}, link(href, text, { class: "nav-link" }))),
      h("li", {}, h("a", { href: "/docs", class: "nav-link" }, "API docs"))),
    h("div", { class: "who" }, h("span", { class: "user" }, state.session.user), signOut)));
}

function markCurrentNav() {
  const path = location.pathname === "/" ? "/console/services" : location.pathname;
  for (const anchor of document.querySelectorAll(".nav-link")) {
    const href = anchor.getAttribute("href");
    if (path.startsWith(href)) anchor.setAttribute("aria-current", "page");
    else anchor.removeAttribute("aria-current");
  }
}

function renderSignIn(root) {
  document.title = "Sign in · Shipyard";
  clear(root);
  const user = h("input", { name: "user", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password",
                                autocomplete: "current-password", required: true });
  const slot = errorSlot();
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "card narrow", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to Shipyard"),
    field("User name", user),
    field("Password", password),
    slot,
    h("div", { class: "actions" }, button),
    h("p", { class: "hint" },
      "No password yet? An administrator sets one, or set yours with ",
      h("code", {}, "shipyard users set-password"), "."));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(button, async () => {
      const session = await post("/iam/sessions", { user: user.value, password: password.value });
      state.session = session;
      render();
    }, { slot, busyText: "Signing in…" });
  });
  root.append(form);
  user.focus();
}

async function loadSession() {
  const session = await get("/iam/session");
  state.session = session.user ? session : null;
}

document.addEventListener("click", (event) => {
  const anchor = event.target.closest("a[data-route]");
  if (!anchor || event.defaultPrevented || event.button !== 0 || event.metaKey
      || event.ctrlKey || event.shiftKey || event.altKey || anchor.target) return;
  event.preventDefault();
  navigate(anchor.getAttribute("href"));
});

window.addEventListener("popstate", () => render());

window.addEventListener("shipyard:signed-out", () => {
  if (state.session) {
    state.session = null;
    render();
  }
});

loadSession().then(render, (error) => {
  const root = clear(main());
  root.append(h("h1", {}, "Shipyard cannot be reached"),
              h("p", { class: "error", role: "alert" }, error.message || String(error)));
});

