"""How the zswap shrink worker's scheduling changes the lab's zswap counters.

On the lab's one-CPU guest the shrink worker (``mm/zswap.c: shrink_worker()``,
a kworker of ``shrink_wq``) runs only when the scheduler gives it the CPU;
every ``queue_work()`` from a rejected store while it waits finds the work
item pending and is a no-op (``kernel/workqueue.c: queue_work_on()``). The
model's ``worker_turn_stores=K`` gives the worker one turn per K store
attempts (1, the default: a turn after every store, the worker beside
reclaim). K would be the stores reclaim makes in one scheduling slice of the
reclaiming task (EEVDF's ``sysctl_sched_base_slice``, 0.75 ms on one CPU, at
HZ=250 ticks) -- a figure the recorded runs do not measure (they keep no
per-store guest time), so this script does not choose K: it runs every
shipped zswap scenario's model at each K against its recorded kernel run
(``lab/results``, nothing is booted) and reports the whole-run figures, to
say how far the worker's scheduling can explain ``pool_limit_hit`` and what
it costs the other counters. About 30 s per scenario and K on one core::

    python benchmarks/lab_worker_turns.py --json benchmarks/results/lab_worker_turns.json

Modeled figures: the swapops column is the mm model's; the kernel column is
the recorded Linux 6.12.118 run's.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
COUNTERS = ("pswpout", "pswpin", "swap_ra_hit", "pgmajfault", "zswpout", "zswpin", "zswpwb", "pool_limit_hit",
            "reject_compress_fail")
SCENARIOS = ("zswap-lz4", "zswap-shrinker", "zswap-incompressible")


def measure(name: str, turns: int, results: pathlib.Path) -> dict[str, Any]:
    """One scenario's whole-run rows at ``worker_turn_stores=turns``."""
    import swapops.lab.model as lab_model
    from swapops.lab.compare import compare
    from swapops.lab.scenario import load_lab_scenario

    scn = load_lab_scenario(str(ROOT / "lab" / "scenarios" / f"{name}.toml"))
    record = json.loads((results / f"{name}.json").read_text())
    record = record.get("kernel_record", record)
    machine = lab_model.Machine.from_json(record["machine"])
    stack = lab_model.stack_for(scn, machine).replace("zswap:", f"zswap:worker_turn_stores={turns},", 1)
    orig = lab_model.stack_for
    lab_model.stack_for = lambda *_: stack  # type: ignore[assignment]
    try:
        model = lab_model.run_model(scn, machine)
    finally:
        lab_model.stack_for = orig  # type: ignore[assignment]
    out = compare(scn, record, model)
    total = {r["counter"]: r for r in out["total"]}
    rows: dict[str, Any] = {c: {"kernel": total[c]["kernel"], "swapops": total[c]["swapops"],
                                "relative": total[c]["relative"], "pass": total[c]["pass"]} for c in COUNTERS}
    z = model[1][-1].snapshot["areas"][0]["layers"][0]["stats"]
    cycles = z["pool_full_cycles"]
    rows["model"] = {"pool_full_cycles": cycles, "hits_per_cycle": z["pool_limit_hit"] / cycles if cycles else None,
                     "shrink_worker_runs": z["shrink_worker_runs"],
                     "shrink_worker_rotations": z["shrink_worker_rotations"]}
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(ROOT / "lab" / "results"), help="the recorded kernel runs")
    ap.add_argument("--turns", default="1,2,3,4,8", help="worker_turn_stores values, comma-separated")
    ap.add_argument("--scenario", action="append", default=[], help="a zswap scenario (default: all three)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    turns = [int(t) for t in args.turns.split(",")]
    names = args.scenario or list(SCENARIOS)
    doc: dict[str, Any] = {"schema": "swapops.lab_worker_turns/1", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                          time.gmtime()),
                           "counters": list(COUNTERS), "scenarios": {}}
    print(f"{'scenario':22} {'K':>2} " + " ".join(f"{c[:13]:>13}" for c in COUNTERS), file=sys.stderr)
    for name in names:
        doc["scenarios"][name] = {}
        for k in turns:
            rows = measure(name, k, pathlib.Path(args.results))
            doc["scenarios"][name][str(k)] = rows
            cells = " ".join(f"{rows[c]['relative'] * 100:+12.1f}%" if rows[c]["relative"] is not None else
                             f"{'n/a':>13}" for c in COUNTERS)
            m = rows["model"]
            print(f"{name:22} {k:>2} {cells}  cycles {m['pool_full_cycles']}", file=sys.stderr)
    if args.json:
        path = pathlib.Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1) + "\n")
    else:
        print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
