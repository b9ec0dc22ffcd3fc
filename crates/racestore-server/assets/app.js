// The racestore dashboard: the API's JSON drawn as tables and SVG charts, kept live by the
// session's event stream. No framework, no build step: this file is served as it is.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const state = {
  sessions: [], id: null, detail: null, laps: [], lastLapId: 0,
  metrics: [], predictions: [], simulations: [], selected: null, colors: new Map(),
  stream: null, refresh: null,
};

// A token given as #token=... is kept for this tab and taken out of the address bar.
const token = (() => {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("racestore-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("racestore-token");
})();
const authHeaders = () => (token ? { Authorization: "Bearer " + token } : {});

async function api(path) {
  const response = await fetch(path, { headers: authHeaders() });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

const $ = (selector) => document.querySelector(selector);
function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function time(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return seconds.toFixed(3);
  const m = Math.floor(seconds / 60);
  const s = seconds - m * 60;
  if (m < 60) return `${m}:${s.toFixed(3).padStart(6, "0")}`;
  return `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${s.toFixed(3).padStart(6, "0")}`;
}
function gap(g) {
  if (!g) return "";
  if (g.laps !== undefined) return `+${g.laps} lap${g.laps === 1 ? "" : "s"}`;
  return "+" + time(g.seconds);
}
const color = (id) => state.colors.get(id) || "#888";
// A standing's competitor: a car (`car`) when the session's entries name cars, else a driver id.
const competitor = (s) => s.car ?? s.driver_id;
// Which competitor a lap belongs to: the car whose drivers include the lap's driver id.
function competitorOfLaps() {
  const map = new Map();
  for (const s of state.detail.analysis.classification) {
    for (const d of s.drivers || []) map.set(d.driver_id, competitor(s));
  }
  return (lap) => map.get(lap.driver_id) ?? lap.driver_id;
}
function label(s) {
  const names = (s.drivers || []).map((d) => d.driver_name).filter(Boolean);
  const who = s.car !== undefined ? `#${s.car}` : s.driver_id;
  return names.length ? `${who} ${names.join(" / ")}` : who;
}

// ---- sessions -------------------------------------------------------------------------------

async function loadSessions() {
  state.sessions = await api("/api/v1/sessions");
  renderSessions();
}

function renderSessions() {
  const filter = $("#session-filter").value.trim().toLowerCase();
  const list = $("#sessions");
  list.replaceChildren();
  for (const s of [...state.sessions].reverse()) {
    const text = `${s.circuit} ${s.race_type} ${s.date}`.toLowerCase();
    if (filter && !text.includes(filter)) continue;
    const a = el("a", { href: `?session=${s.id}`, "data-session": s.id });
    if (s.id === state.id) a.classList.add("current");
    a.append(el("strong", {}, `${s.circuit}`), el("small", {}, `${s.race_type} · ${s.date.slice(0, 16).replace("T", " ")} · ${s.laps} laps, ${s.drivers} drivers`));
    a.addEventListener("click", (e) => { e.preventDefault(); history.pushState(null, "", `?session=${s.id}`); openSession(s.id); });
    list.appendChild(el("li")).append(a);
  }
}

// ---- one session ----------------------------------------------------------------------------

async function fetchLaps(id, after) {
  let laps = [];
  for (;;) {
    const page = await api(`/api/v1/sessions/${id}/laps?after_id=${after}&limit=10000`);
    laps = laps.concat(page.laps);
    if (page.next_after_id === null) return laps;
    after = page.next_after_id;
  }
}

async function openSession(id) {
  if (state.stream) state.stream.abort();
  Object.assign(state, { id, detail: null, laps: [], lastLapId: 0, selected: null, metrics: [], predictions: [], simulations: [] });
  renderSessions();
  try {
    const [detail, laps] = await Promise.all([api(`/api/v1/sessions/${id}`), fetchLaps(id, 0)]);
    if (state.id !== id) return;
    state.detail = detail;
    addLaps(laps);
    await loadRecords(["metrics", "predictions", "simulations"]);
    $("#empty").hidden = true;
    $("#session").hidden = false;
    render();
    follow(id);
  } catch (err) {
    $("#empty").hidden = false;
    $("#session").hidden = true;
    $("#empty").replaceChildren(el("p", {}, `Cannot show session ${id}: ${err.message}`));
  }
}

function addLaps(laps) {
  for (const lap of laps) {
    if (lap.id <= state.lastLapId) continue;
    state.laps.push(lap);
    state.lastLapId = lap.id;
  }
}

async function loadRecords(which) {
  const id = state.id;
  const got = await Promise.all(which.map((w) => api(`/api/v1/sessions/${id}/${w}`)));
  if (state.id !== id) return;
  which.forEach((w, i) => { state[w] = got[i]; });
}

// ---- live -----------------------------------------------------------------------------------

// Reads the session's server-sent events with fetch (so the token can go in a header).
async function follow(id) {
  const controller = new AbortController();
  state.stream = controller;
  const status = $("#live-status");
  while (state.id === id && !controller.signal.aborted) {
    try {
      const response = await fetch(`/api/v1/sessions/${id}/events?after_id=${state.lastLapId}`, { headers: authHeaders(), signal: controller.signal });
      if (!response.ok) throw new Error(response.statusText);
      status.textContent = "live";
      status.classList.add("live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          handleEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (err) {
      if (controller.signal.aborted) return;
    }
    status.textContent = "reconnecting";
    status.classList.remove("live");
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function handleEvent(block) {
  let type = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trimStart();
  }
  if (type === "laps") {
    addLaps(JSON.parse(data));
    scheduleRefresh([]);
  } else if (type === "records") {
    const name = { driver_metrics: "metrics", predictions: "predictions", simulations: "simulations" }[data];
    if (name) scheduleRefresh([name]);
  }
}

// New laps come in bursts: the classification is fetched again at most every 300 ms.
function scheduleRefresh(records) {
  const pending = state.refresh || { records: new Set() };
  records.forEach((r) => pending.records.add(r));
  if (state.refresh) return;
  state.refresh = pending;
  setTimeout(async () => {
    state.refresh = null;
    const id = state.id;
    try {
      const detail = await api(`/api/v1/sessions/${id}`);
      if (pending.records.size) await loadRecords([...pending.records]);
      if (state.id !== id) return;
      state.detail = detail;
      render();
      const listed = state.sessions.find((s) => s.id === id);
      if (listed) { Object.assign(listed, { laps: detail.laps, drivers: detail.drivers }); renderSessions(); }
    } catch (err) { /* the next event tries again */ }
  }, 300);
}

// ---- rendering ------------------------------------------------------------------------------

function render() {
  const d = state.detail;
  const standings = d.analysis.classification;
  standings.forEach((s) => {
    if (!state.colors.has(competitor(s))) state.colors.set(competitor(s), `hsl(${Math.round((state.colors.size * 137.508) % 360)}, 68%, 42%)`);
  });
  $("#title").textContent = `${d.circuit} · ${d.race_type}`;
  const head = $("#session-head");
  const types = Object.entries(d.analysis.counts.lap_types).map(([t, n]) => `${t} ${n}`).join(", ");
  head.replaceChildren(el("h2", {}, `${d.circuit}, ${d.race_type}`), el("p", {}, `${d.date.replace("T", " ")} · ${d.drivers} drivers · ${d.laps} laps (${types}) · best lap ${time(d.best_lap)}`));
  renderClassification(standings);
  renderLapChart();
  renderPositionChart();
  renderSectorChart(standings);
  renderPits(standings);
  renderWinChart(standings);
  renderMetrics();
  renderPredictions();
  applySelection();
}

// A simulation's win chance of a standing: keyed by the driver ids its paces came from.
function winOf(wins, s) {
  if (!wins) return undefined;
  if (wins[competitor(s)] !== undefined) return wins[competitor(s)];
  const found = (s.drivers || []).map((d) => wins[d.driver_id]).filter((p) => p !== undefined);
  return found.length ? found.reduce((a, b) => a + b, 0) : undefined;
}

function winChances() {
  const sim = state.simulations[state.simulations.length - 1];
  const p = sim && sim.results && (sim.results.win_probability || sim.results.win_probabilities);
  return p && typeof p === "object" ? p : null;
}

function renderClassification(standings) {
  const best = state.detail.analysis.counts.best_lap;
  const wins = winChances();
  const body = $("#classification tbody");
  body.replaceChildren();
  for (const s of standings) {
    const id = competitor(s);
    const tr = el("tr", { "data-competitor": id });
    const name = el("td", { class: "driver" });
    name.append(el("span", { class: "swatch", style: `background:${color(id)}` }), document.createTextNode(label(s)));
    if (s.class) name.append(el("small", { class: "class" }, ` ${s.class}`));
    const cells = [
      el("td", { class: "position" }, String(s.position)), name, el("td", { class: "laps" }, String(s.laps)),
      el("td", {}, s.position === 1 ? time(s.total_time) : gap(s.gap_to_leader)),
      el("td", { class: s.best_lap === best ? "fastest" : "" }, time(s.best_lap)), el("td", {}, String(s.best_lap_number)),
      el("td", {}, time(s.best_sectors.S1)), el("td", {}, time(s.best_sectors.S2)), el("td", {}, time(s.best_sectors.S3)),
      el("td", {}, time(s.theoretical_best)), el("td", {}, time(s.average_green_lap)), el("td", { class: "pits" }, String(s.pit_stops)),
      el("td", {}, winOf(wins, s) === undefined ? "" : `${(winOf(wins, s) * 100).toFixed(1)}%`),
    ];
    tr.append(...cells);
    tr.addEventListener("click", () => { state.selected = state.selected === id ? null : id; applySelection(); });
    body.append(tr);
  }
  $("#classification-rule").textContent = state.detail.analysis.rule === "race"
    ? "Most laps, then shortest total time; gaps to the winner (in laps when lapped)."
    : "Fastest lap first; gaps between best laps.";
}

function applySelection() {
  for (const svg of document.querySelectorAll("svg")) svg.classList.toggle("has-selection", state.selected !== null);
  for (const line of document.querySelectorAll("svg .series")) line.classList.toggle("selected", line.dataset.competitor === state.selected);
  for (const tr of document.querySelectorAll("#classification tbody tr")) tr.classList.toggle("selected", tr.dataset.competitor === state.selected);
}

// A chart frame: scales from data ranges to the SVG's pixels, axes and grid drawn.
function frame(svg, x0, x1, y0, y1, { yLabel = (v) => v, xLabel = (v) => v, yTicks = 5, invert = false } = {}) {
  svg.replaceChildren();
  const width = svg.clientWidth || 600;
  const height = svg.clientHeight || 300;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const m = { left: 64, right: 10, top: 10, bottom: 26 };
  const sx = (x) => m.left + ((x - x0) / (x1 - x0 || 1)) * (width - m.left - m.right);
  const sy = invert
    ? (y) => m.top + ((y - y0) / (y1 - y0 || 1)) * (height - m.top - m.bottom)
    : (y) => height - m.bottom - ((y - y0) / (y1 - y0 || 1)) * (height - m.top - m.bottom);
  for (let i = 0; i <= yTicks; i++) {
    const v = y0 + ((y1 - y0) * i) / yTicks;
    svg.append(svgEl("line", { class: "grid-line", x1: m.left, x2: width - m.right, y1: sy(v), y2: sy(v) }));
    svg.append(svgEl("text", { x: m.left - 6, y: sy(v) + 4, "text-anchor": "end" }, yLabel(v)));
  }
  const xStep = Math.max(1, Math.ceil((x1 - x0) / 10));
  for (let x = Math.ceil(x0); x <= x1; x += xStep) {
    svg.append(svgEl("text", { x: sx(x), y: height - 8, "text-anchor": "middle" }, xLabel(x)));
  }
  svg.append(svgEl("line", { class: "axis", x1: m.left, x2: m.left, y1: m.top, y2: height - m.bottom }));
  svg.append(svgEl("line", { class: "axis", x1: m.left, x2: width - m.right, y1: height - m.bottom, y2: height - m.bottom }));
  return { sx, sy, width, height, m };
}

function byCompetitor(laps) {
  const of = competitorOfLaps();
  const out = new Map();
  for (const lap of laps) {
    const id = of(lap);
    if (!out.has(id)) out.set(id, []);
    out.get(id).push(lap);
  }
  for (const list of out.values()) list.sort((a, b) => a.lap_number - b.lap_number);
  return out;
}

function drawSeries(svg, id, points) {
  if (points.length === 0) return;
  const line = svgEl("polyline", { class: "series", points: points.map((p) => `${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(" "), stroke: color(id) });
  line.dataset.competitor = id;
  line.append(svgEl("title", {}, id));
  svg.append(line);
}

function renderLapChart() {
  const svg = $("#lap-chart");
  const green = new Set(state.detail.lap_rules.green);
  const laps = state.laps.filter((l) => green.has(l.lap_type));
  if (laps.length === 0) { svg.replaceChildren(); return; }
  const times = laps.map((l) => l.lap_time).sort((a, b) => a - b);
  const lo = times[0];
  const hi = Math.min(times[times.length - 1], times[Math.floor(times.length * 0.5)] * 1.06);
  const xs = laps.map((l) => l.lap_number);
  const f = frame(svg, Math.min(...xs), Math.max(...xs), lo - 0.2, hi + 0.2, { yLabel: (v) => time(v) });
  for (const [driver, list] of byCompetitor(laps)) {
    drawSeries(svg, driver, list.map((l) => [f.sx(l.lap_number), f.sy(Math.min(l.lap_time, hi + 0.2))]));
  }
}

function renderPositionChart() {
  const svg = $("#position-chart");
  const laps = state.laps.filter((l) => l.position !== null);
  if (laps.length === 0) { svg.replaceChildren(svgEl("text", { x: 10, y: 20 }, "The laps record no running positions.")); return; }
  const xs = laps.map((l) => l.lap_number);
  const maxPos = Math.max(...laps.map((l) => l.position));
  const f = frame(svg, Math.min(...xs), Math.max(...xs), 1, maxPos, { invert: true, yTicks: Math.min(maxPos - 1, 8) || 1, yLabel: (v) => Math.round(v) });
  for (const [driver, list] of byCompetitor(laps)) {
    drawSeries(svg, driver, list.map((l) => [f.sx(l.lap_number), f.sy(l.position)]));
  }
}

function renderSectorChart(standings) {
  const svg = $("#sector-chart");
  const keys = ["S1", "S2", "S3"];
  const best = keys.map((k) => Math.min(...standings.map((s) => s.best_sectors[k] ?? Infinity)));
  const deltas = standings.map((s) => keys.map((k, i) => (s.best_sectors[k] == null ? null : s.best_sectors[k] - best[i])));
  const max = Math.max(0.1, ...deltas.flat().filter((d) => d !== null));
  if (!isFinite(best[0])) { svg.replaceChildren(svgEl("text", { x: 10, y: 20 }, "No sector times.")); return; }
  const f = frame(svg, 0, standings.length, 0, max, { yLabel: (v) => "+" + v.toFixed(2), xLabel: () => "" });
  const slot = (f.sx(1) - f.sx(0));
  const shades = ["#2b6cb0", "#c05621", "#2f855a"];
  standings.forEach((s, i) => {
    keys.forEach((k, j) => {
      const d = deltas[i][j];
      if (d === null) return;
      const x = f.sx(i) + slot * (0.12 + j * 0.26);
      const rect = svgEl("rect", { class: "bar", x, width: Math.max(1, slot * 0.24), y: f.sy(d), height: Math.max(1, f.sy(0) - f.sy(d)), fill: shades[j] });
      rect.append(svgEl("title", {}, `${label(s)} ${k} ${time(s.best_sectors[k])} (+${d.toFixed(3)})`));
      svg.append(rect);
    });
    if (slot > 14) svg.append(svgEl("text", { x: f.sx(i) + slot / 2, y: f.height - 8, "text-anchor": "middle" }, competitor(s)));
  });
  keys.forEach((k, j) => svg.append(svgEl("text", { x: f.width - 120 + j * 38, y: 14, fill: shades[j] }, `■ ${k}`)));
}

function renderPits(standings) {
  const pit = new Set(state.detail.lap_rules.pit);
  const of = competitorOfLaps();
  const inLaps = new Map();
  for (const lap of state.laps) if (pit.has(lap.lap_type)) {
    const id = of(lap);
    if (!inLaps.has(id)) inLaps.set(id, []);
    inLaps.get(id).push(lap.lap_number);
  }
  const body = $("#pit-stops tbody");
  body.replaceChildren();
  for (const s of standings.filter((s) => s.pit_stops > 0)) {
    const tr = el("tr");
    const name = el("td");
    name.append(el("span", { class: "swatch", style: `background:${color(competitor(s))}` }), document.createTextNode(label(s)));
    tr.append(name, el("td", {}, String(s.pit_stops)), el("td", {}, (inLaps.get(competitor(s)) || []).sort((a, b) => a - b).join(", ")));
    body.append(tr);
  }
  if (!body.children.length) body.appendChild(el("tr")).append(el("td", { colspan: 3 }, "No pit stops."));
}

function renderWinChart(standings) {
  const svg = $("#win-chart");
  const wins = winChances();
  const note = $("#simulation-note");
  if (!wins) { svg.replaceChildren(svgEl("text", { x: 10, y: 20 }, "No simulation stored for this session (racestore simulate --save).")); note.textContent = ""; return; }
  const order = standings.filter((s) => winOf(wins, s) !== undefined).map((s) => [competitor(s), winOf(wins, s)]);
  const f = frame(svg, 0, order.length, 0, 1, { yLabel: (v) => `${Math.round(v * 100)}%`, xLabel: () => "" });
  const slot = f.sx(1) - f.sx(0);
  order.forEach(([id, p], i) => {
    const rect = svgEl("rect", { class: "bar", x: f.sx(i) + slot * 0.15, width: Math.max(1, slot * 0.7), y: f.sy(p), height: Math.max(0, f.sy(0) - f.sy(p)), fill: color(id) });
    rect.append(svgEl("title", {}, `${id}: ${(p * 100).toFixed(1)}%`));
    svg.append(rect);
    if (slot > 14) svg.append(svgEl("text", { x: f.sx(i) + slot / 2, y: f.height - 8, "text-anchor": "middle" }, id));
  });
  const sim = state.simulations[state.simulations.length - 1];
  note.textContent = `${sim.iterations} simulated races of ${sim.n_laps} laps (simulation ${sim.id}).`;
}

const number = (v, digits = 3) => (typeof v === "number" ? v.toFixed(digits) : "");

function renderMetrics() {
  const body = $("#metrics tbody");
  body.replaceChildren();
  for (const m of state.metrics) {
    const tr = el("tr");
    tr.append(el("td", {}, m.driver_id), el("td", {}, number(m.consistency_index)), el("td", {}, number(m.aggression_score)));
    body.append(tr);
  }
  if (!state.metrics.length) body.appendChild(el("tr")).append(el("td", { colspan: 3 }, "No driver metrics (racestore analyze --save)."));
}

function renderPredictions() {
  const body = $("#predictions tbody");
  body.replaceChildren();
  for (const p of state.predictions) {
    const tr = el("tr");
    tr.append(el("td", {}, p.driver_id), el("td", {}, p.prediction_type), el("td", {}, number(p.prediction_value)), el("td", {}, number(p.confidence, 2)), el("td", {}, p.model_path));
    body.append(tr);
  }
  if (!state.predictions.length) body.appendChild(el("tr")).append(el("td", { colspan: 5 }, "No predictions."));
}

// ---- start ----------------------------------------------------------------------------------

function fromAddress() {
  const id = Number(new URLSearchParams(location.search).get("session"));
  if (id > 0) openSession(id);
}

$("#session-filter").addEventListener("input", renderSessions);
window.addEventListener("popstate", fromAddress);
let resizeTimer = null;
window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => state.detail && render(), 150); });
loadSessions().then(fromAddress).catch((err) => $("#sessions").replaceChildren(el("li", {}, err.message)));
