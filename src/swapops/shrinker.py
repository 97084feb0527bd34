"""Memory-pressure shrinkers, as ``mm/shrinker.c`` (Linux 6.12) runs them.

A layer that holds reclaimable objects (zswap's compressed entries, zsmalloc's
compactable zspages) registers :class:`Shrinker` s by returning them from
:meth:`swapops.device.SwapDevice.shrinkers`. The page-table owner's reclaim
(:class:`swapops.mm.MM`) calls :func:`shrink_slab` once per reclaim run, after
it has scanned the LRU, as ``shrink_node`` calls ``shrink_slab`` after
``shrink_lruvec``.

:func:`do_shrink_slab` is a transcription of the kernel function: the scan
target is ``(freeable >> priority) * 4 / seeks`` plus the work deferred by
earlier calls (shifted by the priority too), capped at twice the freeable
count, and is handed to ``scan_objects`` in batches of ``batch`` (default
``SHRINK_BATCH``, 128), the loop running only while at least a batch, or every
freeable object, is due; what is not scanned is deferred. Not modeled: memcg
and NUMA (one shrinker state, one node), and ``SHRINKER_NONSLAB``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

#: ``scan_objects`` returns this to stop the scan loop (``SHRINK_STOP``).
SHRINK_STOP = -1
#: Objects per ``scan_objects`` call unless the shrinker sets ``batch``.
SHRINK_BATCH = 128
#: ``DEFAULT_SEEKS``: the cost of recreating an object, relative to a page.
DEFAULT_SEEKS = 2
#: ``DEF_PRIORITY``: reclaim starts by scanning 1/4096 of each list.
DEF_PRIORITY = 12


class Shrinker:
    """One registered shrinker (``struct shrinker``), with its deferred work.

    :param name: as ``shrinker_alloc`` names it (``"mm-zswap"``, ``"mm-zspool"``).
    :param count: ``count_objects``: freeable objects now (0: nothing to do).
    :param scan: ``scan_objects(nr_to_scan)``: objects freed, or :data:`SHRINK_STOP`.
    :param seeks: ``shrinker->seeks`` (0: trim half the freeable objects per call).
    :param batch: ``shrinker->batch`` (0: :data:`SHRINK_BATCH`).

    Not on the per-page path: built once per layer, called once per reclaim run.
    """

    __slots__ = ("name", "count", "scan", "seeks", "batch", "nr_deferred", "calls", "scanned", "freed")

    def __init__(self, name: str, count: Callable[[], int], scan: Callable[[int], int], *,
                 seeks: int = DEFAULT_SEEKS, batch: int = 0) -> None:
        self.name = name
        self.count = count
        self.scan = scan
        self.seeks = seeks
        self.batch = batch
        self.nr_deferred = 0
        self.calls = 0  # scan_objects calls
        self.scanned = 0  # objects handed to scan_objects (vmstat slabs_scanned)
        self.freed = 0

    def __repr__(self) -> str:
        return f"<Shrinker {self.name} deferred={self.nr_deferred} scanned={self.scanned} freed={self.freed}>"


def do_shrink_slab(shrinker: Shrinker, priority: int) -> int:
    """``do_shrink_slab`` (``mm/shrinker.c``): one call at ``priority``; return objects freed."""
    freeable = shrinker.count()
    if freeable <= 0:
        return 0
    batch_size = shrinker.batch or SHRINK_BATCH
    nr = shrinker.nr_deferred
    shrinker.nr_deferred = 0
    if shrinker.seeks:
        delta = (freeable >> priority) * 4 // shrinker.seeks
    else:
        delta = freeable // 2
    total_scan = (nr >> priority) + delta
    total_scan = min(total_scan, 2 * freeable)
    freed = scanned = 0
    while total_scan >= batch_size or total_scan >= freeable:
        nr_to_scan = min(batch_size, total_scan)
        ret = shrinker.scan(nr_to_scan)
        if ret == SHRINK_STOP:
            break
        freed += ret
        shrinker.calls += 1
        shrinker.scanned += nr_to_scan
        total_scan -= nr_to_scan
        scanned += nr_to_scan
    next_deferred = max(nr + delta - scanned, 0)
    shrinker.nr_deferred = min(next_deferred, 2 * freeable)
    shrinker.freed += freed
    return freed


def shrink_slab(shrinkers: Iterable[Shrinker], priority: int) -> int:
    """``shrink_slab``: every registered shrinker once at ``priority``; return objects freed."""
    return sum(do_shrink_slab(s, priority) for s in shrinkers)


def reclaim_priority(scanned: int, lru_pages: int) -> int:
    """The reclaim priority at which one pass scans ``scanned`` of ``lru_pages``.

    Reclaim at priority ``p`` scans ``lru_pages >> p`` pages of each list
    (``get_scan_count``), starting at :data:`DEF_PRIORITY` and lowering ``p``
    while it reclaims too little (``balance_pgdat``). The mm model reclaims
    to its watermark without iterating priorities, so its shrinkers run at
    the priority that pass corresponds to: the largest ``p <= 12`` with
    ``lru_pages >> p >= scanned`` (0 when even that is too few). A modeling
    approximation, documented in ``docs/counters.md``.
    """
    p = DEF_PRIORITY
    while p > 0 and (lru_pages >> p) < scanned:
        p -= 1
    return p


__all__ = ["Shrinker", "do_shrink_slab", "shrink_slab", "reclaim_priority", "SHRINK_STOP", "SHRINK_BATCH",
           "DEFAULT_SEEKS", "DEF_PRIORITY"]
