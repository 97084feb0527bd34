"""Render a results JSON of ``benchmarks/run.py`` as Markdown tables.

    python benchmarks/report.py benchmarks/results/latest.json > /tmp/tables.md

``docs/performance.md`` embeds these tables (and says which run they are from).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

MB = 1_000_000


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit in ("events/s", "writes/s"):
        return f"{value:,.0f} {unit}"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.2f} {unit}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1,
           left_last: bool = False) -> list[str]:
    """A Markdown table: the first ``left`` columns (and the last, if ``left_last``) left-aligned."""
    align = ["---"] * min(left, len(head)) + ["---:"] * max(0, len(head) - left)
    if left_last:
        align[-1] = "---"
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def render(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    res = doc["results"]
    lines = [
        f"Run: `{doc['command']}` ({doc['mode']}), {doc['date']}, {doc['duration_s']:.0f} s; "
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, kernel {m['kernel']}; "
        f"load average {m.get('loadavg_at_start')} at start, {m.get('loadavg_at_end')} at end; "
        f"clock: {doc['clock']}.",
        "",
        "### Targets",
        "",
    ]
    rows = []
    for t in doc["targets"]:
        status = {True: "met", False: "**missed**", None: "n/a"}[t["met"]]
        rows.append([t["what"], t["target"], _fmt(t["measured"], t["unit"]), status, t["note"]])
    lines += _table(["target", "goal", "measured", "", "note"], rows, left_last=True)
    rt = res.get("roundtrip")
    if rt:
        orders = list(rt["us_per_page"])
        lines += ["", f"### Round trip per page (µs, median of {rt['repeats']} repeats)", ""]
        head = ["stack", *("4 KiB" if o == "0" else f"order {o}" for o in orders)]
        rows = []
        for name in ["floor", *rt["stacks"]]:
            cells = []
            for o in orders:
                cell = rt["us_per_page"][o].get(name)
                cells.append(f"{cell['us_per_page']['median']:.2f}" if cell else "error")
            rows.append(["copy floor (plain Python)" if name == "floor" else f"`{name}`", *cells])
        lines += _table(head, rows)
        lines += ["", "Per folio (µs, median): " + "; ".join(
            f"order {o}: " + ", ".join(
                f"`{n}` {rt['us_per_page'][o][n]['us_per_folio']:.1f}"
                for n in ("swapfile", "vswap>swapfile") if n in rt["us_per_page"][o])
            for o in orders if o != "0"), ""]
        lines += ["", "### Ratios (each taken within a repeat, then the median)", ""]
        keys = list(dict.fromkeys(k for o in orders for k in rt["ratios"][o]))
        rows = [[f"`{k}`", *(f"{rt['ratios'][o][k]['median']:.2f}" if k in rt["ratios"][o] else "-"
                              for o in orders)] for k in keys]
        lines += _table(["ratio", *head[1:]], rows)
    ops = rt.get("device_ops") if rt else None
    if ops:
        lines += ["", f"### Top device operations alone (µs per page, median of {ops['repeats']} repeats)", ""]
        rows = [[f"`{st}`", *(f"{row[op]['median']:.2f}" for op in ("alloc", "write", "read", "free", "sum"))]
                for st, row in ops["stacks"].items()]
        lines += _table(["stack", "alloc", "write", "read", "free", "sum"], rows)
    z = res.get("zswap")
    if z:
        lines += ["", f"### zswap layer vs the `{z['compressor']}` codec (µs per 4 KiB page, median of "
                      f"{z['repeats']} repeats, {z['pages']} pages)", ""]
        rows = [[name, f"{cell['median']:.2f}", f"{cell['min']:.2f}", f"{cell['max']:.2f}"]
                for name, cell in z["us_per_page"].items()]
        lines += _table(["part", "median", "min", "max"], rows)
    rp = res.get("replay")
    if rp:
        lines += ["", f"### Workload replay ({rp['workload']}, {rp['events']:,} events, RAM {rp['ram']}, "
                      f"swap {rp['swap']})", ""]
        rows = [[f"`{s}`", str(c["runs"]), f"{c['events_per_s_cpu']['median']:,.0f}",
                 f"{c['events_per_s_wall']['median']:,.0f}", f"{c['pswpout']:,}", f"{c['pswpin']:,}"]
                for s, c in rp["stacks"].items()]
        lines += _table(["stack", "runs", "events/s (CPU)", "events/s (wall)", "pswpout", "pswpin"], rows)
    sc = res.get("scale")
    if sc:
        lines += ["", "### Scale", ""]
        rows = []
        for stack, sizes in sc["swapon_time"]["stacks"].items():
            for size, cell in sizes.items():
                mem = sc["swapon_memory"][stack][size]
                rows.append([f"`{stack}`", size, f"{cell['ms']['median']:.2f}", f"{cell['wall_ms']['median']:.2f}",
                             f"{mem['bytes'] / MB:.3f}", f"{mem['peak_bytes'] / MB:.3f}"])
        lines += _table(["stack", "size", "swapon ms (CPU)", "swapon ms (wall)", "memory MB", "peak MB"],
                        rows, left=2)
        pp = sc["per_page"]
        lines += ["", "Round trip per 4 KiB page by device size (`swapfile`): " + ", ".join(
            f"{size} {cell['median']:.2f} µs" for size, cell in pp["us_per_page"].items()) + "; ratio " + ", ".join(
            f"{k} = {v['median']:.3f}" for k, v in pp.get("ratio", {}).items()) + "."]
        sb = sc["slot_bytes"]
        lines += ["", f"Simulator bytes per used slot ({sb['slots']:,} slots, tracemalloc, one shared page):", ""]
        rows = []
        for key in ("swapfile", "vswap>swapfile"):
            for r in sb[key]["by_file"]:
                if abs(r["bytes_per_slot"]) >= 0.05:
                    rows.append([f"`{key}`", f"`{r['file']}`", f"{r['bytes_per_slot']:.2f}"])
            rows.append([f"`{key}`", "**total**", f"**{sb[key]['bytes_per_slot']:.2f}**"])
        rows.append(["vswap layer alone", "(difference)", f"{sb['vswap_layer_alone']:.2f}"])
        lines += _table(["stack", "allocated in", "B/slot"], rows, left=2)
    nd = res.get("nand")
    if nd:
        lines += ["", f"### NAND model ({nd['logical_pages']:,} logical pages, OP {nd['over_provisioning']}, "
                      f"{nd['pages_per_block']} pages/block, greedy GC, steady state)", ""]
        rows = [[p, f"{c['host_writes_per_s']['median']:,.0f}",
                 f"{c['host_writes_per_s_wall']['median']:,.0f}" if "host_writes_per_s_wall" in c else "-",
                 f"{c['nand_programs_per_s']['median']:,.0f}", f"{c['waf']['median']:.2f}"]
                for p, c in nd["paths"].items()]
        lines += _table(["path", "host page writes/s (CPU)", "(wall)", "NAND programs/s (CPU)", "WAF"], rows)
    prof = res.get("profiles")
    if prof:
        for p in prof.values():
            if not isinstance(p, dict):
                continue
            if "profiled_us_per_page" in p:
                lines += ["", f"### cProfile: `{p['stack']}` round trip, order {p['order']} "
                              f"({p['profiled_us_per_page']:.2f} µs/page under the profiler)", ""]
                rows = [[f"`{r['function']}`", f"{r['calls_per_page']:.3f}", f"{r['tottime_us_per_page']:.2f}",
                         f"{r['share']:.0%}"] for r in p["top"][:10]]
                lines += _table(["function", "calls/page", "own µs/page", "share"], rows)
            elif "profiled_us_per_event" in p:
                lines += ["", f"### cProfile: replay over `{p['stack']}`, {p['events']:,} events "
                              f"({p['profiled_us_per_event']:.2f} µs/event under the profiler)", ""]
                rows = [[f"`{r['function']}`", f"{r['calls_per_event']:.3f}", f"{r['tottime_us_per_event']:.3f}",
                         f"{r['share']:.0%}"] for r in p["top"][:10]]
                lines += _table(["function", "calls/event", "own µs/event", "share"], rows)
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python benchmarks/report.py RESULTS.json", file=sys.stderr)
        return 2
    with open(args[0]) as f:
        doc = json.load(f)
    sys.stdout.write(render(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
