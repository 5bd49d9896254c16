// The Draw view: the canvas (mouse and touch), the input the model sees, one heat grid per
// layer and the probabilities. Uses S, api and $ from studio.js.
"use strict";

// ---- drawing ----------------------------------------------------------------------------------
const Draw = {
  canvas: null, ctx: null, drawing: false, inked: false, timer: null, lastSent: 0,
  init() {                   // once: the listeners stay through model reloads
    const c = (this.canvas = $("draw"));
    this.ctx = c.getContext("2d");
    this.small = document.createElement("canvas");
    this.small.width = this.small.height = 112;
    this.clear();
    c.addEventListener("pointerdown", (e) => this.down(e));
    c.addEventListener("pointermove", (e) => this.move(e));
    for (const t of ["pointerup", "pointercancel", "pointerleave"]) c.addEventListener(t, () => this.up());
    $("clear").addEventListener("click", () => { this.clear(); resetOutputs(); });
    $("random").addEventListener("click", () => loadSample(Math.floor(Math.random() * S.model.data.rows)));
  },
  clear() {
    const ctx = this.ctx;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.inked = false;
  },
  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * this.canvas.width / r.width, (e.clientY - r.top) * this.canvas.height / r.height];
  },
  down(e) {
    e.preventDefault();
    this.canvas.setPointerCapture?.(e.pointerId);
    this.drawing = true;
    this.prev = this.point(e);
    this.stroke(this.prev);
  },
  move(e) {
    if (!this.drawing) return;
    e.preventDefault();
    this.stroke(this.point(e));
  },
  up() {
    if (!this.drawing) return;
    this.drawing = false;
    this.send(true);
  },
  stroke(p) {
    const ctx = this.ctx;
    ctx.strokeStyle = "#fff"; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.lineWidth = this.canvas.width / 14;
    ctx.beginPath(); ctx.moveTo(this.prev[0], this.prev[1]); ctx.lineTo(p[0], p[1]); ctx.stroke();
    this.prev = p;
    this.inked = true;
    this.send(false);
  },
  // Throttled: at most one request every 40 ms while drawing (25 a second); the stroke's end
  // always sends, so the last answer is for the whole drawing.
  send(final) {
    const wait = 40 - (performance.now() - this.lastSent);
    if (this.timer) { if (!final) return; clearTimeout(this.timer); this.timer = null; }
    if (!final && wait > 0) { this.timer = setTimeout(() => { this.timer = null; this.send(false); }, wait); return; }
    this.lastSent = performance.now();
    const s = this.small.getContext("2d");
    s.imageSmoothingEnabled = true;
    s.drawImage(this.canvas, 0, 0, 112, 112);
    const rgba = s.getImageData(0, 0, 112, 112).data, ink = new Uint8Array(112 * 112);
    for (let i = 0; i < ink.length; i++) ink[i] = rgba[4 * i];
    let bin = "";
    for (let i = 0; i < ink.length; i++) bin += String.fromCharCode(ink[i]);
    setInput({ canvas: { width: 112, height: 112, pixels: btoa(bin) } });
  },
  // Show a data row's pixels on the canvas (a sample loaded from Mistakes or at random).
  showPixels(values, max) {
    this.clear();
    const img = this.ctx.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const v = Math.round(255 * Math.min(1, values[i] / (max || 1)));
      img.data.set([v, v, v, 255], 4 * i);
    }
    const t = document.createElement("canvas");
    t.width = t.height = 28;
    t.getContext("2d").putImageData(img, 0, 0);
    this.ctx.imageSmoothingEnabled = false;
    this.ctx.drawImage(t, 0, 0, this.canvas.width, this.canvas.height);
    this.inked = true;
  },
};

function setInput(input) {
  S.input = input;
  predict();
  if (S.view === "neuron") showNeuron();
  if (S.view === "backprop") showBackprop();
}

async function loadSample(index) {
  const data = await api("predict", "/api/predict", { input: { sample: index } });
  if (!data) return;
  S.input = { sample: index };
  if (S.model.image) Draw.showPixels(Colors.decodeF32(data.input), 1);
  else $("row-index").value = index;
  renderPrediction(data);
  if (S.view === "neuron") showNeuron();
  if (S.view === "backprop") showBackprop();
}

// ---- Draw view --------------------------------------------------------------------------------
async function predict() {
  if (!S.input) return;
  const data = await api("predict", "/api/predict", { input: S.input });
  if (data) renderPrediction(data);
}

function cellSize(rows, cols, width) {
  return Math.max(4, Math.min(28, Math.floor((width - cols - 1) / cols)));
}

