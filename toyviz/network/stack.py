"""The stack: ``k`` dense networks of one shape, the batched form of a network.

A *stack* is ``k`` multilayer perceptrons of the same shape, held as one list of
``(kernel, bias)`` pairs with a leading axis over the networks::

    params = [(kernel0: (k, n_inputs, w0) float32, bias0: (k, w0) float32),
              (kernel1: (k, w0, w1) float32,       bias1: (k, w1) float32),
              ...,
              (kernelL: (k, w_last, n_outputs),     biasL: (k, n_outputs))]

Hidden layer ``l`` maps ``a -> f_l(a @ kernel_l + bias_l)`` and the last layer ends in a
softmax. The hidden activations ``f_l`` are one of
:data:`~toyviz.network.stack.HIDDEN_ACTIVATIONS`; a
:class:`~toyviz.network.stack.Stack` (a list of the pairs, so it is used as one) carries them
as ``activations``, and a plain list of pairs means ReLU everywhere, as
:func:`toyviz.models.mlp` builds. :meth:`~toyviz.network.stack.Stack.network` is network
``i`` as a
:class:`toyviz.network.Network`; :func:`forward` runs all ``k`` at once in numpy, with the
activation functions of :mod:`toyviz.network`. :func:`to_models` / :func:`from_models`
convert between a stack and a list of Keras models. :mod:`toyviz.training` trains a
stack, :mod:`toyviz.network.surgery` deletes its nodes.

Introduced in chapter 3, :ref:`§Data and network <pruning-data>`.
"""

import numpy as np

from toyviz._checks import (check_array, check_choice, check_fits, check_flag, check_int,
                            check_labels, check_rng, describe)
from toyviz.network.activations import ACTIVATIONS, OTHER_ACTIVATIONS, REGISTRY
from toyviz.network.core import Network, apply_output
from toyviz.network.keras import read
from toyviz.network.steps import Dense

#: Hidden activations a stack can hold, by Keras name: the registry's
#: (:data:`toyviz.network.activations.REGISTRY`) that the TensorFlow loop computes, those
#: with a function first, as the messages list them. Training minimises the softmax
#: cross-entropy, so the output is always a softmax.
HIDDEN_ACTIVATIONS = tuple(entry.name for entry in sorted(
    REGISTRY, key=lambda entry: entry.functions is None) if entry.trainer)


class Stack(list):
    """A stack of networks: the list of ``(kernel, bias)`` pairs (see the module
    docstring) and ``activations``, one name from
    :data:`~toyviz.network.stack.HIDDEN_ACTIVATIONS` per hidden layer (``None``: ReLU
    everywhere). Every function here accepts a plain list of pairs
    as a ReLU stack and returns a :class:`~toyviz.network.stack.Stack`.

    A new list built from a stack's pairs (``[(2 * k, b) for k, b in stack]``) is such a
    plain list: wrap it as ``Stack(pairs, stack.activations)`` to keep the activations.
    """

    def __init__(self, pairs, activations=None):
        super().__init__(check_pairs("pairs", pairs))
        self.activations = _check_activations(
            "activations", "relu" if activations is None else activations, len(self) - 1)

    @classmethod
    def from_checked(cls, pairs, activations):
        """A stack of pairs that :func:`check_pairs` returned (or that were made from
        them), without checking the pairs again; ``activations`` are checked."""
        stack = cls.__new__(cls)
        list.__init__(stack, pairs)
        stack.activations = _check_activations(
            "activations", "relu" if activations is None else activations, len(stack) - 1)
        return stack

    def copy(self):
        """A shallow copy that keeps ``activations`` (``list.copy`` would drop them)."""
        return Stack.from_checked(self, self.activations)

    def __repr__(self):
        shapes = [tuple(kernel.shape) for kernel, _ in self]
        return f"Stack(kernels {shapes}, activations {list(self.activations)})"

    def dense_chain(self, net):
        """Network ``net`` as ``[(kernel, bias, activation), ...]`` in float64, the last
        activation ``"softmax"``: what :meth:`toyviz.network.Network.from_dense` takes."""
        net = check_int("net", net, low=0, high=self[0][0].shape[0] - 1)
        return _dense_chain(self, self.activations, net)

    def network(self, net):
        """Network ``net`` as a :class:`toyviz.network.Network` (float64), layers named
        ``hidden0, ..., output``."""
        return Network.from_dense(self.dense_chain(net))

    def forward(self, x, dtype=np.float64, name="x"):
        """:func:`forward` of this stack, naming the caller's parameter ``name`` for
        ``x`` in the messages."""
        if not isinstance(name, str):
            raise TypeError(f"name must be a str (the caller's parameter name), got "
                            f"{describe(name)}")
        if dtype not in (np.float32, np.float64, "float32", "float64") \
                or isinstance(dtype, (bool, np.bool_)):
            raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got "
                            f"{describe(dtype)}")
        k = self[0][0].shape[0]
        x = check_inputs(name, x, k, self[0][0].shape[1])
        a = x.astype(dtype)
        hidden = []
        functions = [_numpy_activation(activation) for activation in self.activations]
        for layer, (kernel, bias) in enumerate(self):
            z = np.einsum("kni,kio->kno", a, kernel.astype(dtype)) + bias.astype(dtype)[:, None]
            if layer < len(self) - 1:
                a = functions[layer](z)
                hidden.append(a)
        return apply_output("softmax", z).astype(dtype, copy=False), hidden

    def accuracy(self, x, y, names=("x", "y")):
        """:func:`accuracy` of this stack, naming the caller's parameters ``names`` for
        ``x`` and ``y`` in the messages."""
        if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)) \
                or len(names) != 2 or not all(isinstance(name, str) for name in names):
            raise TypeError(f"names must be a pair of str (the caller's parameter names), "
                            f"got {describe(names)}")
        probabilities, _ = self.forward(x, name=names[0])
        k, n, n_outputs = probabilities.shape
        y = check_labels(names[1], y, n, n_outputs, integer_dtype=True, k=k)
        return (probabilities.argmax(axis=-1) == y).mean(axis=1)


