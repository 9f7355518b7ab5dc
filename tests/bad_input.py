"""The bad-input battery: every public function and class of toyviz, called with bad
arguments one parameter at a time, each outcome put in one of five classes.

A case spec (:class:`Spec`, in ``bad_input_specs.py``) gives a callable's minimal valid
arguments. The battery derives the bad values of each parameter from the kind of its valid
value (a flag, an int, a float, a str, an array of floats or of ints, a generator, a
sequence of numbers, or any other object), substitutes them one at a time, and classifies
what the call does:

- ``clean refusal``: ``ValueError`` or ``TypeError`` whose message names the caller's
  parameter (for a widget's trait, also traitlets' ``TraitError`` naming the trait);
- ``right result``: the call returned, the value is one the spec lists as legitimately
  accepted (with a one-line reason) and its check of the result passes, or the value is an
  equivalent spelling of the valid one (a list for an array, ``numpy.int64`` for an int)
  and the result equals the valid call's;
- ``other or unclear error``: any other exception, or a message that does not name the
  parameter;
- ``wrong result``: the call returned for a bad value, or a legitimately accepted value's
  check failed, or an equivalent spelling gave another result;
- ``hang``: the call ran past its time limit, or allocated more than
  :data:`ALLOCATION_LIMIT` bytes for a size that cannot fit in memory.
"""

import dataclasses
import inspect
import math
import numbers
import re
import signal
import time
import tracemalloc

import numpy as np
import pandas as pd

CLEAN, RIGHT, UNCLEAR, WRONG, HANG = ("clean refusal", "right result",
                                      "other or unclear error", "wrong result", "hang")
OUTCOMES = (CLEAN, RIGHT, UNCLEAR, WRONG, HANG)
#: Seconds one call may take before it counts as a hang.
TIME_LIMIT = 20.0
#: Bytes a call given a size that cannot fit may allocate before it counts as a huge
#: allocation: refusing it up front allocates next to nothing.
ALLOCATION_LIMIT = 64 * 2**20
#: A size that fits in no machine's memory.
HUGE = 10**12


@dataclasses.dataclass
class Spec:
    """How to call one public callable.

    args : () -> dict of minimal valid keyword arguments, built afresh for every call (a
        ``*args`` parameter takes a list). Parameters left out keep their defaults.
    accept : {(parameter, case): (reason, check)} bad values the callable legitimately
        accepts; ``check(result, arguments)`` must say the result is right.
    kinds : {parameter: kind} where the kind read from the valid value is not the one
        meant (see :data:`KINDS`).
    extra : {parameter: {case: (valid value) -> bad value}} more bad values.
    fixed : {parameter: reason} parameters the battery leaves alone (e.g. a value passed
        through to matplotlib as documented).
    same : (result, result) -> bool, for equivalent spellings (default :func:`same`).
    abstract : reason the callable cannot be called (an abstract base class); its
        subclasses are called instead.
    equivalents : False for a slow callable (one that trains a Keras model): its
        equivalent spellings are then not tried, nor its valid arguments on their own,
        only its bad values.
    refusals : the exception types that count as a refusal (``TraitError`` too for a
        widget's trait, see :func:`setter`).
    """

    args: object = None
    accept: dict = dataclasses.field(default_factory=dict)
    kinds: dict = dataclasses.field(default_factory=dict)
    extra: dict = dataclasses.field(default_factory=dict)
    fixed: dict = dataclasses.field(default_factory=dict)
    same: object = None
    abstract: str = ""
    equivalents: bool = True
    refusals: tuple = (ValueError, TypeError)


class Timeout(BaseException):
    """Raised by the alarm: a BaseException, so that no ``except Exception`` in the
    library swallows it."""


def _alarm(signum, frame):
    raise Timeout()


def _complex_array(value):
    return np.asarray(value).astype(complex)


def _with_first(value, new, dtype=None):
    array = np.array(value, dtype=dtype if dtype is not None else np.asarray(value).dtype)
    array.flat[0] = new
    return array


def _widened(value):
    array = np.asarray(value)
    return np.concatenate([array, array[..., :1]], axis=-1)


def _float_array_cases(value):
    array = np.asarray(value)
    cases = {"str": "abc", "None": None, "object": object(), "complex": _complex_array(array),
             "object dtype": array.astype(object), "ragged": [[0.0], [0.0, 1.0]],
             "extra axis": array[None], "scalar": array.flat[0] if array.size else 0.0}
    if array.size:
        cases.update({"nan": _with_first(array, np.nan, np.float64),
                      "inf": _with_first(array, np.inf, np.float64),
                      "empty": array[:0]})
    if array.ndim >= 2 and array.shape[-1] > 0:
        cases["wider last axis"] = _widened(array)
    return cases


