"""The flashbuf device: a RAM write buffer and a log of erase-block-sized segments.

flashbuf turns the random, page-sized writes of swap into sequential writes of
whole erase blocks (YoungJun Park's "Flash Friendly Swap", ``docs/kernel.md``
§5; Nhat's delalloc recipe: allocate freely, buffer, then allocate a
*contiguous* run and flush it). It is a log-structured layer (as LFS/F2FS):

* **Own slot space.** The layer above allocates slots from flashbuf's own
  :class:`~swapops.cluster.ClusterAllocator`; a slot's content lives either in
  the RAM buffer or at a page of a segment below. ``loc[slot]`` says where
  (``-1`` nothing, ``<= -2`` buffer index ``-2 - loc``, ``>= 0`` a *physical
  page number* ``ppn = segment * S + index``).
* **Segments below.** At swapon flashbuf claims the lower device's slot space
  once: ``lower.ops.alloc(9)`` until it fails, then ``alloc(0)`` for what is
  left (a swap *file* refuses large orders, so there every claim is order 0).
  The claimed runs are merged into contiguous extents and cut into segments of
  ``S`` slots at multiples of ``S``; pieces that make no whole segment are given
  back at once. The lower device is then dedicated to flashbuf (as a partition
  is to a log-structured file system): its ``used`` shows the claimed
  segments, and flashbuf gives every run back at swapoff. flashbuf, not the
  lower allocator, chooses which segment to write next (wear-aware placement).
* **Flush.** Written pages gather in the buffer; when it holds ``buffer`` pages
  they are appended to the *open* segment as one sequential write (split only
  into naturally aligned power-of-two folios, as the lower device expects large
  folios to be aligned). A partial flush (timer, unplug, swapoff) appends a
  shorter run to the open segment; the next flush continues it, so each
  segment, and with a page-mapped FTL each erase block, is still filled
  sequentially, without padding.
* **Free.** Freeing a slot invalidates its page: a buffered page is dropped (it
  never reaches the device); a page in a segment becomes dead and, with
  ``discard`` on, ``lower.ops.discard(slot, 1)`` tells the FTL it may TRIM it.
* **Cleaning.** Just before a flush would leave less than one free segment,
  flashbuf cleans: it picks a closed victim (``greedy``: fewest live pages;
  ``cost-benefit``: largest ``(1 - u) * age / (1 + u)``, as Rosenblum and
  Ousterhout's LFS, age in pages written since the segment was last written),
  reads its live pages, appends them to the log (*cleaning copies*, host writes
  to the device like any other) and returns the victim to the free pool.
* **Capacity.** flashbuf offers ``segments * S - reserve`` slots; the reserve
  (option ``reserve``, at least three segments) is segment-level
  over-provisioning that guarantees cleaning always finds a victim and a full
  buffer can always be flushed, so ``used + free == size`` holds exactly.
* **Dedup** (optional): a page whose BLAKE2b-128 content hash matches a live
  page takes a reference to it instead of being written; freeing drops the
  reference and the page dies with the last one. Collisions are not checked
  (2**-64 birthday bound at 2**32 pages); no swap design compares contents.

The parts live in their own modules, each readable alone: the segment map
and the log (:mod:`.segments`), the RAM buffer (:mod:`.buffer`), cleaning
(:mod:`.cleaning`), wear-aware placement (:mod:`.wear`) and dedup
(:mod:`.dedup`). This module holds the device: options, activation, the
swap operations (the per-page path stays here, in place) and inspection.

Failure semantics: a flush that fails part-way keeps every page that was
written (its map entries point below) and leaves the rest in the buffer, the
open segment continuing where the last successful write ended. A write that
finds the buffer full flushes first and raises :class:`DeviceIOError` without
changing anything if that fails; a flush started by the size threshold after a
page was accepted only counts the error (``flush_errors``) and the pages stay
buffered, to be retried. Nothing is lost either way.

A device below may refuse a write for lack of room (:class:`OutOfSwapSpaceError`;
a zswap with no device below refuses an incompressible page). A refused large
folio is retried page by page; the refused page and those behind it stay
buffered. ``unplug`` and the timer count the refusal and do not raise; a full
buffer that cannot drain makes the slot allocation fail (``-1``) before anything
is allocated. Cleaning reads a victim's pages with possibly exclusive loads: on
a failed copy, the pages read but not copied go back to the buffer.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

import swapops
from swapops.cluster import ClusterAllocator
from swapops.constants import CLUSTER_SIZE, MAX_ORDER, UNBOUNDED_SIZE
from swapops.device import SwapContext, SwapDevice
from swapops.errors import ConfigError, DeviceIOError, OutOfSwapSpaceError
from swapops.folio import Folio
from swapops.options import Option
from swapops.sizes import PAGE_SIZE

from . import buffer, cleaning, dedup, segments, wear
from .segments import FREE, NONE, OPEN

MIN_RESERVE_SEGMENTS = 3
DEFAULT_SEGMENT = 256

# Modeled kernel metadata (see kernel_overhead): a segment summary entry
# (base, live count, mtime, write count, state), a reverse-map entry per
# physical page, a slot-map entry per used slot and a dedup hash entry.
SEGMENT_SUMMARY_BYTES = 32
REVERSE_MAP_BYTES = 4
SLOT_MAP_BYTES = 8
DEDUP_ENTRY_BYTES = 40  # 16 B digest + 8 B location + 4 B refcount + hash-list node
CLUSTER_INFO_BYTES = 48


def flash_block_pages(lower: SwapDevice | None) -> int | None:
    """Pages per erase block of the first NAND model found in ``lower``'s stack, if any."""
    dev = lower
    while dev is not None:
        flash = getattr(dev, "flash", None)
        geometry = getattr(flash, "geometry", None)
        ppb = getattr(geometry, "pages_per_block", None)
        if isinstance(ppb, int) and ppb > 0:
            return ppb
        dev = dev.lower
    return None


