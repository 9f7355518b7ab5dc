"""Which engine is faster here: measured once, then remembered.

The fused numba kernels of :mod:`toyviz._fused` and the numpy paths compute the same
numbers, and which of the two is faster depends on the CPU (its vector units, the BLAS
kernels OpenBLAS picks for it), on numba's and numpy's versions and on the shape of the
problem: on one machine the fused sweep of chapter 1 is 2.4 times faster, on another
the numpy path won. So ``engine="auto"`` does not guess. The first time a problem of a
given kind runs, :func:`choose` times both engines on two samples of that problem (its
own points, nodes, outputs and block size; one high half, and one group of high halves,
of the mask index, by one block of low halves: the units both engines work in),
interleaved, and takes the faster.

The choice is kept per *key*: what is measured (``workload``, e.g. ``"sweep"``), the CPU
model (``/proc/cpuinfo``'s model name and a hash of its flags), numba's and numpy's
versions, the BLAS numpy uses (its library, version and kernel architecture, from
threadpoolctl), toyviz's engine code (a hash of its source), the problem's shape class
and the number of workers. It is kept in memory for the process and on disk, in
``$XDG_CACHE_HOME/toyviz/engine-calibration.json`` (``~/.cache/toyviz/...`` when
``XDG_CACHE_HOME`` is unset or not absolute), written atomically (a temporary file
renamed over it); a file that cannot be read or parsed is ignored and rewritten. Nothing
is read or written at import; a process whose cached choice is numpy never imports numba.
Delete the file to measure again.

**The measurement.** numba runs the small sample once untimed (it loads or compiles its
kernels), then both engines run both samples, the engines in alternating order, for at
least :data:`MIN_ROUNDS` and at most :data:`MAX_ROUNDS` rounds. Each engine's time on
each sample is the minimum of its runs: a busy machine only ever adds time. The small
sample (one high half) is mostly what a call pays whatever its size (the tables, the
thread, its buffers: about 1.8 ms fused and 3.1 ms numpy on chapter 1's problem here,
enough to mislead a comparison of samples this small); the sample (a group of high
halves) adds masks at a sweep's pace. So the whole problem's time is predicted as
``small + (sample - small) * (masks - small_masks) / (sample_masks - small_masks)``
(the sample's time scaled, should noise make the difference negative), and the engine
with the smaller prediction is chosen. A noisy small sample can turn that prediction
around, while the samples' own times can only be turned by the fixed costs: the rounds
stop early only once one engine's prediction is :data:`DECISIVE` times the other's *and*
the same engine is faster on the sample. A problem no larger than the sample is timed
whole. On chapter 1's problem (2**20 masks, 1000 points, 20 nodes, 2 workers) the rounds
take about 30 ms here, 7 % of its fused sweep and 3 % of the numpy path's.

The samples run on one thread, and what is timed is the CPU time they take (the
process's, ``time.process_time``), not the wall-clock time: another program holding the
cores delays a run but does not add to its CPU time. On a shared 2-core machine the
wall-clock times of these few-millisecond runs grew fourfold for seconds at a time, and
turned the choice around in one calibration out of four; their CPU times did not (BLAS
is held to one thread meanwhile, so that no idle BLAS thread spins on the CPU time). Two
threads on samples this small would also spend much of their time starting and waiting
for each other, which a long sweep does not: on chapter 1's problem (2**20 masks, 1000
points, 20 nodes) one thread's per-mask times matched the whole sweep's (0.68 and 1.64
us a mask, fused and numpy, against 0.67 and 1.61), and both engines hand the same
groups of high halves to their threads and scaled alike (1.70 and 1.75 times on two
threads). The choice is still kept per number of workers. Other threads of the process
busy during the calibration would add to its CPU times.
"""

import datetime
import hashlib
import json
import os
import platform
import re
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from toyviz import _fused
from toyviz._split import EXP_LIMIT

#: The engines, as :func:`toyviz.masking.sweep_all_masks` names them.
ENGINES = ("numba", "numpy")
#: Rounds of the measurement: at least, at most, and the ratio that ends it early.
MIN_ROUNDS, MAX_ROUNDS, DECISIVE = 2, 6, 1.3
#: High halves in one task of either engine (a group sharing each block of low halves):
#: a sample's.
GROUP = 8
#: Low halves in a sample (at least): one block of the numpy path at its default size.
SAMPLE_LOW = 256
#: Most choices kept on disk (the oldest go first).
KEEP = 200
_FORMAT = 1
_ENGINE_SOURCES = ("_kernels.py", "_fused.py", "_split.py", "masking.py", "exact.py",
                   "_calibration.py")

_LOCK = threading.RLock()
_MEMORY = {}        # key -> record (dict: engine, seconds, predicted, cost_s, source, ...)
_MACHINE = {}       # "parts": the key's parts that do not change within a process


# --------------------------------------------------------------------------- the key


