"""The faulty module: fault injection anywhere in a stack, and what a fault may do."""

from __future__ import annotations

import contextlib

import pytest

import swapops
from swapops import Folio
from swapops.errors import ConfigError, DeviceIOError, InvalidStackError, OutOfSwapSpaceError
from swapops.stack import check_stack, parse_stack
from swapops.testing import faulty
from swapops.testing.faulty import FaultyDevice


def page(byte: int, order: int = 0) -> Folio:
    return Folio(bytes([byte]) * (4096 << order))


def random_page(seed: int) -> Folio:
    import random

    return Folio(random.Random(seed).randbytes(4096))


@pytest.fixture
def system() -> swapops.SwapSystem:
    return swapops.SwapSystem(plugins=[faulty])


def layers_used(top: swapops.SwapDevice) -> list[int]:
    return [dev.used for dev in top.layers()]


def faulty_of(top: swapops.SwapDevice) -> FaultyDevice:
    for dev in top.layers():
        if isinstance(dev, FaultyDevice):
            return dev
    raise AssertionError(f"no faulty layer in {top.stack_name}")


@pytest.mark.parametrize(
    "chain",
    ["faulty>swapfile", "vswap>faulty>zswap>swapfile", "zswap>faulty>faulty>swapfile",
     "faulty>flashbuf>faulty>zswap", "vswap>faulty>flashbuf>swapfile"],
)
def test_stackable_anywhere_above_a_device(system: swapops.SwapSystem, chain: str) -> None:
    classes = check_stack(parse_stack(chain).modules, system.registry)
    assert [c.NAME for c in classes] == chain.split(">")


@pytest.mark.parametrize(
    ("chain", "why"),
    [("faulty", "needs a lower"), ("swapfile>faulty", "bottom"), ("faulty>faulty", "needs a lower")],
)
def test_placement_refusals(system: swapops.SwapSystem, chain: str, why: str) -> None:
    with pytest.raises(InvalidStackError, match=why):
        check_stack(parse_stack(chain).modules, system.registry)


def test_pass_through_counts_calls(system: swapops.SwapSystem) -> None:
    top = system.swapon("faulty>swapfile", size="1M")
    entry = system.swap_out(page(7))
    assert system.swap_in(entry) == page(7)
    stats = top.stats()
    assert (stats["allocs"], stats["writes"], stats["reads"]) == (1, 1, 1)
    assert stats["failed_writes"] == stats["failed_reads"] == stats["failed_allocs"] == 0
    assert top.used == top.lower.used == 1  # type: ignore[union-attr]
    system.swap_free(entry)
    assert layers_used(top) == [0, 0]


@pytest.mark.parametrize("chain", ["faulty>swapfile", "vswap>faulty>swapfile", "zswap:writeback=off>faulty>swapfile"])
def test_failed_write_leaves_nothing_allocated(system: swapops.SwapSystem, chain: str) -> None:
    top = system.swapon(chain, size="1M")
    keep = system.swap_out(random_page(1))
    before = layers_used(top)
    fdev = faulty_of(top)
    fdev.inject("write")
    # (zswap with writeback off rejects an incompressible page to the device below)
    with pytest.raises(DeviceIOError, match="injected write error"):
        system.swap_out(random_page(2))
    assert fdev.failures["write"] == 1
    assert layers_used(top) == before
    assert system.nr_entries() == 1
    entry = system.swap_out(page(9))  # the next write works
    assert system.swap_in(entry) == page(9)
    assert system.swap_in(keep) == random_page(1)


@pytest.mark.parametrize("chain", ["faulty>swapfile", "vswap>faulty>swapfile", "flashbuf:segment=16>faulty>swapfile"])
def test_failed_read_leaves_the_entry_for_a_retry(system: swapops.SwapSystem, chain: str) -> None:
    top = system.swapon(chain, size="1M")
    entry = system.swap_out(random_page(3))
    system.swap_dup(entry)
    system.unplug()  # flashbuf: the page goes below, where reads can fail
    before = layers_used(top)
    fdev = faulty_of(top)
    fdev.inject("read")
    with pytest.raises(DeviceIOError, match="injected read error"):
        system.swap_in(entry)
    assert system.swap_count(entry) == 2
    assert layers_used(top) == before
    assert system.swap_in(entry) == random_page(3)  # the retry
    assert system.swap_free(entry) == 1
    assert system.swap_free(entry) == 0
    system.unplug()
    assert top.used == 0


def test_failed_alloc_goes_to_the_next_area(system: swapops.SwapSystem) -> None:
    flaky = system.swapon("faulty>swapfile", size="1M", priority=10)
    other = system.swapon("swapfile", size="1M", priority=5)
    flaky.inject("alloc")
    entry = system.swap_out(page(1))
    assert entry[0] == other.type
    assert flaky.used == 0 and other.used == 1
    flaky.set_probability("alloc", 1.0)
    assert system.swap_out(page(2))[0] == other.type
    system.swapoff(other)
    with pytest.raises(OutOfSwapSpaceError):
        system.swap_out(page(3))
    assert flaky.used == 0


def test_every_nth_write_fails(system: swapops.SwapSystem) -> None:
    top = system.swapon("faulty:ops=w,every=3>swapfile", size="1M")
    outcomes = []
    for i in range(12):
        try:
            system.swap_out(page(i + 1))
            outcomes.append(True)
        except DeviceIOError:
            outcomes.append(False)
    assert outcomes == [True, True, False] * 4
    assert top.used == 8 and system.nr_entries() == 8


