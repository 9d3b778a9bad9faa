// The page of `ciuicfs ui`: draws what /api/log answers (the chain as a
// graph, metrics by step, bytes per snapshot and summed) and asks the API
// for a snapshot's tree, a diff and the changes (fs/ui/README.md, "Routes").
// No library: plain DOM and SVG. The token came in the URL once; the server
// set it as a cookie, so the URL drops it.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4b5563"];
const state = { log: null, logText: "", selected: null, metrics: new Set(), lanes: new Map(), diffA: null, diffB: null };

// ---- small helpers ----
function $(id) { return document.getElementById(id); }
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
}
function s(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.append(e);
  return e;
}
function svgText(parent, x, y, text, attrs) { const t = s("text", Object.assign({ x, y }, attrs || {}), parent); t.textContent = text; return t; }
function human(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, u = 0;
  while (v >= 1024 && u < 4) { v /= 1024; u++; }
  return u === 0 ? n + " B" : v.toFixed(1) + " " + units[u];
}
function fmtTime(ns) { return new Date(ns / 1e6).toLocaleString(); }
function short(id) { return id.slice(0, 12); }
function status(text, isError) { const e = $("status"); e.textContent = text; e.classList.toggle("error", !!isError); }
function bytesCell(n) { return h("td", { class: "num", "data-bytes": String(n), title: n + " bytes" }, human(n)); }

async function api(path, options) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  const body = await r.json().catch(() => ({ error: r.status + " " + r.statusText }));
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

// ---- the chain ----
// Lanes: the mount's branch first, then the others; each snapshot goes to
// the first branch whose line (head back through parents) reaches it.
function computeLanes(log) {
  const byId = new Map(log.snapshots.map(x => [x.id, x]));
  const names = Object.keys(log.branches).sort((a, b) => (a === log.branch ? -1 : b === log.branch ? 1 : a.localeCompare(b)));
  const bySeq = new Map(log.snapshots.map(x => [x.seq, x]));
  const lanes = new Map(), laneNames = [];
  for (const name of names) {
    let cur = bySeq.get(log.branches[name]);
    if (!cur) continue;
    const lane = laneNames.length;
    laneNames.push(name);
    while (cur && !lanes.has(cur.seq)) { lanes.set(cur.seq, lane); cur = byId.get(cur.parent); }
  }
  let other = -1;
  for (const x of log.snapshots) {
    if (lanes.has(x.seq)) continue;
    if (other < 0) { other = laneNames.length; laneNames.push("(other)"); }
    lanes.set(x.seq, other);
  }
  return { lanes, laneNames };
}

