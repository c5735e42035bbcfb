// Sessions: the session list (read model) with filters, sort, keyset Load More, a column
// chooser, export links where the API has them, and live updates over SSE.
import { get, operation, qs, resolveSchema, streamEvents } from "../api.js";
import { clear, debounce, errorBox, fmtNumber, fmtTime, h, humanize } from "../dom.js";
import { exportButton, exportGroup } from "../exports.js";
import { setParams } from "../main.js";

const PAGE_SIZE = 50;
const COLUMNS_KEY = "ledger.console.columns";
// Parameters of GET /v1/sessions that are not filters.
const NOT_FILTERS = new Set(["sort", "order", "limit", "cursor", "min_position", "wait"]);
// Filters that only modify another one: they do not make the Filters button light up alone.
const MODIFIERS = new Set(["message_count_op", "tags_match"]);
const LIVE = new Set(["active", "handed_over"]);

function contact(row) {
  return [row.contact_name, row.contact_email, row.contact_phone].filter(Boolean).join(" · ") || row.external_id || "";
}

function responsible(row) {
  if (row.responsible === "human") return row.human_agent_name || row.human_agent_id || "human";
  return row.responsible === "ai" ? "AI" : row.responsible;
}

function assessment(row) {
  const value = row.effective_assessment || "";
  if (!value) return "";
  return h("span.assessment", { "data-value": value, title: row.corrected_by_reviewer ? `Reviewer: ${row.human_assessment} (auto: ${row.auto_assessment ?? "none"})` : "Automatic assessment" },
    value, row.human_assessment ? h("span.corrected", " ✎") : null);
}

export const COLUMNS = [
  { id: "agent", label: "Agent", cell: (r) => [h("span.live-dot", { class: LIVE.has(r.status) ? "on" : "off", title: LIVE.has(r.status) ? `live (${r.status})` : r.status }), r.agent_id || ""] },
  { id: "channel", label: "Channel", cell: (r) => r.channel || "" },
  { id: "responsible", label: "Responsible", cell: responsible },
  { id: "contact", label: "Contact", cell: contact },
  { id: "start", label: "Start", cell: (r) => fmtTime(r.started_at) },
  { id: "last_message", label: "Last message", cell: (r) => fmtTime(r.last_message_at) },
  { id: "messages", label: "Messages", cell: (r) => String(r.message_count), num: true },
  { id: "location", label: "Location", cell: (r) => [r.city, r.region, r.country].filter(Boolean).join(", ") },
  { id: "finish", label: "Finish", cell: (r) => fmtTime(r.finished_at) },
  { id: "assessment", label: "Assessment", cell: assessment },
  { id: "asr", label: "ASR", cell: (r) => fmtNumber(r.asr), num: true },
  { id: "tags", label: "Tags", cell: (r) => r.tags.map((t) => h("span.tag", t)) },
  { id: "status", label: "Status", cell: (r) => r.status, optional: true },
  { id: "missed", label: "Missed", cell: (r) => (r.missed_question_count ? String(r.missed_question_count) : ""), num: true, optional: true },
  { id: "summary", label: "Summary", cell: (r) => r.summary || "", optional: true },
];

function chosenColumns() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(COLUMNS_KEY));
    if (Array.isArray(saved)) return new Set(saved);
  } catch { /* default */ }
  return new Set(COLUMNS.filter((c) => !c.optional).map((c) => c.id));
}

/** The filters GET /v1/sessions documents, as form field specs. */
export function filterSpecs() {
  const op = operation("/v1/sessions", "get");
  return (op?.parameters || [])
    .filter((p) => p.in === "query" && !NOT_FILTERS.has(p.name))
    .map((p) => {
      const schema = resolveSchema(p.schema);
      let kind = "text";
      if (schema.type === "array") kind = schema.items?.enum ? "multi" : "list";
      else if (schema.enum) kind = "enum";
      else if (schema.type === "boolean") kind = "bool";
      else if (schema.type === "integer" || schema.type === "number") kind = "number";
      else if (schema.format === "date-time") kind = "datetime";
      else if (schema.format === "date") kind = "date";
      return { name: p.name, kind, schema, label: humanize(p.name), description: p.description || schema.description || "", default: schema.default };
    });
}

