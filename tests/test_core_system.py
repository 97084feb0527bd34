"""The core's entry lifecycle, priorities, binding and swapoff, on toy devices."""

from __future__ import annotations

import os

import pytest

import swapops
from swapops import Folio
from swapops.errors import (
    ConfigError,
    DeviceBusyError,
    DeviceIOError,
    FolioSplitRequired,
    InvalidEntryError,
    InvalidStackError,
    MissingOperationError,
    OutOfSwapSpaceError,
    UnknownModuleError,
)


def page(byte: int, order: int = 0) -> Folio:
    return Folio(bytes([byte]) * (4096 << order))


def test_round_trip_and_counts(toy_system: swapops.SwapSystem) -> None:
    dev = toy_system.swapon("toyram", size="64K")
    entry = toy_system.swap_out(page(7))
    assert entry == (0, 0)
    assert toy_system.swap_in(entry).data == page(7).data
    assert dev.used == 1
    assert toy_system.swap_dup(entry) == 2
    assert toy_system.swap_free(entry) == 1
    assert dev.used == 1
    assert toy_system.swap_free(entry) == 0
    assert dev.used == 0
    with pytest.raises(InvalidEntryError):
        toy_system.swap_in(entry)
    with pytest.raises(InvalidEntryError):
        toy_system.swap_free(entry)


def test_count_overflow_beyond_table(toy_system: swapops.SwapSystem) -> None:
    toy_system.swapon("toyram", size="64K")
    entry = toy_system.swap_out(page(1))
    for expected in range(2, 100):
        assert toy_system.swap_dup(entry) == expected
    assert toy_system.swap_count(entry) == 99
    for expected in range(98, 0, -1):
        assert toy_system.swap_free(entry) == expected
    assert toy_system.swap_count(entry) == 1
    assert toy_system.swap_free(entry) == 0


def test_zero_folio_takes_no_io(toy_system: swapops.SwapSystem) -> None:
    dev = toy_system.swapon("toyram", size="64K")
    entry = toy_system.swap_out(Folio(bytes(4096 * 4)))
    assert dev.slots == {}  # type: ignore[attr-defined]
    assert dev.used == 4
    assert toy_system.swap_in(entry).data == bytes(4096 * 4)
    toy_system.swap_free(entry)
    assert dev.used == 0


def test_large_folio_and_split(toy_system: swapops.SwapSystem) -> None:
    dev = toy_system.swapon("toyram", size="64K")  # 16 slots
    big = page(3, order=3)
    entry = toy_system.swap_out(big)
    assert entry[1] % 8 == 0
    assert toy_system.swap_in(entry) == big
    with pytest.raises(InvalidEntryError):
        toy_system.swap_in((0, entry[1] + 1))  # a tail slot is not an entry
    toy_system.swap_free(entry)
    singles = [toy_system.swap_out(page(i)) for i in range(16)]
    for e in singles[1:4] + singles[5:8]:
        toy_system.swap_free(e)
    # six slots free, but no aligned run of four
    with pytest.raises(FolioSplitRequired):
        toy_system.swap_out(page(5, order=2))
    parts = [toy_system.swap_out(f) for f in page(5, order=2).split()]
    assert [toy_system.swap_in(e) for e in parts] == page(5, order=2).split()
    for e in [singles[0], singles[4], *singles[8:], *parts]:
        toy_system.swap_free(e)
    assert dev.used == 0


def test_out_of_space(toy_system: swapops.SwapSystem) -> None:
    with pytest.raises(OutOfSwapSpaceError, match="no swap area"):
        toy_system.swap_out(page(1))
    toy_system.swapon("toyram", size="8K")
    toy_system.swap_out(page(1))
    toy_system.swap_out(page(2))
    with pytest.raises(OutOfSwapSpaceError):
        toy_system.swap_out(page(3))


def test_failed_write_leaves_nothing(toy_system: swapops.SwapSystem) -> None:
    dev = toy_system.swapon("toyram", size="64K", fail_writes=1)
    with pytest.raises(DeviceIOError):
        toy_system.swap_out(page(9))
    assert dev.used == 0
    assert toy_system.nr_entries() == 0
    entry = toy_system.swap_out(page(9))
    assert toy_system.swap_in(entry) == page(9)