def _int_array_cases(value):
    array = np.asarray(value)
    cases = {"str": "abc", "None": None, "object": object(), "complex": _complex_array(array),
             "extra axis": array[None], "fraction": array + 0.5,
             "strings": array.astype(str)}
    if array.size:
        cases.update({"negative": _with_first(array, -1), "out of range":
                      _with_first(array, int(array.max()) + 1000),
                      "nan": _with_first(array, np.nan, np.float64), "empty": array[:0]})
    return cases


def _bool_array_cases(value):
    array = np.asarray(value)
    cases = {"str": "abc", "None": None, "complex": _complex_array(array),
             "extra axis": array[None], "not 0 or 1": array.astype(float) + 0.5}
    if array.size:
        cases.update({"nan": _with_first(array, np.nan, np.float64), "empty": array[:0]})
    return cases


def _numbers_cases(value):
    items = list(value)
    cases = {"str": "abc", "None": None, "object": object(), "empty": type(value)(),
             "strings": type(value)("a" for _ in items),
             "nested": type(value)((item, item) for item in items)}
    if items:
        first = items[0]
        cases.update({"nan element": type(value)([math.nan, *items[1:]]),
                      "complex element": type(value)([1j, *items[1:]]),
                      "negative element": type(value)([-abs(first) - 1, *items[1:]])})
        if isinstance(first, numbers.Integral):
            cases["huge element"] = type(value)([HUGE, *items[1:]])
            cases["fraction element"] = type(value)([first + 0.5, *items[1:]])
    return cases


#: The bad values of each kind of parameter, from its valid value.
KINDS = {
    "flag": lambda v: {"str": "no", "None": None, "int": 1, "float": 0.5, "list": [True]},
    "int": lambda v: {"str": "3", "None": None, "float": 2.5, "integral float": float(v),
                      "bool": True, "nan": math.nan, "complex": 1j, "negative": -1,
                      "huge": HUGE},
    "float": lambda v: {"str": "0.5", "None": None, "bool": True, "nan": math.nan,
                        "inf": math.inf, "-inf": -math.inf, "complex": 1 + 1j,
                        "negative": -abs(v) - 1.0, "huge": 1e300, "list": [v]},
    "str": lambda v: {"unknown": "no such thing", "None": None, "int": 3, "bytes": b"abc",
                      "list": [v]},
    "rng": lambda v: {"int seed": 0, "legacy RandomState": np.random.RandomState(0),
                      "None": None, "str": "rng"},
    "float array": _float_array_cases,
    "int array": _int_array_cases,
    "bool array": _bool_array_cases,
    "numbers": _numbers_cases,
    "object": lambda v: {"None": None, "str": "abc", "int": 3, "complex": 1j,
                         "object": object()},
}

#: Equivalent spellings of a valid value: the result must be the valid call's.
EQUIVALENTS = {
    "flag": lambda v: {"numpy bool": np.bool_(v)},
    "int": lambda v: {"numpy int": np.int64(v)},
    "float": lambda v: {"numpy float": np.float64(v)},
    "float array": lambda v: {"list": np.asarray(v).tolist()},
    "int array": lambda v: {"list": np.asarray(v).tolist(),
                            "int32": np.asarray(v).astype(np.int32)},
    "bool array": lambda v: {"list": np.asarray(v).tolist()},
}


def kind_of(value):
    """The kind of parameter a valid value says it is."""
    if isinstance(value, (bool, np.bool_)):
        return "flag"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, np.random.Generator):
        return "rng"
    if isinstance(value, np.ndarray) and value.dtype != object:
        if value.dtype == bool:
            return "bool array"
        return "int array" if np.issubdtype(value.dtype, np.integer) else "float array"
    if isinstance(value, (tuple, list)) and value and all(
            isinstance(item, numbers.Real) and not isinstance(item, bool) for item in value):
        return "numbers"
    return "object"


def same(a, b):
    """Whether two results are equal (arrays to float32 rounding)."""
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return type(a) is type(b) and a.shape == b.shape and a.index.equals(b.index) and (
            isinstance(a, pd.Series) or list(a.columns) == list(b.columns)) and all(
            same(a[c].to_numpy(), b[c].to_numpy()) for c in (
                a.columns if isinstance(a, pd.DataFrame) else [None]) if c is not None) \
            and (isinstance(a, pd.DataFrame) or same(a.to_numpy(), b.to_numpy()))
    if isinstance(a, (np.ndarray, np.generic, numbers.Number)) and not isinstance(a, str):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if a.dtype == object:
            return all(map(same, a.ravel(), b.ravel()))
        if a.dtype.kind in "fciub" and b.dtype.kind in "fciub":
            return bool(np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True))
        return bool(np.all(a == b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b)) and same(
            getattr(a, "__dict__", None), getattr(b, "__dict__", None))
    if a is None or isinstance(a, str):
        return a == b
    fingerprint = _figure_fingerprint(a)
    if fingerprint is not None:
        return same(fingerprint, _figure_fingerprint(b))
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(same(getattr(a, field.name), getattr(b, field.name))
                                          for field in dataclasses.fields(a))
    if hasattr(a, "__dict__"):
        return type(a) is type(b) and same(vars(a), vars(b))
    return a == b


