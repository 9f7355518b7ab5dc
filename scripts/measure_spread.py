"""Measure how much each recorded number of a chapter moves from seed to seed, and how
much it drifts when numpy and TensorFlow use other kernels, for the ``Seeds`` tolerances
of ``toyviz.checks``.

    .venv/bin/python scripts/measure_spread.py book/node_removal.ipynb [...] [--seeds 101 102 103]

Executes each notebook once per extra seed (its ``SEED = ...`` line changed, errors
allowed: an assertion about the chapter's own seed may fail under another), and once at its
own seed with OpenBLAS forced to its Prescott kernels and oneDNN to SSE4.1
(``DRIFT_ENVIRONMENT``), as another CPU would round. It reads the record of each run, adds
the committed run at the chapter's own seed, and writes to
``tests/spreads/<notebook>.json`` the standard deviation of every number and table cell
across the seeds, and its distance from the committed value under the other kernels. Run
it after adding numbers to a chapter, and commit the result with the refreshed notebook.
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

#: Kernels another CPU might pick: by hand and here only, never in the tests or CI.
DRIFT_ENVIRONMENT = {"OPENBLAS_CORETYPE": "Prescott", "ONEDNN_MAX_CPU_ISA": "SSE41"}


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
        return checks.execute(path, allow_errors=True)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value


def measure(path, seeds):
    notebook = nbformat.read(path, as_version=4)
    own_seed = int(checks.SEED_LINE.search("\n".join(c.source for c in notebook.cells
                                              if c.cell_type == "code")).group(0).split()[-1])
    runs = {own_seed: checks.record_of(notebook)}
    if runs[own_seed] is None:
        raise SystemExit(f"{path}: the committed notebook has no record; execute it first")
    for seed in seeds:
        executed = checks.execute(path, seed=seed, allow_errors=True)
        runs[seed] = checks.record_of(executed) or {}
        print(f"{path.name}: seed {seed}: {len(runs[seed])} entries", flush=True)
    drifted = flatten(checks.record_of(executed_with(DRIFT_ENVIRONMENT, path)) or {})
    print(f"{path.name}: other kernels: {len(drifted)} values", flush=True)
    flat = {seed: flatten(entries) for seed, entries in runs.items()}
    names = flat[own_seed]
    values = {name: [flat[seed].get(name) for seed in runs] for name in names}
    drift = {name: abs(drifted[name] - value) if is_number(value)
             and is_number(drifted.get(name)) else None for name, value in names.items()}
    return {"notebook": str(path.relative_to(ROOT)), "seeds": list(runs),
            "drift_environment": DRIFT_ENVIRONMENT,
            "std": {name: spread_of(samples) for name, samples in values.items()},
            "drift": drift, "values": values}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--seeds", nargs="+", type=int, default=[101, 102, 103])
    args = parser.parse_args()
    folder = ROOT / "tests" / "spreads"
    folder.mkdir(exist_ok=True)
    for path in args.notebooks:
        result = measure(path.resolve(), args.seeds)
        target = folder / f"{path.stem}.json"
        target.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
        unmeasured = [name for name, std in result["std"].items() if std is None]
        print(f"wrote {target.relative_to(ROOT)}: {len(result['std'])} values"
              + (f", {len(unmeasured)} without a spread" if unmeasured else ""))


if __name__ == "__main__":
    main()
