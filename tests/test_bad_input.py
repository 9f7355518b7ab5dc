"""Every public function and class of toyviz, called with bad input (issue 10, point 5).

Each call must either give the right result or raise ``ValueError``/``TypeError`` naming
the caller's own parameter; a size that cannot fit in memory is refused before anything is
allocated. See ``bad_input.py`` for the battery and the outcome classes, and
``bad_input_specs.py`` for the case specs. A new public function needs a spec there, or
:func:`test_every_public_callable_has_a_spec` fails. ``MEMBERS`` there batters more than
the callables: methods (``network.Network.predict``), widgets' traits set after the widget
is made (``widgets.NodeToggleHeatmap.loss_max``) and callables with other parameters fixed
(``reasons.relevance_tf(rule='gradient')``), each with the module of its owner.
"""

import collections
import faulthandler
import importlib
import inspect
import pkgutil
import sys

import matplotlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toyviz
from bad_input import (CLEAN, HANG, OUTCOMES, RIGHT, UNCLEAR, WRONG, names_parameter, run,
                       setter)
from bad_input_specs import MEMBERS, SPECS

#: Seconds the whole battery of one module may take before the process is stopped with a
#: traceback (the per-call alarm cannot interrupt a long C call).
MODULE_DEADLINE = 300


def public_callables():
    """{"module.name": callable} for every public function and class defined in a toyviz
    module (names imported from elsewhere are not the module's), plus ``set_seed``."""
    found = {"set_seed": toyviz.set_seed}
    for info in pkgutil.walk_packages(toyviz.__path__, "toyviz."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        short = info.name.removeprefix("toyviz.")
        for name, value in vars(module).items():
            if (not name.startswith("_") and callable(value)
                    and getattr(value, "__module__", None) == module.__name__):
                found[f"{short}.{name}"] = value
    return found


PUBLIC = public_callables()
MODULES = sorted({name.rpartition(".")[0] or "toyviz" for name in PUBLIC})


def owner_of(member):
    """The public callable a member of ``MEMBERS`` belongs to: the longest public name it
    extends with ``.attribute`` or ``(...)``; None if there is none."""
    owners = [name for name in PUBLIC if member.startswith((f"{name}.", f"{name}("))]
    return max(owners, key=len, default=None)


def module_of(name):
    """The module a public callable or a member of ``MEMBERS`` is battered with."""
    name = owner_of(name) if name in MEMBERS else name
    return name.rpartition(".")[0] or "toyviz"


def test_every_public_callable_has_a_spec():
    missing = sorted(set(PUBLIC) - set(SPECS))
    assert not missing, f"public callables without a case spec in bad_input_specs.py: {missing}"
    stale = sorted(set(SPECS) - set(PUBLIC))
    assert not stale, f"specs for names that are not public callables: {stale}"
    orphans = sorted(member for member in MEMBERS if not _has_member(member))
    assert not orphans, f"members whose owner has no such method or trait: {orphans}"


def _has_member(member):
    """Whether ``member`` of ``MEMBERS`` names an attribute (a method or a trait) of a
    public class, or a public callable with other parameters fixed."""
    owner = owner_of(member)
    if owner is None:
        return False
    rest = member.removeprefix(owner)
    return rest.startswith("(") or hasattr(PUBLIC[owner], rest.removeprefix("."))


#: Outcome counts per module battered in this session, for the totals.
COUNTS = {}


def _line(label, counts):
    return (f"bad input, {label}: {sum(counts.values())} cases: "
            + ", ".join(f"{counts[outcome]} {outcome}" for outcome in OUTCOMES))


#: Modules whose battery is known to fail, with the reason (strict: the mark goes when the
#: module is fixed). Each entry must be reported; the aim is none.
KNOWN_FAILING = {}


@pytest.mark.parametrize("module", [
    pytest.param(module, marks=pytest.mark.xfail(strict=True, reason=KNOWN_FAILING[module]))
    if module in KNOWN_FAILING else module for module in MODULES])
def test_bad_input(module, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a bad value that is a valid path writes nothing here
    matplotlib.use("Agg")
    names = sorted(name for name in PUBLIC if module_of(name) == module and name in SPECS)
    members = sorted(name for name in MEMBERS if owner_of(name) and module_of(name) == module)
    faulthandler.dump_traceback_later(MODULE_DEADLINE, exit=True, file=sys.__stderr__)
    try:
        cases = []
        for name in names:
            spec = SPECS[name]
            if spec.abstract:
                assert inspect.isabstract(PUBLIC[name]), f"{name} is not abstract"
                continue
            cases += run(name, PUBLIC[name], spec)
        for name in members:
            make, spec = MEMBERS[name]
            cases += run(name, make(), spec)
    finally:
        faulthandler.cancel_dump_traceback_later()
    counts = COUNTS[module] = collections.Counter(case.outcome for case in cases)
    with capsys.disabled():
        label = f"{module} ({len(names)} public callables, {len(members)} members)"
        print(f"\n{_line(label, counts)}")
    bad = [case for case in cases if case.outcome not in (CLEAN, RIGHT)]
    for case in bad:
        print(f"  {case.outcome}: {case.callable_name}({case.parameter}=<{case.case}>) "
              f"{case.detail}")
    assert not bad, (f"{len(bad)} of {len(cases)} cases of {module} neither refused cleanly "
                     "nor gave the right result (listed in the captured output)")


def test_bad_input_totals(capsys):
    """The outcome counts over every module battered in this session (it runs after them):
    nothing may be a wrong result, an unclear error or a hang."""
    if not COUNTS:
        pytest.skip("no module's battery ran in this session")
    totals = sum(COUNTS.values(), collections.Counter())
    with capsys.disabled():
        print(f"\n{_line(f'all {len(COUNTS)} modules', totals)}")
    assert totals[WRONG] == totals[UNCLEAR] == totals[HANG] == 0 or set(COUNTS) & set(
        KNOWN_FAILING)


# --- the battery's own checks -----------------------------------------------------------------

_LETTERS = st.sampled_from(list("abfknpxyz"))


@settings(max_examples=50, deadline=None)
@given(name=_LETTERS, rows=st.integers(1, 99))
def test_a_one_letter_name_is_named_only_as_a_subject_or_in_backticks(name, rows):
    assert not names_parameter(f"got an array of shape ({name}, {rows}) for a 2-{name}-2 "
                               f"network, a {rows}-point batch", name)
    assert not names_parameter(f"expected ({rows}, {name}) in '{name}' form", name)
    for message in (f"{name} must have shape ({rows},)", f"{name}[0] has {rows} values",
                    f"{name} = {rows} would need 5 GiB", f"`{name}` is wrong",
                    f"{name} looks one-hot encoded"):
        assert names_parameter(message, name), message


@settings(max_examples=50, deadline=None)
@given(name=st.from_regex(r"[a-z][a-z_]{2,12}", fullmatch=True).filter(
    lambda n: not n.endswith("_")), other=st.from_regex(r"[a-z]{1,6}", fullmatch=True))
def test_a_name_counts_only_as_its_own_token(name, other):
    assert names_parameter(f"{name} must be a list, got 3", name)
    assert names_parameter(f"second and {name} must have the same shape", name)
    assert not names_parameter(f"second must have the shape of {name}, (3,)", name)
    assert not names_parameter(f"{name}_{other} must be a list", name)
    assert not names_parameter(f"{other}_{name} must be a list", name)
    assert not names_parameter(f"toyviz.{name} failed", name)
    assert not names_parameter(f"{name}(x) failed", name)


@pytest.mark.parametrize("message, name", [
    ("a must hold at least 2 weights, got 1", "a"),
    ("a and b must have the same size, got 3 and 4", "b"),
    ("x[0] has 3 values", "x"),
    ("lo = 2 is not below hi = 1", "hi"),
    ("kernel must contain only finite values, got array of shape (2, 3)", "kernel"),
    ("model's layer 'hidden' has 1 non-finite value(s)", "model"),
    ("layers do not chain into a network: steps[2] does not fit", "layers"),
    ("contributions replaces model, x and y: give one or the other", "contributions"),
    ("The 'extent' trait of a GridExplorer instance expected a list", "extent"),
    ("`n` is too large", "n"),
])
def test_a_message_that_names_the_parameter_counts(message, name):
    assert names_parameter(message, name)


@pytest.mark.parametrize("message, name", [
    ("values must be a list, got 3", "a"),
    ("a list of str, got 3", "a"),
    ("x must have shape (n, 2), got (3,)", "n"),
    ("bias must have shape (3,), one per unit of kernel, got (2,)", "kernel"),
    ("prompt must be a str (one line of text), got int 3", "text"),
    ("composite must be a preset name (str), got int 3", "name"),
    ("value = 1 is close to the threshold (the margin asked for is 1e+300)", "margin"),
    ("got a Keras model", "model"),
    ("rule must be one of ['rng', 'std'], got 'rng'", "rng"),
    ("networks must end in a softmax", "end"),
])
def test_a_message_that_only_uses_the_word_does_not_count(message, name):
    assert not names_parameter(message, name)


def test_a_trait_setter_takes_the_trait_as_its_one_parameter():
    class Owner:
        value = 1

    set_value = setter(Owner, "value")
    assert list(inspect.signature(set_value).parameters) == ["value"]
    assert set_value(value=3).value == 3 and Owner.value == 1
