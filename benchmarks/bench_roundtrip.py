"""Round trip per page through each stack, and the plain-Python copy floor.

A *round trip* is what the core does for a page that goes to swap and comes
back: ``swap_out`` (allocate, write), ``swap_in`` (read) and ``swap_free``
(the last reference goes, the slots are freed down the stack). One sample is a
batch: every folio of the batch is swapped out, then each entry is swapped in
and freed, so the allocator walks clusters as it does under reclaim. The
figure is the batch time divided by the pages in it (a large folio counts
``2**order`` pages).

The *floor* is the same batch as plain Python can do it at best: each
folio's bytes copied into a preallocated ``bytearray`` at its own offset, then
each copied out again (``memoryview`` slice ``.tobytes()``).

Run alone: ``python benchmarks/bench_roundtrip.py [--quick]``.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bench_common import CLOCKS, interleaved, make_folios, per_repeat_ratio, summary

from swapops.errors import SwapOpsError
from swapops.folio import Folio
from swapops.runner import quiet_system
from swapops.system import SwapSystem

#: The default stacks of issue 8, RAM-backed (``swapfile`` defaults to ``device=ram``).
DEFAULT_STACKS: tuple[str, ...] = (
    "swapfile",
    "zswap>swapfile",
    "vswap>swapfile",
    "vswap>zswap>swapfile",
    "flashbuf>swapfile",
    "vswap>flashbuf>swapfile",
)
#: The same designs over the NAND/FTL model (``device=flash``).
FLASH_STACKS: tuple[str, ...] = (
    "swapfile:device=flash",
    "flashbuf>swapfile:device=flash",
    "vswap>flashbuf>swapfile:device=flash",
)
ORDERS: tuple[int, ...] = (0, 4, 9)
#: Folios per batch: about 1-2 K pages each (4-8 MiB of distinct data).
BATCH: dict[int, int] = {0: 1024, 4: 64, 9: 4}
DEVICE_SIZE = "1G"

#: Ratios reported (numerator, denominator), each taken within a repeat.
RATIOS: tuple[tuple[str, str], ...] = (
    ("swapfile", "floor"),
    ("vswap>swapfile", "swapfile"),
    ("vswap>zswap>swapfile", "zswap>swapfile"),
    ("zswap>swapfile", "swapfile"),
    ("vswap>flashbuf>swapfile", "flashbuf>swapfile"),
    ("flashbuf>swapfile", "swapfile"),
    ("vswap>flashbuf>swapfile:device=flash", "flashbuf>swapfile:device=flash"),
    ("flashbuf>swapfile:device=flash", "swapfile:device=flash"),
)


class RoundTrip:
    """One stack swapped on in its own :class:`SwapSystem`; a call times one batch."""

    def __init__(
        self,
        stack: str,
        folios: Sequence[Folio],
        clock: Callable[[], int],
        size: str = DEVICE_SIZE,
        seed: int = 0,
    ) -> None:
        self.stack = stack
        self.folios = list(folios)
        self.pages = sum(1 << f.order for f in self.folios)
        self.clock = clock
        self.system: SwapSystem = quiet_system(seed)
        self.top = self.system.swapon(stack, size=size)

    def verify(self) -> None:
        """An untimed batch that checks every byte comes back and nothing is left behind."""
        system = self.system
        entries = [system.swap_out(f) for f in self.folios]
        for entry, folio in zip(entries, self.folios, strict=True):
            back = system.swap_in(entry)
            if back.data != folio.data:
                raise AssertionError(f"{self.stack}: swap_in returned different bytes")
            system.swap_free(entry)
        self.check_empty()

    def check_empty(self) -> None:
        if self.system.nr_entries() or self.system.swap_cache_size():
            raise AssertionError(f"{self.stack}: entries left after a round trip batch")

    def __call__(self) -> float:
        """ns per page of one batch (out all, then in + free each)."""
        system = self.system
        swap_out = system.swap_out
        swap_in = system.swap_in
        swap_free = system.swap_free
        folios = self.folios
        clock = self.clock
        t0 = clock()
        entries = [swap_out(f) for f in folios]
        for entry in entries:
            swap_in(entry)
            swap_free(entry)
        t = clock() - t0
        return t / self.pages


class CopyFloor:
    """Copy each folio into a preallocated buffer, then out again: ns per page."""

    def __init__(self, folios: Sequence[Folio], clock: Callable[[], int]) -> None:
        size = len(folios[0].data)
        self.buf = bytearray(size * len(folios))
        self.view = memoryview(self.buf)
        self.spans = [(i * size, (i + 1) * size, f.data) for i, f in enumerate(folios)]
        self.pages = sum(1 << f.order for f in folios)
        self.clock = clock

    def __call__(self) -> float:
        buf = self.buf
        view = self.view
        spans = self.spans
        clock = self.clock
        t0 = clock()
        for a, b, data in spans:
            buf[a:b] = data
        for a, b, _data in spans:
            view[a:b].tobytes()
        t = clock() - t0
        return t / self.pages


def measure(
    stacks: Sequence[str] = DEFAULT_STACKS,
    orders: Sequence[int] = ORDERS,
    batch: Mapping[int, int] = BATCH,
    repeats: int = 21,
    *,
    clock: str = "cpu",
    size: str = DEVICE_SIZE,
    warmup: int = 1,
    on_repeat: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Round trips of every stack and order plus the floor, interleaved; µs per page."""
    tick = CLOCKS[clock]
    cases: dict[str, Callable[[], float]] = {}
    errors: dict[str, str] = {}
    for order in orders:
        folios = make_folios(order, batch[order])
        cases[f"{order}|floor"] = CopyFloor(folios, tick)
        for stack in stacks:
            try:
                rt = RoundTrip(stack, folios, tick, size=size)
                rt.verify()
            except (SwapOpsError, AssertionError) as exc:
                errors[f"{order}|{stack}"] = f"{type(exc).__name__}: {exc}"
                continue
            cases[f"{order}|{stack}"] = rt
    samples = interleaved(cases, repeats, warmup=warmup, on_repeat=on_repeat)
    for case in cases.values():
        if isinstance(case, RoundTrip):
            case.check_empty()
    by_order: dict[str, dict[str, Any]] = {}
    ratios: dict[str, dict[str, Any]] = {}
    for order in orders:
        row: dict[str, Any] = {}
        for name in ("floor", *stacks):
            key = f"{order}|{name}"
            if key in samples:
                us = summary(samples[key], 1e-3)
                row[name] = {"us_per_page": us, "us_per_folio": us["median"] * (1 << order)}
        by_order[str(order)] = row
        rrow: dict[str, Any] = {}
        for num, den in RATIOS:
            a, b = samples.get(f"{order}|{num}"), samples.get(f"{order}|{den}")
            if a and b:
                rrow[f"{num} / {den}"] = summary(per_repeat_ratio(a, b))
        ratios[str(order)] = rrow
    return {
        "what": "swap_out + swap_in + swap_free per page, batches of folios, RAM-backed unless device=flash",
        "clock": clock,
        "repeats": repeats,
        "batch_folios": {str(o): batch[o] for o in orders},
        "device_size": size,
        "stacks": list(stacks),
        "us_per_page": by_order,
        "ratios": ratios,
        "errors": errors,
        "_samples_ns": {k: v for k, v in samples.items()},
    }


