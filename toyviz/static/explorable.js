// toyviz explorables: the one front-end module behind every interactive figure of the book.
//
// toyviz/widgets.py loads this file as the anywidget ESM (`_esm`). The same code runs in
// JupyterLab with a kernel (control changes sync back to Python) and on the static site,
// where myst-nb embeds the widget state and everything is computed here, in the browser.
//
// Layout of this file: colour maps and numbers, the network (a chain of Dense layers with
// a node mask, as toyviz.network computes it; pure functions, no DOM), drawing (heatmap
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

/** Keras clips probabilities to [EPSILON, 1 - EPSILON] before taking the log. */
export const EPSILON = 1e-7;

/** n evenly spaced values from lo to hi inclusive (numpy.linspace in float64). */
export function linspace(lo, hi, n) {
  const out = new Float64Array(n);
  const step = (hi - lo) / (n - 1);
  for (let k = 0; k < n; k++) out[k] = lo + k * step;
  out[n - 1] = hi;
  return out;
}

// ---------------------------------------------------------------- the network

const SELU_ALPHA = 1.6732632423543772, SELU_SCALE = 1.0507009873554805;
const sigmoid = (z) => 0.5 * (1 + Math.tanh(0.5 * z));
const elu = (alpha) => (z) => (z > 0 ? z : alpha * Math.expm1(z));
const leaky = (slope) => (z) => (z > 0 ? z : slope * z);
/** The activations computed here, by toyviz.network's name, without parameters. */
const FIXED_ACTIVATIONS = {
  linear: (z) => z,
  relu: (z) => (z > 0 ? z : 0),
  relu6: (z) => (z > 0 ? (z < 6 ? z : 6) : 0),
  leaky_relu: leaky(0.2),
  elu: elu(1),
  selu: (z) => SELU_SCALE * (z > 0 ? z : SELU_ALPHA * Math.expm1(z)),
  tanh: Math.tanh,
  softsign: (z) => z / (1 + Math.abs(z)),
  silu: (z) => z * sigmoid(z),
  sigmoid,
};
/** The parametric forms computed here: name -> (...parameters) -> function. */
const PARAMETRIC_ACTIVATIONS = {
  leaky_relu: (slope) => leaky(slope),
  elu: (alpha) => elu(alpha),
  relu: (slope, top) => {  // a Keras ReLU layer's; a max_value of null is no ceiling
    const ceiling = top === null ? Infinity : top;
    return (z) => (z > 0 ? (z < ceiling ? z : ceiling) : slope * z);
  },
};
/** What this module computes, for tests/test_widgets.py to hold against the registry. */
export const COMPUTED_ACTIVATIONS = {
  fixed: Object.keys(FIXED_ACTIVATIONS),
  parametric: Object.fromEntries(Object.entries(PARAMETRIC_ACTIVATIONS)
    .map(([name, make]) => [name, make.length])),
};

/**
 * The element-wise function `name` with `parameters`, as the widget state gives it, parsed
 * in Python (toyviz.widgets.browser_activation): a name of toyviz.network's registry and
 * the numbers of its parametric form ([] for none). This module reads no names' text.
 */
export function activation(name, parameters = []) {
  if (parameters.length === 0 && Object.hasOwn(FIXED_ACTIVATIONS, name)) {
    return FIXED_ACTIVATIONS[name];
  }
  if (parameters.length > 0 && Object.hasOwn(PARAMETRIC_ACTIVATIONS, name)
      && PARAMETRIC_ACTIVATIONS[name].length === parameters.length) {
    return PARAMETRIC_ACTIVATIONS[name](...parameters);
  }
  throw new Error(`toyviz: the activation ${JSON.stringify(name)} with parameters ` +
                  `${JSON.stringify(parameters)} is not computed here`);
}

/**
 * A chain of Dense layers from the widget's `layers` trait ([{name, kernel: [[in x out]],
 * bias: [out], activation, function, parameters}], the float32 values as decimals, rounded
 * back with Math.fround; `activation` is the name a reader sees, `function` and
 * `parameters` what it computes) and its `output` ("softmax" or "sigmoid"). `toggled` is the index of the
 * layer whose nodes the mask multiplies (after their activation). Kernels are stored
 * row-major, in x out.
 */
export function denseNetwork(layers, output, toggled) {
  const dense = layers.map((layer) => {
    const inputs = layer.kernel.length, units = layer.bias.length;
    const kernel = new Float64Array(inputs * units);
    layer.kernel.forEach((row, i) => row.forEach((value, j) => {
      kernel[i * units + j] = Math.fround(value);
    }));
    const plain = layer.parameters.length === 0;
    return { name: layer.name, inputs, units, kernel, activation: layer.activation,
             fixed: plain ? layer.function : null,
             bias: Float64Array.from(layer.bias, Math.fround),
             f: activation(layer.function, layer.parameters) };
  });
  if (!(toggled >= 0 && toggled < dense.length - 1)) {
    throw new Error(`toyviz: layer index ${toggled} is not a hidden layer`);
  }
  const classes = output === "sigmoid" ? 2 : dense[dense.length - 1].units;
  return { layers: dense, output, toggled, classes, nodes: dense[toggled].units };
}

