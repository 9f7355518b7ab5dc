"""Speed of toyviz.masking against the essay's way, measured in the same run.

On one trained masked circle model and a fixed 1000-point test set:

* the reference: one Keras call per mask under a GradientTape
  (``masking.reference_mask_losses``), timed on a few masks;
* the batched engine (``masking.mask_losses``) on many random masks;
* a plain numpy version (``logaddexp`` for the loss, a sigmoid for the gradient, float64),
  timed on a slice of the masks and scaled up to all of them;
* the full sweep of all 2**20 masks with loss and gradient (``masking.sweep_all_masks``),
  best of three runs.

Every fast result is checked against the reference (<= 1e-5). The last line printed is one
JSON object: full_sweep_s, masks_per_s, reference_masks_per_s, speedup, peak_rss_mb.

Run: ``.venv/bin/python benchmarks/bench_masks.py``
"""

import json
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import toyviz  # noqa: E402
from toyviz import data, masking, models, network  # noqa: E402

SEED = 17
N_REFERENCE = 60          # masks for the slow reference
N_ENGINE = 20_000         # masks for the batched engine
N_PLAIN = 2**13           # masks for the plain numpy version
SWEEP_RUNS = 3
TOLERANCE = 1e-5


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def plain_numpy(model, x, y, masks):
    """The straightforward numpy version: logits difference by matrix product, then
    ``logaddexp`` for the loss and a sigmoid for the gradient, in float64."""
    a, c = masking.signed_contributions(model, x, y)
    losses, gradients = [], []
    for start in range(0, len(masks), 1024):        # chunks, to bound memory
        e = a + masks[start:start + 1024].astype(np.float64) @ c.T
        losses.append(np.logaddexp(0.0, e).mean(axis=1))
        gradients.append((1.0 / (1.0 + np.exp(-e))) @ c / len(a))
    return np.concatenate(losses), np.concatenate(gradients)


def max_difference(first, second):
    return max(float(np.abs(f - s).max()) for f, s in zip(first, second))


def main():
    rng = toyviz.set_seed(SEED)
    x_train, y_train = data.circle(1000, rng)
    x_test, y_test = data.circle(1000, rng)
    model, train_seconds = timed(models.train_circle_model, x_train, y_train)
    weights = network.read(model)   # read once: the engine then skips reading Keras
    print(f"trained the 2-20-2 circle model in {train_seconds:.1f} s "
          f"(seed {SEED}, 1000 training points, 1000 test points)")

    masks = masking.random_masks(N_REFERENCE, 0.5, rng, n_nodes=20)
    masks[0], masks[1] = 1, 0
    reference, reference_seconds = timed(masking.reference_mask_losses, model, x_test,
                                         y_test, masks)
    reference_rate = N_REFERENCE / reference_seconds
    print(f"reference (Keras + GradientTape, one call per mask): {N_REFERENCE} masks in "
          f"{reference_seconds:.2f} s = {reference_rate:,.1f} masks/s")

    engine_check = masking.mask_losses(weights, x_test, y_test, masks)
    many = masking.random_masks(N_ENGINE, 0.5, rng, n_nodes=20)
    _, engine_seconds = timed(masking.mask_losses, weights, x_test, y_test, many)
    engine_rate = N_ENGINE / engine_seconds
    print(f"batched engine (mask_losses): {N_ENGINE:,} masks in {engine_seconds:.2f} s = "
          f"{engine_rate:,.0f} masks/s; max difference from the reference "
          f"{max_difference(engine_check, reference):.1e}")

    indices = np.arange(N_PLAIN) * (2**20 // N_PLAIN) + 37   # spread over all masks
    plain, plain_seconds = timed(plain_numpy, weights, x_test, y_test,
                                 masking.masks_from_indices(indices, 20))
    plain_full = plain_seconds * 2**20 / N_PLAIN
    print(f"plain numpy (logaddexp, float64): {N_PLAIN:,} masks in {plain_seconds:.2f} s, "
          f"so about {plain_full:.0f} s for all 2**20")

    times = []
    for _ in range(SWEEP_RUNS):
        (losses, gradients), seconds = timed(masking.sweep_all_masks, weights, x_test, y_test)
        times.append(seconds)
    full_sweep = min(times)
    sweep_rate = 2**20 / full_sweep
    reference_indices = masking.mask_indices(masks)
    sweep_error = max_difference((losses[reference_indices], gradients[reference_indices]),
                                 reference)
    plain_error = max_difference((losses[indices], gradients[indices]), plain)
    print(f"full sweep of 2**20 masks, loss and gradient: "
          f"{', '.join(f'{t:.2f}' for t in times)} s; best {full_sweep:.2f} s = "
          f"{sweep_rate:,.0f} masks/s; max difference from the reference {sweep_error:.1e}, "
          f"from plain numpy {plain_error:.1e}")

    speedup = sweep_rate / reference_rate
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"speedup of the full sweep over the reference: {speedup:,.0f}x; over plain numpy: "
          f"{plain_full / full_sweep:.0f}x; peak resident memory of this process (with "
          f"TensorFlow loaded): {peak:.0f} MiB")
    targets = {"full sweep <= 5 s": full_sweep <= 5, "speedup >= 1000x": speedup >= 1000,
               "peak RSS <= 1 GB": peak <= 1024,
               "matches the reference to 1e-5": max(
                   sweep_error, max_difference(engine_check, reference)) <= TOLERANCE}
    print("targets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}"
                                  for name, ok in targets.items()))
    print(json.dumps({"full_sweep_s": round(full_sweep, 3), "masks_per_s": round(sweep_rate),
                      "reference_masks_per_s": round(reference_rate, 1),
                      "speedup": round(speedup), "peak_rss_mb": round(peak, 1)}))


if __name__ == "__main__":
    main()
