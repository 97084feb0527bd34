"""Issue 15: large studies: replay speed against the previous release, memory per
page and per slot in reference mode, and the 32 GiB usemem run.

Every measurement runs in a fresh child process (``python -c``), so RSS figures
are the run's own and the previous release can be measured beside this tree in
the same run: ``--baseline PYTHON`` names the interpreter of a venv with the
previous release installed (e.g. ``git worktree add ../baseline ad78c63``, a venv
with it installed editable, and that venv's ``bin/python``). Sections:

* ``replay``: the default workload (``zipf``, 500,000 events, RAM 16M, swap 40M
  as ``bench_replay.py``) over ``swapfile`` and ``vswap>zswap>swapfile``; events
  per CPU-second of the replaying thread, both trees interleaved per repeat;
  ratio = this tree / previous release, taken within each repeat, median.
* ``flat``: CPU per event of a usemem fill (one process writes its pages once,
  every page past RAM is swapped out) at two sizes, this tree and the previous
  release: cost per event should not grow with the size.
* ``memory``: RSS growth of that usemem fill in reference mode at two sizes;
  bytes per workload page = growth difference / page difference (so the fixed
  costs cancel), and per swap slot in use (tracemalloc of the core and a
  swapfile holding N content keys, the keys included).
* ``big`` (``--big``): ``swapops run`` of usemem filling a 32 GiB swapfile
  (8 M slots in use) with its time and peak RSS.

Usage::

    python benchmarks/bench_issue15.py --baseline ../venvs/baseline/bin/python --json out.json [--quick] [--big]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench_common import machine_info, now_iso

REPLAY_STACKS = ("swapfile", "vswap>zswap>swapfile")

_REPLAY_CHILD = r"""
import json, sys, time
from swapops.runner import Run, build_workload
stack, events, content = sys.argv[1], int(sys.argv[2]), sys.argv[3]
wl = build_workload("zipf", ram="16M", seed=0, events=events)
kw = {} if content == "-" else {"content": content}
run = Run(seed=0, ram="16M", **kw)
run.swapon(stack, size="40M")
c0 = time.thread_time_ns()
done = run.replay(wl)
cpu = (time.thread_time_ns() - c0) / 1e9
tot = run.snapshot()["totals"]
print(json.dumps({"events": done, "cpu_s": cpu, "pswpout": tot.get("pswpout"), "pswpin": tot.get("pswpin")}))
"""

_FILL_CHILD = r"""
import json, resource, sys, time
from swapops.runner import Run, build_workload
stack, pages, ram, swap, content = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
kw = {} if content == "-" else {"content": content}
wl = build_workload("usemem", ram=ram, seed=0, events=pages, pages=pages, processes=1)
run = Run(seed=0, ram=ram, **kw)
run.swapon(stack, size=swap)
r0 = rss()
c0 = time.thread_time_ns()
w0 = time.perf_counter()
done = run.replay(wl)
cpu = (time.thread_time_ns() - c0) / 1e9
wall = time.perf_counter() - w0
r1 = rss()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
snap = run.snapshot()
tot = snap["totals"]
print(json.dumps({"events": done, "cpu_s": cpu, "wall_s": wall, "rss_before": r0, "rss_after": r1,
                  "peak_rss": peak, "pswpout": tot.get("pswpout"), "swpout_zero": tot.get("swpout_zero"),
                  "slots_in_use": (tot.get("pswpout") or 0) + (tot.get("swpout_zero") or 0)}))
