"""The kernel's swap cluster allocator (``mm/swapfile.c``, swap-table era), in Python.

Used by the swapfile module (a physical area of fixed size with bad slots; the
caller marks slot 0, the header, bad), by vswap (a virtual space, possibly
unbounded) and by flashbuf. It follows ``cluster_alloc_swap_entry`` and its
helpers as of linux-mm ``swapfile.c`` @000bd100 (see ``docs/kernel.md``
§4.4–4.5):

* The slot space is cut into clusters of :data:`CLUSTER_SIZE` (512) slots. A
  cluster is on exactly one list, which its flag names (``enum
  swap_cluster_flags``): ``free``, ``nonfull[order]``, ``frag[order]``,
  ``full`` or ``discard`` (flag ``NONE`` only while isolated inside one call).
* At swapon (construction) clusters holding bad slots go to ``nonfull[0]`` (in
  index order), all others to ``free`` (index order). The tail of the last
  cluster beyond ``nr_slots`` is marked bad (``swap_cluster_setup_bad_slot``
  with ``mask``), without reducing :attr:`ClusterAllocator.size`.
* A cluster belongs to one order, set by its first allocation and cleared when
  it empties. Allocation of order ``n`` uses a cluster only if it is empty or
  of order ``n``, except that order 0 may use (steal from) any cluster.
* Fast path: the current CPU's cached offset for the order (SSD,
  ``percpu_swap_cluster``) or the device's ``global_cluster->next[order]``
  (rotational). If that cluster is still usable the scan continues from the
  cached offset (no wrap-around).
* Slow path, in this order: with discard, one ``free`` cluster first (spread the
  writes); all of ``nonfull[order]`` (order < 9); [unbounded: a new cluster];
  one ``free`` cluster; **one** ``frag[order]`` cluster (order < 9); for order
  0 only, all of ``frag[o]`` then ``nonfull[o]`` for o = 1..9 (stealing).
* After each scan ``relocate_cluster`` puts the cluster on ``frag[order]``
  (partly used), ``full`` or back to ``free``; the per-CPU "current" cluster
  therefore sits on ``frag[order]`` like in the kernel. Freeing moves a
  cluster to ``nonfull[order]`` (``partial_free_cluster``) or, once empty, to
  ``free`` (appended at the tail) or, with discard, to ``discard``
  (``free_cluster``): not reusable until :meth:`~ClusterAllocator.process_discards`
  (the discard worker, ``swap_do_scheduled_discard``) has discarded it. A
  failed order-0 allocation runs the discard worker synchronously and retries
  (``swap_sync_discard``) before giving up.
* ``large_orders=False`` models a swap *file* (not ``SWP_BLKDEV``): any order
  > 0 returns -1 so the caller splits the folio.

Unbounded mode (``nr_slots=None``) follows vswap's dynamic clusters (Swap Table
Edition, ``alloc_swap_scan_dynamic``): after ``nonfull[order]`` a new cluster
is created at the lowest free cluster index (``xa_alloc``); a cluster that
empties is dropped (``kfree_rcu``) rather than put on the free list, so the
free list stays empty. Discard is not available there. :attr:`size` is the
sentinel :data:`UNBOUNDED_SIZE`.

Not modelled (documented deviations):

* No swap cache: slots that are "cache only" (count 0, folio cached) are not
  visible here, so ``vm_swap_full()`` reclaim (``cluster_reclaim_range``,
  ``swap_reclaim_full_clusters``) does not happen inside the allocator.
* No locks: ``isolate_lock_cluster`` always takes the list head (no contended
  clusters), and each call is atomic, so no cluster is left isolated.
* The per-slot table of a cluster queued for discard is dropped when it is
  queued; the kernel keeps the swap table until the discard is done. Only the
  simulator's memory differs.
* Failure returns -1 (the kernel returns ``SWAP_ENTRY_INVALID`` = 0 because
  slot 0 is its header; here a virtual space may hand out slot 0).

Memory: per cluster a ``u16`` count, a flag byte and an order byte (4 bytes
per 512 slots, about 2 MiB for a 1 TiB device), a per-slot table
(``bytearray(512)``: 0 free, 1 used, 2 bad) only while the cluster is off the
free list, and list membership in ``OrderedDict`` s that hold only clusters in
use. The never-used part of the free list is a frontier index, not a list.
"""

from __future__ import annotations

import heapq
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator

# SWAPFILE_CLUSTER = HPAGE_PMD_NR (512 with CONFIG_THP_SWAP, x86-64, 4 KiB); an
# unbounded (virtual) space has UNBOUNDED_SIZE slots, used as ``size`` and as the
# creation limit. One home for these: swapops.constants.
from .constants import (
    CLUSTER_MASK,
    CLUSTER_SHIFT,
    CLUSTER_SIZE,
    PMD_ORDER,
    SWAP_NR_ORDERS,
    UNBOUNDED_SIZE,
)
from .errors import ConfigError, InvalidEntryError

