"""Shared figure helpers."""

import base64
import io
import re
import struct
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

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


@pytest.fixture
def shown(monkeypatch):
    """What plots.show displays: [(data, metadata)]."""
    import IPython.display

    outputs = []
    monkeypatch.setattr(IPython.display, "display",
                        lambda data, metadata=None, raw=False: outputs.append((data, metadata)))
    return outputs


def pixel_size(encoded):
    with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
        return image.size, getattr(image, "n_frames", 1)


def svg_width_px(svg):
    return float(re.search(r'<svg[^>]*?\bwidth="([\d.]+)px"', svg).group(1))


def line_figure():
    """A few curves and no text: a few paths in an SVG (the text of axes and legends costs
    an SVG more than a 2x PNG reduced to a palette, so the book's figures come as PNGs)."""
    fig, ax = plots.subplots(width=6.0, height=3.0)
    grid = np.linspace(0, 3, 30)
    for shift in range(3):
        ax.plot(grid, np.exp(-(grid - shift) ** 2 / 0.1))
    ax.set_axis_off()
    return fig


def noise_figure():
    """Heatmaps of noise: every cell a colour of its own, far more than an SVG carries
    cheaply (its image is resampled at the PNG's resolution)."""
    fig, axes = plots.subplots(1, 2, width=3.5)
    rng = np.random.default_rng(0)
    for ax in axes:
        plots.heatmap(ax, rng.normal(size=(150, 150)), signed=True)
    return fig


@pytest.mark.parametrize("make", [line_figure, noise_figure])
def test_show_displays_the_smaller_of_a_hidpi_png_and_an_svg_once_and_closes(make, shown):
    figure = make()
    png = plots._palette(plots._png(figure, figure.dpi * plots.PIXEL_RATIO))
    svg = plots._svg(figure)
    (width, height), _ = pixel_size(base64.b64encode(png))
    plots.show(figure)
    assert not plt.fignum_exists(figure.number)
    [(data, metadata)] = shown
    # shown at its natural size: its width at the figure's own dpi (no height: a narrower
    # column would stretch it)
    assert metadata == {"image/png": {"width": round(width / plots.PIXEL_RATIO)}}
    natural = metadata["image/png"]["width"]
    assert abs(natural - figure.get_figwidth() * figure.dpi) <= 0.1 * natural
    if len(svg.encode()) < plots._SVG_SHARE * len(png):
        # the SVG, at the same CSS size, and for JupyterLab (which draws no SVG from a
        # notebook it does not trust) a PNG at the figure's own dpi
        assert data["image/svg+xml"] == svg
        assert abs(svg_width_px(svg) - natural) <= 1
        assert re.search(r'<svg[^>]*?\bheight="[\d.]+px"', svg)
        (fallback_width, _), _ = pixel_size(data["image/png"])
        assert abs(fallback_width - natural) <= 1
    else:
        assert "image/svg+xml" not in data
        assert pixel_size(data["image/png"]) == ((width, height), 1)
        assert abs(width - plots.PIXEL_RATIO * natural) <= 1


def smooth_figure():
    """A decision surface's kind of figure: a smooth colour ramp over every pixel."""
    fig, ax = plots.subplots(width=4.0, height=3.0)
    grid = np.linspace(-2, 2, 400)
    ax.imshow(np.sin(grid[None, :] * 1.3) * np.cos(grid[:, None]), cmap="RdBu_r")
    return fig