def _dense_chain(pairs, activations, net):
    """Network ``net`` of ``pairs`` as a dense chain, the values of ``pairs`` in float64."""
    return [(np.asarray(kernel[net], np.float64), np.asarray(bias[net], np.float64),
             activation)
            for (kernel, bias), activation in zip(pairs, (*activations, "softmax"))]


def network_of(params, net):
    """Network ``net`` of a stack as a :class:`toyviz.network.Network` (float64), layers
    named ``hidden0, ..., output``, holding the values of ``params`` themselves: a list
    of float64 pairs stays float64 (:meth:`~toyviz.network.stack.Stack.network` of a
    :class:`~toyviz.network.stack.Stack`, which
    holds float32, is the same)."""
    stack = check_stack("params", params)  # the shapes and the activations
    net = check_int("net", net, low=0, high=stack[0][0].shape[0] - 1)
    return Network.from_dense(_dense_chain(params, stack.activations, net))


def _check_activations(name, activations, n_hidden):
    if isinstance(activations, str):
        activations = (activations,) * n_hidden
    if not isinstance(activations, (list, tuple)):
        raise TypeError(f"{name} must be a str or a sequence of str, one per hidden layer, "
                        f"got {describe(activations)}")
    if len(activations) != n_hidden:
        raise ValueError(f"{name} must name {n_hidden} activations, one per hidden layer, "
                         f"got {len(activations)}")
    return tuple(check_choice(f"{name}[{i}]", activation, HIDDEN_ACTIVATIONS)
                 for i, activation in enumerate(activations))


def check_stack(name, params):
    """Return ``params`` as a :class:`~toyviz.network.stack.Stack` of float32 ``(kernel, bias)``
    numpy pairs, checking that they describe ``k`` chained dense layers (a plain list: ReLU hidden
    layers). ``name`` is the caller's parameter, for the messages."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (the parameter's name), got {describe(name)}")
    return Stack.from_checked(check_pairs(name, params), getattr(params, "activations", None))


def check_pairs(name, params, finite=True):
    """Return ``params`` as a list of float32 ``(kernel (k, fan_in, fan_out), bias (k,
    fan_out))`` numpy pairs, checking that they chain (the activations are not looked
    at); with ``finite=False`` NaN and inf weights pass (a diverged run's). ``name`` is
    the caller's parameter, for the messages."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (the parameter's name), got {describe(name)}")
    finite = check_flag("finite", finite)
    if isinstance(params, (str, bytes, dict)) or not hasattr(params, "__len__") \
            or not len(params):
        raise TypeError(f"{name} must be a non-empty list of (kernel, bias) pairs, "
                        f"got {describe(params)}")
    out = []
    for i, pair in enumerate(params):
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise TypeError(f"{name}[{i}] must be a (kernel, bias) pair, "
                            f"got {type(pair).__name__}")
        kernel = check_array(f"{name}[{i}][0]", pair[0], ndim=3, finite=finite)
        bias = check_array(f"{name}[{i}][1]", pair[1], finite=finite, shape=(kernel.shape[0],
                                                               kernel.shape[2]))
        if out and (kernel.shape[0] != out[0][0].shape[0]
                    or kernel.shape[1] != out[-1][0].shape[2]):
            raise ValueError(
                f"{name}[{i}][0] must have shape ({out[0][0].shape[0]}, "
                f"{out[-1][0].shape[2]}, any) to follow the layer before, "
                f"got shape {kernel.shape}")
        out.append((kernel, bias))
    return out


