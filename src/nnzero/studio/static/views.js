// The Neuron, Backprop, Mistakes and Model views. Uses S, api and $ from studio.js.
"use strict";

// ---- Neuron view ------------------------------------------------------------------------------
function openUnit(layer, unit) {
  S.unit = { layer, unit };
  S.cursor[layer] = unit;
  if (S.last) S.model.stages.forEach((_, k) => drawLayer(k, S.last));
  show("neuron");
}

async function showNeuron() {
  const { layer, unit } = S.unit, st = S.model.stages[layer];
  $("neuron-layer").value = layer;
  $("neuron-unit").value = unit;
  $("neuron-unit").max = st.units - 1;
  const input = S.input || { sample: 0 };
  const n = await api("neuron", "/api/neuron", { input, layer, unit });
  if (!n) return;
  const last = layer === S.model.stages.length - 1;
  $("neuron-title").textContent = `${last ? "Output" : "Layer " + (layer + 1)} · unit ${unit}${
    last ? ` (class ${S.model.classes[unit]})` : ""}: incoming weights`;
  const [r, c] = n.input_grid, w = Colors.decodeF32(n.weights);
  Colors.grid($("neuron-weights"), w, r, c, { scale: "div", max: n.weight_max, cell: Math.max(4, Math.floor(224 / c)), gap: r === 28 ? 0 : 1 });
  Colors.legend($("neuron-legend"), "div", n.weight_max, "w");
  const tv = Colors.decodeF32(n.terms);
  Colors.grid($("neuron-terms"), tv, r, c, { scale: "div", max: n.terms_max, cell: Math.max(4, Math.floor(224 / c)), gap: r === 28 ? 0 : 1 });
  Colors.legend($("neuron-terms-legend"), "div", n.terms_max, "w·x");
  const what = layer === 0 ? (S.model.image ? "pixel" : "feature") : `unit of layer ${layer}`;
  const where = (i) => layer === 0 && S.model.image ? `${what} (${Math.floor(i / 28)}, ${i % 28})` : `${what} ${i}`;
  const paren = (v) => (v < 0 ? `(${fmt(v)})` : fmt(v));
  const terms = n.top.map((t) => `<tr><td class="sign">+</td><td>${paren(t.w)}·${paren(t.x)}</td><td class="num" style="color:${Colors.css(Colors.div(t.xw, Math.abs(n.top[0].xw)))};">${
    fmt(t.xw)}</td><td class="muted">${where(t.index)}</td></tr>`).join("");
  const shown = n.top.reduce((s, t) => s + t.xw, 0);
  const act = n.activation === "ReLU" ? `a = max(0, z) = ${fmt(n.a, 4)}` : n.activation === "softmax"
    ? `p = softmax(z)<sub>${unit}</sub> = ${fmt(n.a, 4)}` : `a = ${n.activation}(z) = ${fmt(n.a, 4)}`;
  $("neuron-formula").innerHTML = `<p><code>z = Σ<sub>i</sub> w<sub>i</sub>·x<sub>i</sub> + b</code>, the largest of the ${
    n.n_terms_nonzero} non-zero terms:</p>
    <table class="terms"><tbody>${terms}
    <tr><td class="sign">+</td><td>${n.n_terms_nonzero - n.top.length > 0 ? `${n.n_terms_nonzero - n.top.length} more terms` : "no more terms"}</td><td class="num">${fmt(n.sum_terms - shown)}</td><td></td></tr>
    <tr><td class="sign">+</td><td>b</td><td class="num">${fmt(n.bias)}</td><td></td></tr>
    <tr class="total"><td>=</td><td>z</td><td class="num">${fmt(n.z, 4)}</td><td></td></tr></tbody></table>
    <p class="activation">${act}</p>`;
  let rate = "";
  if (n.firing_rate != null) {
    const pct = (100 * n.firing_rate).toFixed(1);
    const rows = n.data_rows.toLocaleString();
    rate = n.firing_rate === 0 ? `<strong class="warn">Dead:</strong> it never fires on the ${rows} data rows, so it never learns (its gradient is always 0).`
      : n.firing_rate === 1 ? `Always on: it fires on all ${rows} data rows (it acts as a linear unit).`
      : `It fires (a > 0) on ${pct}% of the ${rows} data rows.`;
  }
  $("neuron-rate").innerHTML = rate;
}

