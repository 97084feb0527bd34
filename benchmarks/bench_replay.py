"""Workload replay rate through the mm model (events per second).

Each sample builds the machine exactly as ``swapops.runner.run(stack)`` does
with its defaults (the default workload ``zipf``, 500,000 events, 16 MiB RAM,
40 MiB of swap, seed 0, page verification on) and replays the workload with
:meth:`swapops.runner.Run.replay`. ``events_per_s_wall`` is the runner's own
``host.events_per_s`` (events / wall time of the replay); ``events_per_s_cpu``
divides by the CPU time of the replaying thread instead, which a busy shared
machine disturbs less. Workload generation runs inside the replay (chunks are
generated on demand), as it does for a user.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench_common import summary
from bench_roundtrip import _where

from swapops.runner import DEFAULT_EVENTS, DEFAULT_RAM, Run, build_workload
from swapops.workloads import DEFAULT_WORKLOAD

#: The swap size of the run of record (docs/performance.md), pinned: the compare
#: default moved to 96M (issue 17) and this benchmark measures speed, not designs.
SWAP = "40M"


def replay_once(stack: str = "swapfile", events: int = DEFAULT_EVENTS, seed: int = 0,
                profile: cProfile.Profile | None = None) -> dict[str, Any]:
    wl = build_workload(DEFAULT_WORKLOAD, ram=DEFAULT_RAM, seed=seed, events=events)
    run = Run(seed=seed, ram=DEFAULT_RAM)
    run.swapon(stack, size=SWAP)
    c0 = time.thread_time_ns()
    if profile is not None:
        profile.enable()
    done = run.replay(wl)
    if profile is not None:
        profile.disable()
    cpu_s = (time.thread_time_ns() - c0) / 1e9
    snap = run.snapshot()
    tot = snap["totals"]
    return {
        "events": done,
        "wall_s": run.replay_s,
        "cpu_s": cpu_s,
        "events_per_s_wall": done / run.replay_s if run.replay_s else None,
        "events_per_s_cpu": done / cpu_s if cpu_s else None,
        "pswpout": tot.get("pswpout"),
        "pswpin": tot.get("pswpin"),
    }


def measure(
    stacks: Sequence[str] = ("swapfile",),
    repeats: int = 3,
    events: int = DEFAULT_EVENTS,
    *,
    extra_stacks: Sequence[str] = (),
) -> dict[str, Any]:
    """``repeats`` replays of each of ``stacks`` (interleaved), one of each of ``extra_stacks``."""
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in (*stacks, *extra_stacks)}
    for _r in range(repeats):
        for stack in stacks:
            runs[stack].append(replay_once(stack, events))
    for stack in extra_stacks:
        runs[stack].append(replay_once(stack, events))
    out: dict[str, Any] = {}
    for stack, samples in runs.items():
        out[stack] = {
            "events_per_s_wall": summary([s["events_per_s_wall"] for s in samples]),
            "events_per_s_cpu": summary([s["events_per_s_cpu"] for s in samples]),
            "events": samples[0]["events"],
            "pswpout": samples[0]["pswpout"],
            "pswpin": samples[0]["pswpin"],
            "runs": len(samples),
        }
    return {
        "what": "swapops.runner Run.replay of the default workload (runner.run defaults)",
        "workload": DEFAULT_WORKLOAD,
        "events": events,
        "ram": DEFAULT_RAM,
        "swap": SWAP,
        "default_workload": events == DEFAULT_EVENTS,
        "stacks": out,
    }


def profile_replay(stack: str = "swapfile", events: int = 100_000, top: int = 20) -> dict[str, Any]:
    """cProfile of one replay; the top functions by own time, per event."""
    prof = cProfile.Profile()
    res = replay_once(stack, events, profile=prof)
    raw: dict[Any, Any] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total_tt = sum(v[2] for v in raw.values())
    rows = [
        {
            "function": f"{_where(fn)}:{line}({func})",
            "calls_per_event": nc / events,
            "tottime_us_per_event": tt / events * 1e6,
            "share": tt / total_tt if total_tt else 0.0,
        }
        for (fn, line, func), (_cc, nc, tt, _ct, _callers) in raw.items()
    ]
    rows.sort(key=lambda r: -r["tottime_us_per_event"])
    return {"stack": stack, "events": events, "pswpout": res["pswpout"], "pswpin": res["pswpin"],
            "profiled_us_per_event": total_tt / events * 1e6, "top": rows[:top]}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    res = measure(repeats=1 if "--quick" in args else 3)
    for stack, cell in res["stacks"].items():
        print(f"{stack:<30} {cell['events_per_s_wall']['median']:>12,.0f} events/s (wall) "
              f"{cell['events_per_s_cpu']['median']:>12,.0f} events/s (cpu)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
