// nnzero studio: the page's state, requests and navigation (draw.js: the Draw view; views.js:
// the others). Every number comes from the server (nnzero's own code); the page only asks, and
// draws. Endpoints: src/nnzero/studio/app.py.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = Colors.fmt;
const S = {
  model: null,          // GET /api/model
  input: null,          // the current INPUT ({canvas: ...} or {sample: i}), null when blank
  last: null,           // the last /api/predict answer
  unit: { layer: 0, unit: 0 },
  cursor: {},           // keyboard cursor per layer grid
  seq: {},              // request counters: answers older than the newest are dropped
  view: "draw",
  label: null,          // Backprop's chosen true label (class index)
};

// ---- requests ---------------------------------------------------------------------------------
function status(text, isError) {
  const el = $("status");
  el.textContent = text || "";
  el.className = isError ? "error" : "";
}

// Fetch JSON; resolves to null (and shows the server's message) for an error answer, and to
// undefined for an answer that a newer request of the same kind has made stale.
async function api(kind, path, body) {
  const n = (S.seq[kind] = (S.seq[kind] || 0) + 1);
  let res, data;
  try {
    res = await fetch(path, body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    data = await res.json();
  } catch (e) {
    if (n === S.seq[kind]) status("the studio server does not answer: is it still running?", true);
    return null;
  }
  if (n !== S.seq[kind]) return undefined;
  if (!res.ok) { status(data.error || `request failed (${res.status})`, true); return null; }
  status("");
  return data;
}

// ---- navigation -------------------------------------------------------------------------------
const VIEWS = ["draw", "neuron", "backprop", "mistakes", "model", "train"];

function show(view) {
  S.view = view;
  for (const b of document.querySelectorAll("nav button")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  }
  for (const v of VIEWS) $("view-" + v).hidden = v !== view;
  if (view === "neuron") showNeuron();
  if (view === "backprop") showBackprop();
  if (view === "mistakes") showMistakes();
  if (view === "model") showModel();
  if (view === "train") Train.plot();     // charts made while hidden take their real width now
}

// Listeners that do not depend on the model: added once.
function setup() {
  for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => show(b.dataset.view));
  const sel = $("neuron-layer");
  sel.addEventListener("change", () => { S.unit = { layer: +sel.value, unit: 0 }; showNeuron(); });
  $("neuron-unit").addEventListener("change", () => {
    const u = Math.min(S.model.stages[S.unit.layer].units - 1, Math.max(0, parseInt($("neuron-unit").value, 10) || 0));
    S.unit = { layer: S.unit.layer, unit: u }; showNeuron();
  });
  for (const [id, d] of [["neuron-prev", -1], ["neuron-next", 1]]) $(id).addEventListener("click", () => {
    const n = S.model.stages[S.unit.layer].units;
    S.unit = { layer: S.unit.layer, unit: (S.unit.unit + d + n) % n }; showNeuron();
  });
  $("row-index").addEventListener("change", () => loadSample(parseInt($("row-index").value, 10) || 0));
  $("bp-lr").addEventListener("change", () => showBackprop());
  Draw.init();
}

// Without a model only the Train view is offered.
function modelViews(on) {
  $("no-model").hidden = on;
  for (const b of document.querySelectorAll("nav button")) if (b.dataset.view !== "train") b.hidden = !on;
}

// (Re)load the model the look-inside views show: at start, and when a run from the page ends.
async function initModel() {
  const model = await api("model", "/api/model");
  if (!model) return false;
  S.model = model;
  S.unit = { layer: 0, unit: 0 }; S.cursor = {}; S.label = null;
  $("model-path").textContent = S.model.path;
  const sel = $("neuron-layer");
  sel.innerHTML = "";
  S.model.stages.forEach((st, k) => {
    const o = document.createElement("option");
    o.value = k; o.textContent = k === S.model.stages.length - 1 ? `output (${st.units})` : `${k + 1} (${st.units} ${st.activation})`;
    sel.append(o);
  });
  $("draw").hidden = !S.model.image; $("rows-picker").hidden = S.model.image;
  $("row-index").max = Math.max(0, S.model.data.rows - 1);
  $("random").hidden = !S.model.data.rows;
  buildLayers();
  buildLabels();
  Draw.clear();
  resetOutputs();
  modelViews(true);
  if (!S.model.image && S.model.data.rows) loadSample(0);
  return true;
}

async function main() {
  setup();
  Train.init();
  const st = await api("status", "/api/status");
  if (!st) return;
  if (st.model && await initModel()) return;
  modelViews(false);
  $("no-model-message").textContent = st.message || "";
  show("train");
}
