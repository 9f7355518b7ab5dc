"""Speed of toyviz.training (many small nets in one compiled loop) against Keras' fit,
measured in the same run.

Chapter 3 trains stacks of 2 -> 50 -> 50 -> 2 ReLU networks on 1000 spiral points with
Adam(0.01) and batches of 32. Here:

* the baseline: ``model.fit`` on one Keras model after another (the usual way), for
  ``N_NETS`` networks and ``EPOCHS`` epochs, compile time included as a reader would pay it;
* the stack: the same networks trained together by ``training.train``, first call
  (tracing included) and a second call on new weights (traced already).

The two agree to float precision on one network with the batches in order (checked below).
The last line printed is one JSON object: keras_s, stack_first_s, stack_s,
speedup (keras_s / stack_s), nets, epochs, peak_rss_mb.

Run: ``.venv/bin/python benchmarks/bench_training.py``
"""

import json
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import toyviz  # noqa: E402
from toyviz import data, models, training  # noqa: E402

SEED = 5
N_NETS = 5
EPOCHS = 2


def main():
    rng = toyviz.set_seed(SEED)
    x, y = data.spiral(1000, rng, noise=0.05)
    params = training.init_stack(N_NETS, [50, 50], rng)

    started = time.perf_counter()
    for model in training.to_models(params):
        models.compile_classifier(model, learning_rate=0.01)
        model.fit(x, y, batch_size=32, epochs=EPOCHS, verbose=0)
    keras_s = time.perf_counter() - started

    started = time.perf_counter()
    training.train(params, x, y, EPOCHS, rng, learning_rate=0.01, batch_size=32)
    stack_first_s = time.perf_counter() - started
    again = training.init_stack(N_NETS, [50, 50], rng)
    started = time.perf_counter()
    training.train(again, x, y, EPOCHS, rng, learning_rate=0.01, batch_size=32)
    stack_s = time.perf_counter() - started

    # Same result as Keras on one network with the batches in order.
    one = training.take(params, [0])
    model = models.compile_classifier(training.to_models(one)[0], learning_rate=0.01)
    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    ours = training.train(one, x, y, 1, rng, learning_rate=0.01, batch_size=32,
                          shuffle=False)
    error = max(float(np.abs(a[0] - b).max()) for (a, _), b in
                zip(ours.params, model.get_weights()[::2]))

    print(f"Keras fit, {N_NETS} nets one after another, {EPOCHS} epochs: {keras_s:.2f} s")
    print(f"toyviz stack, first call (tracing):                {stack_first_s:.2f} s")
    print(f"toyviz stack, traced:                              {stack_s:.2f} s")
    print(f"largest weight difference from Keras (1 net, 1 epoch, in order): {error:.1e}")
    print(json.dumps({
        "keras_s": round(keras_s, 3), "stack_first_s": round(stack_first_s, 3),
        "stack_s": round(stack_s, 3), "speedup": round(keras_s / stack_s, 1),
        "nets": N_NETS, "epochs": EPOCHS, "max_weight_difference": error,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
