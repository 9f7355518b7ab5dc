"""Shared figure helpers, so that every chapter has one look.

Colour maps are perceptually uniform (viridis for probabilities and magnitudes, a
diverging ``vlag`` centred on zero for signed quantities such as gradients and
relevance), and every heatmap carries a colour bar.

Every chapter draws with them: :doc:`/book/node_removal`, :doc:`/book/relevance` and
:doc:`/book/pruning`; each function names the section that introduces its figure.
"""

import base64
import io
import re

import IPython.display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation as matplotlib_animation
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from PIL import Image

from toyviz._checks import (describe, check_array, check_choice, check_extent, check_flag,
                             check_float, check_int, check_labels)
from toyviz.data import CIRCLE_RADIUS_SQUARED

#: Colour map for probabilities and other non-negative quantities.
SEQUENTIAL = "viridis"
#: Colour map for signed quantities, centred on zero.
DIVERGING = "vlag"
#: Default figure resolution: modest, so committed notebooks stay small. One inch of a figure
#: is ``DPI`` CSS pixels on the page, whatever the screen.
DPI = 80
#: Device pixels per CSS pixel that :func:`show` draws for: a HiDPI screen's.
PIXEL_RATIO = 2
#: Width of the book's content column at 1280x800, in CSS pixels (measured in Chromium,
#: ``tests/test_figures.py``): a figure up to this wide is shown at its natural size.
COLUMN_PX = 672
#: Least size of a tick label, in points: at ``DPI`` that is 10 CSS pixels.
TICK_POINTS = 9


def _register_seaborn_colour_maps():
    """``vlag`` (DIVERGING) is a seaborn colour map, known to matplotlib only once seaborn
    has been imported. Imported here, not at the top: seaborn takes about 2 s to import
    and only signed heatmaps need it."""
    import seaborn  # noqa: F401


def _check_axes(name, ax):
    if not isinstance(ax, Axes):
        raise TypeError(f"{name} must be a matplotlib Axes, got {describe(ax)}")
    return ax


def _check_text(name, value, optional=True):
    if not (isinstance(value, str) or optional and value is None):
        raise TypeError(f"{name} must be a str{' or None' if optional else ''}, "
                        f"got {describe(value)}")
    return value


def _check_texts(name, values, count, optional=False):
    """A list or tuple of ``count`` str (or None, when ``optional``)."""
    if optional and values is None:
        return None
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{name} must be a list of str, got {describe(values)}")
    if len(values) != count:
        raise ValueError(f"{name} must have {count} entries, got {len(values)}")
    return values


def _check_inches(name, value):
    return check_float(name, value, low=0, low_open=True, high=100)


def _check_columns(name, value):
    return check_int(name, value, low=1, high=100)


def _check_grid_values(name, values, ndim):
    """Panels of grid values: NaN draws as a blank cell, inf is refused."""
    values = check_array(name, values, ndim=ndim, dtype=np.float64, finite=False,
                         empty=False)
    if np.isinf(values).any():
        raise ValueError(f"{name} must not contain inf (NaN draws as a blank cell)")
    if values.shape[-1] != values.shape[-2]:
        raise ValueError(f"{name} must hold square (r, r) grids, got shape {values.shape}")
    return values


