// Missed questions: groups by wording, sortable, date range and status; one group's story.
import { can, get, operation, post, resolveSchema, session as auth } from "../api.js";
import { chart } from "../charts.js";
import { append, clear, errorBox, fmtTime, h, notAvailable } from "../dom.js";
import { exportButton, exportGroup } from "../exports.js";
import { setParams } from "../main.js";

async function detailView(root, id) {
  const box = h("div.detail");
  root.append(h("a.back", { href: "#/missed" }, "← Missed questions"), box);
  async function draw() {
    let d;
    try {
      d = await get(`/v1/missed-questions/${id}`, { limit: 200 });
    } catch (error) { clear(box).append(errorBox(error)); return; }
    const g = d.group;
    const allowed = can("review");
    const out = h("div");
    const reason = h("input", { placeholder: "reason", "aria-label": "Reason", disabled: !allowed });
    const setStatus = (status) => async () => {
      clear(out);
      try {
        await post(`/v1/missed-questions/${id}/status`, { status, reason: reason.value.trim() || undefined });
        out.append(h("div.notice.ok", `Marked ${status}. The list updates once projected.`));
        setTimeout(draw, 800);
      } catch (error) { out.append(errorBox(error)); }
    };
    append(clear(box),
      h("h1", g.question),
      h("p", h("span.status", { "data-status": g.status }, g.status), ` · agent ${g.agent_id} · ${g.occurrences} occurrences in ${g.sessions} sessions · first ${fmtTime(g.first_seen)} · last ${fmtTime(g.last_seen)}`),
      d.status_reason ? h("p.muted", `Status reason: ${d.status_reason}`) : null,
      h("div.toolbar", reason,
        ["resolved", "ignored", "unresolved"].filter((s) => s !== g.status).map((s) =>
          h("button", { type: "button", disabled: !allowed, title: allowed ? "" : `Needs a reviewer or admin key (this key: ${auth.role})`, onclick: setStatus(s) }, `Mark ${s}`)),
        allowed ? null : h("span.muted", `Status changes need a reviewer or admin key (this key: ${auth.role}).`)),
      out,
      d.days.length ? chart({ title: "Occurrences per day", kind: "bar", categories: d.days.map((x) => x.day), series: [{ name: "occurrences", values: d.days.map((x) => x.occurrences) }, { name: "sessions", values: d.days.map((x) => x.sessions) }] }) : null,
      h("h3", "Occurrences (newest first)"),
      h("table.list", h("thead", h("tr", h("th", "When"), h("th", "As reported"), h("th", "Session"))),
        h("tbody", d.occurrences.map((o) => h("tr",
          h("td", fmtTime(o.occurred_at, { seconds: true })), h("td", o.question),
          h("td", h("a", { href: `#/session/${o.session_id}?m=${encodeURIComponent(o.message_id)}` }, `${o.session_id.slice(0, 8)}… / ${o.message_id}`)))))));
  }
  await draw();
}

export async function render(root, { id, params }) {
  if (!operation("/v1/missed-questions", "get")) { root.append(notAvailable("Missed questions")); return; }
  if (id) { await detailView(root, id); return; }
  const statuses = resolveSchema(operation("/v1/missed-questions", "get").parameters.find((p) => p.name === "status")?.schema).enum || ["unresolved", "resolved", "ignored"];
  const f = {
    agent: params.get("agent") || "", status: params.get("status") || "", from: params.get("from") || "",
    to: params.get("to") || "", sort: params.get("sort") || "occurrences",
  };
  const body = h("tbody");
  const more = h("button#load-more", { type: "button", hidden: true, onclick: () => load(false) }, "Load more");
  const status = h("div.status-line");
  let cursor = null;
  const input = (name, attrs) => h("input", { ...attrs, value: f[name], "aria-label": name, "data-filter": name, onchange: (e) => { f[name] = e.target.value.trim(); apply(); } });
  const select = (name, options) => h("select", { "aria-label": name, "data-filter": name, onchange: (e) => { f[name] = e.target.value; apply(); } },
    options.map(([v, l]) => h("option", { value: v, selected: f[name] === v }, l)));

  async function load(reset) {
    if (reset) { cursor = null; clear(body); }
    try {
      const page = await get("/v1/missed-questions", { ...f, limit: 50, cursor });
      const ranged = Boolean(f.from || f.to);
      body.append(...page.items.map((g) => h("tr", { "data-group-id": g.group_id, tabindex: 0, onclick: () => { location.hash = `#/missed/${g.group_id}`; } },
        h("td", g.question), h("td", g.agent_id), h("td", h("span.status", { "data-status": g.status }, g.status)),
        h("td.num", String(g.occurrences)), h("td.num", ranged ? String(g.occurrences_in_range ?? 0) : ""),
        h("td.num", String(g.sessions)), h("td", fmtTime(g.last_seen)))));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      status.textContent = `${body.children.length} groups shown`;
      if (!body.children.length) body.append(h("tr", h("td.empty", { colspan: 7 }, "No missed questions match.")));
    } catch (error) { clear(status).append(errorBox(error)); }
  }
  function apply() {
    setParams(new URLSearchParams(Object.entries(f).filter(([, v]) => v)));
    load(true);
  }
  root.append(
    h("div.toolbar", h("h1", "Missed questions"),
      input("agent", { placeholder: "agent id" }),
      select("status", [["", "any status"], ...statuses.map((s) => [s, s])]),
      h("label.inline", "from ", input("from", { type: "date" })), h("label.inline", "to ", input("to", { type: "date" })),
      select("sort", [["occurrences", "most occurrences"], ["last_seen", "last seen"]]),
      exportGroup(
        exportButton("CSV", "/v1/exports/missed-questions.csv", { id: "export-csv", params: () => ({ ...f, separator: "comma" }), onError: (box) => status.append(box) }),
        exportButton("CSV (;)", "/v1/exports/missed-questions.csv", { id: "export-csv-semicolon", params: () => ({ ...f, separator: "semicolon" }), onError: (box) => status.append(box), title: "Semicolon-separated, for Excel where the decimal mark is a comma" }))),
    h("table.list#missed-table", h("thead", h("tr", ["Question", "Agent", "Status", "Occurrences", "In range", "Sessions", "Last seen"].map((c) => h("th", c)))), body),
    h("div.footer", status, more));
  await load(true);
}