def test_probability_is_seeded_and_roughly_right() -> None:
    def pattern(seed: int) -> list[bool]:
        system = swapops.SwapSystem(seed=seed, plugins=[faulty])
        system.swapon("faulty:ops=r,probability=0.3>swapfile", size="1M")
        entry = system.swap_out(page(5))
        out = []
        for _ in range(400):
            try:
                system.swap_in(entry)
                out.append(True)
            except DeviceIOError:
                out.append(False)
        return out

    first = pattern(1)
    assert first == pattern(1)
    assert first != pattern(2)
    rate = first.count(False) / len(first)
    assert 0.2 < rate < 0.4


def test_flakey_intervals_follow_simulated_time(system: swapops.SwapSystem) -> None:
    system.swapon("faulty:ops=wr,up_interval=1000,down_interval=500>swapfile", size="1M")
    entry = system.swap_out(page(1))  # t=0: up
    system.advance(1200)  # t=1200: down (1000..1500)
    with pytest.raises(DeviceIOError):
        system.swap_in(entry)
    with pytest.raises(DeviceIOError):
        system.swap_out(page(2))
    system.advance(400)  # t=1600: up again
    assert system.swap_in(entry) == page(1)
    system.swap_out(page(2))


def test_paused_and_clear(system: swapops.SwapSystem) -> None:
    top = system.swapon("faulty:ops=wra,every=1>swapfile", size="1M")
    assert top.armed
    with top.paused():
        assert not top.armed
        entry = system.swap_out(page(1))
        assert system.swap_in(entry) == page(1)
    assert top.armed
    with pytest.raises(DeviceIOError):
        system.swap_in(entry)
    top.clear()
    assert not top.armed
    assert system.swap_in(entry) == page(1)


@pytest.mark.parametrize(
    "opts", ["ops=x", "probability=2", "probability=nan", "every=-1", "ops=wz"]
)
def test_bad_options(system: swapops.SwapSystem, opts: str) -> None:
    with pytest.raises(ConfigError):
        system.swapon(f"faulty:{opts}>swapfile", size="1M")
    assert system.devices == []


def test_runtime_control_is_checked(system: swapops.SwapSystem) -> None:
    top = system.swapon("faulty>swapfile", size="1M")
    with pytest.raises(ConfigError):
        top.inject("erase")
    with pytest.raises(ConfigError):
        top.set_probability("read", 1.5)
    with pytest.raises(ConfigError):
        top.inject("read", -1)


def test_zswap_writeback_into_a_failing_device_keeps_the_entries(system: swapops.SwapSystem) -> None:
    """zswap writes back to a device whose writes fail: entries stay in the pool, none is lost."""
    top = system.swapon("zswap:ram=256K>faulty>swapfile", size="1M")
    fdev = faulty_of(top)
    fdev.set_probability("write", 1.0)
    entries = {}
    for i in range(200):
        # compressible (random pages are rejected to the device below, and fail there)
        folio = Folio(random_page(100 + i).data[:2048] + bytes(2048))
        with contextlib.suppress(DeviceIOError, OutOfSwapSpaceError):
            entries[system.swap_out(folio)] = folio
        system.run_work()  # the queued shrink worker tries to write back
    assert entries
    for _ in range(len(entries) // 16 + 2):  # past every second chance
        top.shrink_worker()
    stats = top.stats()
    assert stats["reject_reclaim_fail"] > 0
    assert fdev.failures["write"] > 0
    fdev.clear()
    for entry, folio in entries.items():
        assert system.swap_in(entry) == folio
    for entry in entries:
        system.swap_free(entry)
    assert [d.used for d in top.layers()] == [0, 0, 0]


def test_swapoff_with_a_read_error_loses_no_entry(system: swapops.SwapSystem) -> None:
    """A swapoff that hits a read error fails, and every entry is still there.

    (Found by the fault machine: the core used to free the entries it had read
    before the error, and their contents went down with the unreturned report.)
    """
    top = system.swapon("faulty:ops=r,every=3>swapfile", size="1M")
    entries = {system.swap_out(page(i + 1)): page(i + 1) for i in range(5)}
    with pytest.raises(DeviceIOError):
        system.swapoff(top)
    assert top in system.devices
    assert system.nr_entries() == 5
    top.clear()
    for entry, folio in entries.items():
        assert system.swap_in(entry) == folio
    report = system.swapoff(top)
    assert {e: f.data for e, f in report.restored.items()} == {e: f.data for e, f in entries.items()}


def test_a_refused_backend_attach_leaves_no_layer_active(system: swapops.SwapSystem) -> None:
    """swapon(..., above=vswap) of a stack topped by a filter.

    The placement rules look through filters, so ``faulty>swapfile`` may go
    below vswap. If vswap refuses it anyway (it did: it checked the filter's own
    KIND), swapon must fail without leaving the new layers registered or active.
    """
    top = system.swapon("vswap>swapfile", size="1M")
    system.swapoff(top.lower)  # type: ignore[arg-type]
    try:
        lower = system.swapon("faulty>swapfile", size="1M", above=top)
    except ConfigError:
        devices = [p for p in system.pm.get_plugins() if isinstance(p, swapops.SwapDevice)]
        assert devices == [top]
        assert top.lower is None
    else:
        assert top.lower is lower and lower.upper is top
        entry = system.swap_out(page(4))
        assert system.swap_in(entry) == page(4)
