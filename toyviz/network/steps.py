"""The steps of a :class:`~toyviz.network.Network`: matrix multiplies (Dense, Conv2D, and the
last layer with the explained output folded in), element-wise nonlinearities, max pooling
and reshapes, each a small object with a float64 ``forward``.

Introduced in chapter 1, :ref:`§The network <node-removal-network>`, and used by every chapter.
"""

import abc

import numpy as np

from toyviz._checks import check_array, check_choice, check_flag, check_int, describe
from toyviz.network.activations import REGISTRY, parse_activation


def _check_bias(bias, units):
    """A Matrix step's bias: (units,) float64, one per unit of its kernel."""
    bias = check_array("bias", bias, dtype=np.float64)
    if bias.shape != (units,):
        raise ValueError(f"kernel and bias must agree: bias must have shape ({units},), one "
                         f"per unit of kernel, got {bias.shape}")
    return bias


def _step_input(step, a, name="a", rank=None, last=None):
    """A step's input as a real numpy array (NaN and inf pass: they are values a network
    can compute), checked against the ``rank`` and ``last`` axis the step takes. Cheap:
    no pass over the values, since the steps run inside every forward pass."""
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "fiub":
        a = check_array(name, a, dtype=np.float64, finite=False)
    if (a.ndim < 1 if rank is None else a.ndim != rank) or (
            last is not None and a.shape[-1] != last):
        wanted = "(n, ...)" if rank is None else f"{rank} dimensions"
        raise ValueError(f"{name} must have {wanted}" + (
            "" if last is None else f" ending in {last}") + f" for layer {step.name!r} "
            f"({type(step).__name__}), got {describe(a)}")
    return a


class Step(abc.ABC):
    """One operation of a :class:`Network`. ``kind`` is a layer type or ``"reshape"``;
    ``name`` is the Keras layer it comes from."""

    kind = None

    def __init__(self, name):
        if not isinstance(name, str):
            raise TypeError(f"name must be a str (the Keras layer's name), got "
                            f"{describe(name)}")
        self.name = name

    @abc.abstractmethod
    def forward(self, a):
        """Implemented by each subclass."""

    @abc.abstractmethod
    def output_shape(self, shape):
        """The shape of one sample after this step, from ``shape``, one sample's shape
        before it (neither has the batch axis). Implemented by each subclass."""


class Matrix(Step):
    """Base of the matrix-multiply steps: ``z = a @ W + bias``.

    Subclasses provide ``forward(a)`` (with bias), ``transpose(v, shape)`` (``W^T v``,
    of the input's ``shape``), ``bias_signal(v)`` (``bias_j * v_j`` summed over the positions sharing bias
    ``j``: ``(n, units)``) and ``fold(c)``.
    """

    kind = "matrix"


class Dense(Matrix):
    """``z = a @ kernel + bias`` on the last axis. kernel: (d, units), bias: (units,)."""

    def __init__(self, name, kernel, bias=None):
        super().__init__(name)
        self.kernel = check_array("kernel", kernel, ndim=2, dtype=np.float64, empty=False)
        units = self.kernel.shape[1]
        self.bias = np.zeros(units) if bias is None else _check_bias(bias, units)

    def forward(self, a):
        a = _step_input(self, a, last=self.kernel.shape[0])
        z = a @ self.kernel
        z += self.bias
        return z

    def transpose(self, v, shape):
        return v @ self.kernel.T

    def bias_signal(self, v):
        v = v * self.bias
        return v if v.ndim == 2 else v.reshape(len(v), -1, v.shape[-1]).sum(axis=1)

    def fold(self, c):
        """The explained output ``c . z`` as one step: c: (units,) or (n, units)."""
        return Folded(self.name, self.kernel @ c.T, c @ self.bias)

    def output_shape(self, shape):
        return (*shape[:-1], self.kernel.shape[1])


class Folded(Matrix):
    """The last Dense layer with the explained combination of logits folded in:
    ``y = a @ w + b`` with w: (d,) or (d, n) (one column per sample), b: scalar or (n,).
    Its bias relevance is ``(n, 1)``."""

    def __init__(self, name, weight, bias):
        super().__init__(name)
        weight = check_array("weight", weight, dtype=np.float64, empty=False)
        if weight.ndim not in (1, 2):
            raise ValueError(f"weight must be (d,) or (d, n), got {describe(weight)}")
        bias = check_array("bias", bias, dtype=np.float64)
        if bias.shape != weight.shape[1:]:
            raise ValueError(f"weight and bias must agree: bias must have shape "
                             f"{weight.shape[1:]}, one per column of weight, got {bias.shape}")
        self.weight, self.bias = weight, bias

    def forward(self, a):
        if self.weight.ndim == 1:
            return _step_input(self, a, last=self.weight.shape[0]) @ self.weight + self.bias
        a = _step_input(self, a, rank=2, last=self.weight.shape[0])
        if len(a) != self.weight.shape[1]:
            raise ValueError(f"a must hold {self.weight.shape[1]} samples, one per column of "
                             f"weight, got {describe(a)}")
        return np.einsum("nd,dn->n", a, self.weight) + self.bias

    def transpose(self, v, shape):
        if self.weight.ndim == 1:
            return v[:, None] * self.weight
        return v[:, None] * self.weight.T

    def bias_signal(self, v):
        return (v * self.bias)[:, None]

    def output_shape(self, shape):
        return tuple(shape[:-1])


