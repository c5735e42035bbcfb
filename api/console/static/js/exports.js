// Export buttons: a download through fetch() (so the key travels in a header), then a blob
// URL clicked by a temporary <a download>. A button exists only if its route is in /openapi.json.
import { fetchFile, operation } from "./api.js";
import { download, errorBox, h } from "./dom.js";

/**
 * A button downloading GET `route` (an OpenAPI path, maybe with {placeholders}).
 * `pathParams` fill the placeholders; `params()` gives the query at click time (current
 * filters); `onError(node)` shows a failure. Returns null when the API lacks the route.
 */
export function exportButton(label, route, { pathParams = {}, params = () => ({}), onError, id, title } = {}) {
  if (!operation(route, "get")) return null;
  const path = route.replace(/\{([^}]+)\}/g, (_, name) => encodeURIComponent(pathParams[name] ?? ""));
  const button = h("button.export", { type: "button", id, title: title || `Download ${path}`, "data-export": route });
  button.textContent = label;
  button.addEventListener("click", async () => {
    button.disabled = true;
    const before = button.textContent;
    button.textContent = `${label}…`;
    try {
      const { blob, filename } = await fetchFile(path, params());
      download(filename, blob);
    } catch (error) {
      const box = errorBox(new Error(`${label} export failed: ${error.message}`));
      if (onError) onError(box); else button.after(box);
    } finally {
      button.disabled = false;
      button.textContent = before;
    }
  });
  return button;
}

/** A labelled group of export buttons (empty groups are hidden). */
export function exportGroup(...buttons) {
  const present = buttons.filter(Boolean);
  return h("span.exports", { hidden: !present.length, "aria-label": "Export" },
    present.length ? h("span.muted", "Export ") : null, present);
}
