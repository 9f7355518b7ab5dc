"""The split tables (toyviz._split) and the fused all-masks kernel (toyviz._fused) against
a float64 reference, its numpy fallback without numba, and the streaming exact reductions (toyviz.exact) against the
table functions of toyviz.landscape, resumed from saved chunks and run on a dask
LocalCluster.

Tolerances: values (loss, gradient) within 1e-5 of the float64 reference (they are
float32 logarithms and reciprocals summed in float64, about 1e-7 in practice); the
reductions equal the table functions applied to the same values to rounding: float64
sums in another order, relative 1e-12 (absolute 1e-12 of the largest entry for arrays
with entries near zero). Across processes and resumed runs: bit for bit."""

import sys
import warnings

import numpy as np
import pytest

import toyviz
from toyviz import _fused, exact, landscape, masking, network
from toyviz._split import SplitTables
from conftest import two_class_net

VALUE_TOLERANCE = 1e-5
ROUNDING = 1e-12


def contributions(n_nodes, n_points, rng, wide=False):
    """Chapter 1's form from a random 2-n-2 ReLU net on random points: a (P,), c (P, n).
    ``wide`` scales a few points so that their tables do not fit float32 (direct path)."""
    h = np.maximum(rng.uniform(-1, 1, (n_points, 2)) @ rng.normal(size=(2, n_nodes))
                   + 0.5 * rng.normal(size=n_nodes), 0.0)
    sign = np.where(rng.random(n_points) < 0.5, 1.0, -1.0)
    a = sign * rng.normal()
    c = sign[:, None] * h * rng.normal(size=n_nodes)
    if wide:
        c[:3] *= 400.0 / max(np.abs(c[:3]).sum(), 1e-9)
    return a, c


def reference(a, c, indices):
    """float64 loss and gradient of the masks with these indices."""
    masks = ((indices[:, None] >> np.arange(c.shape[1])) & 1).astype(np.float64)
    e = a + masks @ c.T
    return np.logaddexp(0.0, e).mean(axis=1), (0.5 * (1 + np.tanh(0.5 * e))) @ c / len(a)


def close(ours, table):
    ours, table = np.asarray(ours, dtype=np.float64), np.asarray(table, dtype=np.float64)
    scale = max(float(np.max(np.abs(table))), 1e-300)
    np.testing.assert_allclose(ours, table, rtol=ROUNDING, atol=ROUNDING * scale)


# --------------------------------------------------------------------------- split tables


@pytest.mark.parametrize("n_nodes, n_points, wide", [(1, 7, False), (9, 300, False),
                                                     (12, 517, True)])
