"""Case specs for the bad-input battery (``test_bad_input.py``): for every public function
and class of toyviz, minimal valid arguments, and the bad values it legitimately accepts,
each with a one-line reason and a check of the result."""

import base64
import dataclasses
import importlib
import inspect
import tempfile
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import psutil
import traitlets

from bad_input import HUGE, Spec, same, setter
from test_routes import cka_reference
from toyviz import (checks, claims, data, exact, masking, models, network, plots, pruning,
                    reasons, relevance, training, widgets)


def rng():
    return np.random.default_rng(0)


SPECS = {}

# --- toyviz --------------------------------------------------------------------------------

SPECS["set_seed"] = Spec(lambda: {"seed": 3}, same=lambda a, b: (
    a.bit_generator.state == b.bit_generator.state))

# --- data ----------------------------------------------------------------------------------

SPECS["data.circle"] = Spec(lambda: {"n": 5, "rng": rng()})
SPECS["data.spiral"] = Spec(lambda: {"n": 6, "rng": rng()})
SPECS["data.grid"] = Spec(lambda: {"lo": -1.0, "hi": 1.0, "resolution": 3}, accept={
    ("lo", "negative"): ("a grid may start below zero", lambda r, a: r[1][0] == a["lo"]),
})
SPECS["data.digits"] = Spec(lambda: {"rng": rng()})

# --- reproducibility -----------------------------------------------------------------------

SPECS["reproducibility.versions"] = Spec(lambda: {"packages": ("numpy",)})
SPECS["reproducibility.run_stats"] = Spec(lambda: {})
SPECS["reproducibility.release_library_pages"] = Spec(
    lambda: {"package": "numpy"}, same=lambda a, b: a >= 0 and b >= 0)  # MiB freed: varies
SPECS["reproducibility.import_tensorflow"] = Spec(lambda: {}, same=lambda a, b: a is b)
SPECS["reproducibility.glue_run_stats"] = Spec(
    lambda: {"record": checks.Record()}, same=lambda a, b: a.keys() == b.keys(),
    fixed={"limit_mb": "deprecated and ignored: any positive number only warns"})
SPECS["reproducibility.watch_memory"] = Spec(lambda: {"interval": 0.05},
                                             same=lambda a, b: a > 0 and b > 0)
SPECS["reproducibility.anonymous_mb"] = Spec(  # None, the default, is this process
    lambda: {"process": psutil.Process()}, same=lambda a, b: a > 0 and b > 0)
SPECS["reproducibility.conditions"] = Spec(lambda: {}, same=lambda a, b: a.keys() == b.keys())
SPECS["reproducibility.tensorflow_holders"] = Spec(
    lambda: {}, same=lambda a, b: isinstance(a, list) and isinstance(b, list))
# imports TensorFlow twice in fresh processes, and takes no parameters: nothing to batter
SPECS["reproducibility.tensorflow_import_memory"] = Spec(lambda: {}, equivalents=False)
SPECS["reproducibility.describe_import_memory"] = Spec(lambda: {"figures": {
    "plain": {"peak": 600.0, "after": 616.0}, "lean": {"peak": 406.0, "after": 339.0},
    "tensorflow_elsewhere": 0}})

# --- shared fixtures -------------------------------------------------------------------------


def stack(k=1, sizes=(2, 3, 2), seed=0):
    """A training stack of ``k`` tiny ReLU networks with layer sizes ``sizes``."""
    generator = np.random.default_rng(seed)
    return [(generator.normal(size=(k, a, b)).astype(np.float32),
             generator.normal(size=(k, b)).astype(np.float32) * 0.1)
            for a, b in zip(sizes[:-1], sizes[1:])]


def _replace_kernel(params, array):
    return [(array, params[0][1]), *params[1:]]


#: Bad values of a parameter that takes a training stack.
STACK_BAD = {
    "empty list": lambda v: [],
    "not pairs": lambda v: [v[0][0] for v in v],
    "kernel rank": lambda v: _replace_kernel(v, v[0][0][0]),
    "broken chain": lambda v: [v[0], (v[1][0][:, :1], v[1][1])] + v[2:],
    "nan weight": lambda v: _replace_kernel(v, np.where(np.arange(v[0][0].size).reshape(
        v[0][0].shape) == 0, np.nan, v[0][0])),
    "complex weight": lambda v: _replace_kernel(v, v[0][0].astype(complex)),
    "str kernel": lambda v: _replace_kernel(v, "abc"),
}


_AXES = []


def axes():
    """Axes to draw on: the last ones again while nothing has been drawn on them (most
    bad calls are refused before drawing, and making axes is the battery's slowest step)."""
    if _AXES:
        ax = _AXES[0]
        if not (ax.images or ax.lines or ax.collections or ax.get_title() or ax.get_xlabel()
                or len(ax.figure.axes) > 1):
            return ax
    _AXES[:] = [plots.subplots()[1]]
    return _AXES[0]


#: A chapter's measured seed spreads, as scripts/measure_spread.py writes them.
SPREADS_FILE = Path(__file__).resolve().parent / "spreads" / "own_network.json"


def notebook_path():
    """A one-cell notebook on disk, for checks.execute."""
    path = NOTEBOOK_DIR / "tiny.ipynb"
    if not path.exists():
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
        nbformat.write(notebook, path)
    return path


NOTEBOOK_DIR = Path(tempfile.mkdtemp(prefix="toyviz-bad-input-"))


def record_entries():
    record = checks.Record()
    record.number("a", 1.5, checks.Relative())
    record.text("b", "yes")
    return record.entries


def fresh(arguments):
    """``arguments`` with every generator replaced by a fresh one (the call consumed it)."""
    return {k: rng() if isinstance(v, np.random.Generator) else v for k, v in arguments.items()}


def same_as(function, **changes):
    """A check: the result equals ``function(**arguments, **changes)``'s."""
    return lambda r, a: same(r, function(**{**fresh(a), **changes}))


# --- checks ----------------------------------------------------------------------------------

SPECS["checks.Tolerance"] = Spec(abstract="the base class of the tolerances below")
SPECS["checks.Bound"] = Spec(lambda: {"upper": 1e-10}, accept={
    ("upper", "negative"): ("a bound may lie below zero", lambda r, a: r.upper == a["upper"]),
    ("upper", "huge"): ("a bound may be loose", lambda r, a: r.upper == a["upper"]),
})
SPECS["checks.Relative"] = Spec(lambda: {"rtol": 1e-6, "atol": 1e-9}, accept={
    ("rtol", "huge"): ("a loose tolerance", lambda r, a: r.rtol == a["rtol"]),
    ("atol", "huge"): ("a loose tolerance", lambda r, a: r.atol == a["atol"]),
})
SPECS["checks.Count"] = Spec(lambda: {"slack": 1}, accept={
    ("slack", "huge"): ("a slack, not a size", lambda r, a: r.slack == a["slack"]),
})
SPECS["checks.Exact"] = Spec(lambda: {})
SPECS["checks.Seeds"] = Spec(lambda: {"share": 0.25, "floor": 0.01, "rtol": 1e-6,
                                      "drift_factor": 3.0}, accept={
    (name, "huge"): ("a loose tolerance", lambda r, a, name=name: getattr(r, name) == a[name])
    for name in ("share", "floor", "rtol", "drift_factor")})
SPECS["checks.Varies"] = Spec(lambda: {"why": "a timing"}, accept={
    ("why", "unknown"): ("any reason in words", lambda r, a: r.why == a["why"]),
})
SPECS["checks.tolerance_from_json"] = Spec(lambda: {"stored": {"kind": "count", "slack": 2}},
                                           extra={"stored": {
    "unknown kind": lambda v: {"kind": "nope"},
    "bad field": lambda v: {"kind": "count", "slack": -1},
    "unknown field": lambda v: {"kind": "count", "width": 2}}})
SPECS["checks.exceeds"] = Spec(lambda: {"value": 1.0, "threshold": 0.5, "margin": 0.1},
                               accept={
    ("value", "negative"): ("any number", lambda r, a: r is (a["value"] > a["threshold"])),
    ("value", "huge"): ("any number", lambda r, a: r is True),
    ("threshold", "negative"): ("any number", lambda r, a: r is True),
    ("threshold", "huge"): ("any number", lambda r, a: r is False),
    ("name", "unknown"): ("a label for the message", lambda r, a: r is True),
})
SPECS["checks.Record"] = Spec(lambda: {})
SPECS["checks.from_plain"] = Spec(lambda: {"value": "nan"}, same=lambda a, b: (
    a is b or a == b or a != a and b != b), fixed={
    "value": "any recorded value: the text of NaN or an infinity becomes a float, the rest "
             "is returned as it is"})
SPECS["checks.glue_value"] = Spec(lambda: {"name": "key", "value": 1.0}, fixed={
    "value": "anything myst-nb can glue"}, accept={
    ("name", "unknown"): ("any key", lambda r, a: r is None)})
SPECS["checks.record_of"] = Spec(lambda: {"notebook": {"cells": []}}, extra={"notebook": {
    "cells not a list": lambda v: {"cells": 3},
    "cell not a dict": lambda v: {"cells": ["abc"]}}})
SPECS["checks.values_of"] = Spec(lambda: {"entries": record_entries()},
                                 same=lambda a, b: same(list(a), list(b)),
                                 extra={"entries": {"entry not a dict": lambda v: {"a": 3}}})
SPECS["checks.compare"] = Spec(
    lambda: {"committed": record_entries(), "fresh": record_entries(),
             "spreads": {"a": 0.1}, "drifts": {"a": 0.0}},
    extra={name: {"entry not a dict": lambda v: {"a": 3}} for name in ("committed", "fresh")})
SPECS["checks.load_spreads"] = Spec(
    lambda: {"path": str(SPREADS_FILE)}, same=lambda a, b: a == b,
    extra={"path": {"not a spreads file": lambda v: __file__}})
SPECS["checks.execute"] = Spec(lambda: {"path": notebook_path()}, equivalents=False, accept={
    ("timeout", "huge"): ("a time limit, not a size", lambda r, a: len(r.cells) == 1),
})

# --- claims ----------------------------------------------------------------------------------

CLAIM_FIELDS = {"essay": "pruning", "words": "w", "ours": "o", "criterion": "c",
                "verdict": "holds", "section": "s"}


def claim_arguments():
    return {"record": checks.Record(), "name": "n", **CLAIM_FIELDS}


def _claimed(field):
    return lambda r, a: a["record"].entries[f"claim.n.{field}"]["value"] == a[field] \
        if field != "name" else f"claim.{a['name']}.verdict" in a["record"].entries


SPECS["claims.claim"] = Spec(claim_arguments, accept={
    **{(field, "unknown"): ("any words", _claimed(field))
       for field in ("name", "words", "ours", "criterion", "section")},
    **{(field, "str"): ("any words", _claimed(field)) for field in ("networks", "part_of")}})


def claimed_entries():
    arguments = claim_arguments()
    claims.claim(**arguments)
    return arguments["record"].entries


SPECS["checks.side"] = Spec(lambda: {"value": 1.0, "threshold": 0.5, "margin": 0.1}, accept={
    ("value", "negative"): ("any number", lambda r, a: r is (a["value"] > a["threshold"])),
    ("value", "huge"): ("any number", lambda r, a: r is True),
    ("threshold", "negative"): ("any number", lambda r, a: r is True),
    ("threshold", "huge"): ("any number", lambda r, a: r is False),
    ("name", "unknown"): ("a label for the message", lambda r, a: r is True),
    ("margin", "huge"): ("too close to call: within any huge margin", lambda r, a: r is None),
})


def declared_claims():
    return {"essay": "pruning", "claim": [{
        "name": "x", "section": "s", "words": "w", "ours": "{a:.1f}", "criterion": "c",
        "holds": [{"value": "a", "above": 0.5, "margin": 0.1}]}]}


def record_of_a():
    record = checks.Record()
    record.number("a", 1.0, checks.Relative())
    return record


SPECS["claims.judge"] = Spec(lambda: {"record": record_of_a(), "declared": declared_claims(),
                                      "names": None, "networks": None})
SPECS["claims.tally"] = Spec(lambda: {"declared": declared_claims(), "name": "x",
                                      "networks": [{"a": 1.0}, {"a": 0.0}]})
