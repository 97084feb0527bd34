"""The zswap device: a compressed cache over a swap device (``mm/zswap.c``).

Pages are compressed with a real compressor (:mod:`swapops.compress`) and the
compressed bytes are kept here; the pool's memory in pages comes from the
zsmalloc model (:class:`swapops.zsmalloc.ZsPool`), which places every object
in a size class and a zspage exactly as ``zs_malloc`` would.

Two modes, fixed at activation (see ``docs/zswap.md``):

DIRECT (mainline: a device below and no virtual layer above)
    zswap entries *are* the lower device's slots: ``swapops_cluster_alloc``
    asks the lower device, the pool is keyed by that slot, a rejected page is
    written to the lower device at the same slot, and writeback writes the
    decompressed page into the slot it reserved all along. Capacity is the
    lower device's; every stored page pins one of its slots.
KEYED (under a ``virtual`` layer such as vswap, or with nothing below)
    zswap hands out its own key space (unbounded unless ``size=`` is given
    for a bottom zswap). A lower slot is allocated only when a page must go
    there: at writeback or when the pool rejects it (delayed allocation).
    With no device below, writeback must be off and a page the pool cannot
    take is refused with :class:`~swapops.errors.OutOfSwapSpaceError`.

The stack builder links every layer before it activates any
(:class:`swapops.stack.StackBuilder`), so ``swapops_activate`` sees the layer
above (through filters) and fixes the mode. Only ``swapon(..., lower=zswap)``,
stacking new layers on an unused zswap, changes its neighbours later: the
builder then calls :meth:`ZswapDevice.relink`, which decides again.

Per-entry state, kept small and plain:

* ``_entries``: ``dict`` key -> zsmalloc handle, positive while the
  second-chance (referenced) bit is set, ``~handle`` (negative) once the LRU
  walk has cleared it. Insertion order is the writeback LRU (oldest first):
  a store inserts at the tail, a rotation or a rewrite deletes and re-inserts.
* ``_objs``: list indexed by zsmalloc handle -> the stored bytes (compressed,
  or the raw page when ``len == PAGE_SIZE``: ``stored_incompressible_pages``).
* ``_lower_map`` (KEYED only): key -> lower slot, for pages written back or
  rejected to the device below.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from typing import Any, ClassVar

import swapops
from swapops import overhead
from swapops.cluster import ClusterAllocator
from swapops.compress import AVAILABLE_COMPRESSORS, DEFAULT_COMPRESSOR, get_compressor
from swapops.constants import UNBOUNDED_SIZE
from swapops.device import SwapContext, SwapDevice
from swapops.errors import ConfigError, DeviceIOError, OutOfSwapSpaceError, SwapOpsError
from swapops.folio import Folio
from swapops.options import Option
from swapops.shrinker import SHRINK_STOP, Shrinker
from swapops.sizes import PAGE_SIZE
from swapops.zsmalloc import DEFAULT_CHAIN_SIZE, MAX_CHAIN_SIZE, MIN_CHAIN_SIZE, ZsPool
from swapops.zsmalloc import SIZE_BITS as _ZS_SIZE_BITS
from swapops.zsmalloc import SIZE_MASK as _ZS_SIZE_MASK

from .model import COMPRESSOR_COST_NS, MAX_RECLAIM_RETRIES

MODE_UNSET, MODE_DIRECT, MODE_KEYED = -1, 0, 1

# Writeback folios kept for the page-table owner to take (take_writeback_folios):
# the mm model takes them after every reclaim batch and at every replay chunk
# (a worker run between two chunks writes back up to a whole pool: more than
# 4,096 in the lab's zswap-shrinker); a system nobody takes them from keeps only
# this many (the older ones are counted in written_back_pages only).
_WB_FOLIOS_MAX = 1 << 16

_MODE_NAMES = {MODE_UNSET: "unset", MODE_DIRECT: "direct", MODE_KEYED: "keyed"}

# _ZS_INLINE: the order-0 store and load run the commonest paths of
# ``ZsPool.malloc_unchecked`` and ``free_unchecked`` in place through the
# pool's documented fast-path state (``ZsPool``'s docstring lists the five
# transitions allowed), and call the pool for everything else: two Python
# calls fewer per page. tests/test_zswap.py checks the placement against the
# kernel transcription of tests/test_zsmalloc.py.


class ZswapDevice(SwapDevice):
    """zswap: compressed pool with zsmalloc accounting, limits and LRU writeback."""

    NAME = "zswap"
    KIND = "cache"
    # Reference mode (swapops.contentref): an object holds the page's content key
    # and its zsmalloc size is the real compressor's output length for that
    # content, computed once per content; a load returns the key.
    CONTENT_REF = True
    LOWER_KINDS = frozenset({"physical", "buffer", "cache"})
    NEEDS_LOWER = False
    MAX_IN_STACK = 2  # a zswap over a zswap = a recompression tier
    SUMMARY = "compressed swap cache: real compressors, zsmalloc pool model, limits, LRU writeback"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "compressor": Option("choice", DEFAULT_COMPRESSOR,
                             "compression algorithm (lzo needs the optional extra swapops[lzo])",
                             choices=AVAILABLE_COMPRESSORS),
        "ram": Option("size", 1 << 30, "simulated RAM size; max_pool_percent is a share of it (default 1G)"),
        "max_pool_percent": Option("int", 20, "pool limit, percent of ram", minimum=1, maximum=100),
        "accept_threshold_percent": Option("int", 90, "after hitting the limit, accept stores again "
                                           "only below this percent of it", minimum=0, maximum=100),
        "writeback": Option("bool", None, "write entries back to the device below (memory.zswap.writeback; "
                            "default: on with a device below, else off)"),
        "incompressible": Option("choice", "reject", "a page that does not compress to a page or less: "
                                 "reject (6.12: reject_compress_fail, the page goes below) or raw "
                                 "(later kernels: stored as is, needs writeback)", choices=("reject", "raw")),
        "compact_on_limit": Option("bool", False, "not kernel behaviour: run zs_compact whenever the shrink "
                                   "worker starts (6.12 compacts only through zsmalloc's shrinker)"),
        "worker_speed": Option("float", 0.5, "shrink worker writebacks per store attempted in the same "
                               "time (it runs beside reclaim on another CPU; a model parameter)",
                               minimum=0.01, maximum=1000.0),
        "worker_turn_stores": Option("int", 1, "store attempts reclaim makes between two scheduling turns of "
                                     "the shrink worker on one CPU (the queue_work calls in between collapse "
                                     "into one pending run); 1: a turn after every store (the worker runs "
                                     "beside reclaim)", minimum=1, maximum=1 << 20),
        "shrinker_enabled": Option("bool", False, "zswap's memory-pressure shrinker (zswap_shrinker_count/"
                                   "scan), run by reclaim; CONFIG_ZSWAP_SHRINKER_DEFAULT_ON is off"),
        "memcg": Option("choice", "root", "memory cgroups: root (the kernel has memcg on, as Debian's, "
                        "and the workload runs in the root cgroup: its entries are charged to no "
                        "cgroup, so zswap_shrinker_count() finds none and the shrinker writes back "
                        "nothing) or off (cgroup_disable=memory: pool-wide counts)",
                        choices=("root", "off")),
        "chain_size": Option("int", DEFAULT_CHAIN_SIZE, "zsmalloc CONFIG_ZSMALLOC_CHAIN_SIZE",
                             minimum=MIN_CHAIN_SIZE, maximum=MAX_CHAIN_SIZE),
        "size": Option("size", None, "key space of a bottom zswap (no device below); "
                       "default unbounded"),
    }

    # The attributes the per-page path reads, as slots: a slot load is cheaper
    # than a lookup in this class's instance dict (too many attributes for
    # CPython's shared-key dicts). The rest stay in the instance dict.
    __slots__ = (
        "_entries", "_objs", "_pool", "_gate", "_full", "_lower_map",
        "_malloc", "_zfree", "_compress", "_decompress", "_alloc", "_free_keys",
        "writeback", "store_raw", "zswpin", "stored_incompressible_pages", "_raw_loads", "_invalidated",
        "_queue_calls", "_clen",
    )

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        opts = self.options
        if opts["writeback"] is None:  # on when some layer below can hold pages
            opts["writeback"] = lower is not None and self.lower_holds() != "nothing"
        if lower is None and opts["writeback"]:
            raise ConfigError(
                "zswap: writeback=on needs a device below; zswap may be the bottom of a stack only "
                "with writeback off (nowhere to write pages back to)"
            )
        if lower is not None and opts["size"] is not None:
            raise ConfigError(
                f"zswap: size= applies only to a zswap with no device below; over {lower.NAME} the "
                "capacity is that device's slots (direct) or unbounded (under a virtual layer)"
            )
        if opts["size"] is not None and opts["size"] < PAGE_SIZE:
            raise ConfigError(f"zswap: size={opts['size']} is smaller than one page")
        self.compressor: str = opts["compressor"]
        self.writeback: bool = bool(opts["writeback"])
        # Later kernels store an incompressible page as is, when it may be written back.
        self.store_raw: bool = opts["incompressible"] == "raw" and self.writeback
        self.shrinker_enabled: bool = bool(opts["shrinker_enabled"])
        self.memcg_root: bool = opts.get("memcg", "root") == "root"
        self.compact_on_limit: bool = bool(opts["compact_on_limit"])
        self.ram_pages = opts["ram"] // PAGE_SIZE
        self.max_pool_pages = self.ram_pages * opts["max_pool_percent"] // 100
        if self.max_pool_pages < 1:
            raise ConfigError(
                f"zswap: ram={opts['ram']} at max_pool_percent={opts['max_pool_percent']} leaves the pool "
                "no page (every store would be rejected)"
            )
        self.accept_pages = self.max_pool_pages * opts["accept_threshold_percent"] // 100
        self.mode = MODE_UNSET
        self._init_state()

    def _init_state(self) -> None:
        self._entries: dict[int, int] = {}
        self._objs: list[bytes | int] = [b""]  # by handle; b"" = free (handle 0 is never used)
        self._lower_map: dict[int, int] = {}
        self._pool = ZsPool(self.options["chain_size"], PAGE_SIZE)
        self._keys: ClusterAllocator | None = None
        self._full = False  # zswap_pool_reached_full
        # A store checks the limits when the pool is at or above this: the
        # limit, or 0 while ``_full`` (one comparison per store for both).
        self._gate = self.max_pool_pages
        # The shrink worker (see run_work): queue_work calls so far and seen by
        # the last scheduling point, a run in progress (interrupted by its
        # time budget) and its failures, the writebacks it may still do, and
        # the store attempts seen by the last point and by the last tick.
        self._queue_calls = 0
        self._queue_seen = 0
        self._running = False
        self._run_failures = 0
        self._credit = 0.0
        self._attempts_seen = 0
        self._tick_attempts = 0
        # worker_turn_stores: store attempts since the worker's last turn, and
        # whether a queue_work since then left the work item pending.
        self._turn_attempts = 0
        self._pending = 0
        # debugfs / vmstat counters
        self.stored_incompressible_pages = 0
        self.written_back_pages = 0
        self.reject_compress_poor = 0
        self.reject_compress_fail = 0
        self.reject_alloc_fail = 0  # zs_malloc never fails in the model; kept for the name
        self.reject_reclaim_fail = 0  # writebacks that failed (shrink_memcg_cb)
        self.decompress_fail = 0
        self.pool_limit_hit = 0
        self.pool_full_cycles = 0  # model: times an accepting pool reached its limit (pool_limit_hit's cycles)
        self.zswpin = 0
        self._invalidated = 0  # entries dropped unloaded (freed, discarded, superseded)
        # model counters
        # Compressor calls are derived (no counting on the per-page path):
        # see compress_calls / decompress_calls.
        self._discarded_compress = 0  # pages of a rejected large folio compressed before the reject
        self._raw_loads = 0  # loads of pages stored raw (no decompression)
        self._wb_decompress = 0  # decompressions done by writeback
        self.rejected_to_lower = 0  # pages the pool did not take, written below instead
        self.disk_swapins = 0  # loads served by the device below (the shrinker's protection)
        self._protected = 0  # disk swap-ins not yet consumed by the shrinker's count
        self.shrink_worker_runs = 0
        self.shrink_worker_rotations = 0  # second chances given by the worker (each a failure)
        self.shrinker_scans = 0
        self.shrinker_written_back = 0  # the memory-pressure shrinker's share of written_back_pages
        # writebacks' swap-cache folios not yet handed to the core (top layer only)
        self._wb_folios: deque[tuple[int, Folio]] = deque(maxlen=_WB_FOLIOS_MAX)
        self._shrinkers: tuple[Shrinker, ...] = ()

    # ------------------------------------------------------------------ lifecycle

    @swapops.hookimpl
    def swapops_activate(self, ctx: SwapContext) -> None:
        if ctx.page_size != PAGE_SIZE:
            raise ConfigError(f"zswap: page size {ctx.page_size} unsupported (built for {PAGE_SIZE})")
        codec = get_compressor(self.compressor)  # ConfigError names the lzo extra
        self._codec = codec
        self._compress: Callable[[bytes], bytes] = codec.compress
        self._decompress: Callable[[bytes, int], bytes] = codec.decompress
        # Sizes are 1..PAGE_SIZE and handles our own: the unchecked twins.
        self._malloc = self._pool.malloc_unchecked
        self._zfree = self._pool.free_unchecked
        self._set_mode(self._stack_mode())
        self._clen: Callable[[int], int] | None = None

    def _stack_mode(self) -> int:
        """KEYED under a virtual layer (filters are looked through) or with
        nothing below; DIRECT otherwise (mainline)."""
        upper = self.effective_upper
        if self.lower is None or (upper is not None and upper.KIND == "virtual"):
            return MODE_KEYED
        return MODE_DIRECT

    def relink(self) -> None:
        """New layers were stacked on this unused zswap: decide the mode again."""
        mode = self._stack_mode()
        if mode != self.mode:
            if self._entries or self._lower_map or (self._keys is not None and self._keys.used):
                raise SwapOpsError("zswap: cannot change mode while it holds entries")
            self._set_mode(mode)

    def _set_mode(self, mode: int) -> None:
        self.mode = mode
        if mode == MODE_DIRECT:
            self._keys = None
            self._alloc = self.lower_alloc
            self._free_keys = self.lower_free
        else:
            size = self.options["size"]
            self._keys = ClusterAllocator(None if size is None else size // PAGE_SIZE)
            self._alloc = self._keys.alloc
            self._free_keys = self._keys.free

    @swapops.hookimpl
    def swapops_deactivate(self) -> None:
        """swapoff: release the pool (no entry is live by now); counters stay readable."""
        self._invalidated += len(self._entries)
        self._entries.clear()
        self._objs = [b""]
        self._lower_map.clear()
        self._pool = ZsPool(self.options["chain_size"], PAGE_SIZE)
        # Sizes are 1..PAGE_SIZE and handles our own: the unchecked twins.
        self._malloc = self._pool.malloc_unchecked
        self._zfree = self._pool.free_unchecked
        self._set_full(False)
        self._running = False
        self._queue_seen = self._queue_calls
        self.stored_incompressible_pages = 0

    # ------------------------------------------------------------------ cluster

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        return self._alloc(order)

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        entries = self._entries
        if nr == 1:
            v = entries.pop(offset, None)
            if v is not None:
                self._drop(v)
                self._invalidated += 1
            if self._lower_map:
                s = self._lower_map.pop(offset, -1)
                if s >= 0:
                    self.lower_free(s, 1)
        else:
            for key in range(offset, offset + nr):
                v = entries.pop(key, None)
                if v is not None:
                    self._drop(v)
                    self._invalidated += 1
                if self._lower_map:
                    s = self._lower_map.pop(key, -1)
                    if s >= 0:
                        self.lower_free(s, 1)
        self._free_keys(offset, nr)

    def _drop(self, v: int) -> None:
        """zswap_entry_free: release the zsmalloc object behind an entry value."""
        h = v if v > 0 else ~v
        objs = self._objs
        if self.store_raw and self._objlen(h) == PAGE_SIZE:
            self.stored_incompressible_pages -= 1
        objs[h] = b""
        self._zfree(h)

    def _objlen(self, h: int) -> int:
        """Bytes the object of handle ``h`` takes (its zsmalloc size for a content key)."""
        c = self._objs[h]
        if isinstance(c, int):
            return self._pool.obj[h] & _ZS_SIZE_MASK
        return len(c)

    def _bind_clen(self) -> Callable[[int], int]:
        """``ck -> len(compress(page))`` (0 when the compressor fails), once per content."""
        assert self.content is not None
        compress = self._compress

        def clen(data: bytes) -> int:
            try:
                return len(compress(data))
            except Exception:
                return 0

        fn = self._clen = self.content.memo(f"zswap:{self.compressor}", clen)
        return fn

    # ------------------------------------------------------------------ store

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        """``zswap_store`` (6.12): a page is stored compressed, or rejected to the device below.

        Rejected: while the pool counts as full (``zswap_check_limits``: at or
        over ``max_pool_percent``, counted in ``pool_limit_hit``, and until it
        is back at ``accept_threshold_percent``), and a page whose compressed
        form does not fit in a page (``zswap_compress``: every 6.12 compressor
        bounds its output by ``PAGE_SIZE`` and fails, ``reject_compress_fail``;
        ``incompressible=raw`` stores it as is instead, as later kernels do).
        A rejected store queues the shrink worker while the pool is full; the
        worker runs later (:meth:`run_work`). Large folios: see
        :meth:`_write_large`.
        """
        if folio.order:
            self._write_large(offset, folio)
            return
        lmap = self._lower_map
        if lmap and offset in lmap:  # KEYED rewrite of a key held below
            self._invalidate(offset)
        pool = self._pool
        if pool.pages >= self._gate and self._check_limits():
            self._reject(offset, folio)
            return
        data: bytes | int
        c: bytes | int
        ck = folio.ck
        if ck < 0:
            data = folio.data
            try:
                c = self._compress(data)
            except Exception:
                c = b""
            n = len(c)
        else:  # by reference: the object holds the key, sized as its compressed bytes
            clen = self._clen or self._bind_clen()
            data = c = ck
            n = clen(ck)
        if not 0 < n < PAGE_SIZE:
            if n == PAGE_SIZE and not self.store_raw:
                # Fits exactly (zs_malloc takes PAGE_SIZE): stored, in the huge
                # class. The object holds the page itself, which a load returns
                # as the decompression would; it still counts as compressed.
                c = data
            elif self.store_raw:
                c = data
                n = PAGE_SIZE
                self.stored_incompressible_pages += 1
            else:
                self.reject_compress_fail += 1
                self._reject(offset, folio)
                return
        # zs_malloc, its two commonest paths inline (see _ZS_INLINE), the rest
        # through the pool.
        cs = pool.lut[n]
        zid = cs.cur
        inuse = pool.inuse
        if zid >= 0 and inuse[zid] + 1 < cs.opz:  # cur takes it and is not full yet
            inuse[zid] += 1
        elif zid < 0 and cs.opz > 1 and pool.free_zspages:  # alloc_zspage, a recycled id
            zid = pool.free_zspages.pop()
            inuse[zid] = 1
            cs.zspages += 1
            pool.pages += cs.ppz
            cs.cur = zid
        else:
            zid = -1
        if zid >= 0:
            free_h = pool.free_handles
            if free_h:
                h = free_h.pop()
                pool.obj[h] = zid << _ZS_SIZE_BITS | n
            else:
                h = len(pool.obj)
                pool.obj.append(zid << _ZS_SIZE_BITS | n)
        else:
            h = self._malloc(n)
        try:
            self._objs[h] = c
        except IndexError:  # a handle beyond any used so far
            self._grow_objs(h, c)
        entries = self._entries
        if offset in entries:  # a rewrite of a key still in the pool
            self._replace(offset, h)
        else:
            entries[offset] = h  # referenced, at the LRU tail

    def _replace(self, key: int, v: int) -> None:
        """The new object supersedes the key's old one, and goes to the LRU tail."""
        entries = self._entries
        self._drop(entries.pop(key))
        self._invalidated += 1
        entries[key] = v

    def _grow_objs(self, h: int, c: bytes | int) -> None:
        objs = self._objs
        objs.extend([b""] * (h + 1 - len(objs) + 1024))
        objs[h] = c

    def _set_full(self, full: bool) -> None:
        self._full = full
        self._gate = 0 if full else self.max_pool_pages

    def _check_limits(self) -> bool:
        """``zswap_check_limits``: True while the pool counts as full (the store is rejected).

        At or over the limit: ``pool_limit_hit`` and full. Full stays set until
        a store finds the pool at or under the accept threshold.
        """
        cur = self._pool.pages
        if cur >= self.max_pool_pages:
            self.pool_limit_hit += 1
            if not self._full:
                self.pool_full_cycles += 1
            self._set_full(True)
        elif self._full and cur <= self.accept_pages:
            self._set_full(False)
        return self._full

    def _invalidate(self, key: int) -> None:
        """Drop whatever this layer holds for ``key`` (a rewrite supersedes it)."""
        v = self._entries.pop(key, None)
        if v is not None:
            self._drop(v)
            self._invalidated += 1
        s = self._lower_map.pop(key, -1)
        if s >= 0:
            self.lower_free(s, 1)

    def _reject(self, offset: int, folio: Folio) -> None:
        """``zswap_store``'s ``reject:`` path: queue the shrink worker if the pool is
        full, drop any older copy (``check_old``), and the page goes to the device
        below (``swap_writepage`` → ``__swap_writepage``), or is refused."""
        if self._full and self.writeback:
            self._queue_calls += 1  # queue_work(shrink_wq, &zswap_shrink_work)
        for key in range(offset, offset + (1 << folio.order)):
            self._invalidate(key)  # an older copy must not shadow the new one
        self._to_lower(offset, folio)

    def _to_lower(self, offset: int, folio: Folio) -> None:
        if self.lower is None:
            raise OutOfSwapSpaceError(
                "zswap: the pool cannot take this page (limit reached or incompressible) and there "
                "is no device below; the page stays with the caller"
            )
        nr = 1 << folio.order
        if self.mode == MODE_DIRECT:
            self.lower_write(offset, folio)
        else:
            self._write_keyed_lower(offset, folio)
        self.rejected_to_lower += nr

    def _write_keyed_lower(self, offset: int, folio: Folio) -> None:
        """KEYED: allocate lower slots now (delayed allocation) and write there."""
        order = folio.order
        nr = 1 << order
        lmap = self._lower_map
        s = self.lower_alloc(order)
        if s >= 0:
            try:
                self.lower_write(s, folio)
            except BaseException:
                self.lower_free(s, nr)
                raise
            for i in range(nr):
                lmap[offset + i] = s + i
            return
        below = self.lower.NAME if self.lower is not None else "the device below"
        if not order:
            raise OutOfSwapSpaceError(f"zswap: no free slot on {below} for a rejected page")
        # No contiguous run below: one slot per page.
        data = folio.data
        got: list[int] = []
        try:
            for i in range(nr):
                s = self.lower_alloc(0)
                if s < 0:
                    raise OutOfSwapSpaceError(
                        f"zswap: no free slots on {below} for a rejected folio"
                    )
                got.append(s)
                page = Folio.empty(0)
                page.data = data[i * PAGE_SIZE : (i + 1) * PAGE_SIZE]
                self.lower_write(s, page)
        except BaseException:
            for s in got:
                self.lower_free(s, 1)
            raise
        for i, s in enumerate(got):
            lmap[offset + i] = s

    def _write_large(self, offset: int, folio: Folio) -> None:
        """A large folio. Directly over a device (mainline 6.12) ``zswap_store``
        refuses every large folio before any check or counter: it is written
        to the device whole (``rejected_to_lower``). Under a virtual layer
        (the vswap series, on kernels whose zswap stores large folios) it is
        stored page by page, all or nothing: one page the pool cannot take
        rejects the whole folio."""
        nr = 1 << folio.order
        entries = self._entries
        for key in range(offset, offset + nr):
            if key in entries or key in self._lower_map:
                self._invalidate(key)
        if self.lower is not None and self.mode == MODE_DIRECT:
            self._to_lower(offset, folio)
            return
        if self._pool.pages >= self._gate and self._check_limits():
            self._reject(offset, folio)
            return
        data = folio.data
        compress = self._compress
        malloc = self._malloc
        objs = self._objs
        stored: list[tuple[int, int]] = []
        incompressible = 0
        for i in range(nr):
            page = data[i * PAGE_SIZE : (i + 1) * PAGE_SIZE]
            try:
                c = compress(page)
            except Exception:
                c = b""
            n = len(c)
            if not 0 < n < PAGE_SIZE:
                if n == PAGE_SIZE and not self.store_raw:
                    c = page
                elif self.store_raw:
                    c = page
                    n = PAGE_SIZE
                    incompressible += 1
                else:
                    self.reject_compress_fail += 1
                    for _key, h in stored:  # zswap_store fails the whole folio
                        objs[h] = b""
                        self._zfree(h)
                    self._discarded_compress += len(stored)
                    self._reject(offset, folio)
                    return
            h = malloc(n)
            if h >= len(objs):
                self._grow_objs(h, c)
            objs[h] = c
            stored.append((offset + i, h))
        for key, h in stored:
            entries[key] = h  # referenced
        self.stored_incompressible_pages += incompressible

    # ------------------------------------------------------------------ load

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        if folio.order:
            self._read_large(offset, folio)
            return
        # Exclusive load: the compressed copy goes, the folio is dirty again.
        v = self._entries.pop(offset, None)
        if v is None:
            self._read_lower(offset, folio)
            return
        h = v if v > 0 else ~v
        objs = self._objs
        c = objs[h]
        if isinstance(c, int):  # a content key: the load returns it
            folio.ck = c
            if self.store_raw and self._pool.obj[h] & _ZS_SIZE_MASK == PAGE_SIZE:
                self.stored_incompressible_pages -= 1
                self._raw_loads += 1
        elif len(c) == PAGE_SIZE:  # the page itself (stored raw, or an exact fit)
            folio.data = c
            if self.store_raw:
                self.stored_incompressible_pages -= 1
                self._raw_loads += 1
        else:
            try:
                folio.data = self._decompress(c, PAGE_SIZE)
            except Exception:
                self._entries[offset] = v  # kept (at the LRU tail); the load fails
                self.decompress_fail += 1
                raise DeviceIOError(f"zswap: decompression of entry {offset} failed") from None
        objs[h] = b""
        # zs_free, its two commonest paths inline (see _ZS_INLINE).
        pool = self._pool
        words = pool.obj
        word = words[h]
        cs = pool.lut[word & _ZS_SIZE_MASK]
        zid = word >> _ZS_SIZE_BITS
        inuse = pool.inuse
        n = inuse[zid] - 1
        if not cs.down[n]:  # same fullness group: only the count changes
            inuse[zid] = n
            words[h] = 0
            pool.free_handles.append(h)
        elif not n and zid == cs.cur and not cs.mask:  # free_zspage of the class's only partial
            inuse[zid] = 0
            words[h] = 0
            pool.free_handles.append(h)
            cs.zspages -= 1
            pool.pages -= cs.ppz
            pool.free_zspages.append(zid)
            cs.cur = -1
        else:
            self._zfree(h)
        folio.dirty = True
        self.zswpin += 1

    def _read_lower(self, offset: int, folio: Folio) -> None:
        """Load ``folio`` (whole) from the device below."""
        if self.lower is None:
            raise DeviceIOError(f"zswap: entry {offset} holds no data")
        if self.mode == MODE_DIRECT:
            self.lower_read(offset, folio)
        else:
            lmap = self._lower_map
            nr = 1 << folio.order
            s = lmap.get(offset, -1)
            if s < 0:
                raise DeviceIOError(f"zswap: entry {offset} holds no data")
            if nr == 1 or all(lmap.get(offset + i, -1) == s + i for i in range(nr)):
                self.lower_read(s, folio)
            else:
                parts = []
                for i in range(nr):
                    parts.append(self._lower_page(offset + i, folio))
                folio.data = b"".join(parts)
        nr = 1 << folio.order
        self.disk_swapins += nr
        self._protected += nr

    def _lower_page(self, key: int, folio: Folio) -> bytes:
        """One page of ``key`` from below; marks ``folio`` dirty if that load was exclusive."""
        if self.lower is None:
            raise DeviceIOError(f"zswap: entry {key} holds no data")
        if self.mode == MODE_DIRECT:
            s = key
        else:
            s = self._lower_map.get(key, -1)
            if s < 0:
                raise DeviceIOError(f"zswap: entry {key} holds no data")
        page = Folio.empty(0)
        self.lower_read(s, page)
        if page.dirty:
            folio.dirty = True
        return page.data

    def _read_large(self, offset: int, folio: Folio) -> None:
        """Load a large folio, reassembling pages from the pool and from below."""
        nr = 1 << folio.order
        entries = self._entries
        keys = range(offset, offset + nr)
        hits = [key for key in keys if key in entries]
        if not hits:
            self._read_lower(offset, folio)
            return
        objs = self._objs
        decompress = self._decompress
        parts: list[bytes] = []
        below = raw = 0
        # Phase 1: produce every page without consuming anything (a failed read
        # below must leave the entry intact).
        for key in keys:
            v = entries.get(key)
            if v is None:
                parts.append(self._lower_page(key, folio))
                below += 1
                continue
            h = v if v > 0 else ~v
            c = objs[h]
            if isinstance(c, int):  # a content key: its bytes for the large folio
                assert self.content is not None
                parts.append(self.content.page(c))
                if self._pool.obj[h] & _ZS_SIZE_MASK == PAGE_SIZE:
                    raw += self.store_raw
            elif len(c) == PAGE_SIZE:
                parts.append(c)
                raw += self.store_raw
            else:
                try:
                    parts.append(decompress(c, PAGE_SIZE))
                except Exception:
                    self.decompress_fail += 1
                    raise DeviceIOError(f"zswap: decompression of entry {key} failed") from None
        # Phase 2: the exclusive load consumes the pool copies.
        for key in hits:
            self._drop(entries.pop(key))
        folio.data = b"".join(parts)
        folio.dirty = True
        self.zswpin += len(hits)
        self._raw_loads += raw
        self.disk_swapins += below
        self._protected += below

    # ------------------------------------------------------------------ other ops

    @swapops.hookimpl
    def swapops_discard(self, offset: int, nr: int) -> None:
        """The layer above no longer needs these keys' contents: drop them, pass it on."""
        entries = self._entries
        for key in range(offset, offset + nr):
            v = entries.pop(key, None)
            if v is not None:
                self._drop(v)
                self._invalidated += 1
        if self.lower is None:
            return
        if self.mode == MODE_DIRECT:
            self.lower_discard(offset, nr)
        else:
            for key in range(offset, offset + nr):
                s = self._lower_map.get(key, -1)
                if s >= 0:
                    self.lower_discard(s, 1)

    @swapops.hookimpl
    def swapops_tick(self, now_ns: int) -> None:
        """Simulated time passes. If no store reached this layer since the last
        tick (reclaim is idle), a queued or interrupted shrink worker runs to
        its end: it had the CPU time. While reclaim is active its scheduling
        points drive the worker (:meth:`run_work`)."""
        attempts = self.zswpout + self.rejected_to_lower
        active = attempts != self._tick_attempts
        self._tick_attempts = attempts
        if not active and (self._running or self._queue_calls != self._queue_seen or self._pending):
            self._work(unlimited=True)

    # ------------------------------------------------------------------ writeback

    def run_work(self) -> None:
        """A scheduling point of reclaim: the shrink worker gets the time the last
        reclaim batch took.

        The kernel queues ``shrink_worker`` (``zswap_shrink_work`` on
        ``shrink_wq``) from every store rejected while the pool is full, and a
        kworker runs it beside reclaim. The model interleaves it at the end of
        each reclaim batch (the mm model calls
        :meth:`swapops.system.SwapSystem.run_work`): in the time the batch
        took the worker could write back ``worker_speed`` entries per store
        attempted here (a model parameter: the relative speed of writeback
        and reclaim; writebacks left over wait for the next point), while a
        second-chance rotation costs no time but counts toward the run's 16
        failures. A run that gives up is started again once per store the
        batch rejected: each rejected store calls ``queue_work``, which is a
        no-op only while the item is still pending, and a run that ends in
        rotations takes no time next to the store path, so in the kernel each
        rejection finds the worker idle and queues a new run (while a run is
        writing back, the stores do collapse into one pending run: here that
        run is in progress and the queued ones are dropped once it reaches
        the threshold). So the stores of a batch are rejected until the
        worker has brought the pool down to the accept threshold, as in the
        kernel they are until it has.
        """
        attempts = self.zswpout + self.rejected_to_lower
        new = attempts - self._attempts_seen
        self._attempts_seen = attempts
        if self._running or self._queue_calls != self._queue_seen or self._pending:
            self._credit += new * self.options["worker_speed"]
            turn = self.options["worker_turn_stores"]
            if turn == 1:
                self._work(unlimited=False)
            else:
                self._turn_attempts += new
                turns, self._turn_attempts = divmod(self._turn_attempts, turn)
                self._work(unlimited=False, turns=turns)

    def _work(self, *, unlimited: bool, turns: int | None = None) -> None:
        """Run the worker: finish an interrupted run, then one run per queueing.

        ``turns`` (``worker_turn_stores`` > 1): the worker had the CPU this
        many times since the last point, and starts at most one run per turn;
        the queueings between two turns found the work item still pending
        (``queue_work`` is a no-op on a pending item, ``kernel/workqueue.c:
        queue_work_on()``) and collapse into one run, left pending when no
        turn came.
        """
        queued = self._queue_calls - self._queue_seen + self._pending
        self._queue_seen = self._queue_calls
        self._pending = 0
        if turns is not None and queued > turns:
            self._pending = 1  # the item stays queued for the next turn
            queued = turns
        thr = self.accept_pages
        while True:
            if not self._running:
                if queued <= 0:
                    break
                queued -= 1
                self._start_run()
            budget = None if unlimited else int(self._credit)
            done = self._run(budget)
            self._credit -= done
            if self._running or self._pool.pages <= thr:
                break
        if not self._running:
            self._credit = 0.0  # an idle worker banks no time

    @property
    def worker_pending(self) -> bool:
        """The shrink worker is queued or in the middle of a run."""
        return self._running or self._queue_calls != self._queue_seen or bool(self._pending)

    def _start_run(self) -> None:
        self._running = True
        self._run_failures = 0
        self.shrink_worker_runs += 1
        if self.compact_on_limit and self._pool.pages > self.accept_pages:
            self._pool.compact()

    def writeback_entry(self, key: int) -> bool:
        """``zswap_writeback_entry``: decompress ``key`` and write it to the device below.

        DIRECT writes into the slot the entry has reserved all along (its key);
        KEYED allocates a lower slot now. Returns False (entry kept) when the
        device below has no slot or the write fails.
        """
        v = self._entries.get(key)
        if v is None or self.lower is None:
            return False
        h = v if v > 0 else ~v
        c = self._objs[h]
        page = Folio.empty(0)
        if isinstance(c, int):  # by reference: the key goes below (the decompression is counted)
            page.ck = c
            if self._pool.obj[h] & _ZS_SIZE_MASK != PAGE_SIZE or not self.store_raw:
                self._wb_decompress += 1
        elif len(c) == PAGE_SIZE:
            page.data = c
            if not self.store_raw:
                self._wb_decompress += 1  # an exact fit: the kernel decompresses it
        else:
            self._wb_decompress += 1
            try:
                page.data = self._decompress(c, PAGE_SIZE)
            except Exception:
                self.decompress_fail += 1
                return False
        try:
            if self.mode == MODE_DIRECT:
                self.lower_write(key, page)
            else:
                s = self.lower_alloc(0)
                if s < 0:
                    return False
                try:
                    self.lower_write(s, page)
                except BaseException:
                    self.lower_free(s, 1)
                    raise
                self._lower_map[key] = s
        except SwapOpsError:
            return False
        del self._entries[key]
        self._drop(v)
        self.written_back_pages += 1
        if self.type >= 0 and self.mode == MODE_DIRECT:
            self._wb_folios.append((key, page))  # bounded: with no owner taking them, the oldest go
        return True

    def _lru(self) -> Iterator[int]:
        """The LRU head, oldest first, for a walk that moves or removes each key it is given.

        Keys are read in growing batches: a plain ``dict`` finds its first
        key by skipping the slots its deletions left at the front, so reading
        one key per step would make a long walk quadratic. Every key of a
        batch is still at the head, in order, when its turn comes: the walk
        only sends keys to the tail or deletes them.
        """
        entries = self._entries
        n = 32
        while entries:
            yield from list(islice(entries, n))
            n <<= 1

    def _scan_one(self, key: int) -> int:
        """``shrink_memcg_cb`` on the LRU head ``key``: 1 written back, 0 given a
        second chance (referenced: the bit is cleared and the entry rotated to
        the tail, ``LRU_ROTATE``), -1 writeback failed (``reject_reclaim_fail``;
        the entry was rotated before the attempt, as the kernel does)."""
        entries = self._entries
        v = entries.pop(key)
        if v > 0:  # referenced: clear the bit and rotate to the tail
            entries[key] = ~v
            return 0
        entries[key] = v  # list_move_tail; writeback_entry removes it on success
        if self.writeback_entry(key):
            return 1
        self.reject_reclaim_fail += 1
        return -1

    def shrink_worker(self) -> int:
        """One whole ``shrink_worker`` run, now; return the pages written back.

        As 6.12 loops (one memcg, the root): each ``shrink_memcg`` walks one
        LRU entry; a walk that writes nothing back, a second-chance rotation
        included, is a failure, and the run gives up at
        ``MAX_RECLAIM_RETRIES`` (16) failures; it ends as soon as the pool is
        at or under the accept threshold, or the LRU is empty. Entries are
        stored referenced, so a run that meets 16 fresh entries rotates them
        and stops. ``compact_on_limit`` (not kernel behaviour) compacts the
        pool first. The asynchronous runs go through :meth:`run_work`.
        """
        if not self.writeback or self.lower is None:
            return 0
        if not self._running:
            self._start_run()
        return self._run(None)

    def _run(self, budget: int | None) -> int:
        """Continue the current run; stop before a writeback beyond ``budget``
        (the run stays in progress) or when the run ends."""
        if not self.writeback or self.lower is None:
            self._running = False
            return 0
        pool = self._pool
        entries = self._entries
        thr = self.accept_pages
        done = 0
        failures = self._run_failures
        walk = self._lru()
        while True:
            key = next(walk, None)
            if key is None:  # an empty LRU: shrink_memcg returns -ENOENT until the retries end
                self._running = False
                break
            if budget is not None and done >= budget and entries[key] < 0:
                break  # the next step is a writeback: no time left for it now
            r = self._scan_one(key)
            if r > 0:
                done += 1
            else:
                if not r:
                    self.shrink_worker_rotations += 1
                failures += 1
                if failures >= MAX_RECLAIM_RETRIES:
                    self._running = False
                    break
            if pool.pages <= thr:
                self._running = False
                break
        self._run_failures = failures
        return done

    def shrinker_count(self) -> int:
        """``zswap_shrinker_count``: the LRU's entries minus the disk swap-ins
        since the last count (consumed here), scaled by pool pages per stored
        entry (the memory-saving factor); 0 when the shrinker is off.

        With ``memcg=root`` (the default) the count is 0: with memcg on, 6.12
        counts the cgroup's charged entries (``memcg_page_state(memcg,
        MEMCG_ZSWAPPED)``), and a task in the root cgroup has no object cgroup
        (``__get_obj_cgroup_from_memcg`` stops at the root), so its entries
        are charged nowhere. ``memcg=off``: the pool-wide figures the kernel
        uses when memcg is disabled.
        """
        stored = len(self._entries)
        if not self.shrinker_enabled or not stored or not self.writeback or self.memcg_root:
            return 0
        consumed = min(self._protected, stored)
        self._protected -= consumed
        freeable = stored - consumed
        if not freeable:
            return 0
        return freeable * self._pool.pages // stored

    def shrinker_scan(self, nr_to_scan: int) -> int:
        """``zswap_shrinker_scan``: walk ``nr_to_scan`` LRU entries with second
        chance (a rotation uses up one of them); return the entries written
        back, or :data:`~swapops.shrinker.SHRINK_STOP` when none was."""
        if not self.shrinker_enabled or not self.writeback or self.lower is None:
            return SHRINK_STOP
        self.shrinker_scans += 1
        done = 0
        for key in islice(self._lru(), nr_to_scan):
            if self._scan_one(key) > 0:
                done += 1
        self.shrinker_written_back += done
        return done if done else SHRINK_STOP

    def _zs_shrinker_count(self) -> int:
        """zsmalloc's ``zs_shrinker_count``: pages compaction could free."""
        return self._pool.compactable_pages()

    def _zs_shrinker_scan(self, _nr: int) -> int:
        """zsmalloc's ``zs_shrinker_scan``: ``zs_compact``; pages freed or SHRINK_STOP."""
        freed = self._pool.compact()
        return freed if freed else SHRINK_STOP

    def shrinkers(self) -> tuple[Shrinker, ...]:
        """``mm-zswap`` (writeback under memory pressure, when ``shrinker_enabled``)
        and zsmalloc's ``mm-zspool`` (compaction), both ``DEFAULT_SEEKS`` and
        batch ``SHRINK_BATCH`` as the kernel registers them."""
        if not self._shrinkers:
            self._shrinkers = (
                Shrinker("mm-zswap", self.shrinker_count, self.shrinker_scan),
                Shrinker("mm-zspool", self._zs_shrinker_count, self._zs_shrinker_scan),
            )
        return self._shrinkers

    def compact(self) -> int:
        """zs_compact on the pool; return the pages freed."""
        return self._pool.compact()

    # ------------------------------------------------------------------ handle API

    @property
    def size(self) -> int:
        if self.lower is not None and self.mode == MODE_DIRECT:
            return self.lower.size
        if self._keys is not None:
            return self._keys.size
        size = self.options["size"]
        return UNBOUNDED_SIZE if size is None else size // PAGE_SIZE

    @property
    def used(self) -> int:
        if self.lower is not None and self.mode == MODE_DIRECT:
            return self.lower.used
        return self._keys.used if self._keys is not None else 0

    @property
    def mode_name(self) -> str:
        """``"direct"`` or ``"keyed"`` (fixed at activation; ``"unset"`` before)."""
        return _MODE_NAMES[self.mode]

    @property
    def stored_pages(self) -> int:
        return len(self._entries)

    @property
    def pool_pages(self) -> int:
        """Pool memory in pages, from the zsmalloc model (``zs_get_total_pages``)."""
        return self._pool.pages

    def writeback_pages(self) -> int:
        """Entries written back so far: each went through a swap-cache folio
        (``zswap_writeback_entry``: ``__read_swap_cache_async``, then
        ``folio_set_reclaim`` and ``__swap_writepage``)."""
        return self.written_back_pages

    def take_writeback_folios(self) -> list[tuple[int, Folio]]:
        """The folios of the writebacks since the last call, by key (the area's
        entry offsets: DIRECT at the top of a stack; otherwise none), each the
        decompressed page ``zswap_writeback_entry`` wrote below."""
        wbf = self._wb_folios
        if not wbf:
            return []
        out = list(wbf)
        wbf.clear()
        return out

    def ram_held(self) -> int:
        """The pool's pages (``zswap_total_pages()``): zsmalloc takes them from
        the page allocator, so they are RAM the workload no longer has."""
        return self._pool.pages

    @property
    def pool_total_size(self) -> int:
        return self._pool.pages * PAGE_SIZE

    @property
    def pool(self) -> ZsPool:
        return self._pool

    def stored_bytes(self) -> int:
        """Sum of the stored objects' lengths (compressed, or 4096 when raw):
        the lengths the pool's objects were allocated with."""
        return int(self._pool.stats()["bytes_stored"])

    @property
    def zswpout(self) -> int:
        """Pages stored into the pool (vmstat ``zswpout``), derived rather than
        counted per store: every entry stored is still there, or was loaded,
        written back or dropped unloaded."""
        return len(self._entries) + self.zswpin + self.written_back_pages + self._invalidated

    @property
    def compress_calls(self) -> int:
        """Compressor invocations: every page stored, every page rejected after
        compressing, and the pages of a rejected large folio compressed before it."""
        return (
            self.zswpout + self.reject_compress_poor + self.reject_compress_fail
            + self._discarded_compress
        )

    @property
    def decompress_calls(self) -> int:
        """Decompressor invocations: loads of compressed (not raw) entries and writebacks."""
        return self.zswpin - self._raw_loads + self._wb_decompress

    def modeled_time_ns(self) -> int:
        """Modeled compressor time: calls times the per-page cost in ``model.COMPRESSOR_COST_NS``."""
        comp, decomp = COMPRESSOR_COST_NS[self.compressor]
        return self.compress_calls * comp + self.decompress_calls * decomp

    def check_invariants(self) -> None:
        if self._pool is not None:
            self._pool.check()  # pool pages and class counts recounted from the objects

    def stats(self) -> dict[str, int | float]:
        stored = len(self._entries)
        out: dict[str, int | float] = {
            "size": self.size,
            "used": self.used,
            # /sys/kernel/debug/zswap
            "pool_total_size": self._pool.pages * PAGE_SIZE,
            "stored_pages": stored,
            "stored_incompressible_pages": self.stored_incompressible_pages,
            "written_back_pages": self.written_back_pages,
            "reject_compress_poor": self.reject_compress_poor,
            "reject_compress_fail": self.reject_compress_fail,
            "reject_alloc_fail": self.reject_alloc_fail,
            "reject_reclaim_fail": self.reject_reclaim_fail,
            "decompress_fail": self.decompress_fail,
            "pool_limit_hit": self.pool_limit_hit,
            # /proc/vmstat
            "zswpin": self.zswpin,
            "zswpout": self.zswpout,
            "zswpwb": self.written_back_pages,
            # model
            "pool_pages": self._pool.pages,
            "max_pool_pages": self.max_pool_pages,
            "accept_threshold_pages": self.accept_pages,
            "pool_reached_full": int(self._full),
            "pool_full_cycles": self.pool_full_cycles,
            "stored_bytes": self.stored_bytes(),
            "lower_pages": len(self._lower_map),
            "rejected_to_lower": self.rejected_to_lower,
            "disk_swapins": self.disk_swapins,
            "shrink_worker_runs": self.shrink_worker_runs,
            "shrink_worker_queued": self._queue_calls,
            "shrink_worker_rotations": self.shrink_worker_rotations,
            "shrinker_scans": self.shrinker_scans,
            "shrinker_written_back": self.shrinker_written_back,
            "pages_compacted": self._pool.pages_compacted,
            "compress_calls": self.compress_calls,
            "decompress_calls": self.decompress_calls,
            "modeled_time_ns": self.modeled_time_ns(),
        }
        out["compression_ratio"] = (stored * PAGE_SIZE / out["stored_bytes"]) if stored else 0.0
        return out

    def kernel_overhead(self) -> dict[str, float]:
        """Modeled kernel metadata (:func:`swapops.overhead.zswap_model`).

        Per stored page: ``zswap_entry`` (48 B) + zsmalloc handle (8 B), plus,
        when keyed by slot numbers (DIRECT, or a bottom zswap keyed by its own
        offsets), an xarray slot (8 B) and the ``struct xarray`` heads, one per
        64 MiB of swap, allocated at swapon (unknown, so not counted, for an
        unbounded key space). Under a virtual layer the tree is gone: vswap's
        descriptor points at the entry.
        """
        mode = self.mode
        if mode == MODE_DIRECT and self.lower is not None:
            model = overhead.zswap_model(nr_slots=self.lower.size)
        elif self.lower is not None:
            model = overhead.zswap_model(below_virtual=True)
        else:
            size = self.options["size"]
            model = overhead.zswap_model(nr_slots=None if size is None else size // PAGE_SIZE)
        return model.report(len(self._entries))

    def __repr__(self) -> str:
        return (
            f"<ZswapDevice {self.compressor} {self.mode_name} stored={len(self._entries)} "
            f"pool={self._pool.pages}/{self.max_pool_pages}p>"
        )


__all__ = ["ZswapDevice", "MODE_DIRECT", "MODE_KEYED", "MODE_UNSET"]