function activeFilters(filters) {
  return Object.entries(filters).filter(([name, v]) => !MODIFIERS.has(name) && (Array.isArray(v) ? v.length : v !== "" && v !== null && v !== undefined));
}

function field(spec, value) {
  const id = `f-${spec.name}`;
  const attrs = { id, name: spec.name, "data-filter": spec.name };
  let input;
  if (spec.kind === "multi") {
    const chosen = new Set(value || []);
    input = h("div.checks", attrs, spec.schema.items.enum.map((option) =>
      h("label.check", h("input", { type: "checkbox", value: option, checked: chosen.has(option) }), option)));
  } else if (spec.kind === "enum" || spec.kind === "bool") {
    const options = spec.kind === "bool" ? [["", "any"], ["true", "yes"], ["false", "no"]] : [["", spec.default ? `${spec.default} (default)` : "any"], ...spec.schema.enum.map((o) => [o, o])];
    input = h("select", attrs, options.map(([v, label]) => h("option", { value: v, selected: String(value ?? "") === v }, label)));
  } else if (spec.kind === "number") {
    input = h("input", { ...attrs, type: "number", min: spec.schema.minimum ?? 0, value: value ?? "" });
  } else if (spec.kind === "datetime") {
    input = h("input", { ...attrs, type: "datetime-local", value: value ?? "" });
  } else if (spec.kind === "date") {
    input = h("input", { ...attrs, type: "date", value: value ?? "" });
  } else {
    input = h("input", { ...attrs, type: "text", value: spec.kind === "list" ? (value || []).join(", ") : value ?? "", placeholder: spec.kind === "list" ? "comma-separated" : "" });
  }
  return h("div.field", { "data-kind": spec.kind }, h("label", { for: id, title: spec.description }, spec.label), input,
    spec.description ? h("small.muted", spec.description) : null);
}

function readField(spec, form) {
  const el = form.querySelector(`[data-filter="${spec.name}"]`);
  if (!el) return undefined;
  if (spec.kind === "multi") return [...el.querySelectorAll("input:checked")].map((i) => i.value);
  if (spec.kind === "list") return el.value.split(",").map((s) => s.trim()).filter(Boolean);
  return el.value.trim();
}

