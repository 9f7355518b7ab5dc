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
from pathlib import Path

import numpy as np
import pytest

from toyviz import reproducibility

ROOT = Path(__file__).resolve().parent.parent
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


@linux
def test_release_cannot_free_pages_another_process_maps(mapped_package, tmp_path):
    """Why a process holding TensorFlow changes what import_tensorflow saves (the sentence
    of describe_import_memory): pages another process maps stay resident."""
    name, _, _ = mapped_package
    library = next(path for path in map(Path, sys.path)
                   if (path / name / "library.bin").exists()) / name / "library.bin"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import mmap, sys\n"
         f"f = open({str(library)!r}, 'rb'); m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n"
         "m[:]; print('mapped', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "mapped"
        before = resident_kib(name)
        reproducibility.release_library_pages(name)
        assert resident_kib(name) >= before * 0.9, (before, resident_kib(name))
    finally:
        holder.stdin.close()
        holder.wait(timeout=20)


def test_watch_memory_reports_an_anonymous_peak_that_a_large_array_raises():
    assert reproducibility.watch_memory() > 0
    # the peak so far may be an earlier test's: the array is measured against the memory
    # in use just before it (run_stats samples again when called)
    before = reproducibility.anonymous_mb()
    block = np.ones(2**25)   # 256 MiB, touched
    peak_with = reproducibility.run_stats()["peak_anonymous_mb"]
    del block
    assert peak_with >= before + 200, (before, peak_with)
    assert reproducibility.watch_memory(interval=1.0) >= peak_with  # the same watch


def test_conditions_say_what_else_ran():
    found = reproducibility.conditions()
    assert set(found) == {"load_average", "cpus", "tensorflow_elsewhere"}
    assert found["cpus"] >= 1 and found["tensorflow_elsewhere"] >= 0


@linux
def test_tensorflow_holders_finds_a_process_holding_tensorflow():
    holder = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "hold_tensorflow.py")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert holder.pid in reproducibility.tensorflow_holders()
        figures = reproducibility.tensorflow_import_memory()   # the reproducibility page's
        assert figures["tensorflow_elsewhere"] >= 1
        assert all(figures[how][key] > 0 for how in ("plain", "lean")
                   for key in ("peak", "after"))
        sentence = reproducibility.describe_import_memory(figures)
        count = figures["tensorflow_elsewhere"]
        assert f"{count} other process" in sentence and \
            f"{figures['lean']['after']:.0f} MiB" in sentence, sentence
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert holder.pid not in reproducibility.tensorflow_holders()


@pytest.mark.parametrize("plain_after, lean_after, others, says", [
    (616.0, 339.0, 0, ["339 MiB resident instead of 616", "277 MiB less",
                       "No other process"]),
    (616.0, 630.0, 1, ["630 MiB resident against 616", "no less",
                       "1 other process held TensorFlow's library"]),
    (616.0, 339.0, 3, ["3 other processes held"]),
])
def test_describe_import_memory_is_formatted_from_its_figures(plain_after, lean_after,
                                                              others, says):
    sentence = reproducibility.describe_import_memory(
        {"plain": {"peak": 616.0, "after": plain_after},
         "lean": {"peak": 406.0, "after": lean_after}, "tensorflow_elsewhere": others})
    for part in says:
        assert part in sentence, sentence


@pytest.mark.parametrize("figures", [None, {}, {"plain": {"peak": 1.0}},
                                     {"plain": {"peak": 1, "after": 1},
                                      "lean": {"peak": 1, "after": 1}}])
def test_describe_import_memory_refuses_other_input(figures):
    with pytest.raises(TypeError, match="figures"):
        reproducibility.describe_import_memory(figures)


def test_glue_run_stats_asserts_nothing_and_deprecates_its_limit():
    from toyviz import checks

    record = checks.Record()
    with pytest.warns(DeprecationWarning, match="limit_mb"):
        stats = reproducibility.glue_run_stats(record, limit_mb=1.0)   # far below the peak
    assert stats["peak_rss_mb"] > 1.0 and set(stats) <= set(record.entries)
