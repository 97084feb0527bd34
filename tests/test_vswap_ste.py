"""vswap's two editions side by side: v5/v6 and the Swap Table Edition (edition=ste).

What differs in the model: the kernel layout (kernel_overhead) and the swap-in
policy (STE frees an entry not backed by a physical slot once it is mapped,
and follows its backend's SWP_SYNCHRONOUS_IO). What does not: lazy physical
allocation, charging only physical slots, swapoff of the device below
without a page-table walk.
"""

from __future__ import annotations

import random
import warnings

import pytest
from swapops_vswap import VswapDevice

import swapops
from swapops import Folio
from swapops.device import SWAPIN_FREE_CACHE, SWAPIN_NO_READAHEAD
from swapops.errors import ConfigError
from swapops.runner import run
from swapops.sizes import PAGE_SIZE


def _system() -> swapops.SwapSystem:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return swapops.SwapSystem(seed=4)


def _text(seed: int) -> bytes:
    rng = random.Random(seed)
    return (b" ".join(rng.choice([b"vswap", b"table", b"edition", b"slot"]) for _ in range(1200)))[:PAGE_SIZE]


def test_edition_option_and_its_old_name() -> None:
    system = _system()
    v5 = system.swapon("vswap>swapfile", size="1M")
    ste = system.swapon("vswap:edition=ste>swapfile", size="1M")
    old = system.swapon("vswap:design=ste>swapfile", size="1M")
    assert isinstance(v5, VswapDevice) and isinstance(ste, VswapDevice) and isinstance(old, VswapDevice)
    assert (v5.edition, ste.edition, old.edition) == ("v5", "ste", "ste")
    assert ste.kernel_design == "ste"
    with pytest.raises(ConfigError, match="disagree"):
        system.swapon("vswap:edition=ste,design=v5>swapfile", size="1M")


def test_kernel_overhead_of_the_two_editions() -> None:
    system = _system()
    v5 = system.swapon("vswap>swapfile", size="1M")
    ste = system.swapon("vswap:edition=ste>swapfile", size="1M")
    assert v5.kernel_overhead()["bytes_per_entry"] == pytest.approx(24 + 64 / 512)
    assert ste.kernel_overhead()["bytes_per_entry"] == pytest.approx(8 + 8 + 80 / 512)
    assert v5.lower is not None and ste.lower is not None
    # below v5: allocated + bad bitmaps (2 bits/slot) + cluster_info; below STE: plain P4
    assert v5.lower.kernel_overhead()["static_bytes"] == pytest.approx(256 * 2 / 8 + 32 + 4096)
    assert ste.lower.kernel_overhead()["static_bytes"] == 48 + 4096


@pytest.mark.parametrize("edition", ["v5", "ste"])
def test_swapin_flags_by_backing(edition: str) -> None:
    system = _system()
    top = system.swapon(f"vswap:edition={edition}>zswap>swapfile", size="4M")
    zero = system.swap_out(Folio(bytes(PAGE_SIZE)))
    pooled = system.swap_out(Folio(_text(1)))
    below = system.swap_out(Folio(random.Random(1).randbytes(PAGE_SIZE)))  # zswap rejects: on the swapfile
    system.swap_in(pooled)  # an exclusive zswap load: the entry's only copy is in memory now
    assert isinstance(top, VswapDevice)
    assert top.backing(pooled[1])[0] == "folio" and top.backing(below[1])[0] == "zswap"
    flags = [system.swapin_flags(e) for e in (zero, pooled, below)]
    if edition == "v5":
        assert flags == [0, 0, 0]
    else:
        assert flags == [SWAPIN_FREE_CACHE, SWAPIN_FREE_CACHE, 0]


def test_ste_over_zram_follows_its_backend_synchronous_io() -> None:
    system = _system()
    system.swapon("vswap:edition=ste>zram", size="4M")
    entry = system.swap_out(Folio(_text(2)))
    assert system.swapin_flags(entry) == SWAPIN_NO_READAHEAD | SWAPIN_FREE_CACHE


def _run(stack: str) -> dict:  # type: ignore[type-arg]
    return run(stack, events=60_000, ram="4M", swap="16M", points=4)


def test_one_workload_through_both_editions() -> None:
    """The same workload: STE frees entries on swap-in that v5 keeps in the swap cache,
    both swap the physical device off without a page-table walk, both charge only
    physical slots, and the Swap Table Edition costs less kernel memory."""
    v5 = _run("vswap>zswap>swapfile")
    ste = _run("vswap:edition=ste>zswap>swapfile")
    assert v5["mm"]["swap_cache_freed_swapin"] == 0
    assert ste["mm"]["swap_cache_freed_swapin"] > 0
    for r in (v5, ste):
        assert r["totals"]["swapoff_pte_visits"] == 0
        assert r["swapoff"][0]["module"] == "zswap" and "error" not in r["swapoff"][0]
        vstats = r["areas"][0]["layers"][0]["stats"]
        assert vstats["charged"] == vstats["physical_charged"] == 0  # a compressed cache below is not swap use
    assert ste["totals"]["kernel_bytes"] < v5["totals"]["kernel_bytes"]


def test_charging_counts_physical_slots_in_both_editions() -> None:
    for edition in ("v5", "ste"):
        system = _system()
        top = system.swapon(f"vswap:edition={edition}>swapfile", size="4M")
        assert isinstance(top, VswapDevice)
        system.swap_out(Folio(bytes(PAGE_SIZE)))  # a zero page: no physical slot, not charged
        for seed in range(3):
            system.swap_out(Folio(_text(seed)))
        assert top.charged == 3 and top.lower is not None and top.lower.used == 3