// ---- Backprop view ----------------------------------------------------------------------------
function buildLabels() {
  const box = $("bp-labels");
  box.innerHTML = "";
  S.model.classes.forEach((cls, i) => {
    const b = document.createElement("button");
    b.textContent = cls; b.setAttribute("role", "radio"); b.dataset.index = i;
    b.addEventListener("click", () => { S.label = i; showBackprop(); });
    box.append(b);
  });
  $("bp-lr").value = S.model.lr;
}

async function showBackprop() {
  const input = S.input || { sample: 0 };
  if (S.label == null) S.label = S.last ? S.last.index : 0;
  for (const b of $("bp-labels").children) b.setAttribute("aria-checked", String(+b.dataset.index === S.label));
  const lr = parseFloat($("bp-lr").value);
  const g = await api("backprop", "/api/backprop", { input, label: S.model.classes[S.label], lr: lr > 0 ? lr : undefined });
  if (!g) return;
  const C = S.model.classes, m = Math.max(...g.delta.map(Math.abs));
  const cells = (f) => C.map((_, i) => f(i)).join("");
  $("bp-output").innerHTML = `<h2>Output: dL/dz = ŷ − y</h2>
    <table class="delta"><thead><tr><th></th>${cells((i) => `<th>${C[i]}</th>`)}</tr></thead><tbody>
    <tr><th>ŷ</th>${cells((i) => `<td>${fmt(g.probabilities[i])}</td>`)}</tr>
    <tr><th>y</th>${cells((i) => `<td>${i === g.target ? 1 : 0}</td>`)}</tr>
    <tr><th>ŷ − y</th>${cells((i) => `<td style="${Colors.cellStyle(Colors.div(g.delta[i], m))}">${fmt(g.delta[i])}</td>`)}</tr>
    </tbody></table><p>L = −log ŷ<sub>${C[g.target]}</sub> = −log ${fmt(g.probabilities[g.target], 4)} = <strong>${fmt(g.loss, 4)}</strong></p>`;
  const box = $("bp-stages");
  box.innerHTML = "";
  for (let k = g.stages.length - 1; k >= 0; k--) {
    const st = g.stages[k], last = k === g.stages.length - 1;
    const panel = document.createElement("div");
    panel.className = "panel";
    panel.innerHTML = `<h2>${last ? "Output" : "Layer " + (k + 1)}: dL/dz</h2><canvas class="grid"></canvas>
      <div class="legend"></div><table class="norms"><tbody>
      <tr><td>‖dW‖</td><td>${fmt(st.dW_norm)}</td></tr><tr><td>‖db‖</td><td>${fmt(st.db_norm)}</td></tr>
      <tr><td>‖W‖</td><td>${fmt(st.W_norm)}</td></tr><tr><td>lr·‖dW‖/‖W‖</td><td>${fmt(st.update_ratio)}</td></tr></tbody></table>`;
    box.append(panel);
    const [r, c] = st.grid;
    Colors.grid(panel.querySelector("canvas"), Colors.decodeF32(st.dz), r, c,
      { scale: "div", max: st.dz_max, cell: cellSize(r, c, last ? 150 : 220), labels: last ? C.map(String) : null });
    Colors.legend(panel.querySelector(".legend"), "div", st.dz_max, "dL/dz");
  }
  const w = document.createElement("div");
  w.className = "panel";
  w.innerHTML = `<h2>Layer 1: dW[:, ${g.dW0.unit}]</h2><canvas class="pixel"></canvas><div class="legend"></div>
    <p class="small muted">= x · dL/dz<sub>${g.dW0.unit}</sub>: the input, scaled by the error of unit ${g.dW0.unit}
    (the one with the largest |dL/dz|).</p>`;
  box.append(w);
  const [r, c] = g.dW0.grid;
  Colors.grid(w.querySelector("canvas"), Colors.decodeF32(g.dW0.values), r, c, { scale: "div", max: g.dW0.max, cell: 5, gap: 0 });
  Colors.legend(w.querySelector(".legend"), "div", g.dW0.max, "dW");
  const before = g.probabilities[g.target], after = g.after.probabilities[g.target];
  $("bp-step").innerHTML = `<h2>One gradient-descent step: W ← W − lr·dW, b ← b − lr·db (lr = ${fmt(g.lr)})</h2>
    <p>ŷ<sub>${C[g.target]}</sub>: ${fmt(before, 4)} → <strong>${fmt(after, 4)}</strong>;
    loss: ${fmt(g.loss, 4)} → <strong>${fmt(g.after.loss, 4)}</strong>
    <span class="muted">(docs/math.md § Gradient descent; on a copy of the model, which stays unchanged)</span></p>`;
}

