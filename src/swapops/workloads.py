"""Built-in workloads: deterministic event streams for the mm model.

A workload yields *chunks* of events as three parallel lists ``(ops, a, b)``
of ints, the cheapest form to replay:

==========  ============  ===========  ==========================================
op          a             b            meaning
==========  ============  ===========  ==========================================
``READ``    pid           page         load from virtual page ``b`` of ``a``
``WRITE``   pid           page         store to it
``FORK``    parent        child        ``child`` gets a copy of ``parent``'s mm
``EXIT``    pid           0            the process exits, its memory is freed
``MUNMAP``  pid           start        ``op >> 3`` pages from ``start`` unmapped
``SPAWN``   pid           0            a new process with an empty mm
==========  ============  ===========  ==========================================

Every workload is deterministic by ``seed`` (numpy ``PCG64``). Page *contents*
are not part of the stream: the mm model asks a :class:`~swapops.content.ContentMix`
for the bytes of (page, version) when it swaps a page out, so memory stays
bounded however long the run. :mod:`swapops.trace` records and replays streams.

Limits (checked when a workload is built, :class:`ConfigError` otherwise):
``zipf`` and ``fork`` keep a popularity table and a permutation of all their
pages (16 bytes a page), so they take at most :data:`MAX_TABLE_PAGES` pages
(2**23, 32 GiB of simulated memory; under 200 MiB of simulator memory); the other
workloads need no per-page state and take any page count. Processes are at
most :data:`MAX_PROCESSES`. Workload parameters must be numbers in their range
(whole numbers where the default is one).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from .content import DEFAULT_MIX, ContentMix, parse_mix
from .errors import ConfigError

READ, WRITE, FORK, EXIT, MUNMAP, SPAWN = 0, 1, 2, 3, 4, 5
OP_MASK = 7
OP_SHIFT = 3

Chunk = tuple[list[int], list[int], list[int]]

MAX_TABLE_PAGES = 1 << 23  # zipf/fork: pages they keep a table for (16 bytes each)
MAX_PROCESSES = 1 << 20


# --------------------------------------------------------------------------- workloads



def whole_number(what: str, value: object) -> int:
    """``value`` as an int: any integer type (a numpy one too), not a bool, float or string."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a whole number, not {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(f"{what} must be a whole number, not {value!r}") from None


