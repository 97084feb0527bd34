"""What binding at swapon saves: one device operation called three ways.

The same operation of the same swapfile device (a 4 KiB ``read_folio`` of a
slot that holds a page, RAM backing), called ``calls`` times in a loop:

* ``direct``: the device's bound method, as a hand-written caller would;
* ``table``: through the device's :class:`~swapops.device.DeviceDispatch`
  (``dev.ops.read``), which is what the core's per-page path does;
* ``pluggy``: a pluggy hook broadcast, ``system.pm.hook.swapops_read_folio(...)``,
  on a system with that one device registered (one implementation).

``dispatch`` = ``table - direct`` is what the core's dispatch costs per call;
``pluggy - direct`` is what a broadcast per call would cost instead. A 4 KiB
round trip through a one-layer stack makes four such calls (alloc, write,
read, free); each further layer adds up to four more.

Run on its own: ``python benchmarks/bench_dispatch.py`` (prints JSON).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from bench_common import CLOCKS, interleaved, per_repeat_ratio, summary

import swapops
from swapops.folio import Folio


def measure(calls: int = 20_000, repeats: int = 15, *, clock: str = "cpu", warmup: int = 1) -> dict[str, Any]:
    tick = CLOCKS[clock]
    system = swapops.SwapSystem()
    dev = system.swapon("swapfile", size="16M")
    entry = system.swap_out(Folio(b"\x5a" * 4096))
    offset = entry[1]
    folio = Folio(b"\x00" * 4096)
    direct = dev.swapops_read_folio
    table = dev.ops
    hook = system.pm.hook.swapops_read_folio
    assert len(hook.get_hookimpls()) == 1, "the broadcast must reach exactly one implementation"
    loop = range(calls)

    def run_direct() -> float:
        t0 = tick()
        for _ in loop:
            direct(offset, folio)
        return (tick() - t0) / calls

    def run_table() -> float:
        ops = table
        t0 = tick()
        for _ in loop:
            ops.read(offset, folio)
        return (tick() - t0) / calls

    def run_pluggy() -> float:
        t0 = tick()
        for _ in loop:
            hook(offset=offset, folio=folio)
        return (tick() - t0) / calls

    cases: dict[str, Callable[[], float]] = {"direct": run_direct, "table": run_table, "pluggy": run_pluggy}
    samples = interleaved(cases, repeats, warmup=warmup)
    assert folio.data == b"\x5a" * 4096  # every path really read the page
    system.swap_free(entry)
    system.swapoff(dev)
    dispatch = [t - d for t, d in zip(samples["table"], samples["direct"], strict=True)]
    broadcast = [p - d for p, d in zip(samples["pluggy"], samples["direct"], strict=True)]
    return {
        "what": "ns per read_folio call of a RAM-backed swapfile (4 KiB): bound method, the core's dispatch "
                "table, a pluggy broadcast with one implementation",
        "calls": calls,
        "repeats": repeats,
        "clock": clock,
        "ns": {name: summary(vals) for name, vals in samples.items()},
        "dispatch_ns": summary(dispatch),
        "broadcast_ns": summary(broadcast),
        "pluggy_over_table": summary(per_repeat_ratio(samples["pluggy"], samples["table"])),
    }


if __name__ == "__main__":
    json.dump(measure(), sys.stdout, indent=2)
    sys.stdout.write("\n")
