// A tiny, safe Markdown subset: paragraphs (line breaks kept), **bold**, *italic*, `code`,
// fenced code blocks, [links](https://…) with http/https only, bare http(s) URLs, and
// "-"/"*"/"1." lists. It builds DOM nodes; text only ever goes through text nodes, so
// markup in a message ("<script>…") shows as the characters it is.

const INLINE = [
  { kind: "code", re: /`([^`\n]+)`/ },
  { kind: "link", re: /\[([^\]\n]+)\]\(([^()\s]+)\)/ },
  { kind: "strong", re: /\*\*(?=\S)([\s\S]*?\S)\*\*|(?<![\w])__(?=\S)([\s\S]*?\S)__(?![\w])/ },
  { kind: "em", re: /\*(?=[^\s*])([^*\n]*?[^\s*])\*|(?<![\w])_(?=\S)([^_\n]*?\S)_(?![\w])/ },
  { kind: "url", re: /\bhttps?:\/\/[^\s<>()[\]"']+[^\s<>()[\]"'.,;:!?]/ },
];

const SAFE_LINK = /^https?:\/\/[^\s]+$/i;

function link(href, children) {
  const a = document.createElement("a");
  a.setAttribute("href", href);
  a.setAttribute("rel", "noopener noreferrer nofollow");
  a.setAttribute("target", "_blank");
  a.append(...children);
  return a;
}

export function renderInline(text) {
  const out = [];
  let rest = text;
  while (rest) {
    let best = null;
    for (const rule of INLINE) {
      const m = rule.re.exec(rest);
      if (m && (best === null || m.index < best.m.index)) best = { rule, m };
    }
    if (!best) { out.push(document.createTextNode(rest)); break; }
    const { rule, m } = best;
    if (m.index > 0) out.push(document.createTextNode(rest.slice(0, m.index)));
    if (rule.kind === "code") {
      const code = document.createElement("code");
      code.textContent = m[1];
      out.push(code);
    } else if (rule.kind === "link") {
      const href = m[2];
      if (SAFE_LINK.test(href)) out.push(link(href, renderInline(m[1])));
      else out.push(...renderInline(m[1]), document.createTextNode(` (${href})`));
    } else if (rule.kind === "url") {
      out.push(link(m[0], [document.createTextNode(m[0])]));
    } else {
      const el = document.createElement(rule.kind);
      el.append(...renderInline(m[1] ?? m[2]));
      out.push(el);
    }
    rest = rest.slice(m.index + m[0].length);
  }
  return out;
}

function withBreaks(lines) {
  const nodes = [];
  lines.forEach((line, i) => {
    if (i) nodes.push(document.createElement("br"));
    nodes.push(...renderInline(line));
  });
  return nodes;
}

const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d{1,9}[.)]\s+(.*)$/;

/** A DocumentFragment for the Markdown text. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i += 1; continue; }
    if (/^\s*```/.test(line)) {
      const body = [];
      i += 1;
      while (i < lines.length && !/^\s*```/.test(lines[i])) body.push(lines[i++]);
      i += 1;
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      code.textContent = body.join("\n");
      pre.append(code);
      fragment.append(pre);
      continue;
    }
    const listRule = BULLET.test(line) ? BULLET : NUMBERED.test(line) ? NUMBERED : null;
    if (listRule) {
      const list = document.createElement(listRule === BULLET ? "ul" : "ol");
      while (i < lines.length && listRule.test(lines[i])) {
        const li = document.createElement("li");
        li.append(...renderInline(listRule.exec(lines[i])[1]));
        list.append(li);
        i += 1;
      }
      fragment.append(list);
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !/^\s*```/.test(lines[i]) && !BULLET.test(lines[i]) && !NUMBERED.test(lines[i])) {
      para.push(lines[i++]);
    }
    const p = document.createElement("p");
    p.append(...withBreaks(para));
    fragment.append(p);
  }
  return fragment;
}