/** `target` = the layer's activation of `source` (same length; may be the same array). */
function activate(layer, source, target) {
  const { fixed: name, f } = layer, size = source.length;
  if (name === "relu") {
    for (let k = 0; k < size; k++) { const s = source[k]; target[k] = s > 0 ? s : 0; }
  } else if (name === "linear") {
    if (target !== source) target.set(source);
  } else {
    for (let k = 0; k < size; k++) target[k] = f(source[k]);
  }
  return target;
}

/**
 * Layers first..last-1 of the chain on `count` points at once: `input` holds count x
 * inputs values (point-major), the result count x units. `mask` (or null) multiplies the
 * toggled layer's outputs. `buffers` (an object) keeps each layer's output array between
 * calls, so a redraw allocates nothing.
 */
function runLayers(network, input, count, first, last, mask, buffers = {}) {
  let a = input;
  for (let l = first; l < last; l++) {
    const { inputs, units, kernel, bias } = network.layers[l];
    if (!buffers[l] || buffers[l].length !== count * units) {
      buffers[l] = new Float64Array(count * units);
    }
    const z = buffers[l];
    for (let k = 0, ai = 0, zi = 0; k < count; k++, ai += inputs, zi += units) {
      for (let j = 0; j < units; j++) z[zi + j] = 0;
      for (let i = 0; i < inputs; i++) {
        const value = a[ai + i];
        if (value === 0) continue;
        for (let j = 0, row = i * units; j < units; j++) z[zi + j] += value * kernel[row + j];
      }
      for (let j = 0; j < units; j++) z[zi + j] += bias[j];
    }
    activate(network.layers[l], z, z);
    if (l === network.toggled && mask) {
      for (let k = 0, zi = 0; k < count; k++, zi += units) {
        for (let j = 0; j < units; j++) z[zi + j] *= mask[j];
      }
    }
    a = z;
  }
  return a;
}

/**
 * The probability of class `shown` from `logits` (count x width, point-major) into `out`:
 * softmax shifted by the largest logit, or a single sigmoid unit's p (class 1) and
 * 1 - p (class 0). With `all` (count x classes) every class's probability too.
 */
function probabilities(network, logits, count, shown, out, all = null) {
  const classes = network.classes;
  if (network.output === "sigmoid") {
    for (let k = 0; k < count; k++) {
      const p = sigmoid(logits[k]);
      out[k] = shown === 1 ? p : 1 - p;
      if (all) { all[2 * k] = 1 - p; all[2 * k + 1] = p; }
    }
    return out;
  }
  for (let k = 0, base = 0; k < count; k++, base += classes) {
    let top = -Infinity, total = 0;
    for (let c = 0; c < classes; c++) if (logits[base + c] > top) top = logits[base + c];
    for (let c = 0; c < classes; c++) total += Math.exp(logits[base + c] - top);
    out[k] = Math.exp(logits[base + shown] - top) / total;
    if (all) for (let c = 0; c < classes; c++) all[base + c] = Math.exp(logits[base + c] - top) / total;
  }
  return out;
}

/**
 * The network over a grid, split at the toggled layer: the toggled layer's node values
 * (after the activation, before the mask) at every point are computed once, and a mask
 * costs only what follows. The next layer's sums (before its activation) change by one
 * node's term per toggle, so only changed nodes are added or taken away (a full sum every
 * FULL_SUM_EVERY updates keeps rounding from piling up); the layers after it, if any, run
 * in full.
 *
 * Point k = i * xs.length + j sits at (xs[j], ys[i]): the first coordinate varies fastest,
 * as in toyviz.data.grid. Returns {network, points, nodes: Float64Array (points x nodes),
 * sums: Float64Array (points x next layer's units), logits (after updateLogits), ...}.
 */
export function networkGrid(network, xs, ys) {
  const points = xs.length * ys.length;
  const input = new Float64Array(2 * points);
  for (let i = 0, k = 0; i < ys.length; i++) {
    for (let j = 0; j < xs.length; j++, k++) {
      input[2 * k] = xs[j];
      input[2 * k + 1] = ys[i];
    }
  }
  const nodes = runLayers(network, input, points, 0, network.toggled + 1, null);
  const next = network.layers[network.toggled + 1];
  return { network, points, nodes, sums: new Float64Array(points * next.units),
           activated: new Float64Array(points * next.units), logits: null, buffers: {},
           sumsMask: null, updates: 0 };
}

const FULL_SUM_EVERY = 64;

