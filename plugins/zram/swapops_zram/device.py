"""The zram device: a compressed RAM block device used as a swap area
(``drivers/block/zram/zram_drv.c``, Linux 6.12; ``docs/zram.md``).

What it models, function by function (``docs/kernel.md`` §7):

* **the swap area on zram** (``mkswap /dev/zram0; swapon``): slots handed out
  by the kernel's cluster allocator (:mod:`swapops.cluster`), large orders
  allowed (a block device), slot 0 the swap header, which mkswap writes into
  zram like any page (so a fresh device already stores one object);
* **disksize** (``disksize_store``): the pages of the device; the per-page
  ``struct zram_table_entry`` table is allocated for all of them at once
  (``zram_meta_alloc``), modeled as static kernel metadata;
* **writes** (``zram_write_page``): a page of one repeated ``unsigned long``
  is stored as that value only (``page_same_filled``, ``ZRAM_SAME``, counted in
  ``same_pages``); otherwise it is compressed with ``comp_algorithm`` (a real
  compressor, :mod:`swapops.compress`) and the object placed in a zsmalloc pool
  (:class:`swapops.zsmalloc.ZsPool`); a result of at least
  ``huge_class_size`` is stored whole (``ZRAM_HUGE``, ``huge_pages``,
  ``huge_pages_since``); when the pool then exceeds ``mem_limit`` the new
  object is freed and the write fails (``-ENOMEM``, ``failed_writes``): the
  page stays in memory (:class:`~swapops.errors.OutOfSwapSpaceError`). The old
  contents of the slot are freed only after the new ones are in place;
* **reads** (``zram_read_page``): same-filled pages are filled, objects
  decompressed (huge ones copied), written-back pages read from the backing
  device (``bd_reads``); a read is not exclusive: zram keeps the page until the
  slot is freed;
* **frees** (``zram_slot_free_notify``): the swap layer's slot free frees the
  page (``notify_free``); a discard does the same (``zram_bio_discard``);
* **idle marking and writeback** (``idle_store``/``mark_idle``,
  ``writeback_store``, ``CONFIG_ZRAM_WRITEBACK``): :meth:`ZramDevice.mark_idle`
  and :meth:`ZramDevice.writeback` with the sysfs modes ``idle``, ``huge``,
  ``huge_idle``, ``incompressible`` and ``page_index=N``; a page written back
  goes to a block of the backing device (``backing_dev``: the stack below,
  ``zram>swapfile``) and leaves the pool (``ZRAM_WB``; ``bd_count``,
  ``bd_writes``); ``writeback_limit`` caps the pages written. The
  ``writeback`` option runs both as a userspace daemon does (zram.rst: mark
  idle, later write back the pages still idle) every ``writeback_interval`` of
  simulated time;
* **recompression** (``recompress_store``, ``CONFIG_ZRAM_MULTI_COMP``) with
  ``recomp_algorithm``: :meth:`ZramDevice.recompress`; a page no secondary
  algorithm can shrink to a smaller size class is flagged
  ``ZRAM_INCOMPRESSIBLE``, which the ``incompressible`` writeback mode selects;
* ``compact`` (``zs_compact``) and the ``mm_stat``/``io_stat``/``bd_stat``
  counters, named as sysfs prints them (:meth:`ZramDevice.stats`).

``SYNCHRONOUS_IO``: zram sets ``BLK_FEAT_SYNCHRONOUS``, so swapon marks the area
``SWP_SYNCHRONOUS_IO``; the mm model then skips readahead and frees the slot on
swap-in (``docs/hooks.md``, SYNCHRONOUS_IO).

Not modeled: partial (sub-page) I/O, multiple compression streams, the
``writestall`` slow path (allocation never fails here but by ``mem_limit``),
``ZRAM_UNDER_WB`` races (one caller at a time), more than one secondary
algorithm.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import swapops
from swapops import overhead
from swapops.cluster import ClusterAllocator
from swapops.compress import (
    AVAILABLE_COMPRESSORS,
    COMPRESSOR_COST_NS,
    DEFAULT_COMPRESSOR,
    get_compressor,
)
from swapops.constants import CLUSTER_SIZE, PAGE_SIZE
from swapops.device import SwapContext, SwapDevice
from swapops.errors import ConfigError, DeviceIOError, OutOfSwapSpaceError, SwapOpsError
from swapops.folio import Folio
from swapops.header import pack_header
from swapops.options import Option
from swapops.zsmalloc import (
    DEFAULT_CHAIN_SIZE,
    MAX_CHAIN_SIZE,
    MIN_CHAIN_SIZE,
    ZS_HANDLE_SIZE,
    ZsPool,
    huge_class_size,
)

#: The sysfs ``writeback`` modes (``writeback_store``), and ``off`` for the daemon.
WRITEBACK_MODES = ("idle", "huge", "huge_idle", "incompressible")
_IDLE, _HUGE, _INCOMPRESSIBLE = 1, 2, 4  # IDLE_WRITEBACK, HUGE_WRITEBACK, INCOMPRESSIBLE_WRITEBACK
_MODE_BITS = {"idle": _IDLE, "huge": _HUGE, "huge_idle": _IDLE | _HUGE, "incompressible": _INCOMPRESSIBLE}
#: The sysfs ``recompress`` types (``recompress_store``).
RECOMPRESS_TYPES = ("idle", "huge", "huge_idle")
_WORD = 8  # sizeof(unsigned long): page_same_filled compares words
_SAME_REPEAT = PAGE_SIZE // _WORD


class ZramDevice(SwapDevice):
    """zram as a swap area: compressed pages in a zsmalloc pool, optional backing device."""

    NAME = "zram"
    KIND = "physical"
    LOWER_KINDS = frozenset({"physical"})  # backing_dev: a block device
    LOWER_HOLDS = "any"  # the backing device must store pages (not a ghost area)
    NEEDS_LOWER = False
    SYNCHRONOUS_IO = True  # BLK_FEAT_SYNCHRONOUS -> SWP_SYNCHRONOUS_IO
    SUMMARY = ("compressed RAM block device (zram): zsmalloc pool, same-filled and huge pages, "
               "mem_limit, idle/huge writeback to a backing device")
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "disksize": Option("size", None, "device size in bytes (default: size=, else the backing "
                           "device's size)", maximum=float(1 << 48)),
        "size": Option("size", None, "the same as disksize (what swapon's size= sets when zram is "
                       "the bottom layer)", maximum=float(1 << 48)),
        "comp_algorithm": Option("choice", DEFAULT_COMPRESSOR,
                                 "compression algorithm (the kernel default lzo-rle has no binding; "
                                 "lzo needs swapops[lzo])", choices=AVAILABLE_COMPRESSORS),
        "recomp_algorithm": Option("choice", "none", "secondary algorithm for recompress()",
                                   choices=("none", *AVAILABLE_COMPRESSORS)),
        "mem_limit": Option("size", 0, "pool memory limit in bytes; a write beyond it fails (0: none)"),
        "writeback": Option("choice", "off", "what the modeled daemon writes back every "
                            "writeback_interval (needs a backing device)", choices=("off", *WRITEBACK_MODES)),
        "writeback_interval": Option("int", 1_000_000_000, "simulated ns between daemon runs "
                                     "(each: writeback, then mark idle)", minimum=1),
        "idle_age": Option("int", 0, "the daemon marks idle pages not accessed for this many seconds "
                           "(needs track_actime); 0: every page ('all')", minimum=0),
        "writeback_limit": Option("int", None, "pages writeback may write in all "
                                  "(writeback_limit_enable); default unlimited", minimum=0),
        "track_actime": Option("bool", False, "CONFIG_ZRAM_TRACK_ENTRY_ACTIME: a last-access time per "
                               "page (8 B more per page)"),
        "chain_size": Option("int", DEFAULT_CHAIN_SIZE, "zsmalloc CONFIG_ZSMALLOC_CHAIN_SIZE",
                             minimum=MIN_CHAIN_SIZE, maximum=MAX_CHAIN_SIZE),
    }

    # The per-page path's attributes, as slots (see ZswapDevice).
    __slots__ = (
        "_obj", "_data", "_same", "_wb", "_idle", "_huge", "_pool", "_malloc", "_zfree",
        "_compress", "_decompress", "_huge_size", "_limit", "_alloc", "_free", "_actime", "_ac",
        "_clock", "notify_free", "compr_data_size", "max_used_pages", "huge_pages_since",
        "failed_writes", "failed_reads", "reads", "writes", "_ncomp", "_ndecomp",
    )

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        opts = self.options
        if opts["disksize"] is not None and opts["size"] is not None and opts["disksize"] != opts["size"]:
            raise ConfigError(f"zram: disksize={opts['disksize']} and size={opts['size']} disagree; give one")
        if opts["idle_age"] and not opts["track_actime"]:
            raise ConfigError("zram: idle_age needs track_actime=true (idle_store takes an age only with "
                              "CONFIG_ZRAM_TRACK_ENTRY_ACTIME)")
        if opts["writeback"] != "off" and lower is None:
            raise ConfigError(f"zram: writeback={opts['writeback']} needs a backing device "
                              "(a device below, e.g. zram>swapfile)")
        if opts["recomp_algorithm"] == opts["comp_algorithm"]:
            raise ConfigError(f"zram: recomp_algorithm={opts['recomp_algorithm']} is the primary algorithm")
        self.comp_algorithm: str = opts["comp_algorithm"]
        self.recomp_algorithm: str | None = None if opts["recomp_algorithm"] == "none" else opts["recomp_algorithm"]
        self.disksize = 0
        self.nr_pages = 0
        self.allocator: ClusterAllocator | None = None
        self._init_state()

    def _init_state(self) -> None:
        self._obj: dict[int, int] = {}  # slot -> zsmalloc handle (compressed or huge object)
        self._data: list[bytes] = [b""]  # by handle: the stored bytes (PAGE_SIZE long when huge)
        self._same: dict[int, bytes] = {}  # ZRAM_SAME slot -> the repeated word
        self._wb: dict[int, int] = {}  # ZRAM_WB slot -> block on the backing device
        self._idle: set[int] = set()  # ZRAM_IDLE
        self._huge: set[int] = set()  # ZRAM_HUGE
        self._incompressible: set[int] = set()  # ZRAM_INCOMPRESSIBLE
        self._recompressed: set[int] = set()  # comp priority 1 (recomp_algorithm)
        self._ac: dict[int, int] = {}  # ac_time (track_actime), simulated ns
        self._pool = ZsPool(self.options["chain_size"], PAGE_SIZE)
        self._malloc = self._pool.malloc
        self._zfree = self._pool.free
        self._huge_size = huge_class_size(self.options["chain_size"], PAGE_SIZE)
        self._limit = -(-self.options["mem_limit"] // PAGE_SIZE)  # PAGE_ALIGN(limit) >> PAGE_SHIFT
        self._wb_left: int | None = self.options["writeback_limit"]
        # mm_stat / io_stat / bd_stat counters (the rest are derived from the state)
        self.compr_data_size = 0
        self.max_used_pages = 0
        self.huge_pages_since = 0
        self.failed_writes = 0
        self.failed_reads = 0
        self.notify_free = 0
        self.bd_reads = 0
        self.bd_writes = 0
        # block-layer counters (/sys/block/zram0/stat), in pages
        self.reads = 0
        self.writes = 0
        # model counters
        self._ncomp = 0  # primary compressor calls
        self._ndecomp = 0  # decompressions (reads, writeback, recompress)
        self._nrecomp = 0  # secondary compressor calls
        self._recomp_done = 0
        self.writeback_runs = 0
        self.writeback_errors = 0
        self.daemon_runs = 0
        self._last_daemon = 0

    # ------------------------------------------------------------------ lifecycle

    @swapops.hookimpl
    def swapops_activate(self, ctx: SwapContext) -> None:
        opts = self.options
        disksize = opts["disksize"] if opts["disksize"] is not None else opts["size"]
        if disksize is None:
            if self.lower is None:
                raise ConfigError("zram: disksize is required (e.g. zram:disksize=1G) without a backing device")
            disksize = self.lower.size * PAGE_SIZE  # as large as the backing device
        self.disksize = -(-disksize // PAGE_SIZE) * PAGE_SIZE  # PAGE_ALIGN
        self.nr_pages = self.disksize // PAGE_SIZE
        if self.nr_pages < 10:
            raise ConfigError(f"zram: disksize {disksize} is {self.nr_pages} pages; a swap area needs at "
                              "least 10 pages (40 KiB)")
        codec = get_compressor(self.comp_algorithm)  # ConfigError names the lzo extra
        self._compress: Callable[[bytes], bytes] = codec.compress
        self._decompress: Callable[[bytes, int], bytes] = codec.decompress
        self._recodec = get_compressor(self.recomp_algorithm) if self.recomp_algorithm else None
        self._clock = ctx.clock
        self._actime = bool(opts["track_actime"])
        self._interval = opts["writeback_interval"]
        self._last_daemon = ctx.clock.now_ns
        # The swap area on the device (mkswap + swapon): slot 0 is the header,
        # SWP_SOLIDSTATE per-CPU clusters, large orders (a block device).
        self.allocator = ClusterAllocator(self.nr_pages, bad_slots=[0], rotational=False)
        self._alloc = self.allocator.alloc
        self._free = self.allocator.free
        # mkswap wrote the header page through the block device: zram stores it.
        header = pack_header(page_size=PAGE_SIZE, last_page=self.nr_pages - 1,
                             uuid=_uuid(ctx), label="")
        self._store(0, header)

    def fast_ops(self) -> Mapping[str, Callable[..., Any]]:
        return {"swapops_cluster_alloc": self._alloc}

    # ------------------------------------------------------------------ cluster

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        return self._alloc(order)

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        """``swap_range_free`` -> ``zram_slot_free_notify`` for every slot, then the slots."""
        self.notify_free += nr
        if nr == 1:
            self._free_page(offset)
        else:
            for index in range(offset, offset + nr):
                self._free_page(index)
        self._free(offset, nr)

    # ------------------------------------------------------------------ write

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        if folio.order:
            self._write_large(offset, folio)
        else:
            self._store(offset, folio.data)
        self.writes += 1 << folio.order

    def _same_word(self, page: bytes) -> bytes | None:
        """``page_same_filled``: the repeated word, or None."""
        word = page[:_WORD]
        if word != page[-_WORD:] or word * _SAME_REPEAT != page:
            return None
        return word

    def _compress_page(self, page: bytes) -> tuple[int, bytes]:
        """Compress ``page``: (stored length, stored bytes); huge pages are stored whole."""
        try:
            c = self._compress(page)
        except Exception:
            raise DeviceIOError("zram: compression failed") from None  # zcomp_compress error: -EINVAL
        self._ncomp += 1
        n = len(c)
        if n >= self._huge_size:  # comp_len >= huge_class_size: comp_len = PAGE_SIZE
            return PAGE_SIZE, page
        return n, c

    def _new_object(self, n: int, payload: bytes) -> int:
        """``zs_malloc`` and the ``mem_limit`` check; the handle, the object stored."""
        h = self._malloc(n)
        pages = self._pool.pages
        if pages > self.max_used_pages:
            self.max_used_pages = pages  # update_used_max
        if self._limit and pages > self._limit:
            self._zfree(h)
            raise OutOfSwapSpaceError(
                f"zram: the pool would use {pages} pages, above mem_limit ({self._limit} pages): "
                "the write fails (-ENOMEM) and the page stays in memory"
            )
        data = self._data
        if h < len(data):
            data[h] = payload
        else:
            data.extend([b""] * (h + 1 - len(data)))
            data[h] = payload
        return h

    def _store(self, index: int, page: bytes) -> None:
        """``zram_write_page`` for one page, then ``zram_accessed``."""
        word = self._same_word(page)
        if word is not None:
            self._free_page(index)
            self._same[index] = word
        else:
            n, payload = self._compress_page(page)
            try:
                h = self._new_object(n, payload)
            except OutOfSwapSpaceError:
                self.failed_writes += 1
                raise
            self._free_page(index)  # the old contents go only now
            self._obj[index] = h
            self.compr_data_size += n
            if n == PAGE_SIZE:
                self._huge.add(index)
                self.huge_pages_since += 1
        self._accessed(index)

    def _write_large(self, offset: int, folio: Folio) -> None:
        """A large folio: every page as ``zram_bio_write`` does it, all or nothing
        (a failed page undoes the pages before it; their old contents stay)."""
        data = folio.data
        nr = 1 << folio.order
        prepared: list[tuple[int, bytes, int]] = []  # (slot, word or b"", handle)
        try:
            for k in range(nr):
                page = data[k * PAGE_SIZE : (k + 1) * PAGE_SIZE]
                word = self._same_word(page)
                if word is not None:
                    prepared.append((offset + k, word, 0))
                    continue
                n, payload = self._compress_page(page)
                prepared.append((offset + k, b"", self._new_object(n, payload)))
        except BaseException as exc:
            if isinstance(exc, OutOfSwapSpaceError):
                self.failed_writes += 1
            for _index, _word, h in prepared:
                if h:
                    self._data[h] = b""
                    self._zfree(h)
            raise
        for index, word, h in prepared:
            self._free_page(index)
            if h:
                n = len(self._data[h])
                self._obj[index] = h
                self.compr_data_size += n
                if n == PAGE_SIZE:
                    self._huge.add(index)
                    self.huge_pages_since += 1
            else:
                self._same[index] = word
            self._accessed(index)

    def _accessed(self, index: int) -> None:
        """``zram_accessed``: the page is not idle any more; its access time is now."""
        self._idle.discard(index)
        if self._actime:
            self._ac[index] = self._clock.now_ns

    # ------------------------------------------------------------------ free

    def _free_page(self, index: int) -> None:
        """``zram_free_page``: release whatever slot ``index`` holds."""
        h = self._obj.pop(index, 0)
        if h:
            data = self._data
            self.compr_data_size -= len(data[h])
            data[h] = b""
            self._zfree(h)
            if self._huge and index in self._huge:
                self._huge.discard(index)
        elif self._same and self._same.pop(index, None) is not None:
            pass
        elif self._wb and index in self._wb:
            block = self._wb.pop(index)
            self.lower_free(block, 1)  # free_block_bdev
        self._idle.discard(index)
        if self._incompressible:
            self._incompressible.discard(index)
        if self._recompressed:
            self._recompressed.discard(index)
        if self._actime:
            self._ac.pop(index, None)

    # ------------------------------------------------------------------ read

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        if folio.order:
            nr = 1 << folio.order
            folio.data = b"".join(self._load(offset + k) for k in range(nr))
        else:
            folio.data = self._load(offset)
        self.reads += 1 << folio.order

    def _load(self, index: int) -> bytes:
        """``zram_read_page`` for one page, then ``zram_accessed``."""
        h = self._obj.get(index, 0)
        if h:
            page = self._from_pool(index, h)
        elif index in self._same:
            page = self._same[index] * _SAME_REPEAT
        elif index in self._wb:
            self.bd_reads += 1
            bounce = Folio.empty(0)
            try:
                self.lower_read(self._wb[index], bounce)
            except DeviceIOError:
                self.failed_reads += 1
                raise
            page = bounce.data
        else:
            page = bytes(PAGE_SIZE)  # never written: zram_fill_page with handle 0
        self._accessed(index)
        return page

    def _from_pool(self, index: int, h: int) -> bytes:
        """``zram_read_from_zspool``: a huge object is the page, others are decompressed."""
        c = self._data[h]
        if len(c) == PAGE_SIZE:
            return c
        self._ndecomp += 1
        try:
            if index in self._recompressed:
                assert self._recodec is not None
                page = self._recodec.decompress(c, PAGE_SIZE)
            else:
                page = self._decompress(c, PAGE_SIZE)
        except Exception:
            self.failed_reads += 1
            raise DeviceIOError(f"zram: decompression of page {index} failed") from None
        return page

    @swapops.hookimpl
    def swapops_discard(self, offset: int, nr: int) -> None:
        """``zram_bio_discard``: the pages' contents are not needed; free them."""
        for index in range(offset, offset + nr):
            self._free_page(index)
            self.notify_free += 1

    # ------------------------------------------------------------------ post-processing

    @swapops.hookimpl
    def swapops_tick(self, now_ns: int) -> None:
        """The modeled daemon: every ``writeback_interval``, write back (``writeback``
        mode), then mark idle what is old enough (``idle_age``, or all)."""
        mode = self.options["writeback"]
        if mode == "off" or now_ns - self._last_daemon < self._interval:
            return
        self._last_daemon = now_ns
        self.daemon_runs += 1
        self.writeback(mode)
        age = self.options["idle_age"]
        self.mark_idle(age * 1_000_000_000 if age else None)

    def mark_idle(self, age_ns: int | None = None) -> int:
        """``echo all > idle`` (``age_ns`` None) or ``echo <seconds> > idle``: flag as
        idle every stored page (not same-filled, not written back) not accessed for
        ``age_ns``; with an age, newer pages lose the flag. Returns the pages idle."""
        if age_ns is not None and not self._actime:
            raise ConfigError("zram: marking idle by age needs track_actime=true")
        cutoff = None if age_ns is None else self._clock.now_ns - age_ns
        idle = self._idle
        for index in self._obj:  # not same-filled, not written back: mark_idle skips those
            if not index:
                continue  # the swap header page: see _post_processed
            if cutoff is None or self._ac.get(index, 0) <= cutoff:
                idle.add(index)
            else:
                idle.discard(index)
        return len(idle)

    def writeback(self, mode: str = "idle", *, index: int | None = None) -> dict[str, int]:
        """``echo <mode> > writeback`` (or ``page_index=N`` with ``index``): move
        pages from the pool to the backing device, in slot order.

        Each page needs a free block (``alloc_block_bdev``: stop at ``-ENOSPC``)
        and counts against ``writeback_limit`` (stop at ``-EIO``). A failed block
        write keeps the page in the pool and goes on (the last error is what the
        kernel returns). Returns ``written``, ``write_errors``, ``stopped``
        (0, or why: 28 ENOSPC, 5 EIO).
        """
        if self.lower is None:
            raise ConfigError("zram: no backing device (writeback_store returns -ENODEV)")
        if index is not None:
            if not 0 <= index < self.nr_pages:
                raise ConfigError(f"zram: page_index={index} is outside the device (0..{self.nr_pages - 1})")
            bits = 0
            candidates = [index] if index in self._obj and index else []
        else:
            if mode not in _MODE_BITS:
                raise ConfigError(f"zram: writeback mode {mode!r}: expected one of {', '.join(WRITEBACK_MODES)}")
            bits = _MODE_BITS[mode]
            candidates = sorted(self._post_processed())
        self.writeback_runs += 1
        written = errors = stopped = 0
        block = -1
        for i in candidates:
            # writeback_store's loop: the limit, then a block (allocated before the
            # page is looked at, kept for the next page if this one does not qualify)
            if self._wb_left is not None and self._wb_left <= 0:
                stopped = 5  # writeback limit reached: -EIO
                break
            if block < 0:
                block = self.lower_alloc(0)
                if block < 0:
                    stopped = 28  # no free block on the backing device: -ENOSPC
                    break
            if bits & _IDLE and i not in self._idle:
                continue
            if bits & _HUGE and i not in self._huge:
                continue
            if bits & _INCOMPRESSIBLE and i not in self._incompressible:
                continue
            page = self._from_pool(i, self._obj[i])
            try:
                self.lower_write(block, Folio(page))
            except SwapOpsError:
                errors += 1  # the page stays in zram, not idle any more
                self._idle.discard(i)
                continue
            self.bd_writes += 1
            self._free_page(i)
            self._wb[i] = block
            block = -1
            written += 1
            if self._wb_left is not None:
                self._wb_left -= 1
        if block >= 0:
            self.lower_free(block, 1)
        self.writeback_errors += errors
        return {"written": written, "write_errors": errors, "stopped": stopped}

    def recompress(self, kind: str | None = None, *, threshold: int = 0,
                   max_pages: int | None = None) -> dict[str, int]:
        """``echo "type=<kind> threshold=<n> max_pages=<m>" > recompress``.

        Every stored page (idle, huge or both with ``kind``; none written back,
        same-filled or flagged incompressible, none recompressed already) whose
        object is at least ``threshold`` bytes is decompressed and compressed
        again with ``recomp_algorithm``; it is replaced when the result falls in
        a smaller size class, and flagged ``ZRAM_INCOMPRESSIBLE`` when it does
        not. Returns ``recompressed`` and ``incompressible``.
        """
        codec = self._recodec
        if codec is None:
            raise ConfigError("zram: recompress needs a recomp_algorithm")
        if kind is not None and kind not in RECOMPRESS_TYPES:
            raise ConfigError(f"zram: recompress type {kind!r}: expected one of {', '.join(RECOMPRESS_TYPES)}")
        if threshold >= self._huge_size:
            raise ConfigError(f"zram: threshold {threshold} is not below huge_class_size ({self._huge_size})")
        idle_only = kind in ("idle", "huge_idle")
        huge_only = kind in ("huge", "huge_idle")
        left = max_pages
        done = flagged = 0
        pool = self._pool
        for i in sorted(self._post_processed()):
            if left is not None and left <= 0:
                break
            if (idle_only and i not in self._idle) or (huge_only and i not in self._huge):
                continue
            if i in self._incompressible or i in self._recompressed:
                continue  # flagged, or recompressed with the (only) secondary already
            h = self._obj[i]
            n_old = len(self._data[h])
            if n_old < threshold:
                continue  # "small enough"
            page = self._from_pool(i, h)
            self._idle.discard(i)  # touched: not idle for the next post-processing
            new = codec.compress(page)
            self._nrecomp += 1
            if left is not None:
                left -= 1
            n_new = len(new)
            if n_new >= PAGE_SIZE or _class_index(pool, n_new) >= _class_index(pool, n_old):
                self._incompressible.add(i)  # no secondary algorithm saves memory
                flagged += 1
                continue
            if threshold and n_new >= threshold:
                continue  # smaller, but not below the threshold
            h_new = self._malloc(n_new)  # no mem_limit check and no retry, as zram_recompress
            data = self._data
            if h_new >= len(data):
                data.extend([b""] * (h_new + 1 - len(data)))
            data[h_new] = new
            self._free_page(i)
            self._obj[i] = h_new
            self.compr_data_size += n_new
            self._recompressed.add(i)
            done += 1
        self._recomp_done += done
        return {"recompressed": done, "incompressible": flagged}

    def _post_processed(self) -> list[int]:
        """The pages idle marking, writeback and recompression look at: every
        stored page but the swap header's (slot 0). The kernel would move the
        header page too; the model keeps it in zram, so what the backing
        device holds depends on the live entries only."""
        return [i for i in self._obj if i]

    def compact(self) -> int:
        """``echo 1 > compact`` (``zs_compact``): the pages freed."""
        return self._pool.compact()

    def reset_mem_used_max(self) -> None:
        """``echo 0 > mem_used_max``: the maximum restarts from the pool's size now."""
        self.max_used_pages = self._pool.pages

    # ------------------------------------------------------------------ handle API

    @property
    def size(self) -> int:
        return self.allocator.size if self.allocator is not None else 0

    @property
    def used(self) -> int:
        return self.allocator.used if self.allocator is not None else 0

    @property
    def charged_slots(self) -> int:
        """Slots charged to ``memory.swap.current`` (zram's are ordinary swap slots):
        all of ``used``. zram's pool memory itself is not charged to the cgroup."""
        return self.used

    @property
    def pool(self) -> ZsPool:
        return self._pool

    @property
    def pages_stored(self) -> int:
        """``pages_stored``: pages held (in the pool, same-filled, or written back)."""
        return len(self._obj) + len(self._same) + len(self._wb)

    @property
    def filename(self) -> str:
        return "/dev/zram0"

    @property
    def swap_type(self) -> str:
        return "partition"

    def page_state(self, index: int) -> str:
        """What slot ``index`` holds: ``"huge"``, ``"compressed"``, ``"same"``,
        ``"wb"`` or ``"none"`` (for tests and inspection)."""
        if index in self._obj:
            return "huge" if index in self._huge else "compressed"
        if index in self._same:
            return "same"
        if index in self._wb:
            return "wb"
        return "none"

    def check_invariants(self) -> None:
        if self.allocator is not None:
            self.allocator.check_invariants()
        self._pool.check()
        assert sum(len(self._data[h]) for h in self._obj.values()) == self.compr_data_size, "compr_data_size"
        assert self._huge <= set(self._obj), "huge pages outside the pool"
        assert not set(self._obj) & set(self._same), "a page both stored and same-filled"
        assert not set(self._obj) & set(self._wb), "a page both stored and written back"
        assert len(set(self._wb.values())) == len(self._wb), "two pages on one backing block"

    def modeled_time_ns(self) -> int:
        """Modeled compressor time: calls times :data:`swapops.compress.COMPRESSOR_COST_NS`."""
        comp, decomp = COMPRESSOR_COST_NS[self.comp_algorithm]
        total = self._ncomp * comp + self._ndecomp * decomp
        if self.recomp_algorithm is not None:
            total += self._nrecomp * COMPRESSOR_COST_NS[self.recomp_algorithm][0]
        return total

    def ram_held(self) -> int:
        """The zsmalloc pool's pages (``mm_stat``'s ``mem_used_total``): zram
        allocates them from the page allocator as it stores, so they are RAM
        the workload no longer has, as zswap's pool is."""
        return self._pool.pages

    def io_pages(self) -> tuple[int, int]:
        """The swap reads and writes zram serves (``pswpin``/``pswpout`` count
        them: zram is a block device), less its own backing-device traffic.

        ``zram_bvec_read``/``writeback_store`` reach the backing device with
        their own bios, which no vmstat swap counter sees; the device below
        counts those pages among its ``reads``/``writes``, so they are taken
        out here and the stack's sum is what the kernel counts.
        """
        return (self.reads - self.bd_reads, self.writes - self.bd_writes)

    def stats(self) -> dict[str, int | float]:
        pool_pages = self._pool.pages
        out: dict[str, int | float] = {
            "size": self.size,
            "used": self.used,
            # /sys/block/zram0/mm_stat
            "orig_data_size": self.pages_stored * PAGE_SIZE,
            "compr_data_size": self.compr_data_size,
            "mem_used_total": pool_pages * PAGE_SIZE,
            "mem_limit": self._limit * PAGE_SIZE,
            "mem_used_max": self.max_used_pages * PAGE_SIZE,
            "same_pages": len(self._same),
            "pages_compacted": self._pool.pages_compacted,
            "huge_pages": len(self._huge),
            "huge_pages_since": self.huge_pages_since,
            # /sys/block/zram0/io_stat
            "failed_reads": self.failed_reads,
            "failed_writes": self.failed_writes,
            "invalid_io": 0,
            "notify_free": self.notify_free,
            # /sys/block/zram0/bd_stat (4 KiB units)
            "bd_count": len(self._wb),
            "bd_reads": self.bd_reads,
            "bd_writes": self.bd_writes,
            # /sys/block/zram0/stat (pages) and the model
            "reads": self.reads,
            "writes": self.writes,
            "disksize": self.disksize,
            "pool_pages": pool_pages,
            "stored_pages": len(self._obj),
            "stored_bytes": self.compr_data_size,
            "idle_pages": len(self._idle),
            "incompressible_pages": len(self._incompressible),
            "recompressed_pages": self._recomp_done,
            "charged_slots": self.charged_slots,
            "writeback_runs": self.writeback_runs,
            "writeback_errors": self.writeback_errors,
            "daemon_runs": self.daemon_runs,
            "compress_calls": self._ncomp,
            "decompress_calls": self._ndecomp,
            "modeled_time_ns": self.modeled_time_ns(),
        }
        return out

    def kernel_overhead(self) -> dict[str, float]:
        """Modeled kernel metadata: the swap area on the device
        (:func:`swapops.overhead.physical_model`, as a swapfile) plus zram's own
        (:func:`swapops.overhead.zram_model`: the per-page table for all of
        disksize, the backing device's bitmap, a handle per pool object)."""
        if self.allocator is None:
            return super().kernel_overhead()
        area = overhead.physical_model(self.nr_pages, self.upper)
        bad = {0}
        if self.nr_pages % CLUSTER_SIZE:
            bad.add(self.nr_pages // CLUSTER_SIZE)
        in_use = self.allocator.stats()["clusters_with_table"]
        a = area.report(self.allocator.used, in_use, reserved_clusters=len(bad))
        backing = self.lower.size if self.lower is not None else 0
        own = overhead.zram_model(self.nr_pages, backing_pages=backing, actime=self._actime_opt()).report(
            len(self._obj), 0)
        return {key: a[key] + own[key] for key in ("static_bytes", "bytes_per_entry", "total_bytes")}

    def _actime_opt(self) -> bool:
        return bool(self.options["track_actime"])


def _class_index(pool: ZsPool, size: int) -> int:
    """``zs_lookup_class_index(pool, size)``: the class of an object of ``size`` bytes."""
    return pool.size_class(max(1, size - ZS_HANDLE_SIZE)).index


def _uuid(ctx: SwapContext) -> uuid.UUID:
    """A deterministic UUID for the header mkswap writes (from the run's seed)."""
    return uuid.UUID(int=ctx.rng("mkswap").getrandbits(128), version=4)


__all__ = ["ZramDevice", "WRITEBACK_MODES", "RECOMPRESS_TYPES"]
