"""The two-pass stack builder and the layer protocol of the base class.

Pass 1 creates and links every layer (and validates its operations) before
pass 2 binds and activates them bottom-up, so each layer knows its upper and
lower device at activation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

import swapops
from swapops import Folio, Option, SwapDevice
from swapops.errors import (
    ConfigError,
    DeviceIOError,
    InvalidStackError,
    OutOfSwapSpaceError,
    UnknownOperationError,
)
from swapops.registry import ModuleRegistry
from swapops.stack import chain_holds, check_stack
from swapops.testing import faulty


def _plugin(*classes: type[SwapDevice]) -> object:
    class Plugin:
        @swapops.hookimpl
        def swapops_register_modules(self, registry: ModuleRegistry) -> None:
            for cls in classes:
                registry.add(cls)

    return Plugin()


class _Probe(SwapDevice):
    """A filter that records, at activation, what it sees around it."""

    NAME = "probe"
    KIND = "filter"
    LOWER_KINDS = frozenset({"physical", "cache", "buffer", "virtual"})
    NEEDS_LOWER = True
    MAX_IN_STACK = 2
    seen: ClassVar[list[tuple[str | None, str | None, bool]]] = []

    @swapops.hookimpl
    def swapops_activate(self, ctx: swapops.SwapContext) -> None:
        assert self.lower is not None
        up = self.effective_upper
        self.seen.append((up.NAME if up is not None else None, self.effective_lower.NAME
                          if self.effective_lower is not None else None, self.lower.ops is not None))

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        return self.lower_alloc(order)

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        self.lower_free(offset, nr)

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        self.lower_write(offset, folio)

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        self.lower_read(offset, folio)


def test_every_layer_knows_both_neighbours_at_activation() -> None:
    _Probe.seen.clear()
    system = swapops.SwapSystem(plugins=[_plugin(_Probe)])
    top = system.swapon("vswap>probe>zswap>probe>swapfile", size="4M")
    # bottom-up: the lower probe first; filters are looked through both ways
    assert _Probe.seen == [("zswap", "swapfile", True), ("vswap", "zswap", True)]
    zswap = top.lower.lower
    assert zswap.mode_name == "keyed"  # decided at activation, a virtual layer above
    entry = system.swap_out(Folio(b"ab" * 2048))
    assert system.swap_in(entry).data == b"ab" * 2048
    # the default size/used of a layer is its lower device's
    assert top.lower.size == zswap.size and top.lower.used == zswap.used


def test_zswap_mode_is_fixed_at_activation() -> None:
    system = swapops.SwapSystem()
    direct = system.swapon("zswap>swapfile", size="4M")
    assert direct.mode_name == "direct" and direct.size == direct.lower.size
    keyed = system.swapon("vswap>zswap>swapfile", size="4M").lower
    assert keyed.mode_name == "keyed"
    bottom = system.swapon("zswap")
    assert bottom.mode_name == "keyed"


def test_a_stack_attached_below_vswap_knows_it_at_activation() -> None:
    system = swapops.SwapSystem()
    top = system.swapon("vswap>swapfile", size="4M")
    system.swapoff(top.lower)
    sub = system.swapon("zswap>swapfile", size="4M", above=top)
    assert sub.upper is top and top.lower is sub
    assert sub.mode_name == "keyed"  # the virtual layer above was linked before activation
    entry = system.swap_out(Folio(b"cd" * 2048))
    assert system.swap_in(entry).data == b"cd" * 2048


def test_composition_on_a_zswap_relinks_it() -> None:
    """swapon("vswap", lower=zswap): the unused zswap decides its mode again."""
    system = swapops.SwapSystem()
    zswap = system.swapon("zswap", lower=system.swapon("swapfile", size="4M"))
    assert zswap.mode_name == "direct"
    system.swapon("vswap", lower=zswap)
    assert zswap.mode_name == "keyed"


def test_a_failed_build_leaves_nothing_linked_or_registered() -> None:
    system = swapops.SwapSystem()
    before = len(system.pm.get_plugins())
    with pytest.raises(ConfigError, match="leaves the pool no page"):
        system.swapon("vswap>zswap:ram=16K>swapfile", size="4M")
    assert len(system.pm.get_plugins()) == before and system.devices == []
    base = system.swapon("swapfile", size="4M")
    with pytest.raises(ConfigError):
        system.swapon("zswap:ram=16K", lower=base)
    assert base.upper is None and system.devices == [base]


# -------------------------------------------------------------------- operation names


class _Minimal(SwapDevice):
    NAME = "minimal"
    OPTIONS: ClassVar[Mapping[str, Option]] = {}

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        self.unplugs = 0

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        return 0

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        return None

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        return None

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        return None

    size = 16
    used = 0


class _Misspelled(_Minimal):
    NAME = "misspelled"

    @swapops.hookimpl
    def swapops_unplg(self) -> None:  # never called: swapon must say so
        self.unplugs += 1


class _Unmarked(_Minimal):
    NAME = "unmarked"

    def swapops_unplug(self) -> None:  # no @swapops.hookimpl: pluggy would ignore it
        self.unplugs += 1


def test_a_misspelled_operation_is_refused_and_named() -> None:
    system = swapops.SwapSystem(autoload=False, plugins=[_plugin(_Misspelled)])
    with pytest.raises(UnknownOperationError, match=r"swapops_unplg is not a swap operation \(did you mean swapops_unplug\?\)"):
        system.swapon("misspelled")
    assert system.devices == [] and len(system.pm.get_plugins()) == 1
    fine = swapops.SwapSystem(autoload=False, plugins=[_plugin(_Minimal)])
    assert fine.swapon("minimal").NAME == "minimal"


def test_an_unmarked_operation_is_refused() -> None:
    system = swapops.SwapSystem(autoload=False, plugins=[_plugin(_Unmarked)])
    with pytest.raises(UnknownOperationError, match="swapops_unplug is not marked @swapops.hookimpl"):
        system.swapon("unmarked")


# -------------------------------------------------------------------- filter placement


class _PhysTee(SwapDevice):
    """A filter that only allows a physical device below it (like a block-layer tee)."""

    NAME = "ptee"
    KIND = "filter"
    LOWER_KINDS = frozenset({"physical"})
    NEEDS_LOWER = True


def test_a_filters_lower_kinds_are_enforced() -> None:
    system = swapops.SwapSystem(plugins=[_plugin(_PhysTee)])
    with pytest.raises(InvalidStackError, match="ptee cannot sit on zswap: ptee accepts physical devices"):
        system.swapon("ptee>zswap")
    with pytest.raises(InvalidStackError, match=r"ptee cannot sit on zswap \(through faulty\)"):
        check_stack(["ptee", "faulty", "zswap"], swapops.SwapSystem(plugins=[_plugin(_PhysTee), faulty]).registry)
    chains = swapops.valid_chains(system.registry, ["ptee", "zswap", "swapfile"], max_depth=3)
    assert "ptee>swapfile" in chains and "zswap>ptee>swapfile" in chains
    assert not [c for c in chains if "ptee>zswap" in c]


# -------------------------------------------------------------------- what a chain holds


def test_what_a_chain_can_hold() -> None:
    registry = swapops.SwapSystem().registry

    def holds(chain: str) -> str:
        return chain_holds(check_stack(chain.split(">"), registry))

    assert holds("swapfile") == "any" and holds("vswap>zswap>swapfile") == "any"
    assert holds("vswap") == "nothing"  # zero pages only (the core's flag)
    assert holds("zswap") == holds("zswap>zswap") == holds("vswap>flashbuf>zswap") == "compressible"


def test_lower_holds_and_the_stand_ins() -> None:
    system = swapops.SwapSystem()
    top = system.swapon("vswap>zswap>swapfile", size="4M")
    assert top.lower_holds() == "any" and top.lower.lower_holds() == "any"
    only = swapops.SwapSystem()
    alone = only.swapon("vswap")
    assert alone.lower_holds() == "nothing"
    with pytest.raises(OutOfSwapSpaceError, match="no device below"):
        only.swap_out(Folio(b"x" * 4096))  # vswap alone: only zero pages
    bare = SwapDevice({})
    assert bare.lower_alloc(0) == -1
    with pytest.raises(OutOfSwapSpaceError):
        bare.lower_write(0, Folio(bytes(4096)))
    with pytest.raises(DeviceIOError):
        bare.lower_read(0, Folio.empty(0))
    with pytest.raises(NotImplementedError, match="must define size"):
        _ = bare.size