def check_inputs(name, x, k, n_inputs):
    """Return ``x``, points for a stack of ``k`` networks with ``n_inputs`` inputs, as a
    float32 ``(k, n, n_inputs)`` array: ``(n, n_inputs)`` is shared by all networks (a
    broadcast view), ``(k, n, n_inputs)`` is one set per network. ``name`` is the
    caller's parameter, for the messages."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (the parameter's name), got {describe(name)}")
    k, n_inputs = check_int("k", k, low=1), check_int("n_inputs", n_inputs, low=1)
    x = check_array(name, x, dtype=np.float32, empty=False)
    if x.ndim == 2:
        x = np.broadcast_to(x, (k, *x.shape))
    if x.ndim != 3 or x.shape[0] != k or x.shape[2] != n_inputs:
        raise ValueError(f"{name} must have shape (n, {n_inputs}) or ({k}, n, {n_inputs}), "
                         f"got shape {x.shape}")
    return x


def init_stack(n_nets, widths, rng, n_inputs=2, n_outputs=2, activation="relu"):
    """Fresh networks initialised as Keras does by default: Glorot-uniform kernels
    (uniform on ``±sqrt(6 / (fan_in + fan_out))``) and zero biases.

    Parameters
    ----------
    n_nets : int >= 1
    widths : sequence of int >= 1, the hidden layer widths
    rng : numpy.random.Generator
    n_inputs, n_outputs : int >= 1
    activation : a name from :data:`~toyviz.network.stack.HIDDEN_ACTIVATIONS`, or one
        per hidden layer

    Returns
    -------
    :class:`~toyviz.network.stack.Stack` of float32
    ``(kernel (n_nets, fan_in, fan_out), bias (n_nets, fan_out))`` pairs.
    """
    n_nets = check_int("n_nets", n_nets, low=1)
    rng = check_rng("rng", rng)
    widths = _check_widths(widths)
    n_inputs = check_int("n_inputs", n_inputs, low=1)
    n_outputs = check_int("n_outputs", n_outputs, low=1)
    activations = _check_activations("activation", activation, len(widths))
    sizes = [n_inputs, *widths, n_outputs]
    n_weights = n_nets * sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    check_fits([("n_nets", n_nets), ("n_inputs", n_inputs), ("n_outputs", n_outputs),
                *((f"widths[{i}]", w) for i, w in enumerate(widths))], 12 * n_weights)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        kernel = rng.uniform(-limit, limit, size=(n_nets, fan_in, fan_out))
        params.append((kernel.astype(np.float32), np.zeros((n_nets, fan_out), np.float32)))
    return Stack.from_checked(params, activations)


def _check_widths(widths):
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
        raise TypeError(f"widths must be a sequence of ints, got {describe(widths)}")
    widths = [check_int(f"widths[{i}]", w, low=1) for i, w in enumerate(widths)]
    if not widths:
        raise ValueError("widths must hold at least one hidden layer width, got none")
    return widths


def from_models(models):
    """Stack Keras networks of one shape: chains of Dense layers (activations as layers
    or as ``activation=``, Dropout allowed) with hidden activations from
    :data:`~toyviz.network.stack.HIDDEN_ACTIVATIONS` and a softmax output, read by
    :func:`toyviz.network.read`.

    Parameters
    ----------
    models : a keras.Model or a non-empty list of them, all with the same layer shapes
        and activations.

    Returns
    -------
    A :class:`~toyviz.network.stack.Stack` (see the module docstring).
    """
    import keras

    if isinstance(models, keras.Model):
        models = [models]
    if isinstance(models, (str, bytes)) or not hasattr(models, "__len__") or not len(models):
        raise TypeError(f"models must be a keras.Model or a non-empty list of them, "
                        f"got {describe(models)}")
    chains = []
    for i, model in enumerate(models):
        if not isinstance(model, keras.Model):
            raise TypeError(f"models[{i}] must be a keras.Model, got {describe(model)}")
        chains.append(_stack_chain(f"models[{i}]", read(model, f"models[{i}]")))
    first = chains[0]
    for i, chain in enumerate(chains[1:], start=1):
        if [(k.shape, b.shape, f) for k, b, f in chain] != [(k.shape, b.shape, f)
                                                            for k, b, f in first]:
            raise ValueError(
                f"models must all have the layer shapes and activations of models[0] "
                f"{[(k.shape, f) for k, _, f in first]}, but models[{i}] has "
                f"{[(k.shape, f) for k, _, f in chain]}")
    return Stack.from_checked([(np.stack([chain[j][0] for chain in chains]).astype(np.float32),
                                np.stack([chain[j][1] for chain in chains]).astype(np.float32))
                               for j in range(len(first))], [f for _, _, f in first[:-1]])


def _stack_chain(name, net):
    """``net``'s dense chain, checked to be something a stack holds."""
    if net.masked:
        raise ValueError(f"{name} multiplies layers {list(net.masked)} by mask inputs; a "
                         "stack holds plain networks (build them without the mask layer)")
    chain = net.dense_chain("a training stack")
    names = [step.name for step in net.steps if isinstance(step, Dense)]
    for layer, (_, _, activation) in zip(names, chain[:-1]):
        if activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(
                f"{name}'s layer {layer!r} has the activation {activation!r}, which a "
                f"training stack does not support; hidden activations: "
                f"{list(HIDDEN_ACTIVATIONS)}")
    if net.output != "softmax":
        raise ValueError(f"{name}'s output layer {names[-1]!r} ends in {net.output!r}; a "
                         "training stack's output is a softmax (training minimises the "
                         "softmax cross-entropy)")
    return chain