/** Bring grid.logits (points x output units) up to date for `mask` (array of 0/1). */
export function updateLogits(grid, mask) {
  const { network, points, nodes, sums } = grid;
  const n = network.nodes, next = network.toggled + 1, last = network.layers.length - 1;
  const { kernel, bias, units } = network.layers[next];
  const previous = grid.sumsMask, changed = [];
  if (previous) for (let u = 0; u < n; u++) if (previous[u] !== (mask[u] ? 1 : 0)) changed.push(u);
  const full = !previous || changed.length > 4 || grid.updates >= FULL_SUM_EVERY;
  if (full) {
    for (let k = 0; k < points; k++) for (let c = 0; c < units; c++) sums[k * units + c] = bias[c];
  }
  for (const u of full ? Array.from({ length: n }, (_, u) => u) : changed) {
    if (full && !mask[u]) continue;
    const sign = full || mask[u] ? 1 : -1;
    for (let c = 0; c < units; c++) {
      const w = sign * kernel[u * units + c];
      for (let k = 0; k < points; k++) sums[k * units + c] += nodes[k * n + u] * w;
    }
  }
  grid.updates = full ? 0 : grid.updates + 1;
  grid.sumsMask = Uint8Array.from(mask, (value) => (value ? 1 : 0));
  grid.logits = next === last ? sums : runLayers(
    network, activate(network.layers[next], sums, grid.activated), points, next + 1, last + 1,
    null, grid.buffers);
  return grid.logits;
}

/** P(class `shown`) at every grid point into `out` (Float64Array), after updateLogits. */
export function gridProbability(grid, shown, out) {
  return probabilities(grid.network, grid.logits, grid.points, shown, out);
}

/**
 * The labelled points ([[x0, x1]], rounded to float32) under `mask`: class probabilities
 * (Float64Array, points x classes) into `all`, the per-point loss
 * -log(clip(p[label], EPSILON, 1 - EPSILON)) into `loss`; returns the mean loss.
 */
export function pointLosses(network, points, labels, mask, all, loss) {
  const count = points.length;
  const input = new Float64Array(2 * count);
  points.forEach(([x, y], k) => { input[2 * k] = Math.fround(x); input[2 * k + 1] = Math.fround(y); });
  const logits = runLayers(network, input, count, 0, network.layers.length, mask);
  probabilities(network, logits, count, 0, new Float64Array(count), all);
  let total = 0;
  for (let k = 0; k < count; k++) {
    const picked = all[k * network.classes + labels[k]];
    loss[k] = -Math.log(picked < EPSILON ? EPSILON : picked > 1 - EPSILON ? 1 - EPSILON : picked);
    total += loss[k];
  }
  return count ? total / count : NaN;
}

// ---------------------------------------------------------------- drawing

// The card follows the page's theme: the book's dark mode (html[data-theme="dark"], set by
// the theme's switch or by the reader's system) and JupyterLab's dark themes
// (body[data-jp-theme-light="false"]). Its colours live in the custom properties below,
// and the canvases read the same ones (paletteOf), so a panel's axes, ticks and colour-bar
// labels are drawn in the card's ink on the card's paper. Every text colour has a
// contrast of at least 4.5:1 on its background in both themes (tests/test_browser.py).
const STYLE = `
.toyviz-explorable { --tv-ink: #1b1b1b; --tv-muted: #4a4a4a; --tv-paper: #ffffff;
  --tv-line: #8c8c8c; --tv-field: #f3f3f3; --tv-mark: #1b1b1b;
  font: 13px/1.4 system-ui, sans-serif; color: var(--tv-ink); background: var(--tv-paper);
  border: 1px solid var(--tv-line); border-radius: 6px; padding: 8px; max-width: 760px;
  box-sizing: border-box; color-scheme: light; overflow-wrap: anywhere; }
html[data-theme="dark"] .toyviz-explorable,
body[data-jp-theme-light="false"] .toyviz-explorable { --tv-ink: #e6e6e6;
  --tv-muted: #c2c7ce; --tv-paper: #1e2227; --tv-line: #737b86; --tv-field: #2b3037;
  --tv-mark: #e6e6e6;
  color-scheme: dark; }
.toyviz-explorable * { color: inherit; }
.toyviz-explorable p { margin: 0; }
.toyviz-explorable .tv-prompt { margin: 0 0 6px; }
.toyviz-explorable .tv-prompt strong { font-weight: 700; }
.toyviz-explorable .tv-panels { display: flex; flex-wrap: wrap; gap: 8px; }
.toyviz-explorable.tv-stacked .tv-panels { flex-direction: column; }
.toyviz-explorable figure { margin: 0; padding: 0; border: 0; min-width: 0; }
.toyviz-explorable figcaption { font-weight: 600; text-align: center; color: var(--tv-ink);
  font-size: 13px; margin: 0; padding: 0; min-height: 1.4em; }
.toyviz-explorable canvas { display: block; max-width: 100%; }
.toyviz-explorable fieldset { border: 1px solid var(--tv-line); border-radius: 4px;
  margin: 8px 0 0; padding: 2px 8px 6px; display: flex; flex-wrap: wrap; gap: 0 6px;
  min-width: 0; }
.toyviz-explorable legend { padding: 0 4px; font-size: inherit; font-weight: 600;
  width: auto; float: none; margin: 0; color: var(--tv-ink); }
.toyviz-explorable label { white-space: nowrap; cursor: pointer; color: var(--tv-ink);
  display: inline-flex; align-items: center; gap: 4px; min-height: 24px; min-width: 24px;
  font-weight: normal; margin: 0; }
.toyviz-explorable input[type="checkbox"] { width: 16px; height: 16px; margin: 0; }
.toyviz-explorable select, .toyviz-explorable button { min-height: 26px; font: inherit;
  max-width: 100%; color: var(--tv-ink); background: var(--tv-field);
  border: 1px solid var(--tv-line); border-radius: 4px; }
.toyviz-explorable input[type="range"] { min-height: 24px; margin: 0; }
.toyviz-explorable button { margin: 6px 6px 0 0; padding: 0 10px; }
.toyviz-explorable.tv-narrow input[type="checkbox"] { width: 24px; height: 24px; }
.toyviz-explorable.tv-narrow select, .toyviz-explorable.tv-narrow button { min-height: 32px; }
.toyviz-explorable.tv-narrow input[type="range"] { min-height: 32px; width: 100%; }
.toyviz-explorable.tv-narrow fieldset { gap: 4px 12px; }
.toyviz-explorable .tv-status { margin: 6px 0 0; }
.toyviz-explorable .tv-control { margin: 6px 0 0; display: flex; flex-wrap: wrap;
  align-items: center; gap: 4px 10px; }
.toyviz-explorable .tv-control > label { font-weight: 600; }
.toyviz-explorable .tv-legend { margin: 4px 0 0; color: var(--tv-muted); flex-basis: 100%; }
.toyviz-explorable .tv-mark { font-weight: 700; color: var(--tv-mark); }
.toyviz-explorable label.tv-marked { font-weight: 600; }
.toyviz-explorable .tv-cell-swatch { display: inline-block; width: 10px; height: 10px;
  border: 2px solid #000; outline: 1px solid #fff; outline-offset: -3px;
  background: #808080; vertical-align: -2px; margin-right: 4px; }
`;

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

