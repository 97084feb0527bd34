"""The vswap module: a virtual swap space on top of any backend stack."""

from __future__ import annotations

import gc
import random
import tracemalloc
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import swapops_vswap.plugin as vswap_plugin
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from scripts import load
from swapops_vswap import VswapDevice
from toydevices import ToyPlugin, ToyRam

import swapops
from swapops import Folio
from swapops.errors import (
    DeviceIOError,
    FolioSplitRequired,
    InvalidEntryError,
    InvalidStackError,
    OutOfSwapSpaceError,
    WriteActivateError,
)

PAGE = 4096
ZERO = Folio(bytes(PAGE))

_demo = load("docs/examples/vswap_demo.py", "vswap_demo")
PageTables, swapoff_comparison = _demo.PageTables, _demo.swapoff_comparison


def page(rng: random.Random, order: int = 0) -> Folio:
    return Folio(rng.randbytes(PAGE << order))


@pytest.fixture
def system() -> Iterator[swapops.SwapSystem]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # other modules may still be in progress
        s = swapops.SwapSystem(seed=7)
    yield s
    for dev in list(s.devices):
        s.swapoff(dev)


class FlakyRam(ToyRam):
    """ToyRam whose reads fail while ``fail_reads`` > 0."""

    NAME = "flakyram"

    def __init__(self, options: Mapping[str, Any], lower: swapops.SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        self.fail_reads = 0

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        if self.fail_reads:
            self.fail_reads -= 1
            raise DeviceIOError("flakyram: injected read error")
        folio.data = self.slots[offset]


class FlakyPlugin:
    @swapops.hookimpl
    def swapops_register_modules(self, registry: swapops.ModuleRegistry) -> None:
        registry.add(FlakyRam)


@pytest.fixture
def toy() -> swapops.SwapSystem:
    """Only vswap and the toy modules (toycache: an exclusive-load cache like zswap)."""
    return swapops.SwapSystem(autoload=False, plugins=[ToyPlugin(), FlakyPlugin(), vswap_plugin])


def check_layers(dev: swapops.SwapDevice) -> None:
    for layer in dev.layers():
        assert layer.used + layer.free == layer.size
        assert all(v >= 0 for v in layer.stats().values()), layer.stats()


# ---------------------------------------------------------------- placement


def test_placement_rules(system: swapops.SwapSystem) -> None:
    v = system.swapon("vswap")  # alone: zero pages (and FOLIO) only
    assert v.KIND == "virtual" and v.lower is None
    for bad in ("swapfile>vswap", "vswap>vswap", "vswap>swapfile>swapfile"):
        with pytest.raises(InvalidStackError):
            system.swapon(bad, size="1M")
    assert system.swaps()[0].type == "virtual"


# ------------------------------------------------------------ zero and delay


def test_thousand_zero_folios_take_no_slot_below(system: swapops.SwapSystem) -> None:
    v = system.swapon("vswap>swapfile", size="1M")
    sf = v.lower
    assert sf is not None
    entries = [system.swap_out(ZERO) for _ in range(1000)]
    assert sf.used == 0 and v.used == 1000 > sf.size
    assert v.states() == {"zero": 1000, "folio": 0, "zswap": 0, "slot": 0}
    assert v.stats()["lower_allocs"] == 0 and v.charged == 0
    assert all(system.swap_in(e) == ZERO for e in entries)
    for e in entries:
        system.swap_free(e)
    assert v.used == 0
    check_layers(v)


def test_delayed_allocation_and_physical_charge(system: swapops.SwapSystem) -> None:
    rng = random.Random(1)
    v = system.swapon("vswap>swapfile", size="1M")
    sf = v.lower
    assert sf is not None
    e = system.swap_out(page(rng))
    state, low = v.backing(e[1])  # type: ignore[attr-defined]
    assert state == "slot" and sf.used == 1 and v.charged == 1
    assert v.stats()["physical_charged"] == 1
    system.swap_free(e)
    assert sf.used == 0 and v.charged == 0 and v.used == 0
    with pytest.raises(InvalidEntryError):
        v.backing(e[1])  # type: ignore[attr-defined]


def test_vswap_alone_refuses_non_zero_and_keeps_nothing(system: swapops.SwapSystem) -> None:
    v = system.swapon("vswap")
    e = system.swap_out(ZERO)
    with pytest.raises(OutOfSwapSpaceError):
        system.swap_out(page(random.Random(2)))
    assert v.used == 1 and system.nr_entries() == 1
    assert system.swap_in(e) == ZERO


def test_round_trip_with_dup_and_free(system: swapops.SwapSystem) -> None:
    rng = random.Random(3)
    v = system.swapon("vswap>swapfile", size="4M")
    pages = [page(rng) for _ in range(300)] + [ZERO] * 20
    entries = [system.swap_out(p) for p in pages]
    for e in entries[::3]:
        system.swap_dup(e)
    for e, p in zip(entries, pages, strict=True):
        assert system.swap_in(e) == p
        system.swap_free(e)
    assert v.used == len(entries[::3])
    for e in entries[::3]:
        assert system.swap_free(e) == 0
    assert v.used == 0 and v.lower is not None and v.lower.used == 0
    check_layers(v)


def test_failed_write_below_leaves_no_state(toy: swapops.SwapSystem) -> None:
    v = toy.swapon("vswap>toyram:fail_writes=1")
    low = v.lower
    assert low is not None
    with pytest.raises(DeviceIOError):
        toy.swap_out(page(random.Random(4)))
    assert v.used == 0 and low.used == 0 and v.charged == 0
    e = toy.swap_out(Folio(b"ok" * 2048))
    assert toy.swap_in(e).data == b"ok" * 2048


# ------------------------------------------------------------ large folios


def test_large_folio_one_lower_run(system: swapops.SwapSystem) -> None:
    rng = random.Random(5)
    v = system.swapon("vswap>swapfile", size="4M")
    big = page(rng, 4)
    e = system.swap_out(big)
    st_ = v.stats()
    assert st_["large_run_writes"] == 1 and st_["large_split_writes"] == 0
    assert v.lower is not None and v.lower.used == 16 and v.lower.stats()["writes"] == 16
    reads_before = v.lower.stats()["reads"]
    assert system.swap_in(e) == big
    assert v.stats()["large_run_reads"] == 1 and v.lower.stats()["reads"] == reads_before + 16
    system.swap_free(e)
    assert v.lower.used == 0 and v.used == 0


def test_large_folio_stays_in_memory_without_a_contiguous_run_below(system: swapops.SwapSystem) -> None:
    """v5: vswap_alloc_swap_slot() asks for the folio's order; failing, swap_writepage
    returns AOP_WRITEPAGE_ACTIVATE: the folio is kept (nothing allocated), not split."""
    rng = random.Random(7)
    v = system.swapon("vswap>swapfile", size="1M", blockdev=False)  # a swap file: no large orders below
    big = Folio(rng.randbytes(4 * PAGE))
    with pytest.raises(WriteActivateError):
        system.swap_out(big)
    assert v.used == 0 and v.lower is not None and v.lower.used == 0
    assert v.stats()["large_activated"] == 1 and v.stats()["large_split_writes"] == 0
    e = system.swap_out(Folio(big.data[:PAGE]))  # order 0 still goes below
    assert system.swap_in(e).data == big.data[:PAGE]


def test_large_folio_backed_page_by_page_where_the_swapfile_needs_a_split(
    system: swapops.SwapSystem,
) -> None:
    rng = random.Random(6)
    plain = system.swapon("swapfile", size="1M", blockdev=False)  # a swap *file*: no large orders
    mixed = Folio(rng.randbytes(PAGE) + bytes(PAGE) + rng.randbytes(2 * PAGE))
    with pytest.raises(FolioSplitRequired):
        system.swap_out(mixed)
    system.swapoff(plain)
    v = system.swapon("vswap:large_fallback=pages>swapfile", size="1M", blockdev=False)
    e = system.swap_out(mixed)  # no split: vswap backs it with order-0 slots
    st_ = v.stats()
    assert st_["large_split_writes"] == 1 and st_["zero_subpages"] == 1
    assert v.lower is not None and v.lower.used == 3  # the zero subpage takes no slot
    assert [v.backing(e[1] + k)[0] for k in range(4)] == ["slot", "zero", "slot", "slot"]  # type: ignore[attr-defined]
    assert system.swap_in(e) == mixed
    assert v.stats()["large_page_reads"] == 1
    system.swap_free(e)
    assert v.lower.used == 0 and v.used == 0
    check_layers(v)


def test_large_folio_split_fails_cleanly_when_below_fills(system: swapops.SwapSystem) -> None:
    rng = random.Random(7)
    v = system.swapon("vswap>swapfile", size="40K", blockdev=False)  # 9 usable slots
    assert v.lower is not None and v.lower.size == 9
    keep = [system.swap_out(page(rng)) for _ in range(5)]
    with pytest.raises(OutOfSwapSpaceError):
        system.swap_out(page(rng, 3))  # 8 pages, 4 slots left
    assert v.lower.used == 5 and v.used == 5  # nothing of the failed folio is left
    for e in keep:
        system.swap_free(e)
    check_layers(v)


# ------------------------------------------------------------------ swapoff


def test_swapoff_below_vswap_keeps_every_entry(system: swapops.SwapSystem) -> None:
    rng = random.Random(8)
    v = system.swapon("vswap>swapfile", size="4M")
    sf = v.lower
    assert sf is not None
    pages = [page(rng) for _ in range(200)] + [ZERO] * 10 + [page(rng, 2)]
    entries = [system.swap_out(p) for p in pages]
    for e in entries[:50]:
        system.swap_dup(e)
    backed = sf.used
    report = system.swapoff(sf)
    assert report.pte_visits == 0
    assert report.entries_moved == backed == 200 + 4
    assert report.detail["lower_reads"] == 201  # the order-2 folio comes back in one read
    assert v.lower is None and sf.ops is None  # the swapfile is gone
    assert v.states() == {"zero": 10, "folio": 204, "zswap": 0, "slot": 0}
    assert [e[0] for e in entries] == [v.type] * len(entries)  # handed-out entries unchanged
    for e, p in zip(entries, pages, strict=True):
        assert system.swap_in(e) == p  # byte-identical
    assert v.stats()["detach_moved"] == 204
    # New non-zero pages have nowhere to go; zero pages still do.
    with pytest.raises(OutOfSwapSpaceError):
        system.swap_out(page(rng))
    system.swap_free(system.swap_out(ZERO))
    # A new backend: FOLIO entries stay in memory until written back.
    new = system.swapon("swapfile", size="2M", above=v)
    assert v.lower is new and new.used == 0
    assert v.writeback_folios() == 204  # type: ignore[attr-defined]
    assert new.used == 204 and v.states()["folio"] == 0
    for e, p in zip(entries, pages, strict=True):
        assert system.swap_in(e) == p
    for e in entries:
        while system.swap_free(e):
            pass
    assert v.used == 0 and new.used == 0
    check_layers(v)


def test_swapoff_comparison_directly_mapped_walks_every_pte() -> None:
    result = swapoff_comparison(nr_pages=300, nr_mapped=900, seed=3)
    direct, virtual = result["swapfile"], result["vswap>swapfile"]
    assert direct["pte_visits"] == 900 + 300 + 30  # every mapped PTE, swapped PTEs, fork dups
    assert direct["entries_moved"] == 300
    assert virtual["pte_visits"] == 0 and virtual["entries_moved"] == 300
    assert virtual["readable"] == direct["readable"] == 1


def test_swapoff_of_the_top_reads_through_vswap(system: swapops.SwapSystem) -> None:
    rng = random.Random(9)
    v = system.swapon("vswap>swapfile", size="1M")
    pages = [page(rng) for _ in range(20)] + [ZERO]
    entries = [system.swap_out(p) for p in pages]
    tables = PageTables()
    for e in entries:
        tables.map_swap(e)
    report = system.swapoff(v, owner=tables)
    assert report.pte_visits == len(entries)
    assert [tables.content(i) for i in range(len(entries))] == [p.data for p in pages]
    assert system.devices == []


def test_detach_read_error_keeps_the_lower(toy: swapops.SwapSystem) -> None:
    rng = random.Random(10)
    v = toy.swapon("vswap>flakyram")
    low = v.lower
    assert isinstance(low, FlakyRam)
    pages = [page(rng) for _ in range(10)]
    entries = [toy.swap_out(p) for p in pages]
    low.fail_reads = 1
    with pytest.raises(DeviceIOError):
        toy.swapoff(low)
    assert v.lower is low and low.ops is not None
    report = toy.swapoff(low)
    assert report.entries_moved == 10 and v.lower is None
    assert [toy.swap_in(e) for e in entries] == pages


# ------------------------------------------------- a cache below: ZSWAP state


def test_exclusive_load_below_becomes_folio_then_written_back(toy: swapops.SwapSystem) -> None:
    rng = random.Random(11)
    v = toy.swapon("vswap>toycache:exclusive=true>toyram")
    cache = v.lower
    assert cache is not None and cache.KIND == "cache"
    pages = [page(rng) for _ in range(8)] + [page(rng, 1)]
    entries = [toy.swap_out(p) for p in pages]
    assert v.states()["zswap"] == 10 and v.charged == 0  # a cache below is not charged
    assert v.backing(entries[0][1])[0] == "zswap"  # type: ignore[attr-defined]
    for e, p in zip(entries, pages, strict=True):
        assert toy.swap_in(e) == p  # the load consumes the cached copy
    assert v.states()["folio"] == 10 and cache.used == 0
    assert toy.swap_cache_size() == len(entries)
    toy.reclaim_swap_cache()  # dirty folios are written again: new slots below
    assert v.states()["zswap"] == 10 and cache.used == 10
    assert [toy.swap_in(e) for e in entries] == pages
    for e in entries:
        toy.swap_free(e)
    assert v.used == 0 and cache.used == 0


def test_split_large_entry_consumed_page_by_page(toy: swapops.SwapSystem) -> None:
    rng = random.Random(18)
    v = toy.swapon("vswap:large_fallback=pages>toycache:exclusive=true>toyram:size=16K")  # 4 slots below
    small = [toy.swap_out(page(rng)) for _ in range(4)]
    toy.swap_free(small[1])
    toy.swap_free(small[3])  # free below: slots 1 and 3, no aligned pair
    big = page(rng, 1)
    e = toy.swap_out(big)
    assert v.stats()["large_split_writes"] == 1
    folio = toy.swap_in(e)
    assert folio == big and folio.dirty  # both halves consumed below
    assert v.stats()["large_page_reads"] == 1 and v.states()["folio"] == 2
    assert toy.swap_cache_size() == 1
    toy.swap_cache_drop(e)  # written again, page by page
    assert v.states()["folio"] == 0 and v.states()["zswap"] == 4
    assert toy.swap_in(e) == big


def test_vswap_zswap_swapfile_stores_more_than_the_swapfile_has_slots() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        system = swapops.SwapSystem(seed=1)
    if "zswap" not in system.module_names():
        pytest.skip("the zswap module is not installed")
    v = system.swapon("vswap>zswap>swapfile", size="1M")
    sf = v.lower.lower if v.lower is not None else None
    assert sf is not None
    n = 3 * sf.size
    pages = [Folio(((b"compressible page %06d " % i) * 200)[:PAGE]) for i in range(n)]
    entries = [system.swap_out(p) for p in pages]
    assert len(entries) == n > sf.size
    assert v.states()["zswap"] == n
    # swapoff of the swapfile's whole backend stack under vswap: nothing is lost
    report = system.swapoff(v.lower)
    assert report.pte_visits == 0 and report.entries_moved == n
    assert [system.swap_in(e) for e in entries] == pages


def _vswap_chains() -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = swapops.SwapSystem().registry
    known = {"vswap", "swapfile", "zswap", "flashbuf"} & set(registry)
    return [c for c in swapops.valid_chains(registry, known, max_depth=4) if c.startswith("vswap>")]


@pytest.mark.parametrize("chain", _vswap_chains())
def test_every_chain_below_vswap(chain: str) -> None:
    """Any installed backend stack below vswap: round trip, reclaim, swapoff of the backend."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        system = swapops.SwapSystem(seed=5)
    rng = random.Random(19)
    v = system.swapon(chain, size="16M")
    pages = [Folio(rng.randbytes(512) + bytes(3584)) for _ in range(200)]
    pages += [ZERO, Folio(rng.randbytes(512) * 32)]
    entries = [system.swap_out(p) for p in pages]
    assert [system.swap_in(e) for e in entries] == pages
    system.reclaim_swap_cache()  # exclusive loads below are written back
    assert v.lower is not None and v.states()["folio"] == 0
    report = system.swapoff(v.lower)
    assert report.pte_visits == 0 and v.lower is None
    assert report.entries_moved == v.states()["folio"] == 200 + 4 and v.states()["zero"] == 1
    assert [system.swap_in(e) for e in entries] == pages
    for e in entries:
        system.swap_free(e)
    assert v.used == 0


def test_equal_priorities_take_turns_per_cluster(system: swapops.SwapSystem) -> None:
    rng = random.Random(20)
    a = system.swapon("vswap>swapfile", size="8M", priority=3)
    b = system.swapon("vswap>swapfile", size="8M", priority=3)
    entries = [system.swap_out(Folio(rng.randbytes(PAGE))) for _ in range(1100)]
    per = {t: sum(1 for e in entries if e[0] == t) for t in (a.type, b.type)}
    assert min(per.values()) >= 512  # both got at least one whole cluster


# ------------------------------------------------------ priorities and room


def test_priorities_with_vswap_stacks(system: swapops.SwapSystem) -> None:
    rng = random.Random(12)
    hi = system.swapon("vswap:size=64K>swapfile", size="1M", priority=10)  # 16 virtual slots
    lo = system.swapon("vswap>swapfile", size="1M", priority=5)
    first = [system.swap_out(page(rng)) for _ in range(16)]
    assert {e[0] for e in first} == {hi.type} and hi.used == hi.size == 16
    spill = [system.swap_out(page(rng)) for _ in range(5)]
    assert {e[0] for e in spill} == {lo.type}
    contents = {e: system.swap_in(e) for e in first + spill}
    system.swapoff(hi)
    assert system.devices == [lo]
    for e in spill:
        assert system.swap_in(e) == contents[e]
    more = system.swap_out(page(rng))
    assert more[0] == lo.type


def test_full_lower_falls_through_to_the_next_area(system: swapops.SwapSystem) -> None:
    rng = random.Random(13)
    v = system.swapon("vswap>swapfile", size="40K", priority=10)  # 9 physical slots
    other = system.swapon("swapfile", size="1M", priority=1)
    mine = [system.swap_out(page(rng)) for _ in range(9)]
    assert {e[0] for e in mine} == {v.type}
    with pytest.raises(OutOfSwapSpaceError):  # the write that finds the device below full
        system.swap_out(page(rng))
    nxt = system.swap_out(page(rng))
    assert nxt[0] == other.type and v.stats()["refused_allocs"] >= 1
    system.swap_free(mine[0])  # room again below vswap
    system.swap_free(nxt)
    system.swapoff(other)  # (the core would otherwise stay on its current cluster there)
    assert system.swap_out(page(rng))[0] == v.type


def test_no_fallthrough_keeps_taking_zero_pages(system: swapops.SwapSystem) -> None:
    rng = random.Random(14)
    v = system.swapon("vswap:fallthrough=false>swapfile", size="40K")
    for _ in range(9):
        system.swap_out(page(rng))
    with pytest.raises(OutOfSwapSpaceError):
        system.swap_out(page(rng))
    assert system.swap_out(ZERO)[0] == v.type  # v5: virtual slots are always there
    assert v.used == 10


def test_swap_max_charges_physical_slots_only(system: swapops.SwapSystem) -> None:
    rng = random.Random(15)
    v = system.swapon("vswap:swap_max=20K>swapfile", size="1M")  # 5 pages
    for _ in range(5):
        system.swap_out(page(rng))
    with pytest.raises(OutOfSwapSpaceError, match="swap_max"):
        system.swap_out(page(rng))
    zeros = [system.swap_out(ZERO) for _ in range(50)]  # not charged
    assert v.charged == 5 and v.used == 55 and v.stats()["charge_failures"] == 1
    assert v.lower is not None and v.lower.used == 5
    assert len(zeros) == 50


def test_charge_virtual_counts_every_entry(system: swapops.SwapSystem) -> None:
    v = system.swapon("vswap:charge=virtual,swap_max=20K>swapfile", size="1M")
    entries = [system.swap_out(ZERO) for _ in range(5)]
    assert v.charged == 5
    with pytest.raises(OutOfSwapSpaceError):
        system.swap_out(ZERO)
    system.swap_free(entries[0])
    system.swap_out(ZERO)
    assert v.charged == 5


# ---------------------------------------------------- memory and housekeeping


def test_simulator_memory_per_used_slot_is_small() -> None:
    """vswap's own Python memory per used slot, measured with tracemalloc (target <= 48 B)."""
    n = 8192
    pages = [Folio(random.Random(i).randbytes(64) * 64) for i in range(n)]

    def grow(spec: str) -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = swapops.SwapSystem()
        s.swapon(spec, size="64M")
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        entries = [s.swap_out(p) for p in pages]
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert len(entries) == n
        return after - before

    extra = (grow("vswap>swapfile") - grow("swapfile")) / n
    assert 0 < extra <= 48, extra


def test_emptied_cluster_tables_are_dropped(system: swapops.SwapSystem) -> None:
    rng = random.Random(16)
    v = system.swapon("vswap>swapfile", size="8M")
    entries = [system.swap_out(page(rng)) for _ in range(1500)]
    full = v.simulator_bytes()  # type: ignore[attr-defined]
    for e in entries:
        system.swap_free(e)
    assert v.used == 0 and v.stats()["clusters"] <= 1  # parked slots (slot cache) keep one
    system.advance(1_000_000)  # 1 ms: too early for the trim
    assert v.simulator_bytes() > full / 2  # type: ignore[attr-defined]
    system.advance(10_000_000)
    assert v.stats()["clusters"] == 0
    assert v.simulator_bytes() < full / 10  # type: ignore[attr-defined]
    system.swap_free(system.swap_out(page(rng)))
    system.unplug()  # unplug trims at once
    assert v.simulator_bytes() < full / 10  # type: ignore[attr-defined]


def test_double_free_is_refused(system: swapops.SwapSystem) -> None:
    v = system.swapon("vswap>swapfile", size="1M")
    assert v.ops is not None
    off = v.ops.alloc(0)
    v.ops.free(off, 1)
    with pytest.raises(InvalidEntryError):
        v.ops.free(off, 1)


def test_kernel_design_option(system: swapops.SwapSystem) -> None:
    rng = random.Random(17)
    ste = system.swapon("vswap:design=ste>swapfile", size="1M")
    assert isinstance(ste, VswapDevice) and ste.kernel_design == "ste"
    system.swap_out(page(rng))
    rep = ste.kernel_overhead()
    assert rep["bytes_per_entry"] == pytest.approx(16 + 80 / 512)
    assert rep["total_bytes"] == 80 + 2 * 4096  # one virtual cluster in use
    assert ste.lower is not None  # below STE vswap: a P4 device (1 cluster + the header's table)
    assert ste.lower.kernel_overhead()["static_bytes"] == 48 + 4096


# ------------------------------------------------------------ stateful model


class VswapMachine(RuleBasedStateMachine):
    """vswap>flakyram against a dict model, with swapoff/attach of the backend."""

    def __init__(self) -> None:
        super().__init__()
        self.system = swapops.SwapSystem(autoload=False, plugins=[ToyPlugin(), FlakyPlugin(), vswap_plugin])
        self.v = self.system.swapon("vswap>flakyram:size=256K")  # 64 physical slots
        self.model: dict[tuple[int, int], tuple[bytes, int]] = {}
        self.rng = random.Random(0)

    @rule(kind=st.sampled_from(["zero", "data", "large", "mixed"]), seed=st.integers(0, 2**16))
    def swap_out(self, kind: str, seed: int) -> None:
        rng = random.Random(seed)
        if kind == "zero":
            folio = ZERO
        elif kind == "data":
            folio = Folio(rng.randbytes(PAGE))
        elif kind == "large":
            folio = Folio(rng.randbytes(4 * PAGE))
        else:
            folio = Folio(bytes(PAGE) + rng.randbytes(PAGE))
        try:
            entry = self.system.swap_out(folio)
        except OutOfSwapSpaceError:
            low = self.v.lower
            if kind == "zero":  # refused only while the device below is full (fallthrough)
                assert low is not None and low.used == low.size
            return
        assert entry not in self.model
        self.model[entry] = (folio.data, 1)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def swap_in(self, data: st.DataObject) -> None:
        entry = data.draw(st.sampled_from(sorted(self.model)))
        assert self.system.swap_in(entry).data == self.model[entry][0]

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def dup(self, data: st.DataObject) -> None:
        entry = data.draw(st.sampled_from(sorted(self.model)))
        content, count = self.model[entry]
        assert self.system.swap_dup(entry) == count + 1
        self.model[entry] = (content, count + 1)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def free(self, data: st.DataObject) -> None:
        entry = data.draw(st.sampled_from(sorted(self.model)))
        content, count = self.model[entry]
        assert self.system.swap_free(entry) == count - 1
        if count == 1:
            del self.model[entry]
        else:
            self.model[entry] = (content, count - 1)

    @precondition(lambda self: self.v.lower is not None)
    @rule()
    def swapoff_backend(self) -> None:
        assert self.v.lower is not None
        report = self.system.swapoff(self.v.lower)
        assert report.pte_visits == 0 and self.v.lower is None

    @precondition(lambda self: self.v.lower is None)
    @rule(writeback=st.booleans())
    def attach_backend(self, writeback: bool) -> None:
        self.system.swapon("flakyram:size=256K", above=self.v)
        if writeback:
            self.v.writeback_folios()  # type: ignore[attr-defined]

    @rule()
    def unplug(self) -> None:
        self.system.unplug()

    @invariant()
    def consistent(self) -> None:
        v = self.v
        pages = sum(len(c) // PAGE for c, _ in self.model.values())
        assert v.used == pages
        states = v.states()  # type: ignore[attr-defined]
        assert sum(states.values()) == pages and min(states.values()) >= 0
        below = v.lower.used if v.lower is not None else 0
        assert states["slot"] == below
        check_layers(v)


TestVswapMachine = VswapMachine.TestCase


# ------------------------------------------------------------------ filters below vswap


@pytest.fixture
def faulty_system() -> Iterator[swapops.SwapSystem]:
    from swapops.testing import faulty

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = swapops.SwapSystem(seed=11, plugins=[faulty])
    yield s
    for dev in list(s.devices):
        s.swapoff(dev)


def test_vswap_looks_through_a_filter_on_swapon_detach_and_attach(faulty_system: swapops.SwapSystem) -> None:
    """vswap>faulty>swapfile: swapoff of the backend, a new faulty>swapfile attached, nothing lost."""
    system = faulty_system
    rng = random.Random(31)
    v = system.swapon("vswap>faulty>swapfile", size="4M")
    assert isinstance(v, VswapDevice) and v.lower is not None and v.lower.NAME == "faulty"
    pages = [page(rng) for _ in range(100)] + [ZERO] * 5 + [page(rng, 2)]
    entries = [system.swap_out(p) for p in pages]
    assert v.states() == {"zero": 5, "folio": 0, "zswap": 0, "slot": 104}  # the swapfile's kind, not "filter"
    assert v.charged == 104  # physical slots are charged through the filter
    assert v.backing(entries[0][1])[0] == "slot"
    report = system.swapoff(v.lower)  # the whole faulty>swapfile backend
    assert report.pte_visits == 0 and report.entries_moved == 104 and v.lower is None
    assert v.states()["folio"] == 104 and v.charged == 0
    new = system.swapon("faulty>swapfile", size="2M", above=v)
    assert v.lower is new and new.NAME == "faulty" and v.stats()["attaches"] == 1
    assert v.writeback_folios() == 104
    assert new.used == 104 and v.states() == {"zero": 5, "folio": 0, "zswap": 0, "slot": 104}
    assert v.charged == 104
    for e, p in zip(entries, pages, strict=True):
        assert system.swap_in(e) == p  # byte-identical
    for e in entries:
        system.swap_free(e)
    assert v.used == 0 and new.used == 0


def test_vswap_over_a_filtered_zswap_uses_the_zswap_state(faulty_system: swapops.SwapSystem) -> None:
    system = faulty_system
    if "zswap" not in system.module_names():
        pytest.skip("the zswap module is not installed")
    v = system.swapon("vswap>faulty>zswap>swapfile", size="1M")
    assert isinstance(v, VswapDevice)
    pages = [Folio(((b"compressible page %06d " % i) * 200)[:PAGE]) for i in range(50)]
    entries = [system.swap_out(p) for p in pages]
    assert v.states() == {"zero": 0, "folio": 0, "zswap": 50, "slot": 0}
    assert v.backing(entries[0][1])[0] == "zswap"
    assert v.charged == 0  # a compressed cache below is not swap use (v5)
    assert [system.swap_in(e) for e in entries] == pages


def test_vswap_refuses_a_filter_over_a_virtual_device() -> None:
    from swapops.testing.faulty import FaultyDevice

    v = VswapDevice({})
    under = VswapDevice({})
    with pytest.raises(swapops.errors.ConfigError, match="vswap cannot sit on vswap"):
        v.swapops_attach_lower(FaultyDevice({name: o.default for name, o in FaultyDevice.OPTIONS.items()}, under))


# ------------------------------------------------------------------ runs and slot batches


def test_lower_run_is_one_unit_until_a_page_of_it_goes(system: swapops.SwapSystem) -> None:
    rng = random.Random(41)
    v = system.swapon("vswap>swapfile", size="4M")
    assert isinstance(v, VswapDevice) and v.ops is not None and v.lower is not None
    ops, sf = v.ops, v.lower
    big = page(rng, 4)
    off = ops.alloc(4)
    ops.write(off, big)
    low0 = v.backing(off)[1]
    assert [v.backing(off + k) for k in range(16)] == [("slot", low0 + k) for k in range(16)]
    back = Folio._empty(4)
    ops.read(off, back)
    assert back.data == big.data and v.stats()["large_run_reads"] == 1
    one = Folio._empty(0)
    ops.read(off + 5, one)  # one page of the run on its own: the run stays
    assert one.data == big.data[5 * PAGE : 6 * PAGE]
    ops.write(off + 5, Folio(big.data[5 * PAGE : 6 * PAGE]))  # rewritten in place
    ops.read(off, back)
    assert v.stats()["large_run_reads"] == 2 and v._n_runs_broken == 0
    ops.free(off + 3, 1)  # a page freed on its own breaks the run
    assert v._n_runs_broken == 1 and sf.used == 15 and v.used == 15
    ops.read(off, back)
    assert v.stats()["large_page_reads"] == 1
    assert back.data == big.data[: 3 * PAGE] + bytes(PAGE) + big.data[4 * PAGE :]
    assert [v.backing(off + k) for k in range(16) if k != 3] == [("slot", low0 + k) for k in range(16) if k != 3]
    # a second run freed in two halves, the second half starting at a tail
    off2 = ops.alloc(4)
    ops.write(off2, big)
    v.swapops_cluster_free(off2, 8)
    assert v._n_runs_broken == 2 and sf.used == 15 + 8
    v.swapops_cluster_free(off2 + 8, 8)
    assert sf.used == 15
    with pytest.raises(InvalidEntryError):
        v.backing(off2 + 9)
    v.swapops_cluster_free(off, 3)
    v.swapops_cluster_free(off + 4, 12)
    v.swapops_unplug()
    assert v.used == 0 and sf.used == 0 and v.allocator is not None and v.allocator.used == 0


def test_swapoff_below_reads_a_run_in_one_go_and_keeps_broken_runs(system: swapops.SwapSystem) -> None:
    rng = random.Random(42)
    v = system.swapon("vswap>swapfile", size="4M")
    assert isinstance(v, VswapDevice) and v.ops is not None and v.lower is not None
    ops = v.ops
    folios = [page(rng, 4) for _ in range(3)]
    offs = [ops.alloc(4) for _ in folios]
    for off, f in zip(offs, folios, strict=True):
        ops.write(off, f)
    ops.free(offs[1] + 15, 1)  # breaks run 1
    report = system.swapoff(v.lower)
    assert report.detail["large_runs"] == 2 and report.entries_moved == 47
    back = Folio._empty(4)
    for k, (off, f) in enumerate(zip(offs, folios, strict=True)):
        ops.read(off, back)
        assert back.data == (f.data if k != 1 else f.data[: 15 * PAGE] + bytes(PAGE))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("size", [None, "3M"])
def test_reserved_slot_batches_hand_out_what_single_allocations_would(seed: int, size: str | None) -> None:
    """vswap reserves order-0 slots 64 at a time (ClusterAllocator.reserve); against a vswap
    allocating one by one: same slots, and the same allocator once the rest is given back."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        systems = [swapops.SwapSystem(seed=seed) for _ in range(2)]
    spec = "vswap>swapfile" if size is None else f"vswap:size={size}>swapfile"
    devs = [s.swapon(spec, size="8M") for s in systems]
    a, b = devs
    assert isinstance(a, VswapDevice) and isinstance(b, VswapDevice) and b.allocator is not None
    single = b.allocator
    b._refill = lambda: single.alloc(0)  # type: ignore[method-assign]
    rng = random.Random(seed)
    held: list[tuple[int, int]] = []
    for _ in range(3000):
        op = rng.random()
        if op < 0.55:
            order = 0 if rng.random() < 0.9 else rng.choice([2, 4, 9])
            got = [d.ops.alloc(order) for d in devs if d.ops is not None]
            assert got[0] == got[1]
            if got[0] >= 0:
                held.append((got[0], 1 << order))
        elif op < 0.95 and held:
            off, nr = held.pop(rng.randrange(len(held)))
            for d in devs:
                assert d.ops is not None
                d.ops.free(off, nr)
        else:
            for d in devs:
                d.swapops_unplug()
        assert a.used == b.used
    a._unreserve()
    assert a.allocator is not None
    assert a.allocator.stats() == single.stats()
    assert a.allocator._caches == single._caches
    assert [list(x) for x in a.allocator._lists] == [list(x) for x in single._lists]
    a.allocator.check_invariants()