SPECS["claims.median_verdict"] = Spec(lambda: {"verdicts": ["holds", "partly", "does not hold"]})
SPECS["claims.parts_verdict"] = Spec(lambda: {"verdicts": ["holds", "does not hold"]})
SPECS["claims.counted"] = Spec(lambda: {"verdicts": ["holds", "partly", "holds"]})
def claims_file():
    path = Path(tempfile.mkdtemp()) / "claims.toml"
    path.write_text('essay = "pruning"\n\n[[claim]]\nname = "x"\nsection = "s"\nwords = "w"\n'
                    'ours = "o"\ncriterion = "c"\nverdict = "not tested"\n')
    return str(path)


SPECS["claims.read"] = Spec(lambda: {"path": claims_file()})


def declared_outcome():
    return {"outcome": [{"name": "o", "otherwise": "no", "case": [
        {"say": "yes", "when": [{"value": "a", "above": 0.5, "margin": 0.1}]}]}]}


SPECS["claims.decide"] = Spec(lambda: {"declared": declared_outcome(), "name": "o",
                                       "values": {"a": 1.0}})
SPECS["claims.FindingsBox"] = Spec(lambda: {"document": "a.ipynb", "key": "findings"}, accept={
    ("key", "unknown"): ("any glue key", lambda r, a: r.key == a["key"])})
SPECS["claims.claims_of"] = Spec(lambda: {"entries": claimed_entries()},
                                 extra={"entries": {"entry not a dict": lambda v: {
                                     "claim.n.words": 3}}})
SPECS["claims.ClaimsTable"] = Spec(lambda: {"markdown": "| a |", "html": "<p>a</p>"}, accept={
    ("markdown", "unknown"): ("any Markdown", lambda r, a: r.markdown == a["markdown"]),
    ("html", "unknown"): ("any HTML", lambda r, a: r.html == a["html"]),
})
SPECS["claims.summary"] = Spec(lambda: {"record": checks.Record(), "document": "a.ipynb"},
                               accept={("document", "unknown"): (
                                   "any file name", lambda r, a: isinstance(
                                       r, claims.ClaimsTable))})
SPECS["claims.section_labels"] = Spec(lambda: {"notebook": {"cells": [
    {"cell_type": "markdown", "source": "(a)=\n# A"}]}}, extra={"notebook": {
        "cell not a dict": lambda v: {"cells": [3]},
        "source not text": lambda v: {"cells": [{"cell_type": "markdown", "source": 3}]}}})
SPECS["claims.ledger"] = Spec(lambda: {"records": {"a.ipynb": claimed_entries()},
                                       "sections": {"a.ipynb": ["s"]}},
                              extra={"records": {"entries not a dict": lambda v: {"a": 3}},
                                     "sections": {"labels not a list": lambda v: {"a.ipynb": 3}}})
SPECS["claims.essay_table"] = Spec(lambda: {"every": claims.ledger({"a": claimed_entries()}),
                                            "essay": "pruning"})
SPECS["claims.ledger_summary"] = Spec(lambda: {"every": claims.ledger({"a": claimed_entries()})})

# --- routes ----------------------------------------------------------------------------------

SPECS["intervals.interval"] = Spec(lambda: {"values": np.array([1.0, 2.0, 4.0])})
SPECS["intervals.from_summary"] = Spec(lambda: {"mean": np.array([1.0, np.nan]),
                                                "sd": np.array([0.5, np.nan]),
                                                "n": np.array([3, 0])}, accept={
    ("mean", "nan"): ("NaN means not measured", lambda r, a: np.isnan(r[0]).all()),
    ("sd", "nan"): ("NaN means not measured", lambda r, a: np.isnan(r[0]).all()),
    ("n", "out of range"): ("a count may be large", lambda r, a: r[0][0] < 1.0 < r[1][0])})
SPECS["routes.paired"] = Spec(lambda: {"first": np.array([1.0, 2.0, 4.0]),
                                       "second": np.array([0.5, 2.5, 3.0])})
SETUP = {"name": "s", "learning_rate": 0.01, "batch_size": None, "steps": 2}


def band_arguments():
    generator = rng()
    x, y = data.spiral(8, generator)
    return {"setups": [dict(SETUP)], "x": x, "y": y, "x_test": x[:4], "y_test": y[:4],
            "rng": generator, "n_nets": 2, "widths": (3, 3), "fraction": 0.5}


SPECS["routes.band_search"] = Spec(band_arguments, extra={"setups": {
    "missing key": lambda v: [{"name": "s"}],
    "bad learning rate": lambda v: [{**SETUP, "learning_rate": -1.0}],
    "entry not a dict": lambda v: ["s"]}})
SPECS["routes.weight_correlations"] = Spec(lambda: {
    "first": stack(2)[0][0], "second": stack(2, seed=1)[0][0], "start": stack(2, seed=2)[0][0]})
SPECS["routes.linear_cka"] = Spec(lambda: {"first": stack(1, (4, 3))[0][0][0],
                                           "second": stack(1, (4, 2), 1)[0][0][0]})


def _wider(name, check):
    return {(name, "wider last axis"): ("any number of nodes", check)}


SPECS["routes.linear_cka"].accept = {
    **_wider("first", lambda r, a: abs(r - cka_reference(np.asarray(a["first"], float),
                                                           np.asarray(a["second"], float)))
             < 1e-9),
    **_wider("second", lambda r, a: abs(r - cka_reference(np.asarray(a["first"], float),
                                                            np.asarray(a["second"], float)))
             < 1e-9)}


def _correlations_reference(first, second):
    return np.array([[np.corrcoef(a, b)[0, 1] if a.std() and b.std() else 0.0
                      for b in np.asarray(second, float).T] for a in np.asarray(first, float).T])


SPECS["routes.node_correlations"] = Spec(SPECS["routes.linear_cka"].args, accept={
    **_wider("first", lambda r, a: same(r, _correlations_reference(a["first"], a["second"]))),
    **_wider("second", lambda r, a: same(r, _correlations_reference(a["first"], a["second"])))})


def _matched_reference(first, second):
    """The best one-to-one matching by brute force over permutations (tiny layers)."""
    import itertools

    c = _correlations_reference(first, second)
    c = c[np.ix_(np.asarray(first).std(0) > 0, np.asarray(second).std(0) > 0)]
    small, large = (c, c.T) if c.shape[0] <= c.shape[1] else (c.T, c)
    best = max(sum(small[i, j] for i, j in enumerate(chosen))
               for chosen in itertools.permutations(range(small.shape[1]), small.shape[0]))
    return best / small.shape[0]


SPECS["routes.matched_correlation"] = Spec(SPECS["routes.linear_cka"].args, accept={
    **_wider("first", lambda r, a: abs(r - _matched_reference(a["first"], a["second"])) < 1e-9),
    **_wider("second", lambda r, a: abs(r - _matched_reference(a["first"], a["second"]))
             < 1e-9)})
SPECS["routes.kept_activations"] = Spec(lambda: {
    "params": stack(2), "data": data.circle(4, rng())[0],
    "keeps": [[np.array([0, 1])], [np.array([2, 0])]]}, extra={
    "params": STACK_BAD, "keeps": {"index out of range": lambda v: [[np.array([7])]] * 2}})


def activations(seed):
    return [np.random.default_rng(seed).normal(size=(2, 4, 3))]


SPECS["routes.role_similarity"] = Spec(lambda: {"first": activations(0), "second": activations(1)},
                                       extra={name: {"nan": lambda v: [v[0] * np.nan]}
                                              for name in ("first", "second")})
SPECS["routes.agreement"] = Spec(lambda: {"first": stack(2), "second": stack(2, seed=1),
                                          "points": data.circle(4, rng())[0]},
                                 extra={"first": STACK_BAD, "second": STACK_BAD})

# --- reasons ---------------------------------------------------------------------------------


def task():
    return reasons.shortcut_task(rng(), n_train=10)


def task_fields():
    return {field.name: getattr(TASK, field.name) for field in
            dataclasses.fields(reasons.ShortcutTask)}


TASK = reasons.shortcut_task(np.random.default_rng(0), n_train=10)
DIGIT_STACK = stack(1, (64, 3, 10))

SPECS["reasons.marker_region"] = Spec(lambda: {})
SPECS["reasons.mark"] = Spec(lambda: {"images": data.digits()[0][:3],
                                      "positions": np.array([0, 1, 2])}, accept={
    ("positions", "negative"): ("-1 means no marker",
                                lambda r, a: r[0, reasons.MARKER_INDEX].sum() == 0)})
SPECS["reasons.ShortcutTask"] = Spec(task_fields)
SPECS["reasons.shortcut_task"] = Spec(lambda: {"rng": rng(), "n_train": 10})


def tf_arguments():
    return {"params": stack(1, (4, 3, 2)), "x": np.random.default_rng(0).random(
        (3, 4)).astype(np.float32), "weights": np.eye(2, dtype=np.float32)[[0, 1, 0]]}




def _one_batch_per_network(function, name, part=lambda r: r):
    """A check: a (k = 1, n, d) argument ``name`` (one batch per network) gives what its
    (n, d) batch shared by the networks gives."""
    return lambda r, a: same(part(r).numpy(), part(function(**{**a, name: a[name][0]})).numpy())


SPECS["reasons.relevance_tf"] = Spec(lambda: {**tf_arguments(), "rule": "lrp_epsilon",
                                              "epsilon": 0.01},
                                     same=lambda a, b: same(a[0].numpy(), b[0].numpy()),
                                     extra={"params": STACK_BAD}, accept={
    **{(name, "extra axis"): ("(k, n, ...) gives each network its own batch",
                              _one_batch_per_network(reasons.relevance_tf, name,
                                                     lambda r: r[0]))
       for name in ("x", "weights")}})
SPECS["reasons.log_probability_gradient"] = Spec(
    lambda: {"params": stack(1, (4, 3, 2)), "x": tf_arguments()["x"]},
    same=lambda a, b: same(a.numpy(), b.numpy()), extra={"params": STACK_BAD}, accept={
        ("x", "extra axis"): ("(k, n, d) gives each network its own batch",
                              _one_batch_per_network(reasons.log_probability_gradient, "x"))})
SPECS["reasons.penalty"] = Spec(lambda: {
    "route": "lrp", "params": stack(1, (4, 3, 2)), "x": tf_arguments()["x"][None],
    "one_hot": tf_arguments()["weights"][None], "region": np.array([1, 0, 0, 0], np.float32)},
    same=lambda a, b: same(a.numpy(), b.numpy()), extra={"params": STACK_BAD})
SPECS["reasons.penalty_gradient_gap"] = Spec(lambda: {
    "route": "gxi", "params": [(k.astype(np.float64), b.astype(np.float64))
                               for k, b in stack(1, (4, 3, 2))],
    "x": tf_arguments()["x"][None].astype(np.float64),
    "one_hot": tf_arguments()["weights"][None].astype(np.float64), "rng": rng(), "step": 1e-5},
    extra={"params": STACK_BAD})
SPECS["reasons.against_controls"] = Spec(lambda: {"frame": pd.DataFrame({
    "route": ["plain", "unmarked", "lrp"], "weight": [0.0, 0.0, 1.0], "seed": [0, 0, 0],
    **{column: [0.5, 0.25, 0.125] for column in ("accuracy_decorrelated", "mass_lrp",
                                                   "mass_gxi", "effect_log_p", "effect_logit",
                                                   "effect_added")}})})
SPECS["reasons.RouteResult"] = Spec(lambda: {
    "params": stack(2), "weights": np.array([0.0, 1.0]), "seeds": np.array([0, 0]),
    "seconds_per_step": 0.1}, extra={"params": STACK_BAD}, accept={
    ("seeds", "out of range"): ("any seed >= 0", lambda r, a: r.seeds[0] == a["seeds"][0]),
    ("seconds_per_step", "huge"): ("a time, not a size",
                                   lambda r, a: r.seconds_per_step == a["seconds_per_step"])})
SPECS["reasons.train_route"] = Spec(lambda: {
    "task": TASK, "route": "plain", "weights": [0.0], "seeds": [0], "hidden": 2, "epochs": 1,
    "batch_size": 5}, same=lambda a, b: same(a.params, b.params), accept={
    ("seeds", "huge element"): ("a seed, not a size", lambda r, a: list(r.seeds) == [HUGE])})
SPECS["reasons.evaluate"] = Spec(lambda: {"params": DIGIT_STACK, "task": TASK, "rng": rng()},
                                 extra={"params": {**STACK_BAD, "wrong input width":
                                                   lambda v: stack(1)}})
SPECS["reasons.interval"] = Spec(lambda: {"values": np.array([1.0, 2.0, 4.0])})