def test_priorities_and_round_robin(toy_system: swapops.SwapSystem) -> None:
    low = toy_system.swapon("toyram", size="64K", priority=1)
    high = toy_system.swapon("toyram", size="8K", priority=5)
    entries = [toy_system.swap_out(page(i)) for i in range(4)]
    assert [e[0] for e in entries] == [high.type, high.type, low.type, low.type]
    assert high.used == 2 and low.used == 2
    rows = toy_system.swaps()
    assert [(r.type, r.priority) for r in rows] == [("partition", 1), ("partition", 5)]
    assert rows[1].size == 8 and rows[1].used == 8


def test_equal_priorities_rotate_per_cluster(toy_system: swapops.SwapSystem) -> None:
    a = toy_system.swapon("toyram", size="8M")
    b = toy_system.swapon("toyram", size="8M")
    types = [toy_system.swap_out(page(1))[0] for _ in range(2048)]
    assert types.count(a.type) == 1024 and types.count(b.type) == 1024
    # consecutive pages stay on one device for a whole cluster (512 slots)
    assert types[:512] == [types[0]] * 512


def test_missing_mandatory_op(toy_system: swapops.SwapSystem) -> None:
    with pytest.raises(MissingOperationError, match="swapops_read_folio"):
        toy_system.swapon("noread")
    assert toy_system.devices == []


def test_bad_input_errors(toy_system: swapops.SwapSystem) -> None:
    with pytest.raises(UnknownModuleError, match="nosuch"):
        toy_system.swapon("nosuch")
    with pytest.raises(InvalidStackError, match="toycache needs a lower device"):
        toy_system.swapon("toycache")
    with pytest.raises(ConfigError, match="size"):
        toy_system.swapon("toyram", size="12Q")
    with pytest.raises(ConfigError, match="unknown option"):
        toy_system.swapon("toyram:colour=red")
    with pytest.raises(ConfigError, match="priority"):
        toy_system.swapon("toyram", priority=-7)
    with pytest.raises(ConfigError):
        Folio(b"short")


def test_exclusive_load_stays_in_swap_cache(toy_system: swapops.SwapSystem) -> None:
    dev = toy_system.swapon("toycache:exclusive=true>toyram", size="64K")
    entry = toy_system.swap_out(page(6))
    toy_system.swap_dup(entry)
    assert toy_system.swap_in(entry) == page(6)
    assert toy_system.swap_cache_size() == 1
    assert toy_system.swap_in(entry) == page(6)  # served from the swap cache
    toy_system.swap_cache_drop(entry)  # dirty: written back to the device
    assert toy_system.swap_in(entry) == page(6)
    toy_system.swap_free(entry)
    toy_system.swap_free(entry)
    assert toy_system.swap_cache_size() == 0
    assert dev.used == 0


def test_swapoff_restores_everything(toy_system: swapops.SwapSystem) -> None:
    dev = toy_system.swapon("toyram", size="64K")
    e1 = toy_system.swap_out(page(1))
    e2 = toy_system.swap_out(page(2, order=1))
    toy_system.swap_dup(e2)
    report = toy_system.swapoff(dev)
    assert report.restored == {e1: page(1), e2: page(2, order=1)}
    assert report.pte_visits == 3
    assert dev.events == ["activate", "deactivate"]  # type: ignore[attr-defined]
    assert toy_system.devices == []


def test_swapoff_tells_the_owner(toy_system: swapops.SwapSystem) -> None:
    class Owner:
        def __init__(self) -> None:
            self.ptes: dict[tuple[int, int], Folio] = {}

        def unuse(self, system: swapops.SwapSystem, swap_type: int) -> int:
            visited = 0
            for entry in list(owned):
                visited += 1
                if entry[0] == swap_type:
                    self.ptes[entry] = system.swap_in(entry)
                    system.swap_free(entry)
            return visited

    dev = toy_system.swapon("toyram", size="64K")
    owned = [toy_system.swap_out(page(i)) for i in range(5)]
    owner = Owner()
    report = toy_system.swapoff(dev, owner=owner)
    assert report.pte_visits == 5 and report.restored == {}
    assert owner.ptes == {e: page(i) for i, e in enumerate(owned)}


def test_swapoff_of_a_lower_device_is_busy(toy_system: swapops.SwapSystem) -> None:
    top = toy_system.swapon("toycache>toyram", size="64K")
    assert top.lower is not None
    with pytest.raises(DeviceBusyError, match="toycache"):
        toy_system.swapoff(top.lower)


