// One session: the transcript as the customer saw it, the decision traces, the panels, the
// reviewer actions, and a History tab (raw events, a version slider, replay).
import { can, get, operation, post, session as auth } from "../api.js";
import { clear, debounce, errorBox, fmtDuration, fmtNumber, fmtTime, h, humanize, kv, safeUrl } from "../dom.js";
import { exportButton, exportGroup } from "../exports.js";
import { setParams } from "../main.js";
import { renderMarkdown } from "../markdown.js";

const ROLE_LABEL = {
  customer: "Customer",
  ai: "AI agent",
  human_agent: "Human agent",
  copilot_draft: "Copilot draft · not sent to the customer",
  private_note: "Private note · not visible to the customer",
};
const UNSENT = new Set(["copilot_draft", "private_note"]);

// --- the transcript --------------------------------------------------------------------

function marker(event) {
  const p = event.payload || {};
  const text = {
    "session.started": () => `Session started · ${p.channel || ""}${p.agent_id ? " · agent " + p.agent_id : ""}`,
    "session.handover_requested": () => `Transferred to a human (${humanize(p.trigger || "manual")})${p.reason ? ": " + p.reason : ""}`,
    "session.human_agent_assigned": () => `Assigned to ${p.agent_name || p.agent_id}`,
    "session.resolved": () => `Resolved${p.note ? ": " + p.note : ""}`,
    "session.closed": () => `Session closed (${p.reason || "completed"})`,
  }[event.type];
  if (!text) return null;
  return { version: event.version, node: h("div.marker", { "data-marker": event.type.replace("session.", ""), "data-version": event.version },
    h("span", text()), h("time", { datetime: event.occurred_at }, fmtTime(event.occurred_at, { seconds: true }))) };
}

function attachments(list) {
  if (!list?.length) return null;
  return h("ul.attachments", list.map((a) => {
    const url = safeUrl(a.url);
    const label = `Attachment: ${a.name}${a.size_bytes ? ` (${Math.ceil(a.size_bytes / 1024)} KB)` : ""}`;
    return h("li", url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow" }, label) : label,
      a.content_type ? h("small.muted", ` ${a.content_type}`) : null);
  }));
}

function trace(entry) {
  const t = entry.decision_trace;
  if (entry.author_role !== "ai") return null;
  return h("aside.trace", { "aria-label": "Decision trace" },
    h("div.trace-title", "Decision trace"),
    t?.action ? h("div", h("span.muted", "action "), h("code", t.action)) : h("div.muted", "no trace recorded"),
    t?.knowledge_used?.length ? h("div", h("span.muted", "knowledge "), t.knowledge_used.map((k) => h("span.tag", k))) : null,
    entry.journey_block ? h("div", h("span.muted", "journey "), entry.journey_block) : null);
}

function messageNode(entry, state, highlight) {
  const role = entry.author_role;
  const missed = entry.missed ? (state.missed_questions || []).filter((m) => m.message_id === entry.message_id) : [];
  let who = ROLE_LABEL[role] || role;
  if (role === "human_agent") who = `Human agent · ${entry.author || state.owner?.agent_name || "unnamed"}`;
  else if (role === "customer") who = `Customer${state.contact?.name ? " · " + state.contact.name : ""}`;
  else if (entry.author && role !== "ai") who += ` · ${entry.author}`;
  const meta = [
    h("time", { datetime: entry.occurred_at }, fmtTime(entry.occurred_at, { seconds: true })),
    entry.delivery_status ? h("span.delivery", { "data-status": entry.delivery_status, title: entry.delivery_error || "" }, entry.delivery_status) : null,
    ...(entry.reactions || []).map((r) => h("span.reaction", { title: `${r.by_role}${r.by ? " " + r.by : ""}` }, r.reaction === "thumbs_up" ? "+1" : "−1")),
    entry.sentiment ? h("span.sentiment", { "data-label": entry.sentiment.label }, entry.sentiment.label) : null,
  ];
  const bubble = h("div.bubble",
    h("div.who", who, UNSENT.has(role) ? h("span.unsent-badge", role === "copilot_draft" ? "DRAFT" : "NOTE") : null),
    missed.length || entry.missed ? h("div.missed-badge", { title: "The agent could not answer this" }, "Missed question", missed.map((m) => h("span.muted", ` “${m.question}”`))) : null,
    h("div.msg-text.md", renderMarkdown(entry.text)),
    attachments(entry.attachments),
    entry.quick_replies?.length ? h("div.quick-replies", { "aria-label": "Quick replies offered" }, entry.quick_replies.map((q) => h("span.quick-reply", q))) : null,
    h("div.meta", meta));
  return {
    version: entry.version,
    node: h("div.msg", {
      class: [`role-${role}`, entry.missed ? "missed" : "", UNSENT.has(role) ? "unsent" : "", highlight === entry.message_id ? "highlight" : ""].join(" "),
      "data-role": role, "data-message-id": entry.message_id, "data-version": entry.version,
    }, bubble, trace(entry)),
  };
}