def route_frame():
    return pd.DataFrame({"route": ["plain", "lrp", "plain", "lrp"], "weight": [0, 1, 0, 1],
                         "seed": [0, 0, 1, 1], "a": [1.0, 2.0, 3.0, 5.0]})


SPECS["reasons.summarise"] = Spec(lambda: {"frame": route_frame(), "columns": ["a"]},
                                  extra={"columns": {"unknown column": lambda v: ["zz"]},
                                         "by": {"unknown column": lambda v: ["zz"]}})
SPECS["reasons.ratios_to_plain"] = Spec(lambda: {"frame": route_frame(), "columns": ["a"]},
                                        extra={"columns": {"unknown column": lambda v: ["zz"]}})

# --- plots -----------------------------------------------------------------------------------

GRID = np.linspace(0, 1, 9).reshape(3, 3)
EXTENT = (-2.0, 2.0, -2.0, 2.0)
POINTS = np.array([[0.1, 0.2], [-0.5, 0.3], [0.4, -0.6]], np.float32)
LABELS = np.array([0, 1, 1])


def _image_is(name):
    """A check: the drawn image holds the values given for ``name``, NaN where they are."""
    return lambda r, a: same(np.ma.getdata(r.get_array()).astype(float),
                             np.asarray(a[name], float))


def _extent_is(r, a):
    return same(np.asarray(r.get_extent()), np.asarray(a["extent"], float))


SPECS["plots.heatmap"] = Spec(lambda: {
    "ax": axes(), "values": GRID, "extent": EXTENT, "vmin": 0.0, "vmax": 1.0, "title": "t",
    "label": "l"}, accept={
    ("values", "nan"): ("NaN draws as a blank cell", _image_is("values")),
    ("extent", "negative element"): ("an extent may start anywhere", _extent_is),
    ("vmin", "negative"): ("a colour scale may start below zero",
                           lambda r, a: r.get_clim()[0] == a["vmin"]),
    ("vmax", "huge"): ("a colour scale may be wide", lambda r, a: r.get_clim()[1] == a["vmax"]),
    ("title", "unknown"): ("any title", lambda r, a: r.axes.get_title() == a["title"]),
    ("label", "unknown"): ("any label", lambda r, a: r.colorbar.ax.get_ylabel() == a["label"]),
})
SPECS["plots.draw_circle"] = Spec(lambda: {"ax": axes(), "radius_squared": 0.5}, fixed={
    "style": "matplotlib's line style, passed through"})
SPECS["plots.subplots"] = Spec(lambda: {"nrows": 1, "ncols": 2})
SPECS["plots.training_points"] = Spec(lambda: {"ax": axes(), "x": POINTS, "y": LABELS,
                                               "size": 4.0})
SPECS["plots.decision_surface"] = Spec(lambda: {
    "ax": axes(), "probability": GRID, "x": POINTS, "y": LABELS, "extent": EXTENT,
    "title": "t"}, accept={
    ("probability", "nan"): ("NaN draws as a blank cell", _image_is("probability")),
    ("extent", "negative element"): ("an extent may start anywhere", _extent_is),
    ("title", "unknown"): ("any title", lambda r, a: r.axes.get_title() == a["title"])})
SPECS["plots.weight_scatter"] = Spec(lambda: {
    "ax": axes(), "a": np.arange(4.0), "b": np.array([1.0, 0.0, 3.0, 2.0]), "xlabel": "x",
    "ylabel": "y", "limits": (-1.0, 4.0, -1.0, 4.0), "size": 3.0, "title": "t"}, accept={
    **{(name, "unknown"): ("any label", lambda r, a: abs(r - 0.6) < 1e-12)
       for name in ("xlabel", "ylabel", "title")},
    ("limits", "negative element"): ("a zoom may start anywhere",
                                     lambda r, a: abs(r - 0.6) < 1e-12),
    ("a", "extra axis"): ("weights of any shape, flattened", lambda r, a: abs(r - 0.6) < 1e-12),
    ("b", "extra axis"): ("weights of any shape, flattened", lambda r, a: abs(r - 0.6) < 1e-12)})


#: A figure drawn over an extent that starts below zero shows that extent.
EXTENT_ANYWHERE = ("an extent may start anywhere", lambda r, a: same(
    np.asarray(r.axes[0].images[0].get_extent()), np.asarray(a["extent"], float)))


def frames():
    return np.stack([GRID[None], GRID[None] ** 2])          # (2 frames, 1 panel, 3, 3)


def animation():
    return plots.surface_animation(frames(), POINTS, LABELS, EXTENT, ["a"], ["1", "2"])


def _animation_same(a, b):
    return same(plots_fingerprint(a._fig), plots_fingerprint(b._fig))


def plots_fingerprint(figure):
    from bad_input import _figure_fingerprint

    return _figure_fingerprint(figure)


SPECS["plots.surface_animation"] = Spec(lambda: {
    "frames": frames(), "x": POINTS, "y": LABELS, "extent": EXTENT, "titles": ["a"],
    "captions": ["1", "2"], "width": 2.0, "interval": 100}, same=_animation_same, accept={
    ("extent", "negative element"): ("an extent may start anywhere",
                                     lambda r, a: same(np.asarray(r._fig.axes[0].images[0]
                                                                  .get_extent()),
                                                       np.asarray(a["extent"], float))),
    ("frames", "nan"): ("NaN draws as a blank cell", lambda r, a: np.isnan(np.ma.getdata(
        r._fig.axes[0].images[0].get_array())).any())})
SPECS["plots.heatmap_grid"] = Spec(lambda: {
    "values": np.stack([GRID, -GRID])[None], "row_labels": ["r"], "column_labels": ["a", "b"],
    "extent": EXTENT, "colorbar_label": "c"}, accept={
    ("values", "nan"): ("NaN draws as a blank cell",
                        lambda r, a: np.isnan(np.ma.getdata(r.axes[0].images[0].get_array())
                                              ).any()),
    ("extent", "negative element"): EXTENT_ANYWHERE,
    ("colorbar_label", "unknown"): ("any label", lambda r, a: any(
        ax.get_ylabel() == a["colorbar_label"] for ax in r.axes))})
SPECS["plots.image_relevance_grid"] = Spec(lambda: {
    "images": np.stack([GRID, GRID.T]), "maps": np.stack([GRID, -GRID])[:, None],
    "column_labels": ["m"], "row_labels": ["a", "b"]})
SPECS["plots.mask_maps"] = Spec(lambda: {
    "probabilities": np.stack([GRID, GRID.T]), "losses": np.stack([GRID, GRID]) * 2,
    "row_labels": ["a", "b"], "extent": EXTENT, "loss_max": 3.0}, accept={
    ("extent", "negative element"): EXTENT_ANYWHERE,
    ("loss_max", "huge"): ("a colour scale may be wide",
                           lambda r, a: r.axes[1].images[0].get_clim()[1] == a["loss_max"])})
SPECS["plots.density_lines"] = Spec(lambda: {
    "ax": axes(), "grid": np.linspace(0, 1, 5), "densities": {"a": np.ones(5)},
    "reference": 0.5, "reference_label": "r", "normals": {"a": (0.5, 0.1)}, "xlabel": "x"},
    extra={"densities": {"bad density": lambda v: {"a": np.ones(3)}},
           "normals": {"bad normal": lambda v: {"a": (0.5, -1.0)}}}, accept={
    ("reference", "negative"): ("a reference anywhere on the axis",
                                lambda r, a: a["ax"].lines[-1].get_xdata()[0] == a["reference"]),
    ("reference", "huge"): ("a reference anywhere on the axis",
                            lambda r, a: a["ax"].lines[-1].get_xdata()[0] == a["reference"]),
    **{(name, "unknown"): ("any label", lambda r, a: len(a["ax"].lines) == 3)
       for name in ("reference_label", "xlabel")}})
SPECS["plots.node_densities"] = Spec(lambda: {
    "grid": np.linspace(0, 1, 5), "densities": np.ones((2, 1, 5)), "labels": ["a"],
    "ncols": 2, "xlabel": "x"}, accept={
    ("xlabel", "unknown"): ("any label", lambda r, a: r.axes[0].get_xlabel() == a["xlabel"])})
SPECS["plots.node_heatmaps"] = Spec(lambda: {
    "values": np.stack([GRID, -GRID]), "extent": EXTENT, "ncols": 2, "label": "l",
    "highlight": np.array([True, False])}, accept={
    ("extent", "negative element"): EXTENT_ANYWHERE,
    ("label", "unknown"): ("any label", lambda r, a: any(
        ax.get_ylabel() == a["label"] for ax in r.axes))})
SPECS["plots.animation_html"] = Spec(lambda: {"animation": animation(), "default_mode": "loop"})
SPECS["plots.show"] = Spec(lambda: {"figure": plots.subplots()[0]})

# --- checks' public helpers ----------------------------------------------------------------

SPECS["checks.check_entries"] = Spec(lambda: {"name": "entries", "entries": record_entries()},
                                     extra={"entries": {"entry not a dict": lambda v: {"a": 3}}},
                                     accept={("name", "unknown"): (
                                         "the caller's parameter name, any text",
                                         lambda r, a: r is a["entries"])})
SPECS["checks.check_notebook"] = Spec(lambda: {"name": "notebook", "notebook": {"cells": []}},
                                      extra={"notebook": {"cell not a dict": lambda v: {
                                          "cells": [3]}}},
                                      accept={("name", "unknown"): (
                                          "the caller's parameter name, any text",
                                          lambda r, a: r is a["notebook"])})

# --- keras fixtures --------------------------------------------------------------------------

_CACHE = {}


def cached(key, make):
    """One fixture per process (building Keras models is slow); callers do not change it."""
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def circle_model():
    """The book's masked circle model with 3 hidden nodes."""
    return cached("circle", lambda: models.masked_circle_model(n_nodes=3))


def mlp():
    """A 2-3-2 softmax MLP."""
    return cached("mlp", lambda: models.mlp(widths=(3,)))


def read_mlp():
    return cached("read mlp", lambda: network.read(mlp()))


MASKS = np.array([[1, 0, 1], [1, 1, 1]], np.float32)

# --- landscape -------------------------------------------------------------------------------

TABLE = np.array([0.9, 0.7, 0.6, 0.2, 0.8, 0.5, 0.4, 0.1])      # a (2**3,) table

for _name in ("banzhaf_values", "best_and_worst_by_size", "complement_correlation",
              "flip_correlations", "removal_costs", "shapley_values", "walsh_hadamard",
              "walsh_power_by_degree"):
    SPECS[f"landscape.{_name}"] = Spec(lambda: {"values": TABLE.copy()})
SPECS["landscape.mask_probabilities"] = Spec(lambda: {"n_nodes": 3, "p": 0.3})
SPECS["landscape.mask_moments"] = Spec(lambda: {"values": TABLE.copy(), "p": 0.3})
SPECS["landscape.gaussian_density"] = Spec(lambda: {
    "values": TABLE.copy(), "grid": np.linspace(0, 1, 5), "bandwidth": 0.1,
    "weights": np.full(8, 1 / 8)}, accept={
    ("bandwidth", "huge"): ("a wide kernel spreads the density thin",
                            lambda r, a: np.all(np.isfinite(r)) and np.all(r >= 0)
                            and np.allclose(r, r[0]))})
SPECS["landscape.normal_fit"] = Spec(lambda: {"values": TABLE.copy(),
                                              "weights": np.full(8, 1 / 8)})
SPECS["landscape.mask_moments_at"] = Spec(lambda: {"values": TABLE.copy(), "ps": [0.3, 0.5]})

# --- node_removal ----------------------------------------------------------------------------


def six_node_network():
    """A two-input network with 6 hidden ReLU nodes (the fewest node_removal.measure takes)."""
    generator = np.random.default_rng(4)
    return network.Network.from_dense([
        (generator.normal(size=(2, 6)), generator.normal(size=6) * 0.5, "relu"),
        (generator.normal(size=(6, 2)), np.zeros(2), "softmax")])


SPECS["node_removal.kurtosis_interval"] = Spec(lambda: {
    "gradients": np.random.default_rng(0).normal(size=(20, 3)), "rng": rng(),
    "n_resamples": 9}, accept={("gradients", "wider last axis"): (
        "masks of more nodes", lambda r, a: np.all(np.isfinite(r)) and r[0] <= r[1])})
