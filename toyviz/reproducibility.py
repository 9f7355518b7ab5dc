"""What the reproducibility page shows: package versions, and each chapter's run time
and peak memory, measured by the chapter itself, with the conditions they were measured
in (:func:`~toyviz.reproducibility.conditions`: the load on the machine, other processes
holding TensorFlow); and the one call that keeps a chapter's kernel inside Binder's
memory, :func:`~toyviz.reproducibility.import_tensorflow`.

Memory and time depend on the machine and on what else runs on it, so they are recorded,
never asserted in a page: ``make test`` bounds a chapter's memory, in the live-JupyterLab
test, on the part the system cannot reclaim (anonymous memory).

Introduced on the :doc:`/book/reproducibility` page.
"""

import ctypes
import json
import importlib.metadata
import importlib.util
import os
import platform
import resource
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import psutil

from toyviz import checks
from toyviz._checks import check_float

#: Packages whose versions the reproducibility page lists.
PACKAGES = ("toyviz", "tensorflow-cpu", "keras", "numpy", "scipy", "matplotlib", "seaborn",
            "scikit-learn", "ipywidgets", "anywidget", "jupyter-book", "myst-nb", "nbval",
            "numba", "dask", "distributed")


def versions(packages=PACKAGES):
    """Installed versions, as a list of ``(package, version)`` with Python first."""
    if isinstance(packages, str) or not isinstance(packages, (list, tuple)) or not all(
            isinstance(p, str) for p in packages):
        raise TypeError("packages must be a sequence of package names (str), "
                        f"got {packages!r}")
    rows = [("python", platform.python_version())]
    for name in packages:
        try:
            rows.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return rows


def run_stats():
    """This process's run time so far, its peak memory and the conditions they were
    measured in.

    In a notebook the process is the kernel, started just before the first cell, so
    called from the last cell this is the chapter's run time and the most memory it held
    at any moment. ``peak_rss_mb`` is resident memory, what mybinder.org's memory display
    and its 1 GB guarantee count; it includes library pages that the system could drop,
    and pages shared with other processes. ``peak_anonymous_mb``, present once
    :func:`watch_memory` has been started, is the part the system cannot drop.

    Returns
    -------
    dict with ``run_seconds`` (float), ``peak_rss_mb`` (float, MiB),
    ``peak_anonymous_mb`` (float, MiB; only after :func:`watch_memory`) and the entries of
    :func:`conditions`.
    """
    started = psutil.Process().create_time()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    stats = {"run_seconds": time.time() - started, "peak_rss_mb": peak_kib / 1024}
    watch = _WATCH.get("thread")
    if watch is not None:
        stats["peak_anonymous_mb"] = watch.peak_mb()
    return {**stats, **conditions()}


def anonymous_mb(process=None):
    """Resident memory of ``process`` (a ``psutil.Process``; None: this one) that is not
    a copy of a file, in MiB: heap, arrays, stacks. The system cannot reclaim it without
    swap, unlike library code, which it can drop and read back."""
    if process is None:
        process = psutil.Process()
    elif not isinstance(process, psutil.Process):
        raise TypeError(f"process must be a psutil.Process or None, got "
                        f"{type(process).__name__}")
    memory = process.memory_info()
    shared = getattr(memory, "shared", 0)   # Linux: file-backed and shared memory
    return (memory.rss - shared) / 2**20


class _MemoryWatch(threading.Thread):
    """Samples :func:`anonymous_mb` of this process every ``interval`` seconds."""

    def __init__(self, interval):
        super().__init__(name="toyviz-memory-watch", daemon=True)
        self.interval = interval
        self._process = psutil.Process()
        self._peak = anonymous_mb(self._process)
        self._lock = threading.Lock()

    def run(self):
        while True:
            sample = anonymous_mb(self._process)
            with self._lock:
                self._peak = max(self._peak, sample)
            time.sleep(self.interval)

    def peak_mb(self):
        sample = anonymous_mb(self._process)
        with self._lock:
            self._peak = max(self._peak, sample)
            return self._peak


