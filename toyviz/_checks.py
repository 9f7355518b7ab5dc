"""Argument checks shared by every public toyviz function.

Each check raises ``TypeError`` for a wrong type and ``ValueError`` for a wrong value,
and the message names the parameter, what was expected and what came in.
"""

import collections.abc
import numbers
import os

import numpy as np


def describe(value):
    """A short description of ``value`` for an error message: an array's shape and dtype,
    anything else's type and (cut) repr."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def check_int(name, value, low=None, high=None):
    """Return ``value`` as a Python int, checking ``low <= value <= high``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_float(name, value, low=None, high=None, low_open=False, high_open=False):
    """Return ``value`` as a finite Python float within ``[low, high]`` (open at ``low``
    with ``low_open``, at ``high`` with ``high_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        bound = ">" if low_open else ">="
        raise ValueError(f"{name} must be {bound} {low}, got {value}")
    if high is not None and (value >= high if high_open else value > high):
        bound = "<" if high_open else "<="
        raise ValueError(f"{name} must be {bound} {high}, got {value}")
    return value


def check_rng(name, value):
    """Check that ``value`` is a ``numpy.random.Generator``."""
    if not isinstance(value, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), "
            f"got {describe(value)}")
    return value


def check_array(name, value, ndim=None, shape=None, dtype=np.float32, finite=True,
                empty=True):
    """Return ``value`` as a numpy array of ``dtype``, checking its rank and shape.

    ``shape`` may hold ``None`` for any length along an axis. Complex values are refused,
    never cast to real; with ``finite``, so are NaN and inf (before and after the cast, so
    that a float64 too large for float32 does not become inf); an integer ``dtype`` refuses
    fractions rather than truncating them; ``empty=False`` refuses an array with no
    elements.
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array, got {describe(value)}")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array, got {describe(value)}") from error
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got {describe(array)}")
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got {describe(array)}")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got {describe(array)}")
    if shape is not None:
        if array.ndim != len(shape) or any(
                want is not None and want != got for want, got in zip(shape, array.shape)):
            wanted = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {wanted}, got {describe(array)}")
    if not empty and array.size == 0:
        raise ValueError(f"{name} must not be empty, got {describe(array)}")
    floating = np.issubdtype(array.dtype, np.floating)
    if (finite or dtype is not None and np.issubdtype(dtype, np.integer)) and floating \
            and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain only finite values, got {describe(array)}")
    if dtype is not None:
        if np.issubdtype(dtype, np.integer) and floating and np.any(array != np.round(array)):
            raise ValueError(f"{name} must hold whole numbers, got {describe(array)}")
        with np.errstate(over="ignore"):          # an overflow to inf is refused below
            array = array.astype(dtype, copy=False)
    if finite and np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        largest = float(np.max(np.abs(np.asarray(value, dtype=np.float64))))
        raise ValueError(f"{name} must contain only finite values in {array.dtype}, which "
                         f"holds magnitudes up to {np.finfo(array.dtype).max:.3g}, but its "
                         f"largest is {largest:.3g}: scale it down; got "
                         f"{describe(np.asarray(value))}")
    return array


#: The largest input magnitude training accepts: the square root of float32's largest
#: number. Gradients scale with the inputs and Adam squares them (its second moment), so
#: beyond it that square overflows to inf, and the next step gives inf - inf = NaN.
LARGEST_TRAINING_INPUT = float(np.sqrt(np.finfo(np.float32).max))


def check_training_inputs(name, x):
    """Refuse training inputs ``x`` (a float array, already checked finite) larger in
    magnitude than :data:`LARGEST_TRAINING_INPUT`. Returns ``x``."""
    largest = float(np.max(np.abs(x))) if np.size(x) else 0.0
    if largest > LARGEST_TRAINING_INPUT:
        raise ValueError(
            f"{name} must stay within ±{LARGEST_TRAINING_INPUT:.3g} for training (it squares "
            f"gradients that grow with the inputs, and float32 overflows beyond that), got "
            f"values as large as {largest:.3g}: scale {name} (e.g. to zero mean and unit "
            "variance)")
    return x


