// The Train view: a form of `nnzero train` settings, Start / Stop / Resume, and the run streamed
// from the server (Server-Sent Events): curves, first-layer weights, diagnostics. Reloading the
// page reconnects to the running job. Uses S, api and $ from studio.js.
"use strict";

const Train = {
  info: null, state: null, events: [], charts: {}, pending: false, source: null,

  async init() {
    this.info = await api("train", "/api/train");
    if (!this.info) return;
    const form = $("train-form");
    fillSelect($("train-recipe"), Object.keys(this.info.recipes), "default");
    fillSelect($("train-optimizer"), this.info.optimizers, "adam");
    fillSelect($("train-augment"), ["", ...this.info.augment], "");
    this.datasets(this.info.datasets);
    this.recipe("default");
    $("train-recipe").addEventListener("change", (e) => this.recipe(e.target.value));
    form.addEventListener("input", () => { this.command(); this.augmented(); });
    form.addEventListener("change", () => this.augmented());
    form.addEventListener("submit", (e) => { e.preventDefault(); this.start(); });
    $("train-stop").addEventListener("click", () => this.control("stop"));
    $("train-resume").addEventListener("click", () => this.control("resume"));
    this.connect();
  },

  datasets(names) {
    const sel = $("train-dataset"), keep = sel.value;
    fillSelect(sel, names, keep || "mnist");
  },

  // Fill the form with a recipe's values (any field can then be changed).
  recipe(name) {
    const r = this.info.recipes[name], f = $("train-form").elements;
    f.hidden.value = r.hidden.join(",") || "none";
    f.optimizer.value = r.optimizer;
    f.lr.value = r.lr;
    f.epochs.value = r.epochs;
    f.batch_size.value = r.batch_size == null ? "full" : r.batch_size;
    f.dropout.value = r.dropout;
    f.augment.value = "";                    // the recipe's own augmentation
    this.command();
    this.augmented();
  },

  // The augmented samples these settings would train on (none: the panel hides). Debounced:
  // the form changes on every key.
  augmented() {
    clearTimeout(this.augTimer);
    this.augTimer = setTimeout(async () => {
      const n = (this.augSeq = (this.augSeq || 0) + 1);
      let res, data;
      try {
        res = await fetch("/api/train/augmented", { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ settings: this.settings(), samples: 8, copies: 2 }) });
        data = await res.json();
      } catch (e) { return; }
      if (n !== this.augSeq) return;           // a newer request is on its way
      const panel = $("augmented-panel"), caption = $("augmented-caption");
      if (res.ok && data.augment == null) { panel.hidden = true; return; }
      panel.hidden = false;
      if (!res.ok) { $("augmented-grid").hidden = true; caption.textContent = data.error; return; }
      $("augmented-grid").hidden = false;
      caption.textContent = `Augmentation: ${data.description}.`;
      this.drawSamples(data);
    }, 250);
  },

  drawSamples(d) {
    const [h, w] = d.shape, rows = d.copies + 1, px = Colors.decodeU8(d.pixels), gap = 2;
    const canvas = $("augmented-grid");
    canvas.width = d.samples * (w + gap) + gap;
    canvas.height = rows * (h + gap) + gap + 4;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#d9dde3"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    const img = ctx.createImageData(w, h);
    for (let k = 0; k < rows * d.samples; k++) {
      for (let i = 0; i < h * w; i++) {
        const v = 255 - px[k * h * w + i];     // ink dark on white, as on paper
        img.data.set([v, v, v, 255], 4 * i);
      }
      const r = Math.floor(k / d.samples), c = k % d.samples;
      ctx.putImageData(img, gap + c * (w + gap), gap + r * (h + gap) + (r > 0 ? 4 : 0));
    }
  },

  // A reloaded page shows the settings of the run it reconnected to.
  fill(form) {
    this.filled = true;
    const f = $("train-form").elements;
    for (const el of f) if (el.name && el.tagName === "INPUT") el.value = form[el.name] ?? "";
    for (const name of ["dataset", "recipe", "optimizer", "augment"]) if (name in form) f[name].value = form[name];
    this.augmented();
  },

  settings() {
    const out = {};
    for (const el of $("train-form").elements) {
      if (!el.name || el.value.trim() === "") continue;
      out[el.name] = el.value.trim();
    }
    if (out.data) delete out.dataset;
    return out;
  },

  command() {
    const flags = Object.entries(this.settings()).map(([k, v]) => `--${k.replace(/_/g, "-")} ${/[\s'"]/.test(v) ? `'${v}'` : v}`);
    $("train-command").textContent = `nnzero train ${flags.join(" ")}`;
  },

  async start() {
    this.filled = true;
    const r = await api("train-start", "/api/train/start", { settings: this.settings() });
    if (r) this.render(r);
  },

  async control(action) {
    const r = await api("train-" + action, `/api/train/${action}`, {});
    if (r) this.render(r);
  },

  // One stream for the page's life; EventSource reconnects by itself (sending Last-Event-ID).
  connect() {
    this.source = new EventSource("/api/train/events");
    this.source.onmessage = (m) => this.receive(JSON.parse(m.data));
    this.source.onerror = () => {};          // reconnection is automatic; the state shows below
  },

  receive(e) {
    if (e.type === "state") {
      // On the way into "running": a new run starts afresh; a resumed one redoes the epochs
      // after its checkpoint, so what this page has of them goes (only then: later state events
      // of the resumed run carry resumed_from too).
      const starting = e.state === "running" && !(this.state && this.state.state === "running");
      if (starting && this.state && e.resumed_from == null) this.events = [];
      if (starting && e.resumed_from != null) {
        this.events = this.events.filter((x) => !(("epoch" in x) && x.type !== "state" && x.epoch >= e.resumed_from));
      }
      const finished = e.state === "done" && this.state && this.state.state !== "done";
      this.render(e);
      if (finished) initModel();
      this.schedulePlot();
      return;
    }
    if (e.type === "reset") this.events = [];
    else this.events.push(e);
    if (e.type === "batch") this.status(e);
    if (e.type === "weights") this.weights(e);
    if (e.type === "epoch") this.diagnostics(e);
    this.schedulePlot();
  },

  schedulePlot() {
    if (!this.pending) { this.pending = true; requestAnimationFrame(() => { this.pending = false; this.plot(); }); }
  },

  render(st) {
    if (st.form && !this.filled && st.state !== "idle") this.fill(st.form);
    this.state = st;
    if (st.datasets) this.datasets(st.datasets);
    const running = st.state === "running" || st.state === "stopping";
    $("train-start").disabled = running;
    $("train-stop").disabled = st.state !== "running";
    $("train-resume").disabled = st.state !== "stopped";
    const el = $("train-status");
    el.className = "train-status " + st.state;
    const last = this.events.filter((e) => e.type === "batch").pop();
    if (st.state === "running" && last) this.status(last);
    else if (st.state === "running") el.textContent = `epoch ${st.epoch + 1}/${st.epochs} · starting…`;
    else if (st.state === "idle") el.textContent = "No run yet.";
    else el.textContent = st.message || st.state;
    if (st.command) $("train-command").textContent = st.command;
    if (st.resumable) this.resumable(st.resumable, st.folder, running);
  },

  // The runs left in the server's folder (e.g. by a restart): one Resume button each.
  resumable(list, folder, running) {
    const box = $("resumable");
    box.hidden = list.length === 0;
    $("resumable-folder").textContent = folder || ".";
    const body = box.querySelector("tbody");
    body.innerHTML = "";
    for (const r of list) {
      const s = r.settings, tr = document.createElement("tr");
      const hidden = (s.hidden || []).join("-") || "none";
      const parts = [r.data, s.recipe && `recipe ${s.recipe}`, `hidden ${hidden}`, `${s.optimizer} lr ${s.lr}`,
        `batch ${s.batch_size ?? "full"}`, s.dropout ? `dropout ${s.dropout}` : null,
        s.augment ? `augment ${s.augment}` : null, `seed ${s.seed}`].filter(Boolean);
      const val = r.last.val_accuracy != null, acc = val ? r.last.val_accuracy : r.last.accuracy;
      tr.innerHTML = `<td><code></code></td><td></td><td>epoch ${r.epoch} of ${r.epochs}</td><td>${
        acc == null ? "–" : `${(100 * acc).toFixed(1)}% ${val ? "(validation)" : "(training)"}`}</td><td></td>`;
      tr.cells[0].firstChild.textContent = r.checkpoint;
      tr.cells[1].textContent = parts.join(" · ");
      const b = document.createElement("button");
      b.type = "button"; b.textContent = "Resume"; b.disabled = running;
      b.dataset.testid = "resume-checkpoint";
      b.setAttribute("aria-label", `resume ${r.checkpoint} from epoch ${r.epoch} of ${r.epochs}`);
      b.addEventListener("click", async () => {
        this.filled = false;
        const res = await api("train-resume", "/api/train/resume", { checkpoint: r.checkpoint });
        if (res) this.render(res);
      });
      tr.cells[4].append(b);
      body.append(tr);
    }
  },

  status(b) {
    if (!this.state || this.state.state !== "running") return;
    const n = b.n_batches ? `/${b.n_batches}` : "";
    const left = b.left == null ? "estimating time left" : `${fmtTime(b.left)} left`;
    const acc = b.smooth_acc == null ? "" : ` · accuracy ${(100 * b.smooth_acc).toFixed(1)}%`;
    $("train-status").textContent = `epoch ${b.epoch + 1}/${this.state.epochs} · batch ${b.batch + 1}${n} · loss ${fmt(b.smooth)}${acc} · ${left}`;
  },

  // Loss and accuracy: the smoothed per-batch values (x = epochs, fractional) and each epoch's
  // training and validation values. Batch accuracy is drawn when the training loop reports it.
  plot() {
    const batches = this.events.filter((e) => e.type === "batch");
    const epochs = this.events.filter((e) => e.type === "epoch");
    const nb = (this.state && this.state.n_batches) || (batches.length && batches[batches.length - 1].n_batches);
    const series = (batchKey, epochKey, valKey) => {
      const pts = [];
      for (const b of batches) if (nb && b[batchKey] != null) pts.push([b.epoch + (b.batch + 1) / nb, b[batchKey], null, null]);
      for (const e of epochs) pts.push([e.epoch + 1, null, e.logs[epochKey], e.logs[valKey]]);
      pts.sort((a, b) => a[0] - b[0]);
      return [0, 1, 2, 3].map((i) => pts.map((p) => p[i]));
    };
    this.chart("loss", $("loss-chart"), ["batch loss (smoothed)", "loss (epoch)", "val_loss"],
      series("smooth", "loss", "val_loss"));
    this.chart("accuracy", $("acc-chart"), ["batch accuracy (smoothed)", "accuracy (epoch)", "val_accuracy"],
      series("smooth_acc", "accuracy", "val_accuracy"));
  },

  chart(title, el, labels, data) {
    const color = (l) => (l.startsWith("val") ? "#e4572e" : l.includes("smoothed") ? "#8fb8ff" : "#1b6ef3");
    if (!this.charts[title]) {
      const width = Math.max(280, Math.min(620, el.clientWidth || 560));
      this.charts[title] = new uPlot({
        title, width, height: 200, scales: { x: { time: false } },
        // Accuracy reads as a percentage; ticks at least 20 px apart so a 200 px chart has several.
        axes: [{ label: "epoch" }, title === "accuracy"
          ? { space: 20, values: (u, vals) => vals.map((v) => `${+(100 * v).toFixed(1)}%`) } : { space: 20 }],
        series: [{ label: "epoch" }, ...labels.map((l, i) => ({
          label: l, stroke: color(l), width: l.includes("smoothed") ? 1.5 : 2, spanGaps: true,
          dash: l.startsWith("val") ? [6, 4] : undefined,
          points: { show: !l.includes("smoothed"), size: 6 } }))],
      }, data, el);
    } else {
      const chart = this.charts[title], width = Math.min(620, el.clientWidth);
      if (width > 0 && Math.abs(chart.width - width) > 4) chart.setSize({ width, height: 200 });
      chart.setData(data);
    }
  },

  weights(w) {
    const px = Colors.decodeU8(w.pixels), side = Math.round(Math.sqrt(w.n_in));
    const canvas = $("weights-grid");
    if (side * side !== w.n_in) { canvas.hidden = true; return; }
    const per = Math.ceil(Math.sqrt(w.units)), tile = side, gap = 2;
    canvas.width = canvas.height = per * (tile + gap) + gap;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#d9dde3"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    const img = ctx.createImageData(tile, tile);
    for (let u = 0; u < w.units; u++) {
      for (let i = 0; i < w.n_in; i++) {
        const c = Colors.div(px[u * w.n_in + i] - 127.5, 127.5);
        img.data.set([c[0], c[1], c[2], 255], 4 * i);
      }
      ctx.putImageData(img, gap + (u % per) * (tile + gap), gap + Math.floor(u / per) * (tile + gap));
    }
    Colors.legend($("weights-legend"), "div", 1, `w / max|w| of the unit · after epoch ${w.epoch + 1}`);
  },

  diagnostics(e) {
    const d = e.diagnostics;
    if (!d) return;
    const rows = d.layers.map((l) => `<tr><td>${l.layer}</td><td>${l.units} ${l.activation}</td><td>${
      l.dead_fraction == null ? "–" : (100 * l.dead_fraction).toFixed(1) + "%"}</td><td>${fmt(l.grad_norm)}</td><td>${
      fmt(l.update_ratio)}</td></tr>`).join("");
    $("train-diagnostics").innerHTML = `<p class="small">after epoch ${e.epoch + 1}</p><table class="norms"><thead><tr><th>layer</th>
      <th>units</th><th>dead</th><th>‖dW‖</th><th>‖ΔW‖/‖W‖</th></tr></thead><tbody>${rows}</tbody></table>${
      (d.warnings || []).map((w) => `<p class="warn">⚠ ${w}</p>`).join("") || `<p class="small muted">No warnings.</p>`}`;
  },
};

function fillSelect(sel, values, chosen) {
  sel.innerHTML = "";
  for (const v of values) {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = v === "" ? "(the recipe's)" : v;
    sel.append(o);
  }
  if (values.includes(chosen)) sel.value = chosen;
}

function fmtTime(s) {
  return s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.max(0, Math.round(s))} s`;
}