def cache_path():
    """Where the choices are kept: ``$XDG_CACHE_HOME/toyviz/engine-calibration.json``, or
    ``~/.cache/toyviz/engine-calibration.json`` (the XDG rule: an unset, empty or relative
    ``XDG_CACHE_HOME`` is ignored)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "toyviz" / "engine-calibration.json"


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            text = cpuinfo.read()
    except OSError:
        text = ""
    model = re.search(r"^(?:model name|Model|Hardware)\s*:\s*(.+)$", text, re.MULTILINE)
    name = model.group(1).strip() if model else (platform.processor() or "unknown CPU")
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.MULTILINE)
    if flags:
        name += " flags " + hashlib.sha256(flags.group(1).encode()).hexdigest()[:10]
    return f"{platform.machine()} {name}"


def numba_version():
    """numba's installed version, read without importing it, or None."""
    try:
        return metadata.version("numba")
    except metadata.PackageNotFoundError:
        return None


def _blas():
    found = [f"{info.get('internal_api')} {info.get('version')} "
             f"{info.get('architecture', '')}".strip()
             for info in threadpool_info() if info.get("user_api") == "blas"]
    return ", ".join(sorted(found)) or "no BLAS found"


def _code():
    digest = hashlib.sha256()
    for name in _ENGINE_SOURCES:
        try:
            digest.update((Path(__file__).parent / name).read_bytes())
        except OSError:
            digest.update(name.encode())
    return digest.hexdigest()[:12]


def machine():
    """The parts of a key that hold for the whole process: CPU, numba, numpy, BLAS, code
    (a dict of strings)."""
    with _LOCK:
        if "parts" not in _MACHINE:
            _MACHINE["parts"] = {"cpu": _cpu_model(), "numba": str(numba_version()),
                                 "numpy": np.__version__, "blas": _blas(), "code": _code()}
        return dict(_MACHINE["parts"])


def key(workload, shape, workers):
    """The key of a choice: ``workload`` (str), ``shape`` (the problem's shape class, a
    dict of ints and bools), ``workers`` (int) and :func:`machine`."""
    parts = {"workload": workload, **machine(),
             "shape": ",".join(f"{name}={value}" for name, value in sorted(shape.items())),
             "workers": str(int(workers))}
    return " | ".join(f"{name} {value}" for name, value in parts.items())


def size_class(number):
    """A count rounded to its power of two (its bit length): 1000 and 600 points are one
    class, 1000 and 2000 two."""
    return int(number).bit_length()


# --------------------------------------------------------------------------- the cache


def _read():
    """The choices on disk, {key: record}; {} when the file is missing, unreadable,
    corrupt or of another format."""
    try:
        with open(cache_path(), encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != _FORMAT \
            or not isinstance(data.get("choices"), dict):
        return {}
    return {name: record for name, record in data["choices"].items()
            if isinstance(record, dict) and record.get("engine") in ENGINES}


def _write(name, record):
    """Add one choice to the file, atomically; a failure (read-only home, full disk)
    leaves the file as it was and the choice in memory only."""
    path = cache_path()
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        choices = _read()
        choices[name] = record
        newest = sorted(choices, key=lambda item: str(choices[item].get("when", "")))
        choices = {item: choices[item] for item in newest[-KEEP:]}
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".engine-",
                                                 suffix=".tmp")
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({"format": _FORMAT, "choices": choices}, file, indent=1,
                      sort_keys=True)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        temporary = None
    except OSError:
        pass
    finally:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass


def choices():
    """The choices this process made or read, {key: record} (a copy). A record holds
    ``engine`` and ``source`` ("measured", "disk", or why none was needed), and when
    measured ``seconds`` (each engine's best time on each sample), ``predicted`` (each
    engine's time for the whole problem, on one thread), ``sample_masks``,
    ``rounds``, ``cost_s`` (the timed rounds) and ``warmup_s`` (the untimed first run:
    numba loading its kernels)."""
    with _LOCK:
        return {name: dict(record) for name, record in _MEMORY.items()}


def forget():
    """Drop the choices held in memory (the file stays)."""
    with _LOCK:
        _MEMORY.clear()
        _MACHINE.clear()


# --------------------------------------------------------------------------- measuring


def _time(run, engine, full):
    """CPU seconds that ``run(engine, full)`` takes, in all of the process's threads
    (tests replace this)."""
    start = time.process_time()
    run(engine, full)
    return time.process_time() - start


def measure(run, masks, sample_masks, small_masks):
    """Time both engines on both samples, interleaved (see the module docstring).

    ``run(engine, full)`` runs the sample (``full`` True, ``sample_masks`` masks) or the
    small sample (False, ``small_masks``) with ``engine``; the whole problem has
    ``masks``. Returns a record: ``engine`` (the faster), ``seconds``, ``predicted``,
    ``sample_masks``, ``rounds``, ``cost_s``, ``warmup_s``.
    """
    with threadpool_limits(limits=1, user_api="blas"):    # no BLAS threads waiting busily
        return _measure(run, masks, sample_masks, small_masks)