class Workload:
    """Base of the built-in generators.

    :param events: events in the stream (all kinds counted).
    :param pages: anonymous pages the workload's processes use in total.
    :param processes: processes sharing ``pages``.
    :param write_fraction: probability that an access is a store.
    :param seed: the stream's seed (also the content seed unless the mix has its own).
    """

    NAME: ClassVar[str] = ""
    SUMMARY: ClassVar[str] = ""
    PARAMS: ClassVar[Mapping[str, Any]] = {}  # extra parameters and their defaults
    # Parameter ranges: name -> (low, high, low inclusive, high inclusive); None: unbounded.
    RANGES: ClassVar[Mapping[str, tuple[float | None, float | None, bool, bool]]] = {}
    MAX_PAGES: ClassVar[int | None] = None  # pages it can keep per-page state for

    def __init__(
        self,
        *,
        events: int,
        pages: int,
        processes: int = 4,
        write_fraction: float = 0.4,
        seed: int = 0,
        **params: Any,
    ) -> None:
        what = f"workload {self.NAME}"
        events = whole_number(f"{what}: events", events)
        processes = whole_number(f"{what}: processes", processes)
        pages = whole_number(f"{what}: pages", pages)
        if isinstance(write_fraction, bool) or not isinstance(write_fraction, int | float):
            raise ConfigError(f"{what}: write_fraction must be a number between 0 and 1, not {write_fraction!r}")
        if events <= 0:
            raise ConfigError(f"workload {self.NAME}: events must be positive, not {events}")
        if processes <= 0:
            raise ConfigError(f"workload {self.NAME}: processes must be positive, not {processes}")
        if processes > MAX_PROCESSES:
            raise ConfigError(f"workload {self.NAME}: {processes} processes is too many (at most {MAX_PROCESSES})")
        if pages < processes:
            raise ConfigError(
                f"workload {self.NAME}: {pages} pages for {processes} processes is too few (at least one page"
                " per process; without an explicit page count it follows the RAM size: is RAM too small?)"
            )
        if self.MAX_PAGES is not None and pages > self.MAX_PAGES:
            raise ConfigError(
                f"workload {self.NAME}: {pages} pages is too many (at most {self.MAX_PAGES}: it keeps a "
                f"table of every page; uniform, seqscan, phase and usemem take any count)"
            )
        if not 0.0 <= write_fraction <= 1.0:
            raise ConfigError(f"workload {self.NAME}: write_fraction must be between 0 and 1")
        unknown = sorted(set(params) - set(self.PARAMS))
        if unknown:
            known = ", ".join(sorted(self.PARAMS)) or "none"
            raise ConfigError(f"workload {self.NAME}: unknown parameter {unknown[0]!r} (parameters: {known})")
        params = {key: self._param(key, value) for key, value in params.items()}
        self.events = int(events)
        self.pages = int(pages)
        self.processes = int(processes)
        self.write_fraction = float(write_fraction)
        self.seed = int(seed)
        self.params: dict[str, Any] = {**self.PARAMS, **params}
        self.per_process = self.pages // self.processes

    def _param(self, key: str, value: Any) -> int | float:
        """``value`` as a number of the default's kind, in the parameter's range."""
        what = f"workload {self.NAME}: {key}={value!r}"
        if isinstance(value, str):
            for conv in (int, float):
                try:
                    value = conv(value.strip())
                    break
                except ValueError:
                    continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{what} is not a number")
        number: int | float = value
        if isinstance(self.PARAMS[key], int):
            if number != int(number):
                raise ConfigError(f"{what} must be a whole number")
            number = int(number)
        else:
            number = float(number)
        low, high, low_in, high_in = self.RANGES.get(key, (None, None, True, True))
        if (low is not None and (number < low or (number == low and not low_in))) or (
            high is not None and (number > high or (number == high and not high_in))
        ):
            lo = "" if low is None else f"{'>=' if low_in else '>'} {low:g}"
            hi = "" if high is None else f"{'<=' if high_in else '<'} {high:g}"
            raise ConfigError(f"{what} out of range (must be {' and '.join(x for x in (lo, hi) if x)})")
        return number

    def describe(self) -> dict[str, Any]:
        """JSON-able parameters (stored in results and trace headers)."""
        return {
            "name": self.NAME,
            "events": self.events,
            "pages": self.pages,
            "processes": self.processes,
            "write_fraction": self.write_fraction,
            "seed": self.seed,
            **self.params,
        }

    def chunks(self, size: int = 16384) -> Iterator[Chunk]:
        """The stream in chunks of at most ``size`` events, ``events`` in total."""
        left = self.events
        for ops, a, b in self._generate(np.random.default_rng(self.seed), size):
            n = len(ops)
            if n == 0:
                continue
            if n >= left:
                yield ops[:left], a[:left], b[:left]
                return
            left -= n
            yield ops, a, b

    def _generate(self, rng: np.random.Generator, size: int) -> Iterator[Chunk]:
        raise NotImplementedError

    # helpers ------------------------------------------------------------------

    def _spawn(self, pids: range | list[int]) -> Chunk:
        pids = list(pids)
        return [SPAWN] * len(pids), pids, [0] * len(pids)

    def _accesses(self, rng: np.random.Generator, pages: np.ndarray, first_pid: int = 1) -> Chunk:
        """Accesses to global page numbers ``pages`` (process = page // per_process)."""
        per = self.per_process
        pid = pages // per + first_pid
        vpage = pages % per
        ops = (rng.random(len(pages)) < self.write_fraction).astype(np.int64)
        return ops.tolist(), pid.tolist(), vpage.tolist()

    def _span(self) -> int:
        return self.per_process * self.processes


