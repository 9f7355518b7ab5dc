"""The explorables' Python side: the forward pass the browser is compared with, the widget
state (weights and mask, kept apart from drawing), argument checks, and the front-end
module's numbers run under Node (the real-browser checks are in test_browser.py)."""

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from toyviz import widgets
from toyviz.data import CIRCLE_RADIUS_SQUARED

ROOT = Path(__file__).resolve().parent.parent


def random_weights(rng, n=20, scale=1.0):
    return {"w1": scale * rng.normal(size=(2, n)), "b1": scale * rng.normal(size=n),
            "w2": scale * rng.normal(size=(n, 2)), "b2": scale * rng.normal(size=2)}


def slow_forward(weights, mask, points):
    """One point and one node at a time, in float64: obviously right, slow."""
    out = []
    for x0, x1 in np.asarray(points, dtype=np.float64):
        logits = [float(weights["b2"][c]) for c in range(2)]
        for u in range(len(mask)):
            a = x0 * float(weights["w1"][0][u]) + x1 * float(weights["w1"][1][u])
            a = max(a + float(weights["b1"][u]), 0.0) * mask[u]
            for c in range(2):
                logits[c] += a * float(weights["w2"][u][c])
        top = max(logits)
        exps = [math.exp(z - top) for z in logits]
        out.append([e / sum(exps) for e in exps])
    return np.array(out)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8), scale=st.floats(0.1, 5.0))
def test_forward_matches_slow_reference(seed, n, scale):
    rng = np.random.default_rng(seed)
    weights = {k: v.astype(np.float32) for k, v in random_weights(rng, n, scale).items()}
    mask = rng.integers(0, 2, size=n).tolist()
    points = rng.uniform(-2, 2, size=(30, 2))
    fast = widgets.forward(weights, mask, points)
    assert fast.shape == (30, 2) and fast.dtype == np.float64
    np.testing.assert_allclose(fast, slow_forward(weights, mask, points), rtol=0, atol=1e-12)