def heatmap(ax, values, extent=(-2.0, 2.0, -2.0, 2.0), signed=False, vmin=None, vmax=None,
            title=None, colorbar=True, label=None):
    """Draw a square grid of values with a colour bar.

    Parameters
    ----------
    ax : matplotlib Axes
    values : (r, r) float, row i is the i-th y value (``origin="lower"``), as produced by
        reshaping a :func:`toyviz.data.grid` evaluation. NaN draws as a blank cell; inf
        is refused.
    extent : (x0, x1, y0, y1)
    signed : bool
        Use the diverging map with limits symmetric about zero.
    label : str, the colour bar's label.

    Returns
    -------
    The ``AxesImage``.
    """
    _check_axes("ax", ax)
    values = _check_grid_values("values", values, 2)
    extent = check_extent("extent", extent)
    signed, colorbar = check_flag("signed", signed), check_flag("colorbar", colorbar)
    vmin = None if vmin is None else check_float("vmin", vmin)
    vmax = None if vmax is None else check_float("vmax", vmax)
    if vmin is not None and vmax is not None and vmin >= vmax:
        raise ValueError(f"vmax must be greater than vmin, got vmin={vmin}, vmax={vmax}")
    _check_text("title", title)
    _check_text("label", label)
    if signed and vmax is not None and vmax <= 0:
        raise ValueError(f"vmax must be > 0 with signed=True (the scale runs from -vmax to "
                         f"vmax), got {vmax}")
    if signed:
        _register_seaborn_colour_maps()
        limit = vmax if vmax is not None else float(np.nanmax(np.abs(values))) or 1.0
        vmin, vmax, cmap = -limit, limit, DIVERGING
    else:
        cmap = SEQUENTIAL
    image = ax.imshow(values, origin="lower", extent=extent, cmap=cmap, vmin=vmin,
                      vmax=vmax, interpolation="nearest")
    if colorbar:
        bar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        if label:
            bar.set_label(label)
    if title:
        ax.set_title(title)
    ax.set_xticks([extent[0], 0, extent[1]])
    ax.set_yticks([extent[2], 0, extent[3]])
    return image


def draw_circle(ax, radius_squared=None, **style):
    """Draw the target circle of chapter 1 (radius sqrt(2/pi) unless given)."""
    _check_axes("ax", ax)
    if radius_squared is None:
        radius_squared = CIRCLE_RADIUS_SQUARED
    radius_squared = check_float("radius_squared", radius_squared, low=0, low_open=True,
                                 high=1e30)
    theta = np.linspace(0, 2 * np.pi, 200)
    radius = np.sqrt(radius_squared)
    style = {"color": "white", "linewidth": 1.0, "linestyle": "--", **style}
    ax.plot(radius * np.cos(theta), radius * np.sin(theta), **style)


def subplots(nrows=1, ncols=1, width=3.2, height=3.0, **kwargs):
    """``plt.subplots`` with the book's panel size, resolution and tick labels.

    A row of panels wider than the content column (:data:`COLUMN_PX` at :data:`DPI`) is
    narrowed to fit it, each panel keeping its shape and the text its size, so that the
    page shows the figure at its natural size. Tick labels are at least
    :data:`TICK_POINTS` (10 CSS pixels).

    Parameters
    ----------
    width, height : inches per panel (before narrowing).
    """
    nrows, ncols = _check_columns("nrows", nrows), _check_columns("ncols", ncols)
    width, height = _check_inches("width", width), _check_inches("height", height)
    kwargs["dpi"] = check_float("dpi", kwargs.get("dpi", DPI), low=0, low_open=True,
                                high=10_000)
    kwargs.setdefault("constrained_layout", True)
    fit = min(1.0, COLUMN_PX / kwargs["dpi"] / (width * ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols * fit, height * nrows * fit),
                             **kwargs)
    default = FontProperties(size=plt.rcParams["xtick.labelsize"]).get_size_in_points()
    for ax in np.ravel(axes):
        ax.tick_params(labelsize=max(TICK_POINTS, default))
    return fig, axes


# --- Chapter 3: decision surfaces, weight scatters, training animations -------------------

def training_points(ax, x, y, size=4):
    """Draw two-class training points: class 0 white, class 1 black (both outlined), so
    they stay visible on any part of the viridis surface.

    Introduced in chapter 3, :ref:`§The trained network <trained-network>`."""
    _check_axes("ax", ax)
    x = check_array("x", x, shape=(None, 2), empty=False)
    y = check_labels("y", y, len(x), n_classes=2)
    size = check_float("size", size, low=0, low_open=True, high=1e4)
    for label, face, edge in ((0, "white", "black"), (1, "black", "white")):
        pick = y == label
        ax.scatter(x[pick, 0], x[pick, 1], s=size, c=face, edgecolors=edge,
                   linewidths=0.3, label=f"class {label}")