def refuse_divergence(when, x, learning_rate, name="x"):
    """Raise the ``ValueError`` of a training run whose loss or weights became NaN or inf
    by ``when`` (e.g. "step 3"): the inputs ``x`` (the caller's parameter ``name``) were
    too large for float32 arithmetic, or the learning rate too high."""
    largest = float(np.max(np.abs(x))) if np.size(x) else 0.0
    raise ValueError(
        f"training diverged: by {when} the loss or the weights became NaN or inf; "
        f"{name} is as large as {largest:.3g} and learning_rate is {learning_rate:g}: "
        f"scale {name} (e.g. to zero mean and unit variance) or lower learning_rate")


def looks_one_hot(array):
    """Whether ``array`` (a numeric numpy array) is a (n, k >= 2) table of 0s and 1s with
    one 1 per row: one-hot encoded labels."""
    return (array.ndim == 2 and array.shape[1] >= 2 and array.size > 0
            and not np.issubdtype(array.dtype, np.complexfloating)
            and bool(np.all((array == 0) | (array == 1)))
            and bool(np.all(array.sum(axis=1) == 1)))


def refuse_one_hot(name, array):
    """Refuse one-hot encoded labels where class indices are wanted, saying how to get
    them."""
    if looks_one_hot(array):
        raise ValueError(f"{name} looks one-hot encoded (shape {array.shape}); pass class "
                         f"indices, e.g. {name}.argmax(axis=1)")


def check_labels(name, labels, n=None, n_classes=None, empty=False, integer_dtype=False,
                 k=None):
    """Return class labels as a (n,) int64 array, checking that they are whole numbers in
    ``0 .. n_classes - 1`` (when ``n_classes`` is given), one per point (when ``n`` is).
    Booleans count as 0 and 1 and whole floats as integers, unless ``integer_dtype``
    asks for an integer dtype; no labels at all are refused unless ``empty``; one-hot
    encoded labels are refused with a message saying how to get class indices.

    With ``k`` (a stack of k networks, ``n`` then required), the labels are one per network
    and point: a (k, n) array, or (n,) labels shared by every network (a read-only
    broadcast view); returns (k, n) int64."""
    raw = check_array(name, labels, dtype=None, empty=empty)
    if k is None:
        refuse_one_hot(name, raw)
        raw = check_array(name, raw, ndim=1, shape=None if n is None else (n,), dtype=None,
                          empty=empty)
    else:
        if raw.shape != (k, n):  # (k, n) labels can look one-hot: they are not
            refuse_one_hot(name, raw)
        if raw.shape == (n,):
            raw = np.broadcast_to(raw, (k, n))
        if raw.shape != (k, n):
            raise ValueError(f"{name} must have shape ({n},) or ({k}, {n}) to match the "
                             f"points, got {describe(raw)}")
    if integer_dtype and not np.issubdtype(raw.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels, got dtype {raw.dtype}")
    labels = check_array(name, raw, dtype=np.int64)
    high = "" if n_classes is None else f" .. {n_classes - 1}"
    if labels.size and (labels.min() < 0 or n_classes is not None
                        and labels.max() >= n_classes):
        raise ValueError(f"{name} must be class labels in 0{high}, got values from "
                         f"{labels.min()} to {labels.max()}")
    return labels


def check_flag(name, value):
    """Return ``value`` as a Python bool; anything but a bool (``"no"``, 0, 1, None) is
    refused, since ``bool("no")`` is True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def memory_bytes():
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_size(name, value, n_bytes):
    """Refuse ``value`` of the parameter ``name`` before anything is allocated when the
    arrays it asks for, ``n_bytes`` in all (computed with Python ints, which do not
    overflow), would not fit in this machine's memory. Returns ``value``."""
    n_bytes = int(n_bytes)
    available = memory_bytes()
    if n_bytes > available:
        raise ValueError(f"{name} = {value!r} would need {n_bytes / 2**30:,.1f} GiB, more than "
                         f"this machine's {available / 2**30:,.1f} GiB of memory")
    return value


def check_fits(sizes, n_bytes):
    """Refuse, naming the largest of ``sizes`` ([(parameter, value)]), arrays of
    ``n_bytes`` in all that would not fit in memory (:func:`check_size`)."""
    name, value = max(sizes, key=lambda item: item[1])
    check_size(name, value, n_bytes)


def check_sequence(name, values, what="values", empty=False):
    """Return ``values`` (a list or tuple, not a str) as a list, refusing an empty one
    unless ``empty``; ``what`` describes the items, for the message."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of {what}, got {describe(values)}")
    if not empty and not values:
        raise ValueError(f"{name} must hold at least one of {what}, got none")
    return list(values)


#: Collections that are not a sequence in an order of the caller's choosing: sets (a set
#: of str iterates in hash order, which changes with ``PYTHONHASHSEED``), dicts and dict
#: views.
UNORDERED = (collections.abc.Set, collections.abc.MappingView, collections.abc.Mapping)


def check_ordered(name, values, what="values"):
    """Refuse a set, frozenset, dict or dict view where the order of ``values`` decides
    the result. Returns ``values``."""
    if isinstance(values, UNORDERED):
        raise TypeError(f"{name} must be a list or tuple of {what}: their order matters, "
                        f"and a set's order changes from one Python process to the next; "
                        f"got {describe(values)}")
    return values


def check_layer_names(name, layers, hidden):
    """``layers`` checked against ``hidden``, a network's hidden layers (their names, e.g.
    :attr:`toyviz.network.Network.hidden_layers`): returns a tuple of hidden layer names,
    no repeats; a single name may be given as a str. ``name`` is the caller's parameter,
    for the messages."""
    if isinstance(layers, str):
        layers = (layers,)
    check_ordered(name, layers, "hidden layer names")
    if isinstance(layers, bytes) or not hasattr(layers, "__iter__"):
        raise TypeError(f"{name} must be a hidden layer name or a sequence of them, got "
                        f"{type(layers).__name__}")
    layers = tuple(layers)
    for layer in layers:
        if not isinstance(layer, str):
            raise TypeError(f"{name} must hold layer names (str), got {type(layer).__name__}")
        if layer not in hidden:
            raise ValueError(f"{name} names {layer!r}, which is not a hidden layer of the "
                             f"model; hidden layers: {list(hidden)}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"{name} must not repeat a layer, got {list(layers)}")
    return layers


def check_instance(name, value, kinds, what):
    """Check that ``value`` is an instance of ``kinds``; ``what`` names them in words."""
    if not isinstance(value, kinds):
        raise TypeError(f"{name} must be {what}, got {describe(value)}")
    return value


def check_name(value, name="name"):
    """A helper's ``name`` argument (the caller's parameter name, for its messages): a
    non-empty str."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty str (a parameter's name), got "
                        f"{describe(value)}")
    return value


