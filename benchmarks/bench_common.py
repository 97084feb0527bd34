"""Shared pieces of the benchmark suite: clocks, interleaved repeats, medians, pages.

Every figure of the suite is a median over repeats, and every ratio is taken
*within* a repeat (both sides measured back to back, in a rotating order)
before the median is taken, so a burst of load from other processes on a
shared machine moves both sides of a ratio together.
"""

from __future__ import annotations

import datetime as _dt
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from swapops.corpus import corpus_pages
from swapops.folio import Folio
from swapops.sizes import PAGE_SIZE

#: ``cpu``: CPU time of the benchmarking thread (``CLOCK_THREAD_CPUTIME_ID``):
#: time the thread spends descheduled while other processes run does not count.
#: ``wall``: ``CLOCK_MONOTONIC`` (what a user waits on an idle machine).
CLOCKS: dict[str, Callable[[], int]] = {"cpu": time.thread_time_ns, "wall": time.perf_counter_ns}

Sampler = Callable[[], float]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def summary(values: Sequence[float], scale: float = 1.0) -> dict[str, Any]:
    """Median, min, max and count of ``values`` (each multiplied by ``scale``)."""
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    vs = sorted(v * scale for v in values)
    return {"median": float(statistics.median(vs)), "min": vs[0], "max": vs[-1], "n": len(vs)}


def per_repeat_ratio(num: Sequence[float], den: Sequence[float]) -> list[float]:
    """``num[i] / den[i]`` for each repeat ``i`` (both measured in the same repeat)."""
    return [a / b for a, b in zip(num, den, strict=True) if b]


def interleaved(
    cases: Mapping[str, Sampler],
    repeats: int,
    *,
    warmup: int = 1,
    on_repeat: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """Run every case once per repeat, round-robin, rotating who goes first.

    Each case is a callable returning one sample (e.g. ns per page). A full
    garbage collection runs before each sample so one case's garbage is not
    collected on another's clock. The first ``warmup`` repeats are dropped.
    """
    names = list(cases)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + repeats):
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            gc.collect()
            value = cases[name]()
            if r >= warmup:
                samples[name].append(value)
        if on_repeat is not None:
            on_repeat(r)
    return samples


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """What the figures were measured on (CPU, cores, load, Python, packages)."""
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    mem_kib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
                    break
    except (OSError, ValueError):
        pass
    versions: dict[str, str] = {}
    for mod in ("swapops", "numpy", "lz4", "zstandard", "pluggy"):
        try:
            from importlib.metadata import version

            versions[mod] = version(mod)
        except Exception:  # noqa: BLE001 - best effort
            continue
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "mem_total_kib": mem_kib,
        "python": sys.version.split()[0],
        "python_impl": platform.python_implementation(),
        "loadavg_at_start": load,
        "packages": versions,
    }


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")


# --------------------------------------------------------------------------- pages


def corpus_page(i: int) -> bytes:
    """A distinct non-zero 4 KiB page: corpus page ``i % 32`` with ``i`` in its last 8 bytes.

    Distinct objects (a batch of 1024 pages is 4 MiB, beyond the CPU's L2) with
    the compressibility of the shipped corpus (:mod:`swapops.corpus`: pages of
    libpython3.11.so, standard-library source and bytecode).
    """
    pages = corpus_pages()
    base = pages[i % len(pages)]
    return base[:-8] + (i + 1).to_bytes(8, "little")


def make_folios(order: int, count: int, start: int = 0) -> list[Folio]:
    """``count`` folios of ``order``, each made of distinct corpus pages."""
    nr = 1 << order
    out = []
    for k in range(count):
        first = start + k * nr
        out.append(Folio(b"".join(corpus_page(first + j) for j in range(nr))))
    return out


def page_bytes(order: int) -> int:
    return PAGE_SIZE << order


__all__ = [
    "CLOCKS",
    "corpus_page",
    "cpu_model",
    "interleaved",
    "machine_info",
    "make_folios",
    "median",
    "now_iso",
    "page_bytes",
    "per_repeat_ratio",
    "summary",
]