_WATCH = {}
_WATCH_LOCK = threading.Lock()


def watch_memory(interval=0.05):
    """Start sampling this process's anonymous memory (:func:`anonymous_mb`) every
    ``interval`` seconds in a background thread, so that :func:`run_stats` can report its
    peak, and return the peak so far in MiB. A second call only returns the peak.

    Each chapter calls it in its setup cell: the live-JupyterLab test of ``make test``
    bounds, for the chapters it does not run itself, this peak plus the Jupyter server's
    memory (see ``tests/test_jupyterlab.py``).

    Parameters
    ----------
    interval : float, seconds between samples, in (0, 10]
    """
    interval = check_float("interval", interval, low=0, low_open=True, high=10)
    with _WATCH_LOCK:
        if "thread" not in _WATCH:
            _WATCH["thread"] = _MemoryWatch(interval)
            _WATCH["thread"].start()
    return _WATCH["thread"].peak_mb()


#: TensorFlow's compiled libraries, whose pages a process holding them keeps resident.
#: In the order they load (the framework first).
TENSORFLOW_LIBRARIES = ("libtensorflow_framework.so.2", "libtensorflow_cc.so.2")


def _tensorflow_library_files():
    """The files of :data:`TENSORFLOW_LIBRARIES` in the TensorFlow this Python would
    import, resolved, in load order; empty when it has none."""
    try:
        spec = importlib.util.find_spec("tensorflow")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(spec.submodule_search_locations[0])
    return [os.path.realpath(folder / name) for name in TENSORFLOW_LIBRARIES
            if (folder / name).exists()]


def conditions():
    """What the machine was doing while a time or a memory figure was measured.

    Returns
    -------
    dict
        ``load_average`` (float): the 1-minute load average, NaN where the system has
        none; ``cpus`` (int): logical CPUs; ``tensorflow_elsewhere`` (int): other
        processes that map TensorFlow's compiled library (a Jupyter kernel left running,
        say; the same files as this Python's TensorFlow, see :func:`tensorflow_holders`). Pages
        they map cannot be handed back by :func:`release_library_pages`, so resident
        memory can be higher than where nothing else holds TensorFlow. Processes whose
        memory map this user may not read are not counted.
    """
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return {"load_average": load, "cpus": os.cpu_count() or 1,
            "tensorflow_elsewhere": len(tensorflow_holders())}


def tensorflow_holders():
    """Process ids of the other processes that map the compiled library of the TensorFlow
    this Python imports (:data:`TENSORFLOW_LIBRARIES`; the same files, not another
    installation's copy, whose pages are others), sorted; empty where ``/proc`` does not
    exist or TensorFlow is not installed."""
    files = set(_tensorflow_library_files())
    proc = Path("/proc")
    if not files or not proc.is_dir():
        return []
    holders = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            maps = (entry / "maps").read_text()
        except OSError:  # gone, or not ours to read
            continue
        mapped = {line.split(maxsplit=5)[5].strip() for line in maps.splitlines()
                  if "libtensorflow" in line and len(line.split(maxsplit=5)) == 6}
        if mapped & files:
            holders.append(int(entry.name))
    return sorted(holders)


#: ``madvise`` advice (Linux 5.4 and later): reclaim these pages now, as memory pressure would.
MADV_PAGEOUT = 21