def to_models(params):
    """One Keras network per network of the stack, holding copies of its weights:
    ``Input`` named ``x``, ``Dense`` layers ``hidden0``, ... with the stack's activations
    and ``output`` with a softmax (for a ReLU stack, :func:`toyviz.models.mlp`)."""
    import keras

    params = check_stack("params", params)
    models = []
    for net in range(params[0][0].shape[0]):
        layers = [keras.Input(shape=(params[0][0].shape[1],), name="x")]
        layers += [keras.layers.Dense(kernel.shape[2], activation=activation,
                                      name=f"hidden{i}")
                   for i, ((kernel, _), activation) in enumerate(zip(params,
                                                                     params.activations))]
        layers.append(keras.layers.Dense(params[-1][0].shape[2], activation="softmax",
                                         name="output"))
        model = keras.Sequential(layers, name="mlp")
        for layer, (kernel, bias) in zip(model.layers, params):
            layer.set_weights([kernel[net], bias[net]])
        models.append(model)
    return models


def take(params, nets):
    """The sub-stack of the networks at positions ``nets`` (a list of ints)."""
    params = check_stack("params", params)
    if np.asarray(nets).dtype == bool:
        raise TypeError(f"nets must hold int network positions, got {describe(nets)}")
    nets = check_array("nets", nets, ndim=1, dtype=np.int64, empty=False)
    k = params[0][0].shape[0]
    if nets.min() < 0 or nets.max() >= k:
        raise ValueError(f"nets must hold network positions in [0, {k}), got values from "
                         f"{nets.min()} to {nets.max()}")
    return Stack.from_checked([(kernel[nets], bias[nets]) for kernel, bias in params],
                              params.activations)


def concat(*stacks):
    """Networks of several stacks of the same shape and activations, in one stack."""
    stacks = [check_stack(f"stacks[{i}]", s) for i, s in enumerate(stacks)]
    if not stacks:
        raise TypeError("concat needs at least one stack")
    shapes = [kernel.shape[1:] for kernel, _ in stacks[0]]
    for i, s in enumerate(stacks[1:], start=1):
        if [kernel.shape[1:] for kernel, _ in s] != shapes:
            raise ValueError(f"stacks[{i}] has layers {[k.shape[1:] for k, _ in s]}, "
                             f"stacks[0] {shapes}: the networks must have one shape")
        if s.activations != stacks[0].activations:
            raise ValueError(f"stacks[{i}] has activations {list(s.activations)}, "
                             f"stacks[0] {list(stacks[0].activations)}")
    return Stack.from_checked([(np.concatenate([s[j][0] for s in stacks]),
                                np.concatenate([s[j][1] for s in stacks]))
                               for j in range(len(stacks[0]))], stacks[0].activations)


def _numpy_activation(name):
    """``f`` of a hidden activation, from :mod:`toyviz.network`."""
    if name == "linear":
        return lambda z: z
    return {**ACTIVATIONS, **OTHER_ACTIVATIONS}[name][0]


def forward(params, x, dtype=np.float64):
    """Run every network of the stack, in numpy: each Dense layer for all networks at
    once, then the activation functions of :mod:`toyviz.network`.

    Parameters
    ----------
    params : a stack of ``k`` networks
    x : (n, n_inputs) shared by all networks, or (k, n, n_inputs), one set per network
    dtype : the floating type to compute in

    Returns
    -------
    probabilities : (k, n, n_outputs), in ``dtype``
    hidden : list of (k, n, width) node outputs (after the activation), one per hidden
        layer
    """
    return check_stack("params", params).forward(x, dtype)


def accuracy(params, x, y):
    """Fraction of points each network classifies correctly.

    Parameters
    ----------
    params : a stack of ``k`` networks
    x : (n, n_inputs) or (k, n, n_inputs)
    y : (n,) or (k, n) int labels in [0, n_outputs)

    Returns
    -------
    (k,) float64
    """
    return check_stack("params", params).accuracy(x, y)
