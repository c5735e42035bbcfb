// Rules: the published versions (who, when, why), one version's rules, a field-by-field diff
// with its what-if report, and the read-model generations with their rebuild progress.
// Admin keys may rebuild under a version (as a shadow) and switch a caught-up generation in.
import { get, operation, request, session } from "../api.js";
import { append, clear, errorBox, fmtNumber, fmtTime, h, humanize, kv, notAvailable } from "../dom.js";
import { setParams } from "../main.js";

const REFRESH_MS = 2000;
// Read models a rules version can be rebuilt into (asr_metrics comes with session_list).
const REBUILDABLE = ["session_list", "missed_questions", "leads", "audit_trail"];

// --- rendering a rule set as readable sections ------------------------------------------

const isPlain = (v) => v === null || ["string", "number", "boolean"].includes(typeof v);

function scalar(value) {
  if (value === null || value === undefined) return h("span.muted", "—");
  if (typeof value === "boolean") return h("span.bool", { "data-value": String(value) }, value ? "yes" : "no");
  return String(value);
}

/** A value of any shape as nodes: scalars as text, lists inline, objects as nested kv lists. */
const isSpan = (v) => v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 2 && "start" in v && "end" in v;
const hm = (t) => (t === null || t === undefined ? "…" : String(t).replace(/^(\d\d:\d\d):00(\.0+)?$/, "$1"));

function valueNode(value) {
  if (isPlain(value) || value === undefined) return scalar(value);
  if (Array.isArray(value)) {
    if (!value.length) return h("span.muted", "none");
    if (value.every(isSpan)) return value.map((v) => `${hm(v.start)}–${hm(v.end)}`).join(", ");
    if (value.every(isPlain)) return value.map((v) => h("span.tag", String(v)));
    return h("ul.plain", value.map((v) => h("li", valueNode(v))));
  }
  const keys = Object.keys(value);
  if (isSpan(value)) return `${hm(value.start)}–${hm(value.end)}`;
  if (!keys.length) return h("span.muted", "none");
  return h("dl.kv.nested", keys.map((k) => [h("dt", humanize(k)), h("dd", valueNode(value[k]))]));
}

function ruleSections(rules) {
  const entries = Object.entries(rules || {}).filter(([k]) => k !== "version");
  const simple = entries.filter(([, v]) => isPlain(v) || Array.isArray(v));
  const nested = entries.filter(([, v]) => !(isPlain(v) || Array.isArray(v)));
  return h("div.rule-sections",
    simple.length ? h("section.panel.rule-section", { "data-section": "general" }, h("h3", "General"),
      h("dl.kv", simple.map(([k, v]) => [h("dt", humanize(k)), h("dd", valueNode(v))]))) : null,
    nested.map(([k, v]) => h("section.panel.rule-section", { "data-section": k }, h("h3", humanize(k)),
      Object.keys(v).length ? valueNode(v) : h("p.muted", k === "agents" ? "No agent overrides." : "Nothing set."))));
}

function actorName(actor) {
  if (!actor) return "built-in";
  return actor.name ? `${actor.name} (${actor.kind})` : `${actor.kind} ${actor.id}`;
}

// --- numbers ----------------------------------------------------------------------------

