"""SwapSystem: the swap area table, entry counts, swap cache, swapon/swapoff.

What the core owns, as the kernel's swap layer does:

* the swap area table (at most 32 areas, priorities highest first, equal
  priorities taking turns per cluster);
* per-entry state in a swap table per area: the PTE reference count (four
  bits in the table, overflow kept aside as the swap table's extend table), the
  zero flag (zero-filled folios take no I/O: the kernel's zeromap / the swap
  table's ``Z`` bit), the swap-cache pin and the large-folio marks;
* the swap cache, holding folios whose only copy is in memory (after an
  exclusive zswap load) until their last reference goes or they are written
  back;
* swapon (the stack built by :class:`swapops.stack.StackBuilder`, then
  entered in the area table) and swapoff (bring every entry back, or let
  vswap repoint them, then deactivate).

Devices are reached through dispatch tables bound once at swapon; the per-page
methods here make no pluggy call.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator
from typing import Any, Protocol

import attrs
import pluggy

from .clock import SimClock
from .constants import CLUSTER_MASK, CLUSTER_SHIFT, MAX_SWAPFILES, UNBOUNDED_SIZE
from .contentref import ContentCache
from .device import DeviceDispatch, SwapDevice
from .errors import (
    ConfigError,
    DeviceBusyError,
    DeviceIOError,
    FolioSplitRequired,
    InvalidEntryError,
    InvalidStackError,
    OutOfSwapSpaceError,
    SwapOpsError,
)
from .files import check_path, check_seed
from .folio import ZERO_PAGES, Folio
from .options import parse_options
from .registry import ModuleRegistry, make_plugin_manager
from .shrinker import Shrinker
from .sizes import PAGE_SIZE
from .stack import StackBuilder, StackSpec, merge_kwargs, parse_stack

DEF_SWAP_PRIO = -1

# Swap table byte per slot (cf. the P4 swap table: 4 count bits + Z flag).
COUNT_MASK = 0x0F
COUNT_MAX = 0x0E  # counts above this live in the area's extend table
ZERO = 0x10
CACHE = 0x20
HEAD = 0x40  # first slot of a large folio; its order is in area.orders
TAIL = 0x80  # other slots of a large folio

SwapEntry = tuple[int, int]


class SwapOwner(Protocol):
    """Who holds the page tables: told at swapoff of a directly mapped device.

    ``unuse`` must walk its page tables (the kernel's ``try_to_unuse``), and for
    each swap PTE of area ``swap_type`` call ``system.swap_in(entry)``, install
    the folio and ``system.swap_free(entry)``. It returns the number of page-
    table entries it visited.
    """

    def unuse(self, system: SwapSystem, swap_type: int) -> int: ...


@attrs.frozen
class SwapsRow:
    """One line of ``/proc/swaps`` (sizes in KiB, as the kernel prints them)."""

    filename: str
    type: str
    size: int
    used: int
    priority: int


@attrs.define
class SwapoffReport:
    """The work a swapoff did."""

    device: str
    entries_moved: int = 0  # entries whose content changed place
    pages_read: int = 0
    pte_visits: int = 0  # page-table entries the owner walked (0 with vswap)
    restored: dict[SwapEntry, Folio] = attrs.field(factory=dict, repr=False)
    detail: dict[str, int] = attrs.field(factory=dict)


class SwapArea:
    """One swap_info_struct: a stack's top device and its swap table."""

    __slots__ = (
        "type", "priority", "device", "ops", "alloc", "free", "write", "read",
        "tables", "extend", "orders", "nr_entries", "cur_cluster", "entries_allocated",
        "entries_read", "swpout_zero", "swpin_zero", "peers", "swapin", "by_ref",
    )

    def __init__(self, swap_type: int, priority: int, device: SwapDevice) -> None:
        assert device.ops is not None
        self.type = swap_type
        self.priority = priority
        self.device = device
        self.ops: DeviceDispatch = device.ops
        self.alloc = device.ops.alloc
        self.free = device.ops.free
        self.write = device.ops.write
        self.read = device.ops.read
        self.by_ref = False  # every layer holds content keys (SwapSystem.set_content)
        self.tables: dict[int, bytearray] = {}
        self.extend: dict[int, int] = {}
        self.orders: dict[int, int] = {}
        self.nr_entries = 0
        self.cur_cluster = -1
        # Pages given an entry by swap_out / read back by swap_in, whatever held
        # them (not kernel counters: the kernel's pswpout/pswpin count only device
        # I/O, summed from the layers, see SwapDevice.io_pages).
        self.entries_allocated = 0
        self.entries_read = 0
        self.swpout_zero = 0  # vmstat swpout_zero: zero-filled, no I/O (mm/page_io.c swap_writepage)
        self.swpin_zero = 0  # vmstat swpin_zero (mm/page_io.c swap_read_folio_zeromap)
        self.peers = 0  # other available areas of the same priority
        # SwapDevice.swapin_flags: fixed for the stack (>= 0), or -1 when the top
        # layer answers per entry.
        self.swapin = device.swapin_policy()

    def live_offsets(self) -> Iterator[int]:
        """Offsets of live entries (heads), in slot order."""
        for ci in sorted(self.tables):
            table = self.tables[ci]
            base = ci << CLUSTER_SHIFT
            for i, state in enumerate(table):
                if state and not state & TAIL:
                    yield base + i


def _not_an_entry(entry: object) -> InvalidEntryError:
    return InvalidEntryError(f"invalid swap entry {entry!r}: a swap entry is a (type, offset) tuple")


class SwapSystem:
    """A simulated machine's swap layer. One plugin manager per instance.

    :param seed: seeds every device's RNG; a run is reproducible from its
        configuration and this seed.
    :param plugins: extra plugin objects to register (besides entry points).
    :param autoload: load the ``swapops`` entry points (default: unless
        ``SWAPOPS_DISABLE_PLUGIN_AUTOLOAD`` is set).
    :param trace: route every device operation through the ``swapops_trace``
        hook (default: ``SWAPOPS_TRACE_HOOKS=1``). Slow; for debugging.
    :param owner: the page-table owner told at swapoff (see :class:`SwapOwner`).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        plugins: tuple[Any, ...] | list[Any] = (),
        autoload: bool | None = None,
        blocked: tuple[str, ...] = (),
        trace: bool | None = None,
        owner: SwapOwner | None = None,
    ) -> None:
        self.pm: pluggy.PluginManager
        self.registry: ModuleRegistry
        self.pm, self.registry, self.plugin_failures = make_plugin_manager(
            autoload=autoload, plugins=plugins, blocked=blocked
        )
        self.seed = check_seed(seed)
        self.clock = SimClock()
        self.owner = owner
        self.trace = bool(os.environ.get("SWAPOPS_TRACE_HOOKS")) if trace is None else trace
        self._areas: list[SwapArea | None] = [None] * MAX_SWAPFILES
        self._avail: list[SwapArea] = []
        self._swapcache: dict[SwapEntry, Folio] = {}
        self._pinned: set[SwapEntry] = set()  # cached on request (swap_in(cache=True))
        self._current: list[SwapArea | None] = [None] * 10  # per order, like percpu_swap_cluster
        self._builder = StackBuilder(self.pm, self.registry, self.clock, seed, self.trace)
        self._content: ContentCache | None = None
        # vm_swap_full()'s and swap_use_vma_readahead()'s inputs, resolved once
        # per change of the area table or a stack (not per swap-in): None = stale.
        self._usage_src: list[tuple[SwapDevice | None, SwapDevice]] | None = None
        self._rotational: bool | None = None
        self._layer_fns: dict[str, list[Any]] = {}
        #: Bumped at every change of the area table or a stack: who resolves
        #: something per area once (a cgroup's allowed areas, swapops.memcg)
        #: compares it instead of being told.
        self.generation = 0

    def _stacks_changed(self) -> None:
        self.generation += 1
        self._usage_src = None
        self._rotational = None
        self._layer_fns.clear()

    # ------------------------------------------------------------------ content mode

    @property
    def content(self) -> ContentCache | None:
        """The content cache of reference mode (:mod:`swapops.contentref`); None: byte mode."""
        return self._content

    def set_content(self, cache: ContentCache | None) -> None:
        """Run in reference mode with ``cache`` (None: back to byte mode for new swap-outs).

        Each area runs by reference when every layer of its stack declares it
        can (``SwapDevice.content_ref``); the core gives those layers the cache
        (``device.content``). An area with a layer that cannot gets every
        reference folio's bytes made at ``swap_out``, so the module sees what
        it sees in byte mode. Entries already stored keep what they hold.
        """
        self._content = cache
        for area in self._areas:
            if area is not None:
                self._bind_content(area)

    def _bind_content(self, area: SwapArea) -> None:
        cache = self._content
        layers = list(area.device.layers())
        area.by_ref = cache is not None and all(layer.content_ref for layer in layers)
        for layer in layers:
            layer.content = cache if area.by_ref else None

    # ------------------------------------------------------------------ swapon

    def swapon(
        self,
        spec: str | StackSpec,
        size: int | str | None = None,
        priority: int = DEF_SWAP_PRIO,
        path: str | os.PathLike[str] | None = None,
        *,
        above: SwapDevice | None = None,
        lower: SwapDevice | None = None,
        **options: Any,
    ) -> SwapDevice:
        """Build, validate, bind and activate a stack; return its top device.

        ``spec`` is a module name or a stack string (top first). Keyword
        options (``size``, ``path`` and any module option) go to the
        bottom-most layer that declares them; options in the string win.
        With ``above=`` the stack is attached below that device (vswap) as
        its new backend instead of becoming a swap area of its own. With
        ``lower=`` (Python composition) the new modules are stacked on top of
        a device an earlier swapon returned: ``swapon("vswap", lower=dev)``
        is ``swapon("vswap>swapfile")`` built in two steps. ``dev`` must be
        the top of an area with no live entry; it stops being an area of its
        own and the new top takes its swap type.
        """
        stack = spec if isinstance(spec, StackSpec) else parse_stack(spec)
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise ConfigError(f"priority must be an integer, not {priority!r}")
        if not -1 <= priority <= 32767:
            raise ConfigError(f"priority {priority} out of range (-1 or 0..32767, as swapon -p)")
        below: SwapArea | None = None
        if lower is not None:
            if above is not None:
                raise ConfigError("give above= or lower=, not both")
            below = self._check_lower(lower)
        if above is not None:
            self._check_attach(above)
        classes = self._builder.check(stack, lower=lower, upper=above)
        kwargs = dict(options)
        if size is not None:
            kwargs["size"] = size
        if path is not None:
            kwargs["path"] = check_path(path, "path")
        per_layer = merge_kwargs(stack, classes, kwargs)
        parsed = [
            parse_options(cls.NAME, cls.OPTIONS, opts)
            for cls, opts in zip(classes, per_layer, strict=True)
        ]
        swap_type = -1
        if below is not None:
            swap_type = below.type
        elif above is None:
            swap_type = self._free_type()
        top = self._builder.build(
            classes, parsed, label="sub" if above is not None else str(swap_type), lower=lower, upper=above
        )
        if above is not None:
            for area in self._areas:
                if area is not None and above in area.device.layers():
                    self._bind_content(area)  # the new layers below may not hold keys
            self._stacks_changed()
            return top
        if below is not None:  # the composed device is no longer an area of its own
            self._avail.remove(below)
            self._areas[below.type] = None
            self._sort_avail()
            below.device.type = -1
        top.type = swap_type
        top.priority = priority
        area = SwapArea(swap_type, priority, top)
        self._bind_content(area)
        self._areas[swap_type] = area
        self._avail.append(area)
        self._sort_avail()
        self.pm.hook.swapops_swapon(system=self, device=top)
        return top

    def _check_attach(self, above: SwapDevice) -> None:
        if not isinstance(above, SwapDevice):
            raise ConfigError(f"above= takes a device returned by swapon, not {type(above).__name__}")
        if getattr(above, "swapops_attach_lower", None) is None:
            raise InvalidStackError(f"{above.NAME} cannot take a new lower device")
        if above.lower is not None:
            raise DeviceBusyError(f"{above.NAME} already has a lower device ({above.lower.NAME}); swapoff it first")

    def _check_lower(self, lower: SwapDevice) -> SwapArea:
        if not isinstance(lower, SwapDevice):
            raise ConfigError(f"lower= takes a device returned by swapon, not {type(lower).__name__}")
        area = self._area_of(lower)
        if area is None or lower.upper is not None:
            raise DeviceBusyError(f"{lower.NAME} is not the top of an active swap area; lower= takes one")
        live = sum(1 for _ in area.live_offsets())
        if live:
            raise DeviceBusyError(
                f"{lower.stack_name} holds {live} live entries; stack modules on it only while it is unused"
            )
        return area

    def _free_type(self) -> int:
        for swap_type, area in enumerate(self._areas):
            if area is None:
                return swap_type
        raise DeviceBusyError(f"all {MAX_SWAPFILES} swap areas are in use (MAX_SWAPFILES)")

    def _teardown(self, dev: SwapDevice) -> None:
        self._builder.teardown(dev)

    def _sort_avail(self) -> None:
        self._stacks_changed()
        self._avail.sort(key=lambda a: -a.priority)  # stable: equal priorities keep their turn
        for area in self._avail:
            area.peers = sum(1 for a in self._avail if a.priority == area.priority) - 1
        self._current = [a if a in self._avail else None for a in self._current]

    # --------------------------------------------------------------- the hot path

    def swap_out(self, folio: Folio, allowed: int = -1) -> SwapEntry:
        """Give ``folio`` a swap entry and write it out; return ``(type, offset)``.

        Zero-filled folios get an entry with the zero flag and no I/O. On a
        write error the slots are released and :class:`DeviceIOError` raised:
        the folio stays with the caller.

        ``allowed``: a bit mask of the swap types the entry may come from (bit
        ``type`` set: allowed; the default ``-1`` allows every area). The mm
        model passes a cgroup's swap tiers resolved once per change of the
        area table (:mod:`swapops.memcg`); the areas keep their priority order.
        """
        try:
            order = folio.order
        except AttributeError:  # free when no exception: the hot path pays nothing
            raise ConfigError(f"swap_out takes a swapops.Folio, not {type(folio).__name__}") from None
        nr = 1 << order
        current = self._current[order]
        offset = -1
        if current is not None and allowed >> current.type & 1:
            area = current
            # Fast path: stay on the device whose cluster we are filling (the
            # per-CPU cluster cache). When its cluster runs out and others of
            # equal priority wait their turn, the kernel takes the slow path.
            offset = area.alloc(order)
            if offset >= 0 and offset >> CLUSTER_SHIFT != area.cur_cluster and area.peers:
                area.free(offset, nr)
                offset = -1
        if offset < 0:
            for area in self._avail:
                if not allowed >> area.type & 1:
                    continue
                offset = area.alloc(order)
                if offset >= 0:
                    break
            else:
                raise self._no_space(order, allowed)
            self._current[order] = area
        ck = folio.ck
        if ck < 0:
            zero = folio.data == ZERO_PAGES[order]
        elif area.by_ref:
            zero = self._content.is_zero(ck)  # type: ignore[union-attr]
        else:  # a stack that wants bytes: made here, as byte mode makes them
            zero = self._materialise(folio, area, offset) == ZERO_PAGES[0]
        if zero:
            state = ZERO | 1
            area.swpout_zero += nr
        else:
            try:
                area.write(offset, folio)
            except BaseException:
                area.free(offset, nr)
                raise
            state = 1
        ci = offset >> CLUSTER_SHIFT
        table = area.tables.get(ci)
        if table is None:
            table = area.tables[ci] = bytearray(1 << CLUSTER_SHIFT)
        i = offset & CLUSTER_MASK
        if order:
            table[i] = state | HEAD
            table[i + 1 : i + nr] = _TAILS[order]
            area.orders[offset] = order
        else:
            table[i] = state
        area.nr_entries += 1
        area.entries_allocated += nr
        if ci != area.cur_cluster:
            area.cur_cluster = ci
            self._rotate(area)
        return (area.type, offset)

    def _materialise(self, folio: Folio, area: SwapArea, offset: int) -> bytes:
        cache = self._content
        if cache is None:
            area.free(offset, 1)
            raise ConfigError("a folio with a content key (Folio.ref) needs SwapSystem.set_content(cache)")
        data = folio.data = cache.page(folio.ck)
        folio.ck = -1
        return data

    def _rotate(self, area: SwapArea) -> None:
        """Equal priorities take turns per cluster refill, as plist_requeue does."""
        if area.peers:
            avail = self._avail
            avail.remove(area)
            last = max(i for i, a in enumerate(avail) if a.priority == area.priority)
            avail.insert(last + 1, area)

    def _no_space(self, order: int, allowed: int = -1) -> OutOfSwapSpaceError:
        if not self._avail:
            return OutOfSwapSpaceError("no swap area is active (swapon first)")
        if not any(allowed >> a.type & 1 for a in self._avail):
            return OutOfSwapSpaceError("no allowed swap area is active (the cgroup's swap tiers hold none)")
        if order:
            # Would an order-0 folio fit? Probe (rare path) rather than trust
            # free counts: a virtual device's size says little about its room.
            for area in self._avail:
                if not allowed >> area.type & 1:
                    continue
                offset = area.alloc(0)
                if offset >= 0:
                    area.free(offset, 1)
                    return FolioSplitRequired(
                        f"no free aligned run of {1 << order} slots for an order-{order} folio; "
                        "split it and retry"
                    )
        return OutOfSwapSpaceError(f"out of swap space: no active area has room for an order-{order} folio")

    def _lookup(self, entry: SwapEntry) -> tuple[SwapArea, bytearray, int, int]:
        if not isinstance(entry, tuple):  # a set or a string would unpack, then fail at entry[1]
            raise _not_an_entry(entry)
        try:
            swap_type, offset = entry
            area = self._areas[swap_type] if swap_type >= 0 else None
            table = area.tables[offset >> CLUSTER_SHIFT]  # type: ignore[union-attr]
            i = offset & CLUSTER_MASK
            state = table[i]
        except (TypeError, ValueError, IndexError, KeyError, AttributeError):
            raise InvalidEntryError(f"invalid swap entry {entry!r}: not a live entry") from None
        if not state or state & TAIL:
            raise InvalidEntryError(f"invalid swap entry {entry!r}: not a live entry")
        return area, table, i, state  # type: ignore[return-value]

    def swap_in(self, entry: SwapEntry, *, cache: bool = False) -> Folio:
        """Read the folio behind ``entry``; its reference count is unchanged.

        A folio already in the swap cache is returned from there. If the device
        load consumed its copy (``folio.dirty``), the folio stays in the swap
        cache until the entry's last reference goes or it is written back
        (:meth:`swap_cache_drop`). ``cache=True`` keeps it cached regardless,
        as a swap-in under memory pressure leaves a clean page in the cache.
        """
        if self._swapcache:
            try:
                cached = self._swapcache.get(entry)
            except TypeError:  # unhashable: a list, a dict (free when nothing is raised)
                raise _not_an_entry(entry) from None
            if cached is not None:
                if cache:  # cached by an exclusive load: pinned now, as a first cache=True read is
                    self._pinned.add(entry)
                return cached
        try:  # _lookup inlined (the per-page path); anything unusual takes _lookup itself
            swap_type, offset = entry
            area: SwapArea = self._areas[swap_type]  # type: ignore[assignment]  # None: AttributeError
            table = area.tables[offset >> CLUSTER_SHIFT]
            i = offset & CLUSTER_MASK
            state = table[i]
            if entry.__class__ is not tuple or swap_type < 0 or not state or state & TAIL:
                raise ValueError
        except (TypeError, ValueError, IndexError, KeyError, AttributeError):
            area, table, i, state = self._lookup(entry)
            offset = entry[1]
        order = area.orders[offset] if state & HEAD else 0
        folio = _new_folio(Folio)
        folio.order = order
        folio.dirty = False
        folio.ck = -1
        folio.data = b""
        if state & ZERO:
            folio.data = ZERO_PAGES[order]
            area.swpin_zero += 1 << order
        else:
            area.read(offset, folio)
        area.entries_read += 1 << order
        if folio.dirty or cache:
            self._swapcache[entry] = folio
            table[i] = state | CACHE
            if cache:
                self._pinned.add(entry)
        return folio

    def swap_split(self, entry: SwapEntry) -> list[SwapEntry]:
        """Make the entry of a swapped-out large folio ``2**order`` order-0
        entries, one per page, each with the head's count and zero flag;
        return them in slot order (``[entry]`` for an order-0 entry).

        The kernel keeps a swap count per slot (``swap_map``): once a large
        folio has left the swap cache its pages are separate entries, faulted
        in, freed and duplicated one by one (6.12 swaps in order-0 pages
        except on ``SWP_SYNCHRONOUS_IO`` devices). The layers are not told:
        the slots stay where they were, and a later read or free of one
        reaches them as an order-0 operation on a slot of the run, which
        every layer accepts (``docs/hooks.md``).

        :raises SwapOpsError: the folio is still in the swap cache.
        """
        area, table, i, state = self._lookup(entry)
        if not state & HEAD:
            return [entry]
        if state & CACHE:
            raise SwapOpsError(f"swap entry {entry!r}: its folio is in the swap cache; it cannot be split")
        offset = entry[1]
        nr = 1 << area.orders.pop(offset)
        table[i : i + nr] = bytes([state & ~HEAD]) * nr
        if state & COUNT_MASK == COUNT_MASK:
            extended = area.extend[offset]
            for k in range(1, nr):
                area.extend[offset + k] = extended
        area.nr_entries += nr - 1
        t = area.type
        return [(t, offset + k) for k in range(nr)]

    def swapin_flags(self, entry: SwapEntry) -> int:
        """What a swap-in fault does with ``entry`` (:meth:`SwapDevice.swapin_flags`):
        ``SWAPIN_NO_READAHEAD`` and ``SWAPIN_FREE_CACHE`` bits, for the mm model.

        Fixed per area (its area device's ``SYNCHRONOUS_IO``) unless the top
        layer answers per entry. Ask while the fault still holds its reference.
        """
        try:
            swap_type = entry[0]
            area = self._areas[swap_type] if swap_type >= 0 else None
        except (TypeError, IndexError):
            area = None
        if area is None:
            raise InvalidEntryError(f"invalid swap entry {entry!r}: no such swap area")
        flags = area.swapin
        return flags if flags >= 0 else area.device.swapin_flags(entry[1])

    def entry_live(self, entry: SwapEntry) -> bool:
        """Whether ``entry`` is a live entry (no exception for one that is not:
        the memcg asks after every free that may have been the last)."""
        try:
            swap_type, offset = entry
            area = self._areas[swap_type] if swap_type >= 0 else None
            table = area.tables.get(offset >> CLUSTER_SHIFT) if area is not None else None
        except (TypeError, ValueError, IndexError):
            return False
        if table is None:
            return False
        state = table[offset & CLUSTER_MASK]
        return bool(state) and not state & TAIL

    def swap_dup(self, entry: SwapEntry) -> int:
        """One more page-table reference (fork); return the new count."""
        area, table, i, state = self._lookup(entry)
        count = state & COUNT_MASK
        offset = entry[1]
        if count < COUNT_MAX:
            table[i] = state + 1
            return count + 1
        extended = area.extend.get(offset, COUNT_MAX) + 1
        area.extend[offset] = extended
        table[i] = (state & ~COUNT_MASK) | COUNT_MASK
        return extended

    def swap_count(self, entry: SwapEntry) -> int:
        """Page-table references held on ``entry`` (0 if only the swap cache pins it)."""
        try:  # _lookup inlined (the per-page path); anything unusual takes _lookup itself
            swap_type, offset = entry
            area: SwapArea = self._areas[swap_type]  # type: ignore[assignment]  # None: AttributeError
            table = area.tables[offset >> CLUSTER_SHIFT]
            i = offset & CLUSTER_MASK
            state = table[i]
            if entry.__class__ is not tuple or swap_type < 0 or not state or state & TAIL:
                raise ValueError
        except (TypeError, ValueError, IndexError, KeyError, AttributeError):
            area, table, i, state = self._lookup(entry)
            offset = entry[1]
        count = state & COUNT_MASK
        return area.extend[offset] if count == COUNT_MASK else count

    def swap_free(self, entry: SwapEntry) -> int:
        """Drop one page-table reference; free the slots when none is left.

        Returns the remaining count. Freeing flows down the stack (zswap
        invalidate, flashbuf invalidate, discard).
        """
        try:  # _lookup inlined (the per-page path); anything unusual takes _lookup itself
            swap_type, offset = entry
            area: SwapArea = self._areas[swap_type]  # type: ignore[assignment]  # None: AttributeError
            table = area.tables[offset >> CLUSTER_SHIFT]
            i = offset & CLUSTER_MASK
            state = table[i]
            if entry.__class__ is not tuple or swap_type < 0 or not state or state & TAIL:
                raise ValueError
        except (TypeError, ValueError, IndexError, KeyError, AttributeError):
            area, table, i, state = self._lookup(entry)
            offset = entry[1]
        count = state & COUNT_MASK
        if count == COUNT_MASK:
            remaining = area.extend[offset] - 1
            if remaining > COUNT_MAX:
                area.extend[offset] = remaining
            else:
                del area.extend[offset]
                table[i] = (state & ~COUNT_MASK) | remaining
            return remaining
        if count == 0:
            raise InvalidEntryError(f"swap entry {entry!r} has no page-table reference to drop")
        try:
            keep = count > 1 or (state & CACHE and entry in self._pinned)
        except TypeError:  # unhashable
            raise _not_an_entry(entry) from None
        if keep:
            table[i] = state - 1
            return count - 1
        if state & CACHE:  # a dirty load's copy: the last reference takes it along
            self._swapcache.pop(entry, None)
        self._release(area, table, i, state, offset)
        return 0

    def _release(self, area: SwapArea, table: bytearray, i: int, state: int, offset: int) -> None:
        if state & HEAD:
            nr = 1 << area.orders.pop(offset)
            table[i : i + nr] = bytes(nr)
        else:
            nr = 1
            table[i] = 0
        area.free(offset, nr)
        area.nr_entries -= 1

    def swap_cache_drop(self, entry: SwapEntry) -> None:
        """Take ``entry``'s folio out of the swap cache (reclaim of a cached page).

        A dirty folio (its device copy was consumed) is written back to its
        slots first, as reclaim writes a dirty swap-cache folio; if that write
        fails the folio stays cached. With no reference left the entry is freed.
        """
        try:
            folio = self._swapcache.get(entry)
        except TypeError:  # unhashable
            raise _not_an_entry(entry) from None
        if folio is None:
            return
        try:  # _lookup inlined (the per-page path); anything unusual takes _lookup itself
            swap_type, offset = entry
            area: SwapArea = self._areas[swap_type]  # type: ignore[assignment]  # None: AttributeError
            table = area.tables[offset >> CLUSTER_SHIFT]
            i = offset & CLUSTER_MASK
            state = table[i]
            if entry.__class__ is not tuple or swap_type < 0 or not state or state & TAIL:
                raise ValueError
        except (TypeError, ValueError, IndexError, KeyError, AttributeError):
            area, table, i, state = self._lookup(entry)
            offset = entry[1]
        referenced = state & COUNT_MASK
        if folio.dirty and referenced and not state & ZERO:
            area.write(offset, folio)
            folio.dirty = False
        del self._swapcache[entry]
        self._pinned.discard(entry)
        state &= ~CACHE
        if referenced:
            table[i] = state
        else:
            self._release(area, table, i, state, offset)

    def reclaim_swap_cache(self, *, skip_failed: bool = True) -> int:
        """Drop every folio it can from the swap cache (writing dirty ones back).

        A dirty folio whose writeback fails for lack of space or an I/O error
        stays cached, as reclaim skips a folio it cannot write (it keeps the
        page and moves on). Returns the number dropped. ``skip_failed=False``
        stops at the first failure and raises it instead.
        """
        dropped = 0
        for entry in list(self._swapcache):
            try:
                self.swap_cache_drop(entry)
            except (OutOfSwapSpaceError, DeviceIOError):
                if not skip_failed:
                    raise
                continue
            dropped += 1
        return dropped

    def swap_cache_size(self) -> int:
        return len(self._swapcache)

    # ------------------------------------------------------------------ swapoff

    def _area_of(self, device: SwapDevice) -> SwapArea | None:
        for area in self._areas:
            if area is not None and area.device is device:
                return area
        return None

    def swapoff(self, device: SwapDevice, *, owner: SwapOwner | None = None) -> SwapoffReport:
        """Take ``device`` out of service without losing an entry.

        The top of a stack: every live entry comes back to memory. The owner
        of the page tables (``owner`` or the system's) is told and walks them
        (the kernel's ``try_to_unuse``); entries nobody claims are returned in
        ``report.restored``. A device below vswap: vswap moves each entry's
        content to memory or another backend, and no page table is touched.
        """
        if not isinstance(device, SwapDevice):
            raise ConfigError(f"swapoff takes a device returned by swapon, not {type(device).__name__}")
        area = self._area_of(device)
        if area is None:
            return self._swapoff_lower(device)
        report = SwapoffReport(device=device.stack_name)
        self._avail.remove(area)
        self._sort_avail()
        try:
            owner = owner or self.owner
            if owner is not None:
                before = area.entries_read
                report.pte_visits = owner.unuse(self, area.type)
                report.pages_read = area.entries_read - before
            live = list(area.live_offsets())
            # Read every entry back before releasing any: a read error then
            # leaves every entry live (none is lost with the unreturned report).
            for offset in live:
                entry = (area.type, offset)
                report.restored[entry] = self.swap_in(entry)
            for offset in live:
                entry = (area.type, offset)
                folio = report.restored[entry]
                _a, table, i, state = self._lookup(entry)
                report.pages_read += folio.nr_pages
                refs = self.swap_count(entry)
                report.pte_visits += refs
                self._swapcache.pop(entry, None)
                self._pinned.discard(entry)
                area.extend.pop(offset, None)
                self._release(area, table, i, state, offset)
            report.entries_moved = report.pages_read
        except BaseException:
            self._avail.append(area)
            self._sort_avail()
            raise
        for dev in device.layers():
            unplug = dev.ops.unplug if dev.ops is not None else None
            if unplug is not None:
                unplug()
        for dev in list(device.layers()):
            self._teardown(dev)
        self._areas[area.type] = None
        self._stacks_changed()
        device.type = -1
        self.pm.hook.swapops_swapoff(system=self, device=device)
        return report

    def _swapoff_lower(self, device: SwapDevice) -> SwapoffReport:
        upper = device.upper
        if upper is None or upper.ops is None or not self._is_active(upper):
            raise DeviceBusyError(f"{device.NAME} is not an active swap device")
        detach = getattr(upper, "swapops_detach_lower", None)
        if detach is None:
            raise DeviceBusyError(
                f"{device.NAME} is in use by {upper.NAME} above it; swapoff the top of the stack "
                f"({upper.stack_name.split('>')[0]}) instead"
            )
        detail = dict(detach())
        report = SwapoffReport(device=device.stack_name, detail=detail)
        report.entries_moved = int(detail.get("entries_moved", 0))
        report.pages_read = int(detail.get("pages_read", report.entries_moved))
        report.pte_visits = 0
        for dev in device.layers():
            if dev.ops is not None:
                dev.ops.unplug()
        for dev in list(device.layers()):
            self._teardown(dev)
        device.upper = None
        self._stacks_changed()
        self.pm.hook.swapops_swapoff(system=self, device=device)
        return report

    def _is_active(self, device: SwapDevice) -> bool:
        for area in self._areas:
            if area is not None and any(d is device for d in area.device.layers()):
                return True
        return False

    # ------------------------------------------------------------- the rest

    def swaps(self) -> list[SwapsRow]:
        """The rows of ``/proc/swaps``: Filename, Type, Size, Used, Priority (KiB)."""
        return [self._swaps_row(area) for area in self._areas if area is not None]

    def swaps_row(self, swap_type: int) -> SwapsRow:
        """The ``/proc/swaps`` row of area ``swap_type``."""
        return self._swaps_row(self.area(swap_type))

    @staticmethod
    def _swaps_row(area: SwapArea) -> SwapsRow:
        # mm/swapfile.c: swap_show() prints K(si->pages) and K(si->inuse_pages)
        # of the area, i.e. of the stack's top device
        dev = area.device
        kib = PAGE_SIZE // 1024
        return SwapsRow(dev.filename, dev.swap_type, dev.size * kib, dev.used * kib, area.priority)

    @property
    def devices(self) -> list[SwapDevice]:
        """The top device of every active stack, by swap type."""
        return [a.device for a in self._areas if a is not None]

    def area(self, swap_type: int) -> SwapArea:
        if not isinstance(swap_type, int) or isinstance(swap_type, bool):
            raise InvalidEntryError(f"a swap type is an integer 0..{MAX_SWAPFILES - 1}, not {swap_type!r}")
        area = self._areas[swap_type] if 0 <= swap_type < MAX_SWAPFILES else None
        if area is None:
            raise InvalidEntryError(f"no active swap area of type {swap_type}")
        return area

    def live_entries(self) -> Iterator[SwapEntry]:
        for area in self._areas:
            if area is not None:
                for offset in area.live_offsets():
                    yield (area.type, offset)

    def nr_entries(self) -> int:
        return sum(a.nr_entries for a in self._areas if a is not None)

    def unplug(self) -> None:
        """Submit everything buffered in every stack (top to bottom)."""
        for area in self._areas:
            if area is not None:
                for dev in area.device.layers():
                    if dev.ops is not None:
                        dev.ops.unplug()

    def shrinkers(self) -> list[Shrinker]:
        """The memory-pressure shrinkers of every active layer (see ``SwapDevice.shrinkers``)."""
        out: list[Shrinker] = []
        for area in self._areas:
            if area is not None:
                for dev in area.device.layers():
                    if dev.ops is not None:
                        out.extend(dev.shrinkers())
        return out

    def _overriders(self, name: str) -> list[Any]:
        """The bound ``name`` methods of the active layers that override
        :class:`SwapDevice`'s (whose default does nothing or returns 0), found
        once per change of the area table: the mm model asks after every
        reclaim batch and swap-in."""
        fns = self._layer_fns.get(name)
        if fns is None:
            base = getattr(SwapDevice, name)
            fns = self._layer_fns[name] = [
                getattr(dev, name)
                for area in self._areas if area is not None
                for dev in area.device.layers()
                if getattr(type(dev), name) is not base
            ]
        return fns

    def run_work(self) -> None:
        """A scheduling point of reclaim: every active layer runs its queued work."""
        for fn in (self._layer_fns.get("run_work") or self._overriders("run_work")):
            fn()

    def ram_held(self) -> int:
        """Pages of RAM the active layers hold (``SwapDevice.ram_held``: zswap's pool)."""
        held = 0
        for fn in (self._layer_fns.get("ram_held") or self._overriders("ram_held")):
            held += fn()
        return held

    def writeback_pages(self) -> int:
        """Pages the active layers wrote back through the swap cache so far
        (``SwapDevice.writeback_pages``: zswap's writeback)."""
        total = 0
        for fn in (self._layer_fns.get("writeback_pages") or self._overriders("writeback_pages")):
            total += fn()
        return total

    def take_writeback_folios(self) -> list[SwapEntry]:
        """Put the folios the areas' top layers wrote back since the last call
        in the swap cache (:meth:`SwapDevice.take_writeback_folios`) and return
        their entries, for the page-table owner to give each a frame.

        As ``zswap_writeback_entry`` does: the entry's decompressed folio is
        added to the swap cache (``__read_swap_cache_async``) and written to
        the device; it stays there, clean, until reclaim drops it
        (:meth:`swap_cache_drop`) or a fault maps it. An entry whose folio is
        cached already or that no PTE references any more is skipped. Not on
        the per-page path: called when :meth:`writeback_pages` moved."""
        out: list[SwapEntry] = []
        cache = self._swapcache
        for area in self._areas:
            if area is None:
                continue
            top = area.device
            if type(top).take_writeback_folios is SwapDevice.take_writeback_folios:
                continue
            for offset, folio in top.take_writeback_folios():
                entry = (area.type, offset)
                if entry in cache:
                    continue
                _area, table, i, state = self._lookup(entry)
                if not state & COUNT_MASK:
                    continue
                folio.dirty = False
                cache[entry] = folio
                table[i] = state | CACHE
                self._pinned.add(entry)
                out.append(entry)
        return out

    def set_cpu(self, cpu: int) -> None:
        """The CPU that allocates from now on (per-CPU clusters); every active
        layer is told (``SwapDevice.set_cpu``). Not on the per-page path."""
        for area in self._areas:
            if area is not None:
                for dev in area.device.layers():
                    dev.set_cpu(cpu)

    def rotational_swap(self) -> bool:
        """An active area sits on rotational storage (``nr_rotate_swap`` > 0)."""
        rot = self._rotational
        if rot is None:
            rot = self._rotational = any(area is not None and area.device.rotational for area in self._areas)
        return rot

    def swap_usage(self) -> tuple[int, int]:
        """``(total_swap_pages, pages in use)`` over every area, as ``vm_swap_full()``
        counts them (each stack's ``SwapDevice.swap_usage``; stacks without a
        fixed size count nothing)."""
        sources = self._usage_src
        if sources is None:
            sources = self._usage_sources()
        total = used = 0
        for counted, top in sources:
            if counted is not None:
                total += counted.size
                used += counted.used
            else:
                usage = top.swap_usage()
                if usage is not None:
                    total += usage[0]
                    used += usage[1]
        return total, used

    def _usage_sources(self) -> list[tuple[SwapDevice | None, SwapDevice]]:
        """Per area, the layer whose slots ``SwapDevice.swap_usage`` counts when
        the top keeps the default (found once); ``None`` when the top overrides
        it (asked every time)."""
        sources: list[tuple[SwapDevice | None, SwapDevice]] = []
        for area in self._areas:
            if area is None:
                continue
            top = area.device
            counted: SwapDevice | None = None
            if type(top).swap_usage is SwapDevice.swap_usage:
                dev: SwapDevice | None = top
                while dev is not None:
                    if dev.KIND != "virtual" and dev.KIND != "filter" and dev.size < UNBOUNDED_SIZE:
                        counted = dev
                        break
                    dev = dev.lower
                if counted is None:
                    continue  # no fixed size: counts nothing
            sources.append((counted, top))
        self._usage_src = sources
        return sources

    def advance(self, delta_ns: int) -> int:
        """Advance simulated time and let every device run its timers."""
        try:
            delta = operator.index(delta_ns)  # ints, numpy integers; not floats or strings
        except TypeError:
            delta = -1
        if delta < 0 or isinstance(delta_ns, bool):
            raise ConfigError(f"advance takes a whole, non-negative number of nanoseconds, not {delta_ns!r}")
        now = self.clock.advance(delta)
        for area in self._areas:
            if area is not None:
                for dev in area.device.layers():
                    if dev.ops is not None:
                        dev.ops.tick(now)
        return now

    def stats(self) -> dict[str, Any]:
        """Counters of the core and of every layer of every stack.

        ``pswpout``/``pswpin`` are the kernel's (``mm/page_io.c``
        ``count_swpout_vm_event``, ``swap_read_folio_bdev_*``): pages written to
        and read from storage, summed over the layers
        (:meth:`~swapops.device.SwapDevice.io_pages`); zero-filled pages
        (``swpout_zero``/``swpin_zero``) and zswap's pool take no I/O.
        ``swap_entries_allocated``/``swap_entries_read`` (model names) count
        every page given a swap entry by :meth:`swap_out` and every page read
        back by :meth:`swap_in`, wherever it was held.
        """
        out: dict[str, Any] = {
            "pswpin": 0,
            "pswpout": 0,
            "swpout_zero": 0,
            "swpin_zero": 0,
            "swap_entries_allocated": 0,
            "swap_entries_read": 0,
            "swap_entries": self.nr_entries(),
            "swapcache_folios": len(self._swapcache),
            "areas": {},
        }
        for area in self._areas:
            if area is None:
                continue
            pswpin = pswpout = 0
            for dev in area.device.layers():
                r, w = dev.io_pages()
                pswpin += r
                pswpout += w
            row = {
                "stack": area.device.stack_name,
                "priority": area.priority,
                "entries": area.nr_entries,
                "pswpin": pswpin,
                "pswpout": pswpout,
                "swpout_zero": area.swpout_zero,
                "swpin_zero": area.swpin_zero,
                "swap_entries_allocated": area.entries_allocated,
                "swap_entries_read": area.entries_read,
                "layers": {f"{i}:{d.NAME}": d.stats() for i, d in enumerate(area.device.layers())},
            }
            for key in ("pswpin", "pswpout", "swpout_zero", "swpin_zero", "swap_entries_allocated",
                        "swap_entries_read"):
                out[key] += row[key]
            out["areas"][area.type] = row
        return out

    def module_names(self) -> list[str]:
        return list(self.registry)

    def __repr__(self) -> str:
        return f"<SwapSystem areas={[a.device.stack_name for a in self._areas if a]}>"


_new_folio = object.__new__
_TAILS = tuple(bytes([TAIL]) * ((1 << o) - 1) for o in range(10))

__all__ = ["SwapSystem", "SwapsRow", "SwapoffReport", "SwapOwner", "SwapEntry", "MAX_SWAPFILES"]
