"""The vswap device: Nhat Pham's virtual swap space (v5/v6 design) as a module.

The top of a stack hands out *virtual* slots from its own cluster allocator
(:class:`swapops.cluster.ClusterAllocator`, unbounded by default: clusters are
created on first use and dropped when they empty). Each virtual slot has a
backing state, as ``enum swap_type`` in v5 (``docs/kernel.md`` §5):

``ZERO``
    allocated but never written: the core keeps zero-filled folios as a flag
    and never calls write for them, so they take nothing below.
``FOLIO``
    the content is only in memory, held by vswap: after swapoff of the device
    below, or after an exclusive load from zswap consumed the copy below.
``ZSWAP`` / ``SLOT``
    a slot on the device below (``ZSWAP`` when that device is a compressed
    cache, ``SLOT`` for a physical device or a write buffer). The lower slot is
    allocated only when the page is written (delayed allocation) and only then
    charged (memcg-like accounting of physical slots only).

Per-slot state lives in one ``array('q')`` of 512 lower offsets per virtual
cluster that ever held a written page (8 B/slot; ``-1`` ZERO, ``-2`` FOLIO).
Large folios: one lower allocation of the same order (v5's
``vswap_alloc_swap_slot``). When the device below has no contiguous run the
write fails with :class:`~swapops.errors.WriteActivateError`: as v5's
``swap_writepage`` returns ``AOP_WRITEPAGE_ACTIVATE``, the folio stays in
memory and is activated, not split (its virtual slots were allocated before
the physical ones, so reclaim has no reason to split it).
``large_fallback=pages`` instead backs it with order-0 lower slots page by
page (a model alternative, not v5); zero subpages then take no slot. A lower run is one head
entry (its lower offset and order, encoded below ``HEAD``) and ``TAIL`` marks,
so it is written, read and freed as one unit in O(1); when a page of it is
freed, consumed or read back on its own the run *breaks* into explicit
per-page offsets (the rare case).

Swapoff of the device below (``swapops_detach_lower``) reads every entry
backed there into memory (FOLIO) and frees its lower slot; no page table is
touched and every entry handed out stays valid. A later backend
(``system.swapon(spec, above=vswap)``) takes new writes, and
:meth:`VswapDevice.writeback_folios` moves FOLIO entries down to it.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import swapops
from swapops import overhead
from swapops.cluster import ClusterAllocator
from swapops.constants import CLUSTER_MASK, CLUSTER_SHIFT, CLUSTER_SIZE
from swapops.contentref import fill, stored
from swapops.device import SWAPIN_FREE_CACHE, SwapContext, SwapDevice, stack_swapin_flags
from swapops.errors import ConfigError, InvalidEntryError, OutOfSwapSpaceError, WriteActivateError
from swapops.folio import ZERO_PAGES, Folio
from swapops.options import Option
from swapops.sizes import PAGE_SIZE

ZERO = -1  # never written (the core's zero flag, or not yet written)
FOLIO = -2  # content held in memory by vswap

TAIL = -3  # a page of an intact lower run other than its head
# An intact lower run's head slot holds HEAD - (lower << 4 | order) (<= HEAD):
# the run is one table entry plus TAIL marks, kept until it breaks.
HEAD = -16

_NONE_TABLE = array("q", [ZERO]) * CLUSTER_SIZE  # template for a fresh cluster table
_NONE_RUNS = tuple(array("q", [ZERO]) * (1 << o) for o in range(10))
_FOLIO_RUNS = tuple(array("q", [FOLIO]) * (1 << o) for o in range(10))
_TAIL_RUNS = tuple(array("q", [TAIL]) * ((1 << o) - 1) for o in range(10))
SLOT_CACHE = 64  # parked order-0 slots (SWAP_SLOTS_CACHE_SIZE = SWAP_BATCH = 64)
TRIM_INTERVAL_NS = 10_000_000  # tick: drop emptied cluster tables at most every 10 ms (simulated)
_ZERO_PAGE = ZERO_PAGES[0]
_UNLIMITED = 1 << 62


def _no_lower_alloc(order: int) -> int:
    raise OutOfSwapSpaceError("vswap: no device below to write a page to (zero pages only); "
                              "swapon a backend with above=<vswap device>")


def _no_lower(*_args: Any) -> None:
    raise OutOfSwapSpaceError("vswap: no device below")


def _unhead(v: int) -> tuple[int, int]:
    """``(lower offset, order)`` of a run head's table entry (``v <= HEAD``)."""
    x = HEAD - v
    return x >> 4, x & 15


