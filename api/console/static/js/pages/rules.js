// Rules: versions, diff and rebuild progress, where the API offers them.
import { get, operation, paths } from "../api.js";
import { errorBox, h, notAvailable } from "../dom.js";

function json(value) {
  return h("pre.json", JSON.stringify(value, null, 2));
}

export async function render(root) {
  root.append(h("h1", "Rules"));
  // Any GET route about rules or projections (rebuild / status) that needs no path parameter.
  const routes = paths().filter((p) => /^\/v1\/(rules|projections|rebuild)/.test(p) && !p.includes("{") && operation(p, "get"));
  if (!routes.length) {
    root.append(notAvailable("Rules", "The API has no rules, diff or rebuild routes yet (looked for /v1/rules…, /v1/projections…). This page lights up when they exist."));
    return;
  }
  for (const path of routes) {
    const section = h("section.panel", h("h3", h("code", `GET ${path}`)));
    root.append(section);
    try {
      section.append(json(await get(path)));
    } catch (error) {
      section.append(error.status === 404 ? notAvailable(path) : errorBox(error));
    }
  }
}