def test_an_opaque_png_is_reduced_to_a_palette_no_eye_can_tell_apart():
    figure = smooth_figure()
    png = plots._png(figure, figure.dpi * plots.PIXEL_RATIO)
    plt.close(figure)
    reduced = plots._palette(png)
    before, after = Image.open(io.BytesIO(png)), Image.open(io.BytesIO(reduced))
    assert after.mode == "P" and after.size == before.size
    assert len(reduced) < 0.7 * len(png)
    difference = np.abs(np.asarray(before.convert("RGB"), dtype=float)
                        - np.asarray(after.convert("RGB"), dtype=float))
    # dithering spreads each pixel's error over its neighbours: small on average, and
    # smaller still over a 4x4 block (what a reader sees of a 2x image)
    assert difference.mean() < 2.0
    blocks = (np.asarray(before.convert("RGB"), dtype=float)
              - np.asarray(after.convert("RGB"), dtype=float))
    h, w = (size - size % 4 for size in blocks.shape[:2])
    blocks = blocks[:h, :w].reshape(h // 4, 4, w // 4, 4, 3).mean(axis=(1, 3))
    assert np.abs(blocks).max() < 10.0


def test_a_png_with_transparency_keeps_its_colours():
    image = Image.new("RGBA", (8, 8), (255, 0, 0, 128))
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    assert plots._palette(buffer.getvalue()) == buffer.getvalue()


def test_lines_come_as_svg_and_noise_as_png(shown):
    # the choice on either side of it: a few curves are a few paths, noise is pixels
    plots.show(line_figure())
    plots.show(noise_figure())
    assert "image/svg+xml" in shown[0][0] and "image/svg+xml" not in shown[1][0]


def test_show_plays_an_animation_as_a_hidpi_animated_png(shown):
    rng = np.random.default_rng(8)
    frames = rng.uniform(0, 1, (3, 2, 6, 6))
    x, y = rng.uniform(-1, 1, (10, 2)), rng.integers(0, 2, 10)
    animation = plots.surface_animation(frames, x, y, (-1, 1, -1, 1), ["a", "b"],
                                        captions=["0", "1", "2"], width=2.0)
    plots.show(animation)
    [(data, metadata)] = shown
    assert set(data) == {"image/png", "text/plain"}
    (width, height), n_frames = pixel_size(data["image/png"])
    assert n_frames == 3
    # the loop begins with the animation's last frame (what a still shows), then the first
    png = base64.b64decode(data["image/png"])
    drawn = []
    for index in range(3):
        animation._draw_frame(index)
        drawn.append(np.asarray(Image.open(io.BytesIO(plots._png(
            animation._fig, animation._fig.dpi * plots.PIXEL_RATIO, trim=False))).convert("RGB"),
            np.float64))
    with Image.open(io.BytesIO(png)) as image:
        shown = []
        for index in range(n_frames):
            image.seek(index)
            shown.append(np.asarray(image.convert("RGB"), np.float64))
    nearest = [int(np.argmin([np.abs(frame - one).mean() for one in drawn])) for frame in shown]
    assert nearest == [2, 0, 1], nearest
    # browsers draw nothing when the first frame's size is not the image's (APNG's rule)
    first_frame = png.index(b"fcTL") + 4
    assert struct.unpack(">II", png[first_frame + 4:first_frame + 12]) == (width, height)
    assert abs(width - plots.PIXEL_RATIO * metadata["image/png"]["width"]) <= 1


def test_show_refuses_what_is_not_a_figure():
    with pytest.raises(TypeError, match="figure must be a matplotlib Figure or Animation, "
                                        "got ndarray"):
        plots.show(np.zeros((3, 3)))


@pytest.mark.parametrize("ncols, width", [(1, 3.0), (4, 3.0), (5, 2.0)])
def test_subplots_fit_the_column_with_readable_ticks(ncols, width):
    fig, axes = plots.subplots(2, ncols, width=width, height=2.0, squeeze=False)
    natural = min(width * ncols * plots.DPI, plots.COLUMN_PX)
    assert fig.get_figwidth() * plots.DPI == pytest.approx(natural)
    # panels keep their shape when a row is narrowed
    assert fig.get_figheight() / fig.get_figwidth() == pytest.approx(2 * 2.0 / (width * ncols))
    fig.canvas.draw()
    sizes = [label.get_fontsize() for ax in axes.flat
             for label in ax.get_xticklabels() + ax.get_yticklabels()]
    assert sizes and min(sizes) >= plots.TICK_POINTS
    assert plots.TICK_POINTS * plots.DPI / 72 >= 9.9   # at least 10 CSS px
    plt.close(fig)


def test_the_small_multiples_fit_the_column_with_readable_ticks(shown):
    rng = np.random.default_rng(3)
    figures = [plots.node_densities(np.linspace(-1, 1, 50), rng.uniform(0, 1, (20, 2, 50)),
                                    ["on", "off"]),
               plots.node_heatmaps(rng.normal(size=(20, 30, 30))),
               plots.mask_maps(rng.uniform(0, 1, (4, 30, 30)), rng.uniform(0, 4, (4, 30, 30)),
                               ["a", "b", "c", "d"]),
               plots.heatmap_grid(rng.normal(size=(6, 3, 30, 30)), list("abcdef"),
                                  ["x", "y", "bias"]),
               plots.image_relevance_grid(rng.uniform(0, 1, (5, 8, 8)),
                                          rng.normal(size=(5, 6, 8, 8)), list("abcdef"))]
    for figure in figures:
        figure.canvas.draw()
        ticks = [label.get_fontsize() for ax in figure.axes
                 for label in ax.get_xticklabels() + ax.get_yticklabels() if label.get_text()]
        assert not ticks or min(ticks) >= plots.TICK_POINTS
        plots.show(figure)
    widths = [metadata["image/png"]["width"] for _, metadata in shown]
    # bbox_inches="tight" may grow a figure by a few pixels of overhanging text
    assert max(widths) <= plots.COLUMN_PX * 1.02, widths


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