def decision_surface(ax, probability, x, y, extent, title=None, colorbar=True):
    """The network's probability of class 1 over a grid, with the training points on top.

    Parameters
    ----------
    ax : matplotlib Axes
    probability : (r, r) float in [0, 1], from a :func:`toyviz.data.grid` evaluation
    x : (n, 2) training points; y : (n,) labels in {0, 1}
    extent : (x0, x1, y0, y1), the grid's extent

    Introduced in chapter 3, :ref:`§The trained network <trained-network>`.
    """
    _check_axes("ax", ax)
    probability = _check_grid_values("probability", probability, 2)
    extent = check_extent("extent", extent)
    x = check_array("x", x, shape=(None, 2), empty=False)
    check_labels("y", y, len(x), n_classes=2)
    image = heatmap(ax, probability, extent=extent, vmin=0.0, vmax=1.0, title=title,
                    colorbar=colorbar, label="P(class 1)")
    training_points(ax, x, y)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("$x_0$")
    ax.set_ylabel("$x_1$")
    return image


def weight_scatter(ax, a, b, xlabel, ylabel, limits=None, size=3, title=None):
    """Scatter two equally shaped weight arrays against each other with the diagonal
    ``y = x`` dashed, and Pearson's r in the title.

    Parameters
    ----------
    a, b : arrays of one shape (flattened here)
    limits : optional ``(x0, x1, y0, y1)`` to zoom in
    Returns
    -------
    float, Pearson's correlation coefficient of a and b.

    Introduced in chapter 3, :ref:`§Weights against weights <pruning-weights>`.
    """
    _check_axes("ax", ax)
    a = check_array("a", a, dtype=np.float64).ravel()
    b = check_array("b", b, dtype=np.float64).ravel()
    if a.size < 2:
        raise ValueError(f"a must hold at least 2 weights, got {a.size}")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same size, got {a.size} and {b.size}")
    _check_text("xlabel", xlabel, optional=False)
    _check_text("ylabel", ylabel, optional=False)
    _check_text("title", title)
    limits = None if limits is None else check_extent("limits", limits)
    size = check_float("size", size, low=0, low_open=True, high=1e4)
    r = float(np.corrcoef(a, b)[0, 1])
    ax.scatter(a, b, s=size, alpha=0.5, linewidths=0, color="#3b528b")
    lo = min(a.min(), b.min())
    hi = max(a.max(), b.max())
    ax.plot([lo, hi], [lo, hi], color="0.4", linestyle="--", linewidth=0.8)
    if limits is not None:
        ax.set_xlim(limits[0], limits[1])
        ax.set_ylim(limits[2], limits[3])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title + ': ' if title else ''}r = {r:.3f}")
    return r


def surface_animation(frames, x, y, extent, titles, captions=None, width=2.4,
                      interval=300):
    """Animate decision surfaces side by side; :func:`show` displays it as an animated PNG
    (matplotlib's JavaScript player, :func:`animation_html`, shows it too).

    Parameters
    ----------
    frames : (n_frames, n_panels, r, r) float in [0, 1], P(class 1) on a grid
    x, y : training points drawn on every panel
    extent : (x0, x1, y0, y1)
    titles : n_panels str
    captions : n_frames str shown above the panels (e.g. the step), or None
    width : inches per panel
    interval : milliseconds between frames

    Returns
    -------
    matplotlib.animation.FuncAnimation (the figure is closed, so it is not also shown
    as a still).

    Introduced in chapter 3, :ref:`§Watching the three routes train <pruning-three-routes>`.
    """
    frames = _check_grid_values("frames", frames, 4)
    n_frames, n_panels = frames.shape[:2]
    x = check_array("x", x, shape=(None, 2), empty=False)
    check_labels("y", y, len(x), n_classes=2)
    extent = check_extent("extent", extent)
    _check_texts("titles", titles, n_panels)
    _check_texts("captions", captions, n_frames, optional=True)
    width = _check_inches("width", width)
    interval = check_int("interval", interval, low=1, high=60_000)
    fig, axes = plt.subplots(1, n_panels, figsize=(width * n_panels, width + 0.3), dpi=DPI,
                             constrained_layout=True, squeeze=False)
    images = []
    for ax, title, values in zip(axes[0], titles, frames[0]):
        images.append(ax.imshow(values, origin="lower", extent=extent, cmap=SEQUENTIAL,
                                vmin=0, vmax=1, interpolation="nearest"))
        training_points(ax, x, y, size=2)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(images[-1], ax=axes[0].tolist(), fraction=0.046, pad=0.02,
                 label="P(class 1)")
    heading = fig.suptitle(captions[0] if captions else "", fontsize=9)

    def update(i):
        for image, values in zip(images, frames[i]):
            image.set_data(values)
        if captions:
            heading.set_text(captions[i])
        return images

    anim = matplotlib_animation.FuncAnimation(fig, update, frames=n_frames,
                                              interval=interval, blit=False)
    plt.close(fig)
    return anim


