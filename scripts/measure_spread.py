"""Measure how much each recorded number of a chapter moves from seed to seed, and how
much it drifts when numpy and TensorFlow use other kernels, for the ``Seeds`` tolerances
of ``toyviz.checks``.

    .venv/bin/python scripts/measure_spread.py book/node_removal.ipynb [...] [--seeds 101 102 103 104 105]

Executes each notebook once per extra seed (its ``SEED = ...`` line changed; every seed
must run to the end, as a reader changing it expects: a close call is a verdict of its
own, "too close to call", never a stop, so an error here is a failure), and once at its
own seed under each of ``DRIFT_ENVIRONMENTS`` (OpenBLAS forced to its Prescott kernels and
oneDNN to SSE4.1; OpenBLAS's Sandybridge kernels without oneDNN), as other CPUs would round.
It reads the record of each run, adds the committed run at the chapter's own seed, and
writes to ``tests/spreads/<notebook>.json`` the standard deviation of every number and table
cell across the seeds, and its largest distance from the committed value under the other
kernels. Run it after adding numbers to a chapter, and commit the result with the refreshed
notebook. ``--drift-only`` keeps the stored seed spreads and measures the drifts again.
"""

import argparse
import json
import math
import os
from pathlib import Path

import nbformat
import numpy as np

from toyviz import checks

ROOT = Path(__file__).resolve().parent.parent

#: Kernels other CPUs might pick: by hand and here only, never in the tests or CI.
DRIFT_ENVIRONMENTS = ({"OPENBLAS_CORETYPE": "Prescott", "ONEDNN_MAX_CPU_ISA": "SSE41"},
                      {"OPENBLAS_CORETYPE": "Sandybridge", "TF_ENABLE_ONEDNN_OPTS": "0"})


def flatten(entries):
    """Key -> value for every value of a record (see ``toyviz.checks.values_of``)."""
    return {key: value for key, value, _, _ in checks.values_of(entries)}


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def spread_of(samples):
    numbers = np.array([float(v) for v in samples if is_number(v)])
    if len(numbers) < 2:
        return None
    scale = np.abs(numbers).max() or 1.0  # p-values of 1e-228 would underflow when squared
    return float(np.std(numbers / scale, ddof=1) * scale)


def executed_with(environment, path):
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    try:
        return checks.execute(path)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value


def drifts(path, committed):
    """Each value's largest distance from ``committed`` (flattened) under the kernels of
    :data:`DRIFT_ENVIRONMENTS`; None where a run did not give it as a number."""
    largest = {name: None for name in committed}
    for environment in DRIFT_ENVIRONMENTS:
        drifted = flatten(checks.record_of(executed_with(environment, path)) or {})
        print(f"{path.name}: kernels {environment}: {len(drifted)} values", flush=True)
        for name, value in committed.items():
            if is_number(value) and is_number(drifted.get(name)):
                distance = abs(drifted[name] - value)
                largest[name] = max(distance, largest[name] or 0.0)
    return largest


def measure(path, seeds):
    notebook = nbformat.read(path, as_version=4)
    own_seed = int(checks.SEED_LINE.search("\n".join(c.source for c in notebook.cells
                                              if c.cell_type == "code")).group(0).split()[-1])
    runs = {own_seed: checks.record_of(notebook)}
    if runs[own_seed] is None:
        raise SystemExit(f"{path}: the committed notebook has no record; execute it first")
    for seed in seeds:
        executed = checks.execute(path, seed=seed)   # every seed runs to the end
        runs[seed] = checks.record_of(executed) or {}
        print(f"{path.name}: seed {seed}: {len(runs[seed])} entries", flush=True)
    flat = {seed: flatten(entries) for seed, entries in runs.items()}
    names = flat[own_seed]
    values = {name: [flat[seed].get(name) for seed in runs] for name in names}
    return {"notebook": str(path.relative_to(ROOT)), "seeds": list(runs),
            "drift_environments": list(DRIFT_ENVIRONMENTS),
            "std": {name: spread_of(samples) for name, samples in values.items()},
            "drift": drifts(path, names), "values": values}


def remeasure_drift(path, stored):
    """``stored`` (a spreads file's content) with its drifts measured again against the
    committed notebook's record; the seed spreads are kept."""
    committed = flatten(checks.record_of(nbformat.read(path, as_version=4)) or {})
    stored.pop("drift_environment", None)
    stored["drift_environments"] = list(DRIFT_ENVIRONMENTS)
    stored["drift"] = drifts(path, committed)
    return stored


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--seeds", nargs="+", type=int, default=[101, 102, 103, 104, 105])
    parser.add_argument("--drift-only", action="store_true",
                        help="keep the stored seed spreads, measure the drifts again")
    args = parser.parse_args()
    folder = ROOT / "tests" / "spreads"
    folder.mkdir(exist_ok=True)
    for path in args.notebooks:
        target = folder / f"{path.stem}.json"
        if args.drift_only:
            result = remeasure_drift(path.resolve(), json.loads(target.read_text()))
        else:
            result = measure(path.resolve(), args.seeds)
        target.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
        unmeasured = [name for name, std in result["std"].items() if std is None]
        print(f"wrote {target.relative_to(ROOT)}: {len(result['std'])} values"
              + (f", {len(unmeasured)} without a spread" if unmeasured else ""))


if __name__ == "__main__":
    main()