export async function render(root, { params }) {
  const specs = filterSpecs();
  const specByName = Object.fromEntries(specs.map((s) => [s.name, s]));
  const filters = {};
  for (const spec of specs) {
    if (spec.kind === "multi" || spec.kind === "list") {
      const values = params.getAll(spec.name);
      if (values.length) filters[spec.name] = values;
    } else if (params.has(spec.name)) {
      filters[spec.name] = params.get(spec.name);
    }
  }
  let sort = params.get("sort") === "last_message_at" ? "last_message_at" : "started_at";
  let order = params.get("order") === "asc" ? "asc" : "desc";
  let columns = chosenColumns();
  let rows = new Map(); // session_id -> row
  let cursor = null;
  let loading = false;
  let refused = false; // the last fresh load was refused: an empty table must not say "no match"
  const body = h("tbody");
  const table = h("table.sessions#sessions-table");
  const status = h("div.status-line");
  const liveState = h("span.live-state", { title: "Live updates (Server-Sent Events)" }, "live: connecting");
  const loadMore = h("button#load-more", { type: "button", onclick: () => load(false) }, "Load more");
  const filterButton = h("button#filters-button", { type: "button", onclick: () => openFilters() }, "Filters");
  const dialog = h("dialog#filters-dialog");
  const columnsDialog = h("dialog#columns-dialog");

  function query() {
    return { ...filters, sort, order, limit: PAGE_SIZE };
  }

  function syncUrl() {
    const search = new URLSearchParams(qs({ ...filters, sort: sort === "started_at" ? "" : sort, order: order === "desc" ? "" : order }).slice(1));
    setParams(search);
    const active = activeFilters(filters);
    filterButton.classList.toggle("active", active.length > 0);
    filterButton.textContent = active.length ? `Filters (${active.length})` : "Filters";
    filterButton.setAttribute("aria-pressed", String(active.length > 0));
  }

  function header() {
    return h("thead", h("tr", COLUMNS.filter((c) => columns.has(c.id)).map((c) => h("th", { class: c.num ? "num" : null, "data-col": c.id }, c.label))));
  }

  function rowEl(row) {
    return h("tr", { "data-session-id": row.session_id, "data-status": row.status, tabindex: 0,
      onclick: () => { location.hash = `#/session/${row.session_id}`; },
      onkeydown: (e) => { if (e.key === "Enter") location.hash = `#/session/${row.session_id}`; } },
    COLUMNS.filter((c) => columns.has(c.id)).map((c) => h("td", { class: c.num ? "num" : null, "data-col": c.id }, c.cell(row))));
  }

  function redraw() {
    clear(table).append(header(), body);
    clear(body).append(...[...rows.values()].map(rowEl));
    const empty = refused ? "Nothing loaded: the request was refused (see below)." : "No sessions match.";
    if (!rows.size && !loading) body.append(h("tr", h("td.empty", { colspan: columns.size }, empty)));
  }

  async function load(reset) {
    if (loading) return;
    loading = true;
    loadMore.disabled = true;
    if (reset) { rows = new Map(); cursor = null; refused = false; clear(body); status.textContent = "Loading…"; }
    try {
      const page = await get("/v1/sessions", { ...query(), cursor: reset ? null : cursor });
      for (const row of page.items) rows.set(row.session_id, row);
      cursor = page.next_cursor;
      if (reset) redraw();
      else body.append(...page.items.map(rowEl));
      status.textContent = `${rows.size} session${rows.size === 1 ? "" : "s"} shown${cursor ? "" : " (all)"}`;
    } catch (error) {
      refused = reset;
      clear(status).append(errorBox(error));
    } finally {
      loading = false;
      loadMore.disabled = false;
      loadMore.hidden = !cursor;
      if (reset && !rows.size) redraw();
    }
  }

  function openFilters() {
    const form = h("form.filters", { method: "dialog" },
      h("h2", "Filters"),
      h("p.muted", "Every filter given must hold (AND). Times without a zone are the workspace's local time."),
      h("div.filter-grid", specs.map((s) => field(s, filters[s.name]))),
      h("div.actions",
        h("button#filters-reset", { type: "button", onclick: () => { for (const k of Object.keys(filters)) delete filters[k]; dialog.close(); apply(); } }, "Reset"),
        h("button", { type: "button", onclick: () => dialog.close() }, "Cancel"),
        h("button.primary#filters-apply", { type: "submit" }, "Apply")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      for (const spec of specs) {
        const value = readField(spec, form);
        if (value === undefined || value === "" || (Array.isArray(value) && !value.length)) delete filters[spec.name];
        else filters[spec.name] = value;
      }
      dialog.close();
      apply();
    });
    clear(dialog).append(form);
    dialog.showModal();
  }

  function openColumns() {
    const form = h("form.columns", { method: "dialog" }, h("h2", "Columns"),
      COLUMNS.map((c) => h("label.check", h("input", { type: "checkbox", value: c.id, checked: columns.has(c.id), "data-column": c.id }), c.label)),
      h("div.actions", h("button.primary#columns-apply", { type: "submit" }, "Done")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      columns = new Set([...form.querySelectorAll("input:checked")].map((i) => i.value));
      if (!columns.size) columns.add("agent");
      sessionStorage.setItem(COLUMNS_KEY, JSON.stringify([...columns]));
      columnsDialog.close();
      redraw();
    });
    clear(columnsDialog).append(form);
    columnsDialog.showModal();
  }

  function apply() {
    syncUrl();
    load(true);
  }

  // Export: the session report with the list's current filters and sort (no limit/cursor).
  const exportQuery = () => { const { limit, cursor: _c, ...rest } = query(); return rest; };
  const showExportError = (box) => status.append(box);
  const exports = exportGroup(
    exportButton("CSV", "/v1/exports/sessions.csv", { id: "export-csv", params: exportQuery, onError: showExportError, title: "The session report (CSV) with the current filters and sort" }),
    exportButton("Excel", "/v1/exports/sessions.xlsx", { id: "export-xlsx", params: exportQuery, onError: showExportError, title: "The session report (Excel) with the current filters and sort" }));

  const sortSelect = h("select#sort", { "aria-label": "Sort by", onchange: () => { sort = sortSelect.value; apply(); } },
    h("option", { value: "started_at", selected: sort === "started_at" }, "Start"),
    h("option", { value: "last_message_at", selected: sort === "last_message_at" }, "Last message"));
  const orderSelect = h("select#order", { "aria-label": "Order", onchange: () => { order = orderSelect.value; apply(); } },
    h("option", { value: "desc", selected: order === "desc" }, "newest first"),
    h("option", { value: "asc", selected: order === "asc" }, "oldest first"));

  root.append(
    h("div.toolbar",
      h("h1", "Sessions"),
      filterButton,
      h("label.inline", "Sort by ", sortSelect, " ", orderSelect),
      h("button#columns-button", { type: "button", onclick: openColumns }, "Columns"),
      exports,
      h("span.spacer"),
      liveState),
    h("div.table-wrap", table),
    h("div.footer", status, loadMore),
    dialog, columnsDialog);
  syncUrl();
  redraw();
  await load(true);

  // --- live updates ------------------------------------------------------------------------
  const changed = new Set();
  const flush = debounce(async () => {
    const ids = [...changed];
    changed.clear();
    try {
      // New sessions: whatever is now on the first page of this very query (filters hold).
      const page = await get("/v1/sessions", query());
      const fresh = [];
      for (const row of page.items) {
        if (rows.has(row.session_id)) {
          replaceRow(row);
        } else if (order === "desc" || !cursor) {
          fresh.push(row);
        }
      }
      if (fresh.length) {
        const merged = new Map([...fresh.map((r) => [r.session_id, r]), ...rows]);
        rows = merged;
        for (const row of fresh.reverse()) {
          const el = rowEl(row);
          el.classList.add("flash");
          body.querySelector("td.empty")?.parentElement.remove();
          body.prepend(el);
        }
        status.textContent = `${rows.size} sessions shown${cursor ? "" : " (all)"}`;
      }
      // Changed sessions further down the table: refresh their rows one by one (bounded).
      const onPage = new Set(page.items.map((r) => r.session_id));
      for (const id of ids.filter((i) => rows.has(i) && !onPage.has(i)).slice(0, 20)) {
        const detail = await get(`/v1/sessions/${id}`);
        if (detail.listed) replaceRow(detail.listed);
      }
    } catch (error) {
      liveState.textContent = `live: ${error.message}`;
    }
  }, 400);

  function replaceRow(row) {
    const old = rows.get(row.session_id);
    if (old && old.version === row.version) return;
    rows.set(row.session_id, row);
    const el = body.querySelector(`tr[data-session-id="${CSS.escape(row.session_id)}"]`);
    if (el) {
      const next = rowEl(row);
      next.classList.add("flash");
      el.replaceWith(next);
    }
  }

  const stop = operation("/v1/sessions/stream", "get")
    ? streamEvents("/v1/sessions/stream", (event, data) => {
      if (event !== "session" || !data?.session_id) return;
      changed.add(data.session_id);
      flush();
    }, { onState: (state) => { liveState.textContent = `live: ${state}`; liveState.dataset.state = state; } })
    : (liveState.textContent = "live: not available", null);
  return () => { if (typeof stop === "function") stop(); };
}