SPECS["node_removal.prediction_scale"] = Spec(lambda: {"n_networks": 5}, accept={
    ("n_networks", "huge"): ("so many networks: the normal's 1.96",
                             lambda r, a: abs(r - 1.959964) < 1e-5)})
SPECS["node_removal.against_networks"] = Spec(lambda: {
    "essay": {"v": 0.5}, "networks": [{"v": 0.1}, {"v": 0.4}, {"v": 0.9}]})
SPECS["node_removal.measure"] = Spec(lambda: {
    "model": six_node_network(), "x": data.circle(50, rng())[0], "y": data.circle(50, rng())[1],
    "rng": rng(), "resampling": rng()}, same=lambda a, b: a[0] == b[0])
# each trains networks with TensorFlow: only the bad values are tried
SPECS["node_removal.train_networks"] = Spec(lambda: {"n_nets": 1, "rng": rng()},
                                            equivalents=False)
SPECS["node_removal.measure_networks"] = Spec(lambda: {"n_nets": 1, "rng": rng()},
                                              equivalents=False)

# --- masking ---------------------------------------------------------------------------------


def model_x_y():
    return {"model": circle_model(), "x": POINTS, "y": LABELS}


SPECS["masking.MaskedNetwork"] = Spec(lambda: {"net": network.read(circle_model()),
                                               "layers": ("hidden",)})
SPECS["masking.masked_network"] = Spec(lambda: {"model": circle_model(), "layers": "hidden"},
                                       accept={("layers", "list"): (
                                           "a sequence of layer names",
                                           lambda r, a: r.layers == ("hidden",))})
SPECS["masking.n_nodes_of"] = Spec(lambda: {"model": circle_model(), "layers": "hidden"},
                                   accept={("layers", "list"): ("a sequence of layer names",
                                                                lambda r, a: r == 3)})
ZERO_MASKS = ("zero masks give zero results", lambda r, a: len(r) == 0 or len(r[0]) == 0)
SPECS["masking.check_masks"] = Spec(lambda: {"masks": MASKS, "n_nodes": 3, "binary": True,
                                             "name": "masks"}, accept={
    ("masks", "empty"): ZERO_MASKS,
    ("name", "unknown"): ("the caller's parameter name, any text", lambda r, a: same(r, MASKS))})
SPECS["masking.class_probabilities"] = Spec(lambda: {"model": circle_model(), "x": POINTS,
                                                     "mask": MASKS[0]})
SPECS["masking.inside_probability"] = SPECS["masking.class_probabilities"]
SPECS["masking.hidden_activations"] = Spec(lambda: {"model": circle_model(), "x": POINTS})
SPECS["masking.hypercube_paths"] = Spec(lambda: {"n_paths": 2, "rng": rng(), "n_nodes": 3})
SPECS["masking.random_masks"] = Spec(lambda: {"n_masks": 2, "p": 0.5, "rng": rng(),
                                              "n_nodes": 3})
SPECS["masking.mask_indices"] = Spec(lambda: {"masks": MASKS}, accept={
    ("masks", "empty"): ZERO_MASKS,
    ("masks", "wider last axis"): ("masks of any number of nodes",
                                   lambda r, a: list(r) == [13, 15])})
SPECS["masking.masks_from_indices"] = Spec(lambda: {"indices": np.array([5, 7]), "n_nodes": 3},
                                           accept={("indices", "empty"): ZERO_MASKS})
SPECS["masking.popcount"] = Spec(lambda: {"indices": np.array([5, 7])}, accept={
    ("indices", "empty"): ZERO_MASKS,
    ("indices", "out of range"): ("any index >= 0", lambda r, a: list(r) == [
        bin(int(i)).count("1") for i in a["indices"]])})
SPECS["masking.mask_losses"] = Spec(lambda: {**model_x_y(), "masks": MASKS, "chunk_size": 2},
                                   accept={("chunk_size", "huge"): (
                                       "a most per chunk: all masks in one",
                                       same_as(masking.mask_losses, chunk_size=2)),
                                       ("masks", "empty"): ZERO_MASKS})
SPECS["masking.mask_losses_before_relu"] = Spec(lambda: {**model_x_y(), "masks": MASKS,
                                                         "chunk_size": 2},
                                                accept={("chunk_size", "huge"): (
                                                    "a most per chunk: all masks in one",
                                                    same_as(masking.mask_losses_before_relu,
                                                            chunk_size=2)),
                                                ("masks", "empty"): ZERO_MASKS})
SPECS["masking.reference_mask_losses"] = Spec(lambda: {**model_x_y(), "masks": MASKS},
                                              accept={("masks", "empty"): ZERO_MASKS})
SPECS["masking.point_losses"] = Spec(lambda: {**model_x_y(), "mask": MASKS[0]})
SPECS["masking.signed_contributions"] = Spec(model_x_y)
SPECS["masking.node_directions"] = Spec(lambda: {"model": circle_model()})
SPECS["masking.node_roles"] = Spec(lambda: {"model": circle_model(), "resolution": 5},
                                  accept={("lo", "negative"): (
                                      "a grid may start below zero",
                                      lambda r, a: isinstance(r, dict))})
SPECS["masking.path_correlations"] = Spec(lambda: {"values": np.random.default_rng(0).random(
    (4, 4))}, accept={("values", "wider last axis"): ("paths over any number of nodes",
                                                      lambda r, a: isinstance(r, dict))})
SPECS["masking.sweep_all_masks"] = Spec(lambda: {**model_x_y(), "block": 4}, accept={
    ("workers", "int"): ("threads to use", same_as(masking.sweep_all_masks, workers=None)),
    ("block", "huge"): ("a most per block: all masks in one",
                        same_as(masking.sweep_all_masks, block=4))})

# --- models ----------------------------------------------------------------------------------

SPECS["models.check_labels"] = Spec(lambda: {"name": "y", "y": LABELS, "n": 3, "n_classes": 2},
                                    accept={("name", "unknown"): (
                                        "the caller's parameter name, any text",
                                        lambda r, a: same(r, LABELS)),
                                        ("n_classes", "huge"): (
                                            "labels below any number of classes",
                                            lambda r, a: same(r, LABELS))})
SPECS["models.compile_classifier"] = Spec(lambda: {"model": models.mlp(widths=(2,)),
                                                   "learning_rate": 0.01},
                                          same=lambda a, b: type(a) is type(b))
SPECS["models.masked_circle_model"] = Spec(lambda: {"n_nodes": 3},
                                           same=lambda a, b: a.count_params() == b.count_params())
SPECS["models.mlp"] = Spec(lambda: {"n_inputs": 2, "widths": (3,), "n_outputs": 2},
                           same=lambda a, b: a.count_params() == b.count_params(), accept={
    ("widths", "empty"): ("no hidden layer: softmax regression",
                          lambda r, a: len(r.layers) == 1)})
SPECS["models.train_circle_model"] = Spec(lambda: {"x": POINTS, "y": LABELS, "n_nodes": 2,
                                                   "epochs": 1, "batch_size": 3},
                                          equivalents=False, accept={
    ("batch_size", "huge"): ("a batch larger than the data is the full batch, as in Keras",
                             lambda r, a: r.count_params() == 2 * 2 + 2 + 2 * 2 + 2)})
SPECS["models.with_masks"] = Spec(lambda: {"model": mlp(), "layers": ["hidden0"]},
                                  same=lambda a, b: a.count_params() == b.count_params())
SPECS["models.unmasked"] = Spec(lambda: {"model": circle_model()},
                                same=lambda a, b: same(a.get_weights(), b.get_weights()))
SPECS["models.masked_weights"] = Spec(lambda: {"model": circle_model()})
SPECS["models.save_model"] = Spec(lambda: {"model": mlp(), "path": NOTEBOOK_DIR / "m.keras"})
SPECS["models.load_model"] = Spec(lambda: {"path": saved_model()},
                                  same=lambda a, b: same(a.get_weights(), b.get_weights()))


def saved_model():
    path = NOTEBOOK_DIR / "saved.keras"
    if not path.exists():
        models.save_model(mlp(), path)
    return path


# --- network ---------------------------------------------------------------------------------

KERNEL = np.array([[1.0, -1.0, 0.5], [0.5, 2.0, -1.0]])
SPECS["network.steps.Step"] = Spec(abstract="the base class of the steps below")
SPECS["network.steps.Matrix"] = Spec(abstract="the base class of Dense, Folded and Conv2D")
_LAYER_NAME = {("name", "unknown"): ("a layer's name, any text",
                                     lambda r, a: r.name == a["name"])}
SPECS["network.steps.Dense"] = Spec(
    lambda: {"name": "d", "kernel": KERNEL, "bias": np.zeros(3)}, accept=dict(_LAYER_NAME))
SPECS["network.steps.Folded"] = Spec(
    lambda: {"name": "f", "weight": np.ones((3, 2)), "bias": np.zeros(2)},
    accept=dict(_LAYER_NAME))
SPECS["network.steps.Conv2D"] = Spec(
    lambda: {"name": "c", "kernel": np.ones((2, 2, 1, 2)), "bias": np.zeros(2)},
    accept=dict(_LAYER_NAME))
SPECS["network.steps.Maximum"] = Spec(
    lambda: {"name": "m", "pool": (2, 2), "strides": (2, 2), "padding": "valid"},
    accept=dict(_LAYER_NAME))
SPECS["network.steps.Nonlinearity"] = Spec(
    lambda: {"name": "r", "function": "relu", "f": np.tanh, "fprime": np.cos},
    accept={**_LAYER_NAME,
            ("function", "unknown"): ("the activation's exact name, any text "
                                      "(e.g. leaky_relu(0.1))",
                                      lambda r, a: r.function == a["function"]),
            **{(f, "None"): ("a softmax before the output has no function of its own: the "
                             "output applies it", lambda r, a, f=f: getattr(r, f) is None)
               for f in ("f", "fprime")}})
SPECS["network.steps.Reshape"] = Spec(lambda: {"name": "flatten"}, accept=dict(_LAYER_NAME))
SPECS["network.core.Network"] = Spec(
    lambda: {"steps": list(read_mlp().steps), "input_shape": (2,), "n_outputs": 2,
             "output": "softmax"},
    same=lambda a, b: same(a(POINTS), b(POINTS)))
SPECS["network.core.apply_output"] = Spec(
    lambda: {"output": "softmax", "logits": np.array([[0.0, 1.0], [2.0, -1.0]])}, accept={
        ("logits", "extra axis"): ("logits with any leading axes", lambda r, a: same(
            r[0], network.apply_output("softmax", a["logits"][0]))),
        ("logits", "wider last axis"): ("any number of outputs", lambda r, a: np.allclose(
            r.sum(axis=-1), 1) and same(r, np.exp(a["logits"]) / np.exp(a["logits"]).sum(
                axis=-1, keepdims=True)))})
SPECS["network.keras.read"] = Spec(lambda: {"model": mlp(), "name": "model"},
                                   same=lambda a, b: same(a(POINTS), b(POINTS)), accept={
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: isinstance(r, network.Network))})
SPECS["network.activations.parse_activation"] = Spec(
    lambda: {"function": "leaky_relu(0.1)"}, same=lambda a, b: a == b, accept={
        ("function", "unknown"): ("a name the registry does not know: None",
                                  lambda r, a: r is None)})
SPECS["network.steps.activation_step"] = Spec(
    lambda: {"name": "layer", "activation": "tanh", "owner": "model"},
    same=lambda a, b: [(s.name, s.function) for s in a] == [(s.name, s.function) for s in b],
    accept={("name", "unknown"): ("a layer's name, any text",
                                  lambda r, a: r[0].name == a["name"]),
            ("owner", "unknown"): ("the caller's parameter name, any text",
                                   lambda r, a: r[0].function == "tanh")},
    fixed={"activation": "a name the registry does not know is refused naming the layer "
                         "that uses it, as read and Network.from_dense have always said "
                         "(tests/test_activations.py)"})
SPECS["network.keras.check_built"] = Spec(
    lambda: {"model": mlp(), "name": "model"}, same=lambda a, b: a is b, accept={
        ("name", "unknown"): ("the caller's parameter name, any text",
                              lambda r, a: r is mlp())})

# --- training --------------------------------------------------------------------------------

X2 = data.circle(6, np.random.default_rng(1))[0]
Y2 = np.array([0, 1, 1, 0, 1, 0])


def stack2(k=2):
    return network.stack.check_stack("params", stack(k))


SPECS["network.stack.Stack"] = Spec(lambda: {"pairs": stack(2), "activations": ["relu"]},
                               extra={"pairs": STACK_BAD})
