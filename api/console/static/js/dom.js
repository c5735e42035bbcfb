// DOM helpers. User content only ever reaches the page through textContent or attribute
// values set with setAttribute on safe attributes: never through innerHTML.

const SAFE_URL = /^https?:\/\//i;

/** h("div.cls#id", {attrs}, ...children): children are nodes or strings (text nodes). */
export function h(tag, attrs, ...children) {
  const [name, ...rest] = tag.split(/(?=[.#])/);
  const el = document.createElement(name || "div");
  for (const part of rest) {
    if (part.startsWith(".")) el.classList.add(part.slice(1));
    else if (part.startsWith("#")) el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "class") {
      for (const c of String(value).split(/\s+/).filter(Boolean)) el.classList.add(c);
    } else if (key === "href" || key === "src") {
      const text = String(value);
      if (text.startsWith("#") || SAFE_URL.test(text) || text.startsWith("/")) {
        el.setAttribute(key, text);
      }
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else if (key === "checked" || key === "disabled" || key === "selected" || key === "hidden") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function safeUrl(url) {
  return typeof url === "string" && SAFE_URL.test(url.trim()) ? url.trim() : null;
}

const pad = (n) => String(n).padStart(2, "0");

/** A timestamp as local "YYYY-MM-DD HH:MM" (seconds with {seconds: true}). */
export function fmtTime(value, { seconds = false } = {}) {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? ":" + pad(d.getSeconds()) : ""}`;
  return `${date} ${time}`;
}

export function fmtNumber(value, digits = 2) {
  if (value === null || value === undefined || value === "") return "";
  const n = Number(value);
  return Number.isFinite(n) ? (Number.isInteger(n) ? String(n) : n.toFixed(digits)) : String(value);
}

export function fmtDuration(seconds) {
  if (!seconds && seconds !== 0) return "";
  const m = Math.floor(seconds / 60);
  return m ? `${m} min ${seconds % 60} s` : `${seconds} s`;
}

export function humanize(name) {
  const text = String(name).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A compact key/value table. */
export function kv(rows) {
  return h("dl.kv", ...rows
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => [h("dt", k), h("dd", v instanceof Node ? v : String(v))]));
}

export function notAvailable(what, detail) {
  return h("div.notice.not-available", h("strong", `${what}: not available`),
    detail ? h("p.muted", detail) : null);
}

export function errorBox(error) {
  return h("div.notice.error", { role: "alert" }, error?.message || String(error));
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function download(filename, blob) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { download: filename });
  a.href = url;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