def test_split_tables_give_the_float64_losses_with_either_engine(n_nodes, n_points, wide):
    rng = np.random.default_rng(100 + n_nodes)
    a, c = contributions(n_nodes, n_points, rng, wide)
    tables = SplitTables(a, c, n_nodes // 2)
    assert bool(len(tables.direct)) == wide       # wide: some points are evaluated directly
    rows = np.arange(2**tables.n_high)
    whole = reference(a, c, np.arange(2**n_nodes))[0].reshape(len(rows), -1)
    for kernel in (None, _fused.kernel("losses")):
        values = tables.mean_losses(rows, kernel)
        assert np.abs(values - whole).max() <= VALUE_TOLERANCE
        # any range of high halves, in any order, gets the whole sweep's rows bit for bit
        some = rows[::-2]
        np.testing.assert_array_equal(tables.mean_losses(some, kernel), values[some])


# --------------------------------------------------------------------------- fused sweep


@pytest.mark.parametrize("n_nodes, n_points, wide", [(1, 7, False), (9, 300, False),
                                                     (12, 517, True)])
def test_fused_sweep_matches_the_float64_reference(n_nodes, n_points, wide):
    assert _fused.available()
    rng = np.random.default_rng(n_nodes)
    a, c = contributions(n_nodes, n_points, rng, wide)
    losses = np.empty(2**n_nodes)
    gradients = np.empty((2**n_nodes, n_nodes), dtype=np.float32)
    node_sums = _fused.sweep(a, c, losses, gradients, node_means=True)
    all_loss, all_gradient = reference(a, c, np.arange(2**n_nodes))
    assert np.abs(losses - all_loss).max() <= VALUE_TOLERANCE
    assert np.abs(gradients - all_gradient).max() <= VALUE_TOLERANCE
    assert np.abs(node_sums / 2**n_nodes - all_gradient.mean(axis=0)).max() <= VALUE_TOLERANCE
    project = rng.normal(size=(n_nodes, 2))
    projected = np.empty((2**n_nodes, 2), dtype=np.float32)
    _fused.sweep(a, c, np.empty(2**n_nodes), projected, project=project)
    assert np.abs(projected - all_gradient @ project).max() <= VALUE_TOLERANCE


def test_the_fused_logarithm_is_within_two_float32_ulp():
    values = np.float32(2.0) ** np.linspace(-120, 120, 200_001, dtype=np.float32)
    values = np.concatenate([values, np.float32(1) + np.linspace(-0.3, 0.3, 10_001,
                                                                  dtype=np.float32)])
    # one point per mask: loss sum = log(X + Y) with Y = 0 and offset 0
    out = np.empty((len(values), 1))
    _fused.kernel("losses")(values[:, None].copy(), np.zeros((1, 1), np.float32),
                            np.zeros(len(values)), out)
    true = np.log(values.astype(np.float64))
    ulp = np.spacing(np.abs(true).astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(out[:, 0] - true) <= 2 * ulp)


def test_without_numba_it_warns_and_the_numpy_path_gives_the_same(monkeypatch):
    rng = np.random.default_rng(5)
    a, c = contributions(8, 90, rng)
    grid = np.linspace(0, 3, 61)
    with_numba = exact.run(exact.problem(contributions=(a, c), grid=grid, chunk_size=32))
    monkeypatch.setitem(sys.modules, "numba", None)      # import numba -> ImportError
    monkeypatch.delitem(sys.modules, "toyviz._kernels", raising=False)
    monkeypatch.delattr(toyviz, "_kernels", raising=False)
    monkeypatch.setattr(_fused, "_STATE", {})
    with pytest.warns(_fused.NumbaMissingWarning, match="numba is not available"):
        assert not _fused.available()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # the notice is given once
        assert not _fused.available()
        problem = exact.problem(contributions=(a, c), grid=grid, chunk_size=32)
        without = exact.run(problem)
    values = exact.table(problem)
    assert np.abs(values - reference(a, c, np.arange(2**8))[0]).max() <= VALUE_TOLERANCE
    for name in ("shapley", "banzhaf"):
        close(getattr(without, name), getattr(landscape, f"{name}_values")(values))
        np.testing.assert_allclose(getattr(without, name), getattr(with_numba, name),
                                   atol=VALUE_TOLERANCE)
    with pytest.raises(RuntimeError, match="numba is not available"):
        _fused.kernel("losses")


# --------------------------------------------------------------------------- exact reductions


def check_against_tables(result, values, grid, p_values=(None, 0.25, 0.5, 0.75)):
    n = result.n_nodes
    close(result.shapley, landscape.shapley_values(values))
    close(result.banzhaf, landscape.banzhaf_values(values))
    close(result.complement_correlation, landscape.complement_correlation(values))
    table = landscape.best_and_worst_by_size(values)
    for name in ("size", "n_masks", "best_index", "best", "worst_index", "worst"):
        np.testing.assert_array_equal(result.by_size[name], table[name], err_msg=name)
    close(result.by_size["mean"], table["mean"])
    assert result.full == values[-1] and result.empty == values[0]
    for p in p_values[1:]:
        close(result.moments(p), landscape.mask_moments(values, p))
    for p in p_values:
        weights = None if p is None else landscape.mask_probabilities(n, p)
        close(result.density(p), landscape.gaussian_density(values, grid, 0.03, weights))


@pytest.mark.parametrize("n_nodes, n_points, value, chunk_size",
                         [(1, 5, "loss", 1), (2, 9, "log_loss", 1), (7, 40, "loss", 16),
                          (11, 64, "log_loss", 300), (14, 33, "loss", 2**20)])
def test_streaming_reductions_equal_the_table_functions(n_nodes, n_points, value, chunk_size):
    rng = np.random.default_rng(100 + n_nodes)
    a, c = contributions(n_nodes, n_points, rng, wide=n_nodes == 7)
    grid = np.linspace(-3, 3.5, 131)
    problem = exact.problem(contributions=(a, c), value=value, grid=grid,
                            chunk_size=chunk_size)
    values = exact.table(problem)
    expected = reference(a, c, np.arange(2**n_nodes))[0]
    assert np.abs(values - (np.log(expected) if value == "log_loss" else expected)).max() \
        <= VALUE_TOLERANCE
    check_against_tables(exact.run(problem), values, grid)


def test_eighteen_nodes_in_chunks_equal_the_table_functions():
    rng = np.random.default_rng(20)
    a, c = contributions(18, 24, rng)
    grid = np.linspace(0, 3.5, 351)
    problem = exact.problem(contributions=(a, c), grid=grid, chunk_size=2**16)
    assert problem.n_chunks == 4
    check_against_tables(exact.run(problem), exact.table(problem), grid, (None, 0.5))


def test_any_hidden_layer_through_the_general_engine():
    rng = np.random.default_rng(3)
    layers = [(rng.normal(size=(2, 6)), rng.normal(size=6), "tanh"),
              (rng.normal(size=(6, 5)), rng.normal(size=5), "relu"),
              (rng.normal(size=(5, 3)), rng.normal(size=3), "softmax")]
    net = network.Network.from_dense(layers)
    x = rng.uniform(-1, 1, (50, 2))
    y = rng.integers(0, 3, 50)
    grid = np.linspace(0, 4, 81)
    problem = exact.problem(net, x, y, layers="hidden0", grid=grid, chunk_size=8)
    assert not problem.fast and problem.n_nodes == 6
    values = exact.table(problem)
    swept, _ = masking.sweep_all_masks(net, x, y, layers="hidden0")
    np.testing.assert_allclose(values, swept, rtol=1e-12)
    check_against_tables(exact.run(problem), values, grid)


def test_chapter_one_case_from_a_network_uses_the_fused_path():
    net, x, y = two_class_net(np.random.default_rng(4), 10, 80)
    problem = exact.problem(net, x, y)
    assert problem.fast
    swept, _ = masking.sweep_all_masks(net, x, y)
    assert np.abs(exact.table(problem) - swept).max() <= VALUE_TOLERANCE


# --------------------------------------------------------------------------- running


def same(first, second):
    for name in ("shapley", "banzhaf", "complement_correlation", "full", "empty"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name), name)
    for name, value in first.by_size.items():
        np.testing.assert_array_equal(value, second.by_size[name], name)
    np.testing.assert_array_equal(first.density(0.5), second.density(0.5))
    assert first.moments(0.3) == second.moments(0.3)