"""

_SLOT_CHILD = r"""
import json, sys, tracemalloc
import swapops
from swapops.contentref import ContentCache
from swapops.folio import Folio
from swapops.workloads import ContentMix
n = int(sys.argv[1])
mix = ContentMix(seed=0)
system = swapops.SwapSystem(seed=0)
system.swapon(sys.argv[2], size="4G")
system.set_content(ContentCache(mix.page, mix.is_zero))
cks = [ck for ck in ((p << 32) | 1 for p in range(1, 3 * n)) if not mix.is_zero(ck)][:n]
tracemalloc.start()
before = tracemalloc.get_traced_memory()[0]
keep = [system.swap_out(Folio.ref(ck)) for ck in cks]
after = tracemalloc.get_traced_memory()[0]
# the caller's entries (the list and its tuples) are the mm model's page tables, not the layers'
entries = sys.getsizeof(keep) + sum(sys.getsizeof(e) + sys.getsizeof(e[1]) for e in keep)
# what the mm model keeps per entry instead (swapops.mm): the PTE's int and 16 B of per-area arrays
from swapops.mm import swap_pte
mm_entries = sum(sys.getsizeof(swap_pte(e)) + 16 for e in keep)
print(json.dumps({"slots": n, "bytes": after - before, "caller_entries": entries, "mm_entries": mm_entries}))
"""


def _child(python: str, code: str, *args: object, env: dict[str, str] | None = None) -> dict[str, Any]:
    out = subprocess.run([python, "-c", code, *map(str, args)], check=True, capture_output=True, text=True,
                         env=env, cwd="/")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _med(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def replay(new: str, old: str | None, events: int, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {"events": events, "repeats": repeats, "stacks": {}}
    for stack in REPLAY_STACKS:
        cell: dict[str, Any] = {"new": [], "new_bytes": [], "old": [], "ratio": [], "ratio_bytes_mode": []}
        for r in range(repeats):
            order = ["new", "new_bytes", "old"] if r % 2 == 0 else ["old", "new_bytes", "new"]
            got: dict[str, dict[str, Any]] = {}
            for who in order:
                if who == "old" and old is None:
                    continue
                py = old if who == "old" else new
                content = "-" if who == "old" else ("bytes" if who == "new_bytes" else "ref")
                got[who] = _child(py, _REPLAY_CHILD, stack, events, content)  # type: ignore[arg-type]
                cell[who].append(got[who]["events"] / got[who]["cpu_s"])
            if "old" in got:
                cell["ratio"].append(cell["new"][-1] / cell["old"][-1])
                cell["ratio_bytes_mode"].append(cell["new_bytes"][-1] / cell["old"][-1])
            cell["pswpout"] = {k: v["pswpout"] for k, v in got.items()}
        out["stacks"][stack] = {
            "events_per_cpu_s": {k: _med(cell[k]) for k in ("new", "new_bytes", "old")},
            "ratio_new_vs_old": _med(cell["ratio"]),
            "ratio_bytes_mode_vs_old": _med(cell["ratio_bytes_mode"]),
            "samples": {k: cell[k] for k in ("new", "new_bytes", "old", "ratio")},
            "pswpout": cell["pswpout"],
        }
    return out


def fill(new: str, old: str | None, sizes: tuple[int, int]) -> dict[str, Any]:
    """usemem fills of ``sizes`` pages with RAM 16M over a swapfile big enough."""
    res: dict[str, Any] = {"ram": "16M", "sizes": list(sizes), "runs": {}}
    for who, py, content in (("new_ref", new, "ref"), ("new_bytes", new, "bytes"), ("old", old, "-")):
        if py is None:
            continue
        runs = []
        for pages in sizes:
            swap = f"{(pages * 4096 * 5 // 4) >> 20}M"
            runs.append(_child(py, _FILL_CHILD, "swapfile", pages, "16M", swap, content))
        small, large = runs
        res["runs"][who] = {
            "per_size": runs,
            "us_per_event": [r["cpu_s"] / r["events"] * 1e6 for r in runs],
            "cost_ratio_large_vs_small": (large["cpu_s"] / large["events"]) / (small["cpu_s"] / small["events"]),
            "bytes_per_page": (large["rss_after"] - small["rss_after"]) / (sizes[1] - sizes[0]),
        }
    return res


def slots(new: str, n: int) -> dict[str, Any]:
    out = {}
    for stack in ("swapfile", "vswap>swapfile"):
        r = _child(new, _SLOT_CHILD, n, stack)
        r["bytes_per_slot"] = r["bytes"] / r["slots"]
        r["bytes_per_slot_without_caller_entries"] = (r["bytes"] - r["caller_entries"]) / r["slots"]
        if "mm_entries" in r:
            r["bytes_per_slot_with_mm_entries"] = (r["bytes"] - r["caller_entries"] + r["mm_entries"]) / r["slots"]
        out[stack] = r
    return out


def big(new: str, pages: int, swap: str, ram: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    r = _child(new, _FILL_CHILD, "swapfile", pages, ram, swap, "ref")
    r["wall_total_s"] = time.perf_counter() - t0
    r.update({"pages": pages, "swap": swap, "ram": ram, "bytes_per_page_peak": r["peak_rss"] / pages,
              "us_per_event_cpu": r["cpu_s"] / r["events"] * 1e6})
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default=None, help="python of a venv with the previous release")
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness")
    ap.add_argument("--big", action="store_true", help="also the 32 GiB usemem run")
    ap.add_argument("--big-pages", type=int, default=(32 << 18) + (64 << 8))  # 8 M slots + 64M of RAM
    args = ap.parse_args(argv)
    new = sys.executable
    old = args.baseline
    t0 = time.perf_counter()
    res: dict[str, Any] = {"schema": "swapops.bench.issue15/1", "date": now_iso(), "machine": machine_info(),
                           "command": " ".join(["python", *sys.argv]), "baseline": old}
    if args.smoke:
        events, repeats, sizes, nslots = 20_000, 1, (8_192, 16_384), 4_096
    elif args.quick:
        events, repeats, sizes, nslots = 200_000, 1, (65_536, 262_144), 65_536
    else:
        events, repeats, sizes, nslots = 500_000, 3, (131_072, 1_048_576), 262_144
    res["replay"] = replay(new, old, events, repeats)
    res["flat"] = fill(new, old, sizes)
    res["slots"] = slots(new, nslots)
    if args.big:
        res["big"] = big(new, args.big_pages, "32G", "64M")
    rp = res["replay"]["stacks"]
    fl = res["flat"]["runs"]
    tg = [
        {"id": "replay_swapfile", "goal": ">= 4x", "measured": rp["swapfile"]["ratio_new_vs_old"]},
        {"id": "replay_vswap_zswap", "goal": ">= 4x", "measured": rp["vswap>zswap>swapfile"]["ratio_new_vs_old"]},
        {"id": "bytes_per_page_ref", "goal": "<= 200 B", "measured": fl["new_ref"]["bytes_per_page"]},
        {"id": "bytes_per_slot_swapfile", "goal": "<= 64 B",
         "measured": res["slots"]["swapfile"]["bytes_per_slot_without_caller_entries"]},
        {"id": "cost_flat", "goal": "<= 1.2x", "measured": fl["new_ref"]["cost_ratio_large_vs_small"]},
    ]
    limits = {"replay_swapfile": (4.0, 1), "replay_vswap_zswap": (4.0, 1), "bytes_per_page_ref": (200, -1),
              "bytes_per_slot_swapfile": (64, -1), "cost_flat": (1.2, -1)}
    for t in tg:
        lim, sign = limits[t["id"]]
        m = t["measured"]
        t["met"] = None if m is None or m != m else (m >= lim if sign > 0 else m <= lim)
    res["targets"] = tg
    res["elapsed_s"] = time.perf_counter() - t0
    text = json.dumps(res, indent=2)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            f.write(text + "\n")
    for stack, cell in rp.items():
        e = cell["events_per_cpu_s"]
        print(f"replay {stack:<24} new {e['new']:>10,.0f}  bytes-mode {e['new_bytes']:>10,.0f}  "
              f"old {e['old']:>10,.0f} ev/cpu-s  ratio {cell['ratio_new_vs_old']:.2f}x")
    for who, cell in fl.items():
        print(f"fill {who:<10} us/event {[round(x, 2) for x in cell['us_per_event']]}  "
              f"large/small {cell['cost_ratio_large_vs_small']:.2f}  B/page {cell['bytes_per_page']:.0f}")
    for stack, cell in res["slots"].items():
        print(f"slots {stack:<16} {cell['bytes_per_slot_without_caller_entries']:.1f} B/slot in the core and "
              f"layers (keys included); {cell['bytes_per_slot']:.1f} with the caller's entry tuples; "
              f"{cell.get('bytes_per_slot_with_mm_entries', float('nan')):.1f} with the mm model's PTE ints and arrays")
    if "big" in res:
        b = res["big"]
        print(f"big: {b['pages']:,} pages, swap {b['swap']}: {b['wall_s']:.0f} s wall, {b['cpu_s']:.0f} s CPU, "
              f"peak RSS {b['peak_rss'] / 2**30:.2f} GiB, pswpout {b['pswpout']:,}")
    for t in tg:
        print(f"target {t['id']:<24} {t['goal']:>8}  measured {t['measured']:.2f}  met {t['met']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