function buildLayers() {
  const box = $("layers");
  box.innerHTML = "";
  S.model.stages.forEach((st, k) => {
    const last = k === S.model.stages.length - 1;
    const panel = document.createElement("div");
    panel.className = "panel";
    const [rows, cols] = st.grid;
    const name = last ? `Output · ${st.units} ${st.activation}` : `Layer ${k + 1} · ${st.units} ${st.activation}`;
    const rule = last ? "a = softmax(z)" : `a = ${st.activation === "ReLU" ? "max(0, z)" : st.activation + "(z)"}`;
    const dead = st.dead.length ? ` · <span class="dead-note">× ${st.dead.length} dead: never fire on the ${
      S.model.data.rows.toLocaleString()} rows of the ${S.model.data.name}</span>` : "";
    panel.innerHTML = `<h2>${name}</h2><canvas class="grid" data-testid="layer-${k}" tabindex="0"
      role="grid" aria-label="${name}: activations; arrow keys move, Enter opens a unit"></canvas>
      <div class="legend" data-scale="seq"></div><p class="small muted">${rule}${dead}</p>`;
    if (last) {
      panel.id = "proba-panel";
      panel.insertAdjacentHTML("beforeend", `<p id="prediction" data-testid="prediction" class="prediction"
        aria-live="polite">Draw a digit</p><div id="probabilities" data-testid="probabilities" class="bars"></div>`);
    }
    box.append(panel);
    const canvas = panel.querySelector("canvas");
    st.cell = cellSize(rows, cols, last ? 200 : 240);
    st.marks = new Set(st.dead);
    st.labels = last ? S.model.classes.map(String) : null;
    canvas.addEventListener("click", (e) => {
      const i = Colors.cellAt(canvas, e, rows, cols);
      if (i >= 0 && i < st.units) openUnit(k, i);
    });
    canvas.addEventListener("keydown", (e) => gridKey(e, k, canvas));
    drawLayer(k, null);
  });
}

function gridKey(e, k, canvas) {
  const st = S.model.stages[k], [rows, cols] = st.grid;
  let c = S.cursor[k] ?? 0;
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols };
  if (e.key in moves) c = Math.min(st.units - 1, Math.max(0, c + moves[e.key]));
  else if (e.key === "Enter" || e.key === " ") { openUnit(k, c); }
  else return;
  e.preventDefault();
  S.cursor[k] = c;
  drawLayer(k, S.last);
}

function drawLayer(k, data) {
  const st = S.model.stages[k], [rows, cols] = st.grid;
  const canvas = document.querySelector(`[data-testid="layer-${k}"]`);
  const values = data ? Colors.decodeF32(data.stages[k].a) : new Float32Array(st.units);
  const max = data ? (k === S.model.stages.length - 1 ? 1 : data.stages[k].max) : 1;
  const focused = document.activeElement === canvas;
  Colors.grid(canvas, values, rows, cols, {
    scale: "seq", max, cell: st.cell, marks: st.marks, labels: st.labels,
    selected: S.unit.layer === k ? S.unit.unit : null, cursor: focused ? (S.cursor[k] ?? 0) : null });
  Colors.legend(canvas.parentElement.querySelector(".legend"), "seq", max, "a");
}

function renderPrediction(data) {
  S.last = data;
  const x = Colors.decodeF32(data.input);
  const [r, c] = S.model.input_grid;
  Colors.grid($("input-view"), x, r, c, { scale: "seq", max: Math.max(1, ...x), cell: 5, gap: 0 });
  Colors.legend($("input-legend"), "seq", Math.max(1, ...x), "x");
  S.model.stages.forEach((_, k) => drawLayer(k, data));
  const p = data.probabilities;
  $("prediction").textContent = `It reads as ${data.prediction} (${(100 * p[data.index]).toFixed(1)}%)`;
  const bars = $("probabilities");
  bars.innerHTML = "";
  S.model.classes.forEach((cls, i) => {
    const row = document.createElement("div");
    row.className = "bar" + (i === data.index ? " top" : "");
    row.innerHTML = `<span class="cls">${cls}</span><span class="track"><span class="fill" style="width:${
      (100 * p[i]).toFixed(1)}%"></span></span><span class="pct">${(100 * p[i]).toFixed(1)}%</span>`;
    bars.append(row);
  });
}

function resetOutputs() {
  S.input = null; S.last = null; S.seq.predict = (S.seq.predict || 0) + 1;
  $("prediction").textContent = "Draw a digit";
  $("probabilities").innerHTML = "";
  const [r, c] = S.model.input_grid;
  Colors.grid($("input-view"), new Float32Array(r * c), r, c, { scale: "seq", max: 1, cell: 5, gap: 0 });
  S.model.stages.forEach((_, k) => drawLayer(k, null));
}

