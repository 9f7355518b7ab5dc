// toyviz explorables: the one front-end module behind every interactive figure of the book.
//
// toyviz/widgets.py loads this file as the anywidget ESM (`_esm`). The same code runs in
// JupyterLab with a kernel (control changes sync back to Python) and on the static site,
// where myst-nb embeds the widget state and everything is computed here, in the browser.
//
// Layout of this file: colour map and numbers (pure functions, no DOM), drawing (heatmap
// panel with colour bar), controls, then one render function per widget kind, picked by the
// model's `kind` trait. A new explorable adds a kind; it reuses the rest.
//
// For tests, each explorable's root element (attribute data-toyviz-explorable) carries a
// property `toyvizExplorable` with the values last drawn; readers never see it.

// ---------------------------------------------------------------- colour map and numbers

// matplotlib's viridis (perceptually uniform) sampled at 256 levels, as rrggbb hex.
// tests/test_widgets.py checks it against matplotlib.
const VIRIDIS_HEX =
  "44015444025645045745055946075a46085c460a5d460b5e470d60470e6147106347116447136548146748166848176948186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f854240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f881fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad8128ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc743fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc8635ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21ad8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725";

// seaborn's vlag (diverging, for signed values centred on zero), the same way.
const VLAG_HEX =
  "2369bd266abd296cbc2c6dbc2f6ebc316fbc3470bc3671bc3972bc3b73bc3d74bc3f75bc4276bc4477bc4678bc4879bc4a7bbc4c7cbc4e7dbc507ebc517fbc5380bc5581bc5782bc5983bd5b84bd5c85bd5e86bd6087bd6288bd6489be658abe678bbe698cbe6a8dbf6c8ebf6e90bf6f91bf7192c07393c07594c07695c17896c17997c17b98c27d99c27e9ac2809bc3829cc3839dc4859ec487a0c488a1c58aa2c58ba3c68da4c68fa5c790a6c792a7c893a8c895a9c897abc998acc99aadca9baecb9dafcb9fb0cca0b1cca2b2cda3b4cda5b5cea7b6cea8b7cfaab8d0abb9d0adbbd1afbcd1b0bdd2b2bed3b3bfd3b5c0d4b7c2d5b8c3d5bac4d6bbc5d7bdc6d7bfc8d8c0c9d9c2cadac3cbdac5cddbc7cedcc8cfddcad0ddcbd1decdd3dfcfd4e0d0d5e0d2d7e1d4d8e2d5d9e3d7dae4d9dce5dadde5dcdee6dde0e7dfe1e8e1e2e9e2e3eae4e5ebe6e6ece7e7ece9e9edebeaeeecebefeeedf0efeef1f1eff2f2f0f2f3f1f3f5f2f4f6f3f4f7f4f4f8f4f5f9f5f5f9f5f5faf5f5faf5f5faf5f4faf5f4faf4f3faf3f3faf3f2faf2f1faf0eff9efeef9eeedf8edebf7ebeaf7eae8f6e8e7f5e7e5f5e5e4f4e3e2f3e2e0f2e0dff2dfddf1dddbf0dbdaefdad8efd8d6eed7d5edd5d3ecd3d2ecd2d0ebd0ceeacfcdeacdcbe9cbc9e8cac8e7c8c6e7c7c5e6c5c3e5c3c1e5c2c0e4c0bee3bfbde3bdbbe2bcb9e1bab8e1b9b6e0b7b5dfb5b3dfb4b2deb2b0deb1aeddafaddcaeabdcacaadbaba8daa9a7daa8a5d9a6a4d9a5a2d8a3a0d7a29fd7a09dd69f9cd59d9ad59c99d49a97d49896d39794d29593d29491d19290d1918ed08f8dcf8e8bcf8c8ace8b88cd8987cd8885cc8784cc8582cb8481ca827fca817ec97f7dc87e7bc87c7ac77b78c77977c67875c57674c57572c47371c3726fc3706ec26f6dc16d6bc16c6ac06a68c06967bf6765be6664be6463bd6361bc6160bc605ebb5e5dba5d5cb95b5ab95a59b85857b75756b75555b65453b55252b55151b44f4fb34d4eb24c4cb24a4bb1494ab04748af4647af4446ae4244ad4143ac3f42ac3e40ab3c3faa3a3ea9393ca9373b";

