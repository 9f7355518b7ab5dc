"""The book's interactive figures ("explorables"), as anywidgets.

Every explorable keeps its state (weights, mask, settings) in synced traits and leaves the
drawing to one shared front-end module, ``toyviz/static/explorable.js``. That module
computes what it shows in the browser, so the same widget works in JupyterLab with a
kernel (changes made with the controls sync back to Python) and on the static site, where
the build embeds the widget state and no kernel exists.

This module also holds the Python forward pass the browser's numbers are tested against.

Introduced in chapter 1, §Switching nodes off (the node-toggle heatmap).
"""

import pathlib

import anywidget
import numpy as np
import traitlets

from toyviz._checks import check_array, check_float, check_int

#: The shared front-end module (an ES module) behind every explorable.
FRONT_END = pathlib.Path(__file__).parent / "static" / "explorable.js"

#: Keras clips probabilities to [EPSILON, 1 - EPSILON] before taking the log.
EPSILON = 1e-7



def check_weights(name, weights):
    """Return the four weight arrays of a 2 -> n -> 2 network as float32 numpy arrays.

    Parameters
    ----------
    weights : dict with ``w1: (2, n)``, ``b1: (n,)``, ``w2: (n, 2)``, ``b2: (2,)``, as
        returned by :func:`toyviz.models.masked_weights`.
    """
    if not isinstance(weights, dict):
        raise TypeError(f"{name} must be a dict with keys w1, b1, w2, b2, "
                        f"got {type(weights).__name__}")
    missing = sorted({"w1", "b1", "w2", "b2"} - set(weights))
    if missing:
        raise ValueError(f"{name} must have keys w1, b1, w2, b2, missing {missing}")
    w1 = check_array(f"{name}['w1']", weights["w1"], shape=(2, None))
    n = w1.shape[1]
    if n < 1:
        raise ValueError(f"{name}['w1'] must have at least one column, got shape {w1.shape}")
    return {"w1": w1,
            "b1": check_array(f"{name}['b1']", weights["b1"], shape=(n,)),
            "w2": check_array(f"{name}['w2']", weights["w2"], shape=(n, 2)),
            "b2": check_array(f"{name}['b2']", weights["b2"], shape=(2,))}


def check_mask(name, mask, n_nodes):
    """Return ``mask`` as a list of ``n_nodes`` ints, each 0 (node off) or 1 (node on)."""
    array = check_array(name, mask, shape=(n_nodes,), dtype=None)
    if not np.all((array == 0) | (array == 1)):
        raise ValueError(f"{name} must hold only 0 and 1, got {array.tolist()}")
    return [int(value) for value in array]


def _check_extent(extent):
    if isinstance(extent, (str, bytes)) or not hasattr(extent, "__len__") or len(extent) != 4:
        raise TypeError(f"extent must be a sequence (x0, x1, y0, y1), got {extent!r}")
    x0, x1, y0, y1 = (check_float(f"extent[{k}]", value) for k, value in enumerate(extent))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"extent must have x0 < x1 and y0 < y1, got {tuple(extent)}")
    return [x0, x1, y0, y1]


def grid_axes(extent=(-2.0, 2.0, -2.0, 2.0), resolution=200):
    """The grid an explorable draws: ``xs`` and ``ys``, ``resolution`` evenly spaced
    float64 values each, end points included (the front end's ``linspace``).

    Value ``k = i * resolution + j`` of a drawn grid belongs to the point
    ``(xs[j], ys[i])``, so ``values.reshape(resolution, resolution)`` displays with
    ``imshow(origin="lower")``, as for :func:`toyviz.data.grid`.
    """
    x0, x1, y0, y1 = _check_extent(extent)
    resolution = check_int("resolution", resolution, low=2, high=1000)
    return np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)


