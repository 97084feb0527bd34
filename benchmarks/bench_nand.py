"""The NAND/FTL model's speed: flash page writes per second, uniform random, greedy GC.

A 1 GiB logical device (262,144 pages of 4 KiB, 7 % over-provisioning, 256
pages per erase block, greedy GC) is filled sequentially and then overwritten
at random four times over (untimed), so GC runs at its steady state. Two
write paths are then timed, interleaved:

``per_call``
    ``NandFlash.write(lpn)`` once per page in a Python loop (LPNs drawn
    beforehand): the path a ``swapfile:device=flash`` takes for every slot it
    writes;
``bulk``
    ``NandFlash.write_random(n)`` (vectorised, the analysis path).

The rate is host page writes per second of the thread's CPU time; NAND page
programs per second (host writes + GC copies) and the WAF of the interval
are reported beside it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from bench_common import CLOCKS, interleaved, summary

from swapops.flash import FlashGeometry, NandFlash

LOGICAL_PAGES = 262_144


def measure(
    logical_pages: int = LOGICAL_PAGES,
    writes: int = LOGICAL_PAGES,
    repeats: int = 7,
    *,
    clock: str = "cpu",
    precondition: float = 4.0,
    seed: int = 0,
) -> dict[str, Any]:
    tick = CLOCKS[clock]
    geometry = FlashGeometry.for_logical_pages(logical_pages, over_provisioning=0.07,
                                               pages_per_block=256, gc="greedy")
    nand = NandFlash(geometry, seed=seed)
    nand.write_many(np.arange(logical_pages, dtype=np.int64))
    nand.write_random(int(precondition * logical_pages))
    rng = np.random.default_rng(seed + 1)
    lpns: list[int] = rng.integers(0, logical_pages, size=writes, dtype=np.int64).tolist()
    extra: dict[str, list[tuple[int, int]]] = {"per_call": [], "bulk": []}

    def per_call() -> float:
        write = nand.write
        s0 = nand.snapshot()
        t0 = tick()
        for lpn in lpns:
            write(lpn)
        s1 = nand.snapshot()  # applies the buffered writes (and their GC)
        t = tick() - t0
        d = s1 - s0
        extra["per_call"].append((d.host_writes, d.nand_writes))
        return d.host_writes / (t / 1e9)

    def bulk() -> float:
        s0 = nand.snapshot()
        t0 = tick()
        nand.write_random(writes)
        s1 = nand.snapshot()
        t = tick() - t0
        d = s1 - s0
        extra["bulk"].append((d.host_writes, d.nand_writes))
        return d.host_writes / (t / 1e9)

    cases: dict[str, Callable[[], float]] = {"per_call": per_call, "bulk": bulk}
    s = interleaved(cases, repeats, warmup=1)
    out: dict[str, Any] = {}
    for name, rates in s.items():
        pairs = extra[name][-len(rates):]
        wafs = [nw / hw for hw, nw in pairs]
        out[name] = {
            "host_writes_per_s": summary(rates),
            "nand_programs_per_s": summary([r * w for r, w in zip(rates, wafs, strict=True)]),
            "waf": summary(wafs),
        }
    nand.check_invariants()
    return {
        "what": "NandFlash uniform random host writes, greedy GC, steady state",
        "source": "benchmarks/bench_nand.py",
        "clock": clock,
        "logical_pages": logical_pages,
        "over_provisioning": 0.07,
        "pages_per_block": 256,
        "writes_per_sample": writes,
        "repeats": repeats,
        "paths": out,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    res = measure(repeats=3 if "--quick" in args else 7)
    for name, cell in res["paths"].items():
        print(f"{name:<9} {cell['host_writes_per_s']['median']:>14,.0f} host page writes/s "
              f"{cell['nand_programs_per_s']['median']:>14,.0f} NAND programs/s WAF {cell['waf']['median']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