let ids = 0;
/** A fresh id for label-for and aria-describedby links. */
function freshId() {
  ids += 1;
  return `tv-${ids}-${Math.random().toString(36).slice(2, 8)}`;
}

function formatTick(value) {
  return Math.abs(value - Math.round(value)) < 1e-9 ? String(Math.round(value))
    : String(+value.toFixed(2));
}

/** The colour of `value` on [vmin, vmax] in the colour table `lut`, as CSS. */
export function colourOf(lut, value, vmin, vmax) {
  let level = Math.round((value - vmin) * 255 / (vmax - vmin));
  level = level < 0 ? 0 : level > 255 ? 255 : level;
  return `rgb(${lut[3 * level]},${lut[3 * level + 1]},${lut[3 * level + 2]})`;
}

/** Background of a panel drawn without values (toyviz.widgets.LOSS_BACKGROUND). */
const BACKGROUND = "#e6e6e6";

/** The light theme's colours, for a card not (yet) in the page. */
const LIGHT = { ink: "#1b1b1b", paper: "#ffffff" };

/** The colours a card's canvases draw with: its --tv-ink and --tv-paper. */
function paletteOf(root) {
  const style = root.isConnected ? getComputedStyle(root) : null;
  const ink = style && style.getPropertyValue("--tv-ink").trim();
  const paper = style && style.getPropertyValue("--tv-paper").trim();
  return ink && paper ? { ink, paper } : LIGHT;
}

// A panel's geometry in CSS pixels: the axis (y ticks and label) left of the square grid,
// the colour bar right of it, the x ticks and label under it.
const AXIS = 38, TOP = 8, BOTTOM = 34, BAR_GAP = 14, BAR_WIDTH = 12, BAR_LABELS = 58;
const BAR = BAR_GAP + BAR_WIDTH + BAR_LABELS, END = 6;  // END: right margin without a bar
/** Gap between panels, the largest and smallest side of a panel's grid side by side. */
export const PANEL_GAP = 8, MAX_SIDE = 240, MIN_SIDE = 120;
/** Below this width (CSS px) a card is narrow: larger controls, for touch. */
export const NARROW = 520;

/**
 * How `count` panels fit a card whose content box is `width` CSS px wide: side by side if
 * each grid gets at least MIN_SIDE px (at most MAX_SIDE), else stacked, each as large as
 * the width allows. `shareBar`: the panels share one colour scale, so that side by side
 * they share one colour bar, drawn after the last panel. Returns {stacked, side,
 * sharedBar, narrow}.
 */
export function panelLayout(width, count, shareBar = false) {
  const shared = shareBar && count > 1;
  const perPanel = (width - (count - 1) * PANEL_GAP - (shared ? PANEL_GAP + BAR : 0)) / count;
  const side = Math.floor(perPanel - AXIS - (shared ? END : BAR));
  const narrow = width < NARROW;
  if (side >= MIN_SIDE || count === 1) {
    return { stacked: false, side: Math.max(60, Math.min(MAX_SIDE, side)), sharedBar: shared,
             narrow };
  }
  return { stacked: true, side: Math.max(60, Math.min(MAX_SIDE, Math.floor(width - AXIS - BAR))),
           sharedBar: false, narrow };
}

/** The width of a card's content box, or `fallback` while it is not laid out. */
function contentWidth(root, fallback = 670) {
  if (!root.isConnected || root.clientWidth === 0) return fallback;
  const style = getComputedStyle(root);
  return root.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
}