def forward(weights, mask, points):
    """The masked circle model's forward pass in float64 numpy:
    ``softmax((relu(points @ w1 + b1) * mask) @ w2 + b2)``.

    Parameters
    ----------
    weights : dict, see :func:`check_weights`
    mask : (n,) 0/1
    points : (m, 2) float

    Returns
    -------
    (m, 2) float64 class probabilities (column 1 = inside the circle).
    """
    weights = {k: v.astype(np.float64) for k, v in check_weights("weights", weights).items()}
    mask = np.asarray(check_mask("mask", mask, weights["b1"].shape[0]), dtype=np.float64)
    points = check_array("points", points, shape=(None, 2), dtype=np.float64)
    hidden = np.maximum(points @ weights["w1"] + weights["b1"], 0.0) * mask
    logits = hidden @ weights["w2"] + weights["b2"]
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def point_loss(probabilities, labels):
    """Per-point cross-entropy ``-log(clip(p[label], EPSILON, 1 - EPSILON))``, as Keras'
    sparse categorical cross-entropy on probabilities computes it.

    Parameters
    ----------
    probabilities : (m, 2) float
    labels : (m,) int in {0, 1}

    Returns
    -------
    (m,) float64
    """
    probabilities = check_array("probabilities", probabilities, shape=(None, 2),
                                dtype=np.float64)
    labels = check_array("labels", labels, shape=(len(probabilities),), dtype=None)
    if not np.issubdtype(labels.dtype, np.integer) or (
            labels.size and (labels.min() < 0 or labels.max() > 1)):
        raise ValueError(f"labels must hold the integers 0 and 1, got {labels[:10]!r}...")
    picked = probabilities[np.arange(len(labels)), labels]
    return -np.log(np.clip(picked, EPSILON, 1 - EPSILON))


def heatmap_values(weights, mask, extent=(-2.0, 2.0, -2.0, 2.0), resolution=200):
    """What :class:`NodeToggleHeatmap` draws, computed in Python.

    Returns
    -------
    dict with ``probability: (r, r)`` P(inside), ``loss: (r, r)`` per-point loss against
    the circle label (inside iff x0**2 + x1**2 < 2/pi), both float64 with row i at
    ``ys[i]`` (``imshow(origin="lower")``), ``xs, ys: (r,)``, and ``mean_loss``, the mean
    loss over the grid points inside the data square [-1, 1]^2.
    """
    from toyviz.data import CIRCLE_RADIUS_SQUARED

    xs, ys = grid_axes(extent, resolution)
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    probabilities = forward(weights, mask, points)
    labels = (np.sum(points**2, axis=1) < CIRCLE_RADIUS_SQUARED).astype(np.int64)
    loss = point_loss(probabilities, labels)
    in_data = np.all(np.abs(points) <= 1.0, axis=1)
    r = len(xs)
    return {"probability": probabilities[:, 1].reshape(r, r), "loss": loss.reshape(r, r),
            "xs": xs, "ys": ys,
            "mean_loss": float(loss[in_data].mean()) if in_data.any() else float("nan")}


class Explorable(anywidget.AnyWidget):
    """Base of the book's explorables: the shared front end, picked by ``kind``."""

    _esm = FRONT_END
    kind = traitlets.Unicode("").tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)

