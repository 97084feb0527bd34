"""The ``zramdemo`` device: a zram-like compressed RAM block device.

What it models of ``drivers/block/zram``:

* a block device of ``size`` bytes (zram's ``disksize``); slot 0 holds the swap
  header mkswap would write, so it is never handed out;
* every page is compressed on write with a real codec (``swapops.compress``,
  lz4 by default) and decompressed on read;
* same-filled pages are kept as their fill byte (zram's ``same_pages``; the
  swapops core already keeps zero pages away from every device);
* a page that does not compress below a page is stored raw (``huge_pages``);
* ``mem_limit`` caps the compressed bytes held: a write past it is refused
  with :class:`~swapops.errors.OutOfSwapSpaceError` and changes nothing (zram
  fails the write with -ENOMEM and the page stays in memory);
* discard and free drop a slot's data (zram's slot free notify);
* latency: each read and write adds the per-page service time of a
  :mod:`swapops.timing` profile to ``modeled_time_ns`` (a model for comparing
  designs in simulated time, not a measurement).

It is a third-party module in its own distribution: it uses only swapops'
public building blocks (``SwapDevice``, ``Option``, ``ClusterAllocator``,
``get_compressor``, ``get_profile``) and registers through the ``swapops``
entry-point group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import swapops
from swapops.cluster import ClusterAllocator
from swapops.compress import AVAILABLE_COMPRESSORS, DEFAULT_COMPRESSOR, get_compressor
from swapops.device import SwapContext, SwapDevice
from swapops.errors import ConfigError, DeviceIOError, OutOfSwapSpaceError
from swapops.folio import Folio
from swapops.options import Option
from swapops.sizes import PAGE_SIZE
from swapops.timing import PROFILES, get_profile

#: zram's ``struct zram_table_entry`` (handle + flags/size word), one per slot of
#: the disk, allocated when the disksize is set (a modeled kernel figure).
TABLE_ENTRY_BYTES = 16


class ZramDemoDevice(SwapDevice):
    """A compressed RAM block device (bottom of a stack, like a partition)."""

    NAME = "zramdemo"
    KIND = "physical"
    LOWER_KINDS: ClassVar[frozenset[str]] = frozenset()
    SUMMARY = "zram-like compressed RAM block device with a latency profile (example third-party module)"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "size": Option("size", None, "disk size in bytes, like zram's disksize (required)"),
        "compressor": Option("choice", DEFAULT_COMPRESSOR, "compression algorithm", choices=AVAILABLE_COMPRESSORS),
        "mem_limit": Option("size", None, "most compressed bytes held (zram's mem_limit); default none"),
        "latency": Option("choice", "ram", "per-page latency profile (swapops.timing)", choices=tuple(PROFILES)),
    }

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        self.allocator: ClusterAllocator | None = None
        # slot -> compressed bytes, raw page (len == PAGE_SIZE) or fill byte (int)
        self._pages: dict[int, bytes | int] = {}
        self._limit: int | None = options.get("mem_limit")
        self.compr_bytes = 0
        self.same_pages = 0
        self.huge_pages = 0
        self.reads = 0
        self.writes = 0
        self.failed_writes = 0
        self.discards = 0
        self.modeled_time_ns = 0

    # -- lifecycle -------------------------------------------------------------

    @swapops.hookimpl
    def swapops_activate(self, ctx: SwapContext) -> None:
        size = self.options["size"]
        if size is None:
            raise ConfigError("zramdemo: size is required (the disksize, e.g. size=64M)")
        nr = size // ctx.page_size
        if nr < 10:
            raise ConfigError(f"zramdemo: {nr} pages is too small (a swap area needs at least 10)")
        self.allocator = ClusterAllocator(nr, bad_slots=[0])  # slot 0: the swap header
        codec = get_compressor(self.options["compressor"])
        self._compress = codec.compress
        self._decompress = codec.decompress
        self._timing = get_profile(self.options["latency"])
        self._last_end = -1

    @swapops.hookimpl
    def swapops_deactivate(self) -> None:
        self._pages.clear()
        self.compr_bytes = self.same_pages = self.huge_pages = 0

    # -- cluster ---------------------------------------------------------------

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        assert self.allocator is not None
        return self.allocator.alloc(order)

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        assert self.allocator is not None
        self.allocator.free(offset, nr)  # validates first: a bad free changes nothing
        self._drop(offset, nr)

    @swapops.hookimpl
    def swapops_discard(self, offset: int, nr: int) -> None:
        self.discards += nr
        self._drop(offset, nr)

    def _drop(self, offset: int, nr: int) -> None:
        pages = self._pages
        for slot in range(offset, offset + nr):
            old = pages.pop(slot, None)
            if old is not None:
                self._unaccount(old)

    def _unaccount(self, stored: bytes | int) -> None:
        if isinstance(stored, int):
            self.same_pages -= 1
            return
        self.compr_bytes -= len(stored)
        if len(stored) == PAGE_SIZE:
            self.huge_pages -= 1

    # -- I/O -------------------------------------------------------------------

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        nr = 1 << folio.order
        data = folio.data
        stored: list[bytes | int] = []
        for k in range(nr):
            page = data[k * PAGE_SIZE : (k + 1) * PAGE_SIZE]
            first = page[0]
            if page.count(first) == PAGE_SIZE:
                stored.append(first)
                continue
            c = self._compress(page)
            stored.append(c if len(c) < PAGE_SIZE else page)
        pages = self._pages
        if self._limit is not None:
            old = 0
            for slot in range(offset, offset + nr):
                value = pages.get(slot)
                if isinstance(value, bytes):
                    old += len(value)
            new = sum(len(v) for v in stored if isinstance(v, bytes))
            if self.compr_bytes - old + new > self._limit:
                self.failed_writes += 1
                raise OutOfSwapSpaceError(
                    f"zramdemo: mem_limit {self._limit} bytes reached; the page stays with the caller"
                )
        for k, value in enumerate(stored):
            old_value = pages.get(offset + k)
            if old_value is not None:  # written again (a dirty swap-cache folio)
                self._unaccount(old_value)
            pages[offset + k] = value
            if isinstance(value, int):
                self.same_pages += 1
            else:
                self.compr_bytes += len(value)
                if len(value) == PAGE_SIZE:
                    self.huge_pages += 1
        self.writes += nr
        self._account_time(offset, nr, write=True)

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        nr = 1 << folio.order
        pages = self._pages
        parts = []
        for slot in range(offset, offset + nr):
            value = pages.get(slot)
            if value is None:
                raise DeviceIOError(f"zramdemo: read of slot {slot}, which holds no data")
            if isinstance(value, int):
                parts.append(bytes([value]) * PAGE_SIZE)
            elif len(value) == PAGE_SIZE:
                parts.append(value)
            else:
                parts.append(self._decompress(value, PAGE_SIZE))
        folio.data = parts[0] if nr == 1 else b"".join(parts)
        self.reads += nr
        self._account_time(offset, nr, write=False)

    def _account_time(self, offset: int, nr: int, *, write: bool) -> None:
        self.modeled_time_ns += self._timing.io_ns(nr, offset == self._last_end, write)
        self._last_end = offset + nr

    # -- handle API ------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.allocator.size if self.allocator is not None else 0

    @property
    def used(self) -> int:
        return self.allocator.used if self.allocator is not None else 0

    @property
    def filename(self) -> str:
        return f"[zramdemo:{self.options['compressor']}]"

    def stats(self) -> dict[str, int | float]:
        """Counters named as zram's ``mm_stat``/``io_stat`` where they match."""
        stored = len(self._pages)
        return {
            "size": self.size,
            "used": self.used,
            "orig_data_size": stored * PAGE_SIZE,
            "compr_data_size": self.compr_bytes,
            "same_pages": self.same_pages,
            "huge_pages": self.huge_pages,
            "pages_stored": stored,
            "reads": self.reads,
            "writes": self.writes,
            "failed_writes": self.failed_writes,
            "discards": self.discards,
            "modeled_time_ns": self.modeled_time_ns,
        }

    def kernel_overhead(self) -> dict[str, float]:
        """Modeled: zram's slot table, ``TABLE_ENTRY_BYTES`` per slot of the disk,
        allocated when the disksize is set; nothing more per stored entry here
        (the compressed bytes themselves are ``compr_data_size``)."""
        static = float(TABLE_ENTRY_BYTES * (self.size + 1))
        return {"static_bytes": static, "bytes_per_entry": 0.0, "total_bytes": static}


__all__ = ["ZramDemoDevice", "TABLE_ENTRY_BYTES"]