/** The transcript of `state`, with the system markers of `events` up to state.version. */
export function transcript(state, events, highlight) {
  const items = [
    ...events.filter((e) => e.version <= state.version).map(marker).filter(Boolean),
    ...(state.transcript || []).map((entry) => messageNode(entry, state, highlight)),
  ].sort((a, b) => a.version - b.version);
  return h("div.transcript", items.length ? items.map((i) => i.node) : h("p.muted", "No messages yet."));
}

// --- the panels ---------------------------------------------------------------------------

function panel(title, ...content) {
  return h("section.panel", { "data-panel": title.toLowerCase() }, h("h3", title), ...content);
}

function dict(obj) {
  const entries = Object.entries(obj || {});
  return entries.length ? kv(entries.map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)])) : h("p.muted", "none");
}

function panels(state, listed) {
  const contact = state.contact || {};
  const leadId = listed?.lead_id;
  const a = state.analysis;
  return [
    panel("Contact",
      kv([["Name", contact.name], ["Email", contact.email], ["Phone", contact.phone], ["External id", contact.external_id]]),
      leadId ? h("a.lead-link", { href: `#/leads/${leadId}` }, "Lead 360° view →") : h("p.muted", listed ? "No lead for this contact." : "Not yet on the session list.")),
    panel("Session", kv([
      ["Status", state.status], ["Agent", [state.agent_id, state.agent_version].filter(Boolean).join(" ")], ["Channel", state.channel],
      ["Deployment", state.deployment], ["Integration", state.integration], ["Initiator", state.initiator],
      ["Location", [state.location?.city, state.location?.region, state.location?.country].filter(Boolean).join(", ")], ["IP", state.ip],
      ["Started", fmtTime(state.started_at, { seconds: true })], ["Last message", fmtTime(state.last_message_at, { seconds: true })],
      ["Finished", fmtTime(state.finished_at, { seconds: true })], ["Duration", listed ? fmtDuration(listed.duration_seconds) : ""],
      ["Messages", String(state.message_count)], ["Responsible", state.owner ? `${state.owner.agent_name || state.owner.agent_id} (human)` : listed?.responsible],
      ["Version", String(state.version)],
    ])),
    panel("Parameters and results",
      h("h4", "Parameters"), dict(state.parameters),
      Object.keys(state.utm || {}).length ? [h("h4", "UTM"), dict(state.utm)] : null,
      h("h4", "Results"), dict(state.results),
      h("h4", "Goals"), state.goals?.length ? h("ul", state.goals.map((g) => h("li", g.goal, g.value != null ? ` (${g.value})` : ""))) : h("p.muted", "none"),
      state.forms?.length ? [h("h4", "Forms"), state.forms.map((f) => [h("div", h("strong", f.form_name)), dict(f.fields)])] : null,
      state.journey_blocks?.length ? [h("h4", "Journey"), h("ol", state.journey_blocks.map((j) => h("li", j.name || j.block_id)))] : null),
    panel("Assessment",
      kv([
        ["Effective", state.effective_assessment], ["Automatic", state.auto_assessment],
        ["Human", state.human_assessment ? `${state.human_assessment} — ${state.human_assessment_reason || ""}` : ""],
        ["Quality", a?.conversation_quality ? "★".repeat(a.conversation_quality) + "☆".repeat(5 - a.conversation_quality) : ""],
        ["Session type", a?.session_type], ["Lead", listed ? (listed.is_lead ? "yes" : "no") : ""],
        ["Opportunity", listed ? (listed.is_opportunity ? "yes" : "no") : ""], ["Lead value", listed ? fmtNumber(listed.lead_value) : ""],
        ["ASR", listed ? fmtNumber(listed.asr) : ""], ["Rules version", listed ? String(listed.rules_version) : ""],
      ]),
      a?.summary ? h("div.summary.md", renderMarkdown(a.summary)) : null,
      a?.expected_result ? h("div", h("h4", "Expected result"), h("div.md", renderMarkdown(a.expected_result))) : null,
      a?.actual_result ? h("div", h("h4", "Actual result"), h("div.md", renderMarkdown(a.actual_result))) : null),
    panel("Missed questions", state.missed_questions?.length
      ? h("ul.missed-list", state.missed_questions.map((m) => h("li", h("a", { href: `#/session/${state.id}?m=${encodeURIComponent(m.message_id)}` }, m.question), h("small.muted", ` ${m.source}${m.node ? " · " + m.node : ""}`))))
      : h("p.muted", "none")),
    panel("Flags and tags",
      h("div.flags", Object.entries(state.flags || {}).map(([flag, value]) => h("span.flag", { "data-flag": flag, class: value ? "on" : "off" }, `${flag}: ${value ? "yes" : "no"}`)), Object.keys(state.flags || {}).length ? null : h("span.muted", "no flags set")),
      h("div.tags", state.tags?.length ? state.tags.map((t) => h("span.tag", t)) : h("span.muted", "no tags"))),
    panel("Comments", state.comments?.length
      ? h("ul.comments", state.comments.map((c) => h("li", h("div.md", renderMarkdown(c.text)), h("small.muted", `${c.author?.name || c.author?.id} · ${fmtTime(c.occurred_at)}${c.reason ? " · " + c.reason : ""}`))))
      : h("p.muted", "none")),
  ];
}

