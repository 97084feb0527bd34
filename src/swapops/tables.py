"""Rich tables for the command line: a run's figures and a comparison."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.table import Table

from .metrics import bytes_h


def _int(v: Any) -> str:
    return "-" if v is None else f"{int(v):,}"


def _ratio(v: Any) -> str:
    return "-" if v is None else f"{float(v):.2f}"


def _seconds(ns: Any) -> str:
    return "-" if ns is None else f"{float(ns) / 1e9:.3f} s"


def _pool(t: dict[str, Any]) -> str:
    if not t.get("pool_pages") and not t.get("stored_pages"):
        return "-"
    ratio = t.get("compression_ratio")
    return f"{_int(t['pool_pages'])} ({_ratio(ratio)}x)" if ratio else _int(t["pool_pages"])


def _slots(t: dict[str, Any]) -> str:
    return f"{_int(t.get('slots_used'))} / {_int(t.get('slots_used_peak'))}"


def _pair(t: dict[str, Any], a: str, b: str) -> str:
    return f"{_int(t.get(a))} / {_int(t.get(b))}"


def _zswap(t: dict[str, Any], *keys: str) -> str:
    """zswap counters, or "-" for a stack without a zswap layer (no pool ever)."""
    if not t.get("zswpout") and not t.get("zswap_rejected") and not t.get("pool_pages"):
        return "-"
    return " / ".join(_int(t.get(k)) for k in keys)


def _memory(r: dict[str, Any]) -> str:
    mem = r.get("host", {}).get("memory", {})
    if mem.get("method") == "tracemalloc":
        return f"{bytes_h(mem.get('peak_bytes'))} (tracemalloc)"
    return bytes_h((mem.get("peak_growth_kib") or 0) * 1024)


Row = tuple[str, Callable[[dict[str, Any]], str]]

#: (label, formatter of a whole result) for the comparison and run tables.
ROWS: tuple[Row, ...] = (
    ("swap-outs (entries allocated)", lambda r: _int(r["totals"]["swap_entries_allocated"])),
    ("pswpout (device writes)", lambda r: _int(r["totals"]["pswpout"])),
    ("pswpin (device reads)", lambda r: _int(r["totals"]["pswpin"])),
    ("swpout_zero / swpin_zero (no I/O)", lambda r: _pair(r["totals"], "swpout_zero", "swpin_zero")),
    ("slots used now / peak", lambda r: _slots(r["totals"])),
    ("NAND writes (modeled)", lambda r: _int(r["totals"]["nand_writes"])),
    ("WAF (modeled)", lambda r: _ratio(r["totals"]["waf"])),
    ("zswpout / zswpin", lambda r: _zswap(r["totals"], "zswpout", "zswpin")),
    ("zswpwb (written back)", lambda r: _zswap(r["totals"], "zswpwb")),
    ("pool_limit_hit / reject_compress_fail", lambda r: _zswap(r["totals"], "pool_limit_hit",
                                                             "reject_compress_fail")),
    ("zswap pool pages (stored/pool)", lambda r: _pool(r["totals"])),
    ("kernel metadata (modeled)", lambda r: bytes_h(r["totals"]["kernel_bytes"])),
    # what the design pays at swapon, whatever the use (zram's per-page table, swap_cgroup, ...)
    ("kernel metadata at swapon (modeled)", lambda r: bytes_h(r["totals"]["kernel_static_bytes"])),
    ("swapoff: PTE visits", lambda r: _int(r["totals"].get("swapoff_pte_visits"))),
    ("swapoff: entries moved", lambda r: _int(r["totals"].get("swapoff_entries_moved"))),
    ("pgmajfault", lambda r: _int(r["totals"].get("pgmajfault"))),
    ("swap_ra_hit / swap_ra", lambda r: _pair(r["totals"], "swap_ra_hit", "swap_ra")),
    ("copies freed (vm_swap_full)", lambda r: _int(r["totals"].get("swap_cache_freed_full"))),
    ("swap-out failures", lambda r: _int(r["mm"]["swapout_failures"])),
    ("modeled device time", lambda r: _seconds(r["totals"]["modeled_time_ns"])),
    ("wall time", lambda r: f"{r['host']['wall_s']:.2f} s"),
    ("events/s (replay)", lambda r: _int(r["host"].get("events_per_s"))),
    ("simulator memory (peak)", _memory),
)


def _header(stack: str) -> str:
    return stack.replace(">", ">\n")


def swap_full_note(results: Sequence[dict[str, Any]]) -> str:
    """Which columns' figures carry ``vm_swap_full()``'s effect (the table's caption).

    Where more than half of the swap space is in use, a page swapped in, or
    activated by reclaim, gives up its swap copy (``swap_cache_freed_full``)
    and its next reclaim is a new swap-out instead of a free drop: the
    columns then differ by who crossed half full, not only by design."""
    held = [r["stack"] for r in results if r["totals"].get("swap_cache_freed_full")]
    if not held:
        return ("vm_swap_full() (more than half of swap in use) never held: every column "
                "swaps out the same pages, the differences are the designs' own")
    return ("vm_swap_full() held in " + ", ".join(held) + ": its copies-freed row counts swap copies "
            "given up, each page then swapped out again, which raises swap-outs, pswpout and "
            "pswpin there (a larger --swap removes the effect)")


def compare_table(results: Sequence[dict[str, Any]], title: str = "") -> Table:
    table = Table(title=title or None, show_lines=False, header_style="bold",
                  caption=swap_full_note(results), caption_justify="left")
    table.add_column("metric", no_wrap=True)
    for r in results:
        table.add_column(_header(r["stack"]), justify="right")
    for label, fmt in ROWS:
        table.add_row(label, *[fmt(r) for r in results])
    return table


def run_table(result: dict[str, Any], keys: Sequence[str] | None = None) -> Table:
    """The figures of one run (``keys``: only these totals, by name)."""
    title = f"{result['stack']} — {result['events']:,} events of {result['workload'].get('name')}"
    # As wide as the title (within the console): a stack name is not broken mid-word.
    table = Table(title=title, header_style="bold", min_width=len(title))
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right")
    if keys:
        for key in keys:
            value = result["totals"].get(key)
            table.add_row(key, _ratio(value) if isinstance(value, float) else _int(value))
    else:
        for label, fmt in ROWS:
            table.add_row(label, fmt(result))
    return table


LAYER_KEYS = ("size", "used", "reads", "writes", "stored_pages", "pool_pages", "zswpout", "zswpwb",
              "vswap_zero", "folio_pages", "zswap_pages", "slot_pages", "pages_buffered", "flushes",
              "cleaning_copies", "flash_nand_writes", "flash_waf", "flash_erases")


def layers_table(result: dict[str, Any]) -> Table:
    """Every layer of every area with its main counters (all of them are in --json)."""
    table = Table(title="layers", header_style="bold")
    table.add_column("area")
    table.add_column("layer")
    table.add_column("kind")
    table.add_column("counters")
    table.add_column("kernel metadata (modeled)", justify="right")
    for area in result["areas"]:
        for layer in area["layers"]:
            st = layer["stats"]
            parts = [f"{k}={_ratio(st[k]) if isinstance(st[k], float) else _int(st[k])}"
                     for k in LAYER_KEYS if k in st and st[k] is not None]
            table.add_row(str(area["type"]), layer["module"], layer["kind"], " ".join(parts),
                          bytes_h(layer["kernel_overhead"].get("total_bytes")))
    return table


def swapoff_table(result: dict[str, Any]) -> Table:
    table = Table(title="swapoff", header_style="bold")
    for col in ("device", "PTE visits", "entries moved", "pages read"):
        table.add_column(col, justify="left" if col == "device" else "right")
    for s in result["swapoff"]:
        if "error" in s:
            table.add_row(s["device"], f"error: {s['error']}", "", "")
        else:
            table.add_row(s["device"], _int(s["pte_visits"]), _int(s["entries_moved"]), _int(s["pages_read"]))
    return table


def _limit(v: Any) -> str:
    return "max" if v is None else _int(v)


def cgroups_table(result: dict[str, Any]) -> Table:
    """Per cgroup and swap area: the pages with an entry there and the pages
    charged (``memory.swap.current``), then the cgroup's limits and events
    (pages; ``swapops.memcg``)."""
    table = Table(title="cgroups (pages)", header_style="bold")
    for col in ("cgroup", "procs", "tiers", "area", "entries", "swap charged", "memory / max",
                "swap / max", "events (max oom swap_max swap_fail)"):
        table.add_column(col, justify="left" if col in ("cgroup", "procs", "tiers", "area") else "right")
    for name, cg in result.get("cgroups", {}).items():
        tiers = ",".join(t for t, v in cg["memory.swap.tiers.max"].items() if v == "max") or "-"
        ev = cg["memory.events"]
        head = [name, ",".join(map(str, cg["procs"])) or "-", tiers]
        tail = [f"{_int(cg['memory.current'])} / {_limit(cg['memory.max'])}",
                f"{_int(cg['memory.swap.current'])} / {_limit(cg['memory.swap.max'])}",
                " ".join(_int(ev[k]) for k in ("max", "oom", "swap_max", "swap_fail"))]
        areas = cg["areas"] or {"-": None}
        for i, (t, a) in enumerate(areas.items()):
            where = "-" if a is None else f"{t}: {a['stack']} (prio {a['priority']}, {a['tier'] or 'no tier'})"
            cells = ["-", "-"] if a is None else [_int(a["entries"]), _int(a["charged"])]
            table.add_row(*(head if i == 0 else ["", "", ""]), where, *cells, *(tail if i == 0 else ["", "", ""]))
    return table


__all__ = ["ROWS", "compare_table", "swap_full_note", "run_table", "layers_table", "swapoff_table",
           "cgroups_table"]
