// A service's Integrate tab: ready-to-copy calls of this service from elsewhere: curl with
// an API key, curl signed with SigV4, Python (requests + requests-aws4auth) and the
// Shipyard SDK, filled in with the service's URL and a route of its live generation's
// OpenAPI document (the same example call `shipyard deploy` prints). Secrets stay
// placeholders.

import { get } from "../api.js";
import { h, link, toast, uid } from "../dom.js";
import { serviceUrl } from "./service.js";

const WITH_BODY = ["post", "put", "patch"];
const HEALTH_PATH = "/_shipyard/health";
const DEFAULT_REGION = "us-east-1";
const SIGNING_SERVICE = "execute-api";

/** A call worth showing: the first with a JSON body example, else the first plain GET. */
function exampleCall(document) {
  const paths = (document && document.paths) || {};
  for (const [path, operations] of Object.entries(paths)) {
    if (path.includes("{")) continue;
    for (const method of WITH_BODY) {
      const body = jsonExample(((operations[method] || {}).requestBody) || {});
      if (body !== undefined) return { method, path, body };
    }
  }
  for (const [path, operations] of Object.entries(paths)) {
    if (operations.get && !path.includes("{")) return { method: "get", path, body: undefined };
  }
  return { method: "get", path: HEALTH_PATH, body: undefined };
}

function jsonExample(requestBody) {
  const media = (requestBody.content || {})["application/json"];
  if (!media) return undefined;
  let example;
  if ("example" in media) example = media.example;
  else {
    const first = Object.values(media.examples || {})[0];
    if (!first || !("value" in first)) return undefined;
    example = first.value;
  }
  return Array.isArray(example) && example.length ? example.slice(0, 1) : example;
}

/** A word for a POSIX shell, quoted only when it must be (Python's shlex.quote). */
function shellQuote(word) {
  if (word && /^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, "'\"'\"'")}'`;
}

/** A JSON value written as a Python literal. */
function pythonLiteral(value, indent = "") {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number" || typeof value === "string") return JSON.stringify(value);
  const inner = `${indent}    `;
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((v) => inner + pythonLiteral(v, inner)).join(",\n")},\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${pythonLiteral(v, inner)}`).join(", ")}}`;
}

/** A JSON value on one line, spaced as Python's json.dumps writes it. */
function jsonLine(value) {
  if (Array.isArray(value)) return `[${value.map(jsonLine).join(", ")}]`;
  if (value && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${jsonLine(v)}`).join(", ")}}`;
  }
  return JSON.stringify(value === undefined ? null : value);
}

/** The curl command's lines: the call, then one option per line. */
function curlLines(url, call, extra) {
  const lines = [["curl", "-X", call.method.toUpperCase(), url + call.path].map(shellQuote).join(" ")];
  if (call.body !== undefined) {
    lines.push(`-H ${shellQuote("Content-Type: application/json")}`, `-d ${shellQuote(jsonLine(call.body))}`);
  }
  lines.push(...extra);
  return lines.join(" \\\n  ");
}

function curlWithKey(url, call) {
  return curlLines(url, call, [`-H ${shellQuote("X-Api-Key: sy_...")}`]);
}

function curlSigned(url, call) {
  return curlLines(url, call, [
    `--aws-sigv4 ${shellQuote(`aws:amz:${DEFAULT_REGION}:${SIGNING_SERVICE}`)}`,
    '--user "$SHIPYARD_ACCESS_KEY_ID:$SHIPYARD_SECRET_ACCESS_KEY"',
  ]);
}

function pythonRequests(url, call) {
  const args = [`"${url}${call.path}"`, "auth=auth"];
  if (call.body !== undefined) args.push(`json=${pythonLiteral(call.body)}`);
  args.push("timeout=30");
  return [
    "import os",
    "",
    "import requests",
    "from requests_aws4auth import AWS4Auth",
    "",
    "auth = AWS4Auth(",
    '    os.environ["SHIPYARD_ACCESS_KEY_ID"],',
    '    os.environ["SHIPYARD_SECRET_ACCESS_KEY"],',
    `    "${DEFAULT_REGION}",  # the region \`shipyard tokens create\` prints`,
    `    "${SIGNING_SERVICE}",`,
    ")",
    `response = requests.${call.method}(${args.join(", ")})`,
    "response.raise_for_status()",
    "print(response.headers.get(\"X-Shipyard-Generation\"), response.json())",
    "",
    "# Or, with an API key instead of a signature:",
    `# requests.${call.method}(..., headers={"X-Api-Key": "sy_..."})`,
  ].join("\n");
}