class FlashbufDevice(SwapDevice):
    """A flash-friendly write buffer: gathers pages, writes whole segments below."""

    NAME = "flashbuf"
    KIND = "buffer"
    LOWER_KINDS = frozenset({"physical", "cache"})
    NEEDS_LOWER = True
    SUMMARY = "flash-friendly RAM write buffer: sequential erase-block segments, cleaning, dedup"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "size": Option("size", None, "usable capacity (default: the lower device minus the reserve)"),
        "buffer": Option("size", None, "RAM buffer; a full buffer is flushed (default: one segment)"),
        "segment": Option("int", None, "segment size in pages (default: the flash erase block below, "
                          "else 256)", minimum=1, maximum=1 << 20),
        "reserve": Option("float", 0.05, "fraction of the segment space kept free for cleaning "
                          f"(at least {MIN_RESERVE_SEGMENTS} segments)", minimum=0.0, maximum=0.9),
        "flush_interval": Option("int", 1_000_000_000, "flush a partial buffer older than this "
                                 "(simulated ns; 0: never)", minimum=0),
        "cleaning": Option("choice", "greedy", "segment cleaning victim policy",
                           choices=("greedy", "cost-benefit")),
        "dedup": Option("bool", False, "deduplicate pages by content hash (reference counted)"),
        "wear_aware": Option("bool", True, "write the least-written free segment next "
                             "(otherwise the lowest-numbered) and migrate cold segments"),
        "wear_threshold": Option("int", 8, "wear_aware: when the most-written segment is this many "
                                 "writes ahead of a closed one, clean the latter (0: never)", minimum=0),
        "discard": Option("bool", True, "discard dead pages below so the FTL can TRIM them"),
    }

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        self.S = 0  # segment size in pages
        self.nr_segments = 0
        self.reserve_pages = 0
        self.allocator: ClusterAllocator | None = None
        self._loc = array("q")
        self._rev = array("q")
        self._seg_base = array("q")
        self._seg_live = array("q")
        self._seg_mtime = array("q")
        self._seg_writes = array("q")
        self._seg_state = bytearray()
        self._heap: list[int] = []
        self._nfree = 0
        self._open = -1
        self._fill = 0
        self._wclock = 0
        self._bdata: list[bytes] = []
        self._bown: list[int] = []
        self._bcap = 1
        self._bhard = 1 + (1 << MAX_ORDER)
        self._since = 0
        self._extra: dict[int, list[int]] = {}
        self._dmap: dict[bytes, int] = {}
        self._lhash: dict[int, bytes] = {}
        self._write_order = 0
        self._lw_done = 0
        self._active = False
        # counters
        self.n_buffered = 0
        self.n_flushes = 0
        self.n_segments_flushed = 0
        self.n_written_below = 0
        self.n_cleaning_copies = 0
        self.n_segments_cleaned = 0
        self.n_dedup_hits = 0
        self.n_reads_buffer = 0
        self.n_reads_below = 0
        self.n_discards = 0
        self.n_dropped = 0
        self.n_rehomed = 0
        self.n_flush_errors = 0
        self.n_wear_moves = 0

    # -- lifecycle -------------------------------------------------------------

    @swapops.hookimpl
    def swapops_activate(self, ctx: SwapContext) -> None:
        lower = self.lower
        if lower is None or lower.ops is None:
            raise ConfigError("flashbuf needs a lower device")
        opts = self.options
        self._clock = ctx.clock
        seg = opts["segment"] or flash_block_pages(lower) or DEFAULT_SEGMENT
        self.S = S = int(seg)
        frac = float(opts["reserve"])
        want = None
        if opts["size"] is not None:
            size_pages = opts["size"] // PAGE_SIZE
            if size_pages < 1:
                raise ConfigError("flashbuf: size must be at least one page")
            # segment pages P must satisfy P - max(3S, ceil(frac * P)) >= size
            want = max(size_pages + MIN_RESERVE_SEGMENTS * S, math.ceil(size_pages / (1.0 - frac)) + 1)
        elif lower.size >= UNBOUNDED_SIZE:
            raise ConfigError(f"flashbuf: {lower.NAME} below has no fixed size; give flashbuf a size=")
        bases = segments.claim(self, want)
        nseg = len(bases)
        total = nseg * S
        reserve = max(MIN_RESERVE_SEGMENTS * S, math.ceil(frac * total))
        size = total - reserve
        if opts["size"] is not None:
            size = min(size, opts["size"] // PAGE_SIZE)
        if nseg < MIN_RESERVE_SEGMENTS + 1 or size < 1:
            segments.release(self, bases)
            raise ConfigError(
                f"flashbuf: the lower device {lower.NAME} holds {nseg} whole segment(s) of {S} pages; "
                f"at least {MIN_RESERVE_SEGMENTS + 1} are needed (a smaller segment= or a larger device)"
            )
        self.nr_segments = nseg
        self.reserve_pages = total - size
        self._seg_base = array("q", bases)
        self._seg_live = array("q", bytes(8 * nseg))
        self._seg_mtime = array("q", bytes(8 * nseg))
        self._seg_writes = array("q", bytes(8 * nseg))
        self._seg_state = bytearray(nseg)
        self._live_np = np.frombuffer(self._seg_live, dtype=np.int64)
        self._mtime_np = np.frombuffer(self._seg_mtime, dtype=np.int64)
        self._state_np = np.frombuffer(self._seg_state, dtype=np.uint8)
        self._rev = array("q", [NONE]) * total
        self._loc = array("q", [NONE]) * size
        self._wear_aware = bool(opts["wear_aware"])
        self._wl = int(opts["wear_threshold"]) if self._wear_aware else 0
        self._wmax = 0
        self._heap = [wear.heap_key(self, s) for s in range(nseg)]
        heapq.heapify(self._heap)
        self._nfree = nseg
        self._open = -1
        self._fill = 0
        buf = opts["buffer"]
        if buf is not None and not PAGE_SIZE <= buf <= size * PAGE_SIZE:
            segments.release(self, bases)
            raise ConfigError(
                f"flashbuf: buffer={buf} must hold at least one page and at most the device's "
                f"{size} pages ({size * PAGE_SIZE} bytes)"
            )
        self._bcap = buf // PAGE_SIZE if buf is not None else S
        self._bhard = self._bcap + (1 << MAX_ORDER)
        self._interval = int(opts["flush_interval"])
        self._greedy = opts["cleaning"] == "greedy"
        self._dedup = bool(opts["dedup"])
        self._discard = bool(opts["discard"])
        self._rf = Folio.empty(0)
        self.allocator = ClusterAllocator(size, large_orders=True)
        self._afree = self.allocator.free
        self._aalloc = self.allocator.alloc
        self._active = True

    @swapops.hookimpl
    def swapops_deactivate(self) -> None:
        if not self._active:
            return
        if self._bdata:
            buffer.flush(self)
        self._active = False
        segments.release(self, self._seg_base)
        self._bdata.clear()
        self._bown.clear()
        self._extra.clear()
        self._dmap.clear()
        self._lhash.clear()

    @swapops.hookimpl
    def swapops_unplug(self) -> None:
        """Flush whatever is buffered (a partial segment write).

        A flush the device below refuses for lack of room (a zswap with no
        device below refuses an incompressible page) is counted in
        ``flush_errors`` and the unwritten pages stay buffered, to be retried;
        a :class:`DeviceIOError` is raised (the pages stay buffered too).
        """
        if self._bdata:
            try:
                buffer.flush(self)
            except OutOfSwapSpaceError:
                self.n_flush_errors += 1

    @swapops.hookimpl
    def swapops_tick(self, now_ns: int) -> None:
        """Flush a partial buffer whose oldest page is ``flush_interval`` old."""
        if self._bdata and self._interval and now_ns - self._since >= self._interval:
            try:
                buffer.flush(self)
            except (DeviceIOError, OutOfSwapSpaceError):
                self.n_flush_errors += 1

    # -- cluster ---------------------------------------------------------------

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        if len(self._bdata) + (1 << order) > self._bhard and not buffer.drain(self, 1 << order):
            return -1  # a full buffer that cannot drain: no room, nothing allocated
        return self._aalloc(order)

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        self._afree(offset, nr)  # validates first: a bad free changes nothing
        loc = self._loc
        for slot in range(offset, offset + nr):
            where = loc[slot]
            if where != NONE:
                loc[slot] = NONE
                self._drop(slot, where)

    # -- I/O -------------------------------------------------------------------

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        nr = 1 << folio.order
        bdata = self._bdata
        if len(bdata) + nr > self._bhard:
            # may raise DeviceIOError or OutOfSwapSpaceError: nothing of this
            # write happened (the pages flushed before the error stay written)
            buffer.flush(self)
        loc = self._loc
        if nr == 1:
            old = loc[offset]
            if old != NONE:
                loc[offset] = NONE
                self._drop(offset, old)
            if self._dedup:
                dedup.put(self, offset, folio.data)
            else:
                i = len(bdata)
                if not i:
                    self._since = self._clock.now_ns
                bdata.append(folio.data)
                self._bown.append(offset)
                loc[offset] = -2 - i
                self.n_buffered += 1
        else:
            data = folio.data
            for k in range(nr):
                slot = offset + k
                old = loc[slot]
                if old != NONE:
                    loc[slot] = NONE
                    self._drop(slot, old)
                page = data[k * PAGE_SIZE : (k + 1) * PAGE_SIZE]
                if self._dedup:
                    dedup.put(self, slot, page)
                else:
                    i = len(bdata)
                    if not i:
                        self._since = self._clock.now_ns
                    bdata.append(page)
                    self._bown.append(slot)
                    loc[slot] = -2 - i
                    self.n_buffered += 1
        if len(bdata) >= self._bcap:
            try:
                buffer.flush(self)
            except (DeviceIOError, OutOfSwapSpaceError):
                self.n_flush_errors += 1  # the pages stay buffered; retried later

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        if folio.order == 0:
            folio.data = self._read_page(offset)
            return
        nr = 1 << folio.order
        loc = self._loc
        first = loc[offset]
        S = self.S
        if first >= 0 and first // S == (first + nr - 1) // S:
            base = self._seg_base[first // S] + first % S
            if not base & (nr - 1) and all(loc[offset + k] == first + k for k in range(1, nr)):
                f = Folio.empty(folio.order)
                self.lower_read(base, f)
                self.n_reads_below += nr
                if f.dirty:  # the lower load consumed its copy: keep the pages here
                    data = f.data
                    for k in range(nr):
                        buffer.rehome(self, first + k, data[k * PAGE_SIZE : (k + 1) * PAGE_SIZE])
                folio.data = f.data
                return
        folio.data = b"".join([self._read_page(offset + k) for k in range(nr)])

    def _read_page(self, slot: int) -> bytes:
        where = self._loc[slot]
        if where >= 0:
            S = self.S
            seg = where // S
            f = self._rf
            f.dirty = False
            self.lower_read(self._seg_base[seg] + where - seg * S, f)
            self.n_reads_below += 1
            data = f.data
            if f.dirty:
                buffer.rehome(self, where, data)
            return data
        if where != NONE:
            self.n_reads_buffer += 1
            return self._bdata[-2 - where]
        raise DeviceIOError(f"flashbuf: read of slot {slot} that holds no data")

    # -- location bookkeeping ----------------------------------------------------

    def _drop(self, slot: int, where: int) -> None:
        """``slot`` no longer references location ``where``; the page dies with its last owner."""
        if (self._extra or self._lhash) and dedup.release(self, slot, where):
            return  # another slot still shares the page
        if where >= 0:
            S = self.S
            seg = where // S
            self._seg_live[seg] -= 1
            self._rev[where] = NONE
            if self._discard:
                self.lower_discard(self._seg_base[seg] + where - seg * S, 1)
                self.n_discards += 1
            return
        # a buffered page: move the last buffered page into its place
        bdata = self._bdata
        bown = self._bown
        i = -2 - where
        last = len(bdata) - 1
        if i != last:
            bdata[i] = bdata[last]
            moved = bown[last]
            bown[i] = moved
            self._loc[moved] = where
            if self._extra or self._lhash:
                dedup.rekey(self, -2 - last, where)
        bdata.pop()
        bown.pop()
        self.n_dropped += 1

    # -- inspection and manual cleaning -----------------------------------------

    def clean_segments(self, count: int = 1) -> int:
        """Clean up to ``count`` closed segments now (victims by the cleaning policy).

        Stops early when cleaning would not fit (less than one segment of free
        space left) or no closed segment holds a dead page. Returns how many
        segments were cleaned. Cleaning normally runs by itself, just before a
        flush would leave less than one free segment.
        """
        done = 0
        while done < count and segments.avail(self) >= self.S:
            victim = cleaning.pick_victim(self)
            if victim < 0:
                break
            cleaning.clean(self, victim)
            done += 1
        return done

    def segment_live(self) -> list[int]:
        """Live pages of each segment."""
        return list(self._seg_live)

    def segment_state(self, seg: int) -> str:
        """``'free'``, ``'open'`` or ``'closed'``."""
        return ("free", "open", "closed")[self._seg_state[seg]]

    def location(self, slot: int) -> tuple[str, int]:
        """Where ``slot``'s content is: ``('none', -1)``, ``('buffer', index)`` or
        ``('lower', lower_slot)``."""
        where = self._loc[slot]
        if where == NONE:
            return ("none", -1)
        if where < 0:
            return ("buffer", -2 - where)
        seg = where // self.S
        return ("lower", self._seg_base[seg] + where - seg * self.S)

    def check_invariants(self) -> None:
        """Recompute every map and count from scratch and compare (O(size); for tests).

        :raises AssertionError: naming the first inconsistencies found.
        """
        problems: list[str] = []
        S = self.S
        loc, rev = self._loc, self._rev
        bown = self._bown
        owners: dict[int, list[int]] = {}
        for slot, where in enumerate(loc):
            if where != NONE:
                owners.setdefault(where, []).append(slot)
                if self.allocator is not None and not self.allocator.is_allocated(slot):
                    problems.append(f"free slot {slot} maps to {where}")
        if len(self._bdata) != len(bown):
            problems.append("buffer data and owner lists differ in length")
        live = [0] * self.nr_segments
        for where, slots in owners.items():
            if where >= 0:
                prim = rev[where]
                live[where // S] += 1
            else:
                i = -2 - where
                prim = bown[i] if i < len(bown) else NONE
            extra = self._extra.get(where, [])
            if sorted(slots) != sorted([prim, *extra]):
                problems.append(f"location {where}: slots {slots} vs owners {prim} + {extra}")
        for ppn, owner in enumerate(rev):
            if owner != NONE and loc[owner] != ppn:
                problems.append(f"reverse map: page {ppn} names slot {owner}, which maps to {loc[owner]}")
        for i, owner in enumerate(bown):
            if loc[owner] != -2 - i:
                problems.append(f"buffer entry {i} names slot {owner}, which maps to {loc[owner]}")
        if live != list(self._seg_live):
            bad = [s for s in range(self.nr_segments) if live[s] != self._seg_live[s]]
            problems.append(f"live counts wrong for segments {bad[:5]}")
        nfree = sum(1 for st in self._seg_state if st == FREE)
        nopen = sum(1 for st in self._seg_state if st == OPEN)
        if nfree != self._nfree or nfree != len(self._heap):
            problems.append(f"free segments: {nfree} by state, {self._nfree} counted, {len(self._heap)} queued")
        if nopen != (self._open >= 0):
            problems.append(f"{nopen} open segments, open={self._open}")
        for seg, st in enumerate(self._seg_state):
            if st == FREE and self._seg_live[seg]:
                problems.append(f"free segment {seg} holds {self._seg_live[seg]} live pages")
        if self._open >= 0:
            o = self._open
            if any(rev[p] != NONE for p in range(o * S + self._fill, (o + 1) * S)):
                problems.append("a page past the open segment's fill is live")
        for h, where in self._dmap.items():
            if self._lhash.get(where) != h or where not in owners:
                problems.append(f"dedup entry for location {where} is stale")
        if len(self._lhash) != len(self._dmap):
            problems.append("dedup maps differ in size")
        if self.allocator is not None:
            if self.used + self.free != self.size:
                problems.append("used + free != size")
            self.allocator.check_invariants()
        if problems:
            raise AssertionError("flashbuf invariants broken: " + "; ".join(problems[:10]))

    # -- handle API ------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.allocator.size if self.allocator is not None else 0

    @property
    def used(self) -> int:
        return self.allocator.used if self.allocator is not None else 0

    def segment_writes(self) -> list[int]:
        """How many times each segment was opened for writing (host-side wear proxy)."""
        return list(self._seg_writes)

    def live_pages(self) -> int:
        """Distinct live pages: in segments plus in the buffer."""
        return int(sum(self._seg_live)) + len(self._bdata)

    def stats(self) -> dict[str, int | float]:
        writes = self._seg_writes
        nseg = self.nr_segments
        buffered = self.n_buffered
        return {
            "size": self.size,
            "used": self.used,
            "pages_buffered": buffered,
            "buffer_pages": len(self._bdata),
            "buffer_capacity": self._bcap,
            "flushes": self.n_flushes,
            "segments_flushed": self.n_segments_flushed,
            "pages_written_below": self.n_written_below,
            "cleaning_copies": self.n_cleaning_copies,
            "segments_cleaned": self.n_segments_cleaned,
            "dedup_hits": self.n_dedup_hits,
            "dedup_shared_refs": sum(len(v) for v in self._extra.values()),
            "reads_from_buffer": self.n_reads_buffer,
            "reads_below": self.n_reads_below,
            "discards_below": self.n_discards,
            "dropped_in_buffer": self.n_dropped,
            "rehomed": self.n_rehomed,
            "flush_errors": self.n_flush_errors,
            "wear_level_copies": self.n_wear_moves,
            "segment_pages": self.S,
            "segments": nseg,
            "segments_free": self._nfree,
            "reserve_pages": self.reserve_pages,
            "live_pages": self.live_pages(),
            "write_amplification": self.n_written_below / buffered if buffered else 0.0,
            "segment_writes_min": min(writes) if nseg else 0,
            "segment_writes_max": max(writes) if nseg else 0,
        }

    def kernel_overhead(self) -> dict[str, float]:
        """Modeled metadata: segment summaries, reverse map, RAM buffer, cluster
        info (static); one slot-map entry per used slot; a hash entry per
        deduplicated page."""
        clusters = -(-self.size // CLUSTER_SIZE)
        static = (
            self.nr_segments * SEGMENT_SUMMARY_BYTES
            + self.nr_segments * self.S * REVERSE_MAP_BYTES
            + self._bcap * PAGE_SIZE
            + clusters * CLUSTER_INFO_BYTES
        )
        per_entry = SLOT_MAP_BYTES + (DEDUP_ENTRY_BYTES if self._dedup else 0)
        total = static + SLOT_MAP_BYTES * self.used + DEDUP_ENTRY_BYTES * len(self._dmap)
        return {"static_bytes": float(static), "bytes_per_entry": float(per_entry), "total_bytes": float(total)}


__all__ = ["FlashbufDevice", "flash_block_pages"]
