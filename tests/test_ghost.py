"""The ghost module: a swap area with no backing store under zswap."""

from __future__ import annotations

import contextlib
import random
import warnings

import pytest
from swapops_ghost import GhostDevice

import swapops
from swapops import Folio, overhead
from swapops.errors import DeviceIOError, InvalidStackError, OutOfSwapSpaceError, WriteActivateError
from swapops.metrics import area_report, totals
from swapops.runner import run
from swapops.sizes import PAGE_SIZE
from swapops.stack import chain_holds


def _system() -> swapops.SwapSystem:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return swapops.SwapSystem(seed=2)


def _text(seed: int) -> bytes:
    rng = random.Random(seed)
    words = [b"ghost", b"swap", b"zswap", b"slot", b"entry"]
    return (b" ".join(rng.choice(words) for _ in range(1400)))[:PAGE_SIZE]


def test_a_write_that_reaches_the_ghost_fails_and_leaves_nothing() -> None:
    system = _system()
    dev = system.swapon("ghost", size="1M")
    assert isinstance(dev, GhostDevice)
    with pytest.raises(WriteActivateError, match="AOP_WRITEPAGE_ACTIVATE"):
        system.swap_out(Folio(_text(1)))
    assert issubclass(WriteActivateError, OutOfSwapSpaceError)  # the kit's write-errors rule
    assert dev.used == 0 and system.nr_entries() == 0
    assert dev.stats()["write_refused"] == 1
    zero = system.swap_out(Folio(bytes(PAGE_SIZE)))  # the core keeps zero pages: no write
    assert system.swap_in(zero).data == bytes(PAGE_SIZE) and dev.used == 1
    with pytest.raises(DeviceIOError, match="stores nothing"):
        dev.swapops_read_folio(5, Folio.empty(0))


def test_zswap_above_a_ghost_runs_with_writeback_off() -> None:
    system = _system()
    top = system.swapon("zswap>ghost", size="4M")
    assert top.writeback is False and top.mode_name == "direct"  # type: ignore[attr-defined]
    entry = system.swap_out(Folio(_text(2)))
    ghost = top.lower
    assert isinstance(ghost, GhostDevice)
    assert ghost.used == 1 == top.used  # the entry is named by a ghost slot
    assert top.stats()["stored_pages"] == 1
    assert system.swap_in(entry).data == _text(2)
    rnd = random.Random(3).randbytes(PAGE_SIZE)
    with pytest.raises(WriteActivateError):  # incompressible: rejected, and the ghost refuses it
        system.swap_out(Folio(rnd))
    assert ghost.used == 1


def test_writeback_forced_on_over_a_ghost_fails_and_loses_nothing() -> None:
    system = _system()
    top = system.swapon("zswap:writeback=on,ram=512K>ghost", size="4M")
    kept = {}
    for seed in range(60):
        with contextlib.suppress(OutOfSwapSpaceError):
            kept[system.swap_out(Folio(_text(seed)))] = _text(seed)
        system.run_work()  # the shrink worker a store over the limit queued
    for _ in range(3):  # the first run only clears the entries' referenced bits (second chance)
        top.shrink_worker()
    assert top.stats()["reject_reclaim_fail"] > 0  # zswap_writeback_entry: -EINVAL on SWP_GHOST
    assert top.stats()["written_back_pages"] == 0
    for entry, data in kept.items():
        assert system.swap_in(entry).data == data


def test_size_defaults_to_the_ram_rounded_up_to_a_cluster() -> None:
    system = _system()
    dev = system.swapon("ghost:ram=3M")
    assert isinstance(dev, GhostDevice)
    assert dev.nr_slots == 1024 and dev.size == 1023  # 768 pages -> 1024; slot 0 is the header
    row = system.swaps()[0]
    assert row.type == "ghost" and row.filename == "/dev/ghostswap"


def test_slots_used_does_not_count_a_ghost_as_storage() -> None:
    system = _system()
    system.swapon("zswap>ghost", size="4M")
    for seed in range(5):
        system.swap_out(Folio(_text(seed)))
    t = totals(system, area_report(system))
    assert t["slots_used"] == 0 and t["device_slots_used"] == 0
    assert t["stored_pages"] == 5


def test_placement_and_what_chains_hold() -> None:
    system = _system()
    reg = system.registry
    with pytest.raises(InvalidStackError, match="must be the bottom"):
        system.swapon("ghost>swapfile", size="4M")
    assert chain_holds([reg.get("zswap"), reg.get("ghost")]) == "compressible"
    assert chain_holds([reg.get("vswap"), reg.get("ghost")]) == "nothing"


def test_kernel_overhead_dynamic_and_static() -> None:
    system = _system()
    dyn = system.swapon("ghost", size="4M")  # 1024 slots, 2 clusters
    rep = dyn.kernel_overhead()
    assert rep["static_bytes"] == 72 + 4096  # only the header's cluster, from swapon on
    zero = [system.swap_out(Folio(bytes(PAGE_SIZE))) for _ in range(600)]  # fills into cluster 1
    rep = dyn.kernel_overhead()
    assert rep["total_bytes"] == 2 * (72 + 4096)
    for entry in zero:
        system.swap_free(entry)
    static = system.swapon("ghost:dynamic=false", size="4M")
    assert static.kernel_overhead()["static_bytes"] == 2 * 48 + 4096
    assert overhead.ghost_swapfile(1 << 20).static_bytes == 0


def test_a_run_of_zswap_on_a_ghost() -> None:
    r = run("zswap>ghost", events=40_000, ram="4M", swap="16M", swapoff=True, points=4)
    t, mm = r["totals"], r["mm"]
    assert t["swap_entries_allocated"] > 0 and t["slots_used"] == 0
    assert t["pswpout"] == 0 and t["zswpout"] > 0  # no block I/O: only zswap holds pages
    assert mm["swapout_activated"] > 0  # incompressible pages refused one by one and activated
    assert mm["swapout_failures"] >= mm["swapout_activated"]
    assert r["areas"][0]["layers"][1]["stats"]["write_refused"] > 0