// --- reviewer actions ---------------------------------------------------------------------

function actions(state, onDone) {
  const allowed = can("review");
  const reason = allowed ? null : `Needs a reviewer or admin key: this key's role is ${auth.role}.`;
  const out = h("div.action-result", { role: "status" });
  const run = (path, body) => async (event) => {
    event.preventDefault();
    clear(out);
    const form = event.target;
    for (const el of form.elements) el.disabled = true;
    try {
      const result = await post(`/v1/sessions/${state.id}${path}`, body(form));
      out.append(h("div.notice.ok", `Recorded (version ${result.version}).`));
      await onDone(result.position);
    } catch (error) {
      out.append(errorBox(error));
      for (const el of form.elements) el.disabled = false;
    }
  };
  const val = (form, name) => form.elements[name].value.trim();
  const opt = (v) => v || undefined;
  const action = (name, label, fields, path, body, refused = null) => {
    const blocked = !allowed || Boolean(refused);
    const form = h("form.action", { "data-action": name, onsubmit: run(path, body) },
      h("h4", label), fields,
      h("button", { type: "submit", disabled: blocked, title: reason || refused || "" }, label),
      allowed && refused ? h("p.muted.refused", refused) : null);
    if (blocked) for (const el of form.querySelectorAll("input,select,textarea")) el.disabled = true;
    return form;
  };
  const flags = ["is_test", "is_todo", "is_archived", "is_favorite", "is_opportunity"];
  return panel("Reviewer actions",
    reason ? h("p.notice.disabled-reason", reason) : null,
    out,
    action("assessment", "Set assessment", [
      h("select", { name: "assessment", "aria-label": "Assessment" }, ["Yes-A", "Yes-B", "No"].map((v) => h("option", { value: v, selected: v === state.effective_assessment }, v))),
      h("input", { name: "reason", placeholder: "reason (required)", required: true, "aria-label": "Assessment reason" }),
    ], "/assessment", (f) => ({ assessment: val(f, "assessment"), reason: val(f, "reason"), previous: state.human_assessment ?? null })),
    state.human_assessment ? action("clear-assessment", "Clear assessment", [
      h("input", { name: "reason", placeholder: "reason (required)", required: true, "aria-label": "Clear reason" }),
    ], "/assessment/clear", (f) => ({ reason: val(f, "reason"), previous: state.human_assessment })) : null,
    action("flag", "Set flag", [
      h("select", { name: "flag", "aria-label": "Flag" }, flags.map((f) => h("option", { value: f }, f))),
      h("select", { name: "value", "aria-label": "Value" }, h("option", { value: "true" }, "yes"), h("option", { value: "false" }, "no")),
      h("input", { name: "reason", placeholder: "reason (required)", required: true, "aria-label": "Flag reason" }),
    ], "/flags", (f) => ({ flag: val(f, "flag"), value: val(f, "value") === "true", reason: val(f, "reason") })),
    action("tag", "Add tag", [h("input", { name: "tag", placeholder: "tag", required: true, "aria-label": "Tag" })], "/tags", (f) => ({ tag: val(f, "tag") })),
    state.tags?.length ? action("remove-tag", "Remove tag", [
      h("select", { name: "tag", "aria-label": "Tag to remove" }, state.tags.map((t) => h("option", { value: t }, t))),
      h("input", { name: "reason", placeholder: "reason (optional)", "aria-label": "Removal reason" }),
    ], "/tags/remove", (f) => ({ tag: val(f, "tag"), reason: opt(val(f, "reason")) })) : null,
    action("comment", "Comment", [h("textarea", { name: "text", rows: 2, placeholder: "Markdown", required: true, "aria-label": "Comment" })], "/comments", (f) => ({ text: val(f, "text") })),
    action("handover", "Hand over", [h("input", { name: "reason", placeholder: "reason (optional)", "aria-label": "Handover reason" })], "/handover", (f) => ({ reason: opt(val(f, "reason")) }), handoverRefusal("handover", state)),
    action("assign", "Assign", [
      h("input", { name: "agent_id", placeholder: "agent id", required: true, "aria-label": "Human agent id" }),
      h("input", { name: "agent_name", placeholder: "name", "aria-label": "Human agent name" }),
    ], "/assign", (f) => ({ agent_id: val(f, "agent_id"), agent_name: val(f, "agent_name") }), handoverRefusal("assign", state)),
    action("resolve", "Resolve", [h("input", { name: "note", placeholder: "note (optional)", "aria-label": "Resolution note" })], "/resolve", (f) => ({ note: opt(val(f, "note")) }), handoverRefusal("resolve", state)),
  );
}

