"""What the reproducibility page shows: package versions, and each chapter's run time
and peak memory, measured by the chapter itself in its last cell.

Introduced on the :doc:`/book/reproducibility` page.
"""

import importlib.metadata
import platform
import resource
import time

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
