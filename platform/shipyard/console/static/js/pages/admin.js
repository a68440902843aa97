// Administration (/console/admin, administrators only): users (create one, which shows
// its first access key's secret once; set a user's password), projects and their members,
// and every access key (revoke one; create your own, whose secret is shown once).

import { del, get, post, put, seg } from "../api.js";
import { clear, errorSlot, field, formatTime, h, showError, table, toast, uid, withBusy } from "../dom.js";

const EXPIRIES = [
  ["", "Never"],
  ["3600", "In 1 hour"],
  ["86400", "In 1 day"],
  ["604800", "In 7 days"],
  ["2592000", "In 30 days"],
  ["7776000", "In 90 days"],
];
const MIN_PASSWORD = 10;

export async function render(root, ctx) {
  document.title = "Administration · Shipyard";
  root.append(h("h1", {}, "Administration"));
  if (!ctx.session || !ctx.session.is_admin) {
    root.append(h("p", {}, "Only administrators can see this page."));
    return undefined;
  }
  const admin = {
    data: { users: [], projects: [], tokens: [], services: [] },
    showRevoked: false,
    lastFocus: null,
    secret: h("div", { class: "secret-slot" }),
    tables: {},
  };
  admin.reload = () => reload(admin);
  root.append(
    admin.secret,
    usersSection(admin),
    projectsSection(admin),
    tokensSection(admin),
  );
  await admin.reload();
  return undefined;
}

async function reload(admin) {
  const [users, projects, tokens, services] = await Promise.all([
    get("/iam/users"), get("/iam/projects"), get("/iam/tokens", { query: { all: "true" } }),
    get("/api/v1/services").catch(() => ({ services: [] })),
  ]);
  admin.data = { users: users.users, projects: projects.projects, tokens: tokens.tokens,
                 services: services.services };
  for (const [key, { container, heading, redraw }] of Object.entries(admin.tables)) {
    redraw();
    if (admin.lastFocus && admin.lastFocus.key === key && focusLost()) {
      refocus(container, heading, admin.lastFocus.label);
    }
  }
}

/** Whether the focus went nowhere (its control was disabled or redrawn away). */
function focusLost() {
  const active = document.activeElement;
  return !active || active === document.body || !active.isConnected;
}

/** Put the focus back on the control of the same name in a redrawn table, else its heading. */
function refocus(container, heading, label) {
  const again = label
    ? [...container.querySelectorAll("[aria-label]")].find((e) => e.getAttribute("aria-label") === label)
    : null;
  (again || heading).focus();
}

/** A section (card) with its heading, an optional form, and a table redrawn on reload. */
function section(admin, key, title, { form, drawTable }) {
  const headingId = uid("admin");
  const heading = h("h2", { id: headingId, tabindex: "-1" }, title);
  const container = h("div", { class: "admin-table" });
  admin.tables[key] = { container, heading, redraw: () => clear(container).append(drawTable()) };
  container.addEventListener("focusin", (event) => {
    admin.lastFocus = { key, label: event.target.getAttribute("aria-label") };
  });
  container.addEventListener("focusout", (event) => {
    if (event.relatedTarget && !container.contains(event.relatedTarget)) admin.lastFocus = null;
  });
  return h("section", { class: "card titled", "aria-labelledby": headingId }, heading, form, container);
}

/** Show a new access key's secret, once, above the sections. */
function showSecret(admin, title, answer) {
  const secretId = uid("secret");
  const copy = h("button", { type: "button" }, "Copy secret");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(answer.secret_access_key);
      toast("The secret is copied.");
    } catch {
      toast("Copying is not allowed here: select the secret and copy it.", "error");
    }
  });
  const dismiss = h("button", { type: "button" }, "I have saved it");
  const box = h("section", { class: "card titled secret", "aria-labelledby": secretId },
    h("h2", { id: secretId }, title),
    h("p", {}, h("strong", {}, "Copy the secret now: it is not shown again.")),
    h("dl", { class: "facts" },
      h("dt", {}, "Access key id"), h("dd", {}, h("code", {}, answer.access_key_id)),
      h("dt", {}, "Secret access key"), h("dd", {}, h("code", { class: "secret-value" }, answer.secret_access_key)),
      h("dt", {}, "Region"), h("dd", {}, h("code", {}, answer.region)),
      h("dt", {}, "Service"), h("dd", {}, h("code", {}, answer.service)),
      answer.expires_at ? [h("dt", {}, "Expires"), h("dd", {}, formatTime(answer.expires_at))] : null),
    h("div", { class: "actions" }, copy, dismiss));
  dismiss.addEventListener("click", () => {
    clear(admin.secret);
    document.getElementById("main").focus();
  });
  clear(admin.secret).append(box);
  box.scrollIntoView({ block: "nearest" });
  copy.focus();
}

function checkbox(name, text) {
  const input = h("input", { type: "checkbox", name, id: uid() });
  return { input, row: h("div", { class: "field inline" }, input, h("label", { for: input.id }, text)) };
}

// -- users ----------------------------------------------------------------------------

