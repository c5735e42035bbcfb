// The console's shell: sign-in, navigation and hash routes (#/sessions, #/session/<id>, …).
import { detectRole, loadOpenApi, session } from "./api.js";
import { clear, errorBox, h } from "./dom.js";

const PAGES = {
  sessions: () => import("./pages/sessions.js"),
  session: () => import("./pages/session.js"),
  missed: () => import("./pages/missed.js"),
  leads: () => import("./pages/leads.js"),
  metrics: () => import("./pages/metrics.js"),
  audit: () => import("./pages/audit.js"),
  rules: () => import("./pages/rules.js"),
};

const app = document.getElementById("app");
let teardown = null;
let generation = 0;

/** The current route: {page, id, params} from "#/page/id?x=1". */
export function route() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const [page, ...rest] = path.split("/").filter(Boolean);
  return { page: page || "sessions", id: rest.length ? decodeURIComponent(rest.join("/")) : null, params: new URLSearchParams(query) };
}

/** Replace the hash's query without re-rendering the page (filters, tabs). */
export function setParams(params) {
  const { page, id } = route();
  const query = params.toString();
  const hash = `#/${page}${id ? "/" + encodeURIComponent(id) : ""}${query ? "?" + query : ""}`;
  history.replaceState(null, "", hash);
}

function renderWho() {
  const who = clear(document.getElementById("who"));
  const nav = document.getElementById("nav");
  nav.hidden = !session.key;
  if (!session.key) return;
  who.append(
    h("span.role-badge", { "data-role": session.role, title: "The role of the API key you signed in with" }, session.role),
    h("button.link#sign-out", { type: "button", onclick: signOut }, "Sign out"),
  );
}

function signOut() {
  session.clear();
  location.hash = "#/signin";
  render();
}

function signIn(reason) {
  renderWho();
  const input = h("input#api-key", { type: "password", autocomplete: "off", spellcheck: "false", placeholder: "ledger_…", required: true, "aria-label": "API key" });
  const message = h("div.signin-message");
  if (reason) message.append(errorBox(reason));
  const form = h("form.signin", {
    onsubmit: async (event) => {
      event.preventDefault();
      clear(message);
      const key = input.value.trim();
      if (!key) return;
      try {
        const { role } = await detectRole(key);
        if (role === "ingest" || role === "unknown") {
          message.append(errorBox(`This key's role (${role}) cannot read sessions: sign in with a viewer, reviewer or admin key.`));
          return;
        }
        session.set(key, role);
        location.hash = "#/sessions";
        render();
      } catch (error) {
        message.append(errorBox(error));
      }
    },
  },
    h("h1", "Sign in"),
    h("p.muted", "Paste an API key (viewer, reviewer or admin). It is kept in this browser tab only (sessionStorage) and sent as Authorization: Bearer."),
    h("label", { for: "api-key" }, "API key"),
    input,
    h("button.primary#sign-in", { type: "submit" }, "Sign in"),
    message,
  );
  clear(app).append(form);
  input.focus();
}

async function render() {
  const mine = ++generation;
  if (teardown) { try { teardown(); } catch { /* ignore */ } teardown = null; }
  const current = route();
  if (!session.key || current.page === "signin") {
    if (session.key && current.page === "signin") { location.hash = "#/sessions"; return; }
    signIn();
    return;
  }
  renderWho();
  for (const link of document.querySelectorAll("#nav a")) {
    const active = link.dataset.page === current.page || (current.page === "session" && link.dataset.page === "sessions");
    link.classList.toggle("active", active);
  }
  const loader = PAGES[current.page];
  if (!loader) { clear(app).append(errorBox(`No page "${current.page}"`)); return; }
  clear(app).append(h("p.muted", "Loading…"));
  try {
    await loadOpenApi();
    const module = await loader();
    if (mine !== generation) return;
    const container = h("section.page", { "data-page": current.page });
    clear(app).append(container);
    teardown = (await module.render(container, current)) || null;
    if (mine !== generation && teardown) { teardown(); teardown = null; }
  } catch (error) {
    if (mine === generation) clear(app).append(errorBox(error));
  }
}

window.addEventListener("hashchange", render);
window.addEventListener("ledger:unauthenticated", () => {
  session.clear();
  signIn("The API key is no longer valid (unknown or revoked). Sign in again.");
});
render();
