"""The mm model: the user of swap.

A machine with ``ram_pages`` page frames and processes whose page tables map
virtual pages to frames or to swap entries, as Linux's anonymous memory does:

* **page tables**: one dict per process, ``vpage -> pte``. A PTE is a frame
  number (an int >= 0), a swap entry (a negative int: the ``(type, offset)``
  tuple the core handed out, encoded as ``~(offset << 5 | type)`` as the
  kernel encodes ``swp_entry_t`` in a PTE, converted back only at the core
  boundary, :func:`swap_pte` / :func:`pte_entry`) or ``False`` (mapped to
  the shared zero page: read but never written, so it takes no frame).
* **LRU reclaim**: new and swapped-in pages enter the inactive list young
  (the faulting access); every access sets the young bit. When free memory
  falls to the low watermark, reclaim (kswapd) scans the inactive tail in
  batches of ``SWAP_CLUSTER_MAX`` (32), judging each page as
  ``folio_check_references`` does: young the first time, it gets
  PG_referenced and another trip; young again, it is activated; not young,
  it is paged out, until free memory reaches the high watermark. When the
  inactive list is smaller than the active one, the active tail is
  deactivated (young bits cleared), as ``inactive_is_low`` does for
  anonymous memory below 1 GiB.
* **page-out**: a dirty page is written with ``swap_out``; a clean page still
  in the swap cache is dropped without a rewrite (``swap_dup`` per mapping,
  then ``swap_cache_drop``). ``OutOfSwapSpaceError`` leaves the page in
  memory (activated) and reclaim backs off for a while; a
  ``WriteActivateError`` (a device refused this page only, the kernel's
  ``AOP_WRITEPAGE_ACTIVATE``) activates the page and reclaim goes on.
* **faults**: a swap PTE is faulted in from the swap cache (minor,
  ``swapin_cache_hits``) or read with ``swap_in(entry, cache=True)`` (major,
  ``pgmajfault``, as ``do_swap_page`` counts it) with **readahead** as
  ``swapin_readahead`` chooses (``swap_use_vma_readahead``): VMA readahead
  (``swap_vma_readahead``: the swap PTEs around the fault in the process's
  address space, a window from ``__swapin_nr_pages`` of at most
  ``2**min(page_cluster, 5)`` pages, within the fault's PMD, hits counted per
  process as per VMA) unless a rotational swap device is active, then cluster
  readahead (``swap_cluster_readahead``: the aligned block of up to
  ``2**page_cluster`` slots, its window from global hits). Pages read ahead
  count ``swap_ra``, a later fault finding one ``swap_ra_hit``. The page
  stays in the swap cache, clean, so a later reclaim costs no write; a store
  to it drops the swap copy (or copies the page if another PTE still shares
  it: COW). A ``SWP_SYNCHRONOUS_IO`` area (zram) reads no ahead and frees
  the swap-cache copy once the page is mapped (``do_swap_page``).
* **workingset**: every eviction leaves a shadow (``nonresident_age`` then) on
  the entry; a page coming back from swap (fault or readahead) with a refault
  distance within the active list is activated (``workingset_refault``,
  ``workingset_test_recent``), counted in ``workingset_refault_anon`` /
  ``workingset_activate_anon``.
* **RAM the swap layers hold** (zswap's pool, :meth:`SwapSystem.ram_held`) counts as
  used memory (``nr_held``), read after each reclaim batch and swap-in, as
  zsmalloc's pages come out of the kernel's free memory.
* **zswap writeback folios** (``zswap_writeback_entry``): an entry the
  pool writes back leaves its decompressed folio in the swap cache, clean and
  unmapped, at the inactive head (``folio_add_lru``; its write ends at once
  in the model, while the folio still waits in the per-CPU LRU batch, so
  ``folio_rotate_reclaimable`` does not move it to the tail). A fault finds
  it there (minor, no readahead hit) and VMA readahead skips it; reclaim drops
  it without I/O (:meth:`MM._writeback_folio`). Writebacks a layer cannot
  name by entry (zswap under a virtual layer) are counted only (``nr_wb``),
  freed first by the next reclaim batch.
* **scheduling points and shrinkers**: after each reclaim batch the layers run
  queued work (``SwapSystem.run_work``: zswap's shrink worker); after each
  reclaim run their memory-pressure shrinkers run (``shrink_slab``,
  :mod:`swapops.shrinker`) at the priority the run's scan corresponds to.
* **swap full** (``vm_swap_full()``: more than half of the swap slots in
  use, ``nr_swap_pages * 2 < total_swap_pages``, summed over each active
  stack's ``swap_usage()``: the slots its PTEs take, see :meth:`MM._swap_full`): the swap copy of a page is given up so its slot can be
  reused, as ``folio_free_swap`` does, (a) after a swap-in fault, as
  ``do_swap_page`` does when ``should_try_to_free_swap`` holds, and (b) when
  reclaim activates a page still in the swap cache (``shrink_folio_list``'s
  ``activate_locked``). Only a page no other PTE still references by its
  entry (swap count 0) loses its copy; it becomes dirty and exclusive
  (counted in ``swap_cache_freed_full``). Not modeled: the allocator's own
  reclaim of cache-only slots when full (``__try_to_reclaim_swap``, in the
  core).
* **synchronous-IO areas** (``SWP_SYNCHRONOUS_IO``: zram; the core's
  :meth:`~swapops.system.SwapSystem.swapin_flags`): a swap-in fault reads only
  the faulting entry (no readahead) and, once the page is mapped, drops the
  swap-cache copy if no other PTE references the entry, as ``do_swap_page``
  and ``should_try_to_free_swap`` do on such areas (the slot is freed on
  swap-in). A top layer may answer per entry (vswap's Swap Table Edition frees
  entries not backed by a physical slot).
* **memory cgroups** (off unless a :class:`swapops.memcg.MemcgModel` is
  attached as ``MM.memcg``): frames are charged where they are allocated and
  uncharged in ``_free_frame``, a fault of a cgroup at ``memory.max``
  reclaims the cgroup first, page-outs allocate through the memcg (swap
  charging, ``memory.swap.max``, swap tiers) and ``mem_cgroup_swap_full()``
  joins ``vm_swap_full()``; see :mod:`swapops.memcg`.
* **fork** shares frames (write-protected, COW) and duplicates swap entries
  (``swap_dup``); **exit** and **munmap** free frames and entries.
* **swapoff**: the model is the page-table owner (:class:`swapops.system.SwapOwner`):
  :meth:`MM.unuse` walks every PTE of every process, counts them, and brings
  back each swap PTE of the area.

Pages have no stored bytes: a frame holds a content key (``page << 32 |
version``) and the bytes are made by the :class:`~swapops.content.ContentMix`
when a page is swapped out; with ``verify`` every swap-in is compared with them.
``page`` numbers the pages in the order they come to exist (a first store to
an unmapped page, a COW copy), from 1; ``version`` is 1 for the first store
and grows by one with every store after it, so the lab's workload program,
which counts the same way, writes the very bytes the model swaps
(:mod:`swapops.lab`).

* **large folios** (``thp_orders``, off by default): a write fault on an
  empty PTE takes the highest allowed order whose aligned range is empty
  (``alloc_anon_folio``); reclaim treats the folio as one LRU entry, swaps it
  out whole when the swap device has a contiguous run and splits it and swaps
  out its pages one by one when not (``shrink_folio_list``); its entries are
  per page afterwards and pages come back order-0 (6.12 swaps in large
  folios only from ``SWP_SYNCHRONOUS_IO`` devices). A fork, a partial
  munmap or an exit splits the large folios it touches (the kernel shares
  them, or splits them later).

* **file pages and swappiness** (``file_pages``, off by default): a fixed,
  cold page cache on the inactive file list, which reclaim trims first while
  it is large (``cache_trim_mode``) and then scans beside the anonymous lists
  in the proportion ``get_scan_count`` gives with ``swappiness``; its pages
  are dropped without I/O and never come back.

Simplifications (documented, deliberate): large folios only as above; one
anonymous LRU for the whole machine (a file list only as above, no MGLRU, no
NUMA; cgroups, when configured, as :mod:`swapops.memcg` models them),
reclaimed kswapd-like in the faulting context; when reclaim cannot free
memory (swap full) the model *overcommits* (allocates a frame beyond RAM and
counts it, ``overcommit_*``) instead of killing a process.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .constants import MAX_SWAPFILES, PMD_ORDER
from .contentref import ContentCache
from .device import SWAPIN_FREE_CACHE, SWAPIN_NO_READAHEAD
from .errors import (
    ConfigError,
    DeviceIOError,
    FolioSplitRequired,
    OutOfSwapSpaceError,
    SwapOpsError,
    WriteActivateError,
)
from .folio import Folio
from .shrinker import reclaim_priority, shrink_slab
from .sizes import PAGE_SIZE
from .system import SwapEntry, SwapSystem
from .workloads import EXIT, FORK, MUNMAP, OP_MASK, OP_SHIFT, SPAWN, whole_number

if TYPE_CHECKING:
    from .memcg import MemcgModel

SWAP_CLUSTER_MAX = 32
DEF_PRIORITY = 12  # reclaim's first priority: scan lists >> 12 (mm/vmscan.c)
SWAP_RA_ORDER_CEILING = 5  # VMA readahead: at most 32 pages (mm/swap_state.c)
SWAP_RA_HITS_MAX = 63  # SWAP_RA_HITS_MASK with 4 KiB pages
_PMD_MASK = 511  # pages of a 2 MiB PMD, minus one
_FMASK = (1 << 32) - 1
# A swap PTE: ~(offset << _TYPE_SHIFT | type), negative (frames are >= 0).
_TYPE_SHIFT = 5
_TYPE_MASK = (1 << _TYPE_SHIFT) - 1
assert MAX_SWAPFILES <= 1 << _TYPE_SHIFT
# The per-area arrays of swapped pages (content key, shadow) are indexed by
# offset up to this many slots (2 GiB of arrays); offsets beyond (a sparse
# third-party allocator) go to a dict.
_SW_DIRECT = 1 << 27
_NONE: tuple[int, ...] = ()  # no process maps the frame (read-ahead or orphaned swap cache)
_BACKOFF = 256  # faults without reclaim after a page-out failed for lack of swap space


def _swapin_nr_pages(prev: int, offset: int, hits: int, max_pages: int, prev_win: int) -> int:
    """``__swapin_nr_pages`` (``mm/swap_state.c``): the readahead window."""
    pages = hits + 2
    if pages == 2:
        if offset != prev + 1 and offset != prev - 1:
            pages = 1
    else:
        roundup = 4
        while roundup < pages:
            roundup <<= 1
        pages = roundup
    pages = min(pages, max_pages)
    return max(pages, prev_win // 2)


def swap_pte(entry: SwapEntry) -> int:
    """The PTE value of swap entry ``(type, offset)``: a negative int (``swp_entry_to_pte``)."""
    return ~(entry[1] << _TYPE_SHIFT | entry[0])


def pte_entry(pte: int) -> SwapEntry:
    """The swap entry ``(type, offset)`` a swap PTE (a negative int) encodes (``pte_to_swp_entry``)."""
    v = ~pte
    return (v & _TYPE_MASK, v >> _TYPE_SHIFT)


def is_swap_pte(pte: object) -> bool:
    """A PTE that holds a swap entry (not a frame, the zero page or nothing)."""
    return pte.__class__ is int and pte < 0


class DataMismatchError(SwapOpsError):
    """A swap-in returned bytes other than the ones swapped out (a module bug)."""


class MM:
    """Page tables, frames, LRU lists and the fault/reclaim paths.

    :param system: the swap layer it drives.
    :param ram_pages: page frames of the machine.
    :param content: ``content(ck) -> bytes`` (a :class:`ContentMix`'s ``page``).
    :param page_cluster: ``vm.page-cluster``: readahead of up to 2**n pages (0 = off).
    :param verify: compare every swapped-in page with its expected bytes.
    :param watermarks: ``(min, low, high)`` free pages; default from RAM size.
    :param thp_orders: the large-folio orders an anonymous write fault may
        allocate (``/sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/enabled``
        set to ``always``: 1..9); empty (the default) keeps every page order 0.
    :param file_pages: clean page-cache pages in RAM at the start (a fixed,
        cold page cache: on the inactive file list, never touched, dropped by
        reclaim without I/O and never read again). 0 (the default): anonymous
        memory only.
    :param swappiness: ``vm.swappiness`` (0..200): how reclaim divides its scan
        between the anonymous and the file list (``get_scan_count``).
    :param by_ref: reference mode (:mod:`swapops.contentref`): order-0 pages are
        swapped out as content keys (``Folio.ref``) and the system is given a
        :class:`~swapops.contentref.ContentCache` over ``content``; stacks whose
        layers all hold keys store no bytes. Metrics are those of byte mode.
    :param is_zero: ``is_zero(ck)`` for the cache (cheaper than making the page).
    :param cpus: simulated CPUs; process ``pid`` runs on CPU ``pid % cpus``, and
        reclaim allocates swap on the CPU of the process whose fault started it
        (``SwapSystem.set_cpu``: the per-CPU clusters of ``percpu_swap_cluster``).
        Where kswapd would run is not modeled.
    """

    def __init__(
        self,
        system: SwapSystem,
        ram_pages: int,
        content: Callable[[int], bytes],
        *,
        page_cluster: int = 3,
        verify: bool = True,
        watermarks: tuple[int, int, int] | None = None,
        cpus: int = 1,
        thp_orders: tuple[int, ...] = (),
        file_pages: int = 0,
        swappiness: int = 60,
        by_ref: bool = False,
        is_zero: Callable[[int], bool] | None = None,
    ) -> None:
        if ram_pages < 4 * SWAP_CLUSTER_MAX:
            raise ConfigError(
                f"RAM of {ram_pages} pages ({ram_pages * PAGE_SIZE // 1024}K) is too small"
                f" (at least {4 * SWAP_CLUSTER_MAX} pages, {4 * SWAP_CLUSTER_MAX * PAGE_SIZE // 1024}K)"
            )
        page_cluster = whole_number("page_cluster", page_cluster)
        if not 0 <= page_cluster <= 10:
            raise ConfigError(f"page_cluster {page_cluster} out of range (0..10)")
        orders = sorted({int(o) for o in thp_orders}, reverse=True)
        if any(not 1 <= o <= PMD_ORDER for o in orders):
            raise ConfigError(f"thp_orders {list(thp_orders)}: each order must be 1..{PMD_ORDER}")
        self.thp_orders: tuple[int, ...] = tuple(orders)
        if not 0 <= swappiness <= 200:
            raise ConfigError(f"swappiness {swappiness} out of range (0..200)")
        if not 0 <= file_pages <= ram_pages // 2:
            raise ConfigError(f"file_pages {file_pages} out of range (0..{ram_pages // 2}, half of RAM)")
        self.swappiness = int(swappiness)
        self.nr_file = int(file_pages)  # the inactive file list: pages, no frames (never touched)
        self._file_credit = 0.0
        self.system = system
        self.cpus = max(1, int(cpus))
        self._cpu = 0
        self.content = content
        # Reference mode (swapops.contentref): order-0 pages go out as content
        # keys; layers that hold keys get the facts they need from the cache.
        self.by_ref = bool(by_ref)
        if self.by_ref:
            system.set_content(ContentCache(content, is_zero))
        self.page_cluster = page_cluster
        self.verify = verify
        n = self.ram_pages = ram_pages
        if watermarks is None:
            wmin = max(SWAP_CLUSTER_MAX, n // 256)
            watermarks = (wmin, wmin + wmin // 4 + SWAP_CLUSTER_MAX, wmin + wmin // 2 + 2 * SWAP_CLUSTER_MAX)
        self.wmark_min, self.wmark_low, self.wmark_high = watermarks
        # frames: created on first use (a large RAM costs only what is touched);
        # freed ones are reused first, most recently freed first
        self.f_ck: list[int] = []
        self.f_map: list[Any] = []  # list of pids mapping the frame
        self.f_vp: list[int] = []
        self.f_swap: list[int | None] = []  # its swap PTE value while in the swap cache
        self.f_ref = bytearray()  # PTE young bit, set by every access
        self.f_pgref = bytearray()  # PG_referenced: young at the last inactive scan
        self.f_wp = bytearray()  # write-protected: shared, cached or COW
        self.f_ra = bytearray()  # read ahead, not yet used
        self.f_lru = bytearray()  # 0 none, 1 inactive, 2 active
        self.f_tag: list[int] = []
        # large folios: head frame -> its frames in address order (only the head
        # is on an LRU list; the lists' page counts include the tails), and
        # tail frame -> head
        self._folios: dict[int, list[int]] = {}
        self._head_of: dict[int, int] = {}
        self.free: list[int] = []
        self.nr_used = self.nr_file  # the page cache takes RAM too
        self.nr_held = 0  # RAM the swap layers hold (zswap's pool), counted in nr_used
        # zswap writeback's swap-cache folios no layer names by entry (a keyed
        # zswap), on the inactive tail, counted in nr_used; named ones get a
        # frame (_writeback_folio)
        self.nr_wb = 0
        self._wb_seen = 0
        self.inactive: deque[int] = deque()
        self.active: deque[int] = deque()
        self.nr_lru = [0, 0, 0]
        self._tagseq = 0
        # processes and swap
        self.pts: dict[int, dict[int, Any]] = {}
        self.cache: dict[int, int] = {}  # swap-cache frames: swap PTE value -> frame
        # Live entries, per area indexed by offset (simulator memory, issue 15:
        # 16 B per slot, no object per swapped page): the content key (0: no
        # live entry) and the workingset shadow (nonresident_age at eviction,
        # plus 1; 0: none). Offsets from _SW_DIRECT on: _sw_far, swap PTE
        # value -> [key, shadow].
        self._sw_ck: list[array[int]] = [array("q") for _ in range(MAX_SWAPFILES)]
        self._sw_sh: list[array[int]] = [array("q") for _ in range(MAX_SWAPFILES)]
        self._sw_far: dict[int, list[int]] = {}
        self.next_page = 1
        # readahead state (swapin_nr_pages)
        self._ra_prev = 0
        self._ra_win = 0
        self._ra_hits = 0
        self._vma_ra_state: dict[int, tuple[int, int, int]] = {}  # pid -> (last fault, window, hits)
        # workingset (mm/workingset.c): nonresident_age, and the age each
        # swapped-out page's entry was evicted at (its shadow)
        self._age = 0
        self._backoff_until = 0
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.nr_faults = 0
        # The memory controller (swapops.memcg), attached by MemcgModel; None:
        # no cgroups, and every hook below is one test of this attribute.
        self.memcg: MemcgModel | None = None
        self._bind()

    def _bind(self) -> None:
        s = self.system
        self._swap_out = s.swap_out
        self._swap_in = s.swap_in
        self._swap_dup = s.swap_dup
        self._swap_free = s.swap_free
        self._swap_count = s.swap_count
        self._cache_drop = s.swap_cache_drop
        # SWP_SYNCHRONOUS_IO hook: per swap-in fault, the area says whether to
        # skip readahead and free the swap-cache copy once mapped (see below).
        self._swapin_flags = s.swapin_flags

    # ------------------------------------------------------------------ swapped pages

    def _sw_put(self, pte: int, ck: int, shadow: int) -> None:
        """Record the live entry ``pte`` (a swap PTE value): its content key and shadow."""
        v = ~pte
        t = v & _TYPE_MASK
        off = v >> _TYPE_SHIFT
        arr = self._sw_ck[t]
        n = len(arr)
        if off >= n:
            if off >= _SW_DIRECT:
                self._sw_far[pte] = [ck, shadow]
                return
            # grow by a quarter at least: amortised, and little slack (RSS)
            zeros = bytes(8 * (min(max(off + 1, n + (n >> 2), 1024), _SW_DIRECT) - n))
            arr.frombytes(zeros)
            self._sw_sh[t].frombytes(zeros)
        arr[off] = ck
        self._sw_sh[t][off] = shadow

    def _sw_key(self, pte: int) -> int:
        """The content key of live entry ``pte``; 0 if the entry is not live."""
        v = ~pte
        off = v >> _TYPE_SHIFT
        arr = self._sw_ck[v & _TYPE_MASK]
        if off < len(arr):
            return arr[off]
        far = self._sw_far.get(pte)
        return far[0] if far is not None else 0

    def _sw_shadow(self, pte: int, shadow: int) -> int:
        """Set the shadow of live entry ``pte`` (0: none); return the one it had."""
        v = ~pte
        off = v >> _TYPE_SHIFT
        t = v & _TYPE_MASK
        if off < len(self._sw_ck[t]):
            arr = self._sw_sh[t]
            old = arr[off]
            arr[off] = shadow
            return old
        far = self._sw_far.get(pte)
        if far is None:
            return 0
        old = far[1]
        far[1] = shadow
        return old

    def _sw_del(self, pte: int) -> None:
        """Forget live entry ``pte`` (its last reference and the swap cache are gone)."""
        v = ~pte
        off = v >> _TYPE_SHIFT
        t = v & _TYPE_MASK
        if off < len(self._sw_ck[t]):
            self._sw_ck[t][off] = 0
            self._sw_sh[t][off] = 0
        else:
            del self._sw_far[pte]

    def swapped_entries(self) -> list[SwapEntry]:
        """The live swap entries the model holds (PTEs or swap cache), in order of type and offset."""
        out: list[SwapEntry] = []
        for t, arr in enumerate(self._sw_ck):
            if len(arr):
                out.extend((t, int(off)) for off in np.flatnonzero(np.frombuffer(arr, dtype=np.int64)))
        out.extend(sorted(pte_entry(p) for p in self._sw_far))
        return out

    def nr_swapped(self) -> int:
        """Live swap entries the model holds."""
        return sum(int(np.count_nonzero(np.frombuffer(a, dtype=np.int64))) for a in self._sw_ck if len(a)) + len(
            self._sw_far)

    # ------------------------------------------------------------------ replay

    def replay(self, ops: list[int], a: list[int], b: list[int]) -> None:
        """Apply one chunk of events (see :mod:`swapops.workloads`)."""
        self._sync_held()  # simulated time passed: a worker may have shrunk a pool
        pts = self.pts
        ref = self.f_ref
        wp = self.f_wp
        ck = self.f_ck
        fault = self._fault
        pid = -1
        try:
            for op, pid, vp in zip(ops, a, b, strict=True):
                if op <= 1:
                    pte = pts[pid].get(vp)
                    if pte.__class__ is int and pte >= 0:
                        ref[pte] = 1
                        if op:
                            if wp[pte]:
                                fault(pid, vp, 1)
                            else:
                                ck[pte] += 1  # every store makes a new version of the page
                    elif op or pte is not False:
                        fault(pid, vp, op)
                else:
                    self.event(op, pid, vp)
        except KeyError:
            if pid not in pts:
                self._pt(pid)  # raises the ConfigError
            raise

    def event(self, op: int, a: int, b: int) -> None:
        """A non-access event: fork, exit, munmap, spawn."""
        kind = op & OP_MASK
        if op < 0:
            raise ConfigError(f"unknown event op {op}")
        if kind == FORK:
            self.fork(a, b)
        elif kind == EXIT:
            self.exit(a)
        elif kind == MUNMAP:
            self.munmap(a, b, op >> OP_SHIFT)
        elif kind == SPAWN:
            self.spawn(a)
        else:
            raise SwapOpsError(f"unknown event op {op}")

    def access(self, pid: int, vpage: int, write: bool = False) -> None:
        """One load or store (the slow way; :meth:`replay` is the fast one)."""
        self.replay([1 if write else 0], [pid], [vpage])

    # ------------------------------------------------------------------ frames and LRU

    def _alloc(self) -> int:
        free = self.free
        if free:
            frame = free.pop()
        else:  # a frame never used yet (or, beyond RAM, an overcommitted one)
            frame = len(self.f_ck)
            self.f_ck.append(0)
            self.f_map.append(_NONE)
            self.f_vp.append(0)
            self.f_swap.append(None)
            self.f_ref.append(0)
            self.f_pgref.append(0)
            self.f_wp.append(0)
            self.f_ra.append(0)
            self.f_lru.append(0)
            self.f_tag.append(0)
        self.nr_used += 1
        over = self.nr_used - self.ram_pages
        if over > 0:
            c = self.counters
            c["overcommit_allocs"] += 1
            if over > c["overcommit_peak"]:
                c["overcommit_peak"] = over
        return frame

    def _sync_held(self) -> None:
        """Count the RAM the swap layers hold now (:meth:`SwapSystem.ram_held`:
        zswap's pool) as used memory, as the kernel's free memory counts
        zsmalloc's pages. Read after each reclaim batch and each swap-in from
        a device (where a pool grows or shrinks), never per access."""
        system = self.system
        held = system.ram_held()
        if held != self.nr_held:
            self.nr_used += held - self.nr_held
            self.nr_held = held
        wb = system.writeback_pages()
        if wb != self._wb_seen:
            new = wb - self._wb_seen
            self._wb_seen = wb
            if new > 0:
                for entry in system.take_writeback_folios():
                    self._writeback_folio(entry)
                    new -= 1
                self.nr_wb += new
                self.nr_used += new

    def _writeback_folio(self, entry: SwapEntry) -> None:
        """The swap-cache folio ``zswap_writeback_entry`` left for ``entry``
        (``mm/zswap.c``): allocated and added to the swap cache by
        ``__read_swap_cache_async`` (which takes the entry's shadow,
        ``workingset_refault``), put on the LRU by ``folio_add_lru``, written
        to the device and left there clean, mapped by no PTE. Reclaim drops it
        without I/O; a fault finds it in the swap cache (a minor fault, not a
        readahead hit: ``PG_reclaim``, which is ``PG_readahead``, is cleared
        when its write ends), and VMA readahead skips it."""
        pte = swap_pte(entry)
        ck = self._sw_key(pte)
        if pte in self.cache or not ck:
            self._cache_drop(entry)
            return
        frame = self._alloc()
        self.f_ck[frame] = ck
        self.f_map[frame] = _NONE
        self.f_swap[frame] = pte
        self.f_wp[frame] = 1
        self.f_ra[frame] = 0
        self.f_ref[frame] = 0
        self._lru_add(frame, 2 if self._refault(pte) else 1)
        self.cache[pte] = frame
        if self.memcg is not None:
            self.memcg.charge_swapin(frame, entry, -1)  # __read_swap_cache_async charges the entry's memcg
        self.counters["writeback_folios"] += 1

    def _lru_add(self, frame: int, lru: int) -> None:
        self._tagseq += 1
        tag = (self._tagseq << 32) | frame
        self.f_tag[frame] = tag
        self.f_lru[frame] = lru
        self.nr_lru[lru] += 1
        if lru == 1:
            self.inactive.appendleft(tag)
        else:
            self.active.appendleft(tag)

    def _free_frame(self, frame: int) -> None:
        lru = self.f_lru[frame]
        if lru:
            self.nr_lru[lru] -= 1
            self.f_lru[frame] = 0
            self.f_tag[frame] = 0
        self.f_map[frame] = _NONE
        self.f_swap[frame] = None
        self.f_ref[frame] = 0
        self.f_pgref[frame] = 0
        self.f_wp[frame] = 0
        self.f_ra[frame] = 0
        self.free.append(frame)
        self.nr_used -= 1
        if self.memcg is not None:
            self.memcg.uncharge(frame)

    def _new_frame(self, pid: int, vp: int, ck: int) -> int:
        frame = self._alloc()
        self.f_ck[frame] = ck
        self.f_map[frame] = [pid]
        self.f_vp[frame] = vp
        self.f_ref[frame] = 1
        self._lru_add(frame, 1)
        if self.memcg is not None:
            self.memcg.charge(frame, pid)
        return frame

    # ------------------------------------------------------------------ large folios

    def _alloc_anon_folio(self, pid: int, pt: dict[int, Any], vp: int) -> bool:
        """``alloc_anon_folio``: a write fault on an empty PTE takes the highest
        allowed order whose naturally aligned range of PTEs is all empty
        (``pte_range_none``; a PTE mapping the zero page is not empty). Every
        PTE of the new folio is young (x86's ``vm_page_prot`` carries the
        accessed bit). The model has one VMA per process spanning every such
        range, and no fragmentation: the allocation itself never fails.
        False: no order fits, the fault takes an order-0 page."""
        for order in self.thp_orders:
            nr = 1 << order
            base = vp & ~(nr - 1)
            if any(pt.get(x) is not None for x in range(base, base + nr)):
                continue
            frames = []
            for k in range(nr):
                frame = self._alloc()
                self.f_ck[frame] = (self.next_page << 32) | 1
                self.next_page += 1
                self.f_map[frame] = [pid]
                self.f_vp[frame] = base + k
                self.f_ref[frame] = 1
                pt[base + k] = frame
                frames.append(frame)
            head = frames[0]
            self._folios[head] = frames
            for t in frames[1:]:
                self._head_of[t] = head
            self._lru_add(head, 1)
            self.nr_lru[1] += nr - 1
            if self.memcg is not None:
                self.memcg.charge_frames(frames, pid)
            self.counters["mthp_anon_fault_alloc"] += 1
            return True
        return False

    def _split_folio(self, head: int) -> list[int]:
        """``split_folio``: the folio's pages become order-0 pages on the list
        the folio was on (at its young end; the kernel puts them next to the
        head), with its PG_referenced. Returns the frames."""
        frames = self._folios.pop(head)
        head_of = self._head_of
        lru = self.f_lru[head]
        pgref = self.f_pgref[head]
        if lru:
            self.nr_lru[lru] -= len(frames) - 1
        for t in frames[1:]:
            del head_of[t]
            self.f_pgref[t] = pgref
            if lru:
                self._lru_add(t, lru)
        c = self.counters
        c["mthp_split"] += 1
        if len(frames) == 1 << PMD_ORDER:
            c["thp_split_page"] += 1
        return frames

    def _split_mapped_by(self, pid: int) -> None:
        """Split every large folio ``pid`` maps (before a fork: the model keeps
        large folios exclusive to one process; the kernel shares them)."""
        for head in [h for h in self._folios if pid in self.f_map[h]]:
            self._split_folio(head)

    def _move_folio(self, head: int, frm: int, to: int) -> None:
        """Count a large folio's tails from list ``frm`` to ``to`` (the head moves itself)."""
        extra = len(self._folios[head]) - 1
        self.nr_lru[frm] -= extra
        self.nr_lru[to] += extra

    # ------------------------------------------------------------------ faults

    def _fault(self, pid: int, vp: int, write: int) -> None:
        self.nr_faults += 1
        if self.ram_pages - self.nr_used <= self.wmark_low and self.nr_faults >= self._backoff_until:
            cpu = pid % self.cpus
            if cpu != self._cpu:
                self._cpu = cpu
                self.system.set_cpu(cpu)
            self._reclaim()
        if self.memcg is not None:
            self.memcg.try_charge(pid)  # memory.max: reclaim the cgroup first
        pt = self.pts[pid]
        pte = pt.get(vp)  # reclaim may have changed it
        c = self.counters
        if pte is None or pte is False:
            if not write:
                pt[vp] = False  # the shared zero page
                c["zero_page_maps"] += 1
                return
            if pte is None and self.thp_orders and self._alloc_anon_folio(pid, pt, vp):
                c["faults_anon"] += 1
                return
            frame = self._new_frame(pid, vp, (self.next_page << 32) | 1)
            self.next_page += 1
            pt[vp] = frame
            c["faults_anon"] += 1
            return
        if pte < 0:  # a swap entry
            frame = self._swapin(pid, pt, vp, pte, True)
            if frame < 0 or not write:
                return
            pte = frame
        self.f_ref[pte] = 1
        if write:
            if self.f_wp[pte]:
                self._wp_fault(pte, pid, pt, vp)
            else:
                self.f_ck[pte] += 1  # a new version (its swap copy was freed: vm_swap_full)

    def _swapin(self, pid: int, pt: dict[int, Any], vp: int, pte: int, readahead: bool) -> int:
        """Fault in swap PTE ``pte`` of ``pid`` at ``vp``: the frame, or -1 on a read error."""
        c = self.counters
        v = ~pte
        entry = (v & _TYPE_MASK, v >> _TYPE_SHIFT)  # the core's SwapEntry
        frame = self.cache.get(pte)
        if frame is not None:
            c["swapin_cache_hits"] += 1
            # swap_cache_get_folio: with VMA readahead every hit records this
            # fault's address in the VMA's readahead state (a readahead hit
            # also counts one more hit), so the next window starts from here.
            vma_ra = self.page_cluster and not self.system.rotational_swap()
            state = self._vma_ra_state.get(pid) if vma_ra else None
            if self.f_ra[frame]:  # a readahead hit
                self.f_ra[frame] = 0
                c["swap_ra_hit"] += 1
                if vma_ra:
                    prev_win, hits = state[1:] if state is not None else (0, 0)
                    self._vma_ra_state[pid] = (vp, prev_win, min(hits + 1, SWAP_RA_HITS_MAX))
                else:
                    self._ra_hits += 1
            elif state is not None:
                self._vma_ra_state[pid] = (vp, state[1], state[2])
            maps = self.f_map[frame]
            if maps:
                maps.append(pid)
            else:
                self.f_map[frame] = [pid]
                self.f_vp[frame] = vp
            self.f_ref[frame] = 1
            pt[vp] = frame
            flags = self._swapin_flags(entry)
            self._swap_free(entry)  # the PTE's reference; the swap cache keeps the entry
            if flags & SWAPIN_FREE_CACHE:
                self._free_swap(frame, "swap_cache_freed_swapin")
            elif self._memcg_swap_full(frame):
                self._free_swap(frame)
            return frame
        frame = self._alloc()
        try:
            folio = self._swap_in(entry, cache=True)
        except DeviceIOError:
            self.nr_used -= 1
            self.free.append(frame)
            c["swapin_errors"] += 1
            return -1
        c["pgmajfault"] += 1
        if self.nr_held:
            self._sync_held()  # a load from zswap freed pool memory
        off = entry[1]
        keys = self._sw_ck[entry[0]]
        ck = keys[off] if off < len(keys) else self._sw_key(pte)
        if self.verify and (folio.data != self.content(ck) if folio.ck < 0 else folio.ck != ck):
            raise DataMismatchError(f"swap entry {entry}: data read back differs from what was swapped out")
        self.f_ck[frame] = ck
        self.f_map[frame] = [pid]
        self.f_vp[frame] = vp
        self.f_swap[frame] = pte
        self.f_wp[frame] = 1
        self.f_ref[frame] = 1
        self._lru_add(frame, 2 if self._refault(pte) else 1)
        self.cache[pte] = frame
        if self.memcg is not None:
            self.memcg.charge_swapin(frame, entry, pid)
        pt[vp] = frame
        flags = self._swapin_flags(entry)
        self._swap_free(entry)
        if readahead and self.page_cluster and not flags & SWAPIN_NO_READAHEAD:
            self._readahead(pid, pt, vp, entry)
        if flags & SWAPIN_FREE_CACHE:
            self._free_swap(frame, "swap_cache_freed_swapin")
        elif self._memcg_swap_full(frame):
            self._free_swap(frame)
        return frame

    def _ra_window(self, offset: int) -> int:
        """``swapin_nr_pages``: the cluster readahead window from recent hits."""
        hits = self._ra_hits
        self._ra_hits = 0
        pages = _swapin_nr_pages(self._ra_prev, offset, hits, 1 << self.page_cluster, self._ra_win)
        if not hits:
            self._ra_prev = offset
        self._ra_win = pages
        return pages

    def _readahead(self, pid: int, pt: dict[int, Any], vp: int, entry: SwapEntry) -> None:
        """``swapin_readahead``: VMA-based or cluster readahead, as
        ``swap_use_vma_readahead()`` decides (VMA-based unless a rotational
        swap device is active, ``nr_rotate_swap``)."""
        if self.system.rotational_swap():
            self._cluster_readahead(entry)
        else:
            self._vma_readahead(pid, pt, vp)

    def _cluster_readahead(self, entry: SwapEntry) -> None:
        """``swap_cluster_readahead``: the aligned block of ``swapin_nr_pages``
        slots around ``entry`` on the device."""
        swap_type, offset = entry
        mask = self._ra_window(offset) - 1
        if not mask:
            return
        sw_key = self._sw_key
        for off in range(max(offset & ~mask, 1), (offset | mask) + 1):
            if off == offset:
                continue
            other = ~(off << _TYPE_SHIFT | swap_type)
            if sw_key(other) and not self._ra_read(other):
                break

    def _vma_readahead(self, pid: int, pt: dict[int, Any], vp: int) -> None:
        """``swap_vma_readahead``: the swap PTEs around the faulting page in the
        process's address space (``swap_vma_ra_win``: a window of
        ``__swapin_nr_pages`` pages, at most ``2**min(page_cluster, 5)``, placed
        after the fault for a forward walk, before it for a backward one, else
        centred, within the fault's 2 MiB PMD). The window state is per
        process: the model has one VMA per process. A page already in the swap
        cache is skipped."""
        max_win = 1 << min(self.page_cluster, SWAP_RA_ORDER_CEILING)
        if max_win == 1:
            return
        state = self._vma_ra_state.get(pid)
        prev, prev_win, hits = state if state is not None else (0, 0, 0)
        win = _swapin_nr_pages(prev, vp, hits, max_win, prev_win)
        self._vma_ra_state[pid] = (vp, win, 0)
        if win == 1:
            return
        if vp == prev + 1:
            left = vp
        elif prev == vp + 1:
            left = vp - win + 1
        else:
            left = vp - (win - 1) // 2
        pmd = vp & ~_PMD_MASK
        start = max(left, 0, pmd)
        end = min(left + win, pmd + _PMD_MASK + 1)
        for addr in range(start, end):
            if addr == vp:
                continue
            pte = pt.get(addr)
            if pte.__class__ is int and pte < 0 and pte not in self.cache and not self._ra_read(pte):
                break

    def _ra_read(self, pte: int) -> bool:
        """Read swap PTE ``pte``'s entry into the swap cache as a readahead page
        (``SWAP_RA``); False when memory is too low to go on."""
        if self.ram_pages - self.nr_used <= self.wmark_min:
            return False
        cache = self.cache
        if pte in cache:
            return True
        ck = self._sw_key(pte)
        entry = pte_entry(pte)
        frame = self._alloc()
        try:
            folio = self._swap_in(entry, cache=True)
        except DeviceIOError:
            self.nr_used -= 1
            self.free.append(frame)
            return True
        if self.verify and (folio.data != self.content(ck) if folio.ck < 0 else folio.ck != ck):
            raise DataMismatchError(f"swap entry {entry}: data read ahead differs from what was swapped out")
        self.f_ck[frame] = ck
        self.f_map[frame] = _NONE
        self.f_swap[frame] = pte
        self.f_wp[frame] = 1
        self.f_ra[frame] = 1
        self.f_ref[frame] = 0
        self._lru_add(frame, 2 if self._refault(pte) else 1)
        cache[pte] = frame
        if self.memcg is not None:
            self.memcg.charge_swapin(frame, entry, -1)
        self.counters["swap_ra"] += 1
        return True

    def _refault(self, pte: int) -> bool:
        """``workingset_refault`` of a page coming back from swap: True if it is
        to be activated.

        Its entry's shadow holds ``nonresident_age`` when it was evicted; the
        refault distance (evictions and activations since) is compared with
        the workingset an anonymous page competes with (``workingset_test_recent``:
        active file + inactive file + active anon; the model's file list is
        the fixed page cache, and it assumes free swap space). Counts
        ``workingset_refault_anon`` and ``workingset_activate_anon``.
        """
        v = ~pte
        off = v >> _TYPE_SHIFT
        shadows = self._sw_sh[v & _TYPE_MASK]
        if off < len(shadows):
            shadow = shadows[off]
            if not shadow:
                return False
            shadows[off] = 0
        else:
            shadow = self._sw_shadow(pte, 0)
            if not shadow:
                return False
        eviction = shadow - 1
        c = self.counters
        c["workingset_refault_anon"] += 1
        if self._age - eviction > self.nr_lru[2] + self.nr_file:
            return False
        self._age += 1  # workingset_age_nonresident
        c["workingset_activate_anon"] += 1
        return True

    def _memcg_swap_full(self, frame: int) -> bool:
        """``mem_cgroup_swap_full()``: :meth:`_swap_full`, or the frame's cgroup
        is half way to its ``memory.swap.max`` (:mod:`swapops.memcg`)."""
        return self._swap_full() or (self.memcg is not None and self.memcg.swap_full(frame))

    def _swap_full(self) -> bool:
        """``vm_swap_full()``: more than half of the swap space is in use
        (``nr_swap_pages * 2 < total_swap_pages``, ``include/linux/swap.h``).

        The space is what each stack says the kernel would count
        (:meth:`swapops.device.SwapDevice.swap_usage`): the slots the PTEs'
        entries take from the swap device (a swapfile; a direct zswap takes
        them from the swapfile below), a buffer's own capacity (flashbuf; not
        the segments it reserved below), the physical device below an
        unbounded virtual layer (vswap). A stack with no fixed size never
        counts as full.
        """
        total, used = self.system.swap_usage()
        return (total - used) * 2 < total

    def _free_swap(self, frame: int, counter: str = "swap_cache_freed_full") -> bool:
        """``folio_free_swap``: drop the swap copy of a mapped swap-cache page
        whose entry no PTE references any more; the page becomes dirty (its
        next reclaim writes it to a new slot). False if it must keep it."""
        pte = self.f_swap[frame]
        maps = self.f_map[frame]
        if pte is None or not maps:
            return False
        v = ~pte
        entry = (v & _TYPE_MASK, v >> _TYPE_SHIFT)
        if self._swap_count(entry) > 0:
            return False
        self._cache_drop(entry)
        del self.cache[pte]
        off = entry[1]
        keys = self._sw_ck[entry[0]]
        if off < len(keys):
            keys[off] = 0
            self._sw_sh[entry[0]][off] = 0
        else:
            self._sw_del(pte)
        self.f_swap[frame] = None
        self.f_ra[frame] = 0
        if len(maps) == 1:
            self.f_wp[frame] = 0  # exclusive now: do_swap_page maps it writable
        self.counters[counter] += 1
        return True

    def _wp_fault(self, frame: int, pid: int, pt: dict[int, Any], vp: int) -> None:
        """A store to a write-protected page: copy it (COW) or make it exclusive and dirty."""
        maps = self.f_map[frame]
        pte = self.f_swap[frame]
        entry = None if pte is None else pte_entry(pte)
        if len(maps) > 1 or (entry is not None and self._swap_count(entry) > 0):
            maps.remove(pid)
            copy = self._new_frame(pid, vp, (self.next_page << 32) | 1)
            self.next_page += 1
            pt[vp] = copy
            self.counters["cow"] += 1  # the old frame keeps its other mappers or its swap entry
            return
        if pte is not None and entry is not None:
            # Dirtied: the swap copy is stale. Our PTE reference is gone already,
            # so dropping the swap cache releases the entry.
            del self.cache[pte]
            self.f_swap[frame] = None
            self._sw_del(pte)
            self._cache_drop(entry)
            self.counters["swapcache_dirtied"] += 1
        self.f_ck[frame] += 1  # a new version of the page
        self.f_wp[frame] = 0

    # ------------------------------------------------------------------ reclaim

    def _reclaim(self) -> None:
        """kswapd: shrink the LRU in batches until free memory reaches the high watermark.

        After each batch of ``SWAP_CLUSTER_MAX`` the layers run their queued
        work (``cond_resched``: zswap's shrink worker, :meth:`SwapSystem.run_work`);
        after the run, the layers' shrinkers run once, as ``shrink_node`` calls
        ``shrink_slab`` after the LRU, at the priority this run's scan
        corresponds to (:func:`swapops.shrinker.reclaim_priority`).
        """
        c = self.counters
        c["reclaim_runs"] += 1
        budget = 2 * self.nr_used + 2 * SWAP_CLUSTER_MAX
        run_work = self.system.run_work
        total = 0
        refused = c["swapout_activated"]
        while self.ram_pages - self.nr_used < self.wmark_high and budget > 0:
            nr_file = self._file_scan() if self.nr_file else 0
            if nr_file:
                self._shrink_file(nr_file)
            freed, scanned = self._shrink(SWAP_CLUSTER_MAX - nr_file) if nr_file < SWAP_CLUSTER_MAX else (0, 0)
            freed += nr_file
            scanned += nr_file
            total += scanned
            run_work()
            self._sync_held()
            budget -= scanned or 1
            if self._backoff_until > self.nr_faults:
                break
            if not scanned and not freed:
                break
        if c["swapout_activated"] > refused and self.ram_pages - self.nr_used < self.wmark_high:
            # Pages were refused one by one (WriteActivateError) and reclaim fell
            # short: back off as for a full swap, or every fault would rescan the LRU.
            self._backoff_until = self.nr_faults + _BACKOFF
        shrinkers = self.system.shrinkers()
        if shrinkers:
            shrink_slab(shrinkers, reclaim_priority(total, self.nr_lru[1] + self.nr_lru[2]))
            self._sync_held()

    def _file_scan(self) -> int:
        """``get_scan_count``: how many of this batch's ``SWAP_CLUSTER_MAX`` pages
        come from the file list.

        All of them in ``cache_trim_mode`` (``prepare_scan_control``: inactive
        file pages ``>> DEF_PRIORITY`` non-zero and not thrashing, which a
        cold page cache never is) and with ``swappiness`` 0; otherwise
        ``SCAN_FRACT`` with equal reclaim costs (the model's file pages never
        refault, nor rotate): the lists' sizes weighted by ``swappiness`` and
        ``200 - swappiness``, the fraction carried between batches."""
        file = self.nr_file
        if not self.swappiness or file >> DEF_PRIORITY:
            return min(file, SWAP_CLUSTER_MAX)
        anon = self.nr_lru[1] + self.nr_lru[2]
        fp = (200 - self.swappiness) * file
        ap = self.swappiness * anon
        self._file_credit += SWAP_CLUSTER_MAX * fp / (fp + ap)
        n = min(int(self._file_credit), file, SWAP_CLUSTER_MAX)
        self._file_credit -= n
        return n

    def _shrink_file(self, nr: int) -> None:
        """Drop ``nr`` clean page-cache pages (no I/O; ``pgscan_file``, ``pgsteal_file``)."""
        self.nr_file -= nr
        self.nr_used -= nr
        c = self.counters
        c["pgscan_file"] += nr
        c["pgsteal_file"] += nr

    def _deactivate(self, nr: int) -> None:
        """``shrink_active_list``: move ``nr`` pages from the active tail to the
        inactive head, clearing their young bits (anonymous pages are not kept)."""
        active = self.active
        inactive = self.inactive
        f_tag = self.f_tag
        f_ref = self.f_ref
        f_lru = self.f_lru
        seq = self._tagseq
        folios = self._folios
        moved = 0
        while moved < nr and active:
            tag = active.pop()
            frame = tag & _FMASK
            if f_tag[frame] != tag:
                continue
            f_ref[frame] = 0
            if folios and frame in folios:  # folio_referenced clears every PTE's young bit
                frames = folios[frame]
                for f in frames:
                    f_ref[f] = 0
                moved += len(frames) - 1
            seq += 1
            tag = (seq << 32) | frame
            f_tag[frame] = tag
            f_lru[frame] = 1
            inactive.appendleft(tag)
            moved += 1
        self._tagseq = seq
        self.nr_lru[2] -= moved
        self.nr_lru[1] += moved
        self.counters["pgrefill"] += moved  # anonymous pages are all deactivated
        self.counters["pgdeactivate"] += moved

    def _shrink(self, batch: int = SWAP_CLUSTER_MAX) -> tuple[int, int]:
        """``shrink_inactive_list``: one batch of ``batch`` pages (at most ``SWAP_CLUSTER_MAX``) from
        the inactive tail, each judged as ``folio_check_references`` does: a
        young page is kept for another trip the first time (PG_referenced set)
        and activated the second; an old one is paged out."""
        nr_lru = self.nr_lru
        if nr_lru[1] + self.nr_wb < nr_lru[2]:
            self._deactivate(SWAP_CLUSTER_MAX)
        wb = min(self.nr_wb, batch)
        if wb:  # writeback folios at the inactive tail: clean swap cache, freed first
            self.nr_wb -= wb
            self.nr_used -= wb
            batch -= wb
            self.counters["writeback_folios_freed"] += wb
        inactive = self.inactive
        active = self.active
        f_tag = self.f_tag
        f_ref = self.f_ref
        f_pgref = self.f_pgref
        f_lru = self.f_lru
        f_swap = self.f_swap
        pageout = self._pageout
        folios = self._folios
        freed = scanned = activated = 0
        while scanned < batch and inactive:
            tag = inactive.pop()
            frame = tag & _FMASK
            if f_tag[frame] != tag:
                continue
            if folios and frame in folios:
                n_scan, n_freed, n_act = self._shrink_large(frame, folios[frame])
                scanned += n_scan
                freed += n_freed
                activated += n_act
                if self._backoff_until > self.nr_faults:
                    break
                continue
            scanned += 1
            if f_ref[frame]:
                f_ref[frame] = 0
                self._tagseq += 1
                tag = (self._tagseq << 32) | frame
                f_tag[frame] = tag
                if f_pgref[frame]:
                    f_lru[frame] = 2
                    nr_lru[1] -= 1
                    nr_lru[2] += 1
                    active.appendleft(tag)
                    activated += 1
                    if f_swap[frame] is not None and self._memcg_swap_full(frame):  # activate_locked
                        self._free_swap(frame)
                else:
                    f_pgref[frame] = 1
                    inactive.appendleft(tag)
                continue
            f_pgref[frame] = 0
            if pageout(frame):
                freed += 1
                continue
            # activate_locked: the page stays (no swap space, I/O error)
            nr_lru[1] -= 1
            f_lru[frame] = 0
            self._lru_add(frame, 2)
            activated += 1
            if f_swap[frame] is not None and self._memcg_swap_full(frame):
                self._free_swap(frame)
            if self._backoff_until > self.nr_faults:
                break
        self._age += activated  # move_folios_to_lru: active folios age the nonresident clock
        c = self.counters
        scanned += wb
        freed += wb
        c["pgscan_anon"] += scanned
        c["pgsteal_anon"] += freed
        c["pgactivate"] += activated
        return freed, scanned

    def _shrink_large(self, head: int, frames: list[int]) -> tuple[int, int, int]:
        """One large folio from the inactive tail: ``(pages scanned, freed,
        activated)``. ``folio_check_references`` counts its young PTEs: none,
        it is paged out; one, kept for another trip the first time; more than
        one (``referenced_ptes > 1``) or PG_referenced already set, activated.
        A PMD-sized folio is mapped by one PMD: one reference at most."""
        nr = len(frames)
        f_ref = self.f_ref
        young = 0
        for f in frames:
            if f_ref[f]:
                young += 1
                f_ref[f] = 0
        if young and nr == 1 << PMD_ORDER:
            young = 1  # PMD-mapped: one accessed bit, one reference (pmdp_clear_flush_young)
        if young:
            referenced = self.f_pgref[head]
            self.f_pgref[head] = 1
            if referenced or young > 1:
                self._activate_large(head, nr)
                return nr, 0, nr
            self._tagseq += 1
            tag = (self._tagseq << 32) | head
            self.f_tag[head] = tag
            self.inactive.appendleft(tag)
            return nr, 0, 0
        self.f_pgref[head] = 0
        freed, activated = self._pageout_large(head, frames)
        return nr, freed, activated

    def _activate_large(self, head: int, nr: int) -> None:
        """A large folio from the inactive to the active list (the head moves, the tails are counted)."""
        nr_lru = self.nr_lru
        nr_lru[self.f_lru[head]] -= 1
        self.f_lru[head] = 0
        self._lru_add(head, 2)
        nr_lru[1] -= nr - 1
        nr_lru[2] += nr - 1

    def _pageout_large(self, head: int, frames: list[int]) -> tuple[int, int]:
        """``shrink_folio_list`` on an unreferenced large folio: ``(pages freed, activated)``.

        ``add_to_swap`` asks for ``2**order`` contiguous slots. When none is
        free (:class:`~swapops.errors.FolioSplitRequired`) the folio is split
        and its pages are paged out one by one in the same pass
        (``split_folio_to_list``; ``thp_swpout_fallback`` for a PMD-sized
        folio, the per-size ``swpout_fallback`` for any). Swapped out whole it
        is one I/O of ``2**order`` pages (``thp_swpout`` when PMD-sized); its
        PTEs then hold one order-0 entry per page
        (:meth:`~swapops.system.SwapSystem.swap_split`), so faults, frees and
        readahead treat them page by page as 6.12 does on a block device. A
        layer that cannot take it now (:class:`~swapops.errors.WriteActivateError`,
        vswap v5) has it activated whole.
        """
        nr = len(frames)
        order = nr.bit_length() - 1
        content = self.content
        f_ck = self.f_ck
        folio = Folio.empty(order)
        folio.data = b"".join([content(f_ck[f]) for f in frames])
        c = self.counters
        try:
            entry = self._swap_out(folio) if self.memcg is None else self.memcg.swap_out(folio, head)
        except FolioSplitRequired:
            c["mthp_swpout_fallback"] += 1
            if order == PMD_ORDER:
                c["thp_swpout_fallback"] += 1
            self._split_folio(head)
            freed = activated = 0
            for f in frames:
                if self._backoff_until > self.nr_faults:
                    break  # out of swap space: the rest stays on the inactive list
                if self._pageout(f):
                    freed += 1
                    continue
                self.nr_lru[self.f_lru[f]] -= 1
                self.f_lru[f] = 0
                self._lru_add(f, 2)
                activated += 1
            return freed, activated
        except WriteActivateError:
            c["large_pageout_activated"] += 1
            self._activate_large(head, nr)
            return 0, nr
        except OutOfSwapSpaceError:
            c["swapout_failures"] += 1
            self._backoff_until = self.nr_faults + _BACKOFF
            self._activate_large(head, nr)
            return 0, nr
        except DeviceIOError:
            c["pageout_errors"] += 1
            self._activate_large(head, nr)
            return 0, nr
        entries = self.system.swap_split(entry)
        if self.memcg is not None:
            self.memcg.split(entry, entries)
        pt = self.pts[self.f_map[head][0]]
        f_vp = self.f_vp
        sw_put = self._sw_put
        for f, e in zip(frames, entries, strict=True):
            pte = ~(e[1] << _TYPE_SHIFT | e[0])
            sw_put(pte, f_ck[f], self._age + 1)  # with its shadow (workingset_eviction)
            self._age += 1
            pt[f_vp[f]] = pte
        c["pageouts"] += nr
        c["mthp_swpout"] += 1
        if order == PMD_ORDER:
            c["thp_swpout"] += 1
        del self._folios[head]
        head_of = self._head_of
        for t in frames[1:]:
            del head_of[t]
        self.nr_lru[self.f_lru[head]] -= nr - 1
        for f in frames:
            self._free_frame(f)
        return nr, 0

    def _pageout(self, frame: int) -> bool:
        """Unmap ``frame`` from every PTE and free it; False if it must stay."""
        maps = self.f_map[frame]
        vp = self.f_vp[frame]
        pts = self.pts
        pte = self.f_swap[frame]
        c = self.counters
        if pte is not None:
            # Clean and still in the swap cache: no write, just drop it.
            v = ~pte
            entry = (v & _TYPE_MASK, v >> _TYPE_SHIFT)
            dup = self._swap_dup
            for _pid in maps:
                dup(entry)
            release = not maps and self._swap_count(entry) == 0
            try:
                self._cache_drop(entry)  # writes back only if the device gave its copy up
            except SwapOpsError:
                for _pid in maps:
                    self._swap_free(entry)
                c["pageout_errors"] += 1
                return False
            if release:
                self._sw_del(pte)
            else:
                self._sw_shadow(pte, self._age + 1)  # workingset_eviction
            self._age += 1
            del self.cache[pte]
            for pid in maps:
                pts[pid][vp] = pte
            c["clean_drops"] += 1
        else:
            ck = self.f_ck[frame]
            if self.by_ref:
                folio = Folio.ref(ck)
            else:
                folio = Folio.empty(0)
                folio.data = self.content(ck)
            try:
                entry = self._swap_out(folio) if self.memcg is None else self.memcg.swap_out(folio, frame)
            except WriteActivateError:  # AOP_WRITEPAGE_ACTIVATE: this page stays, reclaim goes on
                c["swapout_failures"] += 1
                c["swapout_activated"] += 1
                return False
            except OutOfSwapSpaceError:
                c["swapout_failures"] += 1
                self._backoff_until = self.nr_faults + _BACKOFF
                return False
            except DeviceIOError:
                c["pageout_errors"] += 1
                return False
            t, off = entry
            pte = ~(off << _TYPE_SHIFT | t)
            self._age = age = self._age + 1
            keys = self._sw_ck[t]
            if off < len(keys):  # with its shadow (workingset_eviction)
                keys[off] = ck
                self._sw_sh[t][off] = age
            else:
                self._sw_put(pte, ck, age)
            first = True
            for pid in maps:
                pts[pid][vp] = pte
                if first:
                    first = False
                else:
                    self._swap_dup(entry)
            c["pageouts"] += 1
        self._free_frame(frame)
        return True

    # ------------------------------------------------------------------ processes

    def spawn(self, pid: int) -> None:
        if pid in self.pts:
            raise SwapOpsError(f"process {pid} exists already")
        self.pts[pid] = {}

    def fork(self, parent: int, child: int) -> None:
        """``child`` gets ``parent``'s mappings: frames shared (COW), swap entries dup'ed."""
        if child in self.pts:
            raise SwapOpsError(f"process {child} exists already")
        pt = self._pt(parent)
        if self._folios:
            self._split_mapped_by(parent)
        f_map = self.f_map
        f_wp = self.f_wp
        dup = self._swap_dup
        for pte in pt.values():
            if pte.__class__ is int:
                if pte >= 0:
                    f_map[pte].append(child)
                    f_wp[pte] = 1
                else:
                    dup(pte_entry(pte))
        self.pts[child] = dict(pt)
        if self.memcg is not None:
            self.memcg.fork(parent, child)
        self.counters["forks"] += 1

    def _pt(self, pid: int) -> dict[int, Any]:
        pt = self.pts.get(pid)
        if pt is None:
            raise ConfigError(f"event for process {pid}, which does not exist (spawn or fork it first)")
        return pt

    def exit(self, pid: int) -> None:
        pt = self._pt(pid)
        del self.pts[pid]
        unmap = self._unmap
        for pte in pt.values():
            if pte is not False:
                unmap(pid, pte)
        self.counters["exits"] += 1

    def munmap(self, pid: int, start: int, count: int) -> None:
        pt = self._pt(pid)
        unmap = self._unmap
        for vp in range(start, start + count):
            pte = pt.pop(vp, None)
            if pte is not None and pte is not False:
                unmap(pid, pte)
        self.counters["munmaps"] += 1

    def _unmap(self, pid: int, pte: int) -> None:
        if pte >= 0:
            if self._folios:  # unmapping part of a large folio splits it (deferred split)
                head = pte if pte in self._folios else self._head_of.get(pte)
                if head is not None:
                    self._split_folio(head)
            maps = self.f_map[pte]
            maps.remove(pid)
            if maps:
                return
            cached = self.f_swap[pte]
            if cached is None:
                self._free_frame(pte)
                return
            entry = pte_entry(cached)
            if self._swap_count(entry) == 0:  # free_swap_and_cache
                del self.cache[cached]
                self._sw_del(cached)
                self._cache_drop(entry)
                self._free_frame(pte)
            else:  # other PTEs still hold the entry: the page stays in the swap cache
                self.f_map[pte] = _NONE
            return
        entry = pte_entry(pte)
        if self._swap_free(entry) == 0:
            frame = self.cache.get(pte)
            if frame is None:
                self._sw_del(pte)
            elif not self.f_map[frame]:
                del self.cache[pte]
                self._sw_del(pte)
                self._cache_drop(entry)
                self._free_frame(frame)

    # ------------------------------------------------------------------ swapoff

    def unuse(self, system: SwapSystem, swap_type: int) -> int:
        """``try_to_unuse``: walk every PTE of every process; bring back area ``swap_type``.

        Returns the number of page-table entries visited. Memory is taken
        beyond RAM if needed (the kernel would need it too, or fail -ENOMEM).
        """
        visits = 0
        swapin = self._swapin
        for pid, pt in self.pts.items():
            for vp, pte in pt.items():
                visits += 1
                if pte.__class__ is int and pte < 0 and ~pte & _TYPE_MASK == swap_type:
                    swapin(pid, pt, vp, pte, False)
        # Then the swap cache: pages of this area become plain anonymous pages.
        for pte in [p for p in self.cache if ~p & _TYPE_MASK == swap_type]:
            frame = self.cache.pop(pte)
            entry = pte_entry(pte)
            self.f_swap[frame] = None
            self.f_ra[frame] = 0
            if self._swap_count(entry) == 0:
                self._sw_del(pte)
            self._cache_drop(entry)
            if not self.f_map[frame]:
                self._free_frame(frame)
            else:
                self.f_wp[frame] = 1 if len(self.f_map[frame]) > 1 else 0
        self.counters["swapoff_pte_visits"] += visits
        return visits

    # ------------------------------------------------------------------ reporting

    @property
    def nr_free(self) -> int:
        return self.ram_pages - self.nr_used

    def shadow_of(self, entry: SwapEntry) -> int | None:
        """The workingset shadow of a swapped-out entry (``nonresident_age`` at its eviction), if any."""
        pte = swap_pte(entry)
        if not self._sw_key(pte):
            return None
        shadow = self._sw_shadow(pte, 0)
        self._sw_shadow(pte, shadow)
        return shadow - 1 if shadow else None

    def nr_ptes(self) -> int:
        return sum(len(pt) for pt in self.pts.values())

    def stats(self) -> dict[str, int]:
        """Counters (vmstat-like names) and the current state."""
        out = dict(self.counters)
        out["pgfault"] = self.nr_faults
        out.update(
            ram_pages=self.ram_pages,
            ram_used=self.nr_used,
            processes=len(self.pts),
            ptes=self.nr_ptes(),
            swap_ptes=sum(1 for pt in self.pts.values() for p in pt.values() if p.__class__ is int and p < 0),
            swapcache_pages=len(self.cache),
            lru_active=self.nr_lru[2],
            lru_inactive=self.nr_lru[1],
            lru_inactive_file=self.nr_file,
            ram_held=self.nr_held,
        )
        return out

    def check(self) -> None:
        """Cross-check page tables, frames and the core's swap counts (tests)."""
        self._sync_held()
        refs: dict[SwapEntry, int] = {}
        mapped: dict[int, list[int]] = {}
        for pid, pt in self.pts.items():
            for vp, pte in pt.items():
                if pte.__class__ is int and pte < 0:
                    e = pte_entry(pte)
                    refs[e] = refs.get(e, 0) + 1
                elif pte.__class__ is int:
                    assert self.f_vp[pte] == vp, (pid, vp, pte)
                    mapped.setdefault(pte, []).append(pid)
        for frame, pids in mapped.items():
            assert sorted(self.f_map[frame]) == sorted(pids), (frame, self.f_map[frame], pids)
        swapped = set(self.swapped_entries())
        for entry, count in refs.items():
            assert self.system.swap_count(entry) == count, (entry, self.system.swap_count(entry), count)
            assert entry in swapped
        for pte, frame in self.cache.items():
            assert self.f_swap[frame] == pte
            assert pte_entry(pte) in swapped
        for entry in swapped:
            assert entry in refs or swap_pte(entry) in self.cache, entry
        assert swapped == set(self.system.live_entries()), "mm and core disagree on live entries"
        in_use = len(self.f_ck) - len(self.free)
        assert in_use == self.nr_used - self.nr_file - self.nr_held - self.nr_wb, (
            in_use, self.nr_used, self.nr_file, self.nr_held, self.nr_wb)

        assert sum(self.nr_lru) == in_use, (self.nr_lru, in_use)
        for head, frames in self._folios.items():
            assert frames[0] == head and self.f_lru[head], head
            assert len(frames) in (1 << o for o in range(1, PMD_ORDER + 1)), head
            for t in frames[1:]:
                assert self._head_of[t] == head and not self.f_lru[t], (head, t)
        assert len(self._head_of) == sum(len(f) - 1 for f in self._folios.values())
        if self.memcg is not None:
            self.memcg.check()


#: The mm model's counters (``MM.counters``). Names with a kernel twin are the
#: kernel's ``/proc/vmstat`` names with its meaning; the others are model names
#: that no kernel counter uses. ``docs/counters.md`` documents each one and the
#: kernel file that defines its twin.
COUNTERS = (
    "pgfault", "pgmajfault", "faults_anon", "swapin_cache_hits", "zero_page_maps", "swap_ra",
    "swap_ra_hit", "cow", "forks", "exits", "munmaps", "reclaim_runs", "pgscan_anon", "pgsteal_anon",
    "pgactivate", "pgdeactivate", "pgrefill", "pageouts", "clean_drops", "swapcache_dirtied",
    "swapout_failures", "pageout_errors", "swapin_errors", "overcommit_allocs", "overcommit_peak",
    "swapoff_pte_visits", "swap_cache_freed_full", "workingset_refault_anon", "workingset_activate_anon",
    "thp_swpout", "thp_swpout_fallback", "thp_split_page", "mthp_anon_fault_alloc", "mthp_swpout",
    "mthp_swpout_fallback", "mthp_split", "large_pageout_activated", "pgscan_file", "pgsteal_file",
    "writeback_folios", "writeback_folios_freed", "swap_cache_freed_swapin", "swapout_activated",
)


__all__ = ["MM", "DataMismatchError", "SWAP_CLUSTER_MAX", "COUNTERS", "swap_pte", "pte_entry", "is_swap_pte"]
