"""Metrics of a run: per layer, per swap area and in total.

Everything here is read from what the core and the modules report
(``SwapSystem.stats()``, each device's ``stats()`` and ``kernel_overhead()``)
plus the mm model's counters; nothing is estimated on the side. Which figures
are *modeled* rather than counted:

* ``kernel_bytes`` / ``kernel_static_bytes``: the metadata the design would
  cost inside Linux (each module's ``kernel_overhead()``, formulas in
  :mod:`swapops.overhead`);
* ``modeled_time_ns``: device service time from the timing profiles
  (:mod:`swapops.timing`), the NAND model and the modules' own cost models;
* ``nand_writes`` / ``waf``: the NAND/FTL model of ``swapfile:device=flash``.

Counts (pswpout, pswpin, zswpout, slots, pool pages, PTE visits, faults) are
exact counts of simulated events; ``docs/counters.md`` says what each one
counts and which kernel counter it mirrors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .device import SwapDevice
from .system import SwapSystem

#: Keys of ``totals`` in the order the comparison table shows them. Names the
#: kernel has (``/proc/vmstat``, ``/sys/kernel/debug/zswap``) mean what the
#: kernel means; ``docs/counters.md`` documents every key.
TOTAL_KEYS = (
    "pswpout", "pswpin", "swpout_zero", "swpin_zero", "swap_entries_allocated", "swap_entries_read",
    "swap_entries", "slots_used", "slots_used_peak", "device_slots_used",
    "host_writes", "nand_writes", "waf", "flash_erases",
    "zswpout", "zswpin", "zswpwb", "pool_limit_hit", "reject_compress_fail", "reject_compress_poor",
    "reject_reclaim_fail", "zswap_rejected", "pool_pages", "stored_pages", "stored_bytes", "compression_ratio",
    "pgfault", "pgmajfault", "swap_ra", "swap_ra_hit", "swap_cache_freed_full",
    "kernel_bytes", "kernel_static_bytes", "modeled_time_ns",
)

#: totals copied from the mm model's counters (``MM.stats()``).
MM_TOTAL_KEYS = ("pgfault", "pgmajfault", "swap_ra", "swap_ra_hit", "swap_cache_freed_full")

#: zswap counters summed over the ``cache`` layers (debugfs and vmstat names).
ZSWAP_TOTAL_KEYS = ("zswpout", "zswpin", "zswpwb", "pool_limit_hit", "reject_compress_fail",
                    "reject_compress_poor", "reject_reclaim_fail")


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)  # numpy scalar
    if item is not None:
        return clean(item())
    return value


def layers_of(system: SwapSystem) -> list[SwapDevice]:
    """Every active device of every stack, top to bottom, area after area."""
    return [dev for top in system.devices for dev in top.layers()]


def _slot_layer(kind: str, holds: str) -> bool:
    """Whether a layer's ``used`` counts as storage slots: a physical or buffer
    layer, unless it stores nothing (flashbuf, a buffer, hands out the slots
    of its segments; a ghost swapfile's slots are only names)."""
    if kind == "physical":
        return holds != "nothing"
    return kind == "buffer"


def _num(stats: Mapping[str, Any], key: str) -> float:
    value = stats.get(key, 0)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return 0


def layer_report(dev: SwapDevice, position: int) -> dict[str, Any]:
    return {
        "position": position,
        "module": dev.NAME,
        "kind": dev.KIND,
        # what /proc/swaps would name this layer were it a stack's top (swapops.areas)
        "filename": dev.filename,
        "swap_type": dev.swap_type,
        "holds": dev.holds(),
        "size": dev.size,
        "used": dev.used,
        "stats": clean(dev.stats()),
        "kernel_overhead": clean(dev.kernel_overhead()),
    }


def area_report(system: SwapSystem) -> list[dict[str, Any]]:
    """Per swap area: the core's counters and every layer's report."""
    core = system.stats()
    out = []
    for swap_type, area in core["areas"].items():
        top = system.area(swap_type).device
        row = system.swaps_row(swap_type)
        out.append(
            {
                "type": swap_type,
                "stack": area["stack"],
                "priority": area["priority"],
                # the area's /proc/swaps row, in its units (KiB): what `swapops swaps` shows
                "proc_swaps": {"filename": row.filename, "type": row.type, "size": row.size,
                               "used": row.used, "priority": row.priority},
                "pswpout": area["pswpout"],
                "pswpin": area["pswpin"],
                "swpout_zero": area["swpout_zero"],
                "swpin_zero": area["swpin_zero"],
                "swap_entries_allocated": area["swap_entries_allocated"],
                "swap_entries_read": area["swap_entries_read"],
                "entries": area["entries"],
                "layers": [layer_report(dev, i) for i, dev in enumerate(top.layers())],
            }
        )
    return out


def totals(system: SwapSystem, areas: Iterable[Mapping[str, Any]],
           mm: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Sum the areas' figures (and the mm model's, if given) into the ``totals``
    keys (:data:`TOTAL_KEYS`)."""
    core = system.stats()
    t: dict[str, Any] = dict.fromkeys(TOTAL_KEYS, 0)
    for key in ("pswpout", "pswpin", "swpout_zero", "swpin_zero", "swap_entries_allocated",
                "swap_entries_read", "swap_entries"):
        t[key] = core[key]
    flash = False
    for area in areas:
        # Slots backed by storage: the top-most buffer or physical layer hands them out
        # (flashbuf claims its whole device below as segments up front). A layer
        # that stores nothing (a ghost swapfile) gives entries an identity only.
        for layer in area["layers"]:
            if _slot_layer(layer["kind"], layer.get("holds", "any")):
                t["slots_used"] += layer["used"]
                break
        for layer in area["layers"]:
            st = layer["stats"]
            kind = layer["kind"]
            t["kernel_bytes"] += _num(layer["kernel_overhead"], "total_bytes")
            t["kernel_static_bytes"] += _num(layer["kernel_overhead"], "static_bytes")
            t["modeled_time_ns"] += _num(st, "modeled_time_ns")
            if kind == "physical":
                if layer.get("holds", "any") != "nothing":
                    t["device_slots_used"] += layer["used"]
                if "pool_pages" in st:  # a compressed device (zram): its pool is memory too
                    t["pool_pages"] += _num(st, "pool_pages")
                    t["stored_pages"] += _num(st, "stored_pages")
                    t["stored_bytes"] += _num(st, "stored_bytes")
                if "flash_nand_writes" in st:
                    flash = True
                    t["host_writes"] += _num(st, "flash_host_writes")
                    t["nand_writes"] += _num(st, "flash_nand_writes")
                    t["flash_erases"] += _num(st, "flash_erases")
            elif kind == "cache":
                t["pool_pages"] += _num(st, "pool_pages")
                t["stored_pages"] += _num(st, "stored_pages")
                t["stored_bytes"] += _num(st, "stored_bytes")
                for key in ZSWAP_TOTAL_KEYS:
                    t[key] += _num(st, key)
                t["zswap_rejected"] += sum(_num(st, k) for k in st if str(k).startswith("reject_"))
    if mm is not None:
        for key in MM_TOTAL_KEYS:
            t[key] = mm.get(key, 0)
    t["compression_ratio"] = t["stored_pages"] / t["pool_pages"] if t["pool_pages"] else None
    t["waf"] = t["nand_writes"] / t["host_writes"] if flash and t["host_writes"] else None
    if not flash:
        t["host_writes"] = t["nand_writes"] = t["flash_erases"] = None
    t["slots_used_peak"] = t["slots_used"]  # the runner raises it to the sampled peak
    for key, value in t.items():
        if isinstance(value, float) and value.is_integer() and key not in ("waf", "compression_ratio"):
            t[key] = int(value)
    return t


class Sampler:
    """Time series and peaks over a run, sampled between chunks of events.

    ``peak()`` is cheap (the slot-providing layers' ``used``) and runs after
    every chunk; ``sample(events)`` reads the layers' stats for the series
    (swap usage, pool size, WAF) and runs about ``points`` times per run.
    """

    def __init__(self, system: SwapSystem, ram_used: Any, total_events: int, points: int = 60) -> None:
        self.system = system
        self.ram_used = ram_used  # callable -> int
        self.every = max(1, total_events // max(1, points))
        self.next_at = 0
        self.slots_peak = 0
        self.series: dict[str, list[Any]] = {
            "events": [], "ram_used": [], "swap_entries": [], "slots_used": [], "pool_pages": [], "waf": [],
        }
        self.refresh()

    def refresh(self) -> None:
        """Re-read the layer list (after a swapon or swapoff)."""
        devs = layers_of(self.system)
        self._physical = [d for d in devs if d.KIND == "physical"]
        self._cache = [d for d in devs if d.KIND == "cache"]
        self._slots = []  # per area, the layer whose used counts as slots_used
        for top in self.system.devices:
            for dev in top.layers():
                if _slot_layer(dev.KIND, dev.holds()):
                    self._slots.append(dev)
                    break

    def peak(self) -> int:
        used = 0
        for dev in self._slots:
            used += dev.used
        if used > self.slots_peak:
            self.slots_peak = used
        return used

    def maybe_sample(self, events: int) -> None:
        self.peak()
        if events >= self.next_at:
            self.sample(events)
            self.next_at = events + self.every

    def sample(self, events: int) -> None:
        s = self.series
        s["events"].append(events)
        s["ram_used"].append(self.ram_used())
        s["swap_entries"].append(self.system.nr_entries())
        s["slots_used"].append(self.peak())
        s["pool_pages"].append(sum(int(_num(d.stats(), "pool_pages")) for d in self._cache))
        host = nand = 0.0
        for dev in self._physical:
            st = dev.stats()
            host += _num(st, "flash_host_writes")
            nand += _num(st, "flash_nand_writes")
        s["waf"].append(nand / host if host else None)


def bytes_h(n: float | None) -> str:
    """``12.3 MiB`` style (binary units)."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


__all__ = ["TOTAL_KEYS", "MM_TOTAL_KEYS", "ZSWAP_TOTAL_KEYS", "Sampler", "area_report", "totals", "layer_report", "layers_of", "clean", "bytes_h"]