function drawGraph(log) {
  const box = $("graph");
  box.replaceChildren();
  const { lanes, laneNames } = computeLanes(log);
  state.lanes = lanes;
  const dx = 34, dy = 62, left = 90, top = 34;
  const col = new Map(log.snapshots.map((x, i) => [x.seq, i]));
  const width = left + Math.max(1, log.snapshots.length) * dx + 60, height = top + laneNames.length * dy + 10;
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "graph-svg" }, box);
  const pos = seq => [left + col.get(seq) * dx, top + lanes.get(seq) * dy];
  laneNames.forEach((name, i) => svgText(svg, 6, top + i * dy + 4, name, { class: "lane-label" }));
  for (const e of log.edges) {
    if (!col.has(e.from) || !col.has(e.to)) continue;
    const [x1, y1] = pos(e.from), [x2, y2] = pos(e.to);
    const d = y1 === y2 && e.kind !== "rollback" ? `M${x1},${y1} L${x2},${y2}`
      : `M${x1},${y1} C${x1 + dx * 0.8},${y1 + (y1 === y2 ? -dy * 0.45 : 0)} ${x2 - dx * 0.8},${y2 + (y1 === y2 ? -dy * 0.45 : 0)} ${x2},${y2}`;
    const p = s("path", { d, class: "edge " + e.kind, "data-from": e.from, "data-to": e.to }, svg);
    s("title", {}, p).textContent = `${e.kind}: ${e.from} → ${e.to}`;
  }
  for (const x of log.snapshots) {
    const [cx, cy] = pos(x.seq);
    const hasMetrics = Object.keys(x.metrics || {}).length > 0;
    const g = s("g", { class: "node" + (hasMetrics ? " has-metrics" : "") + (state.selected === x.seq ? " selected" : ""),
                       "data-seq": x.seq, "data-id": x.id, transform: `translate(${cx},${cy})` }, svg);
    s("circle", { r: 7 }, g);
    svgText(g, 0, 20, String(x.step), { "text-anchor": "middle", class: "muted" });
    let ly = -12;
    for (const head of x.heads) { svgText(g, 0, ly, "⎇ " + head, { "text-anchor": "middle", class: "head" }); ly -= 12; }
    if (x.tags) for (const tag of x.tags.split(",")) { svgText(g, 0, ly, "🏷 " + tag, { "text-anchor": "middle", class: "tag" }); ly -= 12; }
    s("title", {}, g).textContent = `snapshot ${x.seq}  ${short(x.id)}\nstep ${x.step}  ${fmtTime(x.time_ns)}\n` +
      `${human(x.bytes_in_files)} in files, +${human(x.new_bytes)} new after dedup` +
      Object.entries(x.metrics || {}).map(([k, v]) => `\n${k} = ${v}`).join("");
    g.addEventListener("click", () => select(x.seq));
  }
}

// ---- metrics by step ----
function drawMetricPicker(log) {
  const names = [...new Set(log.snapshots.flatMap(x => Object.keys(x.metrics || {})))].sort();
  if (state.metrics.size === 0 || [...state.metrics].some(m => !names.includes(m))) {
    state.metrics = new Set(names.filter(n => n === "loss" || n === "eval_loss"));
    if (state.metrics.size === 0 && names.length) state.metrics.add(names[0]);
  }
  const box = $("metric-picker");
  box.replaceChildren();
  names.forEach((name, i) => {
    const cb = h("input", { type: "checkbox", "data-metric": name });
    cb.checked = state.metrics.has(name);
    cb.addEventListener("change", () => { cb.checked ? state.metrics.add(name) : state.metrics.delete(name); drawMetrics(state.log); });
    box.append(h("label", {}, cb, h("span", { class: "swatch" }), name));
    box.lastChild.querySelector(".swatch").style.background = COLORS[i % COLORS.length];
  });
  if (!names.length) box.append(h("span", { class: "muted" }, "no snapshot has metrics (trainer_state.json log_history or user.ciuic.* xattrs)"));
  return names;
}

