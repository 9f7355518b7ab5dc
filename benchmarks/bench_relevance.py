"""Speed of relevance propagation: every preset on a 200 x 200 grid (40,000 points) of the
circle model in one batched pass, against a plain ``tf.GradientTape`` input gradient of
the same model measured in the same run.

Target (issue 4): every preset takes at most 3x the plain gradient's time.
Last line: ``{"points": 40000, "preset_s": {...}, "gradient_s": ..., "worst_ratio": ...}``.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import toyviz  # noqa: E402
from toyviz import data, models, relevance  # noqa: E402

REPEATS = 15


def median_time(function):
    """Median of REPEATS runs after one warm-up run (the machine is shared, so the median
    is steadier than one run)."""
    function()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    import tensorflow as tf

    rng = toyviz.set_seed(0)
    x, y = data.circle(1000, rng)
    model = models.unmasked(models.train_circle_model(x, y, epochs=2))
    points, _ = data.grid(-2.0, 2.0, 200)
    baseline = np.zeros(2, dtype=np.float32)
    inputs = tf.convert_to_tensor(points)

    # Both compute the same thing: the gradient of the logit difference (inside - outside),
    # so the plain gradient runs on a copy of the model without the final softmax.
    logit_model = models.mlp(2, [model.get_layer("hidden0").units], 2, "linear")
    logit_model.set_weights(model.get_weights())

    def logit_gradient():
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            logits = logit_model(inputs)
            difference = logits[:, 1] - logits[:, 0]
        return tape.gradient(difference, inputs).numpy()

    ours = relevance.propagate(model, points, "gradient", output=(1, 0)).input
    assert np.allclose(ours, logit_gradient(), atol=1e-5), "gradient preset != tf gradient"

    gradient_s = median_time(logit_gradient)
    print(f"tf.GradientTape input gradient, {len(points)} points: {gradient_s * 1e3:.1f} ms")
    preset_s = {}
    for name in relevance.PRESETS:
        preset_s[name] = median_time(lambda name=name: relevance.propagate(
            model, points, name, output=(1, 0), baseline=baseline))
        print(f"{name:>18}: {preset_s[name] * 1e3:7.1f} ms "
              f"({preset_s[name] / gradient_s:.2f}x the gradient)")
    worst = max(preset_s.values()) / gradient_s
    print(json.dumps({"points": len(points), "preset_s": {k: round(v, 5) for k, v in
                                                          preset_s.items()},
                      "gradient_s": round(gradient_s, 5), "worst_ratio": round(worst, 3)}))


if __name__ == "__main__":
    main()