__all__ = [
    "CLUSTER_SIZE",
    "PMD_ORDER",
    "SWAP_NR_ORDERS",
    "UNBOUNDED_SIZE",
    "ClusterAllocator",
]


# enum swap_cluster_flags (mm/swap.h); USABLE == FRAG
NONE, FREE, NONFULL, FRAG, FULL, DISCARD = range(6)
_STATE_NAMES = ("none", "free", "nonfull", "frag", "full", "discard")

# per-slot states in a cluster's table (the swap table's NULL / in use / Bad)
SLOT_FREE, SLOT_USED, SLOT_BAD = 0, 1, 2

# list ids into ClusterAllocator._lists: nonfull[o] = o, frag[o] = 10 + o
_FRAG_BASE = SWAP_NR_ORDERS
_LID_FULL = 2 * SWAP_NR_ORDERS
_LID_DISCARD = _LID_FULL + 1
_NR_LISTS = _LID_DISCARD + 1

_ZEROS = tuple(bytes(n) for n in range(CLUSTER_SIZE + 1))  # slice fill for free(nr)
_RUN_FREE = tuple(bytes(1 << o) for o in range(SWAP_NR_ORDERS))  # what a usable run looks like
_RUN_USED = tuple(bytes([SLOT_USED]) * (1 << o) for o in range(SWAP_NR_ORDERS))
_ONES = tuple(bytes([SLOT_USED]) * n for n in range(CLUSTER_SIZE + 1))  # slice fill for reserve


def _lid(flag: int, order: int) -> int:
    """The list a cluster with this flag and order is on (flag NONFULL..DISCARD)."""
    if flag == NONFULL:
        return order
    if flag == FRAG:
        return _FRAG_BASE + order
    if flag == FULL:
        return _LID_FULL
    return _LID_DISCARD


