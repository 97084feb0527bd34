"""The swapfile module: backing stores, real files with swap headers, and a
stateful machine against a simple model with the allocator's invariants."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

import swapops
from swapops import Folio
from swapops.errors import (
    ConfigError,
    FolioSplitRequired,
    InvalidSwapHeaderError,
    OutOfSwapSpaceError,
)
from swapops.header import format_swapfile, pack_header

MKSWAP = shutil.which("mkswap")


def random_folios(rng: random.Random, n: int, max_order: int = 4) -> list[Folio]:
    folios = []
    for _ in range(n):
        order = rng.choice([0, 0, 0, 0, 1, 2, 3, 4][: 4 + max_order])
        if rng.random() < 0.25:
            data = bytes(4096 << order)
        else:
            data = rng.randbytes(4096 << order)
        folios.append(Folio(data))
    return folios


def exercise(system: swapops.SwapSystem, dev: swapops.SwapDevice, n: int, seed: int) -> int:
    """Swap out n random folios (split when told to), dup some, free in random
    order with reads interleaved; return how many were split."""
    rng = random.Random(seed)
    live: dict[tuple[int, int], tuple[bytes, int]] = {}
    splits = 0
    for folio in random_folios(rng, n):
        try:
            pieces = [(system.swap_out(folio), folio)]
        except FolioSplitRequired:
            splits += 1
            pieces = [(system.swap_out(p), p) for p in folio.split()]
        for entry, part in pieces:
            refs = 1
            if rng.random() < 0.2:
                system.swap_dup(entry)
                refs = 2
            live[entry] = (part.data, refs)
        if len(live) > 300:
            for entry in rng.sample(sorted(live), 100):
                data, refs = live.pop(entry)
                assert system.swap_in(entry).data == data
                for _ in range(refs):
                    system.swap_free(entry)
    entries = sorted(live)
    rng.shuffle(entries)
    for entry in entries:
        data, refs = live[entry]
        assert system.swap_in(entry).data == data
        for _ in range(refs):
            system.swap_free(entry)
    assert dev.used == 0
    assert system.nr_entries() == 0
    return splits


def test_ten_thousand_folios_ram() -> None:
    system = swapops.SwapSystem(seed=1)
    dev = system.swapon("swapfile", size="64M")
    assert exercise(system, dev, 10_000, seed=1) == 0  # a RAM device is a block device: no splits
    dev.allocator.check_invariants()  # type: ignore[attr-defined]


def test_ten_thousand_folios_file(tmp_path: Path) -> None:
    system = swapops.SwapSystem(seed=2)
    path = tmp_path / "swap.img"
    dev = system.swapon("swapfile", size="64M", path=path)
    assert (path.stat().st_mode & 0o777) == 0o600
    # a regular file gets no large folios: the caller is told to split (kernel: SWP_BLKDEV only)
    assert exercise(system, dev, 10_000, seed=2) > 0
    system.swapoff(dev)


def test_file_contents_are_really_in_the_file(tmp_path: Path) -> None:
    system = swapops.SwapSystem()
    path = tmp_path / "swap.img"
    dev = system.swapon("swapfile", size="1M", path=path)
    entry = system.swap_out(Folio(b"Q" * 4096))
    with open(path, "rb") as f:
        f.seek(entry[1] * 4096)
        assert f.read(4096) == b"Q" * 4096
    assert entry[1] != 0  # slot 0 is the header
    system.swap_free(entry)
    system.swapoff(dev)


@pytest.mark.skipif(MKSWAP is None, reason="util-linux mkswap not installed")
def test_mkswap_file_opens_with_its_size_uuid_and_label(tmp_path: Path) -> None:
    path = tmp_path / "ref.img"
    path.write_bytes(bytes(4 << 20))
    path.chmod(0o600)
    subprocess.run(
        [
            MKSWAP,
            "-q",
            "-L",
            "mylabel",
            "-U",
            "01234567-89ab-cdef-0123-456789abcdef",
            str(path),
            "2048",
        ],
        check=True,
    )
    system = swapops.SwapSystem()
    dev = system.swapon("swapfile", path=path)
    header = dev.header  # type: ignore[attr-defined]
    assert header.label == "mylabel"
    assert header.uuid == uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")
    assert (
        dev.size == 2048 * 1024 // 4096 - 1
    )  # mkswap's size argument is in KiB; slot 0 is the header
    assert system.swaps()[0].size == dev.size * 4
    system.swapoff(dev)


def test_bad_pages(tmp_path: Path) -> None:
    path = tmp_path / "bad.img"
    format_swapfile(path, size="1M", badpages=[5, 7])
    system = swapops.SwapSystem()
    with pytest.raises(InvalidSwapHeaderError, match="bad pages"):
        system.swapon("swapfile", path=path)
    dev = system.swapon("swapfile", path=path, blockdev=True)
    assert dev.size == 256 - 1 - 2
    entries = [system.swap_out(Folio(bytes([i % 250 + 1]) * 4096)) for i in range(dev.size)]
    assert {e[1] for e in entries}.isdisjoint({0, 5, 7})
    with pytest.raises(OutOfSwapSpaceError):
        system.swap_out(Folio(b"x" * 4096))


def test_corrupt_and_foreign_files(tmp_path: Path) -> None:
    system = swapops.SwapSystem()
    junk = tmp_path / "junk.img"
    junk.write_bytes(os.urandom(1 << 20))
    junk.chmod(0o600)
    with pytest.raises(InvalidSwapHeaderError):
        system.swapon("swapfile", path=junk)
    big = tmp_path / "64k.img"
    page = pack_header(page_size=65536, last_page=15, uuid=uuid.uuid4())
    big.write_bytes(page + bytes(65536 * 15))
    big.chmod(0o600)
    with pytest.raises(InvalidSwapHeaderError, match="65536-byte pages"):
        system.swapon("swapfile", path=big)
    with pytest.raises(ConfigError, match="does not exist"):
        system.swapon("swapfile", path=tmp_path / "missing.img")
    with pytest.raises(ConfigError, match="too small|at least"):
        system.swapon("swapfile", size="16K")
    with pytest.raises(ConfigError, match="size is required"):
        system.swapon("swapfile")
    assert system.devices == []


def test_a_terabyte_costs_nothing_until_used() -> None:
    system = swapops.SwapSystem()
    dev = system.swapon("swapfile", size="1T")
    assert dev.size == (1 << 28) - 1
    entry = system.swap_out(Folio(b"z" * 4096))
    assert system.swap_in(entry).data == b"z" * 4096
    system.swap_free(entry)
    system.swapoff(dev)


def test_discard_and_rotational_options() -> None:
    system = swapops.SwapSystem()
    dev = system.swapon("swapfile:discard=on,rotational=yes", size="8M")
    entries = [system.swap_out(Folio(b"d" * 4096)) for _ in range(1024)]
    for e in entries:
        system.swap_free(e)
    system.unplug()  # runs the discard worker
    stats = dev.stats()
    assert stats["discards"] >= 512  # at least one whole cluster was discarded
    assert dev.used == 0


class SwapfileMachine(RuleBasedStateMachine):
    """swapfile against a dict model: contents, counts, capacity, cluster lists."""

    entries = Bundle("entries")

    def __init__(self) -> None:
        super().__init__()
        self.system = swapops.SwapSystem(seed=3)
        self.dev = self.system.swapon("swapfile:discard=on", size="2M")
        self.model: dict[tuple[int, int], tuple[bytes, int]] = {}

    @rule(
        target=entries,
        order=st.sampled_from([0, 0, 0, 1, 2, 4, 9]),
        kind=st.sampled_from(["zero", "random", "text"]),
        seed=st.integers(0, 2**16),
    )
    def swap_out(self, order: int, kind: str, seed: int) -> object:
        size = 4096 << order
        if kind == "zero":
            data = bytes(size)
        elif kind == "random":
            data = random.Random(seed).randbytes(size)
        else:
            line = b"swap entry %d " % seed
            data = (line * (size // len(line) + 1))[:size]
        try:
            entry = self.system.swap_out(Folio(data))
        except OutOfSwapSpaceError:
            return swapops_multiple()
        assert entry not in self.model, "slot handed out twice"
        self.model[entry] = (data, 1)
        return entry

    @rule(entry=entries)
    def swap_in(self, entry: tuple[int, int]) -> None:
        if entry in self.model:
            assert self.system.swap_in(entry).data == self.model[entry][0]

    @rule(entry=entries)
    def dup(self, entry: tuple[int, int]) -> None:
        if entry in self.model:
            data, refs = self.model[entry]
            assert self.system.swap_dup(entry) == refs + 1
            self.model[entry] = (data, refs + 1)

    @rule(entry=consumes(entries))
    def free(self, entry: tuple[int, int]) -> None:
        if entry in self.model:
            data, refs = self.model.pop(entry)
            for left in range(refs - 1, -1, -1):
                assert self.system.swap_free(entry) == left

    @precondition(lambda self: len(self.model) < 40)
    @rule()
    def swapoff_swapon(self) -> None:
        report = self.system.swapoff(self.dev)
        assert {e: f.data for e, f in report.restored.items()} == {
            e: d for e, (d, _) in self.model.items()
        }
        self.model.clear()
        self.dev = self.system.swapon("swapfile:discard=on", size="2M")

    @rule()
    def unplug(self) -> None:
        self.system.unplug()

    @invariant()
    def accounting(self) -> None:
        alloc = self.dev.allocator  # type: ignore[attr-defined]
        alloc.check_invariants()
        pages = sum(len(d) // 4096 for d, _ in self.model.values())
        assert self.dev.used == pages
        assert self.dev.used + self.dev.free == self.dev.size
        assert all(v >= 0 for v in self.dev.stats().values() if isinstance(v, (int, float)))

    def teardown(self) -> None:
        for entry, (_data, refs) in list(self.model.items()):
            for _ in range(refs):
                self.system.swap_free(entry)
        assert self.dev.used == 0


def swapops_multiple() -> object:
    from hypothesis.stateful import multiple

    return multiple()


TestSwapfileMachine = SwapfileMachine.TestCase


@pytest.mark.parametrize("size", ["300T", "16384T", "99999999999T"])
def test_size_beyond_the_simulator_limit_is_refused(size: str) -> None:
    system = swapops.SwapSystem()
    with pytest.raises(ConfigError, match="must be at most 256T"):
        system.swapon("swapfile", size=size)
    assert system.devices == []


@pytest.mark.parametrize("stack", ["swapfile:op=0.1", "swapfile:gc=fifo", "swapfile:device=nvme,pages_per_block=64"])
def test_flash_options_need_device_flash(stack: str) -> None:
    system = swapops.SwapSystem()
    with pytest.raises(ConfigError, match="applies only with device=flash"):
        system.swapon(stack, size="4M")
    assert system.devices == []


def test_check_invariants_catches_a_drifting_used_counter() -> None:
    """The conformance machine's used + free = size check rests on this recount."""
    from swapops.testing.model import ModelError
    from swapops.testing.stateful import SwapStackMachine

    system = swapops.SwapSystem()
    dev = system.swapon("swapfile", size="1M")
    system.swap_out(swapops.Folio(b"q" * 4096))
    dev.check_invariants()
    SwapStackMachine._check_device("lane", dev)
    assert dev.allocator is not None
    dev.allocator.used += 1  # a counter that drifts from the slots really in use
    with pytest.raises(AssertionError, match="used"):
        dev.check_invariants()
    with pytest.raises(ModelError, match="accounting"):
        SwapStackMachine._check_device("lane", dev)