class NodeToggleHeatmap(Explorable):
    """Chapter 1's explorable: 20 labelled toggles switch hidden nodes of the masked
    circle model on and off, and two heatmaps over ``extent`` show P(inside) and the
    per-point loss against the circle label, each with a viridis colour bar and the
    target circle drawn.

    The browser computes the 2 -> n -> 2 forward pass over the grid itself, so the
    widget needs no kernel once the page is built. Its state is the data, not the
    drawing: ``weights`` (lists of the float32 values), ``mask`` (list of 0/1),
    ``resolution``, ``extent`` and ``loss_max`` (top of the loss colour bar).
    :meth:`values` computes in Python what the front end draws.

    Introduced in chapter 1, §Switching nodes off.

    Parameters
    ----------
    model_or_weights : keras.Model (a masked circle model) or dict of ``w1: (2, n)``,
        ``b1: (n,)``, ``w2: (n, 2)``, ``b2: (2,)`` (see
        :func:`toyviz.models.masked_weights`)
    resolution : int, 2..1000, grid points per side
    extent : (x0, x1, y0, y1)
    mask : (n,) 0/1, default all ones
    loss_max : float > 0, losses at or above it get the top colour
    """

    weights = traitlets.Dict().tag(sync=True)
    mask = traitlets.List(traitlets.Int()).tag(sync=True)
    resolution = traitlets.Int(200).tag(sync=True)
    extent = traitlets.List(traitlets.Float(), [-2.0, 2.0, -2.0, 2.0]).tag(sync=True)
    loss_max = traitlets.Float(3.0).tag(sync=True)

    def __init__(self, model_or_weights, resolution=200, extent=(-2.0, 2.0, -2.0, 2.0),
                 mask=None, loss_max=3.0):
        if isinstance(model_or_weights, dict):
            weights = check_weights("model_or_weights", model_or_weights)
        else:
            from toyviz.models import masked_weights

            try:
                weights = masked_weights(model_or_weights)
            except TypeError as error:
                raise TypeError(
                    "model_or_weights must be a masked circle keras.Model or a dict "
                    f"of weights, got {type(model_or_weights).__name__}") from error
        n = weights["b1"].shape[0]
        mask = [1] * n if mask is None else check_mask("mask", mask, n)
        resolution = check_int("resolution", resolution, low=2, high=1000)
        extent = _check_extent(extent)
        loss_max = check_float("loss_max", loss_max, low=0, low_open=True)
        super().__init__(
            kind="node-toggle-heatmap",
            label="Switch hidden nodes on and off and watch the heatmaps change",
            weights={k: v.tolist() for k, v in weights.items()}, mask=mask,
            resolution=resolution, extent=extent, loss_max=loss_max)

    @traitlets.validate("mask")
    def _valid_mask(self, proposal):
        return check_mask("mask", proposal["value"], len(self.weights["b1"]))

    @traitlets.validate("resolution")
    def _valid_resolution(self, proposal):
        return check_int("resolution", proposal["value"], low=2, high=1000)

    @traitlets.validate("weights")
    def _valid_weights(self, proposal):
        checked = check_weights("weights", proposal["value"])
        return {k: v.tolist() for k, v in checked.items()}

    @property
    def n_nodes(self):
        """Number of hidden nodes (and toggles)."""
        return len(self.weights["b1"])

    def weight_arrays(self):
        """The weights as float32 arrays: dict of ``w1, b1, w2, b2``."""
        return check_weights("weights", self.weights)

    def __repr__(self):
        x0, x1, y0, y1 = (f"{value:g}" for value in self.extent)
        return (f"NodeToggleHeatmap({self.n_nodes} nodes, {sum(self.mask)} on; P(inside) "
                f"and loss on a {self.resolution} x {self.resolution} grid over "
                f"[{x0}, {x1}] x [{y0}, {y1}])")

    def draw(self, axes=None):
        """A static picture of what the explorable shows for the current mask, with
        matplotlib (for print, or readers without JavaScript).

        Parameters
        ----------
        axes : two matplotlib Axes, or None for a new figure

        Returns
        -------
        The matplotlib Figure.
        """
        from toyviz import plots

        if axes is None:
            _, axes = plots.subplots(1, 2, width=3.4, height=3.0)
        values = self.values()
        extent = tuple(self.extent)
        plots.heatmap(axes[0], values["probability"], extent, vmin=0, vmax=1,
                      title="P(inside the circle)", label="probability of class 1")
        plots.heatmap(axes[1], values["loss"], extent, vmin=0, vmax=self.loss_max,
                      title="Loss per point", label="cross-entropy loss")
        for ax in axes:
            plots.draw_circle(ax)
            ax.set_xlabel("$x_0$")
            ax.set_ylabel("$x_1$")
        return axes[0].figure

    def values(self, mask=None):
        """:func:`heatmap_values` for ``mask`` (default: the widget's current mask)."""
        return heatmap_values(self.weight_arrays(), self.mask if mask is None else mask,
                              self.extent, self.resolution)


CONTROL_KINDS = ("select", "slider")


