"""``toyviz.reproducibility``'s memory calls: ``release_library_pages`` frees the resident
pages of a package's compiled libraries, which read back the same afterwards, and
``import_tensorflow`` gives a TensorFlow that trains exactly as a plain import's. (How much
memory they save is measured on the reproducibility page, in fresh processes: this test
process maps the same libraries, and shared pages stay resident.)"""

import json
import mmap
import os
import subprocess
import sys

import numpy as np
import pytest

from toyviz import reproducibility

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise is Linux's")


def resident_kib(fragment):
    """Resident KiB of this process's mappings of files whose path contains ``fragment``."""
    total, current = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and not fields[0].endswith(":"):
                current = len(fields) >= 6 and fragment in fields[5]
            elif fields[0] == "Rss:" and current:
                total += int(fields[1])
    return total


@pytest.fixture
def mapped_package(tmp_path, monkeypatch):
    """A package of its own whose 4 MiB data file this process alone maps, read through:
    (name, mapping, the file's bytes). Another process mapping the same file (a Jupyter
    kernel with the same TensorFlow, say) keeps shared pages resident, so the test makes
    a file nobody else has."""
    name = f"mapped_{tmp_path.name.replace('-', '_')}"
    folder = tmp_path / name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    content = np.random.default_rng(0).bytes(4 * 2**20)
    (folder / "library.bin").write_bytes(content)
    monkeypatch.syspath_prepend(str(tmp_path))
    with open(folder / "library.bin", "rb") as file:
        mapping = mmap.mmap(file.fileno(), 0, prot=mmap.PROT_READ)
    assert mapping[:] == content   # every page read: resident
    yield name, mapping, content
    mapping.close()


@linux
def test_release_frees_the_packages_pages_and_keeps_their_bytes(mapped_package):
    name, mapping, content = mapped_package
    before = resident_kib(name)
    assert before >= 4 * 1024 - 64, before
    freed_mb = reproducibility.release_library_pages(name)
    after = resident_kib(name)
    assert after <= before / 8, (before, after)
    assert freed_mb > 3.0, freed_mb
    assert mapping[:] == content   # read back from the file, the same bytes


@linux
def test_release_leaves_other_files_pages_alone(mapped_package):
    name, _, _ = mapped_package
    before = resident_kib(name)
    reproducibility.release_library_pages("json")   # a package with no mapped file
    assert resident_kib(name) == before


@linux
def test_release_of_a_package_with_no_compiled_library_frees_nothing():
    import json  # noqa: F401  (a package with a folder and no shared library)

    assert reproducibility.release_library_pages("json") == pytest.approx(0.0, abs=1.0)


@pytest.mark.parametrize("package, error", [("no_such_package_here", ValueError),
                                            ("os", ValueError), ("", ValueError),
                                            (3, TypeError)])
def test_release_refuses_what_is_not_an_installed_package(package, error):
    with pytest.raises(error, match="package"):
        reproducibility.release_library_pages(package)


TRAIN = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
if sys.argv[1] == "lean":
    from toyviz import reproducibility
    tensorflow = reproducibility.import_tensorflow()
    assert tensorflow is sys.modules["tensorflow"]
import keras
import numpy as np

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
y = (x ** 2).sum(axis=1) < 1
model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(x, y.astype(int), epochs=3, verbose=0)
loaded = {line.split()[-1] for line in open("/proc/self/maps") if "libtensorflow_cc" in line}
print(json.dumps({"weights": [w.tolist() for w in model.get_weights()],
                  "libraries": sorted(loaded)}))
"""


def run_training(how):
    done = subprocess.run([sys.executable, "-c", TRAIN, how], capture_output=True, text=True,
                          check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return json.loads(done.stdout.strip().splitlines()[-1])


@linux
def test_import_tensorflow_loads_each_library_once_and_trains_as_a_plain_import():
    plain, lean = run_training("plain"), run_training("lean")
    assert len(lean["libraries"]) == 1 and lean["libraries"] == plain["libraries"], (
        plain["libraries"], lean["libraries"])
    for ours, theirs in zip(lean["weights"], plain["weights"], strict=True):
        np.testing.assert_array_equal(np.array(ours), np.array(theirs))


def test_import_tensorflow_when_imported_already_returns_the_module():
    import tensorflow

    assert reproducibility.import_tensorflow() is tensorflow