/** A canvas of width x height CSS px at the screen's pixel ratio, and its 2D context. */
function sharpCanvas(width, height, label) {
  const ratio = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
  const canvas = element("canvas", { role: "img", "aria-label": label,
                                     width: Math.round(width * ratio),
                                     height: Math.round(height * ratio) });
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  canvas.textContent = label;
  const context = canvas.getContext("2d");
  context.scale(ratio, ratio);
  return { canvas, context };
}

/** A colour bar: `lut` on [vmin, vmax] from bottom to top, ticks, and `label` along it. */
function drawColourBar(context, x, size, { lut, vmin, vmax, label, overflow, palette }) {
  for (let p = 0; p < size; p++) {
    const level = Math.round((1 - p / (size - 1)) * 255);
    context.fillStyle = `rgb(${lut[3 * level]},${lut[3 * level + 1]},${lut[3 * level + 2]})`;
    context.fillRect(x, TOP + p, BAR_WIDTH, 1);
  }
  context.strokeStyle = palette.ink;
  context.lineWidth = 1;
  context.strokeRect(x + 0.5, TOP + 0.5, BAR_WIDTH - 1, size - 1);
  context.fillStyle = palette.ink;
  context.font = "11px system-ui, sans-serif";
  context.textAlign = "left";
  context.textBaseline = "middle";
  for (let t = 0; t <= 4; t++) {
    const value = vmin + (vmax - vmin) * t / 4;
    const py = TOP + size - t / 4 * size;
    context.fillRect(x + BAR_WIDTH, py - 0.5, 3, 1);
    const text = (overflow && t === 4 ? "\u2265 " : "") + formatTick(value);
    context.fillText(text, x + BAR_WIDTH + 5, Math.min(Math.max(py, TOP + 5), TOP + size - 5));
  }
  context.save();
  context.translate(x + BAR_WIDTH + BAR_LABELS - 8, TOP + size / 2);
  context.rotate(-Math.PI / 2);
  context.textAlign = "center";
  context.fillText(label, 0, 0);
  context.restore();
}

/**
 * A colour bar on its own, for panels that share one colour scale: a figure as tall as a
 * panel's (its empty caption keeps the bars level with the grids).
 */
export function colourBarFigure({ vmin, vmax, colourLabel, lut = VIRIDIS, overflow = false,
                                  size = 200, palette = LIGHT }) {
  const width = BAR, height = TOP + size + BOTTOM;
  const { canvas, context } = sharpCanvas(width, height, `Colour bar: ${colourLabel}`);
  context.fillStyle = palette.paper;
  context.fillRect(0, 0, width, height);
  drawColourBar(context, BAR_GAP, size, { lut, vmin, vmax, label: colourLabel, overflow,
                                          palette });
  const caption = element("figcaption", { "aria-hidden": "true" }, ["\u00a0"]);
  return element("figure", { class: "tv-colour-bar" }, [caption, canvas]);
}

/**
 * A heatmap panel: a square grid of values drawn with a colour map on [vmin, vmax] (or a
 * plain background when update() gets no values), axes ticks, an optional circle overlay
 * (dashed, in `circleColour`), points (marks), outlined cells and, unless `bar` is false,
 * a labelled colour bar. The grid is `size` CSS px square; axes and labels are drawn in
 * `palette.ink` on `palette.paper`. The canvas has role="img" and an aria-label that
 * update() keeps current, and data-left, data-top and data-size: where the grid is.
 */