def test_an_interrupted_run_resumes_from_its_saved_chunks(tmp_path, monkeypatch):
    rng = np.random.default_rng(9)
    a, c = contributions(10, 50, rng)
    problem = exact.problem(contributions=(a, c), grid=np.linspace(0, 3, 31), chunk_size=128)
    assert problem.n_chunks == 8
    whole = exact.run(problem)
    computed = []
    original = exact.chunk

    def interrupted(problem, number):
        if len(computed) == 3:
            raise KeyboardInterrupt
        computed.append(number)
        return original(problem, number)

    monkeypatch.setattr(exact, "chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        exact.run(problem, folder=tmp_path / "chunks")
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == [
        "chunk-000000.npz", "chunk-000001.npz", "chunk-000002.npz"]
    computed.clear()
    monkeypatch.setattr(exact, "chunk", original)
    counted = []
    monkeypatch.setattr(exact, "chunk", lambda p, n: counted.append(n) or original(p, n))
    resumed = exact.run(problem, folder=tmp_path / "chunks")
    assert counted == [3, 4, 5, 6, 7]
    same(resumed, whole)
    with np.load(tmp_path / "chunks" / "chunk-000004.npz", allow_pickle=False) as saved:
        assert "powers" in saved.files
    other = exact.problem(contributions=(a, 2 * c), chunk_size=128)
    with pytest.raises(ValueError, match="folder .* another problem"):
        exact.run(other, folder=tmp_path / "chunks")


def test_a_local_cluster_gives_the_local_result_bit_for_bit(tmp_path):
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(11)
    a, c = contributions(12, 100, rng)
    problem = exact.problem(contributions=(a, c), value="log_loss",
                            grid=np.linspace(-3, 2, 51), chunk_size=512)
    assert problem.n_chunks == 8
    local = exact.run(problem)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = exact.run(problem, client=client, folder=tmp_path / "chunks")
    same(remote, local)
    assert len(list((tmp_path / "chunks").glob("chunk-*.npz"))) == 8


@pytest.mark.parametrize("kwargs, error, match", [
    ({"value": "accuracy"}, ValueError, "value must be one of"),
    ({"grid": [1.0, 0.5]}, ValueError, "grid must be increasing"),
    ({"bandwidth": 0}, ValueError, "bandwidth"),
    ({"chunk_size": 0}, ValueError, "chunk_size"),
    ({"contributions": "ac"}, TypeError, "contributions must be a pair"),
    ({"contributions": (np.zeros(3), np.zeros((4, 2)))}, ValueError, "contributions a"),
    ({"contributions": (np.zeros(3), np.zeros((3, 37)))}, ValueError, "1 to 36 masked nodes"),
])
def test_problem_rejects_bad_input(kwargs, error, match):
    kwargs.setdefault("contributions", (np.zeros(3), np.ones((3, 2))))
    with pytest.raises(error, match=match):
        exact.problem(**kwargs)


def test_run_and_chunk_reject_bad_input(tmp_path):
    problem = exact.problem(contributions=(np.zeros(3), np.ones((3, 2))))
    with pytest.raises(TypeError, match="problem must be"):
        exact.run("problem")
    with pytest.raises(ValueError, match="number"):
        exact.chunk(problem, problem.n_chunks)
    with pytest.raises(TypeError, match="folder must be a path"):
        exact.run(problem, folder=3)
    with pytest.raises(ValueError, match="needs a grid"):
        exact.run(problem).density(0.5)


def test_sweep_all_masks_fused_and_numpy_paths_agree(monkeypatch):
    net, x, y = two_class_net(np.random.default_rng(21), 11, 150)
    project = np.full((11, 1), 1 / 11)
    fused = masking.sweep_all_masks(net, x, y, project=project, node_means=True, workers=1,
                                    engine="numba")
    monkeypatch.setattr(_fused, "_STATE", {"kernels": None})      # as without numba
    plain = masking.sweep_all_masks(net, x, y, project=project, node_means=True)
    a, c = masking.signed_contributions(net, x, y)
    loss, gradient = reference(a, c, np.arange(2**11))
    for ours in (fused, plain):
        assert np.abs(ours[0] - loss).max() <= 2e-6
        assert np.abs(ours[1] - gradient @ project).max() <= 2e-6
        assert np.abs(ours[2] - gradient.mean(axis=0)).max() <= 2e-6
