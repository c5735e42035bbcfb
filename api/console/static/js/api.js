// The console's only way to the API: fetch() with the key from sessionStorage.

const KEY = "ledger.console.key";
const ROLE = "ledger.console.role";
const NIL = "00000000-0000-0000-0000-000000000000";

export class ApiError extends Error {
  constructor(status, body, fallback) {
    const err = body && body.error;
    super(err ? `${err.message}${err.field ? ` (${err.field})` : ""}` : fallback);
    this.status = status;
    this.code = err ? err.code : null;
    this.field = err ? err.field : null;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  get role() { return sessionStorage.getItem(ROLE); },
  set(key, role) { sessionStorage.setItem(KEY, key); sessionStorage.setItem(ROLE, role); },
  clear() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(ROLE); },
};

/** Query string from an object; arrays repeat the parameter, empty values are left out. */
export function qs(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.filter((v) => v !== "").forEach((v) => search.append(name, v));
    else search.append(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

function headers(key, extra) {
  return { Authorization: `Bearer ${key ?? session.key}`, ...extra };
}

export async function request(method, path, { params, body, key, signal } = {}) {
  const init = { method, headers: headers(key), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path + qs(params), init);
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data, `${method} ${path}: HTTP ${response.status}`);
    if (response.status === 401 && key === undefined) window.dispatchEvent(new Event("ledger:unauthenticated"));
    throw error;
  }
  return data;
}

export const get = (path, params, opts) => request("GET", path, { ...opts, params });
export const post = (path, body, opts) => request("POST", path, { ...opts, body });

// --- what the API offers (from its OpenAPI document) --------------------------------------

let openapi = null;

export async function loadOpenApi() {
  if (!openapi) {
    const response = await fetch("/openapi.json");
    openapi = response.ok ? await response.json() : { paths: {}, components: { schemas: {} } };
  }
  return openapi;
}

export function operation(path, method = "get") {
  return openapi?.paths?.[path]?.[method] || null;
}

export function paths() {
  return Object.keys(openapi?.paths || {});
}

/** A query parameter's schema with $ref and anyOf-null resolved: {type, enum, items, format}. */
export function resolveSchema(schema) {
  if (!schema) return {};
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return { ...resolveSchema(openapi.components.schemas[name]), default: schema.default };
  }
  if (schema.anyOf) {
    const real = schema.anyOf.filter((s) => s.type !== "null");
    if (real.length === 1) return { ...resolveSchema(real[0]), description: schema.description, nullable: true };
  }
  if (schema.type === "array") return { ...schema, items: resolveSchema(schema.items) };
  return schema;
}

// --- who the key is -----------------------------------------------------------------------

const WHOAMI_PATHS = ["/v1/whoami", "/v1/me", "/v1/keys/me", "/v1/auth/whoami"];

/**
 * The key's role. A "who am I" route is used when the API has one; otherwise the role is
 * derived from probes that change nothing: the route's role check runs before its body is
 * validated, so an empty body answers 422 (allowed) or 403 (role lacking).
 */
export async function detectRole(key) {
  await loadOpenApi();
  const whoami = WHOAMI_PATHS.find((p) => operation(p, "get"));
  if (whoami) {
    const me = await request("GET", whoami, { key });
    if (me && typeof me.role === "string") return { role: me.role, name: me.name || null };
  }
  const status = async (method, path, body) => {
    try {
      await request(method, path, { key, body, params: method === "GET" ? { limit: 1 } : undefined });
      return 200;
    } catch (error) {
      if (error.status === 401) throw new ApiError(401, null, "The API key is unknown or revoked.");
      return error.status;
    }
  };
  const [view, review, ingest] = await Promise.all([
    status("GET", "/v1/sessions"),
    status("POST", `/v1/sessions/${NIL}/tags`, {}),
    status("POST", "/v1/sessions", {}),
  ]);
  const canView = view === 200;
  const canReview = review !== 403;
  const canIngest = ingest !== 403;
  const role = canView && canIngest ? "admin" : canReview ? "reviewer" : canView ? "viewer" : canIngest ? "ingest" : "unknown";
  return { role, name: null };
}

export const ROLES = {
  admin: { view: true, review: true },
  reviewer: { view: true, review: true },
  viewer: { view: true, review: false },
  ingest: { view: false, review: false },
};

export function can(permission) {
  return Boolean(ROLES[session.role]?.[permission]);
}

// --- Server-Sent Events over fetch (EventSource cannot send the Authorization header) -----

/**
 * Read an SSE stream with fetch() and a ReadableStream, sending the key in a header.
 * Reconnects after `retry` ms, resuming with Last-Event-ID. Returns a stop() function.
 */
export function streamEvents(path, onEvent, { onState } = {}) {
  let stopped = false;
  let controller = null;
  let lastId = null;
  let retry = 1000;

  async function connect() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const extra = lastId ? { "Last-Event-ID": lastId } : {};
        const response = await fetch(path, { headers: headers(undefined, { Accept: "text/event-stream", ...extra }), signal: controller.signal, cache: "no-store" });
        if (!response.ok) {
          onState?.(response.status === 404 ? "unavailable" : "error");
          if (response.status === 404 || response.status === 401 || response.status === 403) return;
          throw new Error(`HTTP ${response.status}`);
        }
        onState?.("open");
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
            const event = { event: "message", data: [], id: null };
            for (const line of block.split(/\r?\n/)) {
              if (!line || line.startsWith(":")) continue;
              const colon = line.indexOf(":");
              const field = colon < 0 ? line : line.slice(0, colon);
              const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              if (field === "event") event.event = val;
              else if (field === "data") event.data.push(val);
              else if (field === "id") event.id = val;
              else if (field === "retry" && /^\d+$/.test(val)) retry = Number(val);
            }
            if (event.id) lastId = event.id;
            if (event.data.length) {
              let data = event.data.join("\n");
              try { data = JSON.parse(data); } catch { /* plain text */ }
              onEvent(event.event, data, event.id);
            }
          }
        }
      } catch (error) {
        if (stopped) return;
        onState?.("reconnecting");
      }
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, retry));
    }
  }
  connect();
  return () => { stopped = true; controller?.abort(); };
}

// --- file downloads (the key goes in a header, so no plain <a href>) ----------------------

/** The file name a Content-Disposition header gives (filename*= or filename=), else null. */
export function dispositionName(header) {
  if (!header) return null;
  const star = /filename\*\s*=\s*(?:UTF-8'[^']*')?([^;]+)/i.exec(header);
  if (star) {
    try { return decodeURIComponent(star[1].trim().replace(/^"|"$/g, "")); } catch { /* fall through */ }
  }
  const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(header);
  return plain ? (plain[2] ?? plain[1]).trim() : null;
}

/** GET a file with the key: {blob, filename}; throws ApiError like request() does. */
export async function fetchFile(path, params, fallbackName) {
  const response = await fetch(path + qs(params), { headers: headers() });
  if (!response.ok) {
    let data = null;
    try { data = JSON.parse(await response.text()); } catch { /* not JSON */ }
    if (response.status === 401) window.dispatchEvent(new Event("ledger:unauthenticated"));
    throw new ApiError(response.status, data, `GET ${path}: HTTP ${response.status}`);
  }
  const name = dispositionName(response.headers.get("content-disposition")) || fallbackName || path.split("/").pop();
  return { blob: await response.blob(), filename: name.replace(/[\\/]/g, "_") };
}