function sdkCall(origin, name, call) {
  const args = [JSON.stringify(call.method), JSON.stringify(call.path), JSON.stringify(name)];
  if (call.body !== undefined) args.push(pythonLiteral(call.body));
  return [
    "from shipyard_sdk import Client",
    "",
    "# Signs with SHIPYARD_ACCESS_KEY_ID / SHIPYARD_SECRET_ACCESS_KEY, or the CLI's credentials file;",
    "# or pass access_key=..., secret_key=... yourself.",
    `with Client("${origin}") as client:`,
    `    print(client.user_services.invoke(${args.join(", ")}))`,
    "",
    "# From inside another Shipyard service (the runner sets SHIPYARD_URL):",
    "from shipyard_sdk import user_services",
    "",
    `user_services.invoke(${args.join(", ")})`,
  ].join("\n");
}

async function copyText(text, pre) {
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied.");
  } catch {
    const range = document.createRange();
    range.selectNodeContents(pre);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    pre.focus();
    toast("The browser did not let the page copy: the text is selected, press Ctrl+C (⌘C) to copy it.");
  }
}

function snippet(title, copyLabel, text, notes) {
  const titleId = uid("snippet");
  const pre = h("pre", { class: "snippet", tabindex: "0", "aria-labelledby": titleId }, h("code", {}, text));
  const copy = h("button", { type: "button", class: "copy-button", "aria-label": copyLabel }, "Copy");
  copy.addEventListener("click", () => copyText(text, pre));
  return h("section", { class: "card integrate-snippet", "aria-labelledby": titleId },
    h("div", { class: "snippet-head" }, h("h2", { id: titleId }, title), copy),
    notes ? h("p", { class: "hint" }, notes) : null,
    pre);
}

export async function render(root, ctx) {
  const url = `${location.origin}/user-services/invoke/${ctx.name}`;
  let document = null;
  let missing = "";
  if (ctx.service.live_generation) {
    try {
      document = await get(`${ctx.path}/openapi.json`);
    } catch (error) {
      missing = error.message;
    }
  } else {
    missing = `${ctx.name} serves no generation yet.`;
  }
  const call = exampleCall(document);
  const isPublic = ctx.service.access_level === "public";

  root.append(
    h("section", { class: "card integrate-url", "aria-labelledby": "integrate-url-title" },
      h("h2", { id: "integrate-url-title" }, "Service URL"),
      h("p", {}, h("code", { class: "integrate-url-text" }, url)),
      h("p", { class: "hint" },
        `The examples call ${call.method.toUpperCase()} ${call.path}`,
        missing ? ` (its documentation is not available: ${missing})` : " from its documentation",
        ". ",
        isPublic ? "The service is public: a call needs no credentials."
          : ["Calls need an API key of this service (",
             link(serviceUrl(ctx.name, "keys"), "API keys"),
             ") or a signature with your access key (",
             h("code", {}, "shipyard tokens create"), ")."])),
    snippet("curl with an API key", "Copy the curl command with an API key", curlWithKey(url, call),
      "Replace sy_... with a key made on the API keys tab."),
    snippet("curl signed with SigV4", "Copy the signed curl command", curlSigned(url, call),
      "curl 7.75 or later signs the call itself with --aws-sigv4; set the two variables to your access key and its secret."),
    snippet("Python: requests and requests-aws4auth", "Copy the Python requests example", pythonRequests(url, call),
      "pip install requests requests-aws4auth"),
    snippet("Python: the Shipyard SDK", "Copy the Shipyard SDK example", sdkCall(location.origin, ctx.name, call),
      "shipyard_sdk is part of Shipyard's Python package. invoke answers the decoded JSON and raises on an error answer."),
  );
}