// ---- Mistakes view ----------------------------------------------------------------------------
async function showMistakes() {
  const cm = await api("confusion", "/api/confusion");
  if (!cm) return;
  $("cm-data").textContent = `${cm.data} (${cm.rows.toLocaleString()} rows, accuracy ${(100 * cm.accuracy).toFixed(2)}%)`;
  const C = cm.classes, m = cm.matrix;
  let maxShare = 0;
  const share = m.map((row) => { const t = row.reduce((a, b) => a + b, 0) || 1; return row.map((v) => v / t); });
  share.forEach((row, i) => row.forEach((v, j) => { if (i !== j) maxShare = Math.max(maxShare, v); }));
  let html = `<table class="cm"><thead><tr><th class="corner">true \\ read as</th>${C.map((c) => `<th>${c}</th>`).join("")}</tr></thead><tbody>`;
  m.forEach((row, i) => {
    html += `<tr><th>${C[i]}</th>`;
    row.forEach((v, j) => {
      const diag = i === j, plain = diag || v === 0;
      const style = plain ? "" : Colors.cellStyle(Colors.seq(share[i][j], maxShare));
      html += `<td class="${diag ? "diag" : ""}" style="${style}">${diag || v === 0 ? `<span>${v}</span>`
        : `<button data-true="${i}" data-pred="${j}" aria-label="${v} samples of ${C[i]} read as ${C[j]}">${v}</button>`}</td>`;
    });
    html += "</tr>";
  });
  $("confusion").innerHTML = html + "</tbody></table>";
  Colors.legend($("cm-legend"), "seq", maxShare, "share of the row (errors)");
  $("cm-legend").querySelector("span:nth-child(3)").textContent = `${(100 * maxShare).toFixed(1)}%`;
  $("confusion").querySelectorAll("button").forEach((b) =>
    b.addEventListener("click", () => showGallery(+b.dataset.true, +b.dataset.pred)));
}

async function showGallery(t, p) {
  const g = await api("mistakes", `/api/mistakes?true=${t}&pred=${p}&limit=60`);
  if (!g) return;
  const C = S.model.classes;
  $("gallery-title").textContent = `${g.count} × true ${C[t]}, read as ${C[p]}${g.count > g.indices.length ? ` (first ${g.indices.length})` : ""}`;
  const box = $("gallery"), px = Colors.decodeU8(g.pixels), [r, c] = g.grid;
  box.innerHTML = "";
  g.indices.forEach((index, n) => {
    const b = document.createElement("button");
    b.className = "sample"; b.dataset.testid = "mistake";
    b.setAttribute("data-testid", "mistake");
    b.setAttribute("aria-label", `sample ${index}: ${(100 * g.confidence[n]).toFixed(0)}% ${C[p]}; open in Draw`);
    const cv = document.createElement("canvas");
    Colors.grid(cv, px.subarray(n * r * c, (n + 1) * r * c), r, c, { scale: "seq", max: 255, cell: 2, gap: 0 });
    const cap = document.createElement("span");
    cap.textContent = `#${index} · ${(100 * g.confidence[n]).toFixed(0)}%`;
    b.append(cv, cap);
    b.addEventListener("click", () => { show("draw"); loadSample(index); });
    box.append(b);
  });
}

