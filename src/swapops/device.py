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
    from .shrinker import Shrinker
    from .system import SwapSystem

KINDS = ("physical", "cache", "buffer", "virtual", "filter")
_UNBOUNDED = 1 << 41  # swapops.cluster.UNBOUNDED_SIZE: an unbounded (virtual) slot space


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

    def shrinkers(self) -> tuple[Shrinker, ...]:
        """Memory-pressure shrinkers of this layer (``shrinker_alloc`` in the kernel).

        The page-table owner's reclaim runs them once per reclaim run
        (:func:`swapops.shrinker.shrink_slab`), e.g. zswap's writeback shrinker
        and zsmalloc's compaction. Asked after activation, at most once per
        reclaim run; the default registers none.
        """
        return ()

    def set_cpu(self, cpu: int) -> None:
        """Allocations from now on come from simulated CPU ``cpu`` (any int; a
        layer with fewer CPUs takes it modulo its count). The default ignores it."""

    def run_work(self) -> None:
        """Run work this layer queued for later (a kernel workqueue item, such as
        zswap's ``shrink_worker``).

        Called when the page-table owner's reclaim reaches a scheduling point
        (after each reclaim batch, ``cond_resched``) and when simulated time
        passes; a layer with nothing queued returns at once. The default does
        nothing.
        """

    @property
    def rotational(self) -> bool:
        """The storage at the bottom of this stack is rotational (no
        ``SWP_SOLIDSTATE``): one active rotational area makes the kernel use
        cluster readahead instead of VMA readahead (``nr_rotate_swap``,
        ``swap_use_vma_readahead``). The default asks the device below; a
        bottom device without the property is not rotational."""
        return self.lower.rotational if self.lower is not None else False

    def swap_usage(self) -> tuple[int, int] | None:
        """``(total, in use)`` swap pages of the stack this device tops, as
        ``vm_swap_full()`` counts them (``total_swap_pages``, and that minus
        ``nr_swap_pages``), or ``None`` when the stack has no fixed size.

        The kernel counts the slots of the swap device the PTEs point into.
        The default takes the first layer from this one down that has a fixed
        size and is not a virtual space: the slots a swapfile hands out, the
        slots a direct zswap takes from the swapfile below it, the capacity a
        buffer such as flashbuf offers above itself (not the device it
        reserves whole), the device below an unbounded virtual layer (vswap:
        physical swap). A layer may override it.
        """
        dev: SwapDevice | None = self
        while dev is not None:
            if dev.KIND != "virtual" and dev.KIND != "filter":
                size = dev.size
                if size < _UNBOUNDED:
                    return (size, dev.used)
            dev = dev.lower
        return None

    def io_pages(self) -> tuple[int, int]:
        """``(pages read, pages written)`` by this layer from/to storage: its share
        of the kernel's ``pswpin``/``pswpout`` (``mm/page_io.c``: counted where a
        swap folio's block I/O is submitted, never for zero-filled pages or
        zswap's pool).

        A ``physical`` layer counts its ``reads``/``writes`` stats (every page it
        transferred, whoever asked: a swap-out, a zswap writeback, a read-ahead,
        flashbuf's segment flushes and cleaning copies); other kinds hold pages
        in memory or pass them down and count 0. Read at report time only.
        """
        if self.KIND != "physical":
            return (0, 0)
        st = self.stats()
        return (int(st.get("reads", 0)), int(st.get("writes", 0)))

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