class GridExplorer(Explorable):
    """Grids precomputed in Python for every combination of a few controls' options,
    picked in the browser: a select per choice (a rule, a criterion) or a slider over
    ordered options (a fraction). Every panel redraws at once when an option changes,
    and a status line shows the combination's readout (an accuracy, say).

    The grids travel as 256 colour levels each (uint8) between the panel's ``vmin`` and
    ``vmax``, which is all a colour map can show, zlib-compressed (``compress=True``; the
    browser unpacks them with its ``DecompressionStream``) and base64-encoded: 100 x 100
    grids cost at most about 13 kB per panel and combination in the page, and smooth
    surfaces with large flat regions a quarter of that.

    Introduced in chapters 2 (rules per layer type -> relevance map) and 3 (fraction
    pruned and criterion -> decision surface and accuracy).

    Parameters
    ----------
    values : float array of shape ``(*option_counts, n_panels, r, r)``; row i of a grid
        is the i-th y value (``imshow(origin="lower")``, as from :func:`toyviz.data.grid`)
    controls : list of dicts ``{"name": str, "label": str, "options": [str, ...],
        "kind": "select" | "slider"}``, one per leading axis of ``values``
    panels : list of dicts ``{"title": str, "colour_label": str}`` plus optionally
        ``"signed": bool`` (diverging vlag, limits symmetric about 0), ``"vmin"``,
        ``"vmax"`` (default: the range over all combinations)
    extent : (x0, x1, y0, y1)
    readouts : list of str, one per combination in row-major order of the controls, or
        None to show the picked options
    selection : list of option indices, default all 0
    circle_radius_squared : float or None, draw chapter 1's target circle
    points : (m, 2) float and labels (m,) int as a pair ``(x, y)``, drawn on every panel
    label : str, the accessible name of the whole explorable
    compress : bool, zlib-compress the grids (``encoding`` "deflate") or not ("uint8")
    """

    controls = traitlets.List().tag(sync=True)
    selection = traitlets.List(traitlets.Int()).tag(sync=True)
    panels = traitlets.List().tag(sync=True)
    resolution = traitlets.Int().tag(sync=True)
    extent = traitlets.List(traitlets.Float()).tag(sync=True)
    grids = traitlets.Unicode().tag(sync=True)
    encoding = traitlets.Unicode("uint8").tag(sync=True)
    readouts = traitlets.List(traitlets.Unicode()).tag(sync=True)
    overlay = traitlets.Dict().tag(sync=True)

    def __init__(self, values, controls, panels, extent=(-2.0, 2.0, -2.0, 2.0),
                 readouts=None, selection=None, circle_radius_squared=None, points=None,
                 label="Pick options and watch the heatmaps change", compress=True):
        import base64
        import zlib

        if not isinstance(compress, (bool, np.bool_)):
            raise TypeError(f"compress must be a bool, got {type(compress).__name__}")
        controls = _check_controls(controls)
        counts = tuple(len(control["options"]) for control in controls)
        values = check_array("values", values, ndim=len(counts) + 3, dtype=np.float64)
        if values.shape[:len(counts)] != counts:
            raise ValueError(f"values must have shape (*option counts {counts}, n_panels, "
                             f"r, r), got shape {values.shape}")
        n_panels, rows, columns = values.shape[len(counts):]
        if rows != columns or rows < 2:
            raise ValueError(f"values must hold square grids of side >= 2, got {rows} x "
                             f"{columns}")
        panels = _check_panels(panels, n_panels)
        combinations = int(np.prod(counts))
        values = values.reshape(combinations, n_panels, rows, rows)
        specs, levels = [], np.empty(values.shape, dtype=np.uint8)
        for p, panel in enumerate(panels):
            spec, levels[:, p] = _quantise(panel, values[:, p], f"panels[{p}]")
            specs.append(spec)
        if readouts is None:
            readouts = []
        elif isinstance(readouts, (str, bytes)) or len(readouts) != combinations or not all(
                isinstance(text, str) for text in readouts):
            raise ValueError(f"readouts must be a list of {combinations} str (one per "
                             f"combination) or None, got {readouts!r:.80}")
        selection = [0] * len(controls) if selection is None else list(selection)
        overlay = {"circle_radius_squared": None if circle_radius_squared is None else
                   check_float("circle_radius_squared", circle_radius_squared, low=0,
                               low_open=True),
                   "points": _check_points(points)}
        packed = zlib.compress(levels.tobytes(), 9) if compress else levels.tobytes()
        super().__init__(
            kind="grid-picker", label=str(label), controls=controls, panels=specs,
            resolution=rows, extent=_check_extent(extent), readouts=list(readouts),
            grids=base64.b64encode(packed).decode("ascii"),
            encoding="deflate" if compress else "uint8", overlay=overlay,
            selection=selection)

    @traitlets.validate("selection")
    def _valid_selection(self, proposal):
        selection = list(proposal["value"])
        counts = [len(control["options"]) for control in self.controls]
        if len(selection) != len(counts) or any(
                not 0 <= index < count for index, count in zip(selection, counts)):
            raise ValueError(f"selection must hold one option index per control, each "
                             f"below {counts}, got {selection}")
        return selection

    def grid_values(self, selection=None):
        """The grids drawn for ``selection`` (default: the current one): see
        :func:`decode_grids`. Returns ``(n_panels, r, r)`` float64."""
        return decode_grids(self.get_state(), self.selection if selection is None
                            else selection)

    def __repr__(self):
        options = " x ".join(str(len(control["options"])) for control in self.controls)
        panels = f"{len(self.panels)} panel{'' if len(self.panels) == 1 else 's'}"
        return (f"GridExplorer({panels}, {options} options, "
                f"{self.resolution} x {self.resolution} grids)")