// Why the session's own rules (domain/session.py) refuse a step of the handover in its
// present state, or null: the form says so up front, not a button that can only answer 409.
function handoverRefusal(step, state) {
  const status = state.status;
  if (status === "closed") return "The session is closed.";
  if (step === "handover" && status === "resolved") return "The session is resolved.";
  if (step === "handover" && status === "handed_over") return "Already handed over, and not resolved.";
  if (step === "assign" && status !== "handed_over") return "No open handover to assign a human agent to.";
  if (step === "resolve" && status === "resolved") return "Already resolved.";
  if (step === "resolve" && !state.owner) return "No human agent is assigned who could resolve it.";
  return null;
}

// --- history, slider and replay ------------------------------------------------------------

function eventsTable(events, upto) {
  return h("table.events#history-table", h("thead", h("tr", ["v", "type", "occurred", "recorded", "actor", "payload"].map((c) => h("th", c)))),
    h("tbody", events.map((e) => h("tr", { "data-version": e.version, class: e.version > upto ? "future" : "" },
      h("td.num", String(e.version)), h("td", h("code", e.type)),
      h("td", fmtTime(e.occurred_at, { seconds: true })), h("td", fmtTime(e.recorded_at, { seconds: true })),
      h("td", `${e.actor?.kind}: ${e.actor?.name || e.actor?.id}`),
      h("td", h("details", h("summary", "payload"), h("pre.json", JSON.stringify(e.payload, null, 2))))))));
}