function decodeColourMap(hex) {
  const lut = new Uint8Array(256 * 3);
  for (let k = 0; k < 256 * 3; k++) lut[k] = parseInt(hex.substr(2 * k, 2), 16);
  return lut;
}

export const VIRIDIS = decodeColourMap(VIRIDIS_HEX);
export const VLAG = decodeColourMap(VLAG_HEX);
/** Colour maps by the names toyviz.plots uses (SEQUENTIAL, DIVERGING). */
export const COLOUR_MAPS = { viridis: VIRIDIS, vlag: VLAG };

/** Squared radius of chapter 1's target circle (toyviz.data.CIRCLE_RADIUS_SQUARED). */
export const CIRCLE_RADIUS_SQUARED = 2 / Math.PI;

/** Keras clips probabilities to [EPSILON, 1 - EPSILON] before taking the log. */
export const EPSILON = 1e-7;
const LOSS_CEILING = -Math.log(EPSILON);
const LOSS_FLOOR = -Math.log1p(-EPSILON);

/** n evenly spaced values from lo to hi inclusive (numpy.linspace in float64). */
export function linspace(lo, hi, n) {
  const out = new Float64Array(n);
  const step = (hi - lo) / (n - 1);
  for (let k = 0; k < n; k++) out[k] = lo + k * step;
  out[n - 1] = hi;
  return out;
}

/**
 * The masked circle model's output layer, split into one term per hidden node so that a
 * new mask costs only additions. Two-class softmax depends only on the difference of the
 * two logits, d = z1 - z0 = sum over nodes u of mask[u] * relu(x @ w1[:, u] + b1[u]) *
 * (w2[u, 1] - w2[u, 0]) + (b2[1] - b2[0]).
 *
 * Point k = i * xs.length + j sits at (xs[j], ys[i]): the first coordinate varies fastest,
 * as in toyviz.data.grid. Returns { terms: Float64Array (n * points), node-major,
 * offset: b2[1] - b2[0], inside: Uint8Array (points) circle labels, inData: Uint8Array
 * (points) 1 inside the data square [-1, 1]^2 }.
 */
export function outputTerms(weights, xs, ys) {
  const n = weights.b1.length, points = xs.length * ys.length;
  const terms = new Float64Array(n * points);
  const inside = new Uint8Array(points), inData = new Uint8Array(points);
  for (let u = 0; u < n; u++) {
    const wx = weights.w1[0][u], wy = weights.w1[1][u], b = weights.b1[u];
    const dw = weights.w2[u][1] - weights.w2[u][0];
    let k = u * points;
    for (let i = 0; i < ys.length; i++) {
      const base = ys[i] * wy + b;
      for (let j = 0; j < xs.length; j++, k++) {
        const a = xs[j] * wx + base;
        terms[k] = a > 0 ? a * dw : 0;
      }
    }
  }
  let k = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    for (let j = 0; j < xs.length; j++, k++) {
      const x = xs[j];
      inside[k] = x * x + y * y < CIRCLE_RADIUS_SQUARED ? 1 : 0;
      inData[k] = x >= -1 && x <= 1 && y >= -1 && y <= 1 ? 1 : 0;
    }
  }
  return { terms, offset: weights.b2[1] - weights.b2[0], inside, inData, points,
           logit: null, logitMask: null, updates: 0 };
}

/**
 * Bring output.logit (the logit difference d at every point) up to date for `mask`.
 * A toggle changes d by one node's term, so when few nodes changed since the last call
 * only their terms are added or taken away (40,000 additions for a 200 x 200 grid
 * instead of 800,000); a full sum every FULL_SUM_EVERY updates keeps rounding from
 * piling up.
 */
const FULL_SUM_EVERY = 64;
function updateLogit(output, mask) {
  const { terms, offset, points } = output;
  const n = mask.length;
  if (!output.logit) {
    output.logit = new Float64Array(points);
    output.logitMask = null;
  }
  const d = output.logit, previous = output.logitMask;
  const changed = [];
  if (previous) for (let u = 0; u < n; u++) if (previous[u] !== (mask[u] ? 1 : 0)) changed.push(u);
  if (!previous || changed.length > 4 || output.updates >= FULL_SUM_EVERY) {
    d.fill(offset);
    for (let u = 0; u < n; u++) {
      if (!mask[u]) continue;
      const base = u * points;
      for (let k = 0; k < points; k++) d[k] += terms[base + k];
    }
    output.updates = 0;
  } else {
    for (const u of changed) {
      const base = u * points;
      if (mask[u]) for (let k = 0; k < points; k++) d[k] += terms[base + k];
      else for (let k = 0; k < points; k++) d[k] -= terms[base + k];
    }
    output.updates += 1;
  }
  output.logitMask = Uint8Array.from(mask, (value) => (value ? 1 : 0));
  return d;
}

