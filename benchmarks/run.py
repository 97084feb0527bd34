"""swapops benchmark suite (issue 8): one command, a table, a JSON file.

    python benchmarks/run.py --json benchmarks/results/latest.json          # full, ~5-10 min
    python benchmarks/run.py --json /tmp/quick.json --quick                 # ~1-2 min
    python benchmarks/run.py --quick --smoke --json /tmp/smoke.json         # seconds: harness check

Sections (``--only rt,zswap,replay,scale,nand,dispatch``):

``rt``      round trip per page through each default stack, orders 0/4/9, the
            plain-Python copy floor, and the ratios (virtual layer cost);
``zswap``   the zswap layer's cost beyond its compressor on the same pages;
``replay``  workload replay rate through the mm model (default workload);
``scale``   swapon time and memory at 1 GiB / 64 GiB / 1 TiB, per-page cost at
            1 TiB vs 1 GiB, simulator bytes per used slot;
``nand``    NAND/FTL model page writes per second (uniform random, greedy GC), measured
            by ``benchmarks/bench_flash.py`` (``bench_op``) at 7 % over-provisioning;
``dispatch`` one device operation called directly, through the swapon-time
            dispatch table, and as a pluggy broadcast (what binding saves).

Every figure is a median over repeats; every ratio is computed within a
repeat (both sides measured back to back, in rotating order) and then
median'd. Times are the benchmarking thread's CPU time unless ``--clock
wall``. These are measurements, not tests: nothing here fails on a slow
machine; ``targets`` in the JSON says which targets were met. See
``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import bench_dispatch  # noqa: E402
import bench_flash  # noqa: E402  (the NAND model's own benchmark, reused)
import bench_replay  # noqa: E402
import bench_roundtrip  # noqa: E402
import bench_scale  # noqa: E402
import bench_zswap  # noqa: E402
from bench_common import machine_info, now_iso  # noqa: E402

SCHEMA = "swapops.bench/1"
SECTIONS = ("rt", "zswap", "replay", "scale", "nand", "dispatch")

#: Per mode: repeats and sizes of each section.
MODES: dict[str, dict[str, Any]] = {
    "full": {
        "rt_repeats": 31, "rt_batch": dict(bench_roundtrip.BATCH), "rt_flash": True,
        "zswap_pages": 1024, "zswap_repeats": 31,
        "replay_events": None, "replay_repeats": 5, "replay_extra": True,
        "swapon_repeats": 9, "perpage_repeats": 15, "perpage_count": 1024, "slot_n": 131072,
        "nand_logical": 262_144, "nand_repeats": 7,
        "dispatch_calls": 20_000, "dispatch_repeats": 15,
    },
    "quick": {
        "rt_repeats": 7, "rt_batch": dict(bench_roundtrip.BATCH), "rt_flash": False,
        "zswap_pages": 1024, "zswap_repeats": 7,
        "replay_events": None, "replay_repeats": 1, "replay_extra": False,
        "swapon_repeats": 3, "perpage_repeats": 7, "perpage_count": 1024, "slot_n": 32768,
        "nand_logical": 262_144, "nand_repeats": 3,
        "dispatch_calls": 20_000, "dispatch_repeats": 5,
    },
    "smoke": {
        "rt_repeats": 1, "rt_batch": {0: 32, 4: 2, 9: 1}, "rt_flash": False,
        "zswap_pages": 32, "zswap_repeats": 1,
        "replay_events": 4096, "replay_repeats": 1, "replay_extra": False,
        "swapon_repeats": 1, "perpage_repeats": 1, "perpage_count": 32, "slot_n": 1024,
        "nand_logical": 8192, "nand_repeats": 1,
        "dispatch_calls": 1000, "dispatch_repeats": 1,
    },
}

MB = 1_000_000


# --------------------------------------------------------------------------- targets


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _target(tid: str, what: str, measured: Any, goal: float, op: str, unit: str,
            note: str = "") -> dict[str, Any]:
    value = float(measured) if isinstance(measured, int | float) else None
    if value is None or math.isnan(value):
        met = None
    else:
        met = value <= goal if op == "<=" else value >= goal
    shown = f"{goal:g}x" if unit == "x" else _fmt(goal, unit).replace(".00 ", " ")
    return {"id": tid, "what": what, "target": f"{op} {shown}", "goal": goal, "op": op,
            "measured": value, "unit": unit, "met": met, "note": note}


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    rt = res.get("roundtrip") or {}
    out: list[dict[str, Any]] = []
    if rt:
        out.append(_target(
            "rt_swapfile_vs_floor", "swapfile round trip (4 KiB) / copy floor",
            _get(rt, "ratios", "0", "swapfile / floor", "median"), 5.0, "<=", "x",
            f"swapfile {_get(rt, 'us_per_page', '0', 'swapfile', 'us_per_page', 'median') or 0:.2f} µs, "
            f"floor {_get(rt, 'us_per_page', '0', 'floor', 'us_per_page', 'median') or 0:.2f} µs per page"))
        for order in ("0", "4", "9"):
            label = "4 KiB" if order == "0" else f"order-{order} folios"
            out.append(_target(
                f"vswap_overhead_o{order}", f"vswap>swapfile / swapfile ({label})",
                _get(rt, "ratios", order, "vswap>swapfile / swapfile", "median"), 1.25, "<=", "x"))
            out.append(_target(
                f"vswap_zswap_overhead_o{order}", f"vswap>zswap>swapfile / zswap>swapfile ({label})",
                _get(rt, "ratios", order, "vswap>zswap>swapfile / zswap>swapfile", "median"), 1.25, "<=", "x"))
    z = res.get("zswap") or {}
    if z:
        raw = _get(z, "us_per_page", "raw_codec", "median")
        own = _get(z, "us_per_page", "layer_own", "median")
        out.append(_target(
            "zswap_beyond_codec", "zswap layer cost beyond raw compress+decompress (4 KiB)",
            _get(z, "us_per_page", "layer_beyond_codec", "median"), 2.0, "<=", "µs/page",
            f"layer {own or 0:.2f} µs vs {z.get('compressor')} codec {raw or 0:.2f} µs per page; "
            f"stack view {_get(z, 'us_per_page', 'stack_beyond_codec', 'median') or 0:.2f} µs"))
    rp = res.get("replay") or {}
    if rp:
        sw = _get(rp, "stacks", "swapfile") or {}
        suffix = "" if rp.get("default_workload") else f" ({rp.get('events')} events, not the default 500,000)"
        out.append(_target(
            "replay_cpu", "workload replay over swapfile, events/s of CPU time" + suffix,
            _get(sw, "events_per_s_cpu", "median"), 200_000, ">=", "events/s"))
        out.append(_target(
            "replay_wall", "workload replay over swapfile, events/s of wall time (runner host.events_per_s)"
            + suffix, _get(sw, "events_per_s_wall", "median"), 200_000, ">=", "events/s",
            "wall time includes time the process waited for a CPU on a shared machine"))
    sc = res.get("scale") or {}
    if sc:
        out.append(_target(
            "swapon_1t_time", "swapon of a 1 TiB RAM-backed swapfile",
            _get(sc, "swapon_time", "stacks", "swapfile", "1T", "ms", "median"), 50, "<=", "ms",
            f"wall {_get(sc, 'swapon_time', 'stacks', 'swapfile', '1T', 'wall_ms', 'median') or 0:.2f} ms"))
        mem = _get(sc, "swapon_memory", "swapfile", "1T", "bytes")
        out.append(_target(
            "swapon_1t_memory", "simulator memory of a 1 TiB RAM-backed swapfile at 0 % use",
            mem / MB if mem is not None else None, 16, "<=", "MB",
            f"tracemalloc; peak during swapon "
            f"{(_get(sc, 'swapon_memory', 'swapfile', '1T', 'peak_bytes') or 0) / MB:.2f} MB"))
        out.append(_target(
            "perpage_1t_vs_1g", "round trip per page at 1 TiB / at 1 GiB (swapfile, 4 KiB)",
            _get(sc, "per_page", "ratio", "1T / 1G", "median"), 1.2, "<=", "x"))
        out.append(_target(
            "slot_bytes_swapfile", "simulator bytes per used slot, swapfile (contents excluded)",
            _get(sc, "slot_bytes", "swapfile", "bytes_per_slot"), 16, "<=", "B"))
        vs_alone = _get(sc, "slot_bytes", "vswap_layer_alone")
        out.append(_target(
            "slot_bytes_vswap", "simulator bytes per used slot, vswap>swapfile (vswap + swapfile below)",
            _get(sc, "slot_bytes", "vswap>swapfile", "bytes_per_slot"), 48, "<=", "B",
            f"vswap layer alone (difference) {vs_alone or 0:.2f} B"))
    nd = res.get("nand") or {}
    if nd:
        base = _get(nd, "paths", "plain_python_ftl", "host_writes_per_s", "median")
        for path, label in (("per_call", "NandFlash.write() per page"),
                            ("bulk", "NandFlash.write_many() vectorised")):
            cell = _get(nd, "paths", path)
            if cell is None:
                continue
            out.append(_target(
                f"nand_{path}", f"NAND model host page writes/s, uniform random, greedy GC: {label}",
                _get(cell, "host_writes_per_s", "median"), 2_000_000, ">=", "writes/s",
                f"WAF {_get(cell, 'waf', 'median') or 0:.2f}; NAND programs/s "
                f"{_get(cell, 'nand_programs_per_s', 'median') or 0:,.0f}; wall "
                f"{_get(cell, 'host_writes_per_s_wall', 'median') or 0:,.0f}/s; plain-Python FTL "
                f"yardstick {base or 0:,.0f}/s"))
    return out


# --------------------------------------------------------------------------- running


def nand_section(logical: int, repeats: int, *, smoke: bool = False) -> dict[str, Any]:
    """``benchmarks/bench_flash.py``'s measurement at 7 % over-provisioning, in this JSON's shape.

    Rates are host page writes per second of process CPU time (wall beside);
    each is the median of ``repeats`` runs of that benchmark.
    """
    args = argparse.Namespace(logical=logical, ppb=256, warmup=1.0 if smoke else 2.0,
                              batch=logical if smoke else 1_000_000, scalar=logical if smoke else 300_000,
                              repeats=repeats, seed=1)
    row = bench_flash.bench_op(0.07, args)

    def path(m: dict[str, float], waf: float) -> dict[str, Any]:
        if "nand_per_s_cpu" in m:  # the WAF of this path's own interval
            waf = m["nand_per_s_cpu"] / m["per_s_cpu"]
        return {
            "host_writes_per_s": {"median": m["per_s_cpu"], "n": repeats},
            "host_writes_per_s_wall": {"median": m["per_s_wall"], "n": repeats},
            "nand_programs_per_s": {"median": m["per_s_cpu"] * waf, "n": repeats},
            "waf": {"median": waf, "n": 1},
            "pages_per_run": m["pages"],
        }

    return {
        "what": "NandFlash uniform random host writes, greedy GC, steady state (bench_flash.bench_op)",
        "source": "benchmarks/bench_flash.py",
        "clock": "process CPU time (wall beside)",
        "logical_pages": row["logical_pages"],
        "over_provisioning": row["over_provisioning"],
        "pages_per_block": row["pages_per_block"],
        "repeats": repeats,
        "paths": {
            "per_call": path(row["write"], row["waf"]),  # type: ignore[arg-type]
            "bulk": path(row["write_many"], row["waf"]),  # type: ignore[arg-type]
            "plain_python_ftl": path(row["baseline_plain_python"], row["waf_baseline"]),  # type: ignore[arg-type]
        },
    }


def run_suite(mode: str, sections: tuple[str, ...], clock: str, profile: bool,
              log: Callable[[str], None]) -> dict[str, Any]:
    cfg = MODES[mode]
    res: dict[str, Any] = {}
    t_start = time.perf_counter()

    def step(name: str) -> float:
        log(f"[{time.perf_counter() - t_start:6.1f}s] {name} ...")
        return time.perf_counter()

    if "rt" in sections:
        t = step("round trips")
        stacks = bench_roundtrip.DEFAULT_STACKS + (bench_roundtrip.FLASH_STACKS if cfg["rt_flash"] else ())
        res["roundtrip"] = bench_roundtrip.measure(stacks, bench_roundtrip.ORDERS, cfg["rt_batch"],
                                                   cfg["rt_repeats"], clock=clock,
                                                   warmup=0 if mode == "smoke" else 1)
        res["roundtrip"]["device_ops"] = bench_roundtrip.device_op_costs(
            count=cfg["zswap_pages"], repeats=cfg["zswap_repeats"], clock=clock,
            warmup=0 if mode == "smoke" else 1)
        res["roundtrip"]["seconds"] = time.perf_counter() - t
    if "zswap" in sections:
        t = step("zswap layer vs codec")
        res["zswap"] = bench_zswap.measure(cfg["zswap_pages"], cfg["zswap_repeats"], clock=clock,
                                           warmup=0 if mode == "smoke" else 1)
        res["zswap"]["seconds"] = time.perf_counter() - t
    if "replay" in sections:
        t = step("workload replay")
        events = cfg["replay_events"] or bench_replay.DEFAULT_EVENTS
        extra = tuple(s for s in bench_roundtrip.DEFAULT_STACKS if s != "swapfile") if cfg["replay_extra"] else ()
        res["replay"] = bench_replay.measure(("swapfile",), cfg["replay_repeats"], events, extra_stacks=extra)
        res["replay"]["seconds"] = time.perf_counter() - t
    if "scale" in sections:
        t = step("scale")
        res["scale"] = {
            "swapon_time": bench_scale.swapon_time(repeats=cfg["swapon_repeats"], clock=clock),
            "swapon_memory": bench_scale.swapon_memory(),
            "per_page": bench_scale.per_page_cost(count=cfg["perpage_count"], repeats=cfg["perpage_repeats"],
                                                  clock=clock),
            "slot_bytes": bench_scale.measure_slot_bytes(cfg["slot_n"]),
        }
        res["scale"]["seconds"] = time.perf_counter() - t
    if "nand" in sections:
        t = step("NAND model")
        res["nand"] = nand_section(cfg["nand_logical"], cfg["nand_repeats"], smoke=mode == "smoke")
        res["nand"]["seconds"] = time.perf_counter() - t
    if "dispatch" in sections:
        t = step("dispatch")
        res["dispatch"] = bench_dispatch.measure(cfg["dispatch_calls"], cfg["dispatch_repeats"], clock=clock,
                                                 warmup=0 if mode == "smoke" else 1)
        res["dispatch"]["seconds"] = time.perf_counter() - t
    if profile:
        t = step("profiles")
        count = 64 if mode == "smoke" else 1024
        batches = 2 if mode == "smoke" else 20
        res["profiles"] = {
            "roundtrip_swapfile": bench_roundtrip.profile_roundtrip("swapfile", 0, count, batches),
            "roundtrip_vswap_swapfile": bench_roundtrip.profile_roundtrip("vswap>swapfile", 0, count, batches),
            "roundtrip_vswap_swapfile_o9": bench_roundtrip.profile_roundtrip(
                "vswap>swapfile", 9, max(1, count >> 8), batches),
            "roundtrip_zswap_swapfile": bench_roundtrip.profile_roundtrip("zswap>swapfile", 0, count, batches),
            "roundtrip_flashbuf_swapfile": bench_roundtrip.profile_roundtrip(
                "flashbuf>swapfile", 0, count, batches),
            "replay_swapfile": bench_replay.profile_replay("swapfile", 4096 if mode == "smoke" else 100_000),
        }
        res["profiles"]["seconds"] = time.perf_counter() - t
    log(f"[{time.perf_counter() - t_start:6.1f}s] done")
    return res


# --------------------------------------------------------------------------- output


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit in ("events/s", "writes/s"):
        return f"{value:,.0f} {unit}"
    if unit == "x":
        return f"{value:.3g}x" if value >= 10 else f"{value:.3f}x"
    return f"{value:.2f} {unit}"


def print_tables(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 150)
    m = doc["machine"]
    console.print(f"[bold]swapops benchmarks[/bold] {doc['mode']} · {doc['date']} · {m['cpu']} "
                  f"({m['cores']} cores) · Python {m['python']} · clock {doc['clock']}")
    rt = doc["results"].get("roundtrip")
    if rt:
        table = Table(title="Round trip per 4 KiB page (µs, median; swap_out + swap_in + swap_free)")
        table.add_column("stack")
        orders = list(rt["us_per_page"])
        for order in orders:
            table.add_column("4 KiB" if order == "0" else f"order {order}", justify="right")
        names = ["floor", *rt["stacks"]]
        for name in names:
            cells = []
            for order in orders:
                cell = rt["us_per_page"][order].get(name)
                err = rt["errors"].get(f"{order}|{name}")
                cells.append(f"{cell['us_per_page']['median']:.2f}" if cell else ("error" if err else "-"))
            table.add_row("copy floor (plain Python)" if name == "floor" else name, *cells)
        console.print(table)
        rtab = Table(title="Ratios (per repeat, then median)")
        rtab.add_column("ratio")
        for order in orders:
            rtab.add_column("4 KiB" if order == "0" else f"order {order}", justify="right")
        keys = list(dict.fromkeys(k for order in orders for k in rt["ratios"][order]))
        for key in keys:
            rtab.add_row(key, *[
                f"{rt['ratios'][o][key]['median']:.3f}" if key in rt["ratios"][o] else "-" for o in orders
            ])
        console.print(rtab)
    z = doc["results"].get("zswap")
    if z:
        zt = Table(title=f"zswap layer vs {z['compressor']} codec (µs per 4 KiB page, median)")
        zt.add_column("part")
        zt.add_column("µs", justify="right")
        for name, cell in z["us_per_page"].items():
            zt.add_row(name, f"{cell['median']:.2f}")
        console.print(zt)
    rp = doc["results"].get("replay")
    if rp:
        pt = Table(title=f"Workload replay ({rp['workload']}, {rp['events']:,} events)")
        pt.add_column("stack")
        pt.add_column("events/s (cpu)", justify="right")
        pt.add_column("events/s (wall)", justify="right")
        for stack, cell in rp["stacks"].items():
            pt.add_row(stack, f"{cell['events_per_s_cpu']['median']:,.0f}",
                       f"{cell['events_per_s_wall']['median']:,.0f}")
        console.print(pt)
    sc = doc["results"].get("scale")
    if sc:
        st = Table(title="Scale: swapon of RAM-backed devices at 0 % use")
        st.add_column("stack")
        st.add_column("size")
        st.add_column("swapon ms", justify="right")
        st.add_column("memory MB", justify="right")
        for stack, rows in sc["swapon_time"]["stacks"].items():
            for size, cell in rows.items():
                mem = sc["swapon_memory"][stack][size]["bytes"]
                st.add_row(stack, size, f"{cell['ms']['median']:.2f}", f"{mem / MB:.3f}")
        console.print(st)
    dp = doc["results"].get("dispatch")
    if dp:
        dt = Table(title="Dispatch: one read_folio call of a RAM-backed swapfile (ns, median)")
        dt.add_column("path")
        dt.add_column("ns per call", justify="right")
        labels = {"direct": "bound method", "table": "dispatch table (the core's path)",
                  "pluggy": "pluggy broadcast, 1 implementation"}
        for name, cell in dp["ns"].items():
            dt.add_row(labels.get(name, name), f"{cell['median']:.0f}")
        dt.add_row("dispatch cost (table - bound method)", f"{dp['dispatch_ns']['median']:.0f}")
        dt.add_row("broadcast cost (pluggy - bound method)", f"{dp['broadcast_ns']['median']:.0f}")
        console.print(dt)
    tt = Table(title="Targets (issue 8)")
    tt.add_column("target")
    tt.add_column("goal", justify="right")
    tt.add_column("measured", justify="right")
    tt.add_column("")
    tt.add_column("note", max_width=60)
    for t in doc["targets"]:
        status = {True: "[green]met[/green]", False: "[red]MISSED[/red]", None: "n/a"}[t["met"]]
        tt.add_row(t["what"], t["target"], _fmt(t["measured"], t["unit"]), status, t["note"])
    console.print(tt)
    prof = doc["results"].get("profiles")
    if prof:
        for key in ("roundtrip_swapfile", "roundtrip_vswap_swapfile"):
            p = prof[key]  # the others are in the JSON
            pt2 = Table(title=f"cProfile {p['stack']} round trip, order {p['order']} "
                              f"(µs/page under the profiler: {p['profiled_us_per_page']:.2f})")
            pt2.add_column("function")
            pt2.add_column("calls/page", justify="right")
            pt2.add_column("own µs/page", justify="right")
            pt2.add_column("share", justify="right")
            for row in p["top"][:12]:
                pt2.add_row(row["function"], f"{row['calls_per_page']:.2f}",
                            f"{row['tottime_us_per_page']:.2f}", f"{row['share']:.0%}")
            console.print(pt2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", metavar="PATH", help="write the results here (directories are created)")
    ap.add_argument("--quick", action="store_true", help="fewer repeats (about 1-2 minutes)")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes, one repeat: checks the harness runs (seconds); figures are meaningless")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"sections to run (default: {','.join(SECTIONS)})")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="cpu: the thread's CPU time (default; robust on a shared machine); wall: monotonic")
    ap.add_argument("--profile", action="store_true", help="add cProfile hot spots of the round trips and replay")
    ap.add_argument("--no-table", action="store_true", help="do not print the tables")
    args = ap.parse_args(argv)
    sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown section {unknown[0]!r} (choose from {', '.join(SECTIONS)})")
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    warnings.simplefilter("ignore")
    started = now_iso()
    t0 = time.perf_counter()
    machine = machine_info()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    results = run_suite(mode, sections, args.clock, args.profile, log)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "command": "python " + " ".join([os.path.relpath(sys.argv[0]) if argv is None else "benchmarks/run.py",
                                         *(sys.argv[1:] if argv is None else argv)]),
        "mode": mode,
        "date": started,
        "finished": now_iso(),
        "duration_s": time.perf_counter() - t0,
        "clock": args.clock,
        "machine": machine,
        "sections": list(sections),
        "config": {k: (v if not isinstance(v, dict) else {str(a): b for a, b in v.items()})
                   for k, v in MODES[mode].items()},
        "targets": [],
        "results": results,
    }
    with contextlib.suppress(OSError):
        doc["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc["targets"] = targets(results)
    if not args.no_table:
        print_tables(doc)
    if args.json:
        path = os.path.abspath(args.json)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(doc, f, indent=1, allow_nan=False, default=_json_default)
            f.write("\n")
        log(f"wrote {args.json}")
    return 0


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


if __name__ == "__main__":
    raise SystemExit(main())
