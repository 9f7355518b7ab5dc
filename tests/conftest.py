"""Shared setup of the tests: the hypothesis profile, the --executed-notebooks option, the
headless browser, and the small models several test files build (plain factory functions,
imported with ``from conftest import ...``: module-level parameters and hypothesis tests
call them as well as tests)."""

import os

import numpy as np
import pytest
from hypothesis import settings

from browser_harness import CHROMIUM, CHROMIUM_ARGS, missing

# Before anything imports TensorFlow: keep its C++ logging out of the test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# No per-example deadline: how long an example takes depends on what else runs on the
# machine (make test builds the book beside the unit tests), never on the property.
settings.register_profile("any-load", deadline=None)
settings.load_profile("any-load")


def pytest_addoption(parser):
    parser.addoption(
        "--executed-notebooks", default=None, metavar="DIR",
        help="compare the book notebooks executed into DIR (the book build's "
             "_build/jupyter_execute) instead of executing them again")


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's), driven by Playwright, shared by the browser tests."""
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"no Chromium at {CHROMIUM}: run `make chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# --- small models shared by the test files -------------------------------------------------


def random_network(rng, sizes=(2, 20, 2), activations=("relu",), output="softmax",
                   scale=1.0):
    """A toyviz Network: a Dense chain, ``sizes`` from input to output, with normal weights
    and biases times ``scale`` drawn from ``rng`` (a Generator, or a seed for one) layer by
    layer; hidden activations cycled from ``activations``, the last layer's ``output``."""
    from toyviz.network import Network

    rng = np.random.default_rng(rng)
    layers = [(scale * rng.normal(size=(a, b)), scale * rng.normal(size=b),
               activations[k % len(activations)])
              for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    layers[-1] = (*layers[-1][:2], output)
    return Network.from_dense(layers)


def two_class_net(rng, n_nodes, n_points=60):
    """Chapter 1's case: a random 2-n-2 ReLU/softmax network (:func:`random_network`),
    ``n_points`` points uniform in [-1, 1]^2 and random labels 0/1, drawn in that order
    from ``rng`` (a Generator, or a seed for one)."""
    rng = np.random.default_rng(rng)
    return (random_network(rng, (2, n_nodes, 2)), rng.uniform(-1, 1, (n_points, 2)),
            rng.integers(0, 2, n_points))


def keras_chain(sizes, activations=("relu",), output="softmax", seed=0, as_layers=False,
                mask_at=None, hidden="h"):
    """A Keras functional Dense chain with Keras' own initial weights after
    ``keras.utils.set_random_seed(seed)``: the input ``x`` of ``sizes[0]`` features, hidden
    layers ``{hidden}{i}`` of ``sizes[1:-1]`` units with activations cycled from
    ``activations`` (as ``activation=``, or with ``as_layers`` as a separate Activation
    layer ``act{i}``), and the output layer ``out`` of ``sizes[-1]`` units with
    ``output``. Given ``mask_at`` (a list, even an empty one), the model takes a list of
    inputs: ``x``, then a mask input ``mask{i}`` multiplied in (``masked{i}``) after each
    hidden layer listed in ``mask_at``."""
    import keras

    keras.utils.set_random_seed(seed)
    x = keras.Input((sizes[0],), name="x")
    inputs, a = [x], x
    for i, width in enumerate(sizes[1:-1]):
        activation = activations[i % len(activations)]
        if as_layers:
            a = keras.layers.Dense(width, name=f"{hidden}{i}")(a)
            a = keras.layers.Activation(activation, name=f"act{i}")(a)
        else:
            a = keras.layers.Dense(width, activation=activation, name=f"{hidden}{i}")(a)
        if mask_at is not None and i in mask_at:
            mask = keras.Input((width,), name=f"mask{i}")
            inputs.append(mask)
            a = keras.layers.Multiply(name=f"masked{i}")([a, mask])
    out = keras.layers.Dense(sizes[-1], activation=output, name="out")(a)
    return keras.Model(x if mask_at is None else inputs, out)


def random_weights(model, seed):
    """``model`` (a built Keras model) with every weight of every layer replaced, layer by
    layer, by standard normal float32 values drawn from ``seed``; returns the model."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.get_weights():
            layer.set_weights([rng.normal(size=w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    return model