function drawMetrics(log) {
  const names = [...new Set(log.snapshots.flatMap(x => Object.keys(x.metrics || {})))].sort();
  const box = $("metrics");
  box.replaceChildren();
  // One point per (lane, metric, step): the newest snapshot that has it.
  const series = new Map();
  for (const x of log.snapshots) {
    for (const [m, v] of Object.entries(x.metrics || {})) {
      if (!state.metrics.has(m) || typeof v !== "number" || !isFinite(v)) continue;
      const key = m + "\u0000" + state.lanes.get(x.seq);
      if (!series.has(key)) series.set(key, { metric: m, lane: state.lanes.get(x.seq), points: new Map() });
      series.get(key).points.set(x.step, { step: x.step, value: v, seq: x.seq });
    }
  }
  const all = [...series.values()].flatMap(se => [...se.points.values()]);
  const W = 560, H = 260, L = 56, R = 12, T = 10, B = 28;
  const svg = s("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, id: "metrics-svg" }, box);
  if (!all.length) { svgText(svg, L, H / 2, "no points for the metrics chosen", { class: "muted" }); return; }
  let [x0, x1] = [Math.min(...all.map(p => p.step)), Math.max(...all.map(p => p.step))];
  let [y0, y1] = [Math.min(...all.map(p => p.value)), Math.max(...all.map(p => p.value))];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
  const X = v => L + (v - x0) / (x1 - x0) * (W - L - R), Y = v => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = y0 + (y1 - y0) * i / 4;
    s("line", { x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: "grid" }, svg);
    svgText(svg, L - 6, Y(v) + 4, Number(v.toPrecision(4)).toString(), { "text-anchor": "end", class: "muted" });
  }
  s("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }, svg);
  svgText(svg, L, H - 8, "step " + x0, { class: "muted" });
  svgText(svg, W - R, H - 8, "step " + x1, { "text-anchor": "end", class: "muted" });
  for (const se of series.values()) {
    const color = COLORS[names.indexOf(se.metric) % COLORS.length];
    const pts = [...se.points.values()].sort((a, b) => a.step - b.step);
    const line = s("polyline", { points: pts.map(p => `${X(p.step)},${Y(p.value)}`).join(" "), class: "curve",
                                 stroke: color, "data-metric": se.metric, "data-lane": se.lane }, svg);
    if (se.lane > 0) line.setAttribute("stroke-dasharray", "4 3");
    for (const p of pts) {
      const c = s("circle", { cx: X(p.step), cy: Y(p.value), r: 3.5, fill: color, class: "point",
                              "data-metric": se.metric, "data-step": p.step, "data-value": p.value, "data-seq": p.seq }, svg);
      s("title", {}, c).textContent = `${se.metric} = ${p.value} at step ${p.step} (snapshot ${p.seq})`;
      c.addEventListener("click", () => select(p.seq));
    }
  }
}

// ---- bytes ----
function drawBytes(log) {
  const snaps = log.snapshots;
  const W = 560, H = 170, L = 64, R = 12, T = 10, B = 22;
  const make = (id, legend) => {
    const box = $(id);
    box.replaceChildren(h("div", { class: "legend" }, ...legend.map(([cls, text]) => h("span", {}, h("span", { class: "swatch " + cls }), text))));
    return s("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, id: id + "-svg" }, box);
  };
  const axes = (svg, max) => {
    for (let i = 0; i <= 2; i++) {
      const y = T + (1 - i / 2) * (H - T - B);
      s("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }, svg);
      svgText(svg, L - 6, y + 4, human(Math.round(max * i / 2)), { "text-anchor": "end", class: "muted" });
    }
    s("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }, svg);
  };
  const per = make("bytes-chart", [["bar-files-swatch", "bytes in the snapshot's files"], ["bar-added-swatch", "bytes new after dedup"]]);
  const maxPer = Math.max(1, ...snaps.map(x => Math.max(x.bytes_in_files, x.new_bytes)));
  axes(per, maxPer);
  const slot = (W - L - R) / Math.max(1, snaps.length), bw = Math.max(1, slot * 0.4);
  const Yp = v => T + (1 - v / maxPer) * (H - T - B);
  snaps.forEach((x, i) => {
    const x0 = L + i * slot + slot * 0.1;
    const a = s("rect", { x: x0, y: Yp(x.bytes_in_files), width: bw, height: H - B - Yp(x.bytes_in_files), class: "bar-files", "data-seq": x.seq, "data-bytes": x.bytes_in_files }, per);
    s("title", {}, a).textContent = `snapshot ${x.seq}: ${human(x.bytes_in_files)} in files`;
    const b = s("rect", { x: x0 + bw, y: Yp(x.new_bytes), width: bw, height: H - B - Yp(x.new_bytes), class: "bar-added", "data-seq": x.seq, "data-bytes": x.new_bytes }, per);
    s("title", {}, b).textContent = `snapshot ${x.seq}: ${human(x.new_bytes)} new after dedup` + (x.ingest_pending ? " (not ingested yet: counted whole)" : "");
  });
  const cum = make("cumulative-chart", [["line-saved-swatch", "saved, summed (as plain copies)"], ["line-added-swatch", "new after dedup, summed"]]);
  let saved = 0, added = 0;
  const sums = snaps.map(x => ({ seq: x.seq, saved: (saved += x.saved_bytes), added: (added += x.new_bytes) }));
  const maxCum = Math.max(1, saved, added);
  axes(cum, maxCum);
  const Yc = v => T + (1 - v / maxCum) * (H - T - B), Xc = i => L + (i + 0.5) * slot;
  s("polyline", { points: sums.map((p, i) => `${Xc(i)},${Yc(p.saved)}`).join(" "), class: "line-saved", "data-last": saved }, cum);
  s("polyline", { points: sums.map((p, i) => `${Xc(i)},${Yc(p.added)}`).join(" "), class: "line-added", "data-last": added }, cum);
  return sums;
}

function drawTotals(log) {
  const st = log.stats;
  const set = (id, bytes) => { const e = $(id); e.textContent = human(bytes); e.dataset.bytes = String(bytes); e.title = bytes + " bytes"; };
  $("total-snapshots").textContent = String(log.snapshots.length);
  set("total-raw", st.raw_bytes);
  set("total-unique", st.unique_bytes);
  set("total-stored", st.stored_bytes);
  $("total-ratio").textContent = st.dedup_ratio.toFixed(2) + "x";
  set("total-added", log.snapshots.reduce((a, x) => a + x.bytes_added, 0));
  $("where").textContent = (log.mountpoint ? log.mountpoint + " · " : "") + log.store + " · branch " + log.branch;
}

function drawTable(log, sums) {
  const body = $("snap-table").tBodies[0];
  body.replaceChildren();
  [...log.snapshots].reverse().forEach(x => {
    const sum = sums.find(p => p.seq === x.seq);
    const names = h("td", {});
    for (const head of x.heads) names.append(h("span", { class: "headchip" }, "⎇ " + head));
    if (x.tags) for (const t of x.tags.split(",")) names.append(h("span", { class: "tagchip" }, t));
    const tr = h("tr", { "data-seq": x.seq, class: state.selected === x.seq ? "selected" : "" },
      h("td", { class: "num" }, String(x.seq)), h("td", { class: "num" }, String(x.step)),
      h("td", { class: "mono" }, short(x.id)), h("td", {}, fmtTime(x.time_ns)),
      bytesCell(x.bytes_in_files), bytesCell(x.saved_bytes), bytesCell(x.new_bytes), bytesCell(x.bytes_added),
      bytesCell(sum.saved), bytesCell(sum.added), names,
      h("td", { class: "mono" }, Object.entries(x.metrics || {}).map(([k, v]) => `${k}=${Number(v.toPrecision(6))}`).join(" ")));
    tr.addEventListener("click", () => select(x.seq));
    body.append(tr);
  });
}

function fillDiffSelects(log) {
  for (const [id, key] of [["diff-a", "diffA"], ["diff-b", "diffB"]]) {
    const sel = $(id);
    const keep = state[key] || sel.value;
    sel.replaceChildren(...[...log.snapshots].reverse().map(x =>
      h("option", { value: x.id }, `${x.seq} · step ${x.step} · ${short(x.id)}${x.tags ? " · " + x.tags : ""}`)));
    if (keep && log.snapshots.some(x => x.id === keep)) sel.value = keep;
    else if (key === "diffA" && log.snapshots.length > 1) sel.value = log.snapshots[log.snapshots.length - 2].id;
  }
}

function render(log) {
  state.log = log;
  drawTotals(log);
  drawGraph(log);
  drawMetricPicker(log);
  drawMetrics(log);
  const sums = drawBytes(log);
  drawTable(log, sums);
  fillDiffSelects(log);
  document.body.dataset.ready = "1";
  document.body.dataset.snapshots = String(log.snapshots.length);
}

async function refresh(force) {
  try {
    const r = await fetch("/api/log", { credentials: "same-origin" });
    const text = await r.text();
    if (!r.ok) throw new Error(JSON.parse(text).error || r.statusText);
    if (!force && text === state.logText) return;
    state.logText = text;
    render(JSON.parse(text));
    if (state.selected !== null && !state.log.snapshots.some(x => x.seq === state.selected)) state.selected = null;
  } catch (err) {
    status("cannot load the chain: " + err.message, true);
  }
}

// ---- one snapshot ----
async function select(seq) {
  const x = state.log.snapshots.find(y => y.seq === seq);
  if (!x) return;
  state.selected = seq;
  for (const g of document.querySelectorAll("#graph .node")) g.classList.toggle("selected", Number(g.dataset.seq) === seq);
  for (const tr of $("snap-table").tBodies[0].rows) tr.classList.toggle("selected", Number(tr.dataset.seq) === seq);
  $("snap-title").textContent = `${x.seq} · step ${x.step} · ${short(x.id)}`;
  $("actions").hidden = false;
  $("rollback-confirm").hidden = true;
  $("tree").replaceChildren(h("span", { class: "muted" }, "loading…"));
  try {
    const snap = await api("/api/show?ref=" + encodeURIComponent(x.id));
    if (state.selected !== seq) return;
    drawSnapshot(snap, x);
  } catch (err) {
    $("tree").replaceChildren();
    status("show " + short(x.id) + ": " + err.message, true);
  }
}

function drawSnapshot(snap, x) {
  const info = h("dl", { class: "info", id: "snap-facts", "data-seq": snap.seq, "data-bytes-in-files": snap.bytes_in_files });
  const row = (k, v) => info.append(h("dt", {}, k), h("dd", {}, v));
  row("id", snap.id);
  row("parent", snap.parent || "(none)");
  row("step", String(snap.step));
  row("time", fmtTime(snap.time_ns));
  row("bytes", `${human(snap.bytes_in_files)} in files; ${human(x.saved_bytes)} saved; ${human(x.new_bytes)} new after dedup` +
      (x.ingest_pending ? " (not ingested yet)" : "") + `; ${human(snap.bytes_added)} added to packs by its commit`);
  const names = h("span", {});
  for (const head of x.heads) names.append(h("span", { class: "headchip" }, "⎇ " + head));
  if (x.tags) for (const t of x.tags.split(",")) {
    names.append(h("span", { class: "tagchip" }, t, h("button", { title: "delete tag " + t, "data-tag": t, onclick: () => deleteTag(t) }, "×")));
  }
  row("names", names);
  const metrics = Object.entries(snap.metrics || {}), notes = Object.entries(snap.notes || {});
  if (metrics.length) row("metrics", metrics.map(([k, v]) => `${k}=${v}`).join("  "));
  if (notes.length) row("notes", notes.map(([k, v]) => `${k}: ${v}`).join("; "));
  if (snap.changes.length) row("changed", snap.changes.map(c => ({ put: "+", remove: "-", link: "=" })[c.kind] + c.path).join(", "));
  $("snap-info").replaceChildren(info);
  const table = h("table", { id: "tree-table" }, h("thead", {}, h("tr", {}, h("th", {}, `tree (${snap.tree.length} entries)`), h("th", { class: "num" }, "size"))));
  const tb = h("tbody", {});
  for (const e of snap.tree) {
    const depth = e.path.split("/").length - 1, name = e.path.split("/").pop();
    let cell;
    if (e.kind === "directory") cell = h("span", { class: "dir" }, name + "/");
    else if (e.kind === "file") cell = h("a", { class: "file", href: `/api/file?ref=${encodeURIComponent(snap.id)}&path=${encodeURIComponent(e.path)}`,
                                              download: name, "data-path": e.path, "data-size": e.size }, name);
    else cell = h("span", { class: "muted" }, name + " (" + e.kind + ")");
    const td = h("td", { class: "path" }, cell);
    td.style.setProperty("--depth", depth);
    tb.append(h("tr", {}, td, e.kind === "directory" ? h("td", {}) : bytesCell(e.size)));
  }
  table.append(tb);
  $("tree").replaceChildren(table);
}

// ---- changes ----
async function change(path, body, what) {
  status(what + "…");
  try {
    const r = await post(path, body);
    status(what + ": done" + (r.result && r.result.message ? " — " + r.result.message : ""));
    await refresh(true);
    return r;
  } catch (err) {
    status(what + ": " + err.message, true);
    return null;
  }
}
async function deleteTag(name) { if (await change("/api/tag", { delete: name }, "delete tag " + name)) reselect(); }
function reselect() { if (state.selected !== null) select(state.selected); }

function wire() {
  $("tag-btn").addEventListener("click", async () => {
    const x = state.log.snapshots.find(y => y.seq === state.selected);
    const name = $("tag-name").value.trim();
    if (!x || !name) return status("tag: choose a snapshot and a name", true);
    if (await change("/api/tag", { name, ref: x.id }, "tag " + name)) { $("tag-name").value = ""; reselect(); }
  });
  $("rollback-btn").addEventListener("click", () => { $("rollback-confirm").hidden = false; });
  $("rollback-confirm").addEventListener("click", async () => {
    const x = state.log.snapshots.find(y => y.seq === state.selected);
    $("rollback-confirm").hidden = true;
    if (x) await change("/api/rollback", { ref: x.id }, "rollback to " + x.seq);
  });
  const pick = (key, id) => () => {
    const x = state.log.snapshots.find(y => y.seq === state.selected);
    if (x) { state[key] = x.id; $(id).value = x.id; }
  };
  $("diff-from-btn").addEventListener("click", pick("diffA", "diff-a"));
  $("diff-to-btn").addEventListener("click", pick("diffB", "diff-b"));
  $("diff-a").addEventListener("change", e => { state.diffA = e.target.value; });
  $("diff-b").addEventListener("change", e => { state.diffB = e.target.value; });
  $("diff-btn").addEventListener("click", runDiff);
  $("prune-dry").addEventListener("click", () => prune(true));
  $("prune-go").addEventListener("click", () => prune(false));
}

async function runDiff() {
  const a = $("diff-a").value, b = $("diff-b").value, out = $("diff-out");
  try {
    const d = await api(`/api/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
    const rows = d.changes.map(c => h("tr", { class: "change", "data-path": c.path, "data-change": c.change },
      h("td", {}, c.change), h("td", { class: "mono" }, c.path),
      h("td", { class: "num" }, c.old_size !== undefined ? human(c.old_size) : ""), h("td", { class: "num" }, c.size !== undefined ? human(c.size) : ""),
      h("td", { class: "num" }, c.chunks !== undefined ? `${c.chunks_differ} of ${c.chunks} chunks (${human(c.bytes_differ)})` : (c.now ? "now a " + c.now : ""))));
    out.replaceChildren(h("p", {}, `${d.from.seq} (step ${d.from.step}) → ${d.to.seq} (step ${d.to.step}): ${d.changes.length} path(s) differ`),
      h("table", { id: "diff-table" }, h("thead", {}, h("tr", {}, ...["change", "path", "was", "now", "differs"].map(t => h("th", {}, t)))), h("tbody", {}, ...rows)));
  } catch (err) {
    out.replaceChildren();
    status("diff: " + err.message, true);
  }
}

async function prune(dry) {
  const body = { keep_tagged: $("prune-tagged").checked, dry_run: dry };
  if ($("prune-last").value !== "") body.keep_last = Number($("prune-last").value);
  if ($("prune-every").value !== "") body.keep_every_steps = Number($("prune-every").value);
  const r = await change("/api/prune", body, dry ? "prune preview" : "prune");
  $("prune-go").disabled = !(dry && r);
  if (!r) return;
  const res = r.result;
  $("prune-out").replaceChildren(h("p", {}, `${dry ? "would drop" : "dropped"} ${res.dropped.length} of ${res.snapshots}; ${res.kept} kept`),
    h("ul", {}, ...res.dropped.map(d => h("li", { class: "mono" }, `${d.seq} · step ${d.step} · ${short(d.id)}`))));
}

document.addEventListener("DOMContentLoaded", () => {
  if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", location.pathname);
  wire();
  refresh(true);
  setInterval(() => { if (!document.hidden) refresh(false); }, 5000);
});