function usersSection(admin) {
  const name = h("input", { name: "name", required: true, autocomplete: "off", spellcheck: "false",
                            maxlength: "63" });
  const isAdmin = checkbox("is_admin", "Administrator");
  const slot = errorSlot();
  const button = h("button", { type: "submit", class: "primary" }, "Create user");
  const form = h("form", { novalidate: true, class: "inline-form", "aria-label": "Create a user" },
    h("h3", {}, "Create a user"),
    h("p", { class: "hint" },
      "A name of lowercase letters, digits and hyphens. A user gets a project of their name and a first access key; set a password for them to sign in here."),
    h("div", { class: "toolbar" },
      field("New user's name", name),
      isAdmin.row,
      h("div", { class: "field" }, button)),
    slot);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(button, async () => {
      const answer = await post("/iam/users", { name: name.value.trim(), is_admin: isAdmin.input.checked });
      form.reset();
      showSecret(admin, `User ${answer.user.name} created: their first access key`, answer);
      await admin.reload();
    }, { slot, busyText: "Creating…" });
  });
  return section(admin, "users", "Users", { form, drawTable: () => usersTable(admin) });
}

function usersTable(admin) {
  return table([
    { label: "User", value: (u) => u.name },
    { label: "Role", value: (u) => (u.is_admin
      ? h("span", { class: "badge kind-model" }, "administrator") : "user") },
    { label: "Created", value: (u) => formatTime(u.created_at) },
    { label: "Password", value: (u) => passwordControl(u) },
  ], admin.data.users, { caption: "Users", empty: "No user." });
}

/** "Set password" for a user: opens a small form in place. */
function passwordControl(user) {
  const cell = h("div", { class: "password-cell" });
  const open = h("button", { type: "button", "aria-expanded": "false",
                             "aria-label": `Set password for ${user.name}` }, "Set password");
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password",
                                minlength: String(MIN_PASSWORD), required: true });
  const slot = errorSlot();
  const save = h("button", { type: "submit", class: "primary" }, "Save password");
  const cancel = h("button", { type: "button" }, "Cancel");
  const form = h("form", { novalidate: true, class: "password-form", hidden: true,
                           "aria-label": `Password of ${user.name}` },
    h("input", { type: "text", name: "username", autocomplete: "username", value: user.name,
                 hidden: true, tabindex: "-1", "aria-hidden": "true" }),
    field(`New password for ${user.name}`, password, `At least ${MIN_PASSWORD} characters.`),
    slot,
    h("div", { class: "actions" }, save, cancel));
  const toggle = (shown) => {
    form.hidden = !shown;
    open.hidden = shown;
    open.setAttribute("aria-expanded", String(shown));
    if (shown) password.focus();
    else {
      form.reset();
      showError(slot, null);
      open.focus();
    }
  };
  open.addEventListener("click", () => toggle(true));
  cancel.addEventListener("click", () => toggle(false));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(save, async () => {
      await put(`/iam/users/${seg(user.name)}/password`, { password: password.value });
      toast(`The password of ${user.name} is set.`);
      toggle(false);
    }, { slot, busyText: "Saving…" });
  });
  cell.append(open, form);
  return cell;
}

// -- projects and members -------------------------------------------------------------

function projectsSection(admin) {
  const name = h("input", { name: "project", required: true, autocomplete: "off",
                            spellcheck: "false", maxlength: "63" });
  const slot = errorSlot();
  const button = h("button", { type: "submit", class: "primary" }, "Create project");
  const form = h("form", { novalidate: true, class: "inline-form", "aria-label": "Create a project" },
    h("h3", {}, "Create a project"),
    h("p", { class: "hint" }, "You become its first member."),
    h("div", { class: "toolbar" },
      field("Project name", name),
      h("div", { class: "field" }, button)),
    slot);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(button, async () => {
      const project = await post("/iam/projects", { name: name.value.trim() });
      form.reset();
      toast(`Project ${project.name} created.`);
      await admin.reload();
    }, { slot, busyText: "Creating…" });
  });
  return section(admin, "projects", "Projects and members",
                 { form, drawTable: () => projectsTable(admin) });
}

function projectsTable(admin) {
  return table([
    { label: "Project", value: (p) => p.name },
    { label: "Members", value: (p) => membersList(admin, p) },
    { label: "Add a member", value: (p) => addMemberForm(admin, p) },
    { label: "Created", value: (p) => formatTime(p.created_at) },
  ], admin.data.projects, { caption: "Projects", empty: "No project." });
}

function membersList(admin, project) {
  if (!project.members.length) return h("span", { class: "empty" }, "no member");
  return h("ul", { class: "chips", "aria-label": `Members of ${project.name}` },
    project.members.map((member) => {
      const remove = h("button", { type: "button", class: "chip-remove",
                                   "aria-label": `Remove ${member} from ${project.name}` }, "×");
      remove.addEventListener("click", () => withBusy(remove, async () => {
        await del(`/iam/projects/${seg(project.name)}/members/${seg(member)}`);
        toast(`${member} is no longer a member of ${project.name}.`);
        await admin.reload();
      }));
      return h("li", { class: "chip" }, h("span", {}, member), remove);
    }));
}

