"""The device side of the swap-ops contract: what a swap module implements.

A *module* is a device type (a :class:`SwapDevice` subclass). ``swapon``
creates an instance with its options and, for modules that sit above others,
a ``lower`` device. The class declares where it may sit in a stack:

``KIND``
    what it is to the layer above: ``"physical"`` (slots on a backing store),
    ``"cache"`` (a compressed cache such as zswap), ``"buffer"`` (a write
    buffer such as flashbuf), ``"virtual"`` (a virtual slot space such as
    vswap) or ``"filter"`` (transparent, e.g. fault injection).
``LOWER_KINDS``
    the kinds it accepts directly below it; empty means it must be the bottom.
``NEEDS_LOWER``
    it cannot be the bottom of a stack.

Filters are looked through: ``vswap>faulty>swapfile`` is checked as
``vswap>swapfile``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from .clock import SimClock
from .options import Option

if TYPE_CHECKING:
    from .folio import Folio
    from .system import SwapSystem

KINDS = ("physical", "cache", "buffer", "virtual", "filter")


@attrs.define(eq=False)
class SwapContext:
    """What a device gets at activation: the run's clock, seed and page size."""

    clock: SimClock
    seed: int
    page_size: int
    system: SwapSystem | None = attrs.field(default=None, repr=False)
    path: str = ""  # position in the stack, e.g. "0/zswap"; seeds per-device RNGs

    def rng(self, name: str = "") -> random.Random:
        """A deterministic RNG for this device, from (seed, stack position, name)."""
        return random.Random(f"{self.seed}:{self.path}:{name}")


class DeviceDispatch:
    """A device's operations, resolved once at swapon (``init_swap_ops``).

    Plain attributes holding bound methods: the per-page path calls
    ``ops.write(offset, folio)`` with no lookup beyond one attribute load.
    """

    __slots__ = ("alloc", "free", "write", "read", "unplug", "discard", "tick", "device")

    def __init__(self, device: SwapDevice, table: Mapping[str, Callable[..., Any]]) -> None:
        self.device = device
        self.alloc: Callable[[int], int] = table["swapops_cluster_alloc"]
        self.free: Callable[[int, int], None] = table["swapops_cluster_free"]
        self.write: Callable[[int, Folio], None] = table["swapops_write_folio"]
        self.read: Callable[[int, Folio], None] = table["swapops_read_folio"]
        self.unplug: Callable[[], None] = table.get("swapops_unplug", _noop)
        self.discard: Callable[[int, int], None] = table.get("swapops_discard", _noop2)
        self.tick: Callable[[int], None] = table.get("swapops_tick", _noop1)


def _noop() -> None:
    return None


def _noop1(_a: int) -> None:
    return None


def _noop2(_a: int, _b: int) -> None:
    return None


class SwapDevice:
    """Base class of swap modules (optional, but it gives the handle API).

    Subclasses implement the operations of :class:`swapops.hookspecs.DeviceOps`
    as methods decorated with ``@swapops.hookimpl`` and the ``size``/``used``
    properties (in pages). ``stats()`` returns the device's counters;
    ``kernel_overhead()`` the metadata the design would cost inside Linux
    (modeled, see :mod:`swapops.overhead`).
    """

    NAME: ClassVar[str] = ""
    KIND: ClassVar[str] = "physical"
    LOWER_KINDS: ClassVar[frozenset[str]] = frozenset()
    NEEDS_LOWER: ClassVar[bool] = False
    MAX_IN_STACK: ClassVar[int] = 1
    SUMMARY: ClassVar[str] = ""
    OPTIONS: ClassVar[Mapping[str, Option]] = {}

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        self.options: dict[str, Any] = dict(options)
        self.lower: SwapDevice | None = lower
        self.upper: SwapDevice | None = None
        if lower is not None:
            lower.upper = self
        self.ops: DeviceDispatch | None = None
        self.ctx: SwapContext | None = None
        self.type: int = -1  # index in the swap area table, set when this is a stack's top
        self.priority: int = -1

    def fast_ops(self) -> Mapping[str, Callable[..., Any]]:
        """Operations to bind instead of the hookimpl methods, after activation.

        A device may return callables with exactly the contract of one of its
        operations but fewer Python calls (e.g. ``{"swapops_cluster_alloc":
        self.allocator.alloc}``). The hookimpl stays the validated contract
        and is used when tracing is on.
        """
        return {}

    # -- handle API ------------------------------------------------------------

    @property
    def size(self) -> int:
        """Capacity in pages (slots), like ``si->pages``."""
        raise NotImplementedError

    @property
    def used(self) -> int:
        """Slots in use, like ``si->inuse_pages``."""
        raise NotImplementedError

    @property
    def free(self) -> int:
        return self.size - self.used

    @property
    def filename(self) -> str:
        """What ``/proc/swaps`` shows in its Filename column."""
        return f"[{self.NAME}]"

    @property
    def swap_type(self) -> str:
        """What ``/proc/swaps`` shows in its Type column."""
        return {"physical": "partition", "virtual": "virtual"}.get(self.KIND, self.NAME)

    def check_invariants(self) -> None:
        """Recount this device's accounting from its own structures (tests; O(size)).

        Raise :class:`AssertionError` naming what disagrees, e.g. a ``used``
        counter against the slots its allocator's tables mark. The
        conformance machine calls it on every layer after every step, so that
        ``used + free == size`` rests on a recount and not on ``free`` being
        defined as ``size - used``. The default checks nothing.
        """

    def stats(self) -> dict[str, int | float]:
        """The device's counters (names as the kernel's debugfs/vmstat use them)."""
        return {"size": self.size, "used": self.used}

    def kernel_overhead(self) -> dict[str, float]:
        """Modeled kernel metadata of this layer: ``static_bytes`` (at 0 % use),
        ``bytes_per_entry`` (each used entry) and ``total_bytes`` now."""
        return {"static_bytes": 0.0, "bytes_per_entry": 0.0, "total_bytes": 0.0}

    def layers(self) -> Iterator[SwapDevice]:
        """This device and every device below it, top to bottom."""
        dev: SwapDevice | None = self
        while dev is not None:
            yield dev
            dev = dev.lower

    @property
    def stack_name(self) -> str:
        return ">".join(d.NAME for d in self.layers())

    def __repr__(self) -> str:
        try:
            return f"<{type(self).__name__} {self.NAME} used={self.used}/{self.size}>"
        except Exception:
            return f"<{type(self).__name__} {self.NAME}>"
