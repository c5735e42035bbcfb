// Audit: who changed which judgement, from what to what, and why; filterable, newest first.
import { get, operation } from "../api.js";
import { clear, errorBox, fmtTime, h, notAvailable } from "../dom.js";
import { exportButton, exportGroup } from "../exports.js";
import { setParams } from "../main.js";

const show = (v) => (v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));
// An override with nothing before it replaced no reviewer's value: the AI's assessment or the
// rules' flag stood, which the audit trail does not copy (the session list derives them).
const OVERRIDES = /^(human_assessment$|flags\.)/;
const before = (e) => (e.before == null && OVERRIDES.test(e.field) ? "not set by a reviewer" : show(e.before));

export async function render(root, { params }) {
  if (!operation("/v1/audit", "get")) { root.append(notAvailable("Audit trail")); return; }
  const f = { actor: params.get("actor") || "", session: params.get("session") || "", kind: params.get("kind") || "", from: params.get("from") || "", to: params.get("to") || "" };
  let cursor = null;
  const body = h("tbody");
  const status = h("div.status-line");
  const more = h("button#load-more", { type: "button", hidden: true, onclick: () => load(false) }, "Load more");
  // The API wants zoned times for from/to: a local datetime-local value gets the browser's zone.
  const zoned = (v) => (v ? new Date(v).toISOString() : "");
  async function load(reset) {
    if (reset) { cursor = null; clear(body); }
    try {
      const page = await get("/v1/audit", { ...f, from: zoned(f.from), to: zoned(f.to), limit: 50, cursor });
      body.append(...page.items.map((e) => h("tr", { "data-event-id": e.event_id, "data-action": e.action },
        h("td", fmtTime(e.recorded_at, { seconds: true })),
        h("td", { title: `${e.actor.kind} ${e.actor.id}` }, e.actor.name || e.actor.id),
        h("td", h("code", e.action)), h("td", e.field),
        h("td.change", h("span.before", before(e)), " → ", h("span.after", show(e.after))),
        h("td", e.reason || ""),
        h("td", e.stream_type === "session" ? h("a", { href: `#/session/${e.stream_id}` }, `${e.stream_id.slice(0, 8)}…`) : h("a", { href: `#/missed/${e.stream_id}` }, "missed question")))));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      status.textContent = `${body.children.length} changes shown`;
      if (!body.children.length) body.append(h("tr", h("td.empty", { colspan: 7 }, "No changes match.")));
    } catch (error) { clear(status).append(errorBox(error)); }
  }
  function apply() {
    setParams(new URLSearchParams(Object.entries(f).filter(([, v]) => v)));
    load(true);
  }
  const input = (name, attrs) => h("input", { ...attrs, value: f[name], "aria-label": name, "data-filter": name, onchange: (e) => { f[name] = e.target.value.trim(); apply(); } });
  root.append(
    h("div.toolbar", h("h1", "Audit trail"),
      input("actor", { placeholder: "actor id" }), input("session", { placeholder: "session or group id" }),
      input("kind", { placeholder: "kind (e.g. flag_set)" }),
      h("label.inline", "from ", input("from", { type: "datetime-local" })), h("label.inline", "to ", input("to", { type: "datetime-local" })),
      exportGroup(exportButton("CSV", "/v1/exports/audit.csv", { id: "export-csv", params: () => ({ ...f, from: zoned(f.from), to: zoned(f.to) }), onError: (box) => status.append(box), title: "The audit trail (CSV) with the current filters" }))),
    h("table.list#audit-table", h("thead", h("tr", ["Recorded", "Who", "Action", "Field", "Before → after", "Reason", "On"].map((c) => h("th", c)))), body),
    h("div.footer", status, more));
  await load(true);
}