# --- chapter 2: relevance maps ------------------------------------------------------------


def heatmap_grid(values, row_labels, column_labels, extent=(-2.0, 2.0, -2.0, 2.0),
                 width=2.6, height=2.3, colorbar_label="relevance"):
    """A grid of signed heatmaps, one colour scale (symmetric about 0) per row, with one
    colour bar per row.

    Introduced in chapter 2, :ref:`§Relevance maps of the circle model <relevance-maps>`.

    Parameters
    ----------
    values : (rows, columns, r, r) float, each panel as for :func:`heatmap`.
    row_labels : sequence of ``rows`` str (written on the left), column_labels: of
        ``columns`` str (titles of the top row).

    Returns
    -------
    The matplotlib Figure.
    """
    values = _check_grid_values("values", values, 4)
    _register_seaborn_colour_maps()
    rows, columns = values.shape[:2]
    _check_texts("row_labels", row_labels, rows)
    _check_texts("column_labels", column_labels, columns)
    extent = check_extent("extent", extent)
    width, height = _check_inches("width", width), _check_inches("height", height)
    _check_text("colorbar_label", colorbar_label, optional=False)
    fig, axes = subplots(rows, columns, width=width, height=height, squeeze=False)
    for i in range(rows):
        limit = float(np.nanmax(np.abs(values[i]))) or 1.0
        for j in range(columns):
            image = heatmap(axes[i, j], values[i, j], extent, signed=True, vmax=limit,
                            colorbar=False)
            if i == 0:
                axes[i, j].set_title(column_labels[j])
            if i < rows - 1:
                axes[i, j].set_xticklabels([])
            if j > 0:
                axes[i, j].set_yticklabels([])
        axes[i, 0].set_ylabel(row_labels[i])
        bar = fig.colorbar(image, ax=list(axes[i]), fraction=0.02, pad=0.01)
        bar.set_label(colorbar_label)
    return fig


def image_relevance_grid(images, maps, column_labels, row_labels=None, width=1.5,
                         height=1.5):
    """Small images (first column, grey) beside their relevance maps (one column per
    method), each map scaled by its own largest absolute value, on the diverging map.

    Introduced in chapter 2, :ref:`§Digits <relevance-digits>`.

    Parameters
    ----------
    images : (n, h, w) float
    maps : (n, methods, h, w) float
    column_labels : ``methods`` str; row_labels: ``n`` str or None.

    Returns
    -------
    The matplotlib Figure.
    """
    images = check_array("images", images, ndim=3, dtype=np.float64, empty=False)
    maps = check_array("maps", maps, ndim=4, dtype=np.float64, empty=False)
    _register_seaborn_colour_maps()
    n, methods = maps.shape[:2]
    if maps.shape[2:] != images.shape[1:] or len(images) != n:
        raise ValueError(f"images and maps must agree: maps must have shape (n, methods, h, "
                         f"w) = (n, methods, {images.shape[1]}, {images.shape[2]}) with "
                         f"n = {len(images)} as images, got {maps.shape}")
    _check_texts("column_labels", column_labels, methods)
    _check_texts("row_labels", row_labels, n, optional=True)
    width, height = _check_inches("width", width), _check_inches("height", height)
    fig, axes = subplots(n, methods + 1, width=width, height=height, squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i], cmap="gray_r", vmin=0, vmax=1)
        if row_labels is not None:
            axes[i, 0].set_ylabel(row_labels[i])
        for j in range(methods):
            limit = float(np.abs(maps[i, j]).max()) or 1.0
            image = axes[i, j + 1].imshow(maps[i, j] / limit, cmap=DIVERGING, vmin=-1, vmax=1)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    for j, label in enumerate(["input", *column_labels]):
        axes[0, j].set_title(label, fontsize=9)
    bar = fig.colorbar(image, ax=axes, fraction=0.02, pad=0.01)
    bar.set_label("relevance / max |relevance|")
    return fig