class ClusterAllocator:
    """Per-order cluster allocator of one swap area (see the module docstring).

    :param nr_slots: slots of the area (``si->max``), or ``None`` for an
        unbounded virtual space whose clusters are created on demand.
    :param bad_slots: slots never handed out (the header slot 0, bad pages).
    :param rotational: one global current cluster per order (HDD) instead of
        one per CPU per order (SSD).
    :param discard: ``SWP_PAGE_DISCARD``: emptied clusters wait on the discard
        list, and free clusters are preferred over partly used ones.
    :param nr_cpus: simulated CPUs; set :attr:`cpu` to choose who allocates.
    :param large_orders: ``False`` for a swap file (not a block device): every
        order > 0 fails so the folio is split.
    :param on_discard: called as ``on_discard(first_slot, 512)`` for each
        cluster the discard worker discards.

    Public attributes (read them, do not assign, except :attr:`cpu`):
    ``size`` (usable slots, ``si->pages``), ``used`` (``si->inuse_pages``),
    ``cpu`` (the allocating CPU, ``0 <= cpu < nr_cpus``).
    """

    __slots__ = (
        "cpu",
        "used",
        "size",
        "nr_slots",
        "nr_cpus",
        "rotational",
        "discard",
        "large_orders",
        "on_discard",
        "_count",
        "_flags",
        "_order",
        "_tables",
        "_lists",
        "_free_q",
        "_frontier",
        "_nr_untouched",
        "_dead",
        "_caches",
        "_nr_bad",
        "_n_fast",
        "_n_slow",
        "_n_fail",
        "_n_steal",
        "_n_large_fail",
        "_n_discards",
        "_n_sync_discard",
        "_n_created",
        "_n_dropped",
    )

    def __init__(
        self,
        nr_slots: int | None,
        *,
        bad_slots: Iterable[int] = (),
        rotational: bool = False,
        discard: bool = False,
        nr_cpus: int = 1,
        large_orders: bool = True,
        on_discard: Callable[[int, int], None] | None = None,
    ) -> None:
        if nr_cpus < 1:
            raise ConfigError(f"nr_cpus must be >= 1, got {nr_cpus}")
        if nr_slots is None:
            if discard:
                raise ConfigError("an unbounded (virtual) slot space has nothing to discard")
            limit = UNBOUNDED_SIZE
            nr_clusters = 0
        else:
            if nr_slots < 1:
                raise ConfigError(f"nr_slots must be >= 1, got {nr_slots}")
            limit = nr_slots
            nr_clusters = (nr_slots + CLUSTER_MASK) >> CLUSTER_SHIFT

        self.nr_slots = nr_slots
        self.nr_cpus = nr_cpus
        self.rotational = rotational
        self.discard = discard
        self.large_orders = large_orders
        self.on_discard = on_discard

        self._count: array[int] = array("H", bytes(2 * nr_clusters))
        self._flags = bytearray([FREE]) * nr_clusters
        self._order = bytearray(nr_clusters)
        self._tables: dict[int, bytearray] = {}
        self._lists: list[OrderedDict[int, None]] = [OrderedDict() for _ in range(_NR_LISTS)]
        self._free_q: deque[int] = deque()  # freed clusters: the free list's tail
        self._frontier = 0  # FREE clusters >= frontier are the never-used head of the free list
        self._dead: list[int] = []  # unbounded: heap of dropped cluster indices below frontier

        seen: set[int] = set()
        for slot in bad_slots:
            if not 0 <= slot < limit:
                raise ConfigError(f"bad slot {slot} is outside the area (0..{limit - 1})")
            if slot in seen:
                raise ConfigError(f"duplicated bad slot offset {slot}")
            seen.add(slot)
            self._mark_bad(slot)
        self._nr_bad = len(seen)
        if nr_slots is not None:
            for slot in range(nr_slots, nr_clusters << CLUSTER_SHIFT):
                self._mark_bad(slot)  # mask the EOF part of the last cluster
        if limit - self._nr_bad <= 0:
            raise ConfigError("empty swap area: every slot is bad")
        for ci in sorted(self._tables):  # clusters with bad slots start on nonfull[0]
            self._flags[ci] = NONFULL
            self._lists[0][ci] = None
        self._nr_untouched = len(self._flags) - len(self._tables) if nr_slots is not None else 0

        self.size = limit - self._nr_bad
        self.used = 0
        self.cpu = 0
        if rotational:
            shared = [-1] * SWAP_NR_ORDERS  # global_cluster->next[order]
            self._caches = [shared] * nr_cpus
        else:
            self._caches = [[-1] * SWAP_NR_ORDERS for _ in range(nr_cpus)]
        self._n_fast = self._n_slow = self._n_fail = self._n_steal = self._n_large_fail = 0
        self._n_discards = self._n_sync_discard = self._n_created = self._n_dropped = 0

    def _mark_bad(self, slot: int) -> None:
        ci = slot >> CLUSTER_SHIFT
        if ci >= len(self._flags):
            self._grow(ci + 1)
        tb = self._tables.get(ci)
        if tb is None:
            tb = self._tables[ci] = bytearray(CLUSTER_SIZE)
        tb[slot & CLUSTER_MASK] = SLOT_BAD
        self._count[ci] += 1

    def _grow(self, need: int) -> None:
        """Unbounded mode: extend the per-cluster arrays to at least ``need`` clusters."""
        have = len(self._flags)
        extra = max(need, 2 * have, 64) - have
        self._count.frombytes(bytes(2 * extra))
        self._flags += bytes([FREE]) * extra
        self._order += bytes(extra)

    # -- allocation ----------------------------------------------------------

    def alloc(self, order: int) -> int:
        """Allocate ``2**order`` contiguous, naturally aligned slots (``folio_alloc_swap``).

        :return: the first offset, or -1 when there is no such run (the caller
            splits the folio or tries the next device).
        :raises ConfigError: order outside 0..9.
        """
        if order:
            off = self._caches[self.cpu][order] if 0 < order < SWAP_NR_ORDERS and self.large_orders else -1
            if off >= 0:  # the fast path of _alloc_large + _scan_cluster + _relocate, inlined
                ci = off >> CLUSTER_SHIFT
                fl = self._flags[ci]
                nr = 1 << order
                cnt = self._count[ci] + nr
                if NONFULL <= fl <= FRAG and self._order[ci] == order and cnt <= CLUSTER_SIZE:
                    tb = self._tables[ci]
                    pos = off & CLUSTER_MASK
                    run = _RUN_FREE[order]
                    mask = nr - 1
                    while True:
                        p = tb.find(run, pos)
                        if p < 0 or not p & mask:
                            break
                        pos = (p | mask) + 1
                    if p >= 0:
                        tb[p : p + nr] = _RUN_USED[order]
                        self._count[ci] = cnt
                        self.used += nr
                        self._n_fast += 1
                        found = (ci << CLUSTER_SHIFT) + p
                        if cnt < CLUSTER_SIZE:
                            if fl != FRAG:
                                self._move(ci, FRAG, _FRAG_BASE + order)
                            nxt = found + nr if p + nr <= CLUSTER_SIZE - nr else -1
                        else:
                            self._move(ci, FULL, _LID_FULL)
                            nxt = -1
                        self._caches[self.cpu][order] = nxt
                        return found
            return self._alloc_large(order)  # (a failed scan above changed nothing)
        cache = self._caches[self.cpu]
        off = cache[0]
        if off >= 0:  # swap_alloc_fast, order 0, inlined
            ci = off >> CLUSTER_SHIFT
            fl = self._flags[ci]
            if NONFULL <= fl <= FRAG:  # cluster_is_usable(ci, 0)
                tb = self._tables[ci]
                p = tb.find(SLOT_FREE, off & CLUSTER_MASK)
                if p >= 0:
                    tb[p] = SLOT_USED
                    cnt = self._count[ci] + 1
                    self._count[ci] = cnt
                    self.used += 1
                    off = (ci << CLUSTER_SHIFT) + p
                    self._n_fast += 1
                    if cnt == CLUSTER_SIZE:
                        self._move(ci, FULL, _LID_FULL)
                        cache[0] = -1
                    else:
                        if fl != FRAG:
                            self._move(ci, FRAG, _FRAG_BASE + self._order[ci])
                        cache[0] = off + 1 if p < CLUSTER_MASK else -1
                    return off
                self._relocate(ci)
                cache[0] = -1
        found = self._alloc_slow(0)
        while found < 0 and self._lists[_LID_DISCARD]:
            # swap_sync_discard(): discard what is queued, then try again. The
            # fast path cannot succeed now (its cluster just failed or there is
            # none), so the retry starts at the slow path.
            self._n_sync_discard += 1
            self.process_discards()
            found = self._alloc_slow(0)
        if found < 0:
            self._n_fail += 1
        return found

    def reserve(self, n: int) -> list[int]:
        """Take up to ``n`` order-0 slots ahead, as ``n`` calls of ``alloc(0)`` would hand them out.

        For a caller that hands slots out one by one later (vswap's slot
        cache, like ``get_swap_pages(n)`` refilling the kernel's swap slots
        cache): the slots are those single allocations would give, in the same
        order, taken from one cluster (the current one, or the one the first
        allocation found). What single allocations would do at the *last*
        handout (move a cluster that filled up to ``full``) waits for
        :meth:`reserved_last`; :meth:`unreserve` gives the slots not handed out
        back so that the allocator is exactly as if they had never been taken.
        The caller must call it before anything else could see the difference
        (a free in that cluster, an allocation of another order).
        """
        out: list[int] = []
        if n < 1:
            return out
        cache = self._caches[self.cpu]
        off = cache[0]
        if off < 0 or not NONFULL <= self._flags[off >> CLUSTER_SHIFT] <= FRAG:
            off = self.alloc(0)  # the slow path, exactly as a single allocation takes it
            if off < 0:
                return out
            out.append(off)
            n -= 1
            ci = off >> CLUSTER_SHIFT
            if self._flags[ci] == FULL:  # that allocation filled the cluster: nothing was deferred
                return out
            off = cache[0]
            if off < 0:
                return out
        ci = off >> CLUSTER_SHIFT
        fl = self._flags[ci]
        if not NONFULL <= fl <= FRAG:
            return out
        tb = self._tables[ci]
        base = ci << CLUSTER_SHIFT
        end = off & CLUSTER_MASK  # one past the last slot taken
        taken = 0
        while n:
            p = tb.find(SLOT_FREE, end)
            if p < 0:
                break
            q = min(p + n, CLUSTER_SIZE)
            u = tb.find(SLOT_USED, p, q)  # the free run ends at a used or bad slot
            if u >= 0:
                q = u
            b = tb.find(SLOT_BAD, p, q)
            if b >= 0:
                q = b
            tb[p:q] = _ONES[q - p]
            out.extend(range(base + p, base + q))
            taken += q - p
            n -= q - p
            end = q
            if end == CLUSTER_SIZE:
                break
        if not taken:
            if out:
                return out  # the next alloc(0) relocates the cluster, as its fast path would
            off = self.alloc(0)  # no free slot left after the offset: relocate, slow path
            return [off] if off >= 0 else out
        self._count[ci] += taken
        self.used += taken
        self._n_fast += taken
        if fl != FRAG:
            self._move(ci, FRAG, _FRAG_BASE + self._order[ci])
        cache[0] = base + end if end < CLUSTER_SIZE and self._count[ci] < CLUSTER_SIZE else -1
        return out

    def reserved_last(self, offset: int) -> None:
        """The last reserved slot of a cluster was handed out: a full cluster goes to ``full``."""
        ci = offset >> CLUSTER_SHIFT
        if self._count[ci] == CLUSTER_SIZE and self._flags[ci] != FULL:
            self._move(ci, FULL, _LID_FULL)

    def unreserve(self, slots: list[int], next_offset: int) -> None:
        """Give back reserved slots not handed out (ascending, one cluster).

        :param next_offset: the per-CPU order-0 offset single allocations would
            have now: one past the last slot handed out.
        """
        if not slots:
            return
        ci = slots[0] >> CLUSTER_SHIFT
        tb = self._tables[ci]
        for off in slots:
            tb[off & CLUSTER_MASK] = SLOT_FREE
        nr = len(slots)
        self._count[ci] -= nr
        self.used -= nr
        self._n_fast -= nr
        self._caches[self.cpu][0] = next_offset if next_offset & CLUSTER_MASK else -1
        if self._count[ci] == 0:  # not expected: a handed-out slot still holds the cluster
            self._free_cluster(ci)

    def _alloc_large(self, order: int) -> int:
        if not 0 < order < SWAP_NR_ORDERS:
            raise ConfigError(f"order must be 0..{PMD_ORDER}, got {order}")
        if not self.large_orders:  # swap file, not SWP_BLKDEV: split the folio
            self._n_large_fail += 1
            return -1
        off = self._caches[self.cpu][order]
        if off >= 0:
            ci = off >> CLUSTER_SHIFT
            fl = self._flags[ci]
            # cluster_is_usable(ci, order): the kernel also accepts an empty
            # cluster, but here an empty one is never on nonfull/frag.
            if NONFULL <= fl <= FRAG and self._order[ci] == order:
                found = self._scan_cluster(ci, order, off)
                if found >= 0:
                    self._n_fast += 1
                    return found
        found = self._alloc_slow(order)
        if found < 0:
            self._n_large_fail += 1
        return found

    def _alloc_slow(self, order: int) -> int:
        """``cluster_alloc_swap_entry`` after its HDD ``next[order]`` attempt."""
        self._n_slow += 1
        if self.discard:  # prefer new clusters to spread out the writes
            found = self._scan_free(order)
            if found >= 0:
                return found
        if order < PMD_ORDER:
            found = self._scan_list(order, order, True)
            if found >= 0:
                return found
        if self.nr_slots is None:
            found = self._scan_new(order)
            if found >= 0:
                return found
        if not self.discard:
            found = self._scan_free(order)
            if found >= 0:
                return found
        if order < PMD_ORDER:  # one fragment cluster is enough
            found = self._scan_list(order, _FRAG_BASE + order, False)
            if found >= 0:
                return found
        if order:
            return -1
        for o in range(1, SWAP_NR_ORDERS):  # order 0 steals from higher orders
            found = self._scan_list(0, _FRAG_BASE + o, True)
            if found < 0:
                found = self._scan_list(0, o, True)
            if found >= 0:
                self._n_steal += 1
                return found
        return -1

    def _scan_free(self, order: int) -> int:
        """Isolate the head of the free list (allocating its table) and scan it."""
        if self._nr_untouched:
            ci = self._flags.find(FREE, self._frontier)
            self._frontier = ci + 1
            self._nr_untouched -= 1
        elif self._free_q:
            ci = self._free_q.popleft()
        else:
            return -1
        self._flags[ci] = NONE
        self._tables[ci] = bytearray(CLUSTER_SIZE)
        return self._scan_cluster(ci, order, ci << CLUSTER_SHIFT)

    def _scan_new(self, order: int) -> int:
        """Unbounded mode: create a cluster at the lowest free index and scan it."""
        if self._dead:
            ci = heapq.heappop(self._dead)
        else:
            ci = self._frontier
            flags = self._flags
            while ci < len(flags) and flags[ci] != FREE:  # skip clusters holding bad slots
                ci += 1
            if (ci + 1) << CLUSTER_SHIFT > UNBOUNDED_SIZE:
                return -1
            self._frontier = ci + 1
            if ci >= len(flags):
                self._grow(ci + 1)
        self._n_created += 1
        self._flags[ci] = NONE
        self._tables[ci] = bytearray(CLUSTER_SIZE)
        return self._scan_cluster(ci, order, ci << CLUSTER_SHIFT)

    def _scan_list(self, order: int, lid: int, scan_all: bool) -> int:
        """``alloc_swap_scan_list``: isolate clusters from the list head and scan them."""
        lst = self._lists[lid]
        # Bounded by the list's length: a cluster that fails goes to the tail.
        todo = len(lst) if scan_all else 1
        while todo and lst:
            ci = lst.popitem(last=False)[0]
            self._flags[ci] = NONE
            found = self._scan_cluster(ci, order, ci << CLUSTER_SHIFT)
            if found >= 0:
                return found
            todo -= 1
        return -1

    def _scan_cluster(self, ci: int, order: int, offset: int) -> int:
        """``alloc_swap_scan_cluster``: first free aligned run at or after ``offset``."""
        nr = 1 << order
        found = nxt = -1
        cnt = self._count[ci]
        if cnt + nr <= CLUSTER_SIZE:
            tb = self._tables[ci]
            pos = offset & CLUSTER_MASK
            if order == 0:
                p = tb.find(SLOT_FREE, pos)
            else:
                run = _RUN_FREE[order]
                mask = nr - 1
                while True:
                    p = tb.find(run, pos)
                    if p < 0 or not p & mask:
                        break
                    pos = (p | mask) + 1
            if p >= 0:
                tb[p : p + nr] = _RUN_USED[order]
                if cnt == 0:  # the first allocation makes the cluster this order's
                    self._order[ci] = order
                cnt += nr
                self._count[ci] = cnt
                self.used += nr
                found = (ci << CLUSTER_SHIFT) + p
                if cnt < CLUSTER_SIZE and p + nr <= CLUSTER_SIZE - nr:
                    nxt = found + nr
        self._relocate(ci)
        self._caches[self.cpu][order] = nxt
        return found

    # -- list moves ----------------------------------------------------------

    def _move(self, ci: int, flag: int, lid: int) -> None:
        """``move_cluster``: to the tail of list ``lid``, with ``flag``."""
        fl = self._flags[ci]
        if fl >= NONFULL:
            del self._lists[_lid(fl, self._order[ci])][ci]
        self._lists[lid][ci] = None
        self._flags[ci] = flag

    def _relocate(self, ci: int) -> None:
        """``relocate_cluster``: after allocating, to frag[order], full or free."""
        fl = self._flags[ci]
        if fl == DISCARD:
            return
        cnt = self._count[ci]
        if cnt == 0:
            if fl != FREE:
                self._free_cluster(ci)
        elif cnt != CLUSTER_SIZE:
            if fl != FRAG:
                self._move(ci, FRAG, _FRAG_BASE + self._order[ci])
        elif fl != FULL:
            self._move(ci, FULL, _LID_FULL)

    def _free_cluster(self, ci: int) -> None:
        """``free_cluster``: an emptied cluster goes to discard, free, or (unbounded) away."""
        if self.discard:
            self._move(ci, DISCARD, _LID_DISCARD)
            del self._tables[ci]
            return
        self._unlist(ci)
        del self._tables[ci]
        self._order[ci] = 0
        self._flags[ci] = FREE
        if self.nr_slots is None:
            heapq.heappush(self._dead, ci)
            self._n_dropped += 1
        else:
            self._free_q.append(ci)

    def _unlist(self, ci: int) -> None:
        fl = self._flags[ci]
        if fl >= NONFULL:
            del self._lists[_lid(fl, self._order[ci])][ci]
        self._flags[ci] = NONE

    # -- freeing -------------------------------------------------------------

    def free(self, offset: int, nr: int) -> None:
        """Release ``nr`` slots from ``offset`` (a run allocated before, or part of one).

        :raises InvalidEntryError: a slot in the range is not allocated (double
            free, bad slot, never handed out); nothing is changed then.
        """
        ci = offset >> CLUSTER_SHIFT
        tb = self._tables.get(ci)
        s = offset & CLUSTER_MASK
        e = s + nr
        if tb is None or nr < 1 or e > CLUSTER_SIZE:
            self._free_checked(offset, nr)
            return
        if nr == 1:
            if tb[s] != SLOT_USED:
                raise InvalidEntryError(f"slot {offset} is not allocated")
            tb[s] = SLOT_FREE
        else:
            if tb[s:e] != _ONES[nr]:
                raise InvalidEntryError(f"slots {offset}..{offset + nr - 1} are not all allocated")
            tb[s:e] = _ZEROS[nr]
        cnt = self._count[ci] - nr
        self._count[ci] = cnt
        self.used -= nr
        if cnt == 0:
            self._free_cluster(ci)
        elif self._flags[ci] != NONFULL:  # partial_free_cluster
            self._move(ci, NONFULL, self._order[ci])

    def _free_checked(self, offset: int, nr: int) -> None:
        """A range that is empty, starts outside a live cluster or crosses clusters."""
        if nr < 1 or offset < 0:
            raise InvalidEntryError(f"invalid range: offset {offset}, nr {nr}")
        end = offset + nr
        for pos in range(offset, end):  # validate all before changing anything
            if not self.is_allocated(pos):
                raise InvalidEntryError(f"slot {pos} is not allocated")
        pos = offset
        while pos < end:  # one cluster at a time, like swap_put_entries_direct
            stop = min((pos | CLUSTER_MASK) + 1, end)
            self.free(pos, stop - pos)
            pos = stop

    # -- discard -------------------------------------------------------------

    def process_discards(self) -> int:
        """The discard worker (``swap_do_scheduled_discard``).

        Discards every queued cluster (``on_discard(first_slot, 512)``) and
        moves it to the tail of the free list.

        :return: how many clusters were discarded.
        """
        lst = self._lists[_LID_DISCARD]
        done = 0
        while lst:
            ci = lst.popitem(last=False)[0]
            if self.on_discard is not None:
                self.on_discard(ci << CLUSTER_SHIFT, CLUSTER_SIZE)
            self._order[ci] = 0
            self._flags[ci] = FREE  # __free_cluster
            self._free_q.append(ci)
            done += 1
        self._n_discards += done
        return done

    # -- inspection ----------------------------------------------------------

    @property
    def nr_clusters(self) -> int:
        """Clusters with per-cluster fields (grows on demand in unbounded mode)."""
        return len(self._flags)

    def is_allocated(self, offset: int) -> bool:
        """Whether ``offset`` is handed out (bad slots are not)."""
        tb = self._tables.get(offset >> CLUSTER_SHIFT) if offset >= 0 else None
        return tb is not None and tb[offset & CLUSTER_MASK] == SLOT_USED

    def is_bad(self, offset: int) -> bool:
        """Whether ``offset`` is a bad slot (header, bad page or tail padding)."""
        tb = self._tables.get(offset >> CLUSTER_SHIFT) if offset >= 0 else None
        return tb is not None and tb[offset & CLUSTER_MASK] == SLOT_BAD

    def cluster_state(self, ci: int) -> str:
        """``'free'``, ``'nonfull'``, ``'frag'``, ``'full'``, ``'discard'`` or ``'none'``.

        In unbounded mode a cluster that does not exist (never created, or
        dropped when it emptied) is ``'free'``.
        """
        if ci < 0 or (ci >= len(self._flags) and self.nr_slots is not None):
            raise IndexError(f"cluster {ci} is outside the area")
        if ci >= len(self._flags):
            return "free"
        return _STATE_NAMES[self._flags[ci]]

    def cluster_order(self, ci: int) -> int:
        """The order of cluster ``ci`` (0 when empty)."""
        if ci < 0 or (ci >= len(self._flags) and self.nr_slots is not None):
            raise IndexError(f"cluster {ci} is outside the area")
        return self._order[ci] if ci < len(self._order) else 0

    def cluster_count(self, ci: int) -> int:
        """Slots of cluster ``ci`` in use, bad slots included (``ci->count``)."""
        return self._count[ci] if 0 <= ci < len(self._count) else 0

    def allocated_runs(self) -> Iterator[tuple[int, int]]:
        """``(offset, nr)`` of maximal allocated runs, ascending, bad slots excluded.

        A run never crosses a cluster boundary. Freeing the run just yielded
        while iterating is allowed.
        """
        for ci in sorted(self._tables):
            tb = self._tables.get(ci)
            if tb is None:
                continue
            base = ci << CLUSTER_SHIFT
            p = tb.find(SLOT_USED)
            while p >= 0:
                e = tb.find(SLOT_FREE, p)
                b = tb.find(SLOT_BAD, p)
                if e < 0 or 0 <= b < e:
                    e = b
                if e < 0:
                    e = CLUSTER_SIZE
                yield base + p, e - p
                p = tb.find(SLOT_USED, e)

    def stats(self) -> dict[str, int]:
        """Cluster counts per list, slot usage and event counters.

        ``alloc_fast``: allocations served by the cached current cluster;
        ``alloc_slow``: slow-path walks; ``alloc_failures``: order-0 failures;
        ``order0_steals``: slow-path order-0 allocations that had to steal a
        higher-order cluster (later ones served from that cluster through the
        per-CPU fast path are not counted again); ``large_order_failures``: order > 0
        allocations that returned -1; ``discards``: clusters discarded;
        ``sync_discards``: discard runs forced by a failing order-0 allocation;
        ``clusters_created``/``clusters_dropped``: unbounded mode only.
        """
        lists = self._lists
        nr_free = self._nr_untouched + len(self._free_q) if self.nr_slots is not None else 0
        out = {
            "size": self.size,
            "used": self.used,
            "clusters": len(self._flags),
            "clusters_free": nr_free,
            "clusters_nonfull": sum(len(lists[o]) for o in range(SWAP_NR_ORDERS)),
            "clusters_frag": sum(len(lists[_FRAG_BASE + o]) for o in range(SWAP_NR_ORDERS)),
            "clusters_full": len(lists[_LID_FULL]),
            "clusters_discard": len(lists[_LID_DISCARD]),
            "clusters_with_table": len(self._tables),
            "bad_slots": self._nr_bad,
            "alloc_fast": self._n_fast,
            "alloc_slow": self._n_slow,
            "alloc_failures": self._n_fail,
            "order0_steals": self._n_steal,
            "large_order_failures": self._n_large_fail,
            "discards": self._n_discards,
            "sync_discards": self._n_sync_discard,
            "clusters_created": self._n_created,
            "clusters_dropped": self._n_dropped,
        }
        for o in range(SWAP_NR_ORDERS):
            out[f"nonfull_{o}"] = len(lists[o])
            out[f"frag_{o}"] = len(lists[_FRAG_BASE + o])
        return out

    def check_invariants(self) -> None:
        """Check that lists, flags, counts and slot tables agree.

        :raises AssertionError: listing every inconsistency found (up to 20).
        """
        problems: list[str] = []

        def bad(msg: str) -> None:
            if len(problems) < 20:
                problems.append(msg)

        flags, count, orders, tables = self._flags, self._count, self._order, self._tables
        ncl = len(flags)
        bounded = self.nr_slots is not None
        if not (len(count) == len(orders) == ncl):
            bad(f"per-cluster arrays differ in length: {len(count)}/{len(orders)}/{ncl}")
            raise AssertionError("; ".join(problems))

        on_list: dict[int, int] = {}
        for lid, lst in enumerate(self._lists):
            for ci in lst:
                if ci in on_list:
                    bad(f"cluster {ci} is on lists {on_list[ci]} and {lid}")
                on_list[ci] = lid
                if not 0 <= ci < ncl:
                    bad(f"list {lid} holds cluster {ci} outside 0..{ncl - 1}")
                    continue
                fl = flags[ci]
                if fl < NONFULL or _lid(fl, orders[ci]) != lid:
                    bad(
                        f"cluster {ci} on list {lid} has state {_STATE_NAMES[fl]!r} "
                        f"order {orders[ci]} (belongs on list {_lid(fl, orders[ci]) if fl >= NONFULL else '-'})"
                    )
        queued: set[int] = set()
        for ci in self._free_q:
            if ci in queued or ci in on_list:
                bad(
                    f"free cluster {ci} is on the free list twice or also on list {on_list.get(ci)}"
                )
            queued.add(ci)
            if not bounded:
                bad(f"unbounded allocator has cluster {ci} on a free list")
            if not 0 <= ci < self._frontier or flags[ci] != FREE:
                bad(
                    f"free-list cluster {ci} has state {_STATE_NAMES[flags[ci]]!r} or is beyond the frontier"
                )
        dead = set(self._dead)
        if len(dead) != len(self._dead):
            bad("a dropped cluster index is queued twice")
        for ci in dead:
            if not 0 <= ci < self._frontier or flags[ci] != FREE:
                bad(f"dropped cluster {ci} is beyond the frontier or still in use")
        if bounded:
            untouched = flags.count(FREE, self._frontier)
            if untouched != self._nr_untouched:
                bad(
                    f"{untouched} never-used free clusters past the frontier, counter says {self._nr_untouched}"
                )

        used = 0
        total_count = 0
        for ci in range(ncl):
            fl = flags[ci]
            cnt = count[ci]
            total_count += cnt
            tb = tables.get(ci)
            if fl == FREE:
                if tb is not None or cnt or orders[ci]:
                    bad(f"free cluster {ci}: table={tb is not None} count={cnt} order={orders[ci]}")
                elif ci < self._frontier and ci not in (queued if bounded else dead):
                    bad(f"free cluster {ci} is not on the free list")
                continue
            if fl == DISCARD:
                if tb is not None or cnt:
                    bad(f"discard cluster {ci}: table={tb is not None} count={cnt}")
                if on_list.get(ci) != _LID_DISCARD:
                    bad(f"discard cluster {ci} is not on the discard list")
                continue
            if fl not in (NONFULL, FRAG, FULL):
                bad(f"cluster {ci} has state {_STATE_NAMES[fl] if fl < 6 else fl!r} between calls")
                continue
            if tb is None:
                bad(f"{_STATE_NAMES[fl]} cluster {ci} has no slot table")
                continue
            if ci not in on_list:
                bad(f"{_STATE_NAMES[fl]} cluster {ci} is on no list")
            nu = tb.count(SLOT_USED)
            nb = tb.count(SLOT_BAD)
            used += nu
            if nu + nb + tb.count(SLOT_FREE) != CLUSTER_SIZE:
                bad(f"cluster {ci} table holds unknown slot states")
            if cnt != nu + nb:
                bad(f"cluster {ci} count {cnt} != {nu} used + {nb} bad slots")
            if fl == FULL and cnt != CLUSTER_SIZE:
                bad(f"full cluster {ci} has count {cnt}")
            if fl == FRAG and not 0 < cnt < CLUSTER_SIZE:
                bad(f"frag cluster {ci} has count {cnt}")
            if fl == NONFULL and not (0 < cnt < CLUSTER_SIZE or (cnt == CLUSTER_SIZE and nu == 0)):
                bad(f"nonfull cluster {ci} has count {cnt} ({nu} used)")
            if nb and orders[ci]:
                bad(f"cluster {ci} with bad slots has order {orders[ci]} (must stay 0)")
        for ci in tables:
            if not 0 <= ci < ncl or flags[ci] not in (NONFULL, FRAG, FULL):
                bad(
                    f"cluster {ci} keeps a slot table in state {_STATE_NAMES[flags[ci]] if 0 <= ci < ncl else '?'!r}"
                )
        if used != self.used:
            bad(f"used {self.used} != {used} slots marked used in the tables")
        if total_count != used + sum(tb.count(SLOT_BAD) for tb in tables.values()):
            bad("a cluster without a table has a non-zero count")
        if not 0 <= self.used <= self.size:
            bad(f"used {self.used} outside 0..size {self.size}")
        expect_size = (UNBOUNDED_SIZE if self.nr_slots is None else self.nr_slots) - self._nr_bad
        if self.size != expect_size:
            bad(f"size {self.size} != {expect_size}")
        limit = ncl << CLUSTER_SHIFT
        for cpu, cache in enumerate(self._caches):
            for o, off in enumerate(cache):
                if off != -1 and not 0 <= off < limit:
                    bad(f"cpu {cpu} order {o} caches offset {off} outside the area")
                elif off != -1 and off & ((1 << o) - 1):
                    bad(f"cpu {cpu} order {o} caches unaligned offset {off}")
        if problems:
            raise AssertionError("ClusterAllocator invariants broken: " + "; ".join(problems))

    def __repr__(self) -> str:
        kind = "unbounded" if self.nr_slots is None else f"{self.nr_slots} slots"
        return (
            f"<ClusterAllocator {kind} used={self.used}/{self.size} "
            f"{'HDD' if self.rotational else 'SSD'}{' discard' if self.discard else ''}>"
        )
