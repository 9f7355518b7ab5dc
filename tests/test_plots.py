"""Shared figure helpers."""

import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toyviz import plots


def test_signed_heatmap_works_in_a_fresh_process():
    # The diverging map is seaborn's "vlag": heatmap must register it itself.
    code = ("import matplotlib; matplotlib.use('Agg')\n"
            "import numpy as np\nfrom toyviz import plots\n"
            "fig, ax = plots.subplots()\n"
            "image = plots.heatmap(ax, np.arange(9.0).reshape(3, 3) - 4, signed=True)\n"
            "assert image.cmap.name == 'vlag', image.cmap.name\n"
            "assert image.get_clim() == (-4.0, 4.0), image.get_clim()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_heatmap_rejects_a_flat_array():
    fig, ax = plots.subplots()
    with pytest.raises(ValueError, match="^values must have 2 dimensions"):
        plots.heatmap(ax, np.zeros(4))


def test_show_displays_the_figure_once_and_closes_it(monkeypatch):
    import IPython.display
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    fig, _ = plots.subplots()
    plots.show(fig)
    assert shown == [fig] and not plt.fignum_exists(fig.number)
    with pytest.raises(TypeError, match="figure must be a matplotlib Figure, got ndarray"):
        plots.show(np.zeros((3, 3)))


# --- bad input, finished (issue 21, part 5) ---------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(x=st.tuples(st.floats(-5, 5), st.floats(-5, 5)).filter(lambda p: p[0] >= p[1]),
       axis=st.sampled_from(["x", "y"]))
def test_a_reversed_or_empty_extent_is_refused(x, axis):
    # a reversed axis would mirror the surface but not the points drawn on it
    extent = (*x, -1.0, 1.0) if axis == "x" else (-1.0, 1.0, *x)
    _, ax = plots.subplots()
    with pytest.raises(ValueError, match=r"extent must be \(x0, x1, y0, y1\) with x0 < x1 "
                                         "and y0 < y1"):
        plots.decision_surface(ax, np.zeros((3, 3)), np.zeros((1, 2)), np.array([0]),
                               extent)
    plt.close("all")


def test_a_signed_heatmap_needs_a_positive_vmax():
    _, ax = plots.subplots()
    with pytest.raises(ValueError, match="vmax must be > 0 with signed=True"):
        plots.heatmap(ax, np.zeros((3, 3)), signed=True, vmax=-1.0)
    plt.close("all")