// ---- Model view -------------------------------------------------------------------------------
function describePre(p) {
  if (!p || p.kind === "none") return "none (raw values)";
  if (p.kind === "binarize") return `1 where x > ${p.threshold}, else 0`;
  if (p.kind === "standardize") return "(x − μ) / σ per feature, μ and σ from the training rows";
  return Math.abs(p.factor - 1 / 255) < 1e-12 ? "x · 1/255 (pixels to [0, 1])" : `x · ${p.factor}`;
}

function showModel() {
  const M = S.model;
  $("summary").textContent = M.summary;
  const t = M.training || {}, d = M.dataset || {};
  const items = [["file", M.path], ["parameters", M.params_total.toLocaleString()],
    ["data", d.name ? `${d.name}${d.n_train ? ` (${d.n_train} train / ${d.n_test} test rows)` : ""}` : "–"],
    ["optimizer", t.optimizer ? `${t.optimizer}, lr ${t.lr ?? (t.optimizer_config || {}).lr}` : "–"],
    ["epochs, batch", t.epochs ? `${t.epochs}, ${t.batch_size ?? "full"}` : "–"],
    ["preprocessing", describePre(M.preprocessing)]];
  $("settings").innerHTML = items.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");
  const box = $("history-charts");
  box.innerHTML = "";
  const h = M.history;
  if (!h || !h.epoch || !h.epoch.length) { box.textContent = "No training history in this model file."; }
  else {
    const x = h.epoch.map((e) => e + 1);
    for (const [title, keys] of [["loss", ["loss", "val_loss"]], ["accuracy", ["accuracy", "val_accuracy"]]]) {
      const present = keys.filter((k) => (h[k] || []).some((v) => v != null));
      if (!present.length) continue;
      const el = document.createElement("div");
      el.className = "chart"; el.dataset.testid = `history-${title}`;
      box.append(el);
      const width = Math.min(560, box.clientWidth || 560);
      new uPlot({ title, width, height: 220, scales: { x: { time: false } },
        axes: [{ label: "epoch", incrs: [1, 2, 5, 10, 20, 50] }, {}],
        series: [{ label: "epoch" }, ...present.map((k, i) => ({ label: k, stroke: i ? "#e4572e" : "#1b6ef3", width: 2,
          dash: k.startsWith("val") ? [6, 4] : undefined, points: { show: x.length < 30 } }))] },
        [x, ...present.map((k) => h[k].map((v) => (v == null ? null : v)))], el);
    }
  }
  if (h && h.epoch && h.epoch.length && !(h.val_loss || []).some((v) => v != null))
    box.insertAdjacentHTML("beforeend", `<p class="small muted">Measured on the training data while it trained (no validation split was recorded).</p>`);
  const hidden = M.stages.slice(0, -1);
  const dead = `<p>Dead units on the ${M.data.rows.toLocaleString()} rows of the ${M.data.name || "data"} (never fire): ${
    hidden.map((st, k) => `layer ${k + 1}: <strong>${st.dead.length}</strong> of ${st.units}`).join(", ") || "no hidden layer"}.</p>`;
  const diag = (h && h.diagnostics) || [];
  if (!diag.length) { $("diagnostics").innerHTML = dead + `<p class="small muted">This model was trained without per-epoch diagnostics (fit(..., diagnostics=True) records dead units, gradient norms and update ratios).</p>`; return; }
  const rec = diag[diag.length - 1];
  $("diagnostics").innerHTML = dead + `<p class="small">epoch ${rec.epoch + 1}</p><table class="norms"><thead><tr><th>layer</th><th>dead</th><th>‖dW‖</th><th>‖ΔW‖/‖W‖</th></tr></thead><tbody>${
    rec.layers.map((l) => `<tr><td>${l.layer}</td><td>${l.dead_fraction == null ? "–" : (100 * l.dead_fraction).toFixed(1) + "%"}</td><td>${fmt(l.grad_norm)}</td><td>${fmt(l.update_ratio)}</td></tr>`).join("")}</tbody></table>${
    (rec.warnings || []).map((w) => `<p class="warn">${w}</p>`).join("")}`;
}