def check_extent(name, extent):
    """``extent`` as the tuple ``(x0, x1, y0, y1)`` of floats, each axis of non-zero length
    and not reversed (the plots' and the explorables' extents)."""
    extent = check_array(name, extent, shape=(4,), dtype=np.float64)
    if extent[0] >= extent[1] or extent[2] >= extent[3]:
        raise ValueError(f"{name} must be (x0, x1, y0, y1) with x0 < x1 and y0 < y1 (a "
                         f"reversed axis would mirror the surface but not the points), got "
                         f"{tuple(extent.tolist())}")
    return tuple(float(value) for value in extent)


def check_choice(name, value, choices):
    """Check that ``value`` is one of ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {sorted(choices)}, "
                        f"got {describe(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def is_tensor(value):
    """Whether ``value`` is a TensorFlow tensor or variable."""
    import tensorflow as tf

    return isinstance(value, (tf.Tensor, tf.Variable))


def check_tensor(name, value, shapes, dtype):
    """A TensorFlow tensor passes as it is (inside a compiled loop it has no values yet);
    anything else must be a finite ``dtype`` array of one of ``shapes`` (tuples with None
    for any length). Returns the tensor or the array."""
    if is_tensor(value):
        return value
    array = check_array(name, value, dtype=dtype, empty=False)
    if not any(array.ndim == len(shape) and all(want is None or want == got for want, got
                                                in zip(shape, array.shape))
               for shape in shapes):
        wanted = " or ".join("(" + ", ".join("any" if s is None else str(s) for s in shape)
                             + ")" for shape in shapes)
        raise ValueError(f"{name} must have shape {wanted}, got {array.shape}")
    return array
