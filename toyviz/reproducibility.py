"""What the reproducibility page shows: package versions, and each chapter's run time
and peak memory, measured by the chapter itself in its last cell; and the one call that
keeps a chapter's kernel inside Binder's memory,
:func:`~toyviz.reproducibility.import_tensorflow`.

Introduced on the :doc:`/book/reproducibility` page.
"""

import ctypes
import importlib.metadata
import importlib.util
import os
import platform
import resource
import sys
import time
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
    """This process's run time so far and its peak resident memory.

    In a notebook the process is the kernel, started just before the first cell, so
    called from the last cell this is the chapter's run time and the most memory it held
    at any moment (what mybinder's 1 GB guarantee is about).

    Returns
    -------
    dict with ``run_seconds`` (float) and ``peak_rss_mb`` (float, MiB).
    """
    started = psutil.Process().create_time()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"run_seconds": time.time() - started, "peak_rss_mb": peak_kib / 1024}


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
    process = psutil.Process()
    before = process.memory_info().rss
    with open("/proc/self/maps") as maps:
        regions = [line.split(maxsplit=5) for line in maps]
    for region in regions:
        path = region[5].strip() if len(region) == 6 else ""
        if not any(path.startswith(folder) for folder in folders):
            continue
        start, end = (int(address, 16) for address in region[0].split("-"))
        libc.madvise(start, end - start, MADV_PAGEOUT)  # a kernel without it: EINVAL
    return max(before - process.memory_info().rss, 0) / 2**20


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
        folder = Path(spec.submodule_search_locations[0])
        if sys.platform.startswith("linux"):
            for name in ("libtensorflow_framework.so.2", "libtensorflow_cc.so.2"):
                if (folder / name).exists():
                    ctypes.CDLL(str(folder / name))   # RTLD_LOCAL, as the import loads it
            release_library_pages("tensorflow")
    tensorflow = importlib.import_module("tensorflow")
    release_library_pages("tensorflow")
    return tensorflow


#: mybinder.org guarantees 1 GB of memory to a session.
BINDER_MEMORY_MB = 1024


def glue_run_stats(record, limit_mb=BINDER_MEMORY_MB):
    """Glue ``run_seconds`` and ``peak_rss_mb`` (see :func:`run_stats`) without
    displaying them, for the reproducibility page to paste, and put them in the chapter's
    ``record`` (a :class:`toyviz.checks.Record`) as values that vary from run to run. Call
    it in a chapter's last cell, before displaying the record.

    Raises ``RuntimeError`` when the peak memory exceeds ``limit_mb``, so that a chapter
    that would not fit in Binder's guarantee fails the build. Returns the stats.
    """
    if not isinstance(record, checks.Record):
        raise TypeError(f"record must be a toyviz.checks.Record, got {type(record).__name__}")
    limit_mb = check_float("limit_mb", limit_mb, low=0, low_open=True)
    stats = run_stats()
    if stats["peak_rss_mb"] > limit_mb:
        raise RuntimeError(f"peak memory {stats['peak_rss_mb']:.0f} MiB exceeds the "
                           f"{limit_mb:.0f} MiB limit (mybinder.org guarantees 1 GB)")
    why = "run time and memory differ from run to run and machine to machine"
    for key, value in stats.items():
        record.number(key, value, checks.Varies(why), digits=1, glue=True)
    return stats