SPECS["training.TrainResult"] = Spec(lambda: {"params": stack2(), "steps": 3,
                                              "loss": np.array([0.5, 0.4, 0.3])},
                                     extra={"params": STACK_BAD}, accept={
    ("loss", case): ("the loss as training computed it, a diverged run's too",
                     lambda r, a: same(r.loss, np.asarray(a["loss"], np.float32)))
    for case in ("nan", "inf")} | {
    ("params", "nan weight"): ("the weights as training left them, a diverged run's too",
                               lambda r, a: np.isnan(r.params[0][0]).any())})
SPECS["network.stack.check_stack"] = Spec(lambda: {"name": "params", "params": stack(2)},
                                     extra={"params": STACK_BAD}, accept={
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: same(list(r), a["params"]))})
SPECS["network.stack.init_stack"] = Spec(lambda: {"n_nets": 2, "widths": (3,), "rng": rng()},
                                    accept={("activation", "list"): (
                                        "one activation per hidden layer",
                                        same_as(network.stack.init_stack, activation="relu"))})
SPECS["training.network_of"] = Spec(lambda: {"params": stack2(), "net": 1},
                                    same=lambda a, b: same(a(X2), b(X2)),
                                    extra={"params": STACK_BAD})
SPECS["network.stack.from_models"] = Spec(lambda: {"models": [mlp()]})
SPECS["network.stack.to_models"] = Spec(lambda: {"params": stack2()}, extra={"params": STACK_BAD},
                                   same=lambda a, b: same([m.get_weights() for m in a],
                                                          [m.get_weights() for m in b]))
SPECS["network.stack.take"] = Spec(lambda: {"params": stack2(), "nets": [1]},
                              extra={"params": STACK_BAD,
                                     "nets": {"out of range": lambda v: [5],
                                              "negative": lambda v: [-1]}})
SPECS["network.stack.concat"] = Spec(lambda: {"stacks": [stack2(), stack2(1)]},
                                extra={"stacks": {"mismatched": lambda v: [stack2(),
                                                                           stack(1, (2, 4, 2))]}})
SPECS["network.stack.forward"] = Spec(lambda: {"params": stack2(), "x": X2},
                                 extra={"params": STACK_BAD})
SPECS["network.stack.accuracy"] = Spec(lambda: {"params": stack2(), "x": X2, "y": Y2},
                                  extra={"params": STACK_BAD})
SPECS["network.stack.network_of"] = Spec(lambda: {"params": stack(2), "net": 1},
                                         same=lambda a, b: same(a(np.ones((1, 2))),
                                                                b(np.ones((1, 2)))),
                                         extra={"params": STACK_BAD})
SPECS["network.stack.check_pairs"] = Spec(lambda: {"name": "params", "params": stack(2)},
                                          extra={"params": STACK_BAD}, accept={
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: same(list(r), a["params"]))})
SPECS["network.stack.check_inputs"] = Spec(lambda: {"name": "x", "x": X2, "k": 2,
                                                    "n_inputs": 2}, fixed={
    "n_inputs": "the stack's input width, which x must match: a mismatch names x"}, accept={
    ("k", "huge"): ("shared points are a view, as many networks as asked for",
                    lambda r, a: r.shape == (HUGE, 6, 2)),
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: same(r, np.broadcast_to(X2.astype(np.float32),
                                                               (2, 6, 2))))})
SPECS["training.batch_schedule"] = Spec(lambda: {"n": 6, "k": 2, "epochs": 1, "batch_size": 4,
                                                 "rng": rng()}, accept={
    ("batch_size", "huge"): ("a batch larger than the data is the full batch",
                             same_as(training.batch_schedule, batch_size=6))})
SPECS["training.train"] = Spec(lambda: {"params": stack2(), "x": X2, "y": Y2, "epochs": 1,
                                        "rng": rng(), "batch_size": 3},
                               extra={"params": STACK_BAD}, equivalents=False, accept={
    ("batch_size", "None"): ("None is the full batch", lambda r, a: r.steps == 1),
    ("batch_size", "huge"): ("a batch larger than the data is the full batch",
                             lambda r, a: r.steps == 1),
    ("snapshot_every", "int"): ("snapshots at the start, every 3 steps and at the end",
                                lambda r, a: [step for step, _ in r.snapshots] == [0, 2])})

SPECS["training.fit"] = Spec(lambda: {
    "params": stack2(), "x": X2, "y": Y2, "index": np.array([[[0, 1, 2], [3, 4, 5]]] * 2),
    "weight": np.ones((2, 2, 3), np.float32), "learning_rate": 0.01},
    extra={"params": STACK_BAD}, equivalents=False, accept={
    ("snapshot_every", "int"): ("snapshots at the start, every 3 steps and at the end",
                                lambda r, a: [step for step, _ in r.snapshots] == [0, 2])})
SPECS["training.forward_tf"] = Spec(lambda: {"params": stack2(), "x": X2},
                                    same=lambda a, b: same(a[1][-1].numpy(), b[1][-1].numpy()),
                                    extra={"params": STACK_BAD})
SPECS["training.check_stack_tf"] = Spec(lambda: {"name": "params", "params": stack(2)},
                                        extra={"params": STACK_BAD}, accept={
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: same(list(r), a["params"]))})


def tracked():
    before = stack2()
    return before, training.train(before, X2, Y2, 1, rng(), batch_size=3, track=True)


TRACKED = None


def explain_arguments():
    global TRACKED
    if TRACKED is None:
        TRACKED = tracked()
    before, result = TRACKED
    return {"before": before, "result": result, "layer": 1}


SPECS["training.explain_unchanged"] = Spec(explain_arguments, extra={"before": STACK_BAD})

# --- pruning ---------------------------------------------------------------------------------

SPECS["pruning.hidden_layer_names"] = Spec(lambda: {"model": mlp()})
SPECS["pruning.activations"] = Spec(lambda: {"model": mlp(), "data": X2})
SPECS["network.surgery.delete_nodes"] = Spec(lambda: {
    "weights": [(kernel[0], bias[0]) for kernel, bias in stack(1)],
    "keep": {0: np.array([0, 2])}, "means": [np.array([0.5, 0.1, 0.2])]})
SPECS["pruning.prune"] = Spec(lambda: {"model": mlp(), "keep": {"hidden0": np.array([0, 2])},
                                       "data": X2},
                              same=lambda a, b: same(a.get_weights(), b.get_weights()))
SPECS["pruning.replace_by_means"] = Spec(lambda: {"model": mlp(),
                                                  "keep": {"hidden0": np.array([0, 2])},
                                                  "data": X2, "x": X2[:2]})
SPECS["pruning.scores"] = Spec(lambda: {"model": mlp(), "criterion": "std", "data": X2,
                                        "rng": rng()})
SPECS["pruning.keep_top"] = Spec(lambda: {"node_scores": {"hidden0": np.array([0.3, 0.1, 0.2])},
                                          "fraction": 0.4})
SPECS["pruning.prune_stack"] = Spec(lambda: {"params": stack2(), "fraction": 0.4,
                                             "criterion": "std", "data": X2, "rng": rng()},
                                    extra={"params": STACK_BAD}, accept={
    ("fraction", "list"): ("one fraction per hidden layer",
                           same_as(pruning.prune_stack, fraction=0.4))})
SPECS["network.surgery.embed"] = Spec(lambda: {"small": np.ones((2, 1)), "full": np.zeros((3, 2)),
                                       "rows": np.array([0, 2]), "cols": np.array([1])},
                              accept={("full", "wider last axis"): (
                                  "a kernel of any width",
                                  lambda r, a: r.shape == (3, 3) and r[:, 1].sum() == 2)})

SPECS["network.surgery.check_nodes"] = Spec(lambda: {"name": "nodes", "nodes": [2, 0],
                                                     "width": 3}, accept={
    ("width", "huge"): ("a wider layer holds the same nodes", lambda r, a: list(r) == [0, 2]),
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: list(r) == [0, 2])})
SPECS["network.surgery.check_positions"] = Spec(lambda: {"name": "keep", "keep": {0: [2, 0]},
                                                         "widths": [3]}, accept={
    ("widths", "huge element"): ("a wider layer holds the same nodes",
                                 lambda r, a: list(r[0]) == [0, 2]),
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: list(r[0]) == [0, 2])})
SPECS["network.surgery.check_keep"] = Spec(lambda: {"net": read_mlp(),
                                                    "keep": {"hidden0": [2, 0]},
                                                    "name": "keep"}, accept={
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: list(r[0]) == [0, 2])})
SPECS["network.surgery.delete_network_nodes"] = Spec(
    lambda: {"net": read_mlp(), "keep": {"hidden0": np.array([0, 2])},
             "means": [np.array([0.5, 0.1, 0.2])]},
    same=lambda a, b: same(list(a.values()), list(b.values())))
SPECS["network.surgery.delete_stack_nodes"] = Spec(
    lambda: {"params": stack2(), "keeps": [{0: np.array([0, 2])}, {0: np.array([1, 2])}],
             "means": [[np.array([0.5, 0.1, 0.2])], [np.array([0.3, 0.1, 0.2])]]},
    extra={"params": STACK_BAD})


def sweep_arguments():
    return {"params": stack2(), "data": X2, "x_eval": X2, "y_eval": Y2, "fractions": [0.4],
            "criteria": ["std"], "rng": rng()}


SPECS["pruning.sweep"] = Spec(sweep_arguments, extra={"params": STACK_BAD})
SPECS["pruning.surfaces"] = Spec(lambda: {**sweep_arguments(), "points": X2[:2]},
                                 extra={"params": STACK_BAD}, accept={
    (name, "extra axis"): ("(k = 1, n, ...): the one network's own points",
                           lambda r, a, name=name: same(r, pruning.surfaces(
                               **{**fresh(a), name: np.asarray(a[name])[0]})))
    for name in ("data", "x_eval", "y_eval")})
SPECS["pruning.layer_sweep"] = Spec(lambda: {
    **{k: v for k, v in sweep_arguments().items() if k != "criteria"}, "layer_sets": [(0,)],
    "criterion": "std"},
                                    extra={"params": STACK_BAD})


def sweep_table():
    return cached("sweep table", lambda: pruning.sweep(**sweep_arguments()))


SPECS["pruning.summarize"] = Spec(lambda: {"table": sweep_table(), "by": ["criterion"]},
                                  extra={"by": {"unknown column": lambda v: ["zz"]}})
SPECS["pruning.budget_table"] = Spec(lambda: {"stacks": {("full", "none"): stack2()},
                                              "x": X2, "y": Y2})
SPECS["pruning.silent_nodes"] = Spec(lambda: {"params": stack2(), "data": X2},
                                     extra={"params": STACK_BAD})
SPECS["pruning.near_constant_nodes"] = Spec(lambda: {"params": stack2(), "data": X2},
                                            extra={"params": STACK_BAD})
SPECS["pruning.perturb_nodes"] = Spec(lambda: {"params": stack2(), "nodes": [{0: [0]}, {}],
                                              "x": X2, "y": Y2, "rng": rng(), "n_draws": 3},
                                      extra={"params": STACK_BAD})
SPECS["pruning.perturbation_test"] = Spec(lambda: {"params": stack2(), "x": X2, "y": Y2,
                                                   "rng": rng(), "n_draws": 3},
                                          extra={"params": STACK_BAD})

# --- widgets ---------------------------------------------------------------------------------


def _trait_is(name, expected):
    """A check: the widget's trait ``name`` is ``expected``."""
    return lambda r, a: getattr(r, name) == expected


def toggle():
    return cached("toggle", lambda: widgets.NodeToggleHeatmap(circle_model(), X2, Y2,
                                                              resolution=4))


def toggle_state():
    return toggle().get_state()


SPECS["widgets.browser_activation"] = Spec(
    lambda: {"function": "leaky_relu(0.1)"}, same=lambda a, b: a == b, accept={
        ("function", "unknown"): ("a name the browser does not compute: None",
                                  lambda r, a: r is None)})
SPECS["widgets.Explorable"] = Spec(lambda: {}, same=lambda a, b: type(a) is type(b), fixed={
    "args": "anywidget's own arguments, passed through"})