def _same_padding(size, window, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return out, total // 2, total - total // 2


class _Windows:
    """Sliding windows over axes 1, 2 of (n, H, W, C) arrays, as Keras (TensorFlow) lays
    them out for 'valid' and 'same' padding."""

    def __init__(self, window, strides, padding, names=("pool", "strides"), size=2):
        for name, value in zip(names, (window, strides)):
            if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) \
                    or len(value) != size:
                raise TypeError(f"{name} must be a tuple of {size} ints, got "
                                f"{describe(value)}")
            for item in value:
                check_int(name, item, low=1, high=10**6)
        check_choice("padding", padding, ("valid", "same"))
        self.window, self.strides, self.padding = tuple(window), tuple(strides), padding

    def geometry(self, shape):
        (h, w), (kh, kw), (sh, sw) = shape[1:3], self.window, self.strides
        if self.padding == "same":
            oh, top, bottom = _same_padding(h, kh, sh)
            ow, left, right = _same_padding(w, kw, sw)
        else:
            oh, ow, top, bottom, left, right = (h - kh) // sh + 1, (w - kw) // sw + 1, 0, 0, 0, 0
        return oh, ow, (top, bottom), (left, right)

    def extract(self, a, fill):
        """(n, H, W, C) -> (n, oh, ow, C, kh, kw) (a copy)."""
        oh, ow, pad_h, pad_w = self.geometry(a.shape)
        if any(pad_h) or any(pad_w):
            a = np.pad(a, ((0, 0), pad_h, pad_w, (0, 0)), constant_values=fill)
        view = np.lib.stride_tricks.sliding_window_view(a, self.window, axis=(1, 2))
        return view[:, ::self.strides[0], ::self.strides[1]][:, :oh, :ow]

    def scatter(self, parts, shape):
        """Adjoint of :meth:`extract`: (n, oh, ow, C, kh, kw) summed back to ``shape``."""
        oh, ow, pad_h, pad_w = self.geometry(shape)
        n, h, w, c = shape
        out = np.zeros((n, h + sum(pad_h), w + sum(pad_w), c))
        (kh, kw), (sh, sw) = self.window, self.strides
        for i in range(kh):
            for j in range(kw):
                out[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += parts[..., i, j]
        return out[:, pad_h[0]:pad_h[0] + h, pad_w[0]:pad_w[0] + w]


class Conv2D(Matrix):
    """2-D convolution, channels last: kernel (kh, kw, C, F), bias (F,), 'valid' or 'same'
    padding, any strides. As a matrix multiply its weights are sparse and repeated."""

    def __init__(self, name, kernel, bias=None, strides=(1, 1), padding="valid"):
        super().__init__(name)
        self.kernel = check_array("kernel", kernel, ndim=4, dtype=np.float64, empty=False)
        kh, kw, c, f = self.kernel.shape
        self.bias = np.zeros(f) if bias is None else _check_bias(bias, f)
        self.windows = _Windows((kh, kw), strides, padding, ("kernel", "strides"))
        self._matrix = self.kernel.reshape(kh * kw * c, f)

    def _patches(self, a):
        patches = self.windows.extract(a, 0.0)           # (n, oh, ow, C, kh, kw)
        n, oh, ow = patches.shape[:3]
        return patches.transpose(0, 1, 2, 4, 5, 3).reshape(n, oh, ow, self._matrix.shape[0])

    def forward(self, a):
        a = _step_input(self, a, rank=4, last=self.kernel.shape[2])
        return self._patches(a) @ self._matrix + self.bias

    def transpose(self, v, shape):
        kh, kw, c, _ = self.kernel.shape
        cols = (v @ self._matrix.T).reshape(*v.shape[:3], kh, kw, c)
        return self.windows.scatter(cols.transpose(0, 1, 2, 5, 3, 4), shape)

    def bias_signal(self, v):
        return (v * self.bias).sum(axis=(1, 2))

    def output_shape(self, shape):
        oh, ow, _, _ = self.windows.geometry((1, *shape))
        return (oh, ow, self.kernel.shape[3])


class Nonlinearity(Step):
    """``b = f(z)`` element-wise; ``f`` and its derivative ``fprime`` act on float64
    arrays. ``function`` names it exactly (a Keras name such as ``"relu"``, or with its
    parameters, ``"leaky_relu(0.1)"``); ``zero_at_zero`` says whether ``f(0) = 0``, which
    relevance propagation needs."""

    kind = "nonlinearity"

    def __init__(self, name, function, f, fprime, zero_at_zero=True):
        super().__init__(name)
        if not isinstance(function, str):
            raise TypeError(f"function must be the activation's name (str), got "
                            f"{describe(function)}")
        for label, value in (("f", f), ("fprime", fprime)):
            if value is not None and not callable(value):
                raise TypeError(f"{label} must be a function of float64 arrays (None for a "
                                f"softmax that the output applies), got {describe(value)}")
        self.function, self.f, self.fprime = function, f, fprime
        self.zero_at_zero = check_flag("zero_at_zero", zero_at_zero)

    def forward(self, z):
        z = _step_input(self, z, "z")
        if self.f is None:
            raise ValueError(f"layer {self.name!r} ({self.function}) has no function of its "
                             "own: the network's output applies it")
        return self.f(z)

    def output_shape(self, shape):
        return shape


class Maximum(Step):
    """Max pooling, channels last: (n, H, W, C) -> (n, oh, ow, C), or with ``one_d`` a
    MaxPooling1D (n, L, C) -> (n, oL, C). Windows are padded with -inf for 'same'."""

    kind = "maximum"

    def __init__(self, name, pool, strides, padding, one_d=False):
        super().__init__(name)
        self.one_d = check_flag("one_d", one_d)
        self.windows = _Windows(pool, strides, padding)

    def values(self, a):
        """The windows: ``(n, *output_shape, k)``."""
        if self.one_d:
            a = a[:, :, None, :]
        parts = self.windows.extract(a, -np.inf)
        parts = parts.reshape(*parts.shape[:4], int(np.prod(self.windows.window)))
        return parts[:, :, 0] if self.one_d else parts

    def forward(self, a, values=None):
        if values is None:
            values = self.values(_step_input(self, a, rank=3 if self.one_d else 4))
        return values.max(axis=-1)

    def scatter(self, parts, shape):
        """Adjoint of :meth:`values`: ``(n, *output_shape, k)`` summed back to ``shape``."""
        if self.one_d:
            parts, shape = parts[:, :, None], (shape[0], shape[1], 1, shape[2])
        parts = parts.reshape(*parts.shape[:4], *self.windows.window)
        out = self.windows.scatter(parts, shape)
        return out[:, :, 0] if self.one_d else out

    def output_shape(self, shape):
        if self.one_d:
            oh, _, _, _ = self.windows.geometry((1, shape[0], 1, shape[1]))
            return (oh, shape[1])
        oh, ow, _, _ = self.windows.geometry((1, *shape))
        return (oh, ow, shape[2])


class Reshape(Step):
    """Flatten: ``(n, *shape) -> (n, prod(shape))``."""

    kind = "reshape"

    def forward(self, a):
        a = _step_input(self, a)
        return a.reshape(len(a), int(np.prod(a.shape[1:])))

    def output_shape(self, shape):
        return (int(np.prod(shape)),)


def activation_step(name, activation, owner=None):
    """The steps of the activation named ``activation`` (a name
    :func:`~toyviz.network.activations.parse_activation` reads) on the layer ``name``:
    ``[]`` for ``"linear"``, else one :class:`Nonlinearity`. A softmax keeps no function:
    the network's output applies it. ``owner`` is the caller's parameter, for the message
    that refuses a name the registry does not know."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (the Keras layer's name), got {describe(name)}")
    if owner is not None and not isinstance(owner, str):
        raise TypeError(f"owner must be a str (the caller's parameter name) or None, got "
                        f"{describe(owner)}")
    if not isinstance(activation, str):
        raise TypeError(f"activation must be an activation's name (str), got "
                        f"{describe(activation)}")
    parsed = parse_activation(activation)
    if parsed is None:
        prefix = "" if owner is None else f"{owner}'s "
        raise ValueError(
            f"{prefix}layer {name!r} uses the activation {activation!r}, which is not "
            f"supported; supported: {sorted(entry.name for entry in REGISTRY)}")
    entry, parameters = parsed
    if activation == "linear":
        return []
    # a parametric form: the names keras.read gives, so from_dense reads dense_chain back
    f, fprime = entry.family(*parameters) if parameters else entry.functions or (None, None)
    return [Nonlinearity(name, activation, f, fprime, zero_at_zero=entry.zero_at_zero)]