class Uniform(Workload):
    NAME = "uniform"
    SUMMARY = "every page equally likely"

    def _generate(self, rng: np.random.Generator, size: int) -> Iterator[Chunk]:
        yield self._spawn(range(1, self.processes + 1))
        span = self._span()
        while True:
            yield self._accesses(rng, rng.integers(0, span, size))


def _zipf_cdf(n: int, alpha: float) -> np.ndarray:
    weights = 1.0 / np.power(np.arange(1, n + 1, dtype=np.float64), alpha)
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return cdf


class Zipf(Workload):
    NAME = "zipf"
    SUMMARY = "hot/cold: page popularity follows a bounded Zipf law (alpha), hot pages scattered"
    PARAMS = {"alpha": 0.9}
    RANGES = {"alpha": (0.0, None, False, True)}
    MAX_PAGES = MAX_TABLE_PAGES

    def _generate(self, rng: np.random.Generator, size: int) -> Iterator[Chunk]:
        yield self._spawn(range(1, self.processes + 1))
        span = self._span()
        alpha = float(self.params["alpha"])
        cdf = _zipf_cdf(span, alpha)
        perm = rng.permutation(span)
        while True:
            ranks = np.searchsorted(cdf, rng.random(size), side="right")
            np.minimum(ranks, span - 1, out=ranks)
            yield self._accesses(rng, perm[ranks])


class SeqScan(Workload):
    NAME = "seqscan"
    SUMMARY = "sequential scans over every process's pages, round after round"

    def _generate(self, rng: np.random.Generator, size: int) -> Iterator[Chunk]:
        yield self._spawn(range(1, self.processes + 1))
        span = self._span()
        start = 0
        while True:
            pages = (np.arange(start, start + size, dtype=np.int64)) % span
            start = (start + size) % span
            yield self._accesses(rng, pages)


