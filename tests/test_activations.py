"""toyviz.network.activations: the one list of activations and the one parser of their
names. Every other list of activation names in toyviz is drawn from the registry."""

import ast
import functools
from pathlib import Path

import numpy as np
import pytest

import toyviz
from toyviz import models, training, widgets
from toyviz.network import ACTIVATIONS, OTHER_ACTIVATIONS, OUTPUT_ACTIVATIONS
from toyviz.network.activations import REGISTRY, parse_activation
from toyviz.network.steps import activation_step

NAMES = [entry.name for entry in REGISTRY]


def test_the_registry_names_each_activation_once():
    assert len(NAMES) == len(set(NAMES))
    assert list(ACTIVATIONS) == ["relu", "relu6", "leaky_relu", "elu", "selu", "tanh",
                                 "softsign", "silu", "gelu"]
    assert list(OTHER_ACTIVATIONS) == ["sigmoid"]
    assert OUTPUT_ACTIVATIONS == ("linear", "softmax", "sigmoid")


def test_every_list_of_activations_is_drawn_from_the_registry():
    """Each module's list is a selection of the registry by a property of its entries,
    in the order its messages have always listed them."""
    assert training.HIDDEN_ACTIVATIONS == ("relu", "tanh", "sigmoid", "linear")
    assert set(training.HIDDEN_ACTIVATIONS) == {e.name for e in REGISTRY if e.trainer}
    assert set(models._ACTIVATIONS) == {"relu", "linear", "tanh", "softmax", "sigmoid"}
    assert set(models._ACTIVATIONS) == {e.name for e in REGISTRY if e.trainer or e.output}
    assert set(widgets.BROWSER_ACTIVATIONS) == {
        *(e.name for e in REGISTRY if e.browser and e.hidden),
        *(e.form for e in REGISTRY if e.browser and e.form)}
    for name, (f, fprime) in {**ACTIVATIONS, **OTHER_ACTIVATIONS}.items():
        entry = parse_activation(name)[0]
        assert entry.functions == (f, fprime) and entry.zero_at_zero == (name in ACTIVATIONS)


def _name_lists(path):
    """(line, names) of each tuple, list or set literal in ``path`` holding two or more
    activation names of the registry."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            names = [item.value for item in node.elts
                     if isinstance(item, ast.Constant) and item.value in NAMES]
            if len(names) >= 2:
                found.append((node.lineno, names))
    return found


def test_no_module_lists_activation_names_of_its_own():
    package = Path(toyviz.__file__).parent
    home = package / "network" / "activations.py"
    lists = {str(path.relative_to(package)): _name_lists(path)
             for path in sorted(package.rglob("*.py")) if path != home}
    assert not {path: found for path, found in lists.items() if found}


@pytest.mark.parametrize("function, name, parameters", [
    ("tanh", "tanh", ()),
    ("linear", "linear", ()),
    ("softmax", "softmax", ()),
    ("leaky_relu", "leaky_relu", ()),
    ("leaky_relu(0.1)", "leaky_relu", (0.1,)),
    ("elu(0.5)", "elu", (0.5,)),
    ("elu(1e-3)", "elu", (1e-3,)),
    ("relu(negative_slope=0.1, max_value=6.0)", "relu", (0.1, 6.0)),
    ("relu(negative_slope=0.0, max_value=None)", "relu", (0.0, None)),
])
def test_parse_activation_reads_plain_and_parametric_names(function, name, parameters):
    entry, got = parse_activation(function)
    assert (entry.name, got) == (name, parameters)


@pytest.mark.parametrize("function", ["no such thing", "selu(0.5)", "leaky_relu()",
                                      "relu(0.1)", "elu(0.5"])
def test_parse_activation_knows_no_other_names(function):
    assert parse_activation(function) is None


def test_parse_activation_refuses_what_is_no_name_or_no_number():
    with pytest.raises(TypeError, match="function"):
        parse_activation(3)
    with pytest.raises(ValueError, match="could not convert"):
        parse_activation("leaky_relu(x)")


def test_a_parametric_step_computes_its_family_at_its_numbers():
    z = np.linspace(-3, 8, 23)
    (step,) = activation_step("layer", "relu(negative_slope=0.1, max_value=6.0)")
    np.testing.assert_array_equal(step.f(z), np.where(z > 0, np.minimum(z, 6.0), 0.1 * z))
    (step,) = activation_step("layer", "leaky_relu(0.2)")
    np.testing.assert_array_equal(step.f(z), ACTIVATIONS["leaky_relu"][0](z))
    assert activation_step("layer", "linear") == []
    (softmax,) = activation_step("layer", "softmax")
    assert softmax.f is None and not softmax.zero_at_zero
    with pytest.raises(ValueError, match="model's layer 'layer' uses the activation 'gelu6'"):
        activation_step("layer", "gelu6", "model")
    with pytest.raises(TypeError, match="^activation must be"):
        activation_step("layer", ["tanh"])


def test_each_trainer_entry_names_the_tensorflow_function_that_computes_it():
    tf = pytest.importorskip("tensorflow")
    z = np.linspace(-3.0, 3.0, 13)
    trained = [entry for entry in REGISTRY if entry.trainer]
    assert {entry.name for entry in trained} == set(training.HIDDEN_ACTIVATIONS)
    for entry in trained:
        function = functools.reduce(getattr, entry.trainer.split("."), tf)
        expected = z if entry.functions is None else entry.functions[0](z)
        np.testing.assert_allclose(function(tf.constant(z)).numpy(), expected, rtol=1e-12,
                                   atol=1e-15, err_msg=entry.name)
