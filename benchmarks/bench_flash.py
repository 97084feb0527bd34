"""Throughput of the NAND/FTL model under uniform random writes with greedy GC.

Run from the repository root::

    python benchmarks/bench_flash.py                      # table + benchmarks/results/flash.json
    python benchmarks/bench_flash.py --json out.json --op 0.07,0.28 --repeats 7
    python benchmarks/bench_flash.py --waf-table          # docs/flash.md validation table

For each over-provisioning level the device (default 262,144 logical pages of
4 KiB = 1 GiB, 256 pages per block) is filled sequentially and warmed up with
``--warmup`` x logical random writes, so GC runs in steady state. Then:

* ``write_many``: batches of ``--batch`` random LPNs (pre-generated numpy array);
* ``write``: a Python loop calling ``NandFlash.write`` on ``--scalar`` LPNs
  (a list of ints), closed by ``snapshot()`` so buffered writes are included;
* ``baseline``: a plain-Python page-mapped FTL (lists and dicts, greedy via
  buckets of blocks by valid count) on the same ``--scalar`` LPNs, as a
  yardstick that moves with the machine's load.

Each figure is the median of ``--repeats`` runs. "host/s" counts host page
writes, "nand/s" counts pages programmed (host + GC copies). Wall-clock and
process CPU time are both reported: on a shared machine the CPU figure is the
steadier one; the load average is recorded in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from swapops.flash import (
    FlashGeometry,
    NandFlash,
    agarwal_waf,
    desnoyers_greedy_waf,
    fifo_waf,
    greedy_waf,
)

ROOT = Path(__file__).resolve().parent


class PlainPythonGreedyFTL:
    """A straightforward page-mapped FTL in plain Python (the yardstick).

    l2p/p2l lists, one write frontier, greedy victim from a list of sets of
    closed blocks indexed by valid count; one page at a time.
    """

    def __init__(self, n_logical: int, n_blocks: int, ppb: int) -> None:
        self.ppb = ppb
        self.l2p = [-1] * n_logical
        self.p2l = [-1] * (n_blocks * ppb)
        self.valid = [0] * n_blocks
        self.buckets: list[set[int]] = [set() for _ in range(ppb + 1)]
        self.free = list(range(n_blocks - 1, 0, -1))
        self.open = 0
        self.wp = 0
        self.end = ppb
        self.host = self.copies = 0

    def _program(self, lpn: int) -> None:
        wp = self.wp
        self.l2p[lpn] = wp
        self.p2l[wp] = lpn
        self.valid[self.open] += 1
        self.wp = wp + 1

    def write(self, lpn: int) -> None:
        old = self.l2p[lpn]
        if old >= 0:
            self.p2l[old] = -1
            blk = old // self.ppb
            v = self.valid[blk]
            self.valid[blk] = v - 1
            if blk != self.open:
                self.buckets[v].discard(blk)
                self.buckets[v - 1].add(blk)
        self._program(lpn)
        self.host += 1
        if self.wp == self.end:
            self._next_block()

    def _next_block(self) -> None:
        self.buckets[self.valid[self.open]].add(self.open)
        self.open = self.free.pop()
        self.wp = self.open * self.ppb
        self.end = self.wp + self.ppb
        if not self.free:
            victim = next(b for bucket in self.buckets for b in bucket)
            self.buckets[self.valid[victim]].discard(victim)
            base = victim * self.ppb
            for p in range(base, base + self.ppb):
                lpn = self.p2l[p]
                if lpn >= 0:
                    self.p2l[p] = -1
                    self._program(lpn)
                    self.copies += 1
            self.valid[victim] = 0
            self.free.append(victim)


def _median_rate(run: Callable[[], int], repeats: int) -> dict[str, float]:
    walls, cpus, counts = [], [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        n = run()
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
        counts.append(n)
    n = counts[0]
    return {
        "pages": n,
        "wall_s_median": statistics.median(walls),
        "cpu_s_median": statistics.median(cpus),
        "per_s_wall": n / statistics.median(walls),
        "per_s_cpu": n / statistics.median(cpus),
    }


def bench_op(op: float, args: argparse.Namespace) -> dict[str, object]:
    g = FlashGeometry.for_logical_pages(args.logical, over_provisioning=op, pages_per_block=args.ppb, gc="greedy")
    f = NandFlash(g, seed=args.seed)
    f.write_run(0, g.logical_pages)
    f.write_random(int(args.warmup * g.logical_pages))
    rng = np.random.default_rng(args.seed + 1)
    batch = rng.integers(0, g.logical_pages, args.batch, dtype=np.int64)
    scalar = rng.integers(0, g.logical_pages, args.scalar, dtype=np.int64).tolist()

    def run_many() -> int:
        f.write_many(batch)
        return len(batch)

    def run_write() -> int:
        w = f.write
        for x in scalar:
            w(x)
        f.snapshot()
        return len(scalar)

    before = f.snapshot()
    many = _median_rate(run_many, args.repeats)
    mid = f.snapshot()
    single = _median_rate(run_write, args.repeats)
    after = f.snapshot()
    waf_many = (mid - before).waf
    waf_single = (after - mid).waf
    many["nand_per_s_wall"] = many["per_s_wall"] * waf_many
    many["nand_per_s_cpu"] = many["per_s_cpu"] * waf_many
    single["nand_per_s_wall"] = single["per_s_wall"] * waf_single
    single["nand_per_s_cpu"] = single["per_s_cpu"] * waf_single

    base = PlainPythonGreedyFTL(g.logical_pages, g.nr_blocks, g.pages_per_block)
    for lpn in range(g.logical_pages):
        base.write(lpn)
    for lpn in rng.integers(0, g.logical_pages, int(args.warmup * g.logical_pages)).tolist():
        base.write(lpn)

    def run_base() -> int:
        w = base.write
        for x in scalar:
            w(x)
        return len(scalar)

    h0, c0 = base.host, base.copies
    baseline = _median_rate(run_base, args.repeats)
    waf_base = (base.host - h0 + base.copies - c0) / (base.host - h0)
    return {
        "over_provisioning": op,
        "logical_pages": g.logical_pages,
        "nr_blocks": g.nr_blocks,
        "pages_per_block": g.pages_per_block,
        "waf": waf_many,
        "waf_baseline": waf_base,
        "write_many": many,
        "write": single,
        "baseline_plain_python": baseline,
    }


def _steady(gc: str, ppb: int, op: float, nb: int) -> tuple[FlashGeometry, float, float]:
    """Simulated steady-state WAF (seed 11; warm-up 3 x logical, measured 4 x logical) and alpha_eff."""
    logical = int(nb * ppb / (1 + op))
    g = FlashGeometry(nr_blocks=nb, pages_per_block=ppb, logical_pages=logical, gc=gc)
    f = NandFlash(g, seed=11)
    f.write_run(0, logical)
    f.write_random(3 * logical)
    f.reset_stats()
    f.write_random(4 * logical)
    return g, float(f.stats()["waf"]), logical / ((nb - 1) * ppb)


def greedy_models_table() -> None:
    """Markdown table: greedy GC against Desnoyers' Eq. 12 and our mean-field model."""
    print("\nGreedy: Desnoyers (SYSTOR 2012) Eq. 12 against our mean-field model; same runs, errors vs alpha_eff\n")
    print("| B | nr_blocks | op | simulated | Eq. 12 (alpha) | error | Eq. 12 (alpha_eff) | error | mean-field (alpha_eff) | error |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for ppb, nb in ((8, 2048), (16, 2048), (64, 1024), (256, 1024)):
        for op in (0.05, 0.07, 0.15, 0.28):
            g, sim, a_eff = _steady("greedy", ppb, op, nb)
            d, d_eff, m_eff = desnoyers_greedy_waf(g.alpha, ppb), desnoyers_greedy_waf(a_eff, ppb), greedy_waf(a_eff, ppb)
            print(
                f"| {ppb} | {nb} | {op:.2f} | {sim:.4f} | {d:.4f} | {(sim / d - 1) * 100:+.2f} % | {d_eff:.4f} | "
                f"{(sim / d_eff - 1) * 100:+.2f} % | {m_eff:.4f} | {(sim / m_eff - 1) * 100:+.2f} % |"
            )


def waf_table(args: argparse.Namespace) -> None:
    """Markdown tables: simulated steady-state WAF against the analytic models."""
    ops = [0.07, 0.15, 0.28, 0.5, 1.0]
    nb = 1024
    print(f"nr_blocks={nb}, gc_low_watermark=1, seed 11; warm-up 3 x logical, measured 4 x logical random writes")
    print("alpha_eff = logical / ((nr_blocks - 1) * pages_per_block): the reserve block holds no data\n")
    print("| GC | B | op | alpha | model(alpha) | model(alpha_eff) | simulated | error | error vs alpha_eff | Agarwal |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for gc in ("fifo", "greedy"):
        for ppb in (64, 256):
            for op in ops:
                logical = int(nb * ppb / (1 + op))
                g = FlashGeometry(nr_blocks=nb, pages_per_block=ppb, logical_pages=logical, gc=gc)
                f = NandFlash(g, seed=11)
                f.write_run(0, logical)
                f.write_random(3 * logical)
                f.reset_stats()
                f.write_random(4 * logical)
                sim = f.stats()["waf"]
                a_eff = logical / ((nb - 1) * ppb)
                if gc == "fifo":
                    ana, ana_eff = fifo_waf(g.alpha), fifo_waf(a_eff)
                else:
                    ana, ana_eff = greedy_waf(g.alpha, ppb), greedy_waf(a_eff, ppb)
                print(
                    f"| {gc} | {ppb} | {op:.2f} | {g.alpha:.4f} | {ana:.4f} | {ana_eff:.4f} | {sim:.4f} | "
                    f"{(sim / ana - 1) * 100:+.2f} % | {(sim / ana_eff - 1) * 100:+.2f} % | {agarwal_waf(g.alpha):.4f} |"
                )
    greedy_models_table()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", default=str(ROOT / "results" / "flash.json"), help="where to write the JSON results")
    p.add_argument("--op", default="0.07,0.28", help="comma-separated over-provisioning levels")
    p.add_argument("--logical", type=int, default=262_144, help="logical pages (default 1 GiB of 4 KiB)")
    p.add_argument("--ppb", type=int, default=256, help="pages per block")
    p.add_argument("--warmup", type=float, default=2.0, help="random writes before measuring, x logical")
    p.add_argument("--batch", type=int, default=1_000_000, help="LPNs per write_many run")
    p.add_argument("--scalar", type=int, default=300_000, help="LPNs per write() run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--waf-table", action="store_true", help="print the validation table and exit")
    args = p.parse_args(argv)
    if args.waf_table:
        waf_table(args)
        return 0
    load_before = os.getloadavg()
    rows = [bench_op(float(op), args) for op in args.op.split(",")]
    load_after = os.getloadavg()
    print(f"greedy GC, uniform random writes, {args.logical} logical pages, {args.ppb} pages/block; "
          f"median of {args.repeats}; load average {load_before[0]:.2f} -> {load_after[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'op':>5} {'WAF':>6} | {'path':<10} {'host/s wall':>12} {'host/s cpu':>12} {'nand/s cpu':>12}")
    for r in rows:
        for name in ("write_many", "write", "baseline_plain_python"):
            m = r[name]
            assert isinstance(m, dict)
            nand = m.get("nand_per_s_cpu", m["per_s_cpu"] * float(r["waf_baseline"]))  # type: ignore[arg-type]
            print(
                f"{r['over_provisioning']:>5.2f} {r['waf']:>6.2f} | {name[:10]:<10} "
                f"{m['per_s_wall'] / 1e6:>10.2f} M {m['per_s_cpu'] / 1e6:>10.2f} M {nand / 1e6:>10.2f} M"
            )
    out = {
        "benchmark": "flash page writes/s, uniform random, greedy GC",
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "params": {k: v for k, v in vars(args).items() if k not in ("json", "waf_table")},
        "results": rows,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