def _figure_fingerprint(result):
    """What a figure (or something drawn on one) shows: its images' and lines' data."""
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure

    if not isinstance(result, (Figure, Artist)):
        return None
    figure = result if isinstance(result, Figure) else result.figure
    if figure is None:
        return [repr(result)]
    out = []
    for ax in figure.axes:
        out += [np.asarray(image.get_array(), np.float64) for image in ax.images]
        out += [np.asarray(line.get_xydata(), np.float64) for line in ax.lines]
        out += [np.asarray(c.get_offsets(), np.float64) for c in ax.collections
                if hasattr(c, "get_offsets")]
        out.append(ax.get_title())
    return out


#: Parameter names that are also everyday words ("must end in", "why ..."): like a name of
#: one or two letters ("a network", "(n, 2)"), they count as named only as the subject of
#: a sentence or in backticks, never as the first word alone (see :func:`names_parameter`).
_WORDLIKE = {"end", "why"}

#: What follows a parameter named as a subject: a verb of the message, or a comparison
#: ("x must be ...", "y looks one-hot ...", "n = 3", "lo=-1, hi=1", "hi <= lo").
_SUBJECT_FOLLOWS = (r"(?:\s*(?:=|<|>|!=)|\s+(?:must|is|are|has|have|holds|looks|names|gives|"
                    r"needs|does|do|cannot|should|would|contains|spans|takes|was|were|"
                    r"overflows|lies|replaces|multiplies|masks|uses|ends)\b)")

#: Another identifier, with any subscripts, in a subject of several ("a and b must ...").
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])*"


def names_parameter(message, name):
    """Whether an error message names the parameter ``name``: whether it says the value of
    ``name`` is wrong, not merely contains the word.

    The name must stand as its own identifier (not inside a longer name, ``first`` in
    ``first_layer``; not after a dot, ``toyviz.network``; not as a call, ``softmax(``;
    not quoted as a value, ``'n'``), and in a place where the library's messages name a
    parameter:

    - as the subject of the message or of one of its clauses, with any subscripts or a
      possessive: ``x must be ...``, ``x[0] has ...``, ``y's labels are ...``, ``n = 3``,
      ``a and b must ...``;
    - in backticks, `` `x` ``, or as traitlets names a trait, ``The 'x' trait of ...``;
    - as the first word of the message (``model's layer 'hidden' has ...``, ``layers do
      not chain ...``), unless the name is one or two letters or in :data:`_WORDLIKE`.

    A mention anywhere else is prose as often as a name, and does not count: the article
    ``a`` ("a list"), shape text ``n`` ("(n, 2)"), and a longer name as an object ("one
    per unit of kernel", "the shape of first", "the margin asked for")."""
    token = re.escape(name)
    named = rf"(?<![A-Za-z0-9_.'\"\-]){token}(?![A-Za-z0-9_(])(?:\[[^\]]*\])*"
    forms = [rf"{named}(?:'s)?(?:(?:,\s*{_IDENTIFIER})*,?\s+and\s+{_IDENTIFIER})?"
             rf"(?={_SUBJECT_FOLLOWS})",
             rf"`{token}[`\[]",
             rf"'{token}' trait\b"]
    if len(name) > 2 and name not in _WORDLIKE:
        forms.append(rf"^\s*{named}(?:'s)?(?=[\s:,]|$)")
    return re.search("|".join(forms), message) is not None


def setter(make, trait):
    """A callable with the one keyword parameter ``trait`` that sets that trait of a fresh
    object from ``make()`` and returns the object: the battery tries a widget's trait, set
    after the widget is made, as it tries a parameter."""
    def set_trait(**arguments):
        owner = make()
        setattr(owner, trait, arguments[trait])
        return owner

    set_trait.__signature__ = inspect.Signature(
        [inspect.Parameter(trait, inspect.Parameter.KEYWORD_ONLY)])
    set_trait.__name__ = f"set_{trait}"
    return set_trait


@dataclasses.dataclass
class Case:
    callable_name: str
    parameter: str
    case: str
    outcome: str
    detail: str = ""


