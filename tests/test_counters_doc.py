"""docs/counters.md documents every counter swapops reports."""

from __future__ import annotations

import pathlib
import warnings

import swapops
from swapops.metrics import TOTAL_KEYS
from swapops.mm import COUNTERS

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEXT = (ROOT / "docs" / "counters.md").read_text()


def test_every_total_and_mm_counter_is_documented() -> None:
    missing = [k for k in (*TOTAL_KEYS, *COUNTERS) if f"`{k}`" not in TEXT]
    # kernel metadata, time and NAND figures are documented in docs/cli.md
    missing = [k for k in missing if k not in ("kernel_bytes", "kernel_static_bytes", "modeled_time_ns",
                                               "host_writes", "nand_writes", "waf", "flash_erases",
                                               "pool_pages", "stored_bytes", "compression_ratio")]
    assert not missing, f"not in docs/counters.md: {missing}"


def test_every_zswap_and_core_stat_is_documented() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        system = swapops.SwapSystem()
    if "zswap" not in system.registry:
        return
    top = system.swapon("zswap>swapfile", size="1M")
    names = [k for k in top.stats() if k not in ("size", "used")]
    names += [k for k in system.stats() if k not in ("areas", "swapcache_folios")]
    missing = [k for k in names if f"`{k}`" not in TEXT]
    assert not missing, f"not in docs/counters.md: {missing}"