/**
 * P(inside) = softmax(z)[1] and the per-point loss -log(clip(P(true class), EPSILON,
 * 1 - EPSILON)) against the circle label, for one mask (array of 0/1). Fills
 * `probability` and `loss` (Float64Array, one value per point) and returns the mean
 * loss over the points inside the data square [-1, 1]^2.
 */
export function maskedOutput(output, mask, probability, loss) {
  const { inside, inData, points } = output;
  const d = updateLogit(output, mask);
  let total = 0, count = 0;
  for (let k = 0; k < points; k++) {
    const z = d[k];
    const e = Math.exp(-Math.abs(z));            // in (0, 1]: never overflows
    const log1pe = Math.log1p(e);
    probability[k] = z >= 0 ? 1 / (1 + e) : e / (1 + e);
    // loss = softplus(-z) if inside else softplus(z); softplus(t) = max(t, 0) + log1p(e)
    const t = inside[k] ? -z : z;
    let value = (t > 0 ? t : 0) + log1pe;
    value = value > LOSS_CEILING ? LOSS_CEILING : value < LOSS_FLOOR ? LOSS_FLOOR : value;
    loss[k] = value;
    if (inData[k]) { total += value; count++; }
  }
  return count ? total / count : NaN;
}

// ---------------------------------------------------------------- drawing

const STYLE = `
.toyviz-explorable { font: 13px/1.4 system-ui, sans-serif; color: #1b1b1b; background: #fff;
  border: 1px solid #d0d0d0; border-radius: 6px; padding: 8px; max-width: 720px; }
.toyviz-explorable .tv-panels { display: flex; flex-wrap: wrap; gap: 8px; }
.toyviz-explorable figure { margin: 0; }
.toyviz-explorable figcaption { font-weight: 600; text-align: center; }
.toyviz-explorable canvas { display: block; }
.toyviz-explorable fieldset { border: 1px solid #d0d0d0; border-radius: 4px; margin: 8px 0 0;
  display: flex; flex-wrap: wrap; gap: 2px 10px; }
.toyviz-explorable legend { padding: 0 4px; font-size: inherit; font-weight: 600;
  width: auto; float: none; margin: 0; }
.toyviz-explorable label { white-space: nowrap; cursor: pointer; }
.toyviz-explorable button { margin: 4px 6px 0 0; }
.toyviz-explorable .tv-status { margin: 6px 0 0; }
.toyviz-explorable .tv-control { margin: 6px 0 0; display: flex; flex-wrap: wrap;
  align-items: center; gap: 4px 10px; }
.toyviz-explorable .tv-control label { font-weight: 600; }
.toyviz-explorable .tv-note { margin: 2px 0 0; color: #4a4a4a; }
`;

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function formatTick(value) {
  return Math.abs(value - Math.round(value)) < 1e-9 ? String(Math.round(value))
    : String(+value.toFixed(2));
}

/**
 * A heatmap panel: a square grid of values drawn with viridis on [vmin, vmax], axes ticks,
 * an optional circle overlay and a labelled colour bar. The canvas has role="img" and an
 * aria-label that update() keeps current.
 */