function historyTab(id, events, box) {
  const head = events.length ? events[events.length - 1].version : 0;
  const haveState = Boolean(operation("/v1/sessions/{session_id}/state", "get"));
  const label = h("span#version-label", `version ${head} of ${head}`);
  const slider = h("input#version-slider", { type: "range", min: 1, max: head, value: head, step: 1, "aria-label": "Version", disabled: !haveState });
  const view = h("div.as-of");
  const table = h("div.events-wrap", eventsTable(events, head));
  let replaying = null;
  let seq = 0;

  async function show(version) {
    const mine = ++seq;
    label.textContent = `version ${version} of ${head}`;
    slider.value = version;
    try {
      const data = await get(`/v1/sessions/${id}/state`, { as_of_version: version });
      if (mine !== seq) return;
      clear(view).append(h("h4", `As it was at version ${data.version}`), transcript(data.state, events, null));
      for (const row of table.querySelectorAll("tr[data-version]")) row.classList.toggle("future", Number(row.dataset.version) > version);
    } catch (error) {
      if (mine === seq) clear(view).append(errorBox(error));
    }
  }
  const onSlide = debounce(() => show(Number(slider.value)), 120);
  slider.addEventListener("input", () => { label.textContent = `version ${slider.value} of ${head}`; onSlide(); });

  const speed = h("select#replay-speed", { "aria-label": "Replay speed" }, [1, 10, 60, 600].map((s) => h("option", { value: s, selected: s === 60 }, `${s}×`)));
  const play = h("button#replay", { type: "button", disabled: !haveState }, "▶ Replay");
  play.addEventListener("click", () => {
    if (replaying) { replaying.stop = true; replaying = null; play.textContent = "▶ Replay"; return; }
    const run = { stop: false };
    replaying = run;
    play.textContent = "■ Stop";
    (async () => {
      for (let v = 1; v <= head && !run.stop; v += 1) {
        await show(v);
        if (v === head) break;
        const gap = new Date(events[v].occurred_at) - new Date(events[v - 1].occurred_at);
        // The original spacing divided by the speed; long silences are capped at 5 s.
        const wait = Math.min(Math.max(gap, 0) / Number(speed.value), 5000);
        await new Promise((r) => setTimeout(r, Math.max(wait, 30)));
      }
      if (replaying === run) { replaying = null; play.textContent = "▶ Replay"; }
    })();
  });
  clear(box).append(
    h("div.toolbar", h("label.inline", "Version ", slider, " ", label), play, speed,
      haveState ? null : h("span.muted", "state-as-of route not available")),
    h("div.history-grid", view, table));
  if (haveState) show(head);
  return () => { if (replaying) replaying.stop = true; };
}

// --- the page -----------------------------------------------------------------------------

export async function render(root, { id, params }) {
  const highlight = params.get("m");
  let tab = params.get("tab") === "history" ? "history" : "transcript";
  let stopHistory = null;

  async function load(minPosition) {
    const wait = minPosition ? { min_position: minPosition, wait: 10 } : {};
    const [detail, history] = await Promise.all([
      get(`/v1/sessions/${id}`, wait),
      get(`/v1/sessions/${id}/history`),
    ]);
    return { detail, events: history.events };
  }

  async function draw(minPosition) {
    let data;
    try {
      data = await load(minPosition);
    } catch (error) {
      clear(root).append(h("a.back", { href: "#/sessions" }, "← Sessions"), errorBox(error));
      return;
    }
    if (stopHistory) { stopHistory(); stopHistory = null; }
    const { detail, events } = data;
    const state = detail.state;
    const listed = detail.listed;
    const tabs = h("div.tabs", { role: "tablist" },
      ["transcript", "history"].map((t) => h("button.tab", { type: "button", role: "tab", "data-tab": t, "aria-selected": String(t === tab), class: t === tab ? "active" : "",
        onclick: () => { tab = t; setParams(new URLSearchParams(t === "history" ? "tab=history" : "")); draw(); } }, humanize(t))));
    const body = h("div.tab-body");
    clear(root).append(
      h("div.session-head",
        h("a.back", { href: "#/sessions" }, "← Sessions"),
        h("h1", `${state.agent_id || "session"} · ${state.channel || ""}`),
        h("span.status", { "data-status": state.status }, state.status || ""),
        h("span.muted", ` ${state.contact?.name || ""} · started ${fmtTime(state.started_at)} · `),
        h("code.session-id", id),
        exportGroup(
          exportButton("Transcript (txt)", "/v1/exports/sessions/{session_id}/transcript.txt", { id: "export-transcript", pathParams: { session_id: id }, title: "This session's transcript as text" }),
          state.agent_id ? exportButton("Agent sessions (JSON)", "/v1/exports/agents/{agent_id}/sessions.json", { id: "export-agent-json", pathParams: { agent_id: state.agent_id }, title: `Every session of agent ${state.agent_id} with its transcript (JSON)` }) : null)),
      tabs, body);
    if (tab === "history") {
      stopHistory = historyTab(id, events, body);
    } else {
      body.append(h("div.session-grid",
        h("div.main-col", transcript(state, events, highlight)),
        h("div.side-col", actions(state, (position) => draw(position)), panels(state, listed))));
      if (highlight) root.querySelector(".msg.highlight")?.scrollIntoView({ block: "center" });
    }
  }
  await draw();
  return () => { if (stopHistory) stopHistory(); };
}
