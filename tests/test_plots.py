"""Shared figure helpers."""

import subprocess
import sys

import numpy as np
import pytest

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