def test_thirty_two_areas(toy_system: swapops.SwapSystem) -> None:
    for _ in range(32):
        toy_system.swapon("toyram", size="8K")
    with pytest.raises(DeviceBusyError, match="32"):
        toy_system.swapon("toyram", size="8K")


def test_trace_hook_sees_operations(toy_system: swapops.SwapSystem) -> None:
    seen: list[str] = []

    class Tracer:
        @swapops.hookimpl
        def swapops_trace(self, device: swapops.SwapDevice, op: str, args: tuple[object, ...]) -> None:
            seen.append(op)

    system = swapops.SwapSystem(autoload=False, plugins=[*toy_system.pm.get_plugins(), Tracer()], trace=True)
    system.swapon("toyram", size="64K")
    system.swap_in(system.swap_out(page(1)))
    assert seen[:3] == ["swapops_activate", "swapops_cluster_alloc", "swapops_write_folio"] or seen[:2] == [
        "swapops_cluster_alloc",
        "swapops_write_folio",
    ]
    assert "swapops_read_folio" in seen


def test_each_system_has_its_own_plugin_manager(toy_system: swapops.SwapSystem) -> None:
    other = swapops.SwapSystem(autoload=False)
    assert other.pm is not toy_system.pm
    assert "toyram" in toy_system.registry and "toyram" not in other.registry


def test_autoload_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWAPOPS_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert len(swapops.SwapSystem().registry) == 0
    monkeypatch.delenv("SWAPOPS_DISABLE_PLUGIN_AUTOLOAD")
    assert "swapfile" in swapops.SwapSystem().registry


def test_simulated_time_only() -> None:
    system = swapops.SwapSystem(autoload=False)
    assert system.clock.now_ns == 0
    system.advance(1000)
    assert system.clock.now_ns == 1000
    assert os.environ.get("SWAPOPS_TRACE_HOOKS") in (None, "", "0") or system.trace


def test_reclaim_skips_a_folio_it_cannot_write(toy_system: swapops.SwapSystem) -> None:
    """A failed writeback keeps that folio cached; reclaim goes on with the others."""
    dev = toy_system.swapon("toycache:exclusive=true>toyram", size="64K")
    entries = [toy_system.swap_out(page(i + 1)) for i in range(3)]
    for entry in entries:
        toy_system.swap_in(entry)  # exclusive load: cached and dirty
    area = toy_system._areas[dev.type]  # the area binds the top device's write at swapon
    assert area is not None
    write = area.write
    calls = []

    def fail_first(offset: int, folio: Folio) -> None:
        calls.append(offset)
        if len(calls) == 1:
            raise DeviceIOError("injected")
        write(offset, folio)

    area.write = fail_first
    assert toy_system.reclaim_swap_cache() == 2
    assert toy_system.swap_cache_size() == 1
    area.write = write
    assert toy_system.reclaim_swap_cache() == 1
    for i, entry in enumerate(entries):
        assert toy_system.swap_in(entry) == page(i + 1)
        toy_system.swap_free(entry)
    toy_system.reclaim_swap_cache()
    assert dev.used == 0


def test_api_boundary_type_errors(toy_system: swapops.SwapSystem) -> None:
    """Wrong-typed arguments get a ConfigError naming the problem, not a deep AttributeError."""
    dev = toy_system.swapon("toyram", size="64K")
    with pytest.raises(ConfigError, match="swap_out takes a swapops.Folio, not bytes"):
        toy_system.swap_out(b"x" * 4096)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="swapoff takes a device"):
        toy_system.swapoff("toyram")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="above= takes a device"):
        toy_system.swapon("toyram", size="64K", above="toycache")  # type: ignore[arg-type]
    for bad in (-5, "1", 1.5, True):
        with pytest.raises(ConfigError, match="advance takes"):
            toy_system.advance(bad)  # type: ignore[arg-type]
    assert toy_system.advance(5) == 5
    for data in ("abc", None, 4096):
        with pytest.raises(ConfigError, match="folio data must be"):
            Folio(data)  # type: ignore[arg-type]
    assert Folio(bytearray(4096)).order == 0 and Folio(memoryview(bytes(8192))).order == 1
    assert dev.used == 0
