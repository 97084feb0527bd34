"""The figures ``swapops compare`` and ``swapops run`` print, each with its formatter.

:mod:`swapops.render` lays them out to the output's width."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Metric:
    """One figure of a run as the tables print it.

    ``fields`` are the dotted paths of the raw values the cell is made of
    (``totals.pswpout``): CSV prints those, the tables and Markdown the
    formatted cell. ``group`` keeps related figures in one table when a
    comparison is split over several to fit the terminal."""

    label: str
    group: str
    fmt: Callable[[dict[str, Any]], str]
    fields: tuple[str, ...]


def _m(label: str, group: str, fmt: Callable[[dict[str, Any]], str], *fields: str) -> Metric:
    return Metric(label, group, fmt, fields)


def _total(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: _int(r["totals"].get(key))


#: The figures of the comparison and run tables, in order, by group.
METRICS: tuple[Metric, ...] = (
    _m("swap-outs (entries allocated)", "I/O", _total("swap_entries_allocated"),
       "totals.swap_entries_allocated"),
    _m("pswpout (device writes)", "I/O", _total("pswpout"), "totals.pswpout"),
    _m("pswpin (device reads)", "I/O", _total("pswpin"), "totals.pswpin"),
    _m("swpout_zero / swpin_zero (no I/O)", "I/O", lambda r: _pair(r["totals"], "swpout_zero", "swpin_zero"),
       "totals.swpout_zero", "totals.swpin_zero"),
    _m("slots used now / peak", "I/O", lambda r: _slots(r["totals"]), "totals.slots_used", "totals.slots_used_peak"),
    _m("NAND writes (modeled)", "flash", _total("nand_writes"), "totals.nand_writes"),
    _m("WAF (modeled)", "flash", lambda r: _ratio(r["totals"].get("waf")), "totals.waf"),
    _m("zswpout / zswpin", "zswap", lambda r: _zswap(r["totals"], "zswpout", "zswpin"),
       "totals.zswpout", "totals.zswpin"),
    _m("zswpwb (written back)", "zswap", lambda r: _zswap(r["totals"], "zswpwb"), "totals.zswpwb"),
    _m("pool_limit_hit / reject_compress_fail", "zswap",
       lambda r: _zswap(r["totals"], "pool_limit_hit", "reject_compress_fail"),
       "totals.pool_limit_hit", "totals.reject_compress_fail"),
    _m("zswap pool pages (stored/pool)", "zswap", lambda r: _pool(r["totals"]),
       "totals.pool_pages", "totals.compression_ratio"),
    _m("kernel metadata (modeled)", "metadata", lambda r: bytes_h(r["totals"]["kernel_bytes"]),
       "totals.kernel_bytes"),
    # what the design pays at swapon, whatever the use (zram's per-page table, swap_cgroup, ...)
    _m("kernel metadata at swapon (modeled)", "metadata", lambda r: bytes_h(r["totals"]["kernel_static_bytes"]),
       "totals.kernel_static_bytes"),
    _m("swapoff: PTE visits", "swapoff", _total("swapoff_pte_visits"), "totals.swapoff_pte_visits"),
    _m("swapoff: entries moved", "swapoff", _total("swapoff_entries_moved"), "totals.swapoff_entries_moved"),
    _m("pgmajfault", "faults/readahead", _total("pgmajfault"), "totals.pgmajfault"),
    _m("swap_ra_hit / swap_ra", "faults/readahead", lambda r: _pair(r["totals"], "swap_ra_hit", "swap_ra"),
       "totals.swap_ra_hit", "totals.swap_ra"),
    _m("copies freed (vm_swap_full)", "faults/readahead", _total("swap_cache_freed_full"),
       "totals.swap_cache_freed_full"),
    _m("swap-out failures", "faults/readahead", lambda r: _int(r["mm"]["swapout_failures"]), "mm.swapout_failures"),
    _m("modeled device time", "time", lambda r: _seconds(r["totals"]["modeled_time_ns"]), "totals.modeled_time_ns"),
    _m("wall time", "host", lambda r: f"{r['host']['wall_s']:.2f} s", "host.wall_s"),
    _m("events/s (replay)", "host", lambda r: _int(r["host"].get("events_per_s")), "host.events_per_s"),
    _m("simulator memory (peak)", "host", _memory, "host.memory.peak_growth_kib", "host.memory.peak_bytes"),
)

#: (label, formatter of a whole result): :data:`METRICS` without their groups and fields.
ROWS: tuple[Row, ...] = tuple((m.label, m.fmt) for m in METRICS)


def swap_full_note(results: Sequence[dict[str, Any]]) -> str:
    """Which designs' figures carry ``vm_swap_full()``'s effect (the comparison's caption).

    Where more than half of the swap space is in use, a page swapped in, or
    activated by reclaim, gives up its swap copy (``swap_cache_freed_full``)
    and its next reclaim is a new swap-out instead of a free drop: the
    designs then differ by who crossed half full, not only by design."""
    held = [r["stack"] for r in results if r["totals"].get("swap_cache_freed_full")]
    if not held:
        return ("vm_swap_full() (more than half of swap in use) never held: every design "
                "swaps out the same pages, the differences are the designs' own")
    return ("vm_swap_full() held in " + ", ".join(held) + ": its copies-freed figure counts swap copies "
            "given up, each page then swapped out again, which raises swap-outs, pswpout and "
            "pswpin there (a larger --swap removes the effect)")


LAYER_KEYS = ("size", "used", "reads", "writes", "stored_pages", "pool_pages", "zswpout", "zswpwb",
              "vswap_zero", "folio_pages", "zswap_pages", "slot_pages", "pages_buffered", "flushes",
              "cleaning_copies", "flash_nand_writes", "flash_waf", "flash_erases")


__all__ = ["METRICS", "Metric", "ROWS", "LAYER_KEYS", "swap_full_note"]