export function heatmapPanel({ title, extent, vmin, vmax, colourLabel, overflow = false,
                               circleRadiusSquared = null, points = null, lut = VIRIDIS,
                               size = 200 }) {
  const [x0, x1, y0, y1] = extent;
  const left = 38, top = 8, bottom = 34, barGap = 14, barWidth = 12, barLabels = 58;
  const width = left + size + barGap + barWidth + barLabels, height = top + size + bottom;
  const ratio = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
  const canvas = element("canvas", { role: "img", "aria-label": title,
                                     width: Math.round(width * ratio),
                                     height: Math.round(height * ratio) });
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  canvas.textContent = title;
  const figure = element("figure", {}, [element("figcaption", {}, [title]), canvas]);
  const context = canvas.getContext("2d");
  context.scale(ratio, ratio);
  const offscreen = document.createElement("canvas");
  let image = null;

  // Static parts: background, ticks, axis labels, colour bar.
  context.fillStyle = "#fff";
  context.fillRect(0, 0, width, height);
  context.fillStyle = "#1b1b1b";
  context.strokeStyle = "#1b1b1b";
  context.font = "11px system-ui, sans-serif";
  context.textAlign = "center";
  context.textBaseline = "top";
  for (const value of [x0, (x0 + x1) / 2, x1]) {
    const px = left + (value - x0) / (x1 - x0) * size;
    context.fillRect(px - 0.5, top + size, 1, 4);
    context.fillText(formatTick(value), px, top + size + 5);
  }
  context.fillText("x\u2080", left + size / 2, top + size + 19);
  context.textAlign = "right";
  context.textBaseline = "middle";
  for (const value of [y0, (y0 + y1) / 2, y1]) {
    const py = top + (y1 - value) / (y1 - y0) * size;
    context.fillRect(left - 4, py - 0.5, 4, 1);
    context.fillText(formatTick(value), left - 6, py);
  }
  context.save();
  context.translate(10, top + size / 2);
  context.rotate(-Math.PI / 2);
  context.textAlign = "center";
  context.fillText("x\u2081", 0, 0);
  context.restore();
  const barX = left + size + barGap;
  for (let p = 0; p < size; p++) {
    const level = Math.round((1 - p / (size - 1)) * 255);
    context.fillStyle = `rgb(${lut[3 * level]},${lut[3 * level + 1]},${lut[3 * level + 2]})`;
    context.fillRect(barX, top + p, barWidth, 1);
  }
  context.strokeRect(barX + 0.5, top + 0.5, barWidth - 1, size - 1);
  context.fillStyle = "#1b1b1b";
  context.textAlign = "left";
  for (let t = 0; t <= 4; t++) {
    const value = vmin + (vmax - vmin) * t / 4;
    const py = top + size - t / 4 * size;
    context.fillRect(barX + barWidth, py - 0.5, 3, 1);
    const text = (overflow && t === 4 ? "\u2265 " : "") + formatTick(value);
    context.fillText(text, barX + barWidth + 5, Math.min(Math.max(py, top + 5), top + size - 5));
  }
  context.save();
  context.translate(width - 8, top + size / 2);
  context.rotate(-Math.PI / 2);
  context.textAlign = "center";
  context.fillText(colourLabel, 0, 0);
  context.restore();

  function update(values, columns, rows, description) {
    if (offscreen.width !== columns || offscreen.height !== rows) {
      offscreen.width = columns;
      offscreen.height = rows;
      image = null;
    }
    const offContext = offscreen.getContext("2d");
    if (image === null) image = offContext.createImageData(columns, rows);
    const pixels = image.data;
    const scale = 255 / (vmax - vmin);
    for (let i = 0; i < rows; i++) {
      // Row i of the values is the i-th y from the bottom; canvas rows run top-down.
      let source = (rows - 1 - i) * columns, target = i * columns * 4;
      for (let j = 0; j < columns; j++, source++, target += 4) {
        let level = Math.round((values[source] - vmin) * scale);
        level = level < 0 ? 0 : level > 255 ? 255 : level;
        pixels[target] = lut[3 * level];
        pixels[target + 1] = lut[3 * level + 1];
        pixels[target + 2] = lut[3 * level + 2];
        pixels[target + 3] = 255;
      }
    }
    offContext.putImageData(image, 0, 0);
    context.imageSmoothingEnabled = false;
    context.drawImage(offscreen, left, top, size, size);
    if (circleRadiusSquared !== null) {
      const radius = Math.sqrt(circleRadiusSquared);
      context.save();
      context.beginPath();
      context.rect(left, top, size, size);
      context.clip();
      context.beginPath();
      context.ellipse(left + (0 - x0) / (x1 - x0) * size, top + (y1 - 0) / (y1 - y0) * size,
                      radius / (x1 - x0) * size, radius / (y1 - y0) * size, 0, 0, 2 * Math.PI);
      context.setLineDash([5, 4]);
      context.strokeStyle = "#fff";
      context.lineWidth = 1.5;
      context.stroke();
      context.restore();
    }
    if (points) {
      // Two-class points as in toyviz.plots.training_points: class 0 white, class 1
      // black, each outlined in the other colour.
      context.lineWidth = 0.6;
      for (const [x, y, label] of points) {
        if (x < x0 || x > x1 || y < y0 || y > y1) continue;
        context.beginPath();
        context.arc(left + (x - x0) / (x1 - x0) * size, top + (y1 - y) / (y1 - y0) * size,
                    1.8, 0, 2 * Math.PI);
        context.fillStyle = label ? "#000" : "#fff";
        context.strokeStyle = label ? "#fff" : "#000";
        context.fill();
        context.stroke();
      }
    }
    context.strokeStyle = "#1b1b1b";
    context.lineWidth = 1;
    context.strokeRect(left + 0.5, top + 0.5, size - 1, size - 1);
    canvas.setAttribute("aria-label", description);
    canvas.textContent = description;
  }

  return { figure, canvas, update };
}