def decode_grids(state, selection):
    """The grids a :class:`GridExplorer` with widget ``state`` (a dict, as embedded in a
    built page) draws for ``selection``, decoded as the browser decodes them: the
    levels unpacked (``encoding`` "deflate": zlib; "uint8" or missing: as they are), then
    ``vmin + level * (vmax - vmin) / 255``. Returns ``(n_panels, r, r)`` float64."""
    import base64
    import zlib

    counts = tuple(len(control["options"]) for control in state["controls"])
    combination = int(np.ravel_multi_index(tuple(selection), counts))
    r, panels = state["resolution"], state["panels"]
    packed = base64.b64decode(state["grids"])
    encoding = state.get("encoding", "uint8")
    if encoding not in ("uint8", "deflate"):
        raise ValueError(f"state['encoding'] must be 'uint8' or 'deflate', got {encoding!r}")
    if encoding == "deflate":
        packed = zlib.decompress(packed)
    levels = np.frombuffer(packed, dtype=np.uint8).reshape(
        -1, len(panels), r, r)[combination]
    return np.stack([panel["vmin"] + levels[p] * ((panel["vmax"] - panel["vmin"]) / 255)
                     for p, panel in enumerate(panels)])


def _check_controls(controls):
    if isinstance(controls, dict) or not isinstance(controls, (list, tuple)) or not controls:
        raise TypeError(f"controls must be a non-empty list of dicts, got {controls!r:.80}")
    checked = []
    for c, control in enumerate(controls):
        name = f"controls[{c}]"
        if not isinstance(control, dict):
            raise TypeError(f"{name} must be a dict, got {type(control).__name__}")
        options = control.get("options")
        if isinstance(options, (str, bytes)) or not isinstance(options, (list, tuple)) \
                or not options or not all(isinstance(o, str) for o in options):
            raise ValueError(f"{name}['options'] must be a non-empty list of str, "
                             f"got {options!r:.80}")
        kind = control.get("kind", "select")
        if kind not in CONTROL_KINDS:
            raise ValueError(f"{name}['kind'] must be one of {list(CONTROL_KINDS)}, "
                             f"got {kind!r}")
        for key in ("name", "label"):
            if not isinstance(control.get(key), str) or not control[key]:
                raise ValueError(f"{name}['{key}'] must be a non-empty str, "
                                 f"got {control.get(key)!r}")
        checked.append({"name": control["name"], "label": control["label"],
                        "options": list(options), "kind": kind})
    return checked


def _check_panels(panels, n_panels):
    if isinstance(panels, dict) or not isinstance(panels, (list, tuple)) \
            or len(panels) != n_panels:
        raise ValueError(f"panels must be a list of {n_panels} dicts (one per panel axis "
                         f"of values), got {panels!r:.80}")
    for p, panel in enumerate(panels):
        if not isinstance(panel, dict) or not all(
                isinstance(panel.get(key), str) for key in ("title", "colour_label")):
            raise ValueError(f"panels[{p}] must be a dict with str 'title' and "
                             f"'colour_label', got {panel!r:.80}")
    return panels


def _quantise(panel, values, name):
    """A panel's colour range and its grids as 256 levels: (spec, uint8 levels)."""
    finite = values[np.isfinite(values)]
    if panel.get("signed", False):
        limit = panel.get("vmax")
        limit = float(np.max(np.abs(finite))) if limit is None and finite.size else limit
        limit = check_float(f"{name}['vmax']", limit or 1.0, low=0, low_open=True)
        vmin, vmax, colour_map = -limit, limit, "vlag"
    else:
        vmin = panel.get("vmin", float(finite.min()) if finite.size else 0.0)
        vmax = panel.get("vmax", float(finite.max()) if finite.size else 1.0)
        vmin = check_float(f"{name}['vmin']", vmin)
        vmax = check_float(f"{name}['vmax']", vmax)
        if vmax <= vmin:
            vmax = vmin + 1.0
        colour_map = "viridis"
    levels = np.rint((np.nan_to_num(values, nan=vmin) - vmin) / (vmax - vmin) * 255)
    spec = {"title": panel["title"], "colour_label": panel["colour_label"],
            "colour_map": colour_map, "vmin": float(vmin), "vmax": float(vmax)}
    return spec, np.clip(levels, 0, 255).astype(np.uint8)


def _check_points(points):
    if points is None:
        return []
    if not isinstance(points, (tuple, list)) or len(points) != 2:
        raise TypeError("points must be a pair (x: (m, 2) float, y: (m,) int) or None, "
                        f"got {type(points).__name__}")
    x = check_array("points[0]", points[0], shape=(None, 2), dtype=np.float64)
    y = check_array("points[1]", points[1], shape=(len(x),), dtype=None)
    return [[round(float(a), 4), round(float(b), 4), int(label)]
            for (a, b), label in zip(x, y)]
