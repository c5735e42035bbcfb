// Small SVG charts drawn by hand: grouped bars and lines over periods, one series per group.

const NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#9333ea", "#475569"];

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export function color(i) { return PALETTE[i % PALETTE.length]; }

function niceMax(value) {
  if (!(value > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * exp).find((m) => m >= value);
}

/**
 * chart({title, kind: "bar"|"line", categories: [x labels], series: [{name, values: [number|null]}]})
 */
export function chart({ title, kind = "bar", categories, series, format = (v) => String(v), empty = "No values in this range." }) {
  const width = 720, height = 276, left = 56, right = 12, top = 28, bottom = 64;
  const plotW = width - left - right, plotH = height - top - bottom;
  const all = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
  const max = niceMax(Math.max(0, ...all));
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: `chart chart-${kind}`, role: "img", "aria-label": title });
  root.append(svg("title", {}, title));
  root.append(svg("text", { x: left, y: 16, class: "chart-title" }, title));
  for (let t = 0; t <= 4; t += 1) {
    const value = (max * t) / 4;
    const y = top + plotH - (plotH * t) / 4;
    root.append(svg("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid" }));
    root.append(svg("text", { x: left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, format(Number(value.toFixed(2)))));
  }
  const n = Math.max(categories.length, 1);
  const step = plotW / n;
  const labelEvery = Math.ceil(n / 12);
  categories.forEach((c, i) => {
    if (i % labelEvery) return;
    root.append(svg("text", { x: left + step * i + step / 2, y: height - bottom + 16, class: "axis", "text-anchor": "middle" }, c));
  });
  const y = (v) => top + plotH - (plotH * v) / max;
  // A figure no group has (no opportunity assessed, no session rated) says so: an empty
  // plot reads as a drawing that failed.
  if (!all.length) root.append(svg("text", { x: left + plotW / 2, y: top + plotH / 2, class: "axis chart-empty", "text-anchor": "middle" }, empty));
  if (kind === "bar") {
    const barW = Math.max(1, Math.min(36, (step * 0.8) / Math.max(series.length, 1)));
    const groupW = barW * series.length;
    series.forEach((s, si) => s.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const x = left + step * i + (step - groupW) / 2 + barW * si;
      const rect = svg("rect", { x, y: y(v), width: barW, height: Math.max(0, top + plotH - y(v)), fill: color(si) });
      rect.append(svg("title", {}, `${s.name} · ${categories[i]}: ${format(v)}`));
      root.append(rect);
    }));
  } else {
    series.forEach((s, si) => {
      let d = "";
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        const x = left + step * i + step / 2;
        d += `${d ? "L" : "M"}${x.toFixed(1)},${y(v).toFixed(1)}`;
        const dot = svg("circle", { cx: x, cy: y(v), r: 3, fill: color(si) });
        dot.append(svg("title", {}, `${s.name} · ${categories[i]}: ${format(v)}`));
        root.append(dot);
      });
      if (d) root.prepend(svg("path", { d, fill: "none", stroke: color(si), "stroke-width": 2 }));
    });
  }
  // legend
  let lx = left, ly = height - 34;
  series.slice(0, 10).forEach((s, si) => {
    const w = 24 + s.name.length * 6;
    if (lx + w > width - right && lx > left) { lx = left; ly += 16; }
    root.append(svg("rect", { x: lx, y: ly, width: 10, height: 10, fill: color(si) }));
    root.append(svg("text", { x: lx + 14, y: ly + 9, class: "legend" }, s.name));
    lx += w;
  });
  return root;
}
