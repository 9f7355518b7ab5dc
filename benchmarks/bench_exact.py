"""Exact landscapes at speed (issue 15), measured in one run.

On trained masked circle models (seed 17, 1000 training and 1000 test points):

* all 2**20 masks of the 20-node model, loss and gradient, with the fused numba kernel
  (``masking.sweep_all_masks(engine="numba")``), with the numpy path (``engine="numpy"``)
  and as ``engine="auto"`` chooses, in turn, best of three each; all three checked against
  the float64 engine (``masking.mask_losses``) on 2000 masks. ``auto`` calibrates in this
  run (a fresh cache directory), so the engine it picks, the calibration's cost and the
  two engines' times all come from the same run; it fails its target if its pick is more
  than 10 % slower than the other engine;
* exact Shapley values (and the other streamed reductions, with densities on chapter 1's
  grid) over all 2**24 masks of a 24-node model, in a fresh process that loads no
  TensorFlow, with its time and peak memory;
* one chunk each of 28- and 32-node models, timed per core, extrapolated to all masks;
* the 20-node model's exact reductions through a 2-worker dask ``LocalCluster``, compared
  with the local run bit for bit;
* what numba adds to a process's memory: chapter 1's sweep (projected gradients and node
  means, as the chapter calls it) in two fresh processes, with and without numba: the
  peak resident memory, and the anonymous memory after the sweep (what the system cannot
  reclaim; Binder's bound for kernel and server is on it).

Times are wall-clock (best of the runs) and CPU seconds; the machine may be shared, so the
load average is printed beside them. The last line printed is one JSON object; the exit
status is 1 when a target is missed.

Run: ``.venv/bin/python benchmarks/bench_exact.py``
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import toyviz  # noqa: E402
from toyviz import _calibration, _fused, data, exact, masking, models, network  # noqa: E402

SEED = 17
SWEEP_RUNS = 3
N_CHECK = 2000
TOLERANCE = 1e-5
LOSS_GRID = (0.0, 3.5, 701)          # chapter 1's loss grid


def timed(function, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def child(code, *args):
    """Run ``code`` in a fresh Python; it prints one JSON line last."""
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                         text=True, check=False, env={**os.environ, "TQDM_DISABLE": "1"})
    if run.returncode:
        raise RuntimeError(f"the child process failed:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])


# A child's peak: VmHWM, which starts afresh at exec (getrusage's ru_maxrss would carry
# the parent's peak over).
PEAK = """
def status_mb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024
def peak_mb():
    return status_mb("VmHWM")
"""

EXACT_CHILD = PEAK + """
import json, sys, time
import numpy as np
from toyviz import exact
saved = np.load(sys.argv[1], allow_pickle=False)
wall, cpu = time.perf_counter(), time.process_time()
landscape = exact.exact_landscape(contributions=(saved["a"], saved["c"]),
                                  grid=saved["grid"])
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
np.savez(sys.argv[2], shapley=landscape.shapley, banzhaf=landscape.banzhaf)
print(json.dumps({"seconds": wall, "cpu_seconds": cpu,
                  "efficiency_error": abs(landscape.shapley.sum()
                                          - (landscape.full - landscape.empty)),
                  "peak_rss_mb": peak_mb()}))
"""

MEMORY_CHILD = PEAK + """
import json, sys
import numpy as np
from toyviz import masking, network
saved = np.load(sys.argv[1], allow_pickle=False)
net = network.Network.from_dense([(saved["w1"], saved["b1"], "relu"),
                                  (saved["w2"], saved["b2"], "softmax")])
before = peak_mb()
result = masking.sweep_all_masks(net, saved["x"], saved["y"],
                                 project=np.full((20, 1), 1 / 20), node_means=True,
                                 engine=sys.argv[2])
print(json.dumps({"before_mb": before, "peak_rss_mb": peak_mb(),
                  "anonymous_mb": status_mb("RssAnon")}))
