"""A complete wheel: `python -m build` makes a wheel and an sdist that pass `twine check
--strict`; the wheel holds every toyviz module, its static files and the license; its
metadata declares every third-party module toyviz imports; and, installed alone into a
fresh venv (versions from requirements.lock), it runs the README's Python snippets from
outside the source tree.

Slow-ish (about a minute, most of it pip installing TensorFlow into the fresh venv), so
everything is built and installed once per module."""

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import venv
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "toyviz"

# The names the README's second snippet takes as given (`x` and `y` come from its first):
# a small Keras network of the kind it describes, masks for its layer "dense_1", nodes to keep.
PRELUDE = """\
import keras
import numpy as np

my_model = keras.Sequential([
    keras.Input((2,)),
    keras.layers.Dense(8, activation="relu", name="dense"),
    keras.layers.Dense(6, activation="tanh", name="dense_1"),
    keras.layers.Dense(2, activation="softmax", name="dense_2"),
])
my_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
my_model.fit(x, y, epochs=1, verbose=0)
masks = np.random.default_rng(0).integers(0, 2, size=(16, 6)).astype("float32")
keep = [0, 2, 3]
"""

# After the snippets: what they made, and where toyviz and the venv's packages live.
EPILOGUE = """\
import importlib.metadata, json, sysconfig
assert loss.shape == (16,) and gradient.shape == (16, 6), (loss.shape, gradient.shape)
assert smaller.get_layer("dense_1").units == len(keep)
print(json.dumps({"toyviz": toyviz.__file__,
                  "site_packages": sysconfig.get_paths()["purelib"],
                  "requires": importlib.metadata.requires("toyviz")}))
"""


def _run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, (f"{' '.join(map(str, command))} failed:\n"
                                    f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def _clean_env():
    """The environment without anything that would point a child Python at the tree."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def third_party_imports():
    """{top-level module: [files]} for every import in toyviz/ that is neither the standard
    library nor toyviz itself, lazy imports inside functions included."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top != "toyviz":
                    found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The wheel and the sdist, built by `python -m build` into a temporary folder."""
    outdir = tmp_path_factory.mktemp("dist")
    leftovers = [ROOT / "build", ROOT / "dist", ROOT / "toyviz.egg-info"]
    existed = {path for path in leftovers if path.exists()}
    try:
        result = _run([sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)],
                      env=_clean_env())
    finally:
        # setuptools writes toyviz.egg-info next to the sources while it makes the sdist.
        if ROOT / "toyviz.egg-info" not in existed:
            shutil.rmtree(ROOT / "toyviz.egg-info", ignore_errors=True)
    new = [path.name for path in leftovers if path.exists() and path not in existed]
    assert not new, f"the build left {new} in the repository"
    log = result.stdout + result.stderr
    warnings = [line for line in log.splitlines()
                if "warning" in line.lower() and "byte-compiling is disabled" not in line]
    assert not warnings, "the build warns:\n" + "\n".join(warnings)
    wheels, sdists = list(outdir.glob("*.whl")), list(outdir.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in outdir.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory):
    """A fresh venv with the wheel installed alone: only what it declares, at the lock's
    versions (requirements.lock as constraints)."""
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          "-c", str(ROOT / "requirements.lock"), str(dist["wheel"])], env=_clean_env())
    return python


def test_twine_check_passes_strictly(dist):
    result = _run([sys.executable, "-m", "twine", "check", "--strict",
                   str(dist["wheel"]), str(dist["sdist"])], env=_clean_env())
    assert result.stdout.count("PASSED") == 2, result.stdout
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_wheel_holds_every_module_the_static_files_and_the_license(dist):
    names = set(zipfile.ZipFile(dist["wheel"]).namelist())
    modules = {path.relative_to(ROOT).as_posix() for path in PACKAGE.rglob("*.py")
               if "__pycache__" not in path.parts}
    assert modules and modules <= names, sorted(modules - names)
    static = {path.relative_to(ROOT).as_posix() for path in (PACKAGE / "static").iterdir()
              if path.is_file()}
    assert static and static <= names, sorted(static - names)
    assert any(re.fullmatch(r"toyviz-[^/]+\.dist-info/licenses/LICENSE", name)
               for name in names), sorted(names)
    metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(dist["wheel"]).read(metadata).decode()
    assert "License-Expression: MIT" in text and "License-File: LICENSE" in text

    sdist = {name.partition("/")[2] for name in tarfile.open(dist["sdist"]).getnames()}
    assert {"LICENSE", "README.md", "pyproject.toml", *modules, *static} <= sdist, \
        sorted({"LICENSE", "README.md", "pyproject.toml", *modules, *static} - sdist)


def test_metadata_declares_every_third_party_import(installed):
    """Each module toyviz imports belongs to a distribution named in the installed
    metadata's Requires-Dist (core or an extra): a new undeclared import fails here.
    Modules are mapped to distributions in the project venv, which holds every extra."""
    requires = json.loads(_run([str(installed), "-c",
                                "import importlib.metadata, json; "
                                "print(json.dumps(importlib.metadata.requires('toyviz')))"],
                               env=_clean_env(), cwd=installed.parent).stdout)
    declared = {canonicalize_name(Requirement(line).name) for line in requires}
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, files in sorted(third_party_imports().items()):
        distributions = {canonicalize_name(name) for name in providers.get(module, [])}
        # a module this Python does not install (tomli: Python 3.10's tomllib, declared
        # with a marker) must be declared under its own name
        if not (distributions or {canonicalize_name(module)}) & declared:
            undeclared[module] = (sorted(distributions) or "not installed", sorted(set(files)))
    assert not undeclared, ("imported by toyviz but not declared in pyproject.toml "
                            f"(module: (distributions, files)): {undeclared}")


def readme_snippets():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_snippets_run_on_the_installed_wheel(installed, tmp_path):
    snippets = readme_snippets()
    assert len(snippets) >= 2 and any("my_model" in snippet for snippet in snippets)
    parts, prelude_done = [], False
    for snippet in snippets:
        if "my_model" in snippet and not prelude_done:
            parts.append(PRELUDE)
            prelude_done = True
        parts.append(snippet)
    script = tmp_path / "readme_snippets.py"
    script.write_text("\n".join(parts) + "\nimport toyviz\n" + EPILOGUE)
    result = _run([str(installed), str(script)], env=_clean_env(), cwd=tmp_path)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    site_packages = Path(report["site_packages"]).resolve()
    toyviz_file = Path(report["toyviz"]).resolve()
    assert toyviz_file.is_relative_to(site_packages), report
    assert not toyviz_file.is_relative_to(ROOT), report