def release_library_pages(package="tensorflow"):
    """Hand back to the system the pages of ``package``'s compiled libraries that this
    process holds, and return how many MiB of resident memory that freed.

    Why: importing TensorFlow runs the static initialisers spread through its 750 MiB
    ``libtensorflow_cc.so.2``, which reads about a third of it into memory (TensorFlow
    2.21), and a chapter then runs a small part of that code. The pages are clean copies of the
    library file, so the system could drop them under memory pressure, but until it does
    they count as the process's resident memory: what mybinder.org's memory display and
    1 GB guarantee count. This call asks Linux to reclaim them now (``madvise`` with
    ``MADV_PAGEOUT``); the pages the process goes on to use are read back from the file
    on first touch. Nothing else changes: a clean file page reclaimed and read again
    holds the same bytes.

    Pages written since loading (relocations, static data) are not file copies; the
    system keeps them. Pages that another process maps too (a second Jupyter kernel with
    the same TensorFlow) stay resident. Where the advice does not exist (not Linux, or
    Linux before 5.4) nothing happens and the result is 0.0.
    :func:`import_tensorflow` calls this twice, during and after the import.

    The measurements are on the :doc:`/book/reproducibility` page.

    Parameters
    ----------
    package : str
        An installed package; the libraries released are the files under its folder.

    Returns
    -------
    float
        Resident memory freed, in MiB (0.0 when the package holds no pages).
    """
    if not isinstance(package, str):
        raise TypeError(f"package must be the name of an installed package (str), "
                        f"got {type(package).__name__}")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError, TypeError):  # no such module, '', relative name
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"package must be the name of an installed package with a "
                         f"folder, got {package!r}")
    if not sys.platform.startswith("linux"):
        return 0.0
    folders = [os.path.realpath(folder) + os.sep for folder in spec.submodule_search_locations]
    libc = ctypes.CDLL(None)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    regions = _mappings_under(folders)
    for start, end, _ in regions:
        libc.madvise(start, end - start, MADV_PAGEOUT)  # a kernel without it: EINVAL
    # the released mappings' own resident bytes, before and after: not the process's
    # whole resident size, which other threads' allocations move meanwhile
    freed = sum(rss for *_, rss in regions) - sum(rss for *_, rss in _mappings_under(folders))
    return max(freed, 0) / 2**20


def _mappings_under(folders):
    """This process's mappings of files under ``folders``: (start, end, resident bytes)
    each, from ``/proc/self/smaps``."""
    found, current = [], None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split(maxsplit=5)
            if "-" in fields[0] and not fields[0].endswith(":"):   # a mapping's first line
                path = fields[5].strip() if len(fields) == 6 else ""
                current = None
                if any(path.startswith(folder) for folder in folders):
                    start, end = (int(address, 16) for address in fields[0].split("-"))
                    current = [start, end, 0]
                    found.append(current)
            elif current is not None and fields[0] == "Rss:":
                current[2] = int(fields[1]) * 1024   # kB
    return [tuple(mapping) for mapping in found]


def import_tensorflow():
    """Import TensorFlow, keeping resident only the part of its compiled library that is
    in use, and return the module. Each chapter calls it in its setup cell, before
    ``import keras``.

    A plain ``import tensorflow`` first loads ``libtensorflow_framework`` and
    ``libtensorflow_cc``, whose static initialisers read about 250 MiB of them, and then
    imports about 4,000 Python modules; the process peaks with both in memory. This loads
    the two libraries first (the same files, which the import then finds already loaded),
    hands their pages back (:func:`release_library_pages`), then imports TensorFlow and
    hands back what the import read in turn. The process peaks lower, about 200 MiB lower
    on the machine that built this book (the :doc:`/book/reproducibility` page measures
    it), and TensorFlow behaves as after a plain import. If TensorFlow is imported
    already, this only releases its pages.

    Returns
    -------
    module
        ``tensorflow``.
    """
    if "tensorflow" not in sys.modules:
        spec = importlib.util.find_spec("tensorflow")
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("import_tensorflow needs TensorFlow installed "
                                      "(pip install tensorflow-cpu)")
        if sys.platform.startswith("linux"):
            for library in _tensorflow_library_files():
                ctypes.CDLL(library)   # RTLD_LOCAL, as the import loads it
            release_library_pages("tensorflow")
    tensorflow = importlib.import_module("tensorflow")
    release_library_pages("tensorflow")
    return tensorflow


#: mybinder.org guarantees 1 GB of memory to a session.
BINDER_MEMORY_MB = 1024

#: Why run time, memory and the machine's conditions are recorded and not compared.
_VARIES = "run time, memory and load differ from run to run and machine to machine"