def _call(function, arguments, star, huge):
    """Call ``function`` with keyword ``arguments`` (the ``star`` one, if any, as *args)
    under the time limit, and with tracemalloc for a size that cannot fit.
    Returns (result, error, peak bytes, seconds)."""
    keywords = dict(arguments)
    positional = list(keywords.pop(star)) if star in keywords else []
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    if huge:
        tracemalloc.start()
    start = time.perf_counter()
    result = error = None
    peak = 0
    try:
        result = function(*positional, **keywords)
    except Timeout as timeout:
        error = timeout
    except Exception as exception:  # noqa: BLE001 -- classified below
        error = exception
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if huge:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    return result, error, peak, time.perf_counter() - start


def _cleanup():
    import matplotlib.pyplot as plt

    plt.close("all")


def parameters_of(function):
    """The parameters the battery substitutes: all but ``self`` and ``**kwargs``."""
    signature = inspect.signature(function)
    star = None
    names = []
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            continue
        if parameter.kind is parameter.VAR_POSITIONAL:
            star = parameter.name
        names.append(parameter)
    return names, star


def run(name, function, spec):
    """Every case of one callable: a list of :class:`Case`."""
    params, star = parameters_of(function)
    baseline_args = spec.args()
    baseline = None
    if spec.equivalents:  # else too slow to call once more; a bad spec shows as unclear errors
        baseline, error, _, _ = _call(function, baseline_args, star, False)
        _cleanup()
        if error is not None:
            raise AssertionError(f"{name}: the spec's valid arguments fail: "
                                 f"{type(error).__name__}: {error}") from error
    cases = []
    used = set()
    for parameter in params:
        pname = parameter.name
        if pname in spec.fixed:
            continue
        valid = baseline_args.get(pname, parameter.default)
        if valid is inspect.Parameter.empty:
            raise AssertionError(f"{name}: the spec gives no valid {pname}")
        if pname == star:
            kind = spec.kinds.get(pname, "object")
            bad = {f"[{label}]": [value] for label, value in KINDS[kind](
                valid[0] if valid else None).items()} if valid else {}
            equivalents = {}
        else:
            kind = spec.kinds.get(pname, kind_of(valid))
            bad = KINDS[kind](valid)
            equivalents = EQUIVALENTS.get(kind, lambda v: {})(valid) if spec.equivalents \
                else {}
        if parameter.default is None:
            bad.pop("None", None)  # None is the default: not a bad value
        for label, make in spec.extra.get(pname, {}).items():
            bad[label] = make(valid)
        for label, value in [*((label, (value, False)) for label, value in bad.items()),
                             *((label, (value, True)) for label, value in
                               equivalents.items())]:
            value, equivalent = value
            used.add((pname, label))
            arguments = spec.args()
            arguments[pname] = value
            huge = "huge" in label
            result, error, peak, seconds = _call(function, arguments, star, huge)
            cases.append(_classify(name, pname, label, spec, result, error, peak, seconds,
                                   huge, equivalent, baseline, arguments))
            _cleanup()
    unused = set(spec.accept) - used
    if unused:
        raise AssertionError(f"{name}: the spec accepts cases the battery does not make: "
                             f"{sorted(unused)}")
    return cases


def _classify(name, pname, label, spec, result, error, peak, seconds, huge, equivalent,
              baseline, arguments):
    def case(outcome, detail=""):
        return Case(name, pname, label, outcome, detail)

    if isinstance(error, Timeout):
        return case(HANG, f"ran past {TIME_LIMIT:.0f} s")
    if huge and peak > ALLOCATION_LIMIT:
        return case(HANG, f"allocated {peak / 2**20:.0f} MiB for a size that cannot fit")
    if error is not None:
        message = str(error)
        if isinstance(error, spec.refusals):
            if names_parameter(message, pname):
                return case(CLEAN)
            return case(UNCLEAR, f"{type(error).__name__} that does not name {pname} (as the "
                                 f"subject, first word or in backticks): {message[:200]}")
        return case(UNCLEAR, f"{type(error).__name__}: {message[:200]}")
    if equivalent:
        try:
            ok = (spec.same or same)(result, baseline)
        except Exception as exception:  # noqa: BLE001
            return case(WRONG, f"result not comparable: {exception!r}")
        return case(RIGHT) if ok else case(WRONG, "an equivalent spelling gave another result")
    if (pname, label) in spec.accept:
        reason, check = spec.accept[(pname, label)]
        try:
            ok = bool(check(result, arguments))
        except Exception as exception:  # noqa: BLE001
            return case(WRONG, f"accepted ({reason}) but its check failed: {exception!r}")
        return case(RIGHT) if ok else case(WRONG, f"accepted ({reason}) but the result is "
                                                  "wrong")
    return case(WRONG, f"accepted and returned {type(result).__name__}")