export function heatmapPanel({ title, extent, vmin, vmax, colourLabel, overflow = false,
                               circleRadiusSquared = null, circleColour = "#fff",
                               lut = VIRIDIS, size = 200, bar = true, palette = LIGHT }) {
  const [x0, x1, y0, y1] = extent;
  const left = AXIS, top = TOP;
  const width = left + size + (bar ? BAR : END), height = top + size + BOTTOM;
  const { canvas, context } = sharpCanvas(width, height, title);
  canvas.setAttribute("data-left", String(left));
  canvas.setAttribute("data-top", String(top));
  canvas.setAttribute("data-size", String(size));
  const figure = element("figure", {}, [element("figcaption", {}, [title]), canvas]);
  const offscreen = document.createElement("canvas");
  let image = null;

  // Static parts: background, ticks, axis labels, colour bar.
  context.fillStyle = palette.paper;
  context.fillRect(0, 0, width, height);
  context.fillStyle = palette.ink;
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
  if (bar) {
    drawColourBar(context, left + size + BAR_GAP, size, { lut, vmin, vmax, label: colourLabel,
                                                          overflow, palette });
  }

  function drawValues(values, columns, rows) {
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
  }

  /** Outline grid cells [[row from the bottom, column]] of a columns x rows grid in black
   * and white, so that the outline shows on any colour of the map: inside a cell 8 px or
   * wider, around a smaller one. */
  function outlineCells(cells, columns, rows) {
    const w = size / columns, h = size / rows;
    for (const [i, j] of cells) {
      const x = Math.round(left + j * w), y = Math.round(top + (rows - 1 - i) * h);
      const width = Math.round(left + (j + 1) * w) - x, height = Math.round(top + (rows - i) * h) - y;
      const [outer, inner] = width >= 8 && height >= 8 ? [1, 2.5] : [-0.5, -1.5];
      context.lineWidth = outer > 0 ? 2 : 1;
      context.strokeStyle = "#000";
      context.strokeRect(x + outer, y + outer, width - 2 * outer, height - 2 * outer);
      context.lineWidth = 1;
      context.strokeStyle = "#fff";
      context.strokeRect(x + inner, y + inner, width - 2 * inner, height - 2 * inner);
    }
  }

  /**
   * Draw `values` (rows x columns, row i the i-th y from the bottom; null: the plain
   * background), `marks` [{x, y, fill, stroke, radius}] in data coordinates and the
   * outlined `cells` [[i, j]] of the grid.
   */
  function update(values, columns, rows, description, marks = [], cells = []) {
    if (values === null) {
      context.fillStyle = BACKGROUND;
      context.fillRect(left, top, size, size);
    } else {
      drawValues(values, columns, rows);
    }
    context.save();
    context.beginPath();
    context.rect(left, top, size, size);
    context.clip();
    if (circleRadiusSquared !== null) {
      const radius = Math.sqrt(circleRadiusSquared);
      context.beginPath();
      context.ellipse(left + (0 - x0) / (x1 - x0) * size, top + (y1 - 0) / (y1 - y0) * size,
                      radius / (x1 - x0) * size, radius / (y1 - y0) * size, 0, 0, 2 * Math.PI);
      context.setLineDash([5, 4]);
      context.strokeStyle = circleColour;
      context.lineWidth = 1.5;
      context.stroke();
      context.setLineDash([]);
    }
    context.lineWidth = 0.6;
    for (const { x, y, fill, stroke, radius } of marks) {
      context.beginPath();
      context.arc(left + (x - x0) / (x1 - x0) * size, top + (y1 - y) / (y1 - y0) * size,
                  radius, 0, 2 * Math.PI);
      context.fillStyle = fill;
      context.strokeStyle = stroke;
      context.fill();
      context.stroke();
    }
    outlineCells(cells, columns, rows);
    context.restore();
    context.strokeStyle = palette.ink;
    context.lineWidth = 1;
    context.strokeRect(left + 0.5, top + 0.5, size - 1, size - 1);
    canvas.setAttribute("aria-label", description);
    canvas.textContent = description;
  }

  return { figure, canvas, update };
}

/**
 * Keep a card's panels fitted to its width and coloured for the page's theme: `rebuild()`
 * makes the panels anew (with the card's panelLayout and palette) and redraws them; it
 * runs whenever the card's width or the theme changes the layout or the palette. Returns
 * the cleanup.
 */
function fitPanels(root, count, shareBar, rebuild) {
  let current = "";
  function fit() {
    const layout = panelLayout(contentWidth(root), count, shareBar);
    const palette = paletteOf(root);
    const key = JSON.stringify([layout, palette]);
    if (key === current) return;
    current = key;
    root.classList.toggle("tv-stacked", layout.stacked);
    root.classList.toggle("tv-narrow", layout.narrow);
    rebuild(layout, palette);
    Object.assign(root.toyvizExplorable, { layout, palette });
  }
  fit();
  let frame = null;
  const later = () => {  // once per frame, after layout: no resize-observer loops
    if (frame === null) frame = requestAnimationFrame(() => { frame = null; fit(); });
  };
  const resize = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(later);
  if (resize) resize.observe(root);
  const theme = typeof MutationObserver === "undefined" ? null : new MutationObserver(later);
  if (theme) {
    theme.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    if (document.body) {
      theme.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light"] });
    }
  }
  return () => {
    if (resize) resize.disconnect();
    if (theme) theme.disconnect();
    if (frame !== null) cancelAnimationFrame(frame);
  };
}

/** The card's opening line: "Try this:" and the prompt, then how it starts. */
function promptLine(model) {
  const prompt = model.get("prompt"), start = model.get("start");
  const children = [];
  if (prompt) children.push(element("strong", {}, ["Try this:"]), ` ${prompt}`);
  if (start) children.push(element("span", { class: "tv-start" }, [`${prompt ? " " : ""}${start}`]));
  return element("p", { class: "tv-prompt" }, children);
}

// ---------------------------------------------------------------- controls

/**
 * One labelled checkbox per node: "node 0", "node 1", ... The nodes in `marked` (a set)
 * carry a ◆ after their name and are described by the legend line with id `markId`.
 */
export function nodeToggles(count, legend, onToggle, marked = new Set(), markId = null) {
  const fieldset = element("fieldset", {}, [element("legend", {}, [legend])]);
  const boxes = [];
  for (let u = 0; u < count; u++) {
    const box = element("input", { type: "checkbox", "aria-label": `node ${u}`,
                                   "data-node": String(u) });
    box.addEventListener("change", () => onToggle(u, box.checked));
    boxes.push(box);
    const label = element("label", {}, [box, ` node ${u}`]);
    if (marked.has(u)) {
      label.classList.add("tv-marked");
      label.append(element("span", { class: "tv-mark", "aria-hidden": "true" }, ["\u25c6"]));
      if (markId) box.setAttribute("aria-describedby", markId);
    }
    fieldset.append(label);
  }
  return { fieldset, boxes };
}

// ---------------------------------------------------------------- widget kinds