def device_op_costs(
    stacks: Sequence[str] = ("swapfile", "vswap>swapfile", "zswap>swapfile"),
    count: int = 1024,
    repeats: int = 21,
    *,
    clock: str = "cpu",
    warmup: int = 1,
) -> dict[str, Any]:
    """The top device's operations timed one by one, as the core calls them (µs per page).

    Per stack and repeat: ``count`` calls of ``ops.alloc(0)``, then ``ops.write``
    of each slot, ``ops.read`` of each, ``ops.free`` of each, each loop on its
    own clock reading. The core's own work (swap table, entries, folios) is
    not in these figures; the round trip minus their sum is.
    """
    tick = CLOCKS[clock]
    folios = make_folios(0, count)
    times: dict[str, dict[str, list[float]]] = {}
    cases: dict[str, Callable[[], float]] = {}
    keep: list[Any] = []

    def make(stack: str) -> Callable[[], float]:
        system = quiet_system(0)
        top = system.swapon(stack, size=DEVICE_SIZE)
        keep.append(system)
        ops = top.ops
        assert ops is not None
        t = times[stack] = {"alloc": [], "write": [], "read": [], "free": []}
        target = Folio._empty(0)

        def run() -> float:
            alloc, write, read, free = ops.alloc, ops.write, ops.read, ops.free
            t0 = tick()
            offs = [alloc(0) for _ in range(count)]
            t1 = tick()
            for off, f in zip(offs, folios, strict=True):
                write(off, f)
            t2 = tick()
            for off in offs:
                read(off, target)
            t3 = tick()
            for off in offs:
                free(off, 1)
            t4 = tick()
            for op, a, b in (("alloc", t0, t1), ("write", t1, t2), ("read", t2, t3), ("free", t3, t4)):
                t[op].append((b - a) / count)
            return (t4 - t0) / count

        return run

    for stack in stacks:
        cases[stack] = make(stack)
    totals = interleaved(cases, repeats, warmup=warmup)
    out: dict[str, Any] = {}
    for stack in stacks:
        row = {op: summary(v[warmup:] if len(v) > repeats else v, 1e-3) for op, v in times[stack].items()}
        row["sum"] = summary(totals[stack], 1e-3)
        out[stack] = row
    return {"what": "top device ops alone (alloc, write, read, free loops), µs per page",
            "clock": clock, "repeats": repeats, "pages": count, "stacks": out}