SPECS["widgets.NodeToggleHeatmap"] = Spec(lambda: {
    "model": circle_model(), "x": X2, "y": Y2, "resolution": 4, "prompt": "untick node 2.",
    "start": "It starts with every node on.", "marked_nodes": np.array([True, False, True]),
    "mark_label": "bias-like node"},
    same=lambda a, b: same(a.values(), b.values()), accept={
    **{(parameter, "unknown"): ("any one line of text", _trait_is(parameter, "no such thing"))
       for parameter in ("prompt", "start", "mark_label")},
    ("extent", "negative element"): ("an extent may start anywhere",
                                     lambda r, a: list(r.extent) == list(a["extent"])),
    ("loss_max", "huge"): ("a colour scale may be wide", lambda r, a: r.loss_max == a["loss_max"]),
    ("circle_radius_squared", "int"): ("a radius given as an int",
                                       lambda r, a: r.circle_radius_squared == 3)})
SPECS["widgets.check_mask"] = Spec(lambda: {"name": "mask", "mask": [1, 0, 1], "n_nodes": 3},
                                   kinds={"mask": "bool array"}, accept={
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: same(r, [1, 0, 1]))})
SPECS["widgets.grid_axes"] = Spec(lambda: {"extent": EXTENT, "resolution": 4}, accept={
    ("extent", "negative element"): ("a grid may start anywhere",
                                     lambda r, a: r[0][0] == a["extent"][0])})
SPECS["widgets.drawable_network"] = Spec(lambda: {"model": circle_model(), "name": "model"},
                                         same=lambda a, b: same(a(X2), b(X2)), accept={
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: same(r(X2), network.read(circle_model())(X2)))})
SPECS["widgets.toggled_layer"] = Spec(lambda: {"model": network.read(circle_model()),
                                               "layer": "hidden",
                                               "name": "layer"}, accept={
    ("layer", "None"): ("None picks the masked layer", lambda r, a: r == "hidden"),
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: r == "hidden")})
SPECS["widgets.point_loss"] = Spec(lambda: {"probabilities": np.array([[0.2, 0.8], [0.6, 0.4]]),
                                            "labels": np.array([1, 0])})
SPECS["widgets.class_probabilities"] = Spec(lambda: {"network": network.read(circle_model()),
                                                     "points": X2})
SPECS["widgets.state_network"] = Spec(lambda: {"state": toggle_state()},
                                      same=lambda a, b: same(a(X2), b(X2)))
SPECS["widgets.node_toggle_values"] = Spec(lambda: {"state": toggle_state(),
                                                    "mask": [1, 0, 1], "shown_class": 1},
                                           kinds={"mask": "bool array"})


def explorer_arguments():
    return {"values": np.stack([GRID, GRID.T])[:, None],
            "controls": [{"name": "c", "label": "c", "options": ["a", "b"], "kind": "select"}],
            "panels": [{"title": "t", "colour_label": "p"}], "extent": EXTENT}


SPECS["widgets.GridExplorer"] = Spec(lambda: {
    **explorer_arguments(), "prompt": "pick b.", "start": "It starts at a.",
    "marked_cells": np.eye(len(GRID), dtype=bool), "mark_label": "marker pixel"},
    same=lambda a, b: same(a.get_state()["grids"], b.get_state()["grids"]), accept={
    **{(parameter, "unknown"): ("any one line of text", _trait_is(parameter, "no such thing"))
       for parameter in ("prompt", "start", "mark_label")},
    ("extent", "negative element"): ("an extent may start anywhere",
                                     lambda r, a: list(r.extent) == list(a["extent"])),
    ("circle_radius_squared", "int"): ("a radius given as an int",
                                       lambda r, a: r.overlay["circle_radius_squared"] == 3),
    ("label", "unknown"): ("any label", lambda r, a: r.label == a["label"])})
SPECS["widgets.check_cells"] = Spec(lambda: {"name": "cells", "cells": np.eye(3, dtype=bool),
                                            "side": 3}, accept={
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: r == [[0, 0], [1, 1], [2, 2]])})
# a checker's `name` is its caller's parameter, which its messages name: here the checked one
SPECS["widgets.check_line"] = Spec(lambda: {"name": "text", "text": "untick node 2."}, accept={
    ("name", "unknown"): ("the caller's parameter name, any text",
                          lambda r, a: r == "untick node 2."),
    ("text", "unknown"): ("any one line of text", lambda r, a: r == "no such thing")})
SPECS["widgets.decode_grids"] = Spec(lambda: {"state": cached(
    "explorer", lambda: widgets.GridExplorer(**explorer_arguments())).get_state(),
    "selection": [1]})

# --- relevance -------------------------------------------------------------------------------

PAIRS = np.array([[0.5, -0.2], [1.0, 2.0]])
SPECS["relevance.rules.Rule"] = Spec(lambda: {}, same=lambda a, b: type(a) is type(b))
SPECS["relevance.rules.MaximumRule"] = Spec(abstract="the base class of the maximum rules")
SPECS["relevance.rules.MatrixRule"] = Spec(abstract="the base class of the matrix rules")
SPECS["relevance.rules.NonlinearityRule"] = Spec(
    abstract="the base class of the nonlinearity rules")
for _name in ("Ignore", "MatrixGradient", "MaximumGradient", "MaximumRadial",
              "NonlinearityGradient", "Repeat", "Rescale", "Slope"):
    SPECS[f"relevance.rules.{_name}"] = Spec(lambda: {}, same=lambda a, b: type(a) is type(b))
for _name in ("MatrixInputsOnly", "MatrixNormalized"):
    SPECS[f"relevance.rules.{_name}"] = Spec(lambda: {"epsilon": 0.01},
                                             same=lambda a, b: vars(a) == vars(b), accept={
        ("epsilon", "huge"): ("any stabiliser >= 0", lambda r, a: r.epsilon == a["epsilon"])})
SPECS["relevance.rules.blip"] = Spec(lambda: {"z": np.array([-1.0, 0.0, 2.0]), "epsilon": 0.1},
                                     accept={("epsilon", "huge"): (
                                         "any stabiliser >= 0", lambda r, a: same(
                                             r, [-a["epsilon"], a["epsilon"], a["epsilon"]])),
                                         **{("z", case): ("an array of any shape", lambda r, a: (
                                             same(r, np.asarray(a["z"]) + np.where(
                                                 np.asarray(a["z"]) >= 0, 0.1, -0.1))))
                                            for case in ("extra axis", "scalar", "empty")}})
SPECS["relevance.rules.register"] = Spec(lambda: {"cls": relevance.rules.Ignore})
SPECS["relevance.rules.rule"] = Spec(lambda: {"layer_type": "matrix", "name": "normalized"},
                                     same=lambda a, b: vars(a) == vars(b),
                                     fixed={"params": "the rule's own keyword arguments"})
SPECS["relevance.composites.Composite"] = Spec(lambda: {
    "maximum": relevance.rules.MaximumGradient(), "matrix": relevance.rules.MatrixGradient(),
    "nonlinearity": relevance.rules.NonlinearityGradient()},
    same=lambda a, b: repr(a) == repr(b), accept={
        ("name", "unknown"): ("a label, any text", lambda r, a: r.name == a["name"])})
SPECS["relevance.composites.preset"] = Spec(lambda: {"name": "lrp_epsilon", "epsilon": 0.01},
                                            same=lambda a, b: repr(a) == repr(b), accept={
    ("epsilon", "huge"): ("any stabiliser >= 0", lambda r, a: r.matrix.epsilon == a["epsilon"])})
SPECS["relevance.consistency.softness_floor"] = Spec(lambda: {"pairs": PAIRS,
                                                              "ladder": np.array([1.0, 0.5])})
SPECS["relevance.consistency.max_constructions_gap"] = Spec(lambda: {"pairs": PAIRS,
                                                                     "softness": 0.5}, accept={
    ("softness", "list"): ("one softness for every pair", same_as(
        relevance.consistency.max_constructions_gap, softness=0.5)),
    ("softness", "huge"): ("any softness > 0", lambda r, a: np.all(np.isfinite(r)))})
SPECS["relevance.consistency.max_constructions_table"] = Spec(lambda: {"pairs": PAIRS,
                                                                       "softness": (0.5,)})
SPECS["relevance.consistency.scale_both_ways"] = Spec(lambda: {
    "matrix_rule": relevance.rules.MatrixGradient(),
    "nonlinearity_rule": relevance.rules.NonlinearityGradient(), "alpha": 2.0,
    "a": np.array([0.5, -1.0]), "signal": np.array([1.0, 0.3])}, accept={
    ("alpha", "negative"): ("b = alpha a for any alpha", lambda r, a: len(r) == 2),
    ("alpha", "huge"): ("b = alpha a for any alpha",
                        lambda r, a: all(np.all(np.isfinite(part)) for part in r))})
SPECS["relevance.consistency.scaling_table"] = Spec(lambda: {"rng": rng(), "alphas": (2.0,),
                                                             "size": 3}, accept={
    ("alphas", "negative element"): ("b = alpha a for any alpha",
                                     lambda r, a: len(r) > 0 and "agree" in r)})
SPECS["relevance.consistency.max_with_constant"] = Spec(lambda: {
    "rule_for_maximum": relevance.rules.MaximumGradient(),
    "rule_for_nonlinearity": relevance.rules.NonlinearityGradient(),
    "a": np.array([0.5, -1.0]), "constant": -0.5}, accept={
    ("constant", "negative"): ("any constant <= 0", lambda r, a: len(r) == 2)})
SPECS["relevance.consistency.max_constants_table"] = Spec(lambda: {"constants": (-0.5,),
                                                                   "resolution": 5}, accept={
    ("constants", "negative element"): ("any constant <= 0", lambda r, a: len(r) > 0)})
SPECS["relevance.consistency.relu_max_network"] = Spec(lambda: {},
                                                       same=lambda a, b: same(a(PAIRS), b(PAIRS)))
SPECS["relevance.consistency.softmax_max_network"] = Spec(
    lambda: {"softness": 0.5}, same=lambda a, b: same(a(PAIRS), b(PAIRS)), accept={
        ("softness", "huge"): ("any softness > 0", lambda r, a: np.all(np.isfinite(r(PAIRS))))})
SPECS["relevance.evaluation.aopc"] = Spec(lambda: {"curve": np.array([1.0, 0.5, 0.2])})
SPECS["relevance.evaluation.perturbation_curve"] = Spec(lambda: {
    "model": read_mlp(), "x": X2[:3], "relevance": X2[:3] * 2, "output": 0,
    "replacement": np.zeros((3, 2)), "steps": 2})
SPECS["relevance.evaluation.randomized_copy"] = Spec(lambda: {"model": mlp(), "n_layers": 1,
                                                              "rng": rng()},
                                                     same=lambda a, b: same(a.get_weights(),
                                                                            b.get_weights()))
SPECS["relevance.evaluation.rank_correlation"] = Spec(lambda: {"first": X2, "second": X2 ** 2})


def rule_comparison(gain=1.0):
    """A RuleComparison of two presets, built by hand (no network)."""
    labels = ["gradient", "LRP-0"]
    columns = [column for column, _, _ in relevance.PERTURBATIONS]
    aopc = pd.DataFrame(0.0, index=[*labels, relevance.RANDOM_ORDER], columns=columns)
    aopc.loc["LRP-0", "noise, signed"] = gain
    return relevance.RuleComparison(aopc, {"LRP-0": np.zeros(3)},
                                    pd.DataFrame([[0.1, 0.9]], columns=labels, index=["top"]))


SPECS["relevance.evaluation.RuleComparison"] = Spec(lambda: {
    "aopc": rule_comparison().aopc, "curves": {"LRP-0": np.zeros(3)},
    "randomisation": rule_comparison().randomisation},
    same=lambda a, b: same(a.aopc.to_numpy(), b.aopc.to_numpy()))
SPECS["relevance.evaluation.over_networks"] = Spec(lambda: {
    "comparisons": [rule_comparison(1.0), rule_comparison(2.0)], "confidence": 0.9},
    same=lambda a, b: same(a.to_numpy(), b.to_numpy()))
SPECS["relevance.evaluation.compare_rules"] = Spec(lambda: {
    "model": mlp(), "x": X2[:3], "output": 1, "baseline": np.zeros(2), "rng": rng(),
    "steps": 1, "presets": ["gradient", "rescale"]},
    same=lambda a, b: same(a.aopc.to_numpy(), b.aopc.to_numpy()), equivalents=False)
SPECS["relevance.evaluation.digit_classifier"] = Spec(lambda: {
    "x": data.digits()[0][:20], "y": data.digits()[1][:20], "rng": rng(), "epochs": 1,
    "batch_size": 10, "learning_rate": 0.01}, equivalents=False)
