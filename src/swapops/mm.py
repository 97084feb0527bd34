"""The mm model: the user of swap.

A machine with ``ram_pages`` page frames and processes whose page tables map
virtual pages to frames or to swap entries, as Linux's anonymous memory does:

* **page tables**: one dict per process, ``vpage -> pte``. A PTE is a frame
  number (int), a swap entry (the ``(type, offset)`` tuple the core handed
  out) or ``False`` (mapped to the shared zero page: read but never written,
  so it takes no frame).
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
* **faults**: a swap PTE is faulted in from the swap cache (minor) or read
  with ``swap_in(entry, cache=True)`` (major) with **cluster readahead** of the
  aligned block of up to ``2**page_cluster`` slots, its window sized as the
  kernel's ``swapin_nr_pages`` does from readahead hits. The page stays in the
  swap cache, clean, so a later reclaim costs no write; a store to it drops
  the swap copy (or copies the page if another PTE still shares it: COW).
* **swap full** (``vm_swap_full()``: more than half of the swap slots in
  use, ``nr_swap_pages * 2 < total_swap_pages``, summed over each active
  stack's bottom device, the space that holds pages): the swap copy of a page is given up so its slot can be
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

Simplifications (documented, deliberate): order-0 pages only (no THP); one
LRU for the whole machine (no memcg, no NUMA); when reclaim cannot free
memory (swap full) the model *overcommits* (allocates a frame beyond RAM and
counts it, ``overcommit_*``) instead of killing a process.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from .device import SWAPIN_FREE_CACHE, SWAPIN_NO_READAHEAD
from .errors import (
    ConfigError,
    DeviceIOError,
    OutOfSwapSpaceError,
    SwapOpsError,
    WriteActivateError,
)
from .folio import Folio
from .sizes import PAGE_SIZE
from .system import SwapEntry, SwapSystem
from .workloads import EXIT, FORK, MUNMAP, OP_MASK, OP_SHIFT, SPAWN, whole_number

SWAP_CLUSTER_MAX = 32
_FMASK = (1 << 32) - 1
_NONE: tuple[int, ...] = ()  # no process maps the frame (read-ahead or orphaned swap cache)
_BACKOFF = 256  # faults without reclaim after a page-out failed for lack of swap space


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
    ) -> None:
        if ram_pages < 4 * SWAP_CLUSTER_MAX:
            raise ConfigError(
                f"RAM of {ram_pages} pages ({ram_pages * PAGE_SIZE // 1024}K) is too small"
                f" (at least {4 * SWAP_CLUSTER_MAX} pages, {4 * SWAP_CLUSTER_MAX * PAGE_SIZE // 1024}K)"
            )
        page_cluster = whole_number("page_cluster", page_cluster)
        if not 0 <= page_cluster <= 10:
            raise ConfigError(f"page_cluster {page_cluster} out of range (0..10)")
        self.system = system
        self.content = content
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
        self.f_swap: list[SwapEntry | None] = []  # entry while in the swap cache
        self.f_ref = bytearray()  # PTE young bit, set by every access
        self.f_pgref = bytearray()  # PG_referenced: young at the last inactive scan
        self.f_wp = bytearray()  # write-protected: shared, cached or COW
        self.f_ra = bytearray()  # read ahead, not yet used
        self.f_lru = bytearray()  # 0 none, 1 inactive, 2 active
        self.f_tag: list[int] = []
        self.free: list[int] = []
        self.nr_used = 0
        self.inactive: deque[int] = deque()
        self.active: deque[int] = deque()
        self.nr_lru = [0, 0, 0]
        self._tagseq = 0
        # processes and swap
        self.pts: dict[int, dict[int, Any]] = {}
        self.cache: dict[SwapEntry, int] = {}  # swap-cache frames: entry -> frame
        self.swapped: dict[SwapEntry, int] = {}  # live entries -> content key
        self.next_page = 1
        # readahead state (swapin_nr_pages)
        self._ra_prev = 0
        self._ra_win = 0
        self._ra_hits = 0
        self._backoff_until = 0
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.nr_faults = 0
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

    # ------------------------------------------------------------------ replay

    def replay(self, ops: list[int], a: list[int], b: list[int]) -> None:
        """Apply one chunk of events (see :mod:`swapops.workloads`)."""
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
                    if pte.__class__ is int:
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

    def _new_frame(self, pid: int, vp: int, ck: int) -> int:
        frame = self._alloc()
        self.f_ck[frame] = ck
        self.f_map[frame] = [pid]
        self.f_vp[frame] = vp
        self.f_ref[frame] = 1
        self._lru_add(frame, 1)
        return frame

    # ------------------------------------------------------------------ faults

    def _fault(self, pid: int, vp: int, write: int) -> None:
        self.nr_faults += 1
        if self.ram_pages - self.nr_used <= self.wmark_low and self.nr_faults >= self._backoff_until:
            self._reclaim()
        pt = self.pts[pid]
        pte = pt.get(vp)  # reclaim may have changed it
        c = self.counters
        if pte is None or pte is False:
            if not write:
                pt[vp] = False  # the shared zero page
                c["zero_page_maps"] += 1
                return
            frame = self._new_frame(pid, vp, (self.next_page << 32) | 1)
            self.next_page += 1
            pt[vp] = frame
            c["faults_anon"] += 1
            return
        if pte.__class__ is tuple:
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

    def _swapin(self, pid: int, pt: dict[int, Any], vp: int, entry: SwapEntry, readahead: bool) -> int:
        c = self.counters
        frame = self.cache.get(entry)
        if frame is not None:
            c["faults_minor"] += 1
            if self.f_ra[frame]:
                self.f_ra[frame] = 0
                c["ra_hits"] += 1
                self._ra_hits += 1
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
            elif self._swap_full():
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
        c["faults_major"] += 1
        ck = self.swapped[entry]
        if self.verify and folio.data != self.content(ck):
            raise DataMismatchError(f"swap entry {entry}: data read back differs from what was swapped out")
        self.f_ck[frame] = ck
        self.f_map[frame] = [pid]
        self.f_vp[frame] = vp
        self.f_swap[frame] = entry
        self.f_wp[frame] = 1
        self.f_ref[frame] = 1
        self._lru_add(frame, 1)
        self.cache[entry] = frame
        pt[vp] = frame
        flags = self._swapin_flags(entry)
        self._swap_free(entry)
        if readahead and self.page_cluster and not flags & SWAPIN_NO_READAHEAD:
            self._readahead(entry)
        if flags & SWAPIN_FREE_CACHE:
            self._free_swap(frame, "swap_cache_freed_swapin")
        elif self._swap_full():
            self._free_swap(frame)
        return frame

    def _ra_window(self, offset: int) -> int:
        """``swapin_nr_pages``: the readahead window from recent hits."""
        hits = self._ra_hits
        self._ra_hits = 0
        max_pages = 1 << self.page_cluster
        pages = hits + 2
        if pages == 2:
            if offset != self._ra_prev + 1 and offset != self._ra_prev - 1:
                pages = 1
        else:
            roundup = 4
            while roundup < pages:
                roundup <<= 1
            pages = roundup
        pages = min(pages, max_pages)
        pages = max(pages, self._ra_win // 2)
        if not hits:
            self._ra_prev = offset
        self._ra_win = pages
        return pages

    def _readahead(self, entry: SwapEntry) -> None:
        """Cluster readahead: the aligned block around ``entry`` (``swap_cluster_readahead``)."""
        swap_type, offset = entry
        mask = self._ra_window(offset) - 1
        if not mask:
            return
        c = self.counters
        cache = self.cache
        swapped = self.swapped
        for off in range(max(offset & ~mask, 1), (offset | mask) + 1):
            if off == offset:
                continue
            other = (swap_type, off)
            if other in cache:
                continue
            ck = swapped.get(other)
            if ck is None:
                continue
            if self.ram_pages - self.nr_used <= self.wmark_min:
                break
            frame = self._alloc()
            try:
                folio = self._swap_in(other, cache=True)
            except DeviceIOError:
                self.nr_used -= 1
                self.free.append(frame)
                continue
            if self.verify and folio.data != self.content(ck):
                raise DataMismatchError(f"swap entry {other}: data read ahead differs from what was swapped out")
            self.f_ck[frame] = ck
            self.f_map[frame] = _NONE
            self.f_swap[frame] = other
            self.f_wp[frame] = 1
            self.f_ra[frame] = 1
            self.f_ref[frame] = 0
            self._lru_add(frame, 1)
            cache[other] = frame
            c["ra_pages"] += 1

    def _swap_full(self) -> bool:
        """``vm_swap_full()``: more than half of the swap space is in use.

        Counted on each stack's bottom device, the space that really holds
        pages (``size``/``used``): under vswap the top is an unbounded
        virtual space that is never half full, and mainline's check is about
        the swap device. The same rule for every design keeps the columns of
        a comparison comparable (a modeling choice: the vswap series' own
        accounting of ``total_swap_pages`` is not modeled). A bottom with no
        fixed size (vswap alone) never counts as full.
        """
        total = used = 0
        for dev in self.system.devices:
            # down to the bottom, or to a physical device with its own backing
            # device below (zram>swapfile: the area is zram's)
            while dev.lower is not None and dev.KIND != "physical":
                dev = dev.lower
            if dev.KIND == "virtual":
                continue
            total += dev.size
            used += dev.used
        return (total - used) * 2 < total

    def _free_swap(self, frame: int, counter: str = "swap_cache_freed_full") -> bool:
        """``folio_free_swap``: drop the swap copy of a mapped swap-cache page
        whose entry no PTE references any more; the page becomes dirty (its
        next reclaim writes it to a new slot). False if it must keep it."""
        entry = self.f_swap[frame]
        maps = self.f_map[frame]
        if entry is None or not maps or self._swap_count(entry) > 0:
            return False
        self._cache_drop(entry)
        del self.cache[entry]
        del self.swapped[entry]
        self.f_swap[frame] = None
        self.f_ra[frame] = 0
        if len(maps) == 1:
            self.f_wp[frame] = 0  # exclusive now: do_swap_page maps it writable
        self.counters[counter] += 1
        return True

    def _wp_fault(self, frame: int, pid: int, pt: dict[int, Any], vp: int) -> None:
        """A store to a write-protected page: copy it (COW) or make it exclusive and dirty."""
        maps = self.f_map[frame]
        entry = self.f_swap[frame]
        if len(maps) > 1 or (entry is not None and self._swap_count(entry) > 0):
            maps.remove(pid)
            copy = self._new_frame(pid, vp, (self.next_page << 32) | 1)
            self.next_page += 1
            pt[vp] = copy
            self.counters["cow"] += 1  # the old frame keeps its other mappers or its swap entry
            return
        if entry is not None:
            # Dirtied: the swap copy is stale. Our PTE reference is gone already,
            # so dropping the swap cache releases the entry.
            del self.cache[entry]
            self.f_swap[frame] = None
            del self.swapped[entry]
            self._cache_drop(entry)
            self.counters["swapcache_dirtied"] += 1
        self.f_ck[frame] += 1  # a new version of the page
        self.f_wp[frame] = 0

    # ------------------------------------------------------------------ reclaim

    def _reclaim(self) -> None:
        """kswapd: shrink the LRU in batches until free memory reaches the high watermark."""
        c = self.counters
        c["reclaim_runs"] += 1
        budget = 2 * self.nr_used + 2 * SWAP_CLUSTER_MAX
        refused = c["swapout_activated"]
        while self.ram_pages - self.nr_used < self.wmark_high and budget > 0:
            freed, scanned = self._shrink()
            budget -= scanned or 1
            if self._backoff_until > self.nr_faults:
                break
            if not scanned and not freed:
                break
        if c["swapout_activated"] > refused and self.ram_pages - self.nr_used < self.wmark_high:
            # Pages were refused one by one (WriteActivateError) and reclaim fell
            # short: back off as for a full swap, or every fault would rescan the LRU.
            self._backoff_until = self.nr_faults + _BACKOFF

    def _deactivate(self, nr: int) -> None:
        """``shrink_active_list``: move ``nr`` pages from the active tail to the
        inactive head, clearing their young bits (anonymous pages are not kept)."""
        active = self.active
        inactive = self.inactive
        f_tag = self.f_tag
        f_ref = self.f_ref
        f_lru = self.f_lru
        seq = self._tagseq
        moved = 0
        while moved < nr and active:
            tag = active.pop()
            frame = tag & _FMASK
            if f_tag[frame] != tag:
                continue
            f_ref[frame] = 0
            seq += 1
            tag = (seq << 32) | frame
            f_tag[frame] = tag
            f_lru[frame] = 1
            inactive.appendleft(tag)
            moved += 1
        self._tagseq = seq
        self.nr_lru[2] -= moved
        self.nr_lru[1] += moved
        self.counters["pgdeactivate"] += moved

    def _shrink(self) -> tuple[int, int]:
        """``shrink_inactive_list``: one batch of ``SWAP_CLUSTER_MAX`` pages from
        the inactive tail, each judged as ``folio_check_references`` does: a
        young page is kept for another trip the first time (PG_referenced set)
        and activated the second; an old one is paged out."""
        nr_lru = self.nr_lru
        if nr_lru[1] < nr_lru[2]:
            self._deactivate(SWAP_CLUSTER_MAX)
        inactive = self.inactive
        active = self.active
        f_tag = self.f_tag
        f_ref = self.f_ref
        f_pgref = self.f_pgref
        f_lru = self.f_lru
        f_swap = self.f_swap
        pageout = self._pageout
        freed = scanned = activated = 0
        while scanned < SWAP_CLUSTER_MAX and inactive:
            tag = inactive.pop()
            frame = tag & _FMASK
            if f_tag[frame] != tag:
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
                    if f_swap[frame] is not None and self._swap_full():  # activate_locked
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
            if f_swap[frame] is not None and self._swap_full():
                self._free_swap(frame)
            if self._backoff_until > self.nr_faults:
                break
        c = self.counters
        c["pgscan"] += scanned
        c["pgsteal"] += freed
        c["pgactivate"] += activated
        return freed, scanned

    def _pageout(self, frame: int) -> bool:
        """Unmap ``frame`` from every PTE and free it; False if it must stay."""
        maps = self.f_map[frame]
        vp = self.f_vp[frame]
        pts = self.pts
        entry = self.f_swap[frame]
        c = self.counters
        if entry is not None:
            # Clean and still in the swap cache: no write, just drop it.
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
                del self.swapped[entry]
            del self.cache[entry]
            for pid in maps:
                pts[pid][vp] = entry
            c["clean_drops"] += 1
        else:
            folio = Folio._empty(0)
            ck = self.f_ck[frame]
            folio.data = self.content(ck)
            try:
                entry = self._swap_out(folio)
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
            self.swapped[entry] = ck
            first = True
            for pid in maps:
                pts[pid][vp] = entry
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
        f_map = self.f_map
        f_wp = self.f_wp
        dup = self._swap_dup
        for pte in pt.values():
            if pte.__class__ is int:
                f_map[pte].append(child)
                f_wp[pte] = 1
            elif pte.__class__ is tuple:
                dup(pte)
        self.pts[child] = dict(pt)
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

    def _unmap(self, pid: int, pte: Any) -> None:
        if pte.__class__ is int:
            maps = self.f_map[pte]
            maps.remove(pid)
            if maps:
                return
            entry = self.f_swap[pte]
            if entry is None:
                self._free_frame(pte)
            elif self._swap_count(entry) == 0:  # free_swap_and_cache
                del self.cache[entry]
                del self.swapped[entry]
                self._cache_drop(entry)
                self._free_frame(pte)
            else:  # other PTEs still hold the entry: the page stays in the swap cache
                self.f_map[pte] = _NONE
            return
        if self._swap_free(pte) == 0:
            frame = self.cache.get(pte)
            if frame is None:
                del self.swapped[pte]
            elif not self.f_map[frame]:
                del self.cache[pte]
                del self.swapped[pte]
                self._cache_drop(pte)
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
                if pte.__class__ is tuple and pte[0] == swap_type:
                    swapin(pid, pt, vp, pte, False)
        # Then the swap cache: pages of this area become plain anonymous pages.
        for entry in [e for e in self.cache if e[0] == swap_type]:
            frame = self.cache.pop(entry)
            self.f_swap[frame] = None
            self.f_ra[frame] = 0
            if self._swap_count(entry) == 0:
                del self.swapped[entry]
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

    def nr_ptes(self) -> int:
        return sum(len(pt) for pt in self.pts.values())

    def stats(self) -> dict[str, int]:
        """Counters (vmstat-like names) and the current state."""
        out = dict(self.counters)
        out.update(
            ram_pages=self.ram_pages,
            ram_used=self.nr_used,
            processes=len(self.pts),
            ptes=self.nr_ptes(),
            swap_ptes=sum(1 for pt in self.pts.values() for p in pt.values() if p.__class__ is tuple),
            swapcache_pages=len(self.cache),
            lru_active=self.nr_lru[2],
            lru_inactive=self.nr_lru[1],
        )
        return out

    def check(self) -> None:
        """Cross-check page tables, frames and the core's swap counts (tests)."""
        refs: dict[SwapEntry, int] = {}
        mapped: dict[int, list[int]] = {}
        for pid, pt in self.pts.items():
            for vp, pte in pt.items():
                if pte.__class__ is tuple:
                    refs[pte] = refs.get(pte, 0) + 1
                elif pte.__class__ is int:
                    assert self.f_vp[pte] == vp, (pid, vp, pte)
                    mapped.setdefault(pte, []).append(pid)
        for frame, pids in mapped.items():
            assert sorted(self.f_map[frame]) == sorted(pids), (frame, self.f_map[frame], pids)
        for entry, count in refs.items():
            assert self.system.swap_count(entry) == count, (entry, self.system.swap_count(entry), count)
            assert entry in self.swapped
        for entry, frame in self.cache.items():
            assert self.f_swap[frame] == entry
            assert entry in self.swapped
        for entry in self.swapped:
            assert entry in refs or entry in self.cache, entry
        assert set(self.swapped) == set(self.system.live_entries()), "mm and core disagree on live entries"
        in_use = len(self.f_ck) - len(self.free)
        assert in_use == self.nr_used, (in_use, self.nr_used)
        assert sum(self.nr_lru) == self.nr_used, (self.nr_lru, self.nr_used)


COUNTERS = (
    "faults_anon", "faults_major", "faults_minor", "zero_page_maps", "ra_pages", "ra_hits",
    "cow", "forks", "exits", "munmaps", "reclaim_runs", "pgscan", "pgsteal", "pgactivate",
    "pgdeactivate", "pageouts", "clean_drops", "swapcache_dirtied", "swapout_failures",
    "pageout_errors", "swapin_errors", "overcommit_allocs", "overcommit_peak", "swapoff_pte_visits",
    "swap_cache_freed_full", "swap_cache_freed_swapin", "swapout_activated",
)


__all__ = ["MM", "DataMismatchError", "SWAP_CLUSTER_MAX", "COUNTERS"]
