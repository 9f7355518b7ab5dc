"""Shared figure helpers, so that every chapter has one look.

Colour maps are perceptually uniform (viridis for probabilities and magnitudes, a
diverging ``vlag`` centred on zero for signed quantities such as gradients and
relevance), and every heatmap carries a colour bar.
"""

import numpy as np

from toyviz._checks import check_array, check_float

#: Colour map for probabilities and other non-negative quantities.
SEQUENTIAL = "viridis"
#: Colour map for signed quantities, centred on zero.
DIVERGING = "vlag"
#: Default figure resolution: modest, so committed notebooks stay small.
DPI = 80


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def heatmap(ax, values, extent=(-2.0, 2.0, -2.0, 2.0), signed=False, vmin=None, vmax=None,
            title=None, colorbar=True, label=None):
    """Draw a square grid of values with a colour bar.

    Parameters
    ----------
    ax : matplotlib Axes
    values : (r, r) float, row i is the i-th y value (``origin="lower"``), as produced by
        reshaping a :func:`toyviz.data.grid` evaluation.
    extent : (x0, x1, y0, y1)
    signed : bool
        Use the diverging map with limits symmetric about zero.
    label : str, the colour bar's label.

    Returns
    -------
    The ``AxesImage``.
    """
    values = check_array("values", values, ndim=2, dtype=np.float64, finite=False)
    if signed:
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
    from toyviz.data import CIRCLE_RADIUS_SQUARED

    if radius_squared is None:
        radius_squared = CIRCLE_RADIUS_SQUARED
    radius_squared = check_float("radius_squared", radius_squared, low=0, low_open=True)
    theta = np.linspace(0, 2 * np.pi, 200)
    radius = np.sqrt(radius_squared)
    style = {"color": "white", "linewidth": 1.0, "linestyle": "--", **style}
    ax.plot(radius * np.cos(theta), radius * np.sin(theta), **style)


def subplots(nrows=1, ncols=1, width=3.2, height=3.0, **kwargs):
    """``plt.subplots`` with the book's panel size and resolution."""
    plt = _pyplot()
    kwargs.setdefault("dpi", DPI)
    kwargs.setdefault("constrained_layout", True)
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), **kwargs)
