// The API, as the console calls it: same origin, the session cookie, the CSRF token on
// every change, and Shipyard's {"error": {"type", "message"}} turned into an ApiError.

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "shipyard_csrf") return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** The encoded path segment of a service, model or user reference. */
export function seg(ref) {
  return encodeURIComponent(ref);
}

async function errorOf(response) {
  let type = "HTTPError";
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      type = body.error.type || type;
      message = body.error.message || message;
    }
  } catch {
    // not JSON: keep the status line
  }
  if (response.status === 401) {
    window.dispatchEvent(new CustomEvent("shipyard:signed-out", { detail: message }));
  }
  return new ApiError(response.status, type, message);
}

/**
 * Call the API. `body` is sent as JSON unless it is a FormData, a Blob or a string
 * (sent as they are, with `contentType` when given). Answers the parsed JSON, the text
 * (for `as: "text"`), or the Response itself (for `as: "response"`).
 */
export async function request(method, path, { body, contentType, headers = {}, as = "json",
                                               signal, query } = {}) {
  const sent = { ...headers };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData) && !(body instanceof Blob)
      && typeof body !== "string") {
    payload = JSON.stringify(body);
    sent["Content-Type"] = "application/json";
  } else if (contentType) {
    sent["Content-Type"] = contentType;
  }
  if (!SAFE.has(method)) sent["X-CSRF-Token"] = csrfToken();
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, value);
    }
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  const response = await fetch(url, {
    method, headers: sent, body: payload, credentials: "same-origin", signal,
  });
  if (!response.ok) throw await errorOf(response);
  if (as === "response") return response;
  if (as === "text") return response.text();
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, body, options = {}) => request("POST", path, { ...options, body });
export const put = (path, body, options = {}) => request("PUT", path, { ...options, body });
export const patch = (path, body, options = {}) => request("PATCH", path, { ...options, body });
export const del = (path, options) => request("DELETE", path, options);

/**
 * Read a streamed text answer line by line as it arrives (a build log that follows),
 * calling `onLine(text)` for each; resolves when the answer ends or `signal` aborts.
 */
export async function streamLines(path, onLine, { signal, query } = {}) {
  const response = await request("GET", path, { as: "response", signal, query });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = pending.indexOf("\n")) >= 0) {
        onLine(pending.slice(0, cut));
        pending = pending.slice(cut + 1);
      }
    }
    pending += decoder.decode();
    if (pending) onLine(pending);
  } catch (error) {
    if (error.name !== "AbortError") throw error;
  }
}
