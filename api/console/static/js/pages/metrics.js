// Metrics: ASR, OSS and CSS per agent (or channel) and period, as SVG charts and a table.
import { get, operation, resolveSchema } from "../api.js";
import { chart } from "../charts.js";
import { append, clear, errorBox, fmtNumber, h, notAvailable } from "../dom.js";
import { setParams } from "../main.js";

// A period that from/to cut says so: its figures are those of fewer days than its name.
const periodLabel = (r) => (r.clipped ? `${r.period_start} (only ${r.first_day} – ${r.last_day})` : r.period_start);

export async function render(root, { params }) {
  const op = operation("/v1/metrics/asr", "get");
  if (!op) { root.append(notAvailable("Metrics", "GET /v1/metrics/asr is not in the API.")); return; }
  const enumOf = (name, fallback) => resolveSchema(op.parameters.find((p) => p.name === name)?.schema).enum || fallback;
  const f = {
    group_by: params.get("group_by") || "agent", period: params.get("period") || "day",
    from: params.get("from") || "", to: params.get("to") || "",
  };
  const out = h("div.metrics");
  const control = (name, options) => h("select", { "aria-label": name, "data-filter": name, onchange: (e) => { f[name] = e.target.value; apply(); } },
    options.map((o) => h("option", { value: o, selected: f[name] === o }, o)));
  const date = (name) => h("input", { type: "date", value: f[name], "aria-label": name, "data-filter": name, onchange: (e) => { f[name] = e.target.value; apply(); } });

  async function load() {
    clear(out).append(h("p.muted", "Loading…"));
    let data;
    try { data = await get("/v1/metrics/asr", f); } catch (error) { clear(out).append(errorBox(error)); return; }
    const rows = data.rows;
    if (!rows.length) { clear(out).append(h("p.muted", "No sessions in this range.")); return; }
    const periods = [...new Set(rows.map((r) => r.period_start))].sort();
    // The biggest groups by sessions get their own series; the rest would clutter the chart.
    const totals = new Map();
    for (const r of rows) totals.set(r.group, (totals.get(r.group) || 0) + r.sessions);
    const groups = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([g]) => g);
    const index = new Map(rows.map((r) => [`${r.group}|${r.period_start}`, r]));
    const series = (metric) => groups.map((g) => ({ name: g, values: periods.map((p) => index.get(`${g}|${p}`)?.[metric] ?? null) }));
    append(clear(out),
      totals.size > groups.length ? h("p.muted", `Charts show the ${groups.length} largest of ${totals.size} groups; the table has all.`) : null,
      h("div.charts",
        chart({ title: `ASR per ${data.group_by} and ${data.period}`, kind: "bar", categories: periods, series: series("asr"), format: (v) => fmtNumber(v) }),
        chart({ title: "OSS (mean success over opportunities)", kind: "line", categories: periods, series: series("oss"), format: (v) => fmtNumber(v), empty: "No assessed opportunity in this range." }),
        chart({ title: "CSS (mean 0.2 × stars)", kind: "line", categories: periods, series: series("css"), format: (v) => fmtNumber(v), empty: "No rated session in this range." }),
        chart({ title: "Sessions", kind: "bar", categories: periods, series: series("sessions") })),
      h("table.list#metrics-table", h("thead", h("tr", ["Group", "Period", "Sessions", "Leads", "Opportunities", "Lead value", "ASR", "OSS", "CSS", "Rules"].map((c) => h("th", c)))),
        h("tbody", rows.map((r) => h("tr", h("td", r.group), h("td", periodLabel(r)), h("td.num", String(r.sessions)), h("td.num", String(r.leads)),
          h("td.num", String(r.opportunities)), h("td.num", fmtNumber(r.lead_value)), h("td.num", fmtNumber(r.asr)),
          h("td.num", fmtNumber(r.oss)), h("td.num", fmtNumber(r.css)), h("td.num", `v${r.rules_version}`))))));
  }
  function apply() {
    setParams(new URLSearchParams(Object.entries(f).filter(([, v]) => v)));
    load();
  }
  root.append(h("div.toolbar", h("h1", "Metrics"),
    h("label.inline", "per ", control("group_by", enumOf("group_by", ["agent", "channel"]))),
    h("label.inline", "by ", control("period", enumOf("period", ["day", "week", "month"]))),
    h("label.inline", "from ", date("from")), h("label.inline", "to ", date("to"))), out);
  await load();
}