SPECS["relevance.propagation.network_from_model"] = Spec(
    lambda: {"model": mlp()}, same=lambda a, b: same(a(X2), b(X2)))
SPECS["relevance.propagation.output_weights"] = Spec(lambda: {"output": 1, "n_outputs": 2,
                                                              "n": 3}, accept={
    ("n", "huge"): ("n sizes only an array output; one logit gives one row",
                    lambda r, a: same(r, [0.0, 1.0]))})
SPECS["relevance.propagation.propagate"] = Spec(lambda: {"model": read_mlp(), "x": X2,
                                                         "composite": "lrp_epsilon"},
                                                same=lambda a, b: same(a.input, b.input),
                                                accept={("epsilon", "huge"): (
                                                    "any stabiliser >= 0: relevance near 0",
                                                    lambda r, a: np.all(np.abs(r.input)
                                                                        < 1e-250))})
SPECS["relevance.propagation.bias_treatments"] = Spec(lambda: {
    "model": read_mlp(), "x": X2, "output": 1, "epsilons": (0.0, 0.1)},
    same=lambda a, b: same(a.to_numpy(), b.to_numpy()))
SPECS["relevance.propagation.to_explain"] = Spec(lambda: {"model": read_mlp()},
                                                   same=lambda a, b: a.steps == b.steps)
SPECS["relevance.propagation.chunks"] = Spec(lambda: {"network": read_mlp(), "n": 3})
SPECS["relevance.propagation.layer_totals"] = Spec(lambda: {"model": read_mlp(), "x": X2})
SPECS["relevance.propagation.rule_sweep"] = Spec(lambda: {
    "model": read_mlp(), "x": X2, "matrix_rules": [relevance.rules.MatrixGradient()],
    "nonlinearity_rules": [relevance.rules.NonlinearityGradient()]})
SPECS["relevance.propagation.Explanation"] = Spec(lambda: {
    "input": np.ones((2, 2)), "bias": {"d": np.zeros((2, 3))}, "output": np.ones(2),
    "composite": relevance.composites.preset("lrp_0")},
    same=lambda a, b: same(a.input, b.input), accept={
        **{("input", case): ("relevance as computed, where float64 overflowed too (see "
                             "consistency.softness_floor)",
                             lambda r, a: same(r.input, np.asarray(a["input"], float)))
           for case in ("nan", "inf")},
        **{("output", case): ("the explained output as computed, overflow included",
                              lambda r, a: same(r.output, np.asarray(a["output"], float)))
           for case in ("nan", "inf")},
        ("input", "wider last axis"): ("inputs of any shape",
                                       lambda r, a: r.input.shape == (2, 3))})

# --- exact -----------------------------------------------------------------------------------


def exact_problem():
    return cached("exact problem", lambda: exact.problem(model=circle_model(), x=X2, y=Y2,
                                                         grid=np.linspace(0, 2, 5)))


def problem_fields():
    problem = exact_problem()
    return {"n_nodes": problem.n_nodes, "value": problem.value, "grid": problem.grid,
            "bandwidth": problem.bandwidth, "chunk_size": 8, "fast": problem.fast,
            "parts": problem.parts}


SPECS["exact.Problem"] = Spec(problem_fields, same=lambda a, b: a.fingerprint == b.fingerprint,
                              accept={("bandwidth", "huge"): (
                                  "any kernel width > 0",
                                  lambda r, a: r.bandwidth == a["bandwidth"]),
                                  ("grid", "None"): ("no densities",
                                                     lambda r, a: r.grid is None),
                                  ("chunk_size", "huge"): ("a most per chunk: all masks in one",
                                                           lambda r, a: r.n_chunks == 1)})
EXACT_ACCEPT = {
    ("bandwidth", "huge"): ("any kernel width > 0", lambda r, a: r.bandwidth == a["bandwidth"]),
    ("chunk_size", "huge"): ("a most per chunk: all masks in one",
                             lambda r, a: r.n_nodes == 3)}
SPECS["exact.problem"] = Spec(lambda: {"model": circle_model(), "x": X2, "y": Y2,
                                       "grid": np.linspace(0, 2, 5)},
                              same=lambda a, b: a.fingerprint == b.fingerprint,
                              accept=EXACT_ACCEPT)
SPECS["exact.chunk"] = Spec(lambda: {"problem": exact_problem(), "number": 0})
FOLDER_ACCEPT = {("folder", "str"): (
    "any str is a folder to keep the chunks in (the test runs in a temporary folder)",
    lambda r, a: (Path(a["folder"]) / "chunk-000000.npz").exists()
    and same(r.shapley, exact.run(exact_problem(), progress=False).shapley))}
SPECS["exact.run"] = Spec(lambda: {"problem": exact_problem(), "progress": False},
                          same=lambda a, b: same(a.shapley, b.shapley), accept=FOLDER_ACCEPT)
SPECS["exact.exact_landscape"] = Spec(lambda: {"model": circle_model(), "x": X2, "y": Y2,
                                               "progress": False},
                                      same=lambda a, b: same(a.shapley, b.shapley),
                                      accept={**EXACT_ACCEPT, **FOLDER_ACCEPT})
SPECS["exact.table"] = Spec(lambda: {"problem": exact_problem()})
SPECS["exact.Landscape"] = Spec(lambda: {
    "problem": exact_problem(),
    "total": exact.chunk(exact_problem(), 0)} if exact_problem().n_chunks == 1 else None,
    same=lambda a, b: same(a.shapley, b.shapley))

# --- bad input, finished (issue 21, part 5) ----------------------------------------------------
# Cases the first battery did not make, added to the specs above by the kind of parameter:
# unordered layers=, unbuilt and NaN-weight Keras models, one-hot labels, reversed extents,
# training data that overflows float32 arithmetic, degenerate interval tables and corrupt
# widget state. Then MEMBERS: methods, widgets' traits and callables with other parameters
# fixed, battered as the callables are (test_bad_input.py runs them with their owner's
# module).


SPECS["network.keras.check_finite_weights"] = Spec(
    lambda: {"model": mlp(), "name": "model"}, same=lambda a, b: a is b, accept={
        ("name", "unknown"): ("the caller's parameter name, any text",
                              lambda r, a: r is mlp())})


def _public(name):
    """The public callable ``name`` ("module.function") of toyviz."""
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(f"toyviz.{module}" if module else "toyviz"),
                   attribute)


def _add(names, parameter, cases):
    """Add bad values ``cases`` ({label: (valid value) -> bad value}) of ``parameter`` to
    each spec in ``names``."""
    for name in names:
        SPECS[name].extra.setdefault(parameter, {}).update(cases)


def _with(parameter):
    """The specs of callables that take ``parameter``, but for abstract ones."""
    return [name for name, spec in SPECS.items() if not spec.abstract
            and parameter in inspect.signature(_public(name)).parameters]


def _layer_names(valid):
    """The hidden layer names a valid ``layers=`` value stands for (None: the masked circle
    model's ``hidden``)."""
    return ["hidden"] if valid is None else [valid] if isinstance(valid, str) else list(valid)


#: layers= in an order Python does not keep: refused, since a mask's columns follow it.
UNORDERED_LAYERS = {
    "set": lambda v: set(_layer_names(v)),
    "frozenset": lambda v: frozenset(_layer_names(v)),
    "dict": lambda v: dict.fromkeys(_layer_names(v), 1),
    "dict keys": lambda v: dict.fromkeys(_layer_names(v), 1).keys()}
_add(_with("layers"), "layers", UNORDERED_LAYERS)
_add(["pruning.sweep"], "criteria", {"set": lambda v: set(v)})
_add(["pruning.summarize"], "by", {"set": lambda v: set(v), "dict keys": lambda v: dict.fromkeys(
    v).keys()})


def unbuilt_model():
    """A Keras model that was never built: Keras does not know its input shape."""
    import keras

    return keras.Sequential([keras.layers.Dense(3, activation="relu"),
                             keras.layers.Dense(2, activation="softmax")])


def nan_copy(model):
    """A copy of ``model`` (Keras) with one NaN in its first kernel (cached per model)."""
    import keras

    def make():
        copy = keras.models.clone_model(model)
        weights = model.get_weights()
        weights[0] = weights[0].copy()
        weights[0].flat[0] = np.nan
        copy.set_weights(weights)
        return copy

    return cached(("nan copy", id(model)), make)


def _keras_model(valid):
    """The Keras model behind a valid ``model`` (a Network stands for the 2-3-2 MLP)."""
    return mlp() if isinstance(valid, network.Network) else valid


BAD_MODELS = {"unbuilt model": lambda v: unbuilt_model(),
              "nan weight": lambda v: nan_copy(_keras_model(v))}
_add(_with("model"), "model", BAD_MODELS)
SPECS["network.keras.check_built"].accept[("model", "nan weight")] = (
    "built, whatever its weights hold", lambda r, a: r is a["model"])
_add(["network.stack.from_models"], "models", {label: lambda v, make=make: [make(v[0])]
                                          for label, make in BAD_MODELS.items()})
SPECS["models.compile_classifier"].accept.update({
    ("model", "unbuilt model"): ("Keras compiles a model before it is built",
                                 lambda r, a: r is a["model"]),
    ("model", "nan weight"): ("compiling does not read the weights",
                              lambda r, a: r is a["model"])})
SPECS["models.save_model"].accept.update({
    ("model", "unbuilt model"): ("Keras saves an unbuilt model's configuration",
                                 lambda r, a: Path(r).exists()),
    ("model", "nan weight"): ("the file holds the weights as they are",
                              lambda r, a: np.isnan(models.load_model(r).get_weights()[0]).any())})


def one_hot(valid):
    """Labels ``valid`` one-hot encoded, as Keras' to_categorical gives them."""
    labels = np.asarray(valid)
    return np.eye(max(int(labels.max()) + 1, 2), dtype=np.float32)[labels]


for _parameter in ("y", "y_train", "y_test", "y_eval"):
    _add(_with(_parameter), _parameter, {"one-hot": one_hot})
_add(["widgets.point_loss"], "labels", {"one-hot": one_hot})


def reversed_extent(valid):
    """``(x1, x0, y0, y1)``: the x axis reversed."""
    x0, x1, y0, y1 = valid
    return (x1, x0, y0, y1)


for _parameter in ("extent", "limits"):
    _add(_with(_parameter), _parameter, {"reversed": reversed_extent})

#: Training data too large for float32 arithmetic: beyond float32 itself, or inside it but
#: overflowing once multiplied by the weights (the loss becomes NaN).
OVERFLOWING = {"overflows float32": lambda v: np.asarray(v, np.float64) * 1e300,
               "scaled by 1e30": lambda v: np.asarray(v, np.float32) * np.float32(1e30)}
_add(["training.train", "models.train_circle_model", "routes.band_search"], "x", OVERFLOWING)

_add(["intervals.interval", "pruning.summarize"], "confidence", {"one": lambda v: 1.0})
_add(["intervals.interval"], "values", {"one network": lambda v: np.asarray(v)[:1]})
_add(["routes.paired"], "first", {"one network": lambda v: np.asarray(v)[:1]})
_add(["routes.paired"], "second", {"one network": lambda v: np.asarray(v)[:1]})
_add(["reasons.interval"], "values", {"one network": lambda v: np.asarray(v)[:1]})
SPECS["reasons.interval"].accept[("values", "one network")] = (
    "one seed: the interval is that value", lambda r, a: r == (1.0, 1.0, 1.0))
_add(["reasons.summarise"], "frame", {"nan value": lambda v: v.assign(
    a=[1.0, np.nan, 3.0, 5.0])})
_add(["pruning.summarize"], "table", {
    "one network per group": lambda v: v.drop_duplicates(["criterion"]),
    "inf value": lambda v: v.assign(accuracy=np.inf),
    "text value": lambda v: v.assign(accuracy="high")})
_add(["pruning.budget_table"], "stacks", {
    "one network": lambda v: {("full", "none"): stack2(1)},
    "not a stack": lambda v: {("full", "none"): "abc"},
    "key not a pair": lambda v: {"full": stack2()}})

_add(["widgets.GridExplorer"], "panels", {
    "vmin above vmax": lambda v: [{**v[0], "vmin": 1.0, "vmax": 0.0}],
    "vmin above the values": lambda v: [{**v[0], "vmin": 5.0}]})


def _encoded(state, data):
    return {**state, "grids": base64.b64encode(data).decode("ascii")}


