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
    the kinds it accepts below it; empty means it must be the bottom.
``NEEDS_LOWER``
    it cannot be the bottom of a stack.
``HOLDS``
    what it can keep by itself (:data:`HOLD_LEVELS`): ``"any"`` page, only
    ``"compressible"`` ones, or ``"nothing"`` (it passes pages on, or gives
    entries an identity only, as a ghost swapfile does). Default: by kind,
    ``any`` for physical, ``compressible`` for a cache, ``nothing`` otherwise.
``LOWER_HOLDS``
    what the layers below it must be able to keep, at least (default
    ``"nothing"``: no requirement). zram's backing device must store pages,
    so ``zram>ghost`` is refused.
``SYNCHRONOUS_IO``
    the device is a synchronous block device (``BLK_FEAT_SYNCHRONOUS``, so
    swapon sets ``SWP_SYNCHRONOUS_IO``: zram, pmem). A swap-in fault on such
    an area reads only the faulting entry (no readahead) and drops the
    swap-cache copy once the page is mapped (:func:`stack_swapin_flags`).

Filters are looked through: ``vswap>faulty>swapfile`` is checked as
``vswap>swapfile``, and a filter's own ``LOWER_KINDS`` apply to the first
device below it that is not a filter.

Every layer is a :class:`SwapDevice`; the base class gives the stack around
it (:attr:`~SwapDevice.effective_lower`, :attr:`~SwapDevice.effective_upper`,
:meth:`~SwapDevice.lower_holds`) and the names through which a layer reaches
the device below: ``lower_alloc``, ``lower_free``, ``lower_write``,
``lower_read``, ``lower_discard``, ``lower_unplug`` and ``lower_tick``, bound
by :meth:`~SwapDevice.bind_lower` before ``swapops_activate``. The calling
convention is in ``docs/hooks.md``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from .clock import SimClock
from .constants import UNBOUNDED_SIZE
from .errors import DeviceIOError, InvalidEntryError, OutOfSwapSpaceError
from .options import Option

if TYPE_CHECKING:
    from .contentref import ContentCache
    from .folio import Folio
    from .shrinker import Shrinker

KINDS = ("physical", "cache", "buffer", "virtual", "filter")

#: What a layer can keep by itself, weakest first (``SwapDevice.HOLDS``).
HOLD_LEVELS = ("nothing", "compressible", "any")
_KIND_HOLDS = {"physical": "any", "cache": "compressible"}

#: Bits of :meth:`SwapDevice.swapin_flags`: what a swap-in fault does with an
#: entry (``docs/kernel.md`` §1, SWP_SYNCHRONOUS_IO). Read only the faulting
#: entry: no readahead (``do_swap_page`` on a synchronous-IO area).
SWAPIN_NO_READAHEAD = 1
#: Once the page is mapped, drop its swap-cache copy (``folio_free_swap``) when
#: no other PTE references the entry (``should_try_to_free_swap``).
SWAPIN_FREE_CACHE = 2