function addMemberForm(admin, project) {
  const candidates = admin.data.users.filter((u) => !project.members.includes(u.name));
  if (!candidates.length) return h("span", { class: "hint" }, "every user is a member");
  const user = h("select", { name: "user", "aria-label": `User to add to ${project.name}` },
    candidates.map((u) => h("option", { value: u.name }, u.name)));
  const slot = errorSlot();
  const button = h("button", { type: "submit", "aria-label": `Add member to ${project.name}` }, "Add");
  const form = h("form", { novalidate: true, class: "add-member" }, user, button, slot);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(button, async () => {
      await put(`/iam/projects/${seg(project.name)}/members/${seg(user.value)}`);
      toast(`${user.value} is now a member of ${project.name}.`);
      await admin.reload();
    }, { slot });
  });
  return form;
}

// -- access keys ----------------------------------------------------------------------

function tokensSection(admin) {
  const description = h("input", { name: "description", maxlength: "256", autocomplete: "off" });
  const expires = h("select", { name: "expires_in" },
    EXPIRIES.map(([value, text]) => h("option", { value }, text)));
  const slot = errorSlot();
  const button = h("button", { type: "submit", class: "primary" }, "Create access key");
  const revoked = checkbox("show_revoked", "Show revoked and expired keys");
  revoked.input.addEventListener("change", () => {
    admin.showRevoked = revoked.input.checked;
    admin.tables.tokens.redraw();
  });
  const form = h("div", {},
    h("form", { novalidate: true, class: "inline-form", "aria-label": "Create your own access key" },
      h("h3", {}, "Create your own access key"),
      h("p", { class: "hint" }, "For the CLI, the SDK or signed calls (SigV4) as yourself."),
      h("div", { class: "toolbar" },
        field("Key description", description),
        field("Expires", expires),
        h("div", { class: "field" }, button)),
      slot),
    h("h3", {}, "Every access key"),
    revoked.row);
  form.querySelector("form").addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(button, async () => {
      const body = { description: description.value.trim() };
      if (expires.value) body.expires_in = Number(expires.value);
      const answer = await post("/iam/tokens", body);
      event.target.reset();
      showSecret(admin, "Your new access key", answer);
      await admin.reload();
    }, { slot, busyText: "Creating…" });
  });
  return section(admin, "tokens", "Access keys", { form, drawTable: () => tokensTable(admin) });
}

function keyState(key) {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return "expired";
  return "active";
}

function ownerName(admin, owner) {
  const [kind, id] = owner.split(":");
  if (kind === "user") {
    const user = admin.data.users.find((u) => u.id === id);
    return user ? user.name : owner;
  }
  const service = admin.data.services.find((s) => s.id === id);
  return service ? `service ${service.name}` : owner;
}

function tokensTable(admin) {
  const keys = admin.data.tokens.filter((k) => admin.showRevoked || keyState(k) === "active");
  return table([
    { label: "Access key id", value: (k) => h("code", {}, k.access_key_id) },
    { label: "Owner", value: (k) => ownerName(admin, k.owner) },
    { label: "Description", value: (k) => k.description || "—" },
    { label: "Created", value: (k) => formatTime(k.created_at) },
    { label: "Expires", value: (k) => (k.expires_at ? formatTime(k.expires_at) : "never") },
    { label: "State", value: (k) => stateBadge(keyState(k)) },
    { label: "Revoke", value: (k) => (keyState(k) === "revoked" ? "—" : revokeControl(admin, k)) },
  ], keys, { caption: "Access keys", empty: admin.showRevoked ? "No access key." : "No active access key." });
}

function stateBadge(state) {
  const kind = { active: "ok", revoked: "bad", expired: "warn" }[state];
  return h("span", { class: `badge ${kind}` }, state);
}

/** "Revoke", then "Yes, revoke" or "Cancel": a key is revoked on the second click only. */
function revokeControl(admin, key) {
  const cell = h("div", { class: "revoke-cell" });
  const ask = h("button", { type: "button", class: "danger",
                            "aria-label": `Revoke key ${key.access_key_id}` }, "Revoke");
  const confirm = h("button", { type: "button", class: "danger",
                                "aria-label": `Confirm revoking key ${key.access_key_id}` }, "Yes, revoke");
  const cancel = h("button", { type: "button" }, "Cancel");
  const question = h("span", { class: "revoke-question", hidden: true },
    h("span", {}, "Revoke it? "), confirm, " ", cancel);
  const slot = errorSlot();
  const asking = (shown) => {
    question.hidden = !shown;
    ask.hidden = shown;
    (shown ? confirm : ask).focus();
  };
  ask.addEventListener("click", () => asking(true));
  cancel.addEventListener("click", () => asking(false));
  confirm.addEventListener("click", () => withBusy(confirm, async () => {
    await del(`/iam/tokens/${seg(key.access_key_id)}`);
    toast(`Key ${key.access_key_id} is revoked.`);
    await admin.reload();
  }, { slot, busyText: "Revoking…" }));
  cell.append(ask, question, slot);
  return cell;
}