# --- chapter 1: node removal -------------------------------------------------------------


def mask_maps(probabilities, losses, row_labels, extent=(-2.0, 2.0, -2.0, 2.0),
              width=2.9, height=2.4, loss_max=None):
    """One row per mask: P(inside) (viridis, 0 to 1) and the per-point loss (viridis,
    0 to ``loss_max``), with the target circle on both, one colour bar per column.

    Introduced in chapter 1, :ref:`§Toggle the nodes <node-removal-toggle>`.

    Parameters
    ----------
    probabilities, losses : (rows, r, r) float, as for :func:`heatmap`.
    row_labels : ``rows`` str, written on the left.
    loss_max : float or None (the largest loss shown).

    Returns
    -------
    The matplotlib Figure.
    """
    probabilities = check_array("probabilities", probabilities, ndim=3, dtype=np.float64,
                                empty=False)
    losses = check_array("losses", losses, dtype=np.float64)
    if losses.shape != probabilities.shape:
        raise ValueError(f"probabilities and losses must have the same shape, got "
                         f"{probabilities.shape} and {losses.shape}")
    rows = len(probabilities)
    _check_texts("row_labels", row_labels, rows)
    extent = check_extent("extent", extent)
    width, height = _check_inches("width", width), _check_inches("height", height)
    if loss_max is not None:
        loss_max = check_float("loss_max", loss_max, low=0, low_open=True)
    if loss_max is None:
        loss_max = float(losses.max()) or 1.0
    fig, axes = subplots(rows, 2, width=width, height=height, squeeze=False)
    for i in range(rows):
        for j, (values, vmax) in enumerate([(probabilities[i], 1.0), (losses[i], loss_max)]):
            image = heatmap(axes[i, j], values, extent, vmin=0, vmax=vmax, colorbar=False)
            draw_circle(axes[i, j])
            if i < rows - 1:
                axes[i, j].set_xticklabels([])
            if i == 0:
                axes[i, j].set_title(["P(inside)", "loss of each point"][j])
            if i == rows - 1:
                bar = fig.colorbar(image, ax=axes[:, j], fraction=0.04, pad=0.02,
                                   location="bottom")
                bar.set_label(["P(inside)", "cross-entropy"][j])
        axes[i, 0].set_ylabel(row_labels[i])
    return fig


def density_lines(ax, grid, densities, reference=None, reference_label=None, normals=None,
                  xlabel="loss"):
    """Smoothed densities as lines, one per label, optionally with a vertical reference
    line and dashed normal curves of best fit.

    Introduced in chapter 1, :ref:`§Loss under random masks <node-removal-random-masks>`.

    Parameters
    ----------
    ax : matplotlib Axes
    grid : (g,) float
    densities : dict label -> (g,) float
    reference : float or None, drawn as a grey vertical line
    normals : dict label -> (mean, std) or None, drawn dashed in the same colour
    """
    from scipy.stats import norm  # lazy: scipy.stats takes about 1 s to import

    _check_axes("ax", ax)
    grid = check_array("grid", grid, ndim=1, dtype=np.float64, empty=False)
    if not isinstance(densities, dict) or not densities:
        raise TypeError(f"densities must be a non-empty dict label -> (g,) density, got "
                        f"{describe(densities)}")
    checked = {}
    for label, density in densities.items():
        density = check_array(f"densities[{label!r}]", density, dtype=np.float64)
        if density.shape != grid.shape:
            raise ValueError(f"densities[{label!r}] must have the shape of grid, "
                             f"{grid.shape}, got {density.shape}")
        checked[label] = density
    if normals is not None:
        if not isinstance(normals, dict):
            raise TypeError(f"normals must be None or a dict label -> (mean, std), got "
                            f"{describe(normals)}")
        normals = {label: check_array(f"normals[{label!r}]", value, shape=(2,),
                                      dtype=np.float64) for label, value in normals.items()}
        for label, (_, std) in normals.items():
            check_float(f"normals[{label!r}] std", std, low=0, low_open=True)
    if reference is not None:
        reference = check_float("reference", reference)
    _check_text("reference_label", reference_label)
    _check_text("xlabel", xlabel, optional=False)
    for index, (label, density) in enumerate(checked.items()):
        colour = f"C{index}"
        ax.plot(grid, density, color=colour, label=label)
        if normals is not None and label in normals:
            mean, std = normals[label]
            ax.plot(grid, norm.pdf(grid, mean, std), color=colour, linestyle=":",
                    linewidth=1.2)
    if reference is not None:
        ax.axvline(reference, color="grey", linewidth=1.5, label=reference_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=8, frameon=False)