def _measure(run, masks, sample_masks, small_masks):
    start = time.perf_counter()
    run("numba", False)
    warmup = time.perf_counter() - start
    sizes = (False, True) if small_masks < sample_masks else (True,)
    best = {(engine, full): np.inf for engine in ENGINES for full in sizes}
    rounds = 0
    start = time.perf_counter()
    while rounds < MAX_ROUNDS:
        for engine in ENGINES if rounds % 2 == 0 else ENGINES[::-1]:
            for full in sizes:
                best[engine, full] = min(best[engine, full], _time(run, engine, full))
        rounds += 1
        predicted = {engine: _predict(best.get((engine, False)), best[engine, True], masks,
                                      sample_masks, small_masks) for engine in ENGINES}
        fast, slow = sorted(predicted.values())
        # Noise on a small sample can turn the prediction around; the samples' own times
        # cannot be turned by it, only by the fixed costs. Stop when both agree.
        agree = (min(ENGINES, key=predicted.get)
                 == min(ENGINES, key=lambda engine: best[engine, True]))
        if rounds >= MIN_ROUNDS and slow > DECISIVE * fast and agree:
            break
    return {"engine": min(ENGINES, key=predicted.get),
            "seconds": {f"{engine} {'sample' if full else 'small'}": round(value, 6)
                        for (engine, full), value in best.items()},
            "predicted": {engine: round(value, 4) for engine, value in predicted.items()},
            "sample_masks": int(sample_masks), "rounds": rounds,
            "cost_s": round(time.perf_counter() - start, 6), "warmup_s": round(warmup, 6)}


def _predict(small, sample, masks, sample_masks, small_masks):
    """A whole problem's time from the small sample's and the sample's."""
    if small is None or masks <= sample_masks:
        return sample
    if sample <= small:                 # noise: scale the sample's time instead
        return sample * masks / sample_masks
    return small + (sample - small) * (masks - small_masks) / (sample_masks - small_masks)


def choose(workload, shape, workers, run, masks, sample_masks, small_masks):
    """The faster engine, "numba" or "numpy", for a problem of this kind: from memory,
    else from the file, else measured (:func:`measure`) and kept in both.

    numba missing (or failing to import: :func:`toyviz._fused.available` warns once) means
    "numpy", kept in memory only.
    """
    name = key(workload, shape, workers)
    with _LOCK:
        if name in _MEMORY:
            return _MEMORY[name]["engine"]
        record = None if numba_version() is None else _read().get(name)
        if record is not None:
            record = {**record, "source": "disk"}
        elif not _fused.available():
            record = {"engine": "numpy", "source": "numba is not available"}
        else:
            record = {**measure(run, masks, sample_masks, small_masks), "source": "measured",
                      "when": datetime.datetime.now(datetime.timezone.utc).isoformat(
                          timespec="seconds")}
            _write(name, {item: value for item, value in record.items()
                          if item != "source"})
        _MEMORY[name] = record
        return record["engine"]


# --------------------------------------------------------------------------- the sweep


def sweep_engine(a, c, project, node_means, workers, block, split_sweep):
    """The faster engine for :func:`toyviz.masking.sweep_all_masks` in chapter 1's case:
    the signed contributions ``a`` (P,) and ``c`` (P, n), ``project`` (n, k) or None,
    ``node_means``, ``workers`` and ``block`` as given to it, and its split sweep
    ``split_sweep`` (:func:`toyviz.masking._sweep_split`), whose ``fused`` flag picks the
    engine and ``sample`` the masks to time.

    The shape class: the number of nodes, the points and the gradient's columns to the
    power of two, ``node_means``, the numpy path's block (at most the low halves), and
    whether some points' tables do not fit float32 (evaluated directly in float64).
    """
    n_points, n_nodes = c.shape
    n_low = n_nodes // 2
    n_high = n_nodes - n_low
    k_out = n_nodes if project is None else project.shape[1]
    sample = (min(2**n_high, GROUP), min(2**n_low, max(SAMPLE_LOW, block)))
    small = (1, sample[1]) if sample[0] > 2 else sample
    sample_masks = sample[0] * sample[1]
    width = np.abs(c).sum(axis=1)         # about the widest range of a point's argument
    shape = {"nodes": n_nodes, "points": size_class(n_points), "outputs": size_class(k_out),
             "node_means": bool(node_means), "block": min(block, 2**n_low),
             "direct": bool(np.any(width > 2 * EXP_LIMIT))}
    losses = np.empty(sample_masks)
    gradients = np.empty((sample_masks, k_out), dtype=np.float32)

    def run(engine, full):
        split_sweep(a, c, losses, gradients, project, 1, block, False, node_means,
                    fused=engine == "numba", sample=sample if full else small)

    return choose("sweep", shape, workers, run, 2**n_nodes, sample_masks,
                  small[0] * small[1])