// ---------------------------------------------------------------- controls

/** One labelled checkbox per node: "node 0", "node 1", ... */
export function nodeToggles(count, legend, onToggle) {
  const fieldset = element("fieldset", {}, [element("legend", {}, [legend])]);
  const boxes = [];
  for (let u = 0; u < count; u++) {
    const box = element("input", { type: "checkbox", "aria-label": `node ${u}`,
                                   "data-node": String(u) });
    box.addEventListener("change", () => onToggle(u, box.checked));
    boxes.push(box);
    fieldset.append(element("label", {}, [box, ` node ${u}`]));
  }
  return { fieldset, boxes };
}

// ---------------------------------------------------------------- widget kinds

function readWeights(model) {
  const weights = model.get("weights");
  return { w1: weights.w1, b1: weights.b1, w2: weights.w2, b2: weights.b2 };
}

/** Chapter 1: toggle hidden nodes, see P(inside) and the per-point loss change. */
function renderNodeToggleHeatmap({ model, root }) {
  const extent = model.get("extent");
  const panels = [
    heatmapPanel({ title: "P(inside the circle)", extent, vmin: 0, vmax: 1,
                   colourLabel: "probability of class 1",
                   circleRadiusSquared: CIRCLE_RADIUS_SQUARED }),
    heatmapPanel({ title: "Loss per point", extent, vmin: 0, vmax: model.get("loss_max"),
                   overflow: true, colourLabel: "cross-entropy loss",
                   circleRadiusSquared: CIRCLE_RADIUS_SQUARED }),
  ];
  const status = element("p", { class: "tv-status", "aria-live": "polite" });
  let state = null;

  function setMask(mask) {
    model.set("mask", mask);
    model.save_changes();
  }
  const n = model.get("weights").b1.length;
  const toggles = nodeToggles(n, "Hidden nodes (ticked = on)", (u, on) => {
    const mask = model.get("mask").slice();
    mask[u] = on ? 1 : 0;
    setMask(mask);
  });
  const allOn = element("button", { type: "button" }, ["All nodes on"]);
  allOn.addEventListener("click", () => setMask(new Array(n).fill(1)));
  const allOff = element("button", { type: "button" }, ["All nodes off"]);
  allOff.addEventListener("click", () => setMask(new Array(n).fill(0)));
  root.append(element("div", { class: "tv-panels" }, panels.map((panel) => panel.figure)),
              toggles.fieldset, allOn, allOff, status);

  function prepare() {
    const resolution = model.get("resolution");
    const [x0, x1, y0, y1] = model.get("extent");
    const xs = linspace(x0, x1, resolution), ys = linspace(y0, y1, resolution);
    state = { xs, ys, output: outputTerms(readWeights(model), xs, ys),
              probability: new Float64Array(resolution * resolution),
              loss: new Float64Array(resolution * resolution) };
  }

  function redraw() {
    const start = performance.now();
    const mask = model.get("mask");
    const { xs, ys, output, probability, loss } = state;
    const meanLoss = maskedOutput(output, mask, probability, loss);
    const on = [];
    mask.forEach((value, u) => { if (value) on.push(u); });
    const which = on.length === n ? "all nodes on" : on.length === 0 ? "all nodes off"
      : `nodes on: ${on.join(", ")}`;
    panels[0].update(probability, xs.length, ys.length,
      `Heatmap of the network's probability that a point is inside the circle, ${which}. ` +
      "The dashed white line is the target circle.");
    panels[1].update(loss, xs.length, ys.length,
      `Heatmap of the per-point cross-entropy loss, ${which}; mean ${meanLoss.toFixed(3)} ` +
      "over the data square from -1 to 1.");
    toggles.boxes.forEach((box, u) => { box.checked = Boolean(mask[u]); });
    status.textContent = `${on.length} of ${n} nodes on. Mean loss over the data square ` +
      `[-1, 1]\u00b2: ${meanLoss.toFixed(3)}.`;
    const hook = root.toyvizExplorable;
    hook.redraws += 1;
    hook.mask = Array.from(mask);
    hook.probability = probability;
    hook.loss = loss;
    hook.meanLoss = meanLoss;
    hook.resolution = xs.length;
    hook.lastRedrawMs = performance.now() - start;
    root.setAttribute("data-redraws", String(hook.redraws));
  }

  const onMask = () => redraw();
  const onWeights = () => { prepare(); redraw(); };
  model.on("change:mask", onMask);
  model.on("change:weights", onWeights);
  model.on("change:resolution", onWeights);
  prepare();
  redraw();
  return () => {
    model.off("change:mask", onMask);
    model.off("change:weights", onWeights);
    model.off("change:resolution", onWeights);
  };
}