class VswapDevice(SwapDevice):
    """A virtual swap space on top of a stack (or alone: zero pages only)."""

    NAME = "vswap"
    KIND = "virtual"
    # Reference mode (swapops.contentref): a FOLIO entry keeps the page's content
    # key instead of its bytes; reads and writes pass keys through.
    CONTENT_REF = True
    LOWER_KINDS = frozenset({"cache", "buffer", "physical"})
    NEEDS_LOWER = False
    MAX_IN_STACK = 1
    SUMMARY = "virtual swap space (vswap v5/v6): lazy clusters, per-entry backing, swapoff without a page-table walk"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "size": Option("size", None, "virtual space in bytes (default: unbounded, 2**41 slots)"),
        "charge": Option("choice", "physical", "what is charged: physical slots only, when allocated "
                         "below (v5), or every virtual entry at allocation (legacy)",
                         choices=("physical", "virtual")),
        "swap_max": Option("size", None, "charge limit in bytes, like memory.swap.max (default: none)"),
        "fallthrough": Option("bool", True, "while the device below is full, refuse new entries so "
                              "reclaim goes to the next swap area (false: hand out virtual slots anyway; "
                              "non-zero writes then fail)"),
        "large_fallback": Option("choice", "activate", "a large folio with no contiguous run below: "
                                 "activate (v5: swap_writepage returns AOP_WRITEPAGE_ACTIVATE, the folio "
                                 "stays in memory) or pages (back it with order-0 slots page by page, "
                                 "a model alternative)", choices=("activate", "pages")),
        "edition": Option("choice", "v5", "v5 (Nhat Pham's v5/v6: 24 B descriptor) or ste (the Swap "
                          "Table Edition RFC: 8 B virtual_table + 8 B swap table; a swap-in frees an entry "
                          "not backed by a physical slot)", choices=overhead.DESIGNS),
        "design": Option("choice", None, "former name of edition", choices=overhead.DESIGNS),
    }

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        size = options.get("size")
        if size is not None and size // PAGE_SIZE < 1:
            raise ConfigError(f"vswap: size={size} is less than one page")
        edition, design = options.get("edition"), options.get("design")
        if design is not None and edition not in (None, "v5", design):
            raise ConfigError(f"vswap: edition={edition} and design={design} disagree (design is its old name)")
        #: ``"v5"`` or ``"ste"``: the kernel layout (kernel_overhead) and the swap-in behaviour.
        self.edition: str = design or edition or "v5"
        self.kernel_design: str = self.edition  # what swapops.overhead.physical_model reads
        self.allocator: ClusterAllocator | None = None
        self._tables: list[array[int] | None] = []
        self._folios: dict[int, bytes | int] = {}  # bytes, or a content key (reference mode)
        self._valloc: Callable[[int], int] = _no_lower_alloc
        self._vfree: Callable[[int, int], None] = _no_lower
        limit = options.get("swap_max")
        self._limit = _UNLIMITED if limit is None else limit // PAGE_SIZE
        self._vcharge = options.get("charge") == "virtual"
        self._fallthrough = bool(options.get("fallthrough", True))
        self._large_pages = options.get("large_fallback") == "pages"
        self.bind_lower()  # the no-backend stand-ins until the builder binds the device below
        self._full = False
        self._gate = self._vcharge  # alloc takes the slow path (full below, or virtual charging)
        # Freed order-0 virtual slots parked for reuse (the kernel's swap_slots cache):
        # an ordered set, popped LIFO. They count as free in ``used``.
        self._scache: dict[int, None] = {}
        # Slots reserved ahead from the current cluster (ClusterAllocator.reserve):
        # _batch[_bi:] are not handed out yet; the last one goes through _refill.
        self._batch: list[int] = []
        self._bi = self._bn = 0
        # Virtual slots backed below. With charge=physical and a physical/buffer
        # device below, this is also the charge (v5 charges exactly those slots).
        self._n_lower = 0
        self._n_new = 0  # order-0 entries written below for the first time (hot path)
        self._n_slow_writes = self._n_rewrites = 0
        self._n_slow_lallocs = self._n_lalloc_fail = self._n_charge_fail = 0
        self._n_run_writes = self._n_split_writes = self._n_run_reads = self._n_page_reads = 0
        self._n_large_activated = 0
        self._n_zero_subpages = self._n_consumed = 0
        self._n_detach = self._n_detach_moved = self._n_attach = self._n_wb_folios = 0
        self._n_runs_broken = 0
        self._n_refused = 0
        self._last_trim_ns = 0

    # -- lifecycle -------------------------------------------------------------

    @swapops.hookimpl
    def swapops_activate(self, ctx: SwapContext) -> None:
        size = self.options.get("size")
        self.allocator = ClusterAllocator(None if size is None else size // PAGE_SIZE)
        self._valloc = self.allocator.alloc
        self._vfree = self.allocator.free

    @swapops.hookimpl
    def swapops_deactivate(self) -> None:
        self._flush_slot_cache()
        self._unreserve()
        self._tables.clear()
        self._folios.clear()

    def bind_lower(self) -> None:
        """The lower device's operations (or, with none, stand-ins that refuse
        with vswap's own messages), and what depends on its kind."""
        super().bind_lower()
        lower = self.lower
        if lower is None or lower.ops is None:
            self.lower_alloc = _no_lower_alloc
            self.lower_free = _no_lower
            self.lower_write = _no_lower
            self.lower_read = _no_lower
            self._lower_kind = ""
            self._backend_flags = 0
            self._chg = 0
            self._plimit = _UNLIMITED
            return
        # Filters (fault injection) are looked through: the kind is the first real device's.
        real = self.effective_lower
        kind = real.KIND if real is not None else ""
        self._lower_kind = kind
        # STE: swap-in of an entry backed below behaves as its backend's area does
        # (swap_entry_backend_has_flag(..., SWP_SYNCHRONOUS_IO)).
        self._backend_flags = stack_swapin_flags(lower)
        # v5 18/21: only physical slots are charged; zswap is not swap use.
        self._chg = 1 if (not self._vcharge and kind in ("physical", "buffer")) else 0
        self._plimit = self._limit if self._chg else _UNLIMITED  # cap on _n_lower

    @swapops.hookimpl
    def swapops_detach_lower(self) -> Mapping[str, int]:
        """Swapoff of the device below: every entry backed there moves to memory (FOLIO).

        Each backed slot is read from below, kept by vswap and its lower slot
        freed. No page table is visited; every entry stays valid. A read error
        stops the detach with the lower still attached (the moved entries stay
        FOLIO, the rest stay below).
        """
        moved = lower_reads = runs = 0
        read, free = self.lower_read, self.lower_free
        folios = self._folios
        for ci, table in enumerate(self._tables):
            if table is None:
                continue
            base = ci << CLUSTER_SHIFT
            i = 0
            while i < CLUSTER_SIZE:
                low = table[i]
                if low >= 0:
                    order = 0
                elif low <= HEAD:
                    low, order = _unhead(low)
                else:  # ZERO or FOLIO (a TAIL is skipped with its head)
                    i += 1
                    continue
                vslot = base + i
                nr = 1 << order
                tmp = Folio.empty(order)
                read(low, tmp)
                lower_reads += 1
                data = tmp.data
                if nr == 1:
                    folios[vslot] = stored(tmp)
                else:
                    runs += 1
                    for k in range(nr):
                        folios[vslot + k] = data[k * PAGE_SIZE : (k + 1) * PAGE_SIZE]
                free(low, nr)
                table[i : i + nr] = _FOLIO_RUNS[order]
                self._n_lower -= nr
                moved += nr
                i += nr
        self._n_detach += 1
        self._n_detach_moved += moved
        self.lower = None
        self.bind_lower()
        self._set_full(False)
        return {
            "entries_moved": moved,
            "pages_read": moved,
            "lower_reads": lower_reads,
            "large_runs": runs,
            "pte_visits": 0,
            "folio_pages": len(folios),
        }

    @swapops.hookimpl
    def swapops_attach_lower(self, lower: SwapDevice) -> None:
        """A new backend below: new writes (and :meth:`writeback_folios`) go there."""
        if self.lower is not None and self.lower is not lower:
            raise ConfigError(f"vswap already has a lower device ({self.lower.NAME})")
        real = lower if lower.KIND != "filter" else lower.effective_lower  # filters are looked through
        if real is None:
            raise ConfigError(f"vswap cannot sit on {lower.stack_name}: only filters, no device to write to")
        if real.KIND not in self.LOWER_KINDS:
            raise ConfigError(f"vswap cannot sit on {real.NAME} ({real.KIND})")
        self.lower = lower
        lower.upper = self
        self.bind_lower()
        self._set_full(False)
        self._n_attach += 1

    # -- cluster ---------------------------------------------------------------

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        if self._gate:
            return self._alloc_slow(order)
        if order:
            if self._bi < len(self._batch):
                self._unreserve()
            return self._valloc(order)
        cache = self._scache
        if cache:
            return cache.popitem()[0]
        i = self._bi
        if i < self._bn:
            self._bi = i + 1
            return self._batch[i]
        return self._refill()

    def _refill(self) -> int:
        """Hand out the batch's last slot, or reserve a new batch (``get_swap_pages``)."""
        alloc = self.allocator
        if alloc is None:
            return self._valloc(0)
        batch = self._batch
        i = self._bi
        if i < len(batch):  # the last reserved slot
            self._bi = i + 1
            alloc.reserved_last(batch[i])
            return batch[i]
        batch = self._batch = alloc.reserve(SLOT_CACHE)
        if not batch:
            self._bi = self._bn = 0
            return -1
        self._bi = 1
        self._bn = len(batch) - 1
        if len(batch) == 1:
            alloc.reserved_last(batch[0])
        return batch[0]

    def _unreserve(self) -> None:
        """Give the reserved slots not handed out back, as if never taken (before the
        allocator could see the difference: a free in their cluster, a large allocation)."""
        batch = self._batch
        i = self._bi
        if i < len(batch) and self.allocator is not None:
            self.allocator.unreserve(batch[i:], batch[i - 1] + 1)
        self._batch = []
        self._bi = self._bn = 0

    def _alloc_slow(self, order: int) -> int:
        if self._full:
            low = self.lower
            if low is not None and low.used < low.size:
                self._set_full(False)
            else:
                self._n_refused += 1
                return -1
        if self._vcharge and self.used + (1 << order) > self._limit:
            self._n_charge_fail += 1
            return -1
        if not order:
            if self._scache:
                return self._scache.popitem()[0]
            i = self._bi
            if i < self._bn:
                self._bi = i + 1
                return self._batch[i]
            return self._refill()
        if self._bi < len(self._batch):
            self._unreserve()
        return self._valloc(order)

    def _set_full(self, full: bool) -> None:
        self._full = full and self._fallthrough
        self._gate = self._full or self._vcharge

    def _flush_slot_cache(self) -> None:
        """Return the parked slots to the cluster allocator: sorted, one call per run.

        As the kernel's ``swapcache_free_entries`` did for its slot cache. The
        core frees only live entries, so a failure here means a caller freed a
        slot it never had: the valid slots are still freed, then it is reported.
        """
        cache = self._scache
        if not cache:
            return
        slots = sorted(cache)
        bad: list[int] = []
        cache.clear()
        batch = self._batch
        if self._bi < len(batch):  # reserved slots left: a free in their cluster must not see them
            ci = batch[0] >> CLUSTER_SHIFT
            k = bisect_left(slots, ci << CLUSTER_SHIFT)
            if k < len(slots) and slots[k] >> CLUSTER_SHIFT == ci:
                self._unreserve()
        self._free_sorted(slots, bad)
        if bad:
            raise InvalidEntryError(f"vswap slots {bad[:8]} were freed but never allocated")

    def _free_sorted(self, slots: list[int], bad: list[int]) -> None:
        """Free ascending, distinct slots to the cluster allocator: one call per run."""
        vfree = self._vfree
        first, last = slots[0], slots[-1]
        if last - first == len(slots) - 1 and first >> CLUSTER_SHIFT == last >> CLUSTER_SHIFT:
            self._free_run(vfree, first, len(slots), bad)  # one run in one cluster (the usual case)
            return
        start = prev = slots[0]
        for off in slots[1:]:
            if off == prev + 1 and off & CLUSTER_MASK:
                prev = off
                continue
            self._free_run(vfree, start, prev - start + 1, bad)
            start = prev = off
        self._free_run(vfree, start, prev - start + 1, bad)

    @staticmethod
    def _free_run(vfree: Callable[[int, int], None], start: int, nr: int, bad: list[int]) -> None:
        try:
            vfree(start, nr)
        except InvalidEntryError:
            for off in range(start, start + nr):
                try:
                    vfree(off, 1)
                except InvalidEntryError:
                    bad.append(off)

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        # Hot path: literals instead of module constants (a global load costs ~20 ns):
        # 9 = CLUSTER_SHIFT, 511 = CLUSTER_MASK, -1 = ZERO, 64 = SLOT_CACHE.
        if nr != 1:
            self._free_range(offset, nr)
            return
        cache = self._scache
        if offset in cache:
            raise InvalidEntryError(f"vswap slot {offset} is not allocated")
        cache[offset] = None
        if len(cache) >= 64:
            self._flush_slot_cache()
        try:
            table = self._tables[offset >> 9]
        except IndexError:
            return
        if table is None:
            return
        i = offset & 511
        low = table[i]
        if low >= 0:
            table[i] = -1
            self.lower_free(low, 1)
            self._n_lower -= 1
        elif low != -1:
            self._free_other(offset, table, i, low)

    def _free_other(self, offset: int, table: array[int], i: int, low: int) -> None:
        """Order-0 free of a FOLIO slot or of one page of a lower run (which breaks it)."""
        if low == FOLIO:
            table[i] = ZERO
            del self._folios[offset]
            return
        self._break(table, i)
        low = table[i]
        table[i] = ZERO
        self.lower_free(low, 1)
        self._n_lower -= 1

    def _free_range(self, offset: int, nr: int) -> None:
        if self._bi < len(self._batch):
            self._unreserve()
        self._vfree(offset, nr)
        i = offset & CLUSTER_MASK
        ci = offset >> CLUSTER_SHIFT
        tables = self._tables
        if i + nr <= CLUSTER_SIZE and ci < len(tables):  # the usual case: one whole run
            table = tables[ci]
            if table is None:
                return
            v = table[i]
            if v <= HEAD:
                order = (HEAD - v) & 15
                if 1 << order == nr:
                    self.lower_free((HEAD - v) >> 4, nr)
                    table[i : i + nr] = _NONE_RUNS[order]
                    self._n_lower -= nr
                    return
        end = offset + nr
        pos = offset
        while pos < end:  # one cluster at a time
            ci = pos >> CLUSTER_SHIFT
            stop = min((ci + 1) << CLUSTER_SHIFT, end)
            table = self._tables[ci] if ci < len(self._tables) else None
            if table is not None:
                self._release(table, pos, stop)
            pos = stop

    def _release(self, table: array[int], start: int, stop: int) -> None:
        """Release the backing of virtual slots ``start..stop-1`` (one cluster)."""
        s = start & CLUSTER_MASK
        i = s
        e = s + (stop - start)
        base = start - s
        while i < e:
            low = table[i]
            if low == ZERO:
                i += 1
                continue
            if low >= 0:
                table[i] = ZERO
                self.lower_free(low, 1)
                self._n_lower -= 1
                i += 1
                continue
            if low == FOLIO:
                table[i] = ZERO
                del self._folios[base + i]
                i += 1
                continue
            if low == TAIL:  # a run whose head is before ``start``: only part of it goes
                self._break(table, i)
                continue
            low, order = _unhead(low)
            n = 1 << order
            if i + n > e:  # part of a run: its pages are freed one by one
                self._break(table, i)
                continue
            self.lower_free(low, n)
            table[i : i + n] = _NONE_RUNS[order]
            self._n_lower -= n
            i += n

    def _run_at(self, table: array[int], i: int) -> tuple[int, int, int]:
        """``(head index, lower offset, order)`` of the intact run holding slot ``i``."""
        h = i
        while table[h] == TAIL:
            h -= 1
        low, order = _unhead(table[h])
        return h, low, order

    def _lower_of(self, table: array[int], i: int) -> int:
        """The lower offset backing slot ``i``, or its ZERO/FOLIO mark."""
        low = table[i]
        if low == TAIL or low <= HEAD:
            h, low, _order = self._run_at(table, i)
            return low + i - h
        return low

    def _break(self, table: array[int], i: int) -> None:
        """The run holding slot ``i`` stops being one unit: explicit per-page lower offsets."""
        h, low, order = self._run_at(table, i)
        table[h : h + (1 << order)] = array("q", range(low, low + (1 << order)))
        self._n_runs_broken += 1

    def _break_range(self, table: array[int], s: int, e: int) -> None:
        """Break every run holding a slot of ``s..e-1`` (one cluster)."""
        i = s
        while i < e:
            v = table[i]
            if v == TAIL or v <= HEAD:
                self._break(table, i)
            i += 1

    # -- I/O -------------------------------------------------------------------

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        # Hot path literals: 9 = CLUSTER_SHIFT, 511 = CLUSTER_MASK, -1 = ZERO.
        if folio.order:
            self._write_large(offset, folio)
            return
        try:
            table = self._tables[offset >> 9]
        except IndexError:
            table = None
        if table is None:
            table = self._new_table(offset >> 9)
        i = offset & 511
        low = table[i]
        if low != -1:  # written again (a dirty swap-cache folio), or held in memory
            self._write_again(offset, folio, table, i, low)
            return
        n = self._n_lower
        if n >= self._plimit:
            self._charge_failed(-1, 0)
        low = self.lower_alloc(0)
        if low < 0:
            self._lower_full()
        try:
            self.lower_write(low, folio)
        except BaseException:
            self.lower_free(low, 1)
            raise
        table[i] = low
        self._n_lower = n + 1
        self._n_new += 1

    def _write_again(self, offset: int, folio: Folio, table: array[int], i: int, low: int) -> None:
        self._n_rewrites += 1
        if low == TAIL or low <= HEAD:  # one page of a run: its lower slot, the run stays
            low = self._lower_of(table, i)
        if low >= 0:  # same lower slot, as zswap stores a rewritten page under its key
            self.lower_write(low, folio)
        else:
            self._write_folio_entry(offset, stored(folio))

    def _new_table(self, ci: int) -> array[int]:
        tables = self._tables
        if ci >= len(tables):
            tables.extend([None] * (ci + 1 - len(tables)))
        table = tables[ci]
        if table is None:
            table = tables[ci] = array("q", _NONE_TABLE)
        return table

    def _lower_full(self) -> None:
        self._n_lalloc_fail += 1
        self._set_full(True)
        name = self.lower.stack_name if self.lower is not None else "-"
        raise OutOfSwapSpaceError(f"vswap: the device below ({name}) has no free slot")

    def _charge_failed(self, low: int, nr: int) -> None:
        if low >= 0:
            self.lower_free(low, nr)
        self._n_charge_fail += 1
        raise OutOfSwapSpaceError(
            f"vswap: swap_max reached ({self._limit} physical pages charged); nothing was allocated below"
        )

    def _alloc_below(self, order: int) -> int:
        """One lower allocation outside the hot path; charges it. -1: no contiguous run."""
        nr = 1 << order
        if self._n_lower + nr > self._plimit:
            self._charge_failed(-1, 0)
        low = self.lower_alloc(order)
        self._n_slow_lallocs += 1
        if low < 0 and not order:
            self._lower_full()
        return low

    def _write_folio_entry(self, offset: int, page: bytes | int) -> None:
        """Write a page whose content vswap holds (FOLIO): below if possible, else keep it."""
        if self.lower is None:
            self._folios[offset] = page  # nowhere else to go: it stays in memory
            return
        low = self._alloc_below(0)
        try:
            self.lower_write(low, Folio.ref(page) if isinstance(page, int) else Folio(page))
        except BaseException:
            self.lower_free(low, 1)
            raise
        table = self._tables[offset >> CLUSTER_SHIFT]
        assert table is not None
        table[offset & CLUSTER_MASK] = low
        del self._folios[offset]
        self._n_lower += 1
        self._n_slow_writes += 1

    def _write_large(self, offset: int, folio: Folio) -> None:
        order = folio.order
        nr = 1 << order
        ci = offset >> CLUSTER_SHIFT
        tables = self._tables
        table = tables[ci] if ci < len(tables) else None
        if table is None:
            table = self._new_table(ci)
        i = offset & CLUSTER_MASK
        if table[i : i + nr] != _NONE_RUNS[order]:
            self._rewrite_large(offset, folio, table, i)
            return
        if self.lower is None:
            _no_lower_alloc(order)
        self._n_slow_writes += 1
        if self._n_lower + nr > self._plimit:  # _alloc_below, inlined (order > 0)
            self._charge_failed(-1, 0)
        low = self.lower_alloc(order)
        self._n_slow_lallocs += 1
        if low >= 0:
            try:
                self.lower_write(low, folio)
            except BaseException:
                self.lower_free(low, nr)
                raise
            table[i] = HEAD - ((low << 4) | order)
            table[i + 1 : i + nr] = _TAIL_RUNS[order]
            self._n_lower += nr
            self._n_run_writes += 1
            return
        if not self._large_pages:
            # v5 swap_writepage: vswap_alloc_swap_slot() asks for physical slots
            # at the folio's order; when that fails the folio is redirtied and
            # AOP_WRITEPAGE_ACTIVATE returned: it stays in memory, not split.
            self._n_large_activated += 1
            raise WriteActivateError(
                f"vswap: no contiguous run of {nr} slots below for an order-{order} folio; "
                "it stays in memory (AOP_WRITEPAGE_ACTIVATE)"
            )
        # large_fallback=pages: back the folio page by page (no split needed).
        self._n_split_writes += 1
        self._write_pages(folio.data, table, i, nr)

    def _write_pages(self, data: bytes, table: array[int], i: int, nr: int) -> None:
        """Give each non-zero page its own lower slot (all or nothing)."""
        done: list[int] = []
        try:
            for k in range(nr):
                page = data[k * PAGE_SIZE : (k + 1) * PAGE_SIZE]
                if page == _ZERO_PAGE:
                    self._n_zero_subpages += 1
                    continue
                low = self._alloc_below(0)
                try:
                    self.lower_write(low, Folio(page))
                except BaseException:
                    self.lower_free(low, 1)
                    raise
                table[i + k] = low
                self._n_lower += 1
                done.append(k)
        except BaseException:
            for k in done:
                self.lower_free(table[i + k], 1)
                table[i + k] = ZERO
            self._n_lower -= len(done)
            raise

    def _rewrite_large(self, offset: int, folio: Folio, table: array[int], i: int) -> None:
        """A large entry written again (a dirty swap-cache folio going back)."""
        self._n_rewrites += 1
        order = folio.order
        v = table[i]
        if v <= HEAD:
            low, run_order = _unhead(v)
            if run_order == order:
                self.lower_write(low, folio)
                return
        self._break_range(table, i, i + (1 << order))
        data = folio.data
        for k in range(1 << order):
            page = data[k * PAGE_SIZE : (k + 1) * PAGE_SIZE]
            low = table[i + k]
            if low >= 0:
                self.lower_write(low, Folio(page))
            elif low == FOLIO:
                self._write_folio_entry(offset + k, page)
            elif page != _ZERO_PAGE:  # a zero subpage is not zero any more
                if self.lower is None:
                    table[i + k] = FOLIO
                    self._folios[offset + k] = page
                else:
                    self._write_pages(page, table, i + k, 1)

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        # Hot path literals: 9 = CLUSTER_SHIFT, 511 = CLUSTER_MASK, -1 = ZERO.
        if folio.order:
            self._read_large(offset, folio)
            return
        try:
            table = self._tables[offset >> 9]
        except IndexError:
            table = None
        low = -1 if table is None else table[offset & 511]
        if low >= 0:
            self.lower_read(low, folio)
            if folio.dirty:  # the copy below was consumed (zswap's exclusive load)
                self._consumed(offset, low, 1, stored(folio))
        elif low == -1:
            folio.data = _ZERO_PAGE
        elif low == -2:
            fill(folio, self._folios[offset])
        elif table is not None:
            self._read_run_page(offset, folio, table, offset & 511)

    def _read_run_page(self, offset: int, folio: Folio, table: array[int], i: int) -> None:
        """One page of an intact run read on its own (the run breaks if the copy is consumed)."""
        low = self._lower_of(table, i)
        self.lower_read(low, folio)
        if folio.dirty:
            self._break(table, i)
            self._consumed(offset, low, 1, stored(folio))

    def _bytes(self, value: bytes | int) -> bytes:
        """The bytes of a stored value (a content key's made by the content cache)."""
        if isinstance(value, int):
            assert self.content is not None
            return self.content.page(value)
        return value

    def _consumed(self, offset: int, low: int, nr: int, data: bytes | int) -> None:
        """The lower copy is gone: the entry becomes FOLIO and its lower slot is freed (v5)."""
        table = self._tables[offset >> CLUSTER_SHIFT]
        assert table is not None
        i = offset & CLUSTER_MASK
        self.lower_free(low, nr)
        for k in range(nr):
            self._folios[offset + k] = data if nr == 1 else data[k * PAGE_SIZE : (k + 1) * PAGE_SIZE]  # type: ignore[index]
            table[i + k] = FOLIO
        self._n_lower -= nr
        self._n_consumed += nr

    def _read_large(self, offset: int, folio: Folio) -> None:
        order = folio.order
        nr = 1 << order
        ci = offset >> CLUSTER_SHIFT
        table = self._tables[ci] if ci < len(self._tables) else None
        if table is None:
            folio.data = ZERO_PAGES[order]
            return
        i = offset & CLUSTER_MASK
        v = table[i]
        if v <= HEAD and (HEAD - v) & 15 == order:  # one intact run: one read
            low = (HEAD - v) >> 4
            self.lower_read(low, folio)
            self._n_run_reads += 1
            if folio.dirty:
                self._consumed(offset, low, nr, folio.data)
            return
        self._n_page_reads += 1
        parts: list[bytes] = []
        dirty = False
        for k in range(nr):
            low = table[i + k]
            run = low == TAIL or low <= HEAD  # a page of a run of another order
            if run:
                low = self._lower_of(table, i + k)
            if low >= 0:
                tmp = Folio.empty(0)
                self.lower_read(low, tmp)
                parts.append(self._bytes(stored(tmp)))
                if tmp.dirty:
                    dirty = True
                    if run:
                        self._break(table, i + k)
                    self._consumed(offset + k, low, 1, stored(tmp))
            elif low == ZERO:
                parts.append(_ZERO_PAGE)
            else:
                parts.append(self._bytes(self._folios[offset + k]))
        folio.data = b"".join(parts)
        if dirty:
            folio.dirty = True

    @swapops.hookimpl
    def swapops_unplug(self) -> None:
        self._trim()

    @swapops.hookimpl
    def swapops_tick(self, now_ns: int) -> None:
        if now_ns - self._last_trim_ns >= TRIM_INTERVAL_NS:
            self._last_trim_ns = now_ns
            self._trim()

    def _trim(self) -> None:
        """Drop per-cluster tables of clusters that emptied (as kfree_rcu after a grace period)."""
        alloc = self.allocator
        if alloc is None:
            return
        self._flush_slot_cache()
        tables = self._tables
        for ci, table in enumerate(tables):
            if table is not None and alloc.cluster_count(ci) == 0:
                tables[ci] = None
        while tables and tables[-1] is None:
            tables.pop()

    # -- swap-in policy (the Swap Table Edition) ----------------------------------

    def swapin_policy(self) -> int:
        """v5: no special swap-in handling (0, fixed); STE: per entry (-1)."""
        return -1 if self.edition == "ste" else 0

    def swapin_flags(self, offset: int) -> int:
        """STE (``should_try_to_free_swap`` in the RFC): an entry not backed by a
        physical slot (zero, or its only copy in memory after an exclusive zswap
        load) is freed once mapped, "non-swapfile backends cannot be reused for
        future swapouts"; an entry backed below behaves as its backend's area
        (``SWP_SYNCHRONOUS_IO`` on zram: no readahead, freed too). Ask after the
        read: a consumed zswap copy has made the entry FOLIO by then."""
        if self.edition != "ste":
            return 0
        ci = offset >> CLUSTER_SHIFT
        tables = self._tables
        table = tables[ci] if ci < len(tables) else None
        low = ZERO if table is None else table[offset & CLUSTER_MASK]
        if low in (ZERO, FOLIO):
            return SWAPIN_FREE_CACHE
        return self._backend_flags

    # -- backend moves -----------------------------------------------------------

    def writeback_folios(self, limit: int | None = None) -> int:
        """Move FOLIO entries (content held by vswap) to the device below.

        The backend transfer vswap makes cheap: each entry is repointed, no
        page table is touched. Returns the pages moved; stops early (without
        error) when the device below is full.

        :param limit: move at most this many pages.
        """
        if self.lower is None:
            raise OutOfSwapSpaceError("vswap: no device below to write back to")
        moved = 0
        for vslot in sorted(self._folios):
            if limit is not None and moved >= limit:
                break
            try:
                self._write_folio_entry(vslot, self._folios[vslot])
            except OutOfSwapSpaceError:
                break
            moved += 1
        self._n_wb_folios += moved
        return moved

    # -- inspection ----------------------------------------------------------------

    def backing(self, offset: int) -> tuple[str, int]:
        """``(state, lower_offset)`` of virtual slot ``offset``.

        ``state`` is ``"zero"``, ``"folio"``, ``"zswap"`` (a compressed cache
        below) or ``"slot"`` (a physical device or a buffer below);
        ``lower_offset`` is -1 unless the slot is backed below.

        :raises InvalidEntryError: the slot is not allocated.
        """
        if (self.allocator is None or not self.allocator.is_allocated(offset) or offset in self._scache
                or offset in self._batch[self._bi :]):
            raise InvalidEntryError(f"vswap slot {offset} is not allocated")
        ci = offset >> CLUSTER_SHIFT
        table = self._tables[ci] if ci < len(self._tables) else None
        low = ZERO if table is None else self._lower_of(table, offset & CLUSTER_MASK)
        if low == ZERO:
            return ("zero", -1)
        if low == FOLIO:
            return ("folio", -1)
        return ("zswap" if self._lower_kind == "cache" else "slot", low)

    def states(self) -> dict[str, int]:
        """Virtual slots per backing state."""
        folio = len(self._folios)
        below = self._n_lower
        zswap = below if self._lower_kind == "cache" else 0
        return {
            "zero": self.used - below - folio,
            "folio": folio,
            "zswap": zswap,
            "slot": below - zswap,
        }

    @property
    def charged(self) -> int:
        """Pages charged now: physical slots allocated below (charge=physical; a
        compressed cache below is not swap use), or virtual entries (charge=virtual)."""
        if self._vcharge:
            return self.used
        return self._n_lower if self._chg else 0

    def swap_charge(self, offset: int, nr: int) -> int:
        """The memcg charge of the entry just written at ``offset`` (``nr`` pages):
        with ``charge=physical`` (v5 18/21) only its pages backed by a physical
        slot below (a compressed cache below, a zero page or a page held in
        memory is not swap use); with ``charge=virtual`` every page, as mainline."""
        if self._vcharge:
            return nr
        if not self._chg:
            return 0
        tables = self._tables
        ci = offset >> CLUSTER_SHIFT
        table = tables[ci] if ci < len(tables) else None
        if table is None:
            return 0
        i = offset & CLUSTER_MASK
        return sum(1 for v in table[i : i + nr] if v != ZERO and v != FOLIO)

    def simulator_bytes(self) -> int:
        """Bytes of vswap's own Python structures (the simulator ledger; page contents excluded)."""
        total = sys.getsizeof(self._tables) + sys.getsizeof(self._folios)
        total += sys.getsizeof(self._scache)
        total += sum(sys.getsizeof(t) for t in self._tables if t is not None)
        total += sum(sys.getsizeof(k) for k in self._folios)  # int keys; the bytes are page contents
        alloc = self.allocator
        if alloc is not None:
            n = alloc.nr_clusters
            total += 4 * n + (CLUSTER_SIZE + 57) * alloc.stats()["clusters_with_table"]
        return total

    # -- handle API ------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.allocator.size if self.allocator is not None else 0

    @property
    def used(self) -> int:
        if self.allocator is None:
            return 0
        return self.allocator.used - len(self._scache) - (len(self._batch) - self._bi)

    @property
    def filename(self) -> str:
        return "[vswap]" if self.options.get("size") is None else f"[vswap:{self.size * PAGE_SIZE >> 20}M]"

    def check_invariants(self) -> None:
        if self.allocator is not None:
            self.allocator.check_invariants()  # virtual slots recounted from the cluster tables

    def stats(self) -> dict[str, int | float]:
        states = self.states()
        out: dict[str, int | float] = {
            "size": self.size,
            "used": self.used,
            "vswap_entries": self.used,
            "vswap_zero": states["zero"],
            "folio_pages": states["folio"],
            "zswap_pages": states["zswap"],
            "slot_pages": states["slot"],
            "physical_charged": self.charged if not self._vcharge else 0,
            "charged": self.charged,
            "charge_failures": self._n_charge_fail,
            "writes": self._n_new + self._n_slow_writes,
            "rewrites": self._n_rewrites,
            "lower_allocs": self._n_new + self._n_slow_lallocs,
            "lower_alloc_failures": self._n_lalloc_fail,
            "refused_allocs": self._n_refused,
            "large_run_writes": self._n_run_writes,
            "large_split_writes": self._n_split_writes,
            "large_activated": self._n_large_activated,
            "large_run_reads": self._n_run_reads,
            "large_page_reads": self._n_page_reads,
            "zero_subpages": self._n_zero_subpages,
            "consumed_loads": self._n_consumed,
            "detaches": self._n_detach,
            "detach_moved": self._n_detach_moved,
            "attaches": self._n_attach,
            "folio_writebacks": self._n_wb_folios,
        }
        if self.allocator is not None:
            a = self.allocator.stats()
            out["clusters"] = a["clusters_with_table"]
            out["clusters_created"] = a["clusters_created"]
            out["clusters_dropped"] = a["clusters_dropped"]
        return out

    def kernel_overhead(self) -> dict[str, float]:
        """Modeled kernel metadata of the virtual layer (:func:`swapops.overhead.vswap_virtual`).

        Per virtual cluster in use: v5, 512 descriptors of 24 B + a 64 B header;
        ste, an 80 B dynamic cluster header + swap table + virtual_table (8 B/slot each).
        """
        model = overhead.vswap_virtual(self.edition)
        if self.allocator is None:
            return model.report(0, 0)
        return model.report(self.used, self.allocator.stats()["clusters_with_table"])


__all__ = ["VswapDevice", "ZERO", "FOLIO"]
