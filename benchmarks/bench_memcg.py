"""What the memcg model costs the replay (events per CPU second).

Three machines replay the same workload (the tiers scenario's,
``docs/examples/tiers.toml``: zipf over two processes, a zram area at priority
100 and a swapfile at 10), back to back in rotating order
(``bench_common.interleaved``), each sample the CPU time of the replaying
thread:

* ``plain``: no cgroups (the mm model's hooks each test ``MM.memcg`` only),
  on a machine with RAM for the two cgroups' limits together (``PRESSURE_RAM``),
  so global reclaim swaps about as much as the cgroups do below;
* ``unlimited``: the same machine, the two processes in two cgroups without
  limits or tiers: the charging bookkeeping alone (its figures equal
  ``plain``'s, as ``tests/test_memcg.py`` checks);
* ``tiers``: the scenario as shipped (16 MiB), each cgroup at ``memory.max``
  and kept to one tier: the bookkeeping plus each cgroup's own reclaim.

Each case also reports its page-outs (deterministic), so a rate is read
against the work done.

``python benchmarks/bench_memcg.py --json out.json`` (``--smoke``: a tiny run).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import warnings
from typing import Any

from bench_common import interleaved, machine_info, now_iso, per_repeat_ratio, summary

from swapops.runner import Run, build_workload
from swapops.scenario import load_scenario

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "docs" / "examples" / "tiers.toml"
PRESSURE_RAM = "7M"  # the two memory.max (3M each) plus what the watermarks keep free


def _machine(scn: dict[str, Any], cgroups: dict[str, Any] | None, tiers: dict[str, Any] | None,
             events: int, ram: str) -> tuple[Run, Any]:
    wl = dict(scn["workload"])
    run = Run(seed=scn["seed"], ram=ram, cgroups=cgroups, tiers=tiers)
    for step in scn["swapon"]:
        run.swapon(step["stack"], size=step["size"], priority=step["priority"])
    workload = build_workload(wl["name"], ram=scn["ram"], seed=scn["seed"], events=events, pages=wl["pages"],
                              processes=wl["processes"])
    return run, workload


def sample(scn: dict[str, Any], case: str, events: int, pageouts: dict[str, int]) -> float:
    """Events per CPU second of one replay of ``case`` (its page-outs into ``pageouts``)."""
    ram = PRESSURE_RAM
    if case == "plain":
        cgroups, tiers = None, None
    elif case == "unlimited":
        cgroups, tiers = {name: {"procs": cg["procs"]} for name, cg in scn["cgroup"].items()}, None
    else:
        cgroups, tiers, ram = scn["cgroup"], scn["tiers"], scn["ram"]
    run, workload = _machine(scn, cgroups, tiers, events, ram)
    t0 = time.thread_time_ns()
    done = run.replay(workload)
    rate = done / ((time.thread_time_ns() - t0) / 1e9)
    pageouts[case] = run.mm.counters["pageouts"]
    return rate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=pathlib.Path, default=None, help="write the results here")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--events", type=int, default=None, help="events per replay (default: the scenario's)")
    ap.add_argument("--smoke", action="store_true", help="a tiny run (tests)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    scn = load_scenario(SCENARIO)
    events = 3000 if args.smoke else (args.events or int(scn["workload"]["events"]))
    repeats = 1 if args.smoke else args.repeats
    pageouts: dict[str, int] = {}
    cases = {c: (lambda c=c: sample(scn, c, events, pageouts)) for c in ("plain", "unlimited", "tiers")}
    got = interleaved(cases, repeats, warmup=0 if args.smoke else 1)
    out = {
        "benchmark": "benchmarks/bench_memcg.py",
        "date": now_iso(),
        "machine": machine_info(),
        "scenario": "docs/examples/tiers.toml",
        "events": events,
        "repeats": repeats,
        "pressure_ram": PRESSURE_RAM,
        "pageouts": pageouts,
        "events_per_cpu_s": {c: summary(v) for c, v in got.items()},
        "ratio_to_plain": {c: summary(per_repeat_ratio(got[c], got["plain"])) for c in ("unlimited", "tiers")},
    }
    text = json.dumps(out, indent=2)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
