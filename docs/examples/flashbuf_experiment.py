"""The flash write-amplification experiment: the same random swap workload on
several stacks, measured through the public API only.

Workload: unique, non-zero 4 KiB pages are swapped out and swapped entries
freed in random order (a uniformly chosen live entry), the number of live
entries sweeping up and down between ``lo`` and ``hi`` times a common base
(each step swaps out with probability 3/4 while rising, 1/4 while falling,
turning at the bounds), so the use is spread evenly over the band. The base
is the smallest ``size`` among the compared stacks (or the first stack's), so
every stack sees exactly the same swap-outs and frees. Every freed entry is read back and compared with what
was written, and so is every entry still live at the end. After a warm-up
(``warmup`` device-sizes of swap-outs, so the FTL reaches steady state) the
NAND counters of the ``swapfile`` layer are snapshotted, ``measure``
device-sizes of swap-outs run, and the differences are reported:

* ``ftl_waf`` = NAND page programs / host page writes the FTL received;
* ``end_to_end`` = NAND page programs / pages the user swapped out (for
  flashbuf this includes its own cleaning copies, which are host writes to
  the FTL).

Run ``python docs/examples/flashbuf_experiment.py --help`` for the command line.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from typing import Any

import swapops
from swapops.folio import Folio
from swapops.sizes import PAGE_SIZE, parse_size

BASELINE = "swapfile:device=flash,op={op},pages_per_block={ppb},gc={gc}"
FLASHBUF = "flashbuf{fbopts}>swapfile:device=flash,op={op},pages_per_block={ppb},gc={gc}"


def default_stacks(op: float = 0.07, pages_per_block: int = 256, gc: str = "greedy",
                   extra: bool = False) -> list[tuple[str, str]]:
    """``(label, stack string)`` pairs: the baseline and flashbuf over the same geometry.

    With ``extra`` also the baseline with cluster discard and flashbuf variants
    (cost-benefit cleaning, no discard).
    """
    fmt = {"op": op, "ppb": pages_per_block, "gc": gc}
    stacks = [
        ("swapfile", BASELINE.format(**fmt)),
        ("flashbuf>swapfile", FLASHBUF.format(fbopts="", **fmt)),
    ]
    if extra:
        stacks[1:1] = [("swapfile discard=on", BASELINE.format(**fmt) + ",discard=true")]
        stacks += [
            ("flashbuf cleaning=cost-benefit",
             FLASHBUF.format(fbopts=":cleaning=cost-benefit", **fmt)),
            ("flashbuf discard=off", FLASHBUF.format(fbopts=":discard=false", **fmt)),
        ]
    return stacks


def _page(key: int) -> bytes:
    return (key | 1 << 63).to_bytes(8, "little") * (PAGE_SIZE // 8)


def _flash_counters(system: swapops.SwapSystem) -> dict[str, float]:
    """The NAND counters of the (only) swapfile layer, from ``system.stats()``."""
    for area in system.stats()["areas"].values():
        for name, layer in area["layers"].items():
            if name.endswith(":swapfile") and "flash_host_writes" in layer:
                return {k[len("flash_"):]: v for k, v in layer.items() if k.startswith("flash_")}
    raise swapops.ConfigError("no swapfile layer with device=flash in this system")


def _layer_stats(system: swapops.SwapSystem, module: str) -> dict[str, Any]:
    for area in system.stats()["areas"].values():
        for name, layer in area["layers"].items():
            if name.endswith(":" + module):
                return dict(layer)
    return {}


def run_workload(
    stack: str,
    size: int | str,
    *,
    base: int | None = None,
    lo: float = 0.80,
    hi: float = 0.90,
    warmup: float = 2.0,
    measure: float = 2.0,
    seed: int = 0,
    peak: float | None = None,
) -> dict[str, Any]:
    """Run the random swap workload on one stack; return its measured row.

    :param stack: a stack string ending in ``swapfile:device=flash,...``.
    :param size: the swapfile size (bytes or ``"64M"``).
    :param base: pages the live band refers to (default: this stack's size).
    :param lo, hi: live entries stay within ``[lo * base, hi * base]``.
    :param warmup, measure: swap-outs of each phase, in multiples of ``base``.
    :param seed: seeds the workload (which entry to free, out or free).
    :param peak: first fill to ``peak * base`` live entries (a past burst of
        memory pressure), then settle into the band; ``None``: no burst.
    """
    system = swapops.SwapSystem(seed=seed)
    top = system.swapon(stack, size=size)
    n_base = top.size if base is None else base
    low = int(lo * n_base)
    high = int(hi * n_base)
    top_fill = high if peak is None else max(high, int(peak * n_base))
    if top_fill > top.size:
        raise swapops.ConfigError(f"{stack}: filling to {top_fill} pages exceeds its size {top.size}")
    rng = random.Random(seed)
    live: list[tuple[int, int]] = []  # (entry offset, key)
    swap_type = top.type
    next_key = 0
    mismatches = 0
    verified = 0
    outs = 0
    up = True
    wall = time.perf_counter()
    before: dict[str, float] = {}
    while peak is not None and len(live) < top_fill:
        live.append((system.swap_out(Folio(_page(next_key)))[1], next_key))
        next_key += 1
    phases = ((warmup, False), (measure, True))
    for multiple, measuring in phases:
        if measuring:
            system.unplug()
            before = _flash_counters(system)
            fb_before = _layer_stats(system, "flashbuf")
            outs = 0
        target = int(multiple * n_base)
        done = 0
        while done < target:
            n = len(live)
            if n >= high:
                up = False
            elif n <= low:
                up = True
            if not n or rng.random() < (0.75 if up else 0.25):
                key = next_key
                next_key += 1
                entry = system.swap_out(Folio(_page(key)))
                live.append((entry[1], key))
                done += 1
            else:
                i = rng.randrange(n)
                offset, key = live[i]
                live[i] = live[-1]
                live.pop()
                entry = (swap_type, offset)
                verified += 1
                if system.swap_in(entry).data != _page(key):
                    mismatches += 1
                system.swap_free(entry)
        outs = done
    system.unplug()
    after = _flash_counters(system)
    fb_after = _layer_stats(system, "flashbuf")
    for offset, key in live:
        verified += 1
        if system.swap_in((swap_type, offset)).data != _page(key):
            mismatches += 1
    host = after["host_writes"] - before["host_writes"]
    nand = after["nand_writes"] - before["nand_writes"]
    row: dict[str, Any] = {
        "stack": stack,
        "peak": peak,
        "size_pages": top.size,
        "band_pages": (low, high),
        "use_lo": low / top.size,
        "use_hi": high / top.size,
        "user_pages": outs,
        "host_writes": host,
        "nand_writes": nand,
        "erases": after["erases"] - before["erases"],
        "ftl_waf": nand / host if host else float("nan"),
        "end_to_end": nand / outs if outs else float("nan"),
        "cleaning_copies": fb_after.get("cleaning_copies", 0) - fb_before.get("cleaning_copies", 0),
        "erase_count_max": after["erase_count_max"],
        "erase_count_mean": after["erase_count_mean"],
        "verified": verified,
        "mismatches": mismatches,
        "seconds": time.perf_counter() - wall,
    }
    report = system.swapoff(top)
    row["swapoff_restored"] = len(report.restored)
    return row


def compare(
    size: int | str = "64M",
    *,
    op: float = 0.07,
    pages_per_block: int = 256,
    gc: str = "greedy",
    lo: float = 0.80,
    hi: float = 0.90,
    warmup: float = 2.0,
    measure: float = 2.0,
    seed: int = 0,
    stacks: Sequence[tuple[str, str]] | None = None,
    extra: bool = False,
    band_of: str = "smallest",
    peak: float | None = None,
) -> list[dict[str, Any]]:
    """The same workload on every stack (default: baseline and flashbuf); one row each.

    Every stack sees the same sequence of swap-outs and frees. The live band
    refers to the smallest stack size (``band_of="smallest"``: no stack is
    fuller than ``hi``) or to the first stack's, the baseline
    (``band_of="first"``: the baseline runs at exactly ``lo``–``hi`` use and
    flashbuf, smaller by its reserve, somewhat fuller).
    """
    chosen = list(stacks) if stacks is not None else default_stacks(op, pages_per_block, gc, extra)
    sizes = []
    for _label, spec in chosen:
        probe = swapops.SwapSystem(seed=seed)
        dev = probe.swapon(spec, size=size)
        sizes.append(dev.size)
        probe.swapoff(dev)
    if band_of not in ("smallest", "first"):
        raise swapops.ConfigError(f"band_of must be 'smallest' or 'first', not {band_of!r}")
    base = min(sizes) if band_of == "smallest" else sizes[0]
    rows = []
    for label, spec in chosen:
        row = run_workload(spec, size, base=base, lo=lo, hi=hi, warmup=warmup, measure=measure, seed=seed,
                           peak=peak)
        row["label"] = label
        rows.append(row)
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of :func:`compare` rows, with the ratio to the first row."""
    ref = rows[0]
    lines = [
        "| stack | size (pages) | use | user pages | FTL host writes | NAND writes | FTL WAF | "
        "end-to-end | flashbuf cleaning copies | erases | FTL WAF vs first | end-to-end vs first | "
        "read back |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.get('label', r['stack'])} | {r['size_pages']} | "
            f"{100 * r['use_lo']:.0f}–{100 * r['use_hi']:.0f} % | {r['user_pages']} | {r['host_writes']} | "
            f"{r['nand_writes']} | {r['ftl_waf']:.2f} | {r['end_to_end']:.2f} | {r['cleaning_copies']} | "
            f"{r['erases']} | {ref['ftl_waf'] / r['ftl_waf']:.2f}× lower | "
            f"{ref['end_to_end'] / r['end_to_end']:.2f}× lower | "
            f"{r['verified']} pages, {r['mismatches']} mismatches |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python docs/examples/flashbuf_experiment.py",
        description="NAND write amplification of a random swap workload: swapfile vs flashbuf>swapfile.",
    )
    parser.add_argument("--size", default="64M", help="swapfile size (default 64M)")
    parser.add_argument("--op", type=float, default=0.07, help="NAND over-provisioning (default 0.07)")
    parser.add_argument("--pages-per-block", type=int, default=256, help="erase block pages (default 256)")
    parser.add_argument("--gc", default="greedy", choices=("greedy", "fifo", "cost-benefit"))
    parser.add_argument("--lo", type=float, default=0.80, help="lower bound of the live band")
    parser.add_argument("--hi", type=float, default=0.90, help="upper bound of the live band")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up swap-outs in device sizes")
    parser.add_argument("--measure", type=float, default=2.0, help="measured swap-outs in device sizes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extra", action="store_true", help="also discard=on and flashbuf variants")
    parser.add_argument("--band-of", default="smallest", choices=("smallest", "first"),
                        help="the live band refers to the smallest stack (default) or the baseline")
    parser.add_argument("--peak", type=float, default=None,
                        help="fill to this fraction of the band base once before settling (a past burst)")
    args = parser.parse_args(argv)
    rows = compare(
        parse_size(args.size), op=args.op, pages_per_block=args.pages_per_block, gc=args.gc,
        lo=args.lo, hi=args.hi, warmup=args.warmup, measure=args.measure, seed=args.seed,
        extra=args.extra, band_of=args.band_of, peak=args.peak,
    )
    print(format_table(rows))
    bad = sum(r["mismatches"] for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