def node_densities(grid, densities, labels, ncols=4, width=2.1, height=1.6,
                   xlabel="d log loss / d mask"):
    """Small multiples: one panel per node, each with a few density lines.

    Introduced in chapter 1, :ref:`§Gradients with respect to the mask <node-removal-gradients>`.

    Parameters
    ----------
    grid : (g,) float
    densities : (n_nodes, lines, g) float
    labels : ``lines`` str, the legend (shown once).

    Returns
    -------
    The matplotlib Figure.
    """
    grid = check_array("grid", grid, ndim=1, dtype=np.float64, empty=False)
    densities = check_array("densities", densities, ndim=3, dtype=np.float64, empty=False)
    n_nodes, lines = densities.shape[:2]
    if densities.shape[2] != len(grid):
        raise ValueError(f"densities must have shape (n_nodes, lines, {len(grid)}) to match "
                         f"grid, got {densities.shape}")
    _check_texts("labels", labels, lines)
    ncols = _check_columns("ncols", ncols)
    width, height = _check_inches("width", width), _check_inches("height", height)
    _check_text("xlabel", xlabel, optional=False)
    nrows = -(-n_nodes // ncols)
    fig, axes = subplots(nrows, ncols, width=width, height=height, squeeze=False,
                         sharex=True)
    for node, ax in enumerate(axes.flat):
        if node >= n_nodes:
            ax.set_visible(False)
            continue
        for line in range(lines):
            ax.plot(grid, densities[node, line], color=f"C{line}", label=labels[line])
        ax.set_title(f"node {node}", fontsize=9)
        if node // ncols == nrows - 1:
            ax.set_xlabel(xlabel, fontsize=9)
    axes.flat[0].legend(fontsize=8, frameon=False)
    return fig


def node_heatmaps(values, extent=(-2.0, 2.0, -2.0, 2.0), ncols=5, width=1.9, height=1.8,
                  label="d loss / d mask", highlight=None):
    """One small signed heatmap per node on a shared colour scale (symmetric about 0),
    with the target circle and one colour bar. Titles of ``highlight`` nodes are bold.

    Introduced in chapter 1, :ref:`§Per-point heatmaps <node-removal-heatmaps>`.

    Parameters
    ----------
    values : (n_nodes, r, r) float
    highlight : (n_nodes,) bool or None

    Returns
    -------
    The matplotlib Figure.
    """
    _register_seaborn_colour_maps()
    values = check_array("values", values, ndim=3, dtype=np.float64, empty=False)
    n_nodes = len(values)
    extent = check_extent("extent", extent)
    ncols = _check_columns("ncols", ncols)
    width, height = _check_inches("width", width), _check_inches("height", height)
    _check_text("label", label, optional=False)
    if highlight is not None:
        highlight = check_array("highlight", highlight, shape=(n_nodes,), dtype=None)
        if highlight.dtype != bool:
            raise TypeError(f"highlight must be a bool array, got {describe(highlight)}")
    limit = float(np.abs(values).max()) or 1.0
    nrows = -(-n_nodes // ncols)
    fig, axes = subplots(nrows, ncols, width=width, height=height, squeeze=False)
    for node, ax in enumerate(axes.flat):
        if node >= n_nodes:
            ax.set_visible(False)
            continue
        image = heatmap(ax, values[node], extent, signed=True, vmax=limit, colorbar=False)
        draw_circle(ax, color="black", linewidth=0.7)
        bold = highlight is not None and bool(highlight[node])
        ax.set_title(f"node {node}" + (" (bias-like)" if bold else ""), fontsize=8,
                     fontweight="bold" if bold else "normal")
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.colorbar(image, ax=axes, fraction=0.02, pad=0.01)
    bar.set_label(label)
    return fig


def animation_html(animation, default_mode="once"):
    """matplotlib's JavaScript player for ``animation`` (``to_jshtml``), as an HTML
    string, without the Font Awesome 4 stylesheet that matplotlib links from a public
    CDN: the book's theme ships Font Awesome itself, which draws the player's buttons, so
    the built site asks no other host for anything. (Each button also keeps its
    ``aria-label`` and ``title``.)

    Parameters
    ----------
    animation : matplotlib.animation.Animation, e.g. from :func:`surface_animation`
    default_mode : "once", "loop" or "reflect"

    Returns
    -------
    str, for ``IPython.display.HTML``.

    Introduced in chapter 3, :ref:`§Watching the three routes train <pruning-three-routes>`.
    """
    if not isinstance(animation, matplotlib_animation.Animation):
        raise TypeError("animation must be a matplotlib.animation.Animation, "
                        f"got {type(animation).__name__}")
    check_choice("default_mode", default_mode, ("once", "loop", "reflect"))
    html = animation.to_jshtml(default_mode=default_mode)
    return re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">\s*',
                  "", html)


#: An SVG is chosen over the HiDPI PNG when it is at most this share of the PNG's size: a
#: clear margin, so that the choice (and the output's MIME types, which the notebook checks
#: compare) does not flip with the last bits of the data on another CPU.
_SVG_SHARE = 0.8


def _png(figure, dpi, trim=True):
    """``figure`` as PNG bytes at ``dpi``, trimmed as Jupyter trims its figures (or not: the
    frames of an animation must all have the figure's size, which trimming varies with
    their text)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight" if trim else None,
                   metadata={"Software": None})
    return buffer.getvalue()


def _palette(png):
    """``png`` with at most 256 colours, dithered (Floyd-Steinberg, over a median-cut
    palette refined by k-means), when it is opaque and that is smaller: a fraction of the bytes of a smooth
    decision surface, and no difference a reader can see at 2× density."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    if image.mode not in ("RGB", "RGBA") or \
            (image.mode == "RGBA" and image.getextrema()[3][0] < 255):
        return png
    reduced = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT,
                                            dither=Image.Dither.FLOYDSTEINBERG, kmeans=3)
    buffer = io.BytesIO()
    reduced.save(buffer, format="png", optimize=True)
    return min(png, buffer.getvalue(), key=len)


