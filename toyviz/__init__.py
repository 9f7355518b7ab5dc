"""toyviz: take tiny neural networks apart, in public.

Importing toyviz does nothing but define names: no seeding, no warnings filters, no
downloads, and no TensorFlow import. Submodules load on first use, so
``import toyviz; toyviz.masking`` works, and TensorFlow is imported only by the
functions that need it.

Each idea is introduced in a chapter of the book: node masks in :doc:`/book/node_removal`,
relevance in :doc:`/book/relevance`, pruning and training in :doc:`/book/pruning`. The
module pages say which section.
"""

import importlib
import random

import numpy as np

from toyviz._checks import check_int
from toyviz._version import __version__

_SUBMODULES = ("data", "models", "masking", "relevance", "pruning", "training", "plots",
               "widgets", "reproducibility", "checks", "claims", "routes", "reasons", "exact",
               "network", "landscape", "node_removal", "intervals")

__all__ = ["__version__", "set_seed", *_SUBMODULES]


def set_seed(seed):
    """Seed Python's ``random``, numpy's legacy global state and TensorFlow, and turn on
    TensorFlow's op determinism, so that the same seed gives the same numbers.

    Call it once, visibly, at the top of each chapter. Code in toyviz never draws from
    the global numpy state: randomness is passed in as a ``numpy.random.Generator``;
    this call exists for Keras, whose weight initialisers and shuffling read the
    global TensorFlow seed.

    Parameters
    ----------
    seed : int, 0 <= seed < 2**32

    Returns
    -------
    numpy.random.Generator
        A generator seeded with ``seed``, for the chapter to pass on.
    """
    seed = check_int("seed", seed, low=0, high=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return np.random.default_rng(seed)


def __getattr__(name):
    if name in _SUBMODULES:
        module = importlib.import_module(f"toyviz.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'toyviz' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