class PhaseChange(Workload):
    NAME = "phase"
    SUMMARY = "the hot set (hot_fraction of the pages) moves to a new region every phase"
    PARAMS = {"phases": 4, "hot_fraction": 0.35, "hot_share": 0.9}
    RANGES = {
        "phases": (1, None, True, True),
        "hot_fraction": (0.0, 1.0, False, True),
        "hot_share": (0.0, 1.0, True, True),
    }

    def _generate(self, rng: np.random.Generator, size: int) -> Iterator[Chunk]:
        yield self._spawn(range(1, self.processes + 1))
        span = self._span()
        phases = int(self.params["phases"])
        hot = max(1, int(span * float(self.params["hot_fraction"])))
        share = float(self.params["hot_share"])
        phase_len = max(1, math.ceil(self.events / phases))
        done = 0
        while True:
            phase = (done // phase_len) % phases
            n = min(size, phase_len - done % phase_len)
            base = phase * span // phases
            in_hot = rng.random(n) < share
            hot_pages = (base + rng.integers(0, hot, n)) % span
            cold_pages = rng.integers(0, span, n)
            yield self._accesses(rng, np.where(in_hot, hot_pages, cold_pages))
            done += n


class ForkHeavy(Workload):
    NAME = "fork"
    SUMMARY = "parents fork children that touch (COW) part of the inherited memory and exit"
    PARAMS = {"fork_every": 2000, "child_events": 400, "child_write_fraction": 0.5, "children": 1}
    RANGES = {
        "fork_every": (1, MAX_TABLE_PAGES, True, True),
        "child_events": (0, MAX_TABLE_PAGES, True, True),
        "child_write_fraction": (0.0, 1.0, True, True),
        "children": (1, 1 << 12, True, True),
    }
    MAX_PAGES = MAX_TABLE_PAGES

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        chunk = self.params["fork_every"] + self.params["children"] * (self.params["child_events"] + 2)
        if chunk > MAX_TABLE_PAGES:
            raise ConfigError(
                f"workload fork: fork_every + children x (child_events + 2) = {chunk} events per fork round"
                f" is too many (at most {MAX_TABLE_PAGES})"
            )

    def _generate(self, rng: np.random.Generator, size: int) -> Iterator[Chunk]:
        parents = self.processes
        yield self._spawn(range(1, parents + 1))
        span = self._span()
        per = self.per_process
        every = int(self.params["fork_every"])
        child_events = int(self.params["child_events"])
        child_wf = float(self.params["child_write_fraction"])
        children = int(self.params["children"])
        cdf = _zipf_cdf(span, 0.9)
        perm = rng.permutation(span)
        next_child = parents + 1
        while True:
            ranks = np.searchsorted(cdf, rng.random(every), side="right")
            np.minimum(ranks, span - 1, out=ranks)
            ops, a, b = self._accesses(rng, perm[ranks])
            parent = int(rng.integers(1, parents + 1))
            kids = list(range(next_child, next_child + children))
            next_child += children
            for kid in kids:
                ops.append(FORK)
                a.append(parent)
                b.append(kid)
            for kid in kids:
                pages = rng.integers(0, per, child_events)
                writes = rng.random(child_events) < child_wf
                ops.extend(writes.astype(np.int64).tolist())
                a.extend([kid] * child_events)
                b.extend(pages.tolist())
            for kid in kids:
                ops.append(EXIT)
                a.append(kid)
                b.append(0)
            yield ops, a, b


class UseMem(Workload):
    NAME = "usemem"
    SUMMARY = "usemem-like: processes fill their memory, read it back (passes), munmap it and exit; no randomness"
    PARAMS = {"passes": 1}
    RANGES = {"passes": (1, None, True, True)}  # read-back passes after the fill

    def _generate(self, rng: np.random.Generator, size: int) -> Iterator[Chunk]:
        procs = self.processes
        per = self.per_process
        passes = int(self.params["passes"])
        first = 1
        while True:
            pids = list(range(first, first + procs))
            yield self._spawn(pids)
            # Fill: every process writes its pages in order, the processes interleaved.
            for sweep in range(passes + 1):
                op = WRITE if sweep == 0 else READ
                for start in range(0, per, max(1, size // procs)):
                    stop = min(per, start + max(1, size // procs))
                    pages = np.arange(start, stop, dtype=np.int64)
                    n = len(pages)
                    ops = [op] * (n * procs)
                    a = np.repeat(np.array(pids, dtype=np.int64), n).tolist()
                    b = np.tile(pages, procs).tolist()
                    yield ops, a, b
            # Free: munmap the whole region (usemem's free), then exit.
            yield [MUNMAP | (per << OP_SHIFT)] * procs, pids, [0] * procs
            yield [EXIT] * procs, pids, [0] * procs
            first += procs


WORKLOADS: dict[str, type[Workload]] = {
    cls.NAME: cls for cls in (Uniform, Zipf, SeqScan, PhaseChange, ForkHeavy, UseMem)
}
DEFAULT_WORKLOAD = "zipf"


def make_workload(
    name: str,
    *,
    events: int,
    pages: int,
    processes: int | None = None,
    write_fraction: float | None = None,
    seed: int = 0,
    **params: Any,
) -> Workload:
    """Build a built-in workload by name (:data:`WORKLOADS`)."""
    cls = WORKLOADS.get(name)
    if cls is None:
        raise ConfigError(f"unknown workload {name!r} (workloads: {', '.join(WORKLOADS)})")
    kwargs: dict[str, Any] = {}
    if processes is not None:
        kwargs["processes"] = processes
    if write_fraction is not None:
        kwargs["write_fraction"] = write_fraction
    return cls(events=events, pages=pages, seed=seed, **kwargs, **params)


__all__ = [
    "READ", "WRITE", "FORK", "EXIT", "MUNMAP", "SPAWN", "OP_MASK", "OP_SHIFT", "Chunk",
    "ContentMix", "DEFAULT_MIX", "Workload", "WORKLOADS", "DEFAULT_WORKLOAD", "make_workload", "parse_mix",
    "MAX_TABLE_PAGES", "MAX_PROCESSES",
]