def _svg(figure):
    """``figure`` as SVG text whose width and height are CSS pixels at the figure's dpi
    (matplotlib writes points, 72 to the inch, which would show it larger than its PNG).
    Images in it (a heatmap's cells) are resampled at :data:`PIXEL_RATIO` times the
    figure's dpi, as sharp as in the PNG."""
    buffer = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "toyviz"}):   # the same ids on every run
        figure.savefig(buffer, format="svg", dpi=figure.dpi * PIXEL_RATIO,
                       bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    start = text.index("<svg")
    end = text.index(">", start)
    tag = re.sub(r'\b(width|height)="([\d.]+)pt"',
                 lambda m: f'{m.group(1)}="{float(m.group(2)) * figure.dpi / 72:.2f}px"',
                 text[start:end])
    return text[:start] + tag + text[end:]


def _pixel_size(png):
    with Image.open(io.BytesIO(png)) as image:
        return image.size


class _FrameWriter(matplotlib_animation.AbstractMovieWriter):
    """Keeps each frame of an animation as an image at :data:`PIXEL_RATIO` times its
    figure's dpi (matplotlib's writer interface, with no file and no external program)."""

    def setup(self, fig, outfile, dpi=None):
        super().setup(fig, outfile, dpi)
        self.frames = []

    def grab_frame(self, **savefig_kwargs):
        png = _png(self.fig, self.fig.dpi * PIXEL_RATIO, trim=False)
        with Image.open(io.BytesIO(png)) as image:
            self.frames.append(image.convert("RGB"))

    def finish(self):
        pass


def _animated_png(animation):
    """The frames of ``animation`` at :data:`PIXEL_RATIO` times its figure's dpi as one
    animated PNG that loops, each frame shown for the animation's interval, the colours
    reduced to one palette drawn from every frame (a third of the size of full colour);
    and the figure. The loop begins with its last frame, then plays from the first: a
    still of it, which shows the first frame (the site's paused animation, a viewer
    without APNG), shows where the animation ends, not where it starts."""
    writer = _FrameWriter()
    animation.save("unused.png", writer=writer)   # the writer keeps the frames; no file
    frames = writer.frames
    width, height = frames[0].size
    sheet = Image.new("RGB", (width, height * len(frames)))   # one palette for all frames
    for index, frame in enumerate(frames):
        sheet.paste(frame, (0, height * index))
    palette = sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    frames = [frame.quantize(palette=palette, dither=Image.Dither.NONE)
              for frame in frames[-1:] + frames[:-1]]   # the same loop, from its end
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:],
                   duration=int(getattr(animation, "_interval", 200)), loop=0, optimize=True)
    return buffer.getvalue(), writer.fig


