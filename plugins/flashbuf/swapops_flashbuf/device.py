"""The flashbuf device: a RAM write buffer and a log of erase-block-sized segments.

flashbuf turns the random, page-sized writes of swap into sequential writes of
whole erase blocks (YoungJun Park's "Flash Friendly Swap", ``kernel-swap.md``
§3.1; Nhat's delalloc recipe: allocate freely, buffer, then allocate a
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

import hashlib
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
from swapops.errors import ConfigError, DeviceIOError, OutOfSwapSpaceError, SwapOpsError
from swapops.folio import Folio
from swapops.options import Option
from swapops.sizes import PAGE_SIZE

NONE = -1
_FREE, _OPEN, _CLOSED = 0, 1, 2
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


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


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
        bases = self._claim(want)
        nseg = len(bases)
        total = nseg * S
        reserve = max(MIN_RESERVE_SEGMENTS * S, math.ceil(frac * total))
        size = total - reserve
        if opts["size"] is not None:
            size = min(size, opts["size"] // PAGE_SIZE)
        if nseg < MIN_RESERVE_SEGMENTS + 1 or size < 1:
            self._release(bases)
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
        self._heap = [self._heap_key(s) for s in range(nseg)]
        heapq.heapify(self._heap)
        self._nfree = nseg
        self._open = -1
        self._fill = 0
        buf = opts["buffer"]
        if buf is not None and not PAGE_SIZE <= buf <= size * PAGE_SIZE:
            self._release(bases)
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

    def _claim(self, want: int | None) -> list[int]:
        """Claim the lower slot space and cut it into segments; return their base slots."""
        S = self.S
        alloc = self.lower_alloc
        runs: list[tuple[int, int]] = []
        got = 0
        limit = None if want is None else want + 2 * CLUSTER_SIZE
        self._write_order = 0
        for order in (MAX_ORDER, 0):
            nr = 1 << order
            while limit is None or got < limit:
                start = alloc(order)
                if start < 0:
                    break
                runs.append((start, nr))
                got += nr
                if order:
                    self._write_order = MAX_ORDER
        runs.sort()
        bases: list[int] = []
        spare: list[tuple[int, int]] = []
        i = 0
        need = None if want is None else -(-want // S)
        while i < len(runs):
            start, nr = runs[i]
            end = start + nr
            i += 1
            while i < len(runs) and runs[i][0] == end:
                end += runs[i][1]
                i += 1
            pos = -(-start // S) * S
            if pos > start:
                spare.append((start, min(pos, end) - start))
            while pos + S <= end and (need is None or len(bases) < need):
                bases.append(pos)
                pos += S
            if pos < end:
                spare.append((pos, end - pos))
        for start, nr in spare:
            self._give_back(start, nr)
        return bases

    def _give_back(self, start: int, nr: int) -> None:
        pos = start
        end = start + nr
        while pos < end:  # one lower cluster at a time
            stop = min((pos // CLUSTER_SIZE + 1) * CLUSTER_SIZE, end)
            self.lower_free(pos, stop - pos)
            pos = stop

    def _release(self, bases: list[int] | array[int]) -> None:
        for base in bases:
            self._give_back(base, self.S)

    @swapops.hookimpl
    def swapops_deactivate(self) -> None:
        if not self._active:
            return
        if self._bdata:
            self._flush()
        self._active = False
        self._release(self._seg_base)
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
                self._flush()
            except OutOfSwapSpaceError:
                self.n_flush_errors += 1

    @swapops.hookimpl
    def swapops_tick(self, now_ns: int) -> None:
        """Flush a partial buffer whose oldest page is ``flush_interval`` old."""
        if self._bdata and self._interval and now_ns - self._since >= self._interval:
            try:
                self._flush()
            except (DeviceIOError, OutOfSwapSpaceError):
                self.n_flush_errors += 1

    # -- cluster ---------------------------------------------------------------

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        if len(self._bdata) + (1 << order) > self._bhard and not self._drain(1 << order):
            return -1  # a full buffer that cannot drain: no room, nothing allocated
        return self._aalloc(order)

    def _drain(self, nr: int) -> bool:
        """Try to flush so that ``nr`` more pages fit the full buffer; whether the
        slots may be allocated. Only a lack of room below refuses them; an I/O
        error lets the allocation go on, so that the write reports it."""
        try:
            self._flush()
        except OutOfSwapSpaceError:
            self.n_flush_errors += 1
            return len(self._bdata) + nr <= self._bhard
        except DeviceIOError:
            pass  # the write's own flush meets it again and raises it
        return True

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
            self._flush()
        loc = self._loc
        if nr == 1:
            old = loc[offset]
            if old != NONE:
                loc[offset] = NONE
                self._drop(offset, old)
            if self._dedup:
                self._put_dedup(offset, folio.data)
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
                    self._put_dedup(slot, page)
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
                self._flush()
            except (DeviceIOError, OutOfSwapSpaceError):
                self.n_flush_errors += 1  # the pages stay buffered; retried later

    def _put_dedup(self, slot: int, data: bytes) -> None:
        h = _digest(data)
        where = self._dmap.get(h)
        if where is not None:
            self._extra.setdefault(where, []).append(slot)
            self._loc[slot] = where
            self.n_dedup_hits += 1
            return
        bdata = self._bdata
        i = len(bdata)
        if not i:
            self._since = self._clock.now_ns
        bdata.append(data)
        self._bown.append(slot)
        enc = -2 - i
        self._loc[slot] = enc
        self._dmap[h] = enc
        self._lhash[enc] = h
        self.n_buffered += 1

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
                        self._rehome(first + k, data[k * PAGE_SIZE : (k + 1) * PAGE_SIZE])
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
                self._rehome(where, data)
            return data
        if where != NONE:
            self.n_reads_buffer += 1
            return self._bdata[-2 - where]
        raise DeviceIOError(f"flashbuf: read of slot {slot} that holds no data")

    def _rehome(self, ppn: int, data: bytes) -> None:
        """The lower load consumed page ``ppn`` (an exclusive zswap load): buffer it again."""
        bdata = self._bdata
        i = len(bdata)
        if not i:
            self._since = self._clock.now_ns
        owner = self._rev[ppn]
        bdata.append(data)
        self._bown.append(owner)
        enc = -2 - i
        self._loc[owner] = enc
        self._rev[ppn] = NONE
        self._seg_live[ppn // self.S] -= 1
        if self._extra or self._lhash:
            self._rekey(ppn, enc)
        self.n_rehomed += 1

    # -- location bookkeeping ----------------------------------------------------

    def _rekey(self, old: int, new: int) -> None:
        """Move the shared owners and the hash entry of location ``old`` to ``new``."""
        lst = self._extra.pop(old, None)
        if lst is not None:
            loc = self._loc
            for slot in lst:
                loc[slot] = new
            self._extra[new] = lst
        h = self._lhash.pop(old, None)
        if h is not None:
            self._lhash[new] = h
            self._dmap[h] = new

    def _drop(self, slot: int, where: int) -> None:
        """``slot`` no longer references location ``where``; the page dies with its last owner."""
        if self._extra:
            lst = self._extra.get(where)
            if lst is not None:
                if where >= 0:
                    if self._rev[where] == slot:
                        self._rev[where] = lst.pop()
                    else:
                        lst.remove(slot)
                else:
                    i = -2 - where
                    if self._bown[i] == slot:
                        self._bown[i] = lst.pop()
                    else:
                        lst.remove(slot)
                if not lst:
                    del self._extra[where]
                return
        if self._lhash:
            h = self._lhash.pop(where, None)
            if h is not None:
                del self._dmap[h]
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
                self._rekey(-2 - last, where)
        bdata.pop()
        bown.pop()
        self.n_dropped += 1

    # -- the log -----------------------------------------------------------------

    def _heap_key(self, seg: int) -> int:
        return (self._seg_writes[seg] << 32) | seg if self._wear_aware else seg

    def _open_segment(self) -> int:
        if not self._heap:
            raise SwapOpsError("flashbuf: no free segment (cleaning reserve invariant broken)")
        seg = heapq.heappop(self._heap) & 0xFFFFFFFF
        self._nfree -= 1
        self._seg_state[seg] = _OPEN
        w = self._seg_writes[seg] + 1
        self._seg_writes[seg] = w
        if w > self._wmax:
            self._wmax = w
        self._open = seg
        self._fill = 0
        return seg

    def _avail(self) -> int:
        """Pages that can be appended without cleaning."""
        S = self.S
        return self._nfree * S + (S - self._fill if self._open >= 0 else 0)

    def _flush(self) -> None:
        """Append every buffered page to the log (cleaning first if space is short)."""
        bdata = self._bdata
        n = len(bdata)
        if not n:
            return
        self._make_room(n)
        self._lw_done = 0
        try:
            self._log_write(bdata, None)
        finally:
            done = self._lw_done
            if done:
                bown = self._bown
                del bdata[:done]
                del bown[:done]
                if bdata:  # a partial failure: renumber what is left
                    loc = self._loc
                    aux = bool(self._extra or self._lhash)
                    for j, slot in enumerate(bown):
                        loc[slot] = -2 - j
                        if aux:
                            self._rekey(-2 - (j + done), -2 - j)
                self.n_flushes += 1

    def _make_room(self, n: int) -> None:
        S = self.S
        if self._wl and self._wmax > self._wl:
            self._wear_level()
        while self._avail() < n + S:
            victim = self._pick_victim()
            if victim < 0:
                break
            self._clean(victim)

    def _pick_victim(self) -> int:
        S = self.S
        live = self._live_np
        closed = self._state_np == _CLOSED
        if self._greedy:
            if self._wear_aware:  # among equally empty victims, free the least written
                w = self._wmax + 1
                writes = np.frombuffer(self._seg_writes, dtype=np.int64)
                cand = np.where(closed, live * w + writes, S * w)
                victim = int(cand.argmin())
                return victim if cand[victim] < S * w else -1
            cand = np.where(closed, live, S)
            victim = int(cand.argmin())
            return victim if cand[victim] < S else -1
        usable = closed & (live < S)
        if not usable.any():
            return -1
        empty = usable & (live == 0)
        if empty.any():
            return int(empty.argmax())
        u = live / S
        age = (self._wclock - self._mtime_np + 1).astype(np.float64)
        score = np.where(usable, (1.0 - u) * age / (1.0 + u), -1.0)
        return int(score.argmax())

    def _wear_level(self) -> None:
        """Static wear levelling: a closed segment written ``wear_threshold`` times
        less than the most-written one holds cold data; move it so the segment
        joins the free pool (where it is chosen first, being the least written)."""
        closed = self._state_np == _CLOSED
        if not closed.any():
            return
        writes = np.frombuffer(self._seg_writes, dtype=np.int64)
        cand = np.where(closed, writes, self._wmax)
        coldest = int(cand.argmin())
        # it must fit; afterwards at least one segment of room is left, as before
        if self._wmax - int(cand[coldest]) > self._wl and self._avail() >= self._seg_live[coldest]:
            before = self.n_cleaning_copies
            self._clean(coldest)
            self.n_wear_moves += self.n_cleaning_copies - before

    def _clean(self, victim: int) -> None:
        """Move the victim's live pages to the log head and free the segment."""
        S = self.S
        first = victim * S
        base = self._seg_base[victim]
        rev = self._rev
        read = self.lower_read
        datas: list[bytes] = []
        srcs: list[int] = []
        consumed: list[int] = []  # indexes of pages an exclusive lower load took
        self._lw_done = 0
        try:
            for ppn in range(first, first + S):
                if rev[ppn] >= 0:
                    f = Folio.empty(0)
                    read(base + ppn - first, f)
                    if f.dirty:
                        consumed.append(len(datas))
                    datas.append(f.data)
                    srcs.append(ppn)
                    self.n_reads_below += 1
            if datas:
                self._log_write(datas, srcs)
        except BaseException:
            # Pages read but not copied whose lower copy the load consumed
            # (an exclusive zswap load) would be lost: keep them in the buffer.
            done = self._lw_done
            for t in consumed:
                if t >= done:
                    self._rehome(srcs[t], datas[t])
            raise
        finally:
            self.n_cleaning_copies += self._lw_done
        if datas and self._discard:
            self._discard_runs(base - first, srcs)
        if self._seg_live[victim]:
            raise SwapOpsError(f"flashbuf: segment {victim} still holds live pages after cleaning")
        self._seg_state[victim] = _FREE
        heapq.heappush(self._heap, self._heap_key(victim))
        self._nfree += 1
        self.n_segments_cleaned += 1

    def _discard_runs(self, delta: int, ppns: list[int]) -> None:
        """Discard the lower slots ``ppn + delta`` of ``ppns`` (ascending), a run at a time."""
        start = prev = ppns[0]
        for p in ppns[1:]:
            if p != prev + 1:
                self.lower_discard(start + delta, prev - start + 1)
                start = p
            prev = p
        self.lower_discard(start + delta, prev - start + 1)
        self.n_discards += len(ppns)

    def _log_write(self, datas: list[bytes], srcs: list[int] | None) -> None:
        """Append ``datas`` to the open segment(s) and repoint their owners.

        ``srcs`` holds each page's current location (``None``: buffer index
        ``j``). Each lower write commits its pages before the next is tried;
        ``self._lw_done`` counts committed pages when an error propagates.
        """
        S = self.S
        n = len(datas)
        loc = self._loc
        rev = self._rev
        live = self._seg_live
        bown = self._bown
        aux = bool(self._extra or self._lhash)
        write = self.lower_write
        max_order = self._write_order
        i = 0
        while i < n:
            seg = self._open
            if seg < 0:
                seg = self._open_segment()
            fill = self._fill
            k = min(S - fill, n - i)
            lbase = self._seg_base[seg] + fill
            pbase = seg * S + fill
            j = i
            end = i + k
            while j < end:
                lslot = lbase + (j - i)
                left = end - j
                order = min(max_order, left.bit_length() - 1)
                if lslot:
                    order = min(order, (lslot & -lslot).bit_length() - 1)
                cnt = 1 << order
                f = Folio.empty(order)
                f.data = datas[j] if cnt == 1 else b"".join(datas[j : j + cnt])
                try:
                    write(lslot, f)
                except OutOfSwapSpaceError:
                    if cnt == 1:
                        raise
                    # the device below refuses the folio as a whole (a zswap
                    # with no device below and one incompressible page): go
                    # page by page, committing those before the refused one
                    max_order = 0
                    continue
                self.n_written_below += cnt
                for t in range(j, j + cnt):
                    ppn = pbase + (t - i)
                    if srcs is None:
                        old = -2 - t
                        owner = bown[t]
                    else:
                        old = srcs[t]
                        owner = rev[old]
                        rev[old] = NONE
                        live[old // S] -= 1
                    loc[owner] = ppn
                    rev[ppn] = owner
                    if aux:
                        self._rekey(old, ppn)
                live[seg] += cnt
                j += cnt
                self._fill += cnt
                self._wclock += cnt
                self._seg_mtime[seg] = self._wclock
                self._lw_done = j
            if self._fill == S:
                self._seg_state[seg] = _CLOSED
                self._open = -1
                self._fill = 0
                self.n_segments_flushed += 1
            i = end

    # -- inspection and manual cleaning -----------------------------------------

    def clean_segments(self, count: int = 1) -> int:
        """Clean up to ``count`` closed segments now (victims by the cleaning policy).

        Stops early when cleaning would not fit (less than one segment of free
        space left) or no closed segment holds a dead page. Returns how many
        segments were cleaned. Cleaning normally runs by itself, just before a
        flush would leave less than one free segment.
        """
        done = 0
        while done < count and self._avail() >= self.S:
            victim = self._pick_victim()
            if victim < 0:
                break
            self._clean(victim)
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
        nfree = sum(1 for st in self._seg_state if st == _FREE)
        nopen = sum(1 for st in self._seg_state if st == _OPEN)
        if nfree != self._nfree or nfree != len(self._heap):
            problems.append(f"free segments: {nfree} by state, {self._nfree} counted, {len(self._heap)} queued")
        if nopen != (self._open >= 0):
            problems.append(f"{nopen} open segments, open={self._open}")
        for seg, st in enumerate(self._seg_state):
            if st == _FREE and self._seg_live[seg]:
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
