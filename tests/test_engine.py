"""engine="auto": the choice between the fused numba kernels and the numpy paths follows a
measured calibration (toyviz._calibration), kept per key in memory and in the user's
cache directory, and the two engines agree within the sweep's tolerances.

The timings here are injected (``_calibration._time`` replaced), so no test depends on
how fast this machine is; each test gets its own cache directory (XDG_CACHE_HOME)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from toyviz import _calibration, _fused, exact, masking, network
from conftest import two_class_net


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    """A fresh cache directory and no choices in memory, before and after each test."""
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    _calibration.forget()
    yield home
    _calibration.forget()


def fake_timings(monkeypatch, seconds):
    """Make every timed run of ``engine`` take ``seconds[engine]`` on the sample and a
    quarter of it on the small sample; returns the log of engines timed."""
    timed = []

    def fake(run, engine, full):
        timed.append(engine)
        return seconds[engine] if full else seconds[engine] / 4

    monkeypatch.setattr(_calibration, "_time", fake)
    return timed


def spy_split_sweep(monkeypatch):
    """Record (fused, sample) of every call of masking._sweep_split."""
    calls = []
    original = masking._sweep_split

    def spy(*args, fused=True, sample=None, **kwargs):
        calls.append((fused, sample))
        return original(*args, fused=fused, sample=sample, **kwargs)

    monkeypatch.setattr(masking, "_sweep_split", spy)
    return calls


def sweep_records():
    return {key: record for key, record in _calibration.choices().items()
            if key.startswith("workload sweep")}


@pytest.mark.parametrize("faster", ["numba", "numpy"])
def test_auto_takes_the_engine_the_calibration_found_faster(monkeypatch, faster):
    timed = fake_timings(monkeypatch, {faster: 0.001, "numba" if faster == "numpy"
                                       else "numpy": 0.002})
    calls = spy_split_sweep(monkeypatch)
    net, x, y = two_class_net(1, 12)
    masking.sweep_all_masks(net, x, y, workers=2)
    whole = [fused for fused, sample in calls if sample is None]
    assert whole == [faster == "numba"]             # the sweep itself: the faster engine
    assert sorted(set(timed)) == ["numba", "numpy"]
    assert len(timed) == 4 * _calibration.MIN_ROUNDS     # decisive: stopped early
    # with the timings faked, only numba's untimed first run (loading its kernels) ran
    assert [(fused, sample) for fused, sample in calls if sample is not None] == [
        (True, (1, 2**6))]
    (record,) = sweep_records().values()
    assert record["engine"] == faster and record["source"] == "measured"
    slower = ({"numba", "numpy"} - {faster}).pop()
    assert record["seconds"] == {f"{faster} sample": 0.001, f"{faster} small": 0.00025,
                                 f"{slower} sample": 0.002, f"{slower} small": 0.0005}
    # 4096 masks, samples of 8 * 64 and 64: predicted small + (sample - small) * 4032 / 448
    assert record["predicted"][faster] == pytest.approx(0.00025 + 0.00075 * 4032 / 448,
                                                        abs=1e-4)


def test_a_close_call_is_measured_longer_and_takes_the_minimum(monkeypatch):
    # (engine, sample or small): a noisy first round, then the engines within 6 %
    first = {("numba", False): 0.004, ("numba", True): 0.010,
             ("numpy", False): 0.004, ("numpy", True): 0.011}
    second = {("numba", False): 0.001, ("numba", True): 0.0040,
              ("numpy", False): 0.001, ("numpy", True): 0.0033}
    later = {("numba", False): 0.001, ("numba", True): 0.0035,
             ("numpy", False): 0.001, ("numpy", True): 0.0035}
    timed = []

    def fake(run, engine, full):
        timed.append((engine, full))
        rounds = len(timed) // 4 + (len(timed) % 4 > 0)
        return (first if rounds == 1 else second if rounds == 2 else later)[engine, full]

    monkeypatch.setattr(_calibration, "_time", fake)
    net, x, y = two_class_net(2, 10)
    masking.sweep_all_masks(net, x, y, workers=1)
    (record,) = sweep_records().values()
    assert record["rounds"] == _calibration.MAX_ROUNDS == len(timed) / 4
    # round 1 times numba then numpy, round 2 numpy then numba, and so on
    assert [engine for engine, _ in timed[:8:2]] == ["numba", "numpy", "numpy", "numba"]
    assert record["seconds"] == {"numba small": 0.001, "numba sample": 0.0035,
                                 "numpy small": 0.001, "numpy sample": 0.0033}
    assert record["engine"] == "numpy"


def test_a_noisy_small_sample_does_not_end_the_measurement(monkeypatch):
    # numpy's small sample inflated in the first rounds: its prediction looks best,
    # but the samples themselves say numba; the rounds go on until both agree
    timed = []

    def fake(run, engine, full):
        timed.append((engine, full))
        noisy = len(timed) <= 8
        return {("numba", False): 0.001, ("numba", True): 0.004,
                ("numpy", False): 0.0055 if noisy else 0.001,
                ("numpy", True): 0.006}[engine, full]

    monkeypatch.setattr(_calibration, "_time", fake)
    net, x, y = two_class_net(9, 10)
    masking.sweep_all_masks(net, x, y, workers=1)
    (record,) = sweep_records().values()
    assert record["engine"] == "numba" and record["rounds"] == 3


def test_the_choice_is_kept_in_memory_and_on_disk_per_key(monkeypatch, cache_home):
    fake_timings(monkeypatch, {"numba": 0.002, "numpy": 0.001})
    net, x, y = two_class_net(3, 12)
    masking.sweep_all_masks(net, x, y, workers=2)
    path = cache_home / "toyviz" / "engine-calibration.json"
    assert _calibration.cache_path() == path
    saved = json.loads(path.read_text())
    assert saved["format"] == 1
    (key,) = saved["choices"]
    machine = _calibration.machine()
    for part in ("workload sweep", f"numba {machine['numba']}", f"numpy {np.__version__}",
                 machine["cpu"], machine["blas"], "workers 2", "nodes=12", "points=6",
                 "outputs=4", "node_means=False", "block=64", "direct=False"):
        assert part in key, part
    assert saved["choices"][key]["engine"] == "numpy"
    assert not list(path.parent.glob(".engine-*"))          # no temporary file left

    def must_not_measure(run, engine, full):
        raise AssertionError("measured again")

    monkeypatch.setattr(_calibration, "_time", must_not_measure)
    calls = spy_split_sweep(monkeypatch)
    masking.sweep_all_masks(net, x, y, workers=2)          # from memory
    _calibration.forget()
    masking.sweep_all_masks(net, x, y, workers=2)          # from the file
    assert calls == [(False, None), (False, None)]
    assert [record["source"] for record in sweep_records().values()] == ["disk"]
    # another key (workers, shape class) is measured, and added to the same file
    fake_timings(monkeypatch, {"numba": 0.001, "numpy": 0.002})
    masking.sweep_all_masks(net, x, y, workers=1)
    masking.sweep_all_masks(net, x, y, workers=2, node_means=True)
    assert len(json.loads(path.read_text())["choices"]) == 3
    assert [(fused, sample) for fused, sample in calls if sample is None][-2:] == [
        (True, None), (True, None)]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"format": 99, "choices": {}}',
                                     '{"format": 1, "choices": {"k": {"engine": "gpu"}}}',
                                     "\x00\xff garbage"])
def test_a_corrupt_cache_file_is_ignored_and_rewritten(monkeypatch, cache_home, content):
    path = cache_home / "toyviz" / "engine-calibration.json"
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="latin-1")
    timed = fake_timings(monkeypatch, {"numba": 0.002, "numpy": 0.001})
    net, x, y = two_class_net(4, 10)
    masking.sweep_all_masks(net, x, y)
    assert timed                                           # measured, not read
    saved = json.loads(path.read_text())
    assert [record["engine"] for record in saved["choices"].values()] == ["numpy"]


def test_an_unwritable_cache_keeps_the_choice_in_memory(monkeypatch, cache_home):
    (cache_home / "toyviz" / "engine-calibration.json").mkdir(parents=True)  # not a file
    timed = fake_timings(monkeypatch, {"numba": 0.002, "numpy": 0.001})
    net, x, y = two_class_net(5, 10)
    masking.sweep_all_masks(net, x, y)
    masking.sweep_all_masks(net, x, y)
    assert len(timed) == 4 * _calibration.MIN_ROUNDS       # measured once
    assert not list((cache_home / "toyviz").glob(".engine-*"))


def test_the_cache_follows_the_xdg_rule(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for value in ("", "relative/cache"):
        monkeypatch.setenv("XDG_CACHE_HOME", value)
        assert _calibration.cache_path() == (tmp_path / "home" / ".cache" / "toyviz"
                                             / "engine-calibration.json")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert _calibration.cache_path().parent == tmp_path / "home" / ".cache" / "toyviz"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _calibration.cache_path() == tmp_path / "xdg" / "toyviz" / "engine-calibration.json"


def test_importing_writes_nothing_and_a_cached_numpy_choice_never_loads_numba(cache_home):
    code = ("import sys, numpy as np\n"
            "import toyviz, toyviz.exact\n"
            "from toyviz import _calibration, masking, network\n"
            "import os; print(os.path.exists(_calibration.cache_path()))\n"
            "rng = np.random.default_rng(0)\n"
            "net = network.Network.from_dense([(rng.normal(size=(2, 10)), "
            "rng.normal(size=10), 'relu'), (rng.normal(size=(10, 2)), rng.normal(size=2), "
            "'softmax')])\n"
            "x, y = rng.normal(size=(40, 2)), rng.integers(0, 2, 40)\n"
            "if sys.argv[1] == 'measure':\n"
            "    _calibration._time = lambda run, engine, full: {'numba': 2.0, "
            "'numpy': 1.0}[engine] * (1 + full)\n"
            "masking.sweep_all_masks(net, x, y, workers=1)\n"
            "print('numba' in sys.modules)\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}

    def child(mode):
        return subprocess.run([sys.executable, "-c", code, mode], capture_output=True,
                              text=True, check=True, env=env).stdout.split()

    assert child("measure") == ["False", "True"]     # nothing at import; numba timed
    assert child("cached") == ["True", "False"]      # numpy from the file: no numba


def test_without_numba_auto_takes_numpy_and_keeps_it_in_memory_only(monkeypatch, cache_home):
    monkeypatch.setattr(_fused, "_STATE", {"kernels": None})     # as without numba
    timed = fake_timings(monkeypatch, {"numba": 0.001, "numpy": 0.002})
    calls = spy_split_sweep(monkeypatch)
    net, x, y = two_class_net(6, 8)
    masking.sweep_all_masks(net, x, y)
    assert not timed and calls == [(False, None)]
    assert not (cache_home / "toyviz" / "engine-calibration.json").exists()
    (record,) = sweep_records().values()
    assert record == {"engine": "numpy", "source": "numba is not available"}


def test_the_sample_times_the_call_s_own_problem():
    net, x, y = two_class_net(7, 16, n_points=50)
    a, c = masking.signed_contributions(net, x, y)
    seen = []

    def split_sweep(a_, c_, losses, gradients, project, workers, block, progress,
                    node_means, fused, sample):
        seen.append((a_ is a, c_ is c, project.shape, workers, block, node_means, fused,
                     sample, len(losses), gradients.shape))

    project = np.ones((16, 3))
    engine = _calibration.sweep_engine(a, c, project, True, 4, 128, split_sweep)
    assert engine in _calibration.ENGINES
    # one thread; one group of 8 high halves, and one high half, by 256 low halves
    assert set(seen) == {(True, True, (16, 3), 1, 128, True, fused, sample, 8 * 256,
                          (8 * 256, 3)) for fused in (True, False)
                         for sample in ((8, 256), (1, 256))}


# ------------------------------------------------------------------------- the engines agree


def reference(a, c, indices):
    """float64 loss and gradient of the masks with these indices."""
    masks = ((indices[:, None] >> np.arange(c.shape[1])) & 1).astype(np.float64)
    e = a + masks @ c.T
    return np.logaddexp(0.0, e).mean(axis=1), (0.5 * (1 + np.tanh(0.5 * e))) @ c / len(a)


@pytest.mark.parametrize("n_nodes, scale", [(1, 1.0), (9, 1.0), (13, 1.0), (8, 40.0)])
def test_the_engines_agree_with_each_other_and_the_float64_reference(n_nodes, scale):
    net, x, y = two_class_net(10 + n_nodes, n_nodes, n_points=70)
    (w1, b1, _), (w2, b2, _) = net.dense_chain()
    net = network.Network.from_dense([(w1 * scale, b1, "relu"), (w2, b2, "softmax")])
    a, c = masking.signed_contributions(net, x, y)
    loss, gradient = reference(a, c, np.arange(2**n_nodes))
    project = np.random.default_rng(n_nodes).normal(size=(n_nodes, 2))
    results = {}
    for engine in ("numba", "numpy"):
        results[engine] = masking.sweep_all_masks(net, x, y, engine=engine, workers=2,
                                                  project=project, node_means=True)
        ours_loss, ours_projected, ours_means = results[engine]
        # the sweep's tolerance: a few float32 ulps of each sum
        np.testing.assert_allclose(ours_loss, loss, atol=2e-6, rtol=1e-6)
        scale_g = 1 + np.abs(gradient).max()
        np.testing.assert_allclose(ours_projected, gradient @ project,
                                   atol=4e-6 * scale_g * np.abs(project).sum(axis=0).max())
        np.testing.assert_allclose(ours_means, gradient.mean(axis=0), atol=2e-6 * scale_g)
    np.testing.assert_allclose(results["numba"][0], results["numpy"][0], atol=4e-6, rtol=2e-6)


def test_exact_takes_the_same_kind_of_choice_and_keeps_it_in_the_problem(monkeypatch):
    rng = np.random.default_rng(8)
    a = rng.normal(size=30)
    c = rng.normal(size=(30, 9))
    choice = {}
    for faster, slower in (("numpy", "numba"), ("numba", "numpy")):
        _calibration.forget()
        monkeypatch.setenv("XDG_CACHE_HOME", os.environ["XDG_CACHE_HOME"] + faster)
        fake_timings(monkeypatch, {faster: 0.001, slower: 0.002})
        choice[faster] = exact.problem(contributions=(a, c), chunk_size=64)
        assert choice[faster].engine == faster
    (key,) = [key for key in _calibration.choices() if key.startswith("workload exact")]
    assert "nodes=9" in key and f"workers {os.cpu_count()}" in key
    assert choice["numba"].fingerprint != choice["numpy"].fingerprint
    results = {engine: exact.run(problem) for engine, problem in choice.items()}
    values = {engine: exact.table(problem) for engine, problem in choice.items()}
    assert np.abs(values["numba"] - reference(a, c, np.arange(2**9))[0]).max() <= 1e-5
    assert np.abs(values["numba"] - values["numpy"]).max() <= 1e-5
    np.testing.assert_allclose(results["numba"].shapley, results["numpy"].shapley, atol=1e-5)


def test_compiled_and_cache_loaded_kernels_agree_bit_for_bit(tmp_path):
    """The first process compiles the fused kernels and writes numba's cache; the second
    loads them from it (as cluster workers do). Both must compute the same bits, or a
    cluster's chunks differ from the local run (they did, with fast-math's ``nsz`` and
    ``reassoc`` together)."""
    pytest.importorskip("numba")
    code = ("import hashlib, numpy as np\n"
            "from toyviz import _kernels\n"
            "rng = np.random.default_rng(0)\n"
            "X = rng.uniform(0.5, 2, (16, 200)).astype(np.float32)\n"
            "Y = rng.uniform(0.5, 2, (40, 200)).astype(np.float32)\n"
            "offset = rng.normal(size=16)\n"
            "ST = rng.normal(size=(6, 200)).astype(np.float32)\n"
            "losses, sweep_losses = np.empty((16, 40)), np.empty(16 * 40)\n"
            "gradients, sums = np.empty((16 * 40, 6)), np.zeros((16, 200))\n"
            "_kernels.losses(X, Y, offset, losses)\n"
            "_kernels.sweep(X, Y, offset, ST, rng.normal(size=6), 200, sweep_losses,\n"
            "               gradients, sums)\n"
            "for array in (losses, sweep_losses, gradients, sums):\n"
            "    print(hashlib.sha256(array.tobytes()).hexdigest())\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}

    def child():
        return subprocess.run([sys.executable, "-c", code], capture_output=True,
                              text=True, check=True, env=env).stdout.split()

    compiled = child()
    assert list((tmp_path / "numba").rglob("*.nbc")), "the first process wrote no cache"
    assert child() == compiled
