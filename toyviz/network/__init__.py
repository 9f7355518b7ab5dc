"""One form of a feed-forward network, read from Keras, with one numpy forward pass.

Every part of toyviz that looks inside a network works on a :class:`Network`: a chain of
*steps* (matrix multiplies, element-wise nonlinearities, max pooling, reshapes) in
float64, read from a Keras model by :func:`read`. Masking switches nodes off in it,
pruning deletes them, relevance walks it backwards, training and the explorables run it.

What :func:`read` understands: a chain of layers from one input to one output, made of
Dense, Conv2D, MaxPooling1D/2D, Flatten and Dropout (the identity at inference);
activations given as layers (ReLU, LeakyReLU, ELU, Activation, Softmax) or as
``activation=`` (see :data:`ACTIVATIONS` and :data:`OTHER_ACTIVATIONS`); a final
softmax, sigmoid or linear output; and the book's node mask, a ``Multiply`` of a hidden
layer's output with an extra model input of the same width
(:func:`toyviz.models.masked_circle_model`). Anything else is refused with an error that
names the layer and lists what is supported; nothing is approximated.

A *hidden layer* is a Dense layer other than the last, and its *nodes* are its outputs
after its activation. :meth:`Network.forward` takes masks for any hidden layers by name,
and multiplies each node's output by its mask value, exactly as the mask layer does.

The package, from the bottom up (each module imports only those above it):

* :mod:`toyviz.network.activations`: the registry of activations, named once
  (:data:`ACTIVATIONS`, :data:`OTHER_ACTIVATIONS`, :data:`OUTPUT_ACTIVATIONS`), and the one
  parser of their names;
* :mod:`toyviz.network.steps`: the steps (:class:`Dense`, :class:`Conv2D`,
  :class:`Nonlinearity`, :class:`Maximum`, :class:`Reshape`, ...);
* :mod:`toyviz.network.core`: :class:`Network` and :func:`apply_output`;
* :mod:`toyviz.network.keras`: :func:`read`, :func:`check_built`,
  :func:`check_finite_weights`, :data:`SUPPORTED_LAYERS`.

The names listed above are importable from here too (``toyviz.network.Network``,
``toyviz.network.read``); the registry (:data:`~toyviz.network.activations.REGISTRY`) and
its parser are read from :mod:`toyviz.network.activations`.

Introduced in chapter 1, :ref:`§The network <node-removal-network>`, and used by every chapter.
"""

from toyviz.network.activations import ACTIVATIONS, OTHER_ACTIVATIONS, OUTPUT_ACTIVATIONS
from toyviz.network.core import Network, apply_output
from toyviz.network.keras import SUPPORTED_LAYERS, check_built, check_finite_weights, read
from toyviz.network.steps import (Conv2D, Dense, Folded, Matrix, Maximum, Nonlinearity, Reshape,
                                  Step)

__all__ = ["ACTIVATIONS", "OTHER_ACTIVATIONS", "OUTPUT_ACTIVATIONS", "SUPPORTED_LAYERS",
           "Conv2D", "Dense", "Folded", "Matrix", "Maximum", "Network", "Nonlinearity",
           "Reshape", "Step", "apply_output", "check_built", "check_finite_weights", "read",
           "Stack", "delete_nodes"]

# The other forms of a network (toyviz.network.stack, toyviz.network.surgery) build on the
# modules above, so they are imported here, last.
from toyviz.network.stack import Stack  # noqa: E402
from toyviz.network.surgery import delete_nodes  # noqa: E402