"""


def load():
    return os.getloadavg()[0]


def main():
    rng = toyviz.set_seed(SEED)
    x_train, y_train = data.circle(1000, rng)
    x_test, y_test = data.circle(1000, rng)
    nets = {}
    for n_nodes in (20, 24, 28, 32):
        model = models.train_circle_model(x_train, y_train, n_nodes=n_nodes)
        nets[n_nodes] = network.read(model)
    print(f"trained 2-n-2 circle models, n = 20, 24, 28, 32 (seed {SEED}, 1000 training "
          f"points, 1000 test points); numba {_fused.available()}")

    # ---------------------------------------------------------------- 2**20 sweep
    net20 = nets[20]
    indices = rng.integers(0, 2**20, N_CHECK)
    indices[:2] = 0, 2**20 - 1
    check_loss, check_gradient = masking.mask_losses(
        net20, x_test, y_test, masking.masks_from_indices(indices, 20))
    masking.sweep_all_masks(net20, x_test, y_test, engine="numba")   # compiles or loads
    _calibration.forget()
    _, auto_first, _ = timed(masking.sweep_all_masks, net20, x_test, y_test)  # calibrates
    (choice,) = [record for key, record in _calibration.choices().items()
                 if key.startswith("workload sweep")]
    runs = {"numba": [], "numpy": [], "auto": []}
    results = {}
    for _ in range(SWEEP_RUNS):
        for engine in runs:
            results[engine], wall, cpu = timed(masking.sweep_all_masks, net20, x_test,
                                               y_test, engine=engine)
            runs[engine].append((wall, cpu, load()))
    errors = {engine: max(float(np.abs(loss[indices] - check_loss).max()),
                          float(np.abs(gradient[indices] - check_gradient).max()))
              for engine, (loss, gradient) in results.items()}
    del results
    best = {engine: min(run[0] for run in engine_runs) for engine, engine_runs in runs.items()}
    fused_best, numpy_best, auto_best = best["numba"], best["numpy"], best["auto"]
    same_run_ratios = [n[0] / f[0] for f, n in zip(runs["numba"], runs["numpy"])]
    names = {"numba": "fused (numba)", "numpy": "numpy path", "auto": "auto"}
    for engine, engine_runs in runs.items():
        print(f"2**20 masks, loss and gradient, {names[engine]}: wall "
              f"{', '.join(f'{r[0]:.2f}' for r in engine_runs)} s (best {best[engine]:.2f}), "
              f"CPU {', '.join(f'{r[1]:.2f}' for r in engine_runs)} s, load "
              f"{', '.join(f'{r[2]:.1f}' for r in engine_runs)}; max difference from the "
              f"float64 engine {errors[engine]:.1e}")
    print(f"numpy path / fused, run by run: {', '.join(f'{r:.2f}' for r in same_run_ratios)}; "
          f"best against best {numpy_best / fused_best:.2f}x")
    faster = min(("numba", "numpy"), key=best.get)
    other = "numpy" if choice["engine"] == "numba" else "numba"
    auto_vs_other = auto_best / best[other]           # what auto gives against the rest
    calibration = choice["cost_s"]
    print(f"auto picks {choice['engine']} (the faster in this run: {faster}): "
          f"{best[choice['engine']]:.2f} s against {best[other]:.2f} s for {other}"
          f"; auto's own best {auto_best:.2f} s ({auto_vs_other:.2f}x {other}); the "
          f"calibration took "
          f"{calibration * 1000:.0f} ms in {choice['rounds']} rounds "
          f"({calibration / auto_best:.1%} of auto's sweep, "
          f"{calibration / numpy_best:.1%} of the numpy path's), after "
          f"{choice['warmup_s'] * 1000:.0f} ms for numba's untimed first run; the first auto "
          f"call took {auto_first:.2f} s; predicted on one thread: "
          f"{', '.join(f'{e} {t:.2f} s' for e, t in choice['predicted'].items())}")

    # ---------------------------------------------------------------- 24 nodes, exact
    with tempfile.TemporaryDirectory() as folder:
        a, c = masking.signed_contributions(nets[24], x_test, y_test)
        np.savez(Path(folder) / "in.npz", a=a, c=c, grid=np.linspace(*LOSS_GRID))
        exact24 = child(EXACT_CHILD, str(Path(folder) / "in.npz"),
                        str(Path(folder) / "out.npz"))
    print(f"exact Shapley (and Banzhaf, best/worst by size, moments, densities, complement "
          f"correlation) over all 2**24 masks of the 24-node layer: {exact24['seconds']:.1f} s "
          f"wall, {exact24['cpu_seconds']:.1f} s CPU, peak memory {exact24['peak_rss_mb']:.0f} "
          f"MiB (a fresh process without TensorFlow); Shapley efficiency error "
          f"{exact24['efficiency_error']:.1e}")

    # ---------------------------------------------------------------- 28, 32: one chunk
    per_core = {}
    for n_nodes in (28, 32):
        a, c = masking.signed_contributions(nets[n_nodes], x_test, y_test)
        problem = exact.problem(contributions=(a, c), grid=np.linspace(*LOSS_GRID))
        exact.chunk(problem, 0)                                # warm: tables, kernels
        _, wall, cpu = timed(exact.chunk, problem, 1)
        masks = 2 * problem.pairs * 2**problem.n_low
        per_core[n_nodes] = cpu * problem.n_chunks
        print(f"{n_nodes} nodes: one chunk of {masks:,} masks in {wall:.2f} s wall, "
              f"{cpu:.2f} s CPU; all {problem.n_chunks:,} chunks: about "
              f"{per_core[n_nodes] / 3600:.2f} hours on one core, "
              f"{per_core[n_nodes] / 3600 / 2:.2f} on these 2")

    # ---------------------------------------------------------------- LocalCluster
    from distributed import Client, LocalCluster

    a, c = masking.signed_contributions(net20, x_test, y_test)
    problem = exact.problem(contributions=(a, c), grid=np.linspace(*LOSS_GRID),
                            chunk_size=2**17)
    local, local_wall, _ = timed(exact.run, problem)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        remote, remote_wall, _ = timed(exact.run, problem, client=client)
    cluster_exact = all(
        np.array_equal(getattr(local, name), getattr(remote, name))
        for name in ("shapley", "banzhaf", "complement_correlation")) and all(
        np.array_equal(value, remote.by_size[name]) for name, value in local.by_size.items()
    ) and np.array_equal(local.density(0.5), remote.density(0.5))
    print(f"20 nodes in {problem.n_chunks} chunks: local {local_wall:.1f} s, 2-worker "
          f"LocalCluster {remote_wall:.1f} s; identical results: {cluster_exact}")

    # ---------------------------------------------------------------- numba's memory
    with tempfile.TemporaryDirectory() as folder:
        (w1, b1, _), (w2, b2, _) = net20.dense_chain("the memory benchmark")
        path = Path(folder) / "net.npz"
        np.savez(path, w1=w1, b1=b1, w2=w2, b2=b2, x=x_test, y=y_test)
        memory = {path_name: child(MEMORY_CHILD, str(path), path_name)
                  for path_name in ("numba", "numpy")}
    numba_adds = memory["numba"]["peak_rss_mb"] - memory["numpy"]["peak_rss_mb"]
    numba_anonymous = memory["numba"]["anonymous_mb"] - memory["numpy"]["anonymous_mb"]
    print(f"chapter 1's sweep in a fresh process: peak {memory['numba']['peak_rss_mb']:.0f} "
          f"MiB with numba, {memory['numpy']['peak_rss_mb']:.0f} MiB without: numba adds "
          f"{numba_adds:.0f} MiB resident, of which {numba_anonymous:.0f} MiB anonymous (the "
          f"rest is library code mapped from files, which the system can reclaim; Binder's "
          f"bound is on anonymous memory)")

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    targets = {
        "fused 2**20 sweep <= 0.6 s": fused_best <= 0.6,
        ">= 2x the numpy path": numpy_best / fused_best >= 2,
        "auto's pick within 10 % of the other engine": auto_vs_other <= 1.10,
        "calibration < 10 % of auto's sweep": calibration < 0.10 * auto_best,
        "matches the float64 engine to 1e-5": max(errors.values()) <= TOLERANCE,
        "exact Shapley, 24 nodes, <= 30 s": exact24["seconds"] <= 30,
        "its peak memory < 1 GB": exact24["peak_rss_mb"] < 1024,
        "LocalCluster = local, exactly": cluster_exact,
    }
    print("targets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}"
                                  for name, ok in targets.items()))
    print(json.dumps({
        "fused_sweep_s": round(fused_best, 3), "numpy_sweep_s": round(numpy_best, 3),
        "speedup_vs_numpy": round(numpy_best / fused_best, 2),
        "fused_sweep_cpu_s": round(min(r[1] for r in runs["numba"]), 2),
        "numpy_sweep_cpu_s": round(min(r[1] for r in runs["numpy"]), 2),
        "auto_engine": choice["engine"], "auto_sweep_s": round(auto_best, 3),
        "auto_pick_vs_other": round(auto_vs_other, 3),
        "calibration_ms": round(calibration * 1000, 1),
        "calibration_rounds": choice["rounds"],
        "calibration_share_of_sweep": round(calibration / auto_best, 3),
        "auto_first_call_s": round(auto_first, 3),
        "max_error": float(f"{max(errors.values()):.2e}"),
        "exact24_s": round(exact24["seconds"], 1),
        "exact24_peak_mb": round(exact24["peak_rss_mb"]),
        "exact28_core_hours": round(per_core[28] / 3600, 3),
        "exact32_core_hours": round(per_core[32] / 3600, 2),
        "cluster_matches": cluster_exact, "numba_adds_mb": round(numba_adds),
        "numba_adds_anonymous_mb": round(numba_anonymous),
        "load_average": round(load(), 1), "peak_rss_mb": round(peak),
    }))
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as cache:
        # auto measures in this run, and neither it nor the children touch the user's cache
        os.environ["XDG_CACHE_HOME"] = cache
        sys.exit(main())
