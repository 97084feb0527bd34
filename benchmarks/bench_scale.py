"""Scale: swapon time and simulator memory of huge RAM-backed devices, per-page cost
at 1 TiB against 1 GiB, and simulator bytes per used slot.

* ``swapon``: wall/CPU time of ``SwapSystem.swapon(stack, size=S)`` (a fresh
  system each time, created outside the timing), interleaved over the sizes.
  Memory: ``tracemalloc`` current bytes after the swapon minus before (and the
  peak during it), at 0 % use.
* ``per_page``: the order-0 round trip (:mod:`bench_roundtrip`) of a swapfile
  of each size, interleaved; the ratio 1 TiB / 1 GiB is taken per repeat.
* ``bytes_per_slot``: ``N`` order-0 swap-outs of ONE folio object (one
  non-zero ``bytes`` object shared by every slot, so page contents are
  excluded), entries not kept by the caller; ``tracemalloc`` current after
  minus before, divided by ``N``. Measured for ``swapfile`` and for
  ``vswap>swapfile`` (vswap plus the swapfile under it); the vswap layer alone
  is the difference of the two (same N, same device). A per-source-file
  breakdown (innermost frame of each allocation) is given too.
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

from bench_common import CLOCKS, corpus_page, interleaved, make_folios, per_repeat_ratio, summary
from bench_roundtrip import RoundTrip

from swapops.folio import Folio
from swapops.runner import quiet_system
from swapops.sizes import PAGE_SIZE, parse_size

SIZES: tuple[str, ...] = ("1G", "64G", "1T")
SWAPON_STACKS: tuple[str, ...] = ("swapfile", "vswap>swapfile")


def swapon_time(
    sizes: Sequence[str] = SIZES,
    stacks: Sequence[str] = SWAPON_STACKS,
    repeats: int = 9,
    clock: str = "cpu",
) -> dict[str, Any]:
    tick = CLOCKS[clock]
    wall = CLOCKS["wall"]
    walls: dict[str, list[float]] = {}

    def case(stack: str, size: str) -> Callable[[], float]:
        key = f"{stack}|{size}"
        walls[key] = []

        def run() -> float:
            system = quiet_system(0)
            w0 = wall()
            t0 = tick()
            top = system.swapon(stack, size=size)
            t = tick() - t0
            walls[key].append(wall() - w0)
            system.swapoff(top)
            return t

        return run

    cases = {f"{st}|{sz}": case(st, sz) for st in stacks for sz in sizes}
    s = interleaved(cases, repeats, warmup=1)
    out: dict[str, Any] = {}
    for key, samples in s.items():
        stack, size = key.split("|")
        out.setdefault(stack, {})[size] = {
            "ms": summary(samples, 1e-6),
            "wall_ms": summary(walls[key][-len(samples):], 1e-6),
        }
    return {"clock": clock, "repeats": repeats, "stacks": out}


def swapon_memory(sizes: Sequence[str] = SIZES, stacks: Sequence[str] = SWAPON_STACKS) -> dict[str, Any]:
    """tracemalloc bytes a swapon adds (and its peak), at 0 % use."""
    out: dict[str, Any] = {}
    for stack in stacks:
        for size in sizes:
            system = quiet_system(0)
            gc.collect()
            tracemalloc.start()
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            top = system.swapon(stack, size=size)
            gc.collect()
            after, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            system.swapoff(top)
            out.setdefault(stack, {})[size] = {
                "bytes": after - before,
                "peak_bytes": peak - before,
                "slots": parse_size(size) // PAGE_SIZE,
            }
    return out


def per_page_cost(
    sizes: Sequence[str] = ("1G", "1T"),
    stack: str = "swapfile",
    count: int = 1024,
    repeats: int = 15,
    clock: str = "cpu",
) -> dict[str, Any]:
    tick = CLOCKS[clock]
    folios = make_folios(0, count)
    cases: dict[str, Callable[[], float]] = {}
    for size in sizes:
        rt = RoundTrip(stack, folios, tick, size=size)
        rt.verify()
        cases[size] = rt
    s = interleaved(cases, repeats, warmup=1)
    out: dict[str, Any] = {
        "stack": stack,
        "clock": clock,
        "repeats": repeats,
        "us_per_page": {size: summary(s[size], 1e-3) for size in sizes},
    }
    if len(sizes) >= 2:
        out["ratio"] = {
            f"{big} / {sizes[0]}": summary(per_repeat_ratio(s[big], s[sizes[0]])) for big in sizes[1:]
        }
    return out


def _by_file(diff: list[tracemalloc.StatisticDiff], n: int, top: int = 8) -> list[dict[str, Any]]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rows: list[dict[str, Any]] = []
    for d in diff:
        if d.size_diff == 0:
            continue
        name = d.traceback[0].filename
        if name.startswith(root):
            name = os.path.relpath(name, root)
        rows.append({"file": name, "bytes_per_slot": d.size_diff / n, "blocks": d.count_diff})
    rows.sort(key=lambda r: -abs(float(r["bytes_per_slot"])))
    return rows[:top]


def slot_bytes(stack: str, n: int, size: str = "64G") -> dict[str, Any]:
    """Simulator bytes per used slot of ``stack``: n swap-outs of one shared folio."""
    system = quiet_system(0)
    system.swapon(stack, size=size)
    folio = Folio(corpus_page(0))  # one bytes object, shared by every slot
    swap_out = system.swap_out
    # A first entry so one-time structures (first cluster, caches) are not charged to one N.
    first = swap_out(folio)
    gc.collect()
    tracemalloc.start(1)
    snap0 = tracemalloc.take_snapshot()
    before, _ = tracemalloc.get_traced_memory()
    for _ in range(n):
        swap_out(folio)  # the caller keeps no entry: only the simulator's memory grows
    gc.collect()
    after, _peak = tracemalloc.get_traced_memory()
    snap1 = tracemalloc.take_snapshot()
    tracemalloc.stop()
    live = system.nr_entries()
    if live != n + 1:
        raise AssertionError(f"{stack}: {live} live entries after {n + 1} swap-outs")
    system.swap_free(first)
    files = _by_file(snap1.compare_to(snap0, "filename"), n)
    return {"stack": stack, "slots": n, "device_size": size, "bytes_per_slot": (after - before) / n,
            "by_file": files}


def measure_slot_bytes(n: int = 131072) -> dict[str, Any]:
    sw = slot_bytes("swapfile", n)
    vs = slot_bytes("vswap>swapfile", n)
    return {
        "what": "tracemalloc bytes per used slot, N swap-outs of one shared folio (contents excluded)",
        "slots": n,
        "swapfile": sw,
        "vswap>swapfile": vs,
        "vswap_layer_alone": vs["bytes_per_slot"] - sw["bytes_per_slot"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in args
    t = swapon_time(repeats=3 if quick else 9)
    m = swapon_memory()
    for stack, rows in t["stacks"].items():
        for size, cell in rows.items():
            mem = m[stack][size]
            print(f"swapon {stack:<16} {size:>4}: {cell['ms']['median']:8.2f} ms cpu "
                  f"{cell['wall_ms']['median']:8.2f} ms wall, {mem['bytes'] / 1e6:8.3f} MB "
                  f"(peak {mem['peak_bytes'] / 1e6:.3f})")
    pp = per_page_cost(repeats=5 if quick else 15)
    for size, cell in pp["us_per_page"].items():
        print(f"round trip at {size}: {cell['median']:.2f} µs/page")
    for name, cell in pp.get("ratio", {}).items():
        print(f"ratio {name}: {cell['median']:.3f}")
    sb = measure_slot_bytes(16384 if quick else 131072)
    print(f"bytes/slot swapfile {sb['swapfile']['bytes_per_slot']:.2f}, vswap>swapfile "
          f"{sb['vswap>swapfile']['bytes_per_slot']:.2f}, vswap alone {sb['vswap_layer_alone']:.2f}")
    for key in ("swapfile", "vswap>swapfile"):
        for row in sb[key]["by_file"]:
            print(f"  {key:<16} {row['file']:<50} {row['bytes_per_slot']:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
