// Leads: a returning visitor's sessions merged by shared identifiers, and why (360 view).
import { get, operation } from "../api.js";
import { append, clear, debounce, errorBox, fmtTime, h, kv, notAvailable } from "../dom.js";
import { setParams } from "../main.js";

async function detailView(root, id) {
  root.append(h("a.back", { href: "#/leads" }, "← Leads"));
  let d;
  try { d = await get(`/v1/leads/${id}`); } catch (error) { root.append(errorBox(error)); return; }
  append(root,
    h("h1", `Lead ${d.contact_name || ""}`),
    d.merged_into ? h("p.notice", `Lead ${d.requested_id} was merged into ${d.merged_into}: showing the surviving lead.`) : null,
    kv([["Lead id", d.lead_id], ["Sessions", String(d.sessions)], ["First session", fmtTime(d.first_started_at)]]),
    h("h3", "Identifiers"),
    h("table.list#lead-identifiers", h("thead", h("tr", ["Kind", "Value", "First seen in"].map((c) => h("th", c)))),
      h("tbody", d.identifiers.map((i) => h("tr", h("td", i.kind), h("td", i.value), h("td", h("a", { href: `#/session/${i.first_session_id}` }, `${i.first_session_id.slice(0, 8)}…`)))))),
    h("h3", "Sessions across channels (oldest first)"),
    h("table.list#lead-sessions", h("thead", h("tr", ["Started", "Channel", "Agent", "Status", "Contact"].map((c) => h("th", c)))),
      h("tbody", d.session_list.map((s) => h("tr", { "data-session-id": s.session_id, tabindex: 0, onclick: () => { location.hash = `#/session/${s.session_id}`; } },
        h("td", fmtTime(s.started_at)), h("td", s.channel), h("td", s.agent_id), h("td", s.status),
        h("td", [s.contact_name, s.email, s.phone, s.external_id].filter(Boolean).join(" · ")))))),
    h("h3", "Why these sessions are one lead"),
    d.merges.length
      ? h("ol.merges#lead-merges", d.merges.map((m) => h("li",
        h("div", m.explanation),
        h("small.muted", `${m.identifier_kind} ${m.identifier_value} · ${m.moved_sessions} session(s) moved · rules v${m.rules_version} · ${fmtTime(m.occurred_at)} · `,
          h("a", { href: `#/session/${m.session_id}` }, "session"), ` · event ${m.event_id}`))))
      : h("p.muted", "No merges: every session shares this lead's first identifiers."));
}

export async function render(root, { id, params }) {
  if (!operation("/v1/leads", "get")) { root.append(notAvailable("Leads")); return; }
  if (id) { await detailView(root, id); return; }
  let search = params.get("search") || "";
  let cursor = null;
  const body = h("tbody");
  const status = h("div.status-line");
  const more = h("button#load-more", { type: "button", hidden: true, onclick: () => load(false) }, "Load more");
  async function load(reset) {
    if (reset) { cursor = null; clear(body); }
    try {
      const page = await get("/v1/leads", { search, limit: 50, cursor });
      body.append(...page.items.map((l) => h("tr", { "data-lead-id": l.lead_id, tabindex: 0, onclick: () => { location.hash = `#/leads/${l.lead_id}`; } },
        h("td", l.contact_name || ""), h("td", l.identifiers.map((i) => h("span.tag", `${i.kind}: ${i.value}`))),
        h("td.num", String(l.sessions)), h("td", fmtTime(l.first_started_at)))));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      status.textContent = `${body.children.length} leads shown`;
    } catch (error) { clear(status).append(errorBox(error)); }
  }
  const input = h("input#lead-search", { type: "search", placeholder: "email, phone, external id or name", value: search, "aria-label": "Search leads",
    oninput: debounce((e) => { search = e.target.value.trim(); setParams(new URLSearchParams(search ? { search } : {})); load(true); }, 300) });
  root.append(h("div.toolbar", h("h1", "Leads"), input),
    h("table.list#leads-table", h("thead", h("tr", ["Name", "Identifiers", "Sessions", "First session"].map((c) => h("th", c)))), body),
    h("div.footer", status, more));
  await load(true);
}
