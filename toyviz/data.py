"""Data sets, generated on the spot or shipped with a package; nothing is downloaded.

Introduced in chapter 1, :ref:`§The network <node-removal-network>` (the circle), and
chapter 3, :ref:`§Data and network <pruning-data>` (the spiral).
"""

import math

import numpy as np

from toyviz._checks import check_choice, check_float, check_int, check_rng, check_size

#: The largest coordinate :func:`grid` and :func:`spiral` make: float32 holds it exactly
#: enough, and its square is still finite.
LARGEST_COORDINATE = 1e15

#: Squared radius of the target circle. Points are uniform on [-1, 1]^2, which has area 4,
#: so a circle of area 2 (radius sqrt(2/pi)) holds half of them on average.
CIRCLE_RADIUS_SQUARED = 2 / math.pi

#: The squared radius below which the first essay's *code* counts a point inside: it
#: compares x0**2 + x1**2 with sqrt(2/pi) (the prose's radius) rather than with 2/pi, so
#: its circle has radius (2/pi)**(1/4) and area pi * sqrt(2/pi) = sqrt(2 pi), and holds
#: sqrt(2 pi) / 4, about 62.7%, of the square's points on average.
ESSAY_CODE_RADIUS_SQUARED = math.sqrt(2 / math.pi)

#: The two circle tasks, by name: the squared radius below which a point is inside.
CIRCLE_RULES = {"prose": CIRCLE_RADIUS_SQUARED, "code": ESSAY_CODE_RADIUS_SQUARED}


def circle(n, rng, rule="prose"):
    """Points uniform on the square [-1, 1]^2, labelled by whether they lie inside a
    circle about the origin.

    The first essay's prose puts the boundary at radius sqrt(2/pi), so that half the
    points fall inside; its code compares the *squared* radius with sqrt(2/pi), which
    puts sqrt(2 pi) / 4, about 62.7%, of them inside. ``rule`` picks one
    (:data:`CIRCLE_RULES`): ``"prose"``, inside when x0**2 + x1**2 < 2/pi, or ``"code"``,
    inside when x0**2 + x1**2 < sqrt(2/pi).

    Parameters
    ----------
    n : int > 0
        Number of points.
    rng : numpy.random.Generator
    rule : "prose" or "code"

    Returns
    -------
    x : (n, 2) float32
    y : (n,) int64, 1 for inside the circle, 0 for outside.
    """
    n = check_size("n", check_int("n", n, low=1), n * 2 * (8 + 4) + n * 8)
    rng = check_rng("rng", rng)
    radius_squared = CIRCLE_RULES[check_choice("rule", rule, tuple(CIRCLE_RULES))]
    x = rng.uniform(-1.0, 1.0, size=(n, 2)).astype(np.float32)
    y = (np.sum(x.astype(np.float64) ** 2, axis=1) < radius_squared).astype(np.int64)
    return x, y


def spiral(n, rng, turns=1.5, noise=0.1, radius=1.0, arms=2):
    """Interleaved spiral arms, one per class (two by default, as in TensorFlow
    Playground).

    Arm ``c`` (c = 0, ..., arms - 1) is ``r * (cos(t + 2*pi*c/arms), sin(t + 2*pi*c/arms))`` with
    ``r = radius * s`` and ``t = 2*pi*turns*s`` for ``s`` uniform on (0, 1], plus
    Gaussian noise of standard deviation ``noise * radius``.

    Introduced in chapter 3, :ref:`§Data and network <pruning-data>`.

    Parameters
    ----------
    n : int >= arms
        Total number of points, shared as evenly as possible (the last classes get one
        more); with two arms class 0 gets ``n // 2`` and class 1 the rest.
    rng : numpy.random.Generator
    turns : float in (0, 1e6]
        How many times each arm winds around the origin.
    noise : float in [0, 1000]
    radius : float in (0, LARGEST_COORDINATE]
    arms : int in [2, 1000], the number of classes

    Returns
    -------
    x : (n, 2) float32
    y : (n,) int64 in {0, ..., arms - 1}
    """
    arms = check_int("arms", arms, low=2, high=1000)
    n = check_size("n", check_int("n", n, low=arms), n * 8 * 8)
    rng = check_rng("rng", rng)
    turns = check_float("turns", turns, low=0, low_open=True, high=1e6)
    noise = check_float("noise", noise, low=0, high=1e3)
    radius = check_float("radius", radius, low=0, low_open=True, high=LARGEST_COORDINATE)
    counts = [n // arms + (arm >= arms - n % arms) for arm in range(arms)]
    y = np.repeat(np.arange(arms, dtype=np.int64), counts)
    s = 1.0 - rng.uniform(0.0, 1.0, size=n)  # in (0, 1]
    angle = 2 * math.pi * turns * s + math.pi * y * (2 / arms)
    x = radius * s[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    x += rng.normal(0.0, noise * radius, size=(n, 2))
    return x.astype(np.float32), y


def grid(lo=-2.0, hi=2.0, resolution=200):
    """A square grid of points, row-major with the first coordinate varying fastest.

    Parameters
    ----------
    lo, hi : float, -LARGEST_COORDINATE <= lo < hi <= LARGEST_COORDINATE
    resolution : int >= 2, points per side

    Returns
    -------
    points : (resolution**2, 2) float32; ``points.reshape(resolution, resolution, 2)``
        has ``[i, j] = (xs[j], xs[i])`` so that it displays with ``imshow(origin="lower")``.
    xs : (resolution,) float32, the coordinates along each axis.
    """
    lo = check_float("lo", lo, low=-LARGEST_COORDINATE, high=LARGEST_COORDINATE)
    hi = check_float("hi", hi, low=-LARGEST_COORDINATE, high=LARGEST_COORDINATE)
    if hi <= lo:
        raise ValueError(f"hi must be greater than lo, got lo={lo}, hi={hi}")
    resolution = check_int("resolution", resolution, low=2)
    check_size("resolution", resolution, resolution**2 * 4 * 6)
    xs = np.linspace(lo, hi, resolution, dtype=np.float32)
    gx, gy = np.meshgrid(xs, xs)
    return np.stack([gx.ravel(), gy.ravel()], axis=1), xs


def digits(rng=None):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, shipped with the
    package, so nothing is downloaded), scaled to [0, 1].

    Introduced in chapter 2, :ref:`§Digits <relevance-digits>`.

    Parameters
    ----------
    rng : numpy.random.Generator or None
        ``None`` keeps scikit-learn's order; a generator shuffles the images (and their
        labels) with one permutation drawn from it.

    Returns
    -------
    x : (1797, 8, 8, 1) float32 in [0, 1] (the raw pixel values 0..16, divided by 16).
    y : (1797,) int64 in 0..9.
    """
    if rng is not None:
        rng = check_rng("rng", rng)
    from sklearn.datasets import load_digits  # lazy: about 1 s, and only the digits need it

    bunch = load_digits()
    x = (np.asarray(bunch.images, dtype=np.float32) / 16.0)[..., None]
    y = np.asarray(bunch.target, dtype=np.int64)
    if rng is not None:
        order = rng.permutation(len(x))
        x, y = x[order], y[order]
    return x, y