_add(["widgets.decode_grids"], "state", {
    "corrupt grids": lambda v: _encoded(v, b"not zlib data at all"),
    "grids cut short": lambda v: {**v, "grids": v["grids"][:8]},
    "grids not base64": lambda v: {**v, "grids": "%%%%"},
    "resolution off": lambda v: {**v, "resolution": v["resolution"] + 1},
    "panel without vmin": lambda v: {**v, "panels": [{"title": "t"}]}})

# Steps that do not chain, names that repeat, masks of layers the network does not have.
_add(["network.core.Network"], "steps", {
    "broken chain": lambda v: [network.Dense("hidden0", np.ones((3, 3))), *v[1:]],
    "repeated name": lambda v: [*v[:-1], network.Dense("hidden0", v[-1].kernel,
                                                       v[-1].bias)],
    "flatten missing": lambda v: [network.Conv2D("c", np.ones((1, 1, 1, 2))), *v]})
_add(["network.core.Network"], "masked", {"unknown layer": lambda v: ("no such layer",),
                                     "output layer": lambda v: ("output",),
                                     "repeated": lambda v: ("hidden0", "hidden0")})


# --- MEMBERS ---------------------------------------------------------------------------------

#: ``{name: (make the callable, Spec)}``: a name ``module.Class.member`` is a method or a
#: widget's trait (set after the widget is made, :func:`bad_input.setter`), one
#: ``module.function(...)`` a public callable with the parameters in the brackets fixed.
MEMBERS = {}

#: What a trait's setting may raise: traitlets' own TraitError names the trait too.
TRAIT_REFUSALS = (ValueError, TypeError, traitlets.TraitError)

_network_accepts = {
    ("x", "empty"): ("no points give no outputs", lambda r, a: len(r[0] if isinstance(
        r, tuple) else r) == 0)}
MEMBERS["network.core.Network.predict"] = (lambda: read_mlp().predict,
                                      Spec(lambda: {"x": POINTS}, accept=_network_accepts))
MEMBERS["network.core.Network.forward"] = (lambda: read_mlp().forward, Spec(
    lambda: {"x": POINTS}, same=lambda a, b: same(a[0], b[0]), accept={
        ("x", "empty"): ("no points give no values", lambda r, a: len(r[0][-1]) == 0)}))
MEMBERS["network.core.Network.check_inputs"] = (lambda: read_mlp().check_inputs, Spec(
    lambda: {"x": POINTS, "name": "x"}, accept={
        ("x", "empty"): ("no points", lambda r, a: r.shape == (0, 2)),
        ("name", "unknown"): ("the caller's parameter name, any text",
                              lambda r, a: same(r, POINTS))}))
MEMBERS["network.core.Network.check_masks"] = (lambda: read_mlp().check_masks, Spec(
    lambda: {"masks": {"hidden0": np.ones(3)}, "name": "masks"}, extra={"masks": {
        "unknown layer": lambda v: {"nope": np.ones(3)},
        "nan mask": lambda v: {"hidden0": np.array([1.0, np.nan, 1.0])},
        "complex mask": lambda v: {"hidden0": np.ones(3, complex)}}}, accept={
        ("masks", "None"): ("None means no masks", lambda r, a: r == {}),
        ("name", "unknown"): ("the caller's parameter name, any text",
                              lambda r, a: list(r) == ["hidden0"])}))
MEMBERS["network.core.Network.explaining"] = (lambda: read_mlp().explaining, Spec(
    lambda: {"weights": np.array([1.0, -1.0])}, same=lambda a, b: same(a(POINTS), b(POINTS)),
    accept={("weights", "extra axis"): ("one row of weights per sample",
                                        lambda r, a: r(POINTS[:1]).shape == (1,))}))
MEMBERS["network.core.Network.from_dense"] = (lambda: network.Network.from_dense, Spec(
    lambda: {"layers": read_mlp().dense_chain()}, same=lambda a, b: same(a(POINTS), b(POINTS)),
    extra={"layers": {"broken chain": lambda v: [v[0], (np.ones((5, 2)), np.zeros(2),
                                                        "softmax")],
                      "nan kernel": lambda v: [(v[0][0] * np.nan, *v[0][1:]), *v[1:]],
                      "unknown activation": lambda v: [(*v[0][:2], "nope"), *v[1:]],
                      "not triples": lambda v: [v[0][:2], *v[1:]]},
           "names": {"repeated": lambda v: ["a", "a"], "too few": lambda v: ["a"]}}))

#: One step of each kind and a valid input for its forward pass.
STEP_INPUTS = {
    "Dense": (lambda: network.Dense("d", KERNEL), lambda: POINTS),
    "Folded": (lambda: network.Folded("f", np.ones(2), 0.5), lambda: POINTS),
    "Conv2D": (lambda: network.Conv2D("c", np.ones((2, 2, 1, 2))),
               lambda: GRID.reshape(1, 3, 3, 1)),
    "Maximum": (lambda: network.Maximum("m", (2, 2), (1, 1), "valid"),
                lambda: GRID.reshape(1, 3, 3, 1)),
    "Nonlinearity": (lambda: network.Nonlinearity("r", "relu", *network.ACTIVATIONS["relu"]),
                     lambda: POINTS),
    "Reshape": (lambda: network.Reshape("flatten"), lambda: GRID.reshape(1, 3, 3, 1))}
for _step, (_make, _input) in STEP_INPUTS.items():
    _parameter = "z" if _step == "Nonlinearity" else "a"
    _accept = {(_parameter, "empty"): ("no samples give no outputs", lambda r, a: len(r) == 0)}
    if _step == "Maximum":
        _accept[("a", "wider last axis")] = ("pooling takes any number of channels",
                                             lambda r, a: r.shape == (1, 2, 2, 2))
    if _step in ("Dense", "Nonlinearity", "Folded"):
        _accept[(_parameter, "extra axis")] = (
            "any leading axes", lambda r, a, _make=_make, _parameter=_parameter: same(
                r[0], _make().forward(np.asarray(a[_parameter])[0])))
    if _step == "Nonlinearity":
        _accept.update({("z", case): ("relu of any value", lambda r, a: same(r, np.maximum(
            np.asarray(a["z"], float), 0))) for case in ("nan", "inf", "wider last axis")})
    else:
        _accept.update({("a", case): (
            "NaN and inf are values a network computes with",
            lambda r, a, _make=_make: same(r, _make().forward(np.asarray(a["a"], float))))
            for case in ("nan", "inf")})
    if _step == "Reshape":
        _accept.update({("a", case): ("any shape flattens", lambda r, a: same(
            r, np.asarray(a["a"]).reshape(len(a["a"]), -1)))
            for case in ("wider last axis", "extra axis")})
    MEMBERS[f"network.steps.{_step}.forward"] = (lambda _make=_make: _make().forward, Spec(
        lambda _parameter=_parameter, _input=_input: {_parameter: _input()}, accept=_accept,
        fixed={"values": "the windows Network.forward computed, passed back in"}))

# Rule weights checked whatever the rule.
MEMBERS["reasons.relevance_tf(rule='gradient')"] = (lambda: reasons.relevance_tf, Spec(
    lambda: {**tf_arguments(), "rule": "gradient", "epsilon": 0.01},
    same=lambda a, b: same(a[0].numpy(), b[0].numpy()),
    fixed={name: "battered in the plain spec" for name in ("params", "x", "weights", "rule")}))
MEMBERS["relevance.propagation.propagate(composite=Composite)"] = (
    lambda: relevance.propagate, Spec(
        lambda: {"model": read_mlp(), "x": X2, "composite": relevance.preset("gradient"),
                 "epsilon": 0.01}, same=lambda a, b: same(a.input, b.input),
        fixed={name: "battered in the plain spec"
               for name in ("model", "x", "composite", "output", "baseline", "bias")},
        accept={("epsilon", "huge"): ("epsilon only feeds a preset named by string",
                                      lambda r, a: np.all(np.isfinite(r.input)))}))


def heatmap():
    """A fresh node-toggle explorable of the masked circle model (read once)."""
    return widgets.NodeToggleHeatmap(cached("read circle", lambda: network.read(
        circle_model())), X2, Y2, resolution=4)


def explorer():
    """A fresh GridExplorer."""
    return widgets.GridExplorer(**explorer_arguments())


def trait(make, name, valid, **spec):
    """A MEMBERS entry for setting trait ``name`` of a widget from ``make`` to bad values,
    from the ``valid`` value."""
    return (lambda: setter(make, name), Spec(
        lambda: {name: valid() if callable(valid) else valid},
        same=lambda a, b: same(getattr(a, name), getattr(b, name)), refusals=TRAIT_REFUSALS,
        **spec))


#: The one-line texts of every explorable's card: any line of text is a right value.
LINE_TRAITS = [(_name, "a line.", {"accept": {(_name, "unknown"): (
    "any one line of text", _trait_is(_name, "no such thing"))}})
    for _name in ("prompt", "start", "mark_label")]

for _name, _valid, _spec in [
        ("loss_max", 3.0, {"accept": {("loss_max", "huge"): (
            "a colour scale may be wide", _trait_is("loss_max", 1e300))}}),
        ("circle_radius_squared", 0.5, {"accept": {
            ("circle_radius_squared", "None"): ("None: no circle",
                                                _trait_is("circle_radius_squared", None)),
            ("circle_radius_squared", "huge"): ("a circle of any size",
                                                _trait_is("circle_radius_squared", 1e300))}}),
        ("resolution", 4, {}),
        ("shown_class", 1, {}),
        ("show_points", True, {}),
        ("extent", [-2.0, 2.0, -2.0, 2.0], {"extra": {"extent": {
            "reversed": reversed_extent}}, "accept": {("extent", "negative element"): (
                "an extent may start anywhere", _trait_is("extent", [-3.0, 2.0, -2.0, 2.0]))}}),
        ("mask", [1, 0, 1], {}),
        ("points", lambda: X2.tolist(), {"extra": {"points": {
            "nan point": lambda v: [[np.nan, 0.0], *v[1:]],
            "one point fewer": lambda v: v[1:],
            "three coordinates": lambda v: [[*p, 0.0] for p in v]}}}),
        ("labels", Y2.tolist(), {"extra": {"labels": {"one-hot": one_hot}}}),
        ("layer", "hidden", {}),
        ("output", "softmax", {"extra": {"output": {"sigmoid": lambda v: "sigmoid"}}}),
        ("class_names", ["out", "in"], {"extra": {"class_names": {
            "three": lambda v: [*v, "more"], "empty name": lambda v: ["", "in"]}}}),
        ("marked_nodes", [1, 0, 1], {"kinds": {"marked_nodes": "bool array"}}),
        *LINE_TRAITS]:
    MEMBERS[f"widgets.NodeToggleHeatmap.{_name}"] = trait(heatmap, _name, _valid, **_spec)

for _name, _valid, _spec in [
        ("extent", list(EXTENT), {"extra": {"extent": {"reversed": reversed_extent}},
                                  "accept": {("extent", "negative element"): (
                                      "an extent may start anywhere",
                                      _trait_is("extent", [-3.0, 2.0, -2.0, 2.0]))}}),
        ("resolution", 3, {}),
        ("selection", [1], {}),
        ("panels", lambda: explorer().panels, {"extra": {"panels": {
            "vmin above vmax": lambda v: [{**v[0], "vmin": 2.0, "vmax": 1.0}],
            "nan vmax": lambda v: [{**v[0], "vmax": np.nan}],
            "two panels": lambda v: v * 2}}}),
        ("readouts", [], {"extra": {"readouts": {"one too many": lambda v: ["a"]}}}),
        ("overlay", {"circle_radius_squared": None, "points": []}, {"extra": {"overlay": {
            "nan radius": lambda v: {**v, "circle_radius_squared": np.nan},
            "negative radius": lambda v: {**v, "circle_radius_squared": -1.0},
            "unknown key": lambda v: {**v, "colour": "red"},
            "bad points": lambda v: {**v, "points": [[0.0, np.inf, 1]]}}}}),
        ("marked_cells", [[0, 1], [2, 2]], {"extra": {"marked_cells": {
            "out of the grid": lambda v: [[0, 3]], "repeated": lambda v: v + v[:1],
            "a triple": lambda v: [[0, 1, 2]], "a grid, not pairs": lambda v: np.eye(3)}}}),
        *LINE_TRAITS]:
    MEMBERS[f"widgets.GridExplorer.{_name}"] = trait(explorer, _name, _valid, **_spec)