def glue_run_stats(record, limit_mb=None):
    """Glue what :func:`run_stats` returns without displaying it, for the reproducibility
    page to paste, and put it in the chapter's ``record`` (a
    :class:`toyviz.checks.Record`) as values that vary from run to run. Call it in a
    chapter's last cell, before displaying the record. Returns the stats.

    Nothing is asserted: memory and time depend on the machine and on what else runs on
    it (:func:`conditions`), so a page records them with their conditions. ``make test``
    bounds each chapter's memory in its live-JupyterLab test instead.

    ``limit_mb`` is deprecated and ignored: it used to raise when the peak resident
    memory exceeded it, which failed the build whenever another process held TensorFlow.
    """
    if not isinstance(record, checks.Record):
        raise TypeError(f"record must be a toyviz.checks.Record, got {type(record).__name__}")
    if limit_mb is not None:
        check_float("limit_mb", limit_mb, low=0, low_open=True)
        warnings.warn("glue_run_stats(limit_mb=...) is deprecated and ignored: memory is "
                      "recorded with its conditions, not asserted in a page",
                      DeprecationWarning, stacklevel=2)
    stats = run_stats()
    for key, value in stats.items():
        record.number(key, value, checks.Varies(_VARIES), digits=1, glue=True)
    return stats


_IMPORT_PROBE = """
import json, os, resource, sys
import psutil
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
if sys.argv[1] == "plain":
    import tensorflow
else:
    from toyviz import reproducibility
    reproducibility.import_tensorflow()
import keras
print(json.dumps({"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "after": psutil.Process().memory_info().rss / 2**20}))
"""


def tensorflow_import_memory():
    """Import TensorFlow and Keras in two fresh Python processes, once plainly and once
    through :func:`import_tensorflow`, and return what each held, with the conditions.

    Returns
    -------
    dict with ``plain`` and ``lean``, each ``{"peak": MiB while importing, "after": MiB
    resident after the import}``, and the entries of :func:`conditions` (measured while
    the two processes ran; ``tensorflow_elsewhere`` counts neither of them).
    """
    figures = {}
    for how in ("plain", "lean"):
        run = subprocess.run([sys.executable, "-c", _IMPORT_PROBE, how], capture_output=True,
                             text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if run.returncode != 0:
            raise RuntimeError(f"importing TensorFlow ({how}) in a fresh process failed:\n"
                               f"{run.stderr[-2000:]}")
        figures[how] = json.loads(run.stdout.strip().splitlines()[-1])
    return {**figures, **conditions()}


def describe_import_memory(figures):
    """One sentence on what :func:`import_tensorflow` saved, formatted from ``figures``
    (what :func:`tensorflow_import_memory` returns), whichever way they came out.

    It also says how many other processes held the same TensorFlow library while the
    figures were measured (:func:`tensorflow_holders`), without explaining the figures by
    it: pages another process maps cannot be handed back, but which pages two processes
    share depends on what each has run.
    """
    if not isinstance(figures, dict) or not all(
            isinstance(figures.get(how), dict) and {"peak", "after"} <= set(figures[how])
            for how in ("plain", "lean")) or "tensorflow_elsewhere" not in figures:
        raise TypeError("figures must be what tensorflow_import_memory() returns (plain, "
                        f"lean and tensorflow_elsewhere), got {figures!r}")
    plain, lean = figures["plain"], figures["lean"]
    others = int(figures["tensorflow_elsewhere"])
    if others == 0:
        held = "No other process held TensorFlow's library while this was measured"
    else:
        held = (f"{others} other process{'es' if others > 1 else ''} held TensorFlow's "
                "library while this was measured")
    saved = plain["after"] - lean["after"]
    if saved >= 1:
        outcome = (f"left {lean['after']:.0f} MiB resident instead of {plain['after']:.0f} "
                   f"({saved:.0f} MiB less), after a peak of {lean['peak']:.0f} MiB "
                   f"instead of {plain['peak']:.0f}")
    else:
        outcome = (f"left {lean['after']:.0f} MiB resident against {plain['after']:.0f} "
                   "for a plain import, no less")
    return f"Here, import_tensorflow() {outcome}. {held}."