def test_forward_matches_the_keras_masked_model():
    import keras

    from toyviz.models import masked_circle_model, masked_weights

    keras.utils.set_random_seed(3)
    model = masked_circle_model(20)
    rng = np.random.default_rng(3)
    points = rng.uniform(-2, 2, size=(500, 2)).astype(np.float32)
    masks = np.vstack([np.ones(20), np.zeros(20), rng.integers(0, 2, size=(3, 20))])
    for mask in masks.astype(np.float32):
        expected = model.predict([points, np.tile(mask, (500, 1))], verbose=0)
        got = widgets.forward(masked_weights(model), mask, points)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_point_loss_matches_keras():
    import keras

    rng = np.random.default_rng(4)
    probabilities = rng.dirichlet([1, 1], size=200)
    probabilities[:3] = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]
    labels = rng.integers(0, 2, size=200)
    expected = keras.losses.SparseCategoricalCrossentropy(reduction=None)(
        labels, probabilities.astype(np.float32))
    np.testing.assert_allclose(widgets.point_loss(probabilities, labels),
                               np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_heatmap_values_layout_matches_the_grid_convention():
    rng = np.random.default_rng(5)
    weights = random_weights(rng)
    mask = rng.integers(0, 2, size=20)
    values = widgets.heatmap_values(weights, mask, extent=(-2, 1, -1, 3), resolution=7)
    xs, ys = values["xs"], values["ys"]
    np.testing.assert_allclose(xs, np.linspace(-2, 1, 7))
    np.testing.assert_allclose(ys, np.linspace(-1, 3, 7))
    for i, j in [(0, 0), (2, 5), (6, 1)]:
        point = np.array([[xs[j], ys[i]]])
        probability = widgets.forward(weights, mask, point)
        assert values["probability"][i, j] == pytest.approx(probability[0, 1], abs=1e-12)
        label = int(xs[j] ** 2 + ys[i] ** 2 < CIRCLE_RADIUS_SQUARED)
        loss = widgets.point_loss(probability, np.array([label]))[0]
        assert values["loss"][i, j] == pytest.approx(loss, abs=1e-12)
    in_data = (np.abs(xs)[None, :] <= 1) & (np.abs(ys)[:, None] <= 1)
    assert values["mean_loss"] == pytest.approx(values["loss"][in_data].mean())


def test_widget_state_holds_weights_and_mask_not_drawing():
    from toyviz.models import masked_circle_model, masked_weights

    model = masked_circle_model(20)
    widget = widgets.NodeToggleHeatmap(model, resolution=50)
    state = widget.get_state()
    expected = masked_weights(model)
    for key, value in expected.items():
        np.testing.assert_array_equal(np.asarray(state["weights"][key], np.float32), value)
    assert state["mask"] == [1] * 20
    assert state["kind"] == "node-toggle-heatmap"
    assert state["resolution"] == 50 and state["extent"] == [-2.0, 2.0, -2.0, 2.0]
    assert state["_esm"] == widgets.FRONT_END.read_text()
    assert widget.n_nodes == 20
    json.dumps(state)  # the build embeds the state as JSON


def test_mask_changes_from_the_front_end_reach_python():
    rng = np.random.default_rng(6)
    widget = widgets.NodeToggleHeatmap(random_weights(rng), resolution=20)
    seen = []
    widget.observe(lambda change: seen.append(change["new"]), names="mask")
    mask = [1] * 20
    mask[3] = 0
    widget.set_state({"mask": mask})  # what a comm message from JupyterLab does
    assert widget.mask == mask and seen == [mask]
    np.testing.assert_array_equal(widget.values()["probability"],
                                  widgets.heatmap_values(random_weights(
                                      np.random.default_rng(6)), mask, resolution=20)
                                  ["probability"].astype(np.float64))


def test_bad_input_names_the_parameter():
    rng = np.random.default_rng(7)
    good = random_weights(rng)
    with pytest.raises(TypeError, match="model_or_weights"):
        widgets.NodeToggleHeatmap("model.keras")
    with pytest.raises(ValueError, match="model_or_weights must have keys"):
        widgets.NodeToggleHeatmap({"w1": good["w1"]})
    with pytest.raises(ValueError, match=r"model_or_weights\['w2'\]"):
        widgets.NodeToggleHeatmap({**good, "w2": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="resolution"):
        widgets.NodeToggleHeatmap(good, resolution=1)
    with pytest.raises(TypeError, match="resolution"):
        widgets.NodeToggleHeatmap(good, resolution=20.0)
    with pytest.raises(ValueError, match="extent"):
        widgets.NodeToggleHeatmap(good, extent=(2, -2, -2, 2))
    with pytest.raises(TypeError, match="extent"):
        widgets.NodeToggleHeatmap(good, extent=(1, 2))
    with pytest.raises(ValueError, match="mask"):
        widgets.NodeToggleHeatmap(good, mask=[1] * 19)
    with pytest.raises(ValueError, match="loss_max"):
        widgets.NodeToggleHeatmap(good, loss_max=0)
    widget = widgets.NodeToggleHeatmap(good, resolution=10)
    with pytest.raises(ValueError, match="mask must hold only 0 and 1"):
        widget.mask = [2] * 20
    with pytest.raises(ValueError, match="labels"):
        widgets.point_loss(np.full((2, 2), 0.5), np.array([0, 2]))


@pytest.mark.parametrize("name", ["viridis", "vlag"])
def test_front_end_colour_maps_are_the_books(name):
    import matplotlib
    import seaborn  # noqa: F401  (importing it registers vlag with matplotlib)

    from toyviz import plots

    assert name in (plots.SEQUENTIAL, plots.DIVERGING)

    text = widgets.FRONT_END.read_text()
    hex_string = re.search(rf'const {name.upper()}_HEX =\s*"([0-9a-f]+)"', text).group(1)
    lut = np.frombuffer(bytes.fromhex(hex_string), dtype=np.uint8).reshape(256, 3)
    expected = matplotlib.colormaps[name].resampled(256)(np.arange(256))[:, :3]
    np.testing.assert_array_equal(lut, np.round(expected * 255).astype(np.uint8))


def test_front_end_numbers_match_python_under_node(tmp_path):
    """The module's forward pass, run by Node over a sequence of masks (single toggles take
    the incremental path, bigger changes the full sum), against toyviz's Python."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; test_browser.py checks the same in Chromium")
    rng = np.random.default_rng(8)
    weights = {k: v.astype(np.float32) for k, v in random_weights(rng, scale=2.0).items()}
    masks = [rng.integers(0, 2, size=20).tolist()]
    for step in range(150):
        mask = list(masks[-1])
        for node_index in rng.choice(20, size=1 if step % 10 else 6, replace=False):
            mask[node_index] = 1 - mask[node_index]
        masks.append(mask)
    extent, resolution = (-2.0, 2.0, -1.5, 2.5), 41
    script = tmp_path / "run.mjs"
    script.write_text(f"""
import * as m from {json.dumps(widgets.FRONT_END.as_uri())};
const weights = {json.dumps({k: v.tolist() for k, v in weights.items()})};
const [x0, x1, y0, y1] = {json.dumps(list(extent))};
const xs = m.linspace(x0, x1, {resolution}), ys = m.linspace(y0, y1, {resolution});
const output = m.outputTerms(weights, xs, ys);
const probability = new Float64Array(output.points), loss = new Float64Array(output.points);
const results = {json.dumps(masks)}.map((mask) => {{
  const meanLoss = m.maskedOutput(output, mask, probability, loss);
  return {{probability: Array.from(probability), loss: Array.from(loss), meanLoss}};
}});
console.log(JSON.stringify(results));
""")
    result = subprocess.run([node, str(script)], capture_output=True, text=True, check=True)
    for mask, browser in zip(masks, json.loads(result.stdout), strict=True):
        python = widgets.heatmap_values(weights, mask, extent, resolution)
        np.testing.assert_allclose(browser["probability"], python["probability"].ravel(),
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(browser["loss"], python["loss"].ravel(), rtol=0,
                                   atol=1e-9)
        assert browser["meanLoss"] == pytest.approx(python["mean_loss"], abs=1e-12)


def test_npm_front_end_matches_the_python_anywidget():
    import anywidget

    lock = json.loads((ROOT / "package-lock.json").read_text())
    packages = lock["packages"]
    assert packages["node_modules/anywidget"]["version"] == anywidget.__version__
    assert packages["node_modules/@jupyter-widgets/html-manager"]["version"].startswith("1.")


def test_book_loads_widget_scripts_from_its_own_site():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    scripts = config["nb_ipywidgets_js"]
    assert list(scripts) == ["toyviz-widgets/require.js", "toyviz-widgets/require-paths.js",
                             "toyviz-widgets/embed-amd.js"]
    for path, attributes in scripts.items():
        assert "://" not in path and not path.startswith("//")
        assert all("://" not in value for value in attributes.values())
    assert "_build/widgets-static" in config["html_static_path"]
    makefile = (ROOT / "Makefile").read_text()
    for name in ("require.js", "embed-amd.js", "anywidget.js", "require-paths.js"):
        assert f"$(WIDGETS_STATIC)/{name}" in makefile


def test_repr_is_short_and_draw_gives_the_static_picture():
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(9)
    widget = widgets.NodeToggleHeatmap(random_weights(rng), resolution=30, mask=[1, 0] * 10)
    assert repr(widget) == ("NodeToggleHeatmap(20 nodes, 10 on; P(inside) and loss on a "
                            "30 x 30 grid over [-2, 2] x [-2, 2])")
    figure = widget.draw()
    images = [ax.images[0] for ax in figure.axes if ax.images]
    assert len(images) == 2
    np.testing.assert_allclose(images[0].get_array(), widget.values()["probability"])
    assert images[0].get_cmap().name == images[1].get_cmap().name == "viridis"


def grid_explorer(**changes):
    xs = np.linspace(-2, 2, 12)
    gx, gy = np.meshgrid(xs, xs)
    values = np.stack([[[gx * (a + 1) - gy * b, np.tanh(gy + a - b)] for b in range(4)]
                       for a in range(3)])
    arguments = dict(
        values=values,
        controls=[{"name": "rule", "label": "Rule", "options": ["a", "b", "c"]},
                  {"name": "fraction", "label": "Fraction", "kind": "slider",
                   "options": ["0", "0.25", "0.5", "0.75"]}],
        panels=[{"title": "R", "colour_label": "relevance", "signed": True},
                {"title": "P", "colour_label": "p", "vmin": -1, "vmax": 1}],
        readouts=[f"accuracy {k}" for k in range(12)])
    arguments.update(changes)
    return values, widgets.GridExplorer(**arguments)


def test_grid_explorer_decodes_within_half_a_colour_level():
    values, widget = grid_explorer()
    state = widget.get_state()
    assert state["kind"] == "grid-picker" and state["selection"] == [0, 0]
    assert [panel["colour_map"] for panel in state["panels"]] == ["vlag", "viridis"]
    limit = np.max(np.abs(values[..., 0, :, :]))
    assert state["panels"][0]["vmin"] == -limit and state["panels"][0]["vmax"] == limit
    for selection in [(0, 0), (2, 3), (1, 2)]:
        widget.selection = list(selection)
        decoded = widget.grid_values()
        for p, panel in enumerate(state["panels"]):
            half_level = (panel["vmax"] - panel["vmin"]) / 255 / 2
            assert np.max(np.abs(decoded[p] - values[selection][p])) <= half_level + 1e-12
        np.testing.assert_array_equal(decoded, widgets.decode_grids(state, selection))
    json.dumps(state)
    assert repr(widget) == "GridExplorer(2 panels, 3 x 4 options, 12 x 12 grids)"


def test_grid_explorer_bad_input_names_the_parameter():
    values, _ = grid_explorer()
    with pytest.raises(ValueError, match="values must have shape"):
        grid_explorer(values=values[:2])
    with pytest.raises(ValueError, match=r"controls\[1\]\['kind'\]"):
        grid_explorer(controls=[{"name": "r", "label": "R", "options": ["a", "b", "c"]},
                                {"name": "f", "label": "F", "options": list("abcd"),
                                 "kind": "knob"}])
    with pytest.raises(ValueError, match=r"controls\[0\]\['options'\]"):
        grid_explorer(controls=[{"name": "r", "label": "R", "options": "abc"},
                                {"name": "f", "label": "F", "options": list("abcd")}])
    with pytest.raises(ValueError, match="panels must be a list of 2"):
        grid_explorer(panels=[{"title": "R", "colour_label": "r"}])
    with pytest.raises(ValueError, match="readouts"):
        grid_explorer(readouts=["one"])
    with pytest.raises(TypeError, match="points"):
        grid_explorer(points=np.zeros((3, 2)))
    _, widget = grid_explorer()
    with pytest.raises(ValueError, match="selection"):
        widget.selection = [3, 0]


def test_grid_explorer_compressed_and_plain_grids_decode_alike():
    values, packed = grid_explorer()
    _, plain = grid_explorer(compress=False)
    assert packed.encoding == "deflate" and plain.encoding == "uint8"
    assert len(packed.grids) < len(plain.grids)
    for selection in [(0, 0), (2, 3)]:
        np.testing.assert_array_equal(packed.grid_values(selection),
                                      plain.grid_values(selection))
    legacy = {key: value for key, value in plain.get_state().items() if key != "encoding"}
    np.testing.assert_array_equal(widgets.decode_grids(legacy, (1, 2)),
                                  plain.grid_values((1, 2)))
    with pytest.raises(TypeError, match="compress must be a bool"):
        grid_explorer(compress="yes")