def _where(filename: str) -> str:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if filename.startswith(root):
        return os.path.relpath(filename, root)
    if "site-packages" in filename:
        return filename.split("site-packages/", 1)[1]
    return os.path.basename(filename) if filename.startswith("/") else filename


def profile_roundtrip(
    stack: str, order: int = 0, count: int = 1024, batches: int = 20, top: int = 15
) -> dict[str, Any]:
    """cProfile of ``batches`` round-trip batches; the top functions by own time, per page.

    Times under the profiler are inflated (every Python call is hooked); read
    them as shares, and ``calls_per_page`` as exact.
    """
    rt = RoundTrip(stack, make_folios(order, count), CLOCKS["cpu"])
    rt.verify()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(batches):
        rt()
    prof.disable()
    stats = pstats.Stats(prof)
    pages = batches * rt.pages
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total_tt = sum(v[2] for v in raw.values())
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in raw.items():
        rows.append(
            {
                "function": f"{_where(filename)}:{line}({func})",
                "calls_per_page": nc / pages,
                "tottime_us_per_page": tt / pages * 1e6,
                "cumtime_us_per_page": ct / pages * 1e6,
                "share": tt / total_tt if total_tt else 0.0,
            }
        )
    rows.sort(key=lambda r: -r["tottime_us_per_page"])
    return {
        "stack": stack,
        "order": order,
        "pages": pages,
        "profiled_us_per_page": total_tt / pages * 1e6,
        "top": rows[:top],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    repeats = 7 if "--quick" in args else 21
    res = measure(repeats=repeats)
    for order, row in res["us_per_page"].items():
        for name, cell in row.items():
            print(f"order {order} {name:<40} {cell['us_per_page']['median']:8.2f} µs/page")
    for order, row in res["ratios"].items():
        for name, cell in row.items():
            print(f"order {order} {name:<60} {cell['median']:6.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