def _output(figure):
    """What :func:`show` displays for ``figure``: a PNG at :data:`PIXEL_RATIO` times the
    figure's dpi (:func:`_palette`), shown at its natural size (its width in the output's metadata, which
    myst-nb and JupyterLab honour), or an SVG with a PNG at the figure's own dpi beside it
    (JupyterLab does not draw the SVG of a notebook it does not trust), whichever serves
    the site fewer bytes (the SVG by a clear margin, ``_SVG_SHARE``). An animation is
    an animated PNG at the same ratio.

    Returns
    -------
    (data, metadata) for ``IPython.display.display(..., raw=True)``, and the matplotlib
    Figure drawn.
    """
    if isinstance(figure, matplotlib_animation.Animation):
        png, drawn = _animated_png(figure)
    else:
        png, drawn = _palette(_png(figure, figure.dpi * PIXEL_RATIO)), figure
    width, _ = _pixel_size(png)
    # the width alone: a height would stretch the image where the column is narrower
    size = {"width": round(width / PIXEL_RATIO)}
    plain = {"text/plain": f"<{type(figure).__name__}, {size['width']} px wide>"}
    if isinstance(figure, Figure):
        svg = _svg(figure)
        if len(svg.encode()) < _SVG_SHARE * len(png):
            fallback = _palette(_png(figure, figure.dpi))
            return ({"image/svg+xml": svg,
                     "image/png": base64.b64encode(fallback).decode("ascii"), **plain},
                    {"image/png": size}, drawn)
    return ({"image/png": base64.b64encode(png).decode("ascii"), **plain},
            {"image/png": size}, drawn)


def show(figure):
    """Display ``figure`` as its cell's output, sharp on HiDPI screens, then close it so that
    it is not shown twice.

    A chapter's figure is the output of its own cell: the cell's ``mystnb.figure`` metadata
    gives it a number, a name and a caption in the book, and JupyterLab shows it under the
    cell, where a glued figure would show nowhere. The output is a PNG drawn at
    :data:`PIXEL_RATIO` times the figure's dpi (reduced to a dithered palette of 256
    colours when it is opaque) and shown at its natural size, or an SVG, whichever is
    smaller; myst-nb writes either to a file of its own.

    Parameters
    ----------
    figure : matplotlib Figure, or a matplotlib Animation (such as
        :func:`surface_animation` returns), shown as an animated PNG that loops.
    """
    if not isinstance(figure, (Figure, matplotlib_animation.Animation)):
        raise TypeError(f"figure must be a matplotlib Figure or Animation, "
                        f"got {type(figure).__name__}")
    data, metadata, drawn = _output(figure)
    IPython.display.display(data, metadata=metadata, raw=True)
    plt.close(drawn)
