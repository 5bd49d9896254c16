// One colour language for the whole studio, and the drawing of heat grids.
//   seq: activations and other values >= 0, from 0 (black) to the layer's maximum (light yellow).
//   div: weights, gradients, signed terms: blue < 0 < red, white at 0, range symmetric [-m, m].
"use strict";

const Colors = (() => {
  // Stops of matplotlib's "inferno" (sequential) and ColorBrewer's RdBu (diverging, reversed).
  const SEQ = [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
               [245, 125, 21], [250, 193, 39], [252, 255, 164]];
  const DIV = [[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247],
               [253, 219, 199], [239, 138, 98], [178, 24, 43]];

  function ramp(stops, t) {
    t = Math.min(1, Math.max(0, isFinite(t) ? t : 0)) * (stops.length - 1);
    const i = Math.min(stops.length - 2, Math.floor(t)), f = t - i;
    const a = stops[i], b = stops[i + 1];
    return [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])];
  }
  const seq = (v, max) => ramp(SEQ, max > 0 ? v / max : 0);
  const div = (v, max) => ramp(DIV, max > 0 ? 0.5 + 0.5 * v / max : 0.5);
  const css = (c) => `rgb(${c[0] | 0},${c[1] | 0},${c[2] | 0})`;
  const light = (c) => c[0] * 0.3 + c[1] * 0.59 + c[2] * 0.11 > 140;
  // Inline style of a table cell filled with colour c, its text readable on it.
  const cellStyle = (c) => `background:${css(c)};color:${light(c) ? "#111" : "#fff"}`;

  function decodeF32(b64) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  function decodeU8(b64) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }

  // Draw values (length <= rows*cols) as a grid of cells on `canvas`.
  // opts: {scale: "seq"|"div", max, cell, gap, marks: Set of crossed-out indices,
  //        selected: index, cursor: index, labels: [text per cell]}
  function grid(canvas, values, rows, cols, opts) {
    const cell = opts.cell, gap = opts.gap ?? (cell >= 6 ? 1 : 0);
    const w = cols * cell + (cols + 1) * gap, h = rows * cell + (rows + 1) * gap;
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#d9dde3";
    ctx.fillRect(0, 0, w, h);
    const color = opts.scale === "div" ? div : seq;
    const max = opts.max > 0 ? opts.max : 1;
    for (let i = 0; i < rows * cols; i++) {
      const x = gap + (i % cols) * (cell + gap), y = gap + Math.floor(i / cols) * (cell + gap);
      if (i >= values.length) { ctx.fillStyle = "#eef0f3"; ctx.fillRect(x, y, cell, cell); continue; }
      ctx.fillStyle = css(color(values[i], max));
      ctx.fillRect(x, y, cell, cell);
      if (opts.marks && opts.marks.has(i) && cell >= 5) {
        ctx.strokeStyle = "#8a94a6"; ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(x + 1.5, y + 1.5); ctx.lineTo(x + cell - 1.5, y + cell - 1.5);
        ctx.moveTo(x + cell - 1.5, y + 1.5); ctx.lineTo(x + 1.5, y + cell - 1.5); ctx.stroke();
      }
      if (opts.labels && cell >= 14) {
        ctx.fillStyle = light(color(values[i], max)) ? "#111" : "#fff";
        ctx.font = `${Math.floor(cell * 0.45)}px system-ui, sans-serif`;
        ctx.textAlign = "center"; ctx.textBaseline = "middle";
        ctx.fillText(opts.labels[i], x + cell / 2, y + cell / 2 + 1);
      }
    }
    for (const [idx, style] of [[opts.cursor, "#1b6ef3"], [opts.selected, "#00c2a8"]]) {
      if (idx == null || idx < 0 || idx >= values.length) continue;
      const x = gap + (idx % cols) * (cell + gap), y = gap + Math.floor(idx / cols) * (cell + gap);
      ctx.strokeStyle = style; ctx.lineWidth = 2;
      ctx.strokeRect(x - 1, y - 1, cell + 2, cell + 2);
    }
  }

  // The cell index under a mouse event on a grid canvas (or -1).
  function cellAt(canvas, event, rows, cols) {
    const r = canvas.getBoundingClientRect();
    const col = Math.floor((event.clientX - r.left) / r.width * cols);
    const row = Math.floor((event.clientY - r.top) / r.height * rows);
    return col >= 0 && col < cols && row >= 0 && row < rows ? row * cols + col : -1;
  }

  // A legend: a colour bar with its numbers, in the element `el`.
  function legend(el, scale, max, label) {
    const m = max > 0 ? max : 1;
    el.innerHTML = "";
    const bar = document.createElement("canvas");
    bar.width = 120; bar.height = 10;
    const ctx = bar.getContext("2d");
    for (let i = 0; i < 120; i++) {
      const t = i / 119;
      ctx.fillStyle = css(scale === "div" ? div((2 * t - 1) * m, m) : seq(t * m, m));
      ctx.fillRect(i, 0, 1, 10);
    }
    const lo = document.createElement("span"), hi = document.createElement("span");
    lo.textContent = scale === "div" ? fmt(-m) : "0";
    hi.textContent = fmt(m);
    el.append(lo, bar, hi);
    if (label) { const s = document.createElement("span"); s.className = "muted"; s.textContent = label; el.append(s); }
  }

  // Numbers with 3-4 significant digits, a real minus sign.
  function fmt(v, digits = 3) {
    if (v == null || !isFinite(v)) return "–";
    if (v === 0) return "0";
    const a = Math.abs(v);
    let s = a >= 1e4 || a < 1e-3 ? v.toExponential(digits - 1) : v.toPrecision(digits);
    if (s.includes(".") && !s.includes("e")) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s.replace("-", "−");
  }

  return { seq, div, css, cellStyle, grid, cellAt, legend, fmt, decodeF32, decodeU8 };
})();