/** Decode base64 text into bytes. */
function decodeBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let k = 0; k < binary.length; k++) bytes[k] = binary.charCodeAt(k);
  return bytes;
}

/**
 * The colour levels in a grid picker's `grids` trait: base64 of the uint8 levels
 * (encoding "uint8") or of their zlib stream (encoding "deflate", unpacked by the
 * browser's DecompressionStream). Returns a Promise of a Uint8Array.
 */
export async function decodeLevels(text, encoding = "uint8") {
  const bytes = decodeBase64(text);
  if (encoding === "uint8") return bytes;
  if (encoding !== "deflate") {
    throw new Error(`toyviz: unknown grid encoding ${JSON.stringify(encoding)}`);
  }
  if (typeof DecompressionStream === "undefined") {
    throw new Error("toyviz: this browser cannot unpack the explorable's grids " +
                    "(it has no DecompressionStream)");
  }
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Chapters 2 and 3: grids precomputed in Python for every combination of the controls'
 * options (toyviz.widgets.GridExplorer). Each grid arrives as 256 colour levels between
 * its panel's vmin and vmax; picking an option redraws every panel from those levels.
 *
 * State: controls [{name, label, kind: "select" | "slider", options: [text]}],
 * selection [option index per control], panels [{title, colour_map, vmin, vmax,
 * colour_label}], resolution r, extent, grids (base64 of uint8, zlib-compressed when
 * encoding is "deflate", shape (combinations, panels, r, r), combinations in row-major
 * order of the controls), readouts [text per combination], overlay
 * {circle_radius_squared, points: [[x0, x1, class]]}. Unpacking is asynchronous: the
 * first redraw follows it (the root's data-redraws attribute appears then).
 */
function renderGridPicker({ model, root }) {
  const extent = model.get("extent");
  const resolution = model.get("resolution");
  const controls = model.get("controls");
  const overlay = model.get("overlay") || {};
  const panelSpecs = model.get("panels");
  const panels = panelSpecs.map((spec) => heatmapPanel({
    title: spec.title, extent, vmin: spec.vmin, vmax: spec.vmax,
    colourLabel: spec.colour_label, lut: COLOUR_MAPS[spec.colour_map] || VIRIDIS,
    circleRadiusSquared: overlay.circle_radius_squared ?? null,
    points: overlay.points || null }));
  const status = element("p", { class: "tv-status", "aria-live": "polite" },
                         ["Loading the grids\u2026"]);
  const perGrid = resolution * resolution;
  const expected = perGrid * panelSpecs.length *
    controls.reduce((product, control) => product * control.options.length, 1);
  let levels = null, loads = 0;

  function load() {
    const ticket = ++loads;  // a newer load (or the cleanup) makes this one stale
    decodeLevels(model.get("grids"), model.get("encoding") || "uint8").then((decoded) => {
      if (ticket !== loads) return;
      if (decoded.length !== expected) {
        throw new Error(`toyviz: the grids hold ${decoded.length} levels, expected ` +
                        `${expected}`);
      }
      levels = decoded;
      redraw();
    }).catch((error) => {
      if (ticket !== loads) return;
      status.textContent = error.message;
      console.error(error);
    });
  }

  function select(c, index) {
    const selection = model.get("selection").slice();
    selection[c] = index;
    model.set("selection", selection);
    model.save_changes();
  }
  const inputs = controls.map((control, c) => {
    const id = `tv-${Math.random().toString(36).slice(2)}`;
    let input;
    if (control.kind === "slider") {
      input = element("input", { type: "range", id, min: "0",
                                 max: String(control.options.length - 1), step: "1" });
      input.addEventListener("input", () => select(c, Number(input.value)));
    } else {
      input = element("select", { id }, control.options.map((text, k) =>
        element("option", { value: String(k) }, [text])));
      input.addEventListener("change", () => select(c, Number(input.value)));
    }
    input.setAttribute("data-control", control.name);
    const shown = element("output", { for: id });
    root.append(element("div", { class: "tv-control" }, [
      element("label", { for: id }, [control.label]), input, shown]));
    return { input, shown };
  });
  root.prepend(element("div", { class: "tv-panels" }, panels.map((panel) => panel.figure)));
  root.append(status);

  function redraw() {
    if (levels === null) return;  // still unpacking; load() redraws when done
    const start = performance.now();
    const selection = model.get("selection");
    let combination = 0;
    controls.forEach((control, c) => { combination = combination * control.options.length
                                                     + selection[c]; });
    const picked = controls.map((control, c) => `${control.label}: ${control.options[selection[c]]}`)
      .join("; ");
    const values = panelSpecs.map((spec, p) => {
      const offset = (combination * panelSpecs.length + p) * perGrid;
      const out = new Float64Array(perGrid);
      const step = (spec.vmax - spec.vmin) / 255;
      for (let k = 0; k < perGrid; k++) out[k] = spec.vmin + levels[offset + k] * step;
      panels[p].update(out, resolution, resolution,
        `Heatmap of ${spec.title} (${spec.colour_label}) for ${picked}.`);
      return out;
    });
    inputs.forEach(({ input, shown }, c) => {
      input.value = String(selection[c]);
      shown.textContent = controls[c].kind === "slider" ? controls[c].options[selection[c]] : "";
      if (controls[c].kind === "slider") {
        input.setAttribute("aria-valuetext", controls[c].options[selection[c]]);
      }
    });
    const readouts = model.get("readouts");
    status.textContent = readouts && readouts.length ? readouts[combination] : picked;
    const hook = root.toyvizExplorable;
    hook.redraws += 1;
    hook.selection = Array.from(selection);
    hook.values = values;
    hook.lastRedrawMs = performance.now() - start;
    root.setAttribute("data-redraws", String(hook.redraws));
  }

  const onSelection = () => redraw();
  const onGrids = () => load();
  model.on("change:selection", onSelection);
  model.on("change:grids", onGrids);
  model.on("change:encoding", onGrids);
  load();
  return () => {
    loads += 1;
    model.off("change:selection", onSelection);
    model.off("change:grids", onGrids);
    model.off("change:encoding", onGrids);
  };
}

const KINDS = {
  "node-toggle-heatmap": renderNodeToggleHeatmap,
  "grid-picker": renderGridPicker,
};

// Traits that change a kind's layout (axes, controls): a change rebuilds the view. The
// kinds redraw by themselves on every other change (mask, weights, selection, grids).
const REBUILD_ON = {
  "node-toggle-heatmap": ["extent", "loss_max"],
  "grid-picker": ["controls", "panels", "resolution", "extent", "overlay", "readouts"],
};

function render({ model, el }) {
  const kind = model.get("kind");
  const renderKind = KINDS[kind];
  if (!renderKind) throw new Error(`toyviz: unknown explorable kind ${JSON.stringify(kind)}`);
  const root = element("div", { class: "toyviz-explorable", "data-toyviz-explorable": kind,
                                role: "group", "aria-label": model.get("label") });
  root.toyvizExplorable = { kind, redraws: 0 };
  // In JupyterLab the notebook's shortcuts listen for keys that bubble up: arrow keys on a
  // focused select or slider would move to the next cell instead of changing the value.
  root.addEventListener("keydown", (event) => event.stopPropagation());
  el.append(root);
  let cleanup = null;
  function build() {
    if (cleanup) cleanup();
    root.replaceChildren(element("style", {}, [STYLE]));
    cleanup = renderKind({ model, root });
  }
  build();
  for (const name of REBUILD_ON[kind]) model.on(`change:${name}`, build);
  return () => {
    for (const name of REBUILD_ON[kind]) model.off(`change:${name}`, build);
    if (cleanup) cleanup();
    root.remove();
  };
}

export default { render };