function fmtSeconds(s) {
  if (s === null || s === undefined) return "";
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function signed(n) {
  if (n === null || n === undefined) return "";
  const text = fmtNumber(n);
  return n > 0 ? `+${text}` : text;
}

// --- the page ---------------------------------------------------------------------------

export async function render(root, { params }) {
  root.append(h("h1", "Rules"));
  if (!operation("/v1/rules", "get")) {
    root.append(notAvailable("Rules", "The API has no /v1/rules route."));
    return null;
  }
  let role = session.role;
  if (operation("/v1/whoami", "get")) {
    try { role = (await get("/v1/whoami")).role || role; } catch { /* keep the signed-in role */ }
  }
  const isAdmin = role === "admin";
  const adminReason = `Needs an admin key (this key: ${role}).`;

  let list;
  try {
    list = await get("/v1/rules");
  } catch (error) {
    root.append(errorBox(error));
    return null;
  }
  const versions = list.versions;
  const latest = versions.length ? versions[versions.length - 1].version : 0;
  let selected = params.has("v") ? Number(params.get("v")) : latest;
  let from = params.has("from") ? Number(params.get("from")) : Math.max(0, latest - 1);
  let to = params.has("to") ? Number(params.get("to")) : latest;
  let timer = null;
  let stopped = false;

  function syncUrl() {
    setParams(new URLSearchParams({ v: String(selected), from: String(from), to: String(to) }));
  }

  // --- versions and one version -------------------------------------------------------
  const versionBody = h("tbody");
  const detail = h("div.rule-detail#rule-detail");
  const actionOut = h("div.action-out");

  // Each read model is rebuilt and switched on its own: which are live under a version.
  const liveUnder = (version) => Object.entries(list.live_versions)
    .filter(([, live]) => live === version).map(([name]) => name);
  const allLive = Object.keys(list.live_versions).length;
  function liveBadge(version, all) {
    const names = liveUnder(version);
    if (!names.length) return null;
    const text = names.length === allLive ? all : `live: ${names.join(", ")}`;
    return h("span.status", { "data-status": "live", title: names.join(", ") }, text);
  }

  function drawVersions() {
    clear(versionBody).append(...[...versions].reverse().map((v) => h("tr", {
      "data-version": v.version, tabindex: 0, class: v.version === selected ? "selected" : null,
      onclick: () => selectVersion(v.version),
      onkeydown: (e) => { if (e.key === "Enter") selectVersion(v.version); },
    },
    h("td.num", h("strong", `v${v.version}`)),
    h("td", liveBadge(v.version, "live") || ""),
    h("td", v.published_at ? fmtTime(v.published_at, { seconds: true }) : h("span.muted", "built in")),
    h("td", { title: v.actor ? `${v.actor.kind} ${v.actor.id}` : "" }, actorName(v.actor)),
    h("td", v.reason || h("span.muted", "—")))));
  }

  function adminButton(label, attrs, onclick) {
    return h("button", { type: "button", ...attrs, disabled: !isAdmin, title: isAdmin ? "" : adminReason, onclick: isAdmin ? onclick : null }, label);
  }

  const modelPicker = h("select#rebuild-model", { "aria-label": "Read model to rebuild" },
    REBUILDABLE.map((name) => h("option", { value: name }, name)));

  async function selectVersion(version) {
    selected = version;
    syncUrl();
    drawVersions();
    clear(detail).append(h("p.muted", "Loading…"));
    let v;
    try {
      v = await get(`/v1/rules/${version}`);
    } catch (error) { clear(detail).append(errorBox(error)); return; }
    if (version !== selected) return;
    const canRebuild = Boolean(operation(`/v1/projections/{name}/rebuild`, "post"));
    append(clear(detail),
      h("div.toolbar",
        h("h2", `Version ${v.version}`),
        liveBadge(v.version, "live read models"),
        h("span.spacer"),
        canRebuild ? modelPicker : null,
        canRebuild ? adminButton(`Rebuild under version ${v.version}`, { id: "rebuild-button", "data-action": "rebuild" }, () => rebuild(v.version, modelPicker.value)) : null),
      canRebuild && !isAdmin ? h("div.notice.disabled-reason", `Rebuilding and switching read models: ${adminReason}`) : null,
      actionOut,
      kv([["Published", v.published_at ? fmtTime(v.published_at, { seconds: true }) : "built-in defaults"],
        ["By", actorName(v.actor)], ["Reason", v.reason || "—"]]),
      ruleSections(v.rules),
      h("details.raw", h("summary", "Raw JSON"), h("pre.json", JSON.stringify(v.rules, null, 2))));
  }

  async function rebuild(version, model) {
    clear(actionOut);
    try {
      const g = await request("POST", `/v1/projections/${model}/rebuild`, { body: { rules_version: version, switch: false } });
      actionOut.append(h("div.notice.ok", `Rebuilding ${model} under version ${version} as generation ${g.generation} (a shadow: switch it in when caught up).`));
      refreshGenerations();
    } catch (error) { actionOut.append(errorBox(error)); }
  }

  // --- diff and what-if -------------------------------------------------------------------
  const diffOut = h("div#rules-diff");
  const reportOut = h("div#rules-report");
  const picker = (value, onchange, label, id) => h("select", { id, "aria-label": label, onchange: (e) => { onchange(Number(e.target.value)); compare(); } },
    versions.map((v) => h("option", { value: String(v.version), selected: v.version === value }, `v${v.version}${v.reason ? " — " + v.reason.slice(0, 40) : ""}`)));
  const fromSelect = picker(from, (n) => { from = n; }, "Diff from version", "diff-from");
  const toSelect = picker(to, (n) => { to = n; }, "Diff to version", "diff-to");

  async function compare() {
    syncUrl();
    clear(diffOut).append(h("p.muted", "Comparing…"));
    clear(reportOut);
    const mine = `${from}>${to}`;
    try {
      const diff = await get("/v1/rules/diff", { from, to });
      if (mine !== `${from}>${to}`) return;
      clear(diffOut).append(diff.changes.length
        ? h("table.list.diff#diff-table", h("thead", h("tr", h("th", "Field"), h("th", `Before (v${diff.from_version})`), h("th", ""), h("th", `After (v${diff.to_version})`))),
          h("tbody", diff.changes.map((c) => h("tr", { "data-field": c.field },
            h("td", h("code", c.field)), h("td.before", valueNode(c.before)), h("td.arrow", "→"), h("td.after", valueNode(c.after))))))
        : h("p.muted.no-changes", `v${diff.from_version} and v${diff.to_version} are the same.`));
    } catch (error) { clear(diffOut).append(errorBox(error)); }
    if (!operation("/v1/rules/diff-report", "get")) return;
    try {
      const report = await get("/v1/rules/diff-report", { from, to });
      if (mine !== `${from}>${to}`) return;
      const names = [...new Set(report.rows.flatMap((r) => Object.keys(r.figures)))];
      append(clear(reportOut),
        h("p.muted", `Generation ${report.from_generation} (v${report.from_version}) against generation ${report.to_generation} (v${report.to_version}).`),
        report.rows.length
          ? h("div.table-wrap", h("table.list.report#report-table",
            h("thead", h("tr", h("th", "Agent"), h("th", "Month"), names.map((n) => h("th.num.figure", { colspan: 3 }, n.length <= 3 ? n.toUpperCase() : humanize(n)))),
              h("tr", h("th", ""), h("th", ""), names.map(() => [h("th.num", "before"), h("th.num", "after"), h("th.num", "change")]))),
            h("tbody", report.rows.map((r) => h("tr", { "data-agent": r.agent_id, "data-month": r.month },
              h("td", r.agent_id), h("td", r.month),
              names.map((n) => {
                const c = r.figures[n] || {};
                return [h("td.num", fmtNumber(c.before)), h("td.num", fmtNumber(c.after)),
                  h("td.num.change", { "data-sign": c.change > 0 ? "up" : c.change < 0 ? "down" : "none" }, signed(c.change))];
              }))))))
          : h("p.muted", "No sessions to compare."));
    } catch (error) {
      append(clear(reportOut), h("div.notice.not-available", h("strong", "What-if report: "), error.message,
        h("p.muted", `It compares read models built under each version: rebuild under v${to} (a shadow, not switched) to see it.`)));
    }
  }

  // --- generations and rebuild progress ----------------------------------------------------
  const generationsOut = h("div#generations");

  function progress(g) {
    const head = g.head ?? g.position;
    const share = head > 0 ? Math.min(1, g.position / head) : g.status === "building" ? 0 : 1;
    const bar = h("progress.rebuild", { max: "100", value: String(Math.round(share * 100)), "aria-label": `generation ${g.generation} progress` });
    return h("div.progress-cell", bar, h("span.muted", ` ${Math.round(share * 100)}%`));
  }

  function drawGenerations(data) {
    const gens = [...(data.generations || [])].sort((a, b) => a.projection.localeCompare(b.projection) || b.generation - a.generation);
    const canSwitch = Boolean(operation("/v1/projections/{name}/switch", "post"));
    const canCancel = Boolean(operation("/v1/projections/{name}/rebuild", "delete"));
    append(clear(generationsOut),
      h("p.muted", `Ledger position ${data.ledger_position}.`),
      gens.length ? h("table.list#generations-table",
        h("thead", h("tr", ["Read model", "Generation", "Status", "Rules", "Progress", "Events done", "Events/s", "ETA", "Started", ""].map((c) => h("th", c)))),
        h("tbody", gens.map((g) => h("tr", { "data-generation": g.generation, "data-status": g.status },
          h("td", g.projection), h("td.num", String(g.generation)),
          h("td", h("span.status", { "data-status": g.status }, g.status)),
          h("td", `v${g.rules_version}`),
          h("td", progress(g)),
          h("td.num", `${g.events_done}${g.head !== null && g.head !== undefined ? ` (at ${g.position} of ${g.head})` : ""}`),
          h("td.num", g.events_per_second ? fmtNumber(g.events_per_second, 1) : ""),
          h("td.num", g.status === "building" ? fmtSeconds(g.eta_seconds) || "…" : ""),
          h("td", fmtTime(g.started_at)),
          h("td.actions",
            canSwitch && g.status === "shadow" ? adminButton(`Switch to generation ${g.generation}`, { "data-action": "switch" }, () => switchTo(g)) : null,
            canCancel && g.status === "building" ? adminButton("Cancel", { "data-action": "cancel" }, () => cancel(g)) : null)))))
        : h("p.muted", "No generations reported."));
    return gens.some((g) => g.status === "building");
  }

  async function switchTo(g) {
    clear(actionOut);
    try {
      await request("POST", `/v1/projections/${encodeURIComponent(g.projection)}/switch`, { body: { generation: g.generation } });
      generationsOut.prepend(h("div.notice.ok", `Generation ${g.generation} of ${g.projection} is live.`));
      list = await get("/v1/rules");
      drawVersions();
      refreshGenerations();
    } catch (error) { generationsOut.prepend(errorBox(error)); }
  }

  async function cancel(g) {
    try {
      await request("DELETE", `/v1/projections/${encodeURIComponent(g.projection)}/rebuild`);
      refreshGenerations();
    } catch (error) { generationsOut.prepend(errorBox(error)); }
  }

  async function refreshGenerations() {
    clearTimeout(timer);
    if (stopped) return;
    let building = false;
    try {
      building = drawGenerations(await get("/v1/projections"));
    } catch (error) { clear(generationsOut).append(errorBox(error)); }
    if (building && !stopped) timer = setTimeout(refreshGenerations, REFRESH_MS);
  }

  root.append(
    h("div.rules-grid",
      h("section.panel#rule-versions", h("h3", "Versions"),
        h("p.muted", `The live read models are built under ${Object.entries(list.live_versions).map(([name, v]) => `${name} v${v}`).join(", ")}. Click a version to see its rules.`),
        h("table.list#versions-table", h("thead", h("tr", ["Version", "", "Published", "By", "Why"].map((c) => h("th", c)))), versionBody)),
      h("section.panel", detail)),
    h("section.panel#rules-compare", h("h3", "Compare versions"),
      h("div.toolbar", h("label.inline", "from ", fromSelect), h("label.inline", "to ", toSelect)),
      h("h4", "Changed fields"), diffOut,
      operation("/v1/rules/diff-report", "get") ? [h("h4", "What-if: figures per agent and month"), reportOut] : null),
    operation("/v1/projections", "get")
      ? h("section.panel#rules-generations", h("h3", "Read-model generations"),
        isAdmin ? null : h("div.notice.disabled-reason", `Rebuild and switch: ${adminReason}`),
        generationsOut)
      : null);
  drawVersions();
  await Promise.all([selectVersion(selected), compare(), operation("/v1/projections", "get") ? refreshGenerations() : null]);
  return () => { stopped = true; clearTimeout(timer); };
}