@attrs.define(eq=False)
class SwapContext:
    """What a device gets at activation: the run's clock, seed and page size."""

    clock: SimClock
    seed: int
    page_size: int
    path: str = ""  # position in the stack, e.g. "0.1/2/zswap"; seeds per-device RNGs

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
    """Base class of every layer of a stack (a swap module's device type).

    Subclasses implement the operations of :class:`swapops.hookspecs.DeviceOps`
    as methods decorated with ``@swapops.hookimpl``. ``size``/``used`` (in
    pages) default to the lower device's, for a layer that hands out the slots
    of the device below (a filter, zswap directly over a swapfile); a layer
    with its own slot space overrides them. ``stats()`` returns the device's
    counters; ``kernel_overhead()`` the metadata the design would cost inside
    Linux (modeled, see :mod:`swapops.overhead`).

    The stack builder (:func:`swapops.stack.build_stack`) links every layer
    first (``lower`` in the constructor, ``upper`` set by the layer above),
    then binds and activates them bottom-up: when ``swapops_activate`` runs,
    the layer's lower device is active and bound to ``lower_*``, and the
    layer above it already exists (``upper``, :attr:`effective_upper`).
    """

    # The lower device's operations, as the per-page path loads them: slots
    # load faster than a large instance dict. Subclasses keep their __dict__.
    __slots__ = (
        "__dict__", "lower_alloc", "lower_free", "lower_write", "lower_read",
        "lower_discard", "lower_unplug", "lower_tick",
    )

    NAME: ClassVar[str] = ""
    KIND: ClassVar[str] = "physical"
    LOWER_KINDS: ClassVar[frozenset[str]] = frozenset()
    NEEDS_LOWER: ClassVar[bool] = False
    MAX_IN_STACK: ClassVar[int] = 1
    HOLDS: ClassVar[str | None] = None  # None: by KIND (see holds())
    LOWER_HOLDS: ClassVar[str] = "nothing"  # what the layers below must keep, at least
    SYNCHRONOUS_IO: ClassVar[bool] = False  # SWP_SYNCHRONOUS_IO (zram, pmem)
    SUMMARY: ClassVar[str] = ""
    OPTIONS: ClassVar[Mapping[str, Option]] = {}
    #: The layer can hold pages by content key (:mod:`swapops.contentref`): it
    #: stores ``folio.ck`` when set, sets it on a read, and asks
    #: :attr:`content` for anything it needs to know about the bytes. A module
    #: that does not declare it gets bytes, as in byte mode.
    CONTENT_REF: ClassVar[bool] = False

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
        # Set by the core when the layer's area runs in reference mode.
        self.content: ContentCache | None = None
        self._bind_stand_ins()

    @property
    def content_ref(self) -> bool:
        """Whether this instance can hold pages by content key (default: :attr:`CONTENT_REF`)."""
        return self.CONTENT_REF

    def fast_ops(self) -> Mapping[str, Callable[..., Any]]:
        """Operations to bind instead of the hookimpl methods, after activation.

        A device may return callables with exactly the contract of one of its
        operations but fewer Python calls (e.g. ``{"swapops_cluster_alloc":
        self.allocator.alloc}``). The hookimpl stays the validated contract
        and is used when tracing is on.
        """
        return {}

    # -- the stack around this layer ----------------------------------------------

    @property
    def effective_lower(self) -> SwapDevice | None:
        """The first device below that is not a filter (filters are transparent)."""
        dev = self.lower
        while dev is not None and dev.KIND == "filter":
            dev = dev.lower
        return dev

    @property
    def effective_upper(self) -> SwapDevice | None:
        """The first device above that is not a filter (filters are transparent)."""
        dev = self.upper
        while dev is not None and dev.KIND == "filter":
            dev = dev.upper
        return dev

    @classmethod
    def holds(cls) -> str:
        """What this layer can keep by itself: one of :data:`HOLD_LEVELS`."""
        if cls.HOLDS is not None:
            return cls.HOLDS
        return _KIND_HOLDS.get(cls.KIND, "nothing")

    def lower_holds(self) -> str:
        """What the layers below this one can keep, the most any of them can
        (``"nothing"`` with no lower device, or only layers that store nothing)."""
        best = 0
        dev = self.lower
        while dev is not None:
            best = max(best, HOLD_LEVELS.index(dev.holds()))
            dev = dev.lower
        return HOLD_LEVELS[best]

    def swapin_flags(self, offset: int) -> int:
        """What a swap-in fault does with this area's entry ``offset``: bits
        :data:`SWAPIN_NO_READAHEAD` and :data:`SWAPIN_FREE_CACHE`.

        Not a hook and not on the per-page path of the core: the mm model asks
        the core once per swap-in fault (:meth:`swapops.SwapSystem.swapin_flags`).
        The default is the stack's fixed answer (:func:`stack_swapin_flags`,
        read once at swapon through :meth:`swapin_policy`); a top layer whose
        answer depends on the entry (vswap's Swap Table Edition frees entries
        not backed by a physical slot) overrides both, and is then asked per
        fault.
        """
        return stack_swapin_flags(self)

    def swapin_policy(self) -> int:
        """The :meth:`swapin_flags` of every entry when they are all the same, or
        ``-1`` when the core must ask :meth:`swapin_flags` per entry. The core
        reads it once, when the stack becomes a swap area. Default: the
        stack's fixed answer (:func:`stack_swapin_flags`)."""
        return stack_swapin_flags(self)

    def swap_charge(self, offset: int, nr: int) -> int:
        """Pages of the entry at ``offset`` (``nr`` pages, just written) that its
        cgroup's ``memory.swap.current`` is charged for (:mod:`swapops.memcg`).

        Not a hook and not on the core's per-page path: the mm model's memcg
        asks the top layer of an area once per page-out, and only when cgroups
        are configured. The default is mainline's policy: every entry is
        charged whole when it is allocated (``folio_alloc_swap()`` ->
        ``mem_cgroup_try_charge_swap()``), so a layer that keeps this default
        lets the memcg refuse an over-limit charge *before* the write. A top
        layer with another policy overrides it (vswap charges only the pages
        it backed with a physical slot); its charge is then checked after the
        write, and an over-limit entry is freed again (the folio stays in
        memory).
        """
        return nr

    def bind_lower(self) -> None:
        """Bind the lower device's operations to the ``lower_*`` names.

        ``lower_alloc``, ``lower_free``, ``lower_write``, ``lower_read``,
        ``lower_discard``, ``lower_unplug``, ``lower_tick``: the device below's
        dispatch table (``lower.ops``), plain bound methods, one attribute
        load each on the per-page path. The stack builder calls this before
        ``swapops_activate``; a layer whose lower device changes at run time
        (vswap's attach/detach) calls it again. Without a bound lower device
        the names hold stand-ins: ``lower_alloc`` returns -1, ``lower_write``
        raises :class:`~swapops.errors.OutOfSwapSpaceError`, ``lower_read``
        :class:`~swapops.errors.DeviceIOError`, ``lower_free``
        :class:`~swapops.errors.InvalidEntryError`; the rest do nothing.
        """
        lower = self.lower
        ops = lower.ops if lower is not None else None
        if ops is None:
            self._bind_stand_ins()
            return
        self.lower_alloc = ops.alloc
        self.lower_free = ops.free
        self.lower_write = ops.write
        self.lower_read = ops.read
        self.lower_discard = ops.discard
        self.lower_unplug = ops.unplug
        self.lower_tick = ops.tick

    def relink(self) -> None:
        """The stack above this active layer changed: ``swapon(..., lower=dev)``
        stacked new layers on it while it held no live entry.

        Not a hook: the stack builder calls it on every layer of the existing
        stack after the new layers are active, so a layer that decided
        something from its neighbours at activation (zswap's mode) decides it
        again. The default does nothing.
        """

    def _bind_stand_ins(self) -> None:
        name = self.NAME or type(self).__name__

        def no_alloc(order: int) -> int:
            return -1

        def no_free(offset: int, nr: int) -> None:
            raise InvalidEntryError(f"{name}: no device below to free slots {offset}+{nr} on")

        def no_write(offset: int, folio: Folio) -> None:
            raise OutOfSwapSpaceError(f"{name}: no device below to write to")

        def no_read(offset: int, folio: Folio) -> None:
            raise DeviceIOError(f"{name}: no device below to read slot {offset} from")

        self.lower_alloc = no_alloc
        self.lower_free = no_free
        self.lower_write = no_write
        self.lower_read = no_read
        self.lower_discard = _noop2
        self.lower_unplug = _noop
        self.lower_tick = _noop1

    # -- handle API ------------------------------------------------------------

    @property
    def size(self) -> int:
        """Capacity in pages (slots), like ``si->pages``; by default the lower device's."""
        if self.lower is None:
            raise NotImplementedError(f"{type(self).__name__} has no lower device: it must define size")
        return self.lower.size

    @property
    def used(self) -> int:
        """Slots in use, like ``si->inuse_pages``; by default the lower device's."""
        if self.lower is None:
            raise NotImplementedError(f"{type(self).__name__} has no lower device: it must define used")
        return self.lower.used

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

    def ram_held(self) -> int:
        """Pages of the machine's RAM this layer holds now, outside the pages
        the page tables map: memory the kernel would have allocated for it
        (zswap: its zsmalloc pool, ``zswap_total_pages()``). The page-table
        owner counts them as used memory, so they press on reclaim as the
        pool's pages do in the kernel. Read at reclaim and fault time, not per
        page access. The default holds none."""
        return 0

    def writeback_pages(self) -> int:
        """Pages this layer has written back through the swap cache so far.

        ``zswap_writeback_entry`` decompresses each entry into a newly
        allocated swap-cache folio and submits its write; the folio stays in
        the swap cache, clean, until reclaim frees it or a fault maps it:
        memory and reclaim work the page-table owner counts. Those a top layer
        names by entry (:meth:`take_writeback_folios`) get a frame; the rest
        are counted only. Read with :meth:`ram_held`, never per page. The
        default: none."""
        return 0

    def take_writeback_folios(self) -> list[tuple[int, Folio]]:
        """The swap-cache folios this layer's writebacks left since the last
        call, as ``(offset, folio)`` in the area's entry space, for the core to
        put in the swap cache (:meth:`swapops.system.SwapSystem.take_writeback_folios`).

        Only the top layer of an area can name its writebacks by entry (its
        keys are the entries' offsets); its :meth:`writeback_pages` counts
        these too. The default: none."""
        return []

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
                if size < UNBOUNDED_SIZE:
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


def area_device(top: SwapDevice) -> SwapDevice:
    """The device whose slots a stack's swap entries are, as the kernel sees the
    ``swap_info_struct``: the first layer from the top that is neither a filter
    (transparent) nor a compressed cache (zswap is no swap device of its own:
    its entries are the slots of the device below, or its own keys at the
    bottom). ``zswap>zram`` is zram's area; ``vswap>...`` is vswap's."""
    dev: SwapDevice | None = top
    while dev is not None and dev.KIND in ("filter", "cache"):
        if dev.lower is None:
            return dev
        dev = dev.lower
    return dev if dev is not None else top


def stack_swapin_flags(top: SwapDevice) -> int:
    """Swap-in behaviour of a stack fixed by its area device (:func:`area_device`):
    ``SWP_SYNCHRONOUS_IO`` means no readahead and the swap-cache copy freed
    once mapped (``mm/memory.c: do_swap_page()``, ``should_try_to_free_swap()``
    in the swap-table kernels; 6.12 skips the swap cache for a singly
    referenced entry, which frees the slot the same way: ``docs/kernel.md`` §1)."""
    if area_device(top).SYNCHRONOUS_IO:
        return SWAPIN_NO_READAHEAD | SWAPIN_FREE_CACHE
    return 0