/** Points marked by class as toyviz.plots.training_points marks two classes: the class
 * `shown` black outlined in white, the others white outlined in black. */
function classMarks(points, labels, shown, radius = 1.8) {
  return points.map(([x, y], k) => {
    const picked = labels[k] === shown;
    return { x, y, fill: picked ? "#000" : "#fff", stroke: picked ? "#fff" : "#000", radius };
  });
}

/**
 * Chapter 1 and any 2-input Dense network (toyviz.widgets.NodeToggleHeatmap): toggle the
 * nodes of one hidden layer and see P(a chosen class) over the plane and the loss of each
 * labelled point change.
 *
 * State: layers [{name, kernel, bias, activation, function, parameters}], output, layer
 * (the toggled one), mask, points [[x0, x1]], labels, class_names, shown_class,
 * resolution, extent, loss_max, circle_radius_squared, show_points, prompt, start,
 * marked_nodes (0/1 per node), mark_label.
 */
function renderNodeToggleHeatmap({ model, root }) {
  const extent = model.get("extent");
  const lossMax = model.get("loss_max");
  const names = model.get("class_names");
  const points = model.get("points"), labels = model.get("labels");
  const circleRadiusSquared = model.get("circle_radius_squared") ?? null;
  const layers = model.get("layers"), layer = model.get("layer");
  const network = denseNetwork(layers, model.get("output"),
                               layers.findIndex((entry) => entry.name === layer));
  const n = network.nodes;
  const resolution = model.get("resolution");
  const xs = linspace(extent[0], extent[1], resolution);
  const ys = linspace(extent[2], extent[3], resolution);
  const grid = networkGrid(network, xs, ys);
  const probability = new Float64Array(grid.points);
  const pointProbabilities = new Float64Array(points.length * network.classes);
  const loss = new Float64Array(points.length);
  const marked = new Set();
  (model.get("marked_nodes") || []).forEach((value, u) => { if (value) marked.add(u); });

  let look = { layout: panelLayout(670, 2), palette: LIGHT };
  const heatmap = (shown) => heatmapPanel({
    title: `P(${names[shown]})`, extent, vmin: 0, vmax: 1, colourLabel: "probability",
    circleRadiusSquared, size: look.layout.side, palette: look.palette });
  const lossPanel = () => heatmapPanel({
    title: "Loss per point", extent, vmin: 0, vmax: lossMax, overflow: true,
    colourLabel: "cross-entropy loss", circleRadiusSquared, circleColour: "#1b1b1b",
    size: look.layout.side, palette: look.palette });
  let panels = [];
  const panelBox = element("div", { class: "tv-panels" });
  const status = element("p", { class: "tv-status", "aria-live": "polite" });

  function setMask(mask) {
    model.set("mask", mask);
    model.save_changes();
  }
  const markId = marked.size ? freshId() : null;
  const toggles = nodeToggles(n, `Nodes of layer ${layer} (ticked = on)`, (u, on) => {
    const mask = model.get("mask").slice();
    mask[u] = on ? 1 : 0;
    setMask(mask);
  }, marked, markId);
  if (marked.size) {
    toggles.fieldset.append(element("p", { class: "tv-legend", id: markId }, [
      element("span", { class: "tv-mark", "aria-hidden": "true" }, ["\u25c6 "]),
      `${model.get("mark_label")}: node${marked.size === 1 ? "" : "s"} ` +
      `${Array.from(marked).join(", ")}`]));
  }
  const allOn = element("button", { type: "button" }, ["All nodes on"]);
  allOn.addEventListener("click", () => setMask(new Array(n).fill(1)));
  const allOff = element("button", { type: "button" }, ["All nodes off"]);
  allOff.addEventListener("click", () => setMask(new Array(n).fill(0)));
  const id = freshId();
  const classSelect = element("select", { id, "data-control": "shown_class" },
    names.map((name, c) => element("option", { value: String(c) }, [name])));
  classSelect.addEventListener("change", () => {
    model.set("shown_class", Number(classSelect.value));
    model.save_changes();
  });
  const pointsBox = element("input", { type: "checkbox", "data-control": "show_points" });
  pointsBox.addEventListener("change", () => {
    model.set("show_points", pointsBox.checked);
    model.save_changes();
  });
  root.append(promptLine(model), panelBox,
              element("div", { class: "tv-control" }, [
                element("label", { for: id }, ["Probability of"]), classSelect,
                element("label", {}, [pointsBox, " Labelled points on the heatmap"])]),
              toggles.fieldset, allOn, allOff, status);

  let shownPanel = null;
  function redraw() {
    const start = performance.now();
    const mask = model.get("mask"), shown = model.get("shown_class");
    const showPoints = model.get("show_points");
    if (shown !== shownPanel) {  // the heatmap's title names the class
      const fresh = heatmap(shown);
      panelBox.replaceChild(fresh.figure, panels[0].figure);
      panels[0] = fresh;
      shownPanel = shown;
    }
    updateLogits(grid, mask);
    gridProbability(grid, shown, probability);
    const meanLoss = pointLosses(network, points, labels, mask, pointProbabilities, loss);
    const on = [];
    mask.forEach((value, u) => { if (value) on.push(u); });
    const which = on.length === n ? "all nodes on" : on.length === 0 ? "all nodes off"
      : `nodes on: ${on.join(", ")}`;
    const circle = circleRadiusSquared === null ? ""
      : " The dashed line is the target circle.";
    panels[0].update(probability, xs.length, ys.length,
      `Heatmap of the network's probability of ${names[shown]}, ${which}` +
      (showPoints ? `; the labelled points of ${names[shown]} in black, the others in white.`
       : ".") + circle,
      showPoints ? classMarks(points, labels, shown) : []);
    panels[1].update(null, xs.length, ys.length,
      `The ${points.length} labelled points coloured by their cross-entropy loss, ` +
      `${which}; mean ${meanLoss.toFixed(3)}.${circle}`,
      points.map(([x, y], k) => ({ x, y, fill: colourOf(VIRIDIS, loss[k], 0, lossMax),
                                   stroke: "#1b1b1b", radius: 2.2 })));
    toggles.boxes.forEach((box, u) => { box.checked = Boolean(mask[u]); });
    classSelect.value = String(shown);
    pointsBox.checked = Boolean(showPoints);
    status.textContent = `${on.length} of ${n} nodes on. Mean loss over the ` +
      `${points.length} labelled points: ${meanLoss.toFixed(3)}.`;
    const hook = root.toyvizExplorable;
    hook.redraws += 1;
    hook.mask = Array.from(mask);
    hook.shownClass = shown;
    hook.probability = probability;
    hook.pointProbabilities = pointProbabilities;
    hook.loss = loss;
    hook.meanLoss = meanLoss;
    hook.resolution = xs.length;
    hook.lastRedrawMs = performance.now() - start;
    root.setAttribute("data-redraws", String(hook.redraws));
  }

  const unfit = fitPanels(root, 2, false, (layout, palette) => {
    look = { layout, palette };
    shownPanel = model.get("shown_class");
    panels = [heatmap(shownPanel), lossPanel()];
    panelBox.replaceChildren(...panels.map((panel) => panel.figure));
    redraw();
  });
  const redrawOn = ["change:mask", "change:shown_class", "change:show_points"];
  for (const event of redrawOn) model.on(event, redraw);
  return () => {
    unfit();
    for (const event of redrawOn) model.off(event, redraw);
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
  const cells = model.get("marked_cells") || [];
  const markLabel = model.get("mark_label");
  // Panels on one colour scale share one colour bar when they sit side by side.
  const scale = (spec) => JSON.stringify([spec.colour_map, spec.vmin, spec.vmax,
                                          spec.colour_label]);
  const oneScale = panelSpecs.every((spec) => scale(spec) === scale(panelSpecs[0]));
  let panels = [];
  const panelBox = element("div", { class: "tv-panels" });
  const overlayPoints = overlay.points || [];
  const marks = classMarks(overlayPoints, overlayPoints.map((point) => point[2]), 1);
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
  root.append(promptLine(model), panelBox);
  if (cells.length) {
    root.append(element("p", { class: "tv-legend" }, [
      element("span", { class: "tv-cell-swatch", "aria-hidden": "true" }),
      `Outlined: ${markLabel} (${cells.length} cell${cells.length === 1 ? "" : "s"})`]));
  }
  const inputs = controls.map((control, c) => {
    const id = freshId();
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
  root.append(status);
  const outlined = cells.length
    ? ` Outlined: ${markLabel} (${cells.length} cell${cells.length === 1 ? "" : "s"}).` : "";

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
        `Heatmap of ${spec.title} (${spec.colour_label}) for ${picked}.${outlined}`, marks,
        cells);
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
  const unfit = fitPanels(root, panelSpecs.length, oneScale, (layout, palette) => {
    panels = panelSpecs.map((spec) => heatmapPanel({
      title: spec.title, extent, vmin: spec.vmin, vmax: spec.vmax,
      colourLabel: spec.colour_label, lut: COLOUR_MAPS[spec.colour_map] || VIRIDIS,
      circleRadiusSquared: overlay.circle_radius_squared ?? null, size: layout.side,
      bar: !layout.sharedBar, palette }));
    const figures = panels.map((panel) => panel.figure);
    if (layout.sharedBar) {
      const spec = panelSpecs[0];
      figures.push(colourBarFigure({ vmin: spec.vmin, vmax: spec.vmax,
                                     colourLabel: spec.colour_label, size: layout.side,
                                     lut: COLOUR_MAPS[spec.colour_map] || VIRIDIS, palette }));
    }
    panelBox.replaceChildren(...figures);
    redraw();
  });
  load();
  return () => {
    unfit();
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
// kinds redraw by themselves on every other change (mask, shown class, selection, grids).
const REBUILD_ON = {
  "node-toggle-heatmap": ["layers", "output", "layer", "points", "labels", "class_names",
                          "resolution", "extent", "loss_max", "circle_radius_squared",
                          "prompt", "start", "marked_nodes", "mark_label"],
  "grid-picker": ["controls", "panels", "resolution", "extent", "overlay", "readouts",
                  "prompt", "start", "marked_cells", "mark_label"],
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
