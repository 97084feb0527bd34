"""A model of zsmalloc pool memory (``mm/zsmalloc.c``), for page counting.

This is a MODEL: it stores no bytes.  It tracks which zspage every object
lives in, so that the pool size in pages, the fullness of zspages and the
effect of compaction follow the kernel's algorithm.  zswap and other
compressed modules keep the compressed bytes themselves and ask this pool how
much memory they would cost.

Geometry (``mm/zsmalloc.c``, ``mm/Kconfig``; ``docs/kernel.md`` §3):

* ``ZS_SIZE_CLASS_DELTA`` = page_size >> ``CLASS_BITS`` (8) = 16 B at 4 KiB,
  ``ZS_MIN_ALLOC_SIZE`` 32, ``ZS_MAX_ALLOC_SIZE`` = page_size; class *i* has
  size 32 + 16·i, capped at page_size: 255 classes at 4 KiB.
* ``calculate_zspage_chain_size``: a power-of-two size takes 1 page; otherwise
  the chain length k in 1..chain_size with the smallest ``(k·page) % size``,
  the smaller k on ties.  ``objs_per_zspage`` = k·page // size.
* ``zs_create_pool`` walks the classes from the top down and merges a class
  into the one above when (pages, objs) are equal; the merged group is
  represented by its *largest* size, which is the size the kernel reports in
  ``/sys/kernel/debug/zsmalloc/<pool>/classes`` and the slot size objects get.
* ``huge_class_size``: the first class from the top whose pages != 1 and
  objs != 1, minus ``ZS_HANDLE_SIZE - 1`` (3625 B at chain 8).  Bigger objects
  land in the (1 page, 1 object) huge class.
* ``zs_malloc(size)`` adds ``ZS_HANDLE_SIZE`` (8 B) and picks the class with
  ``get_size_class_index`` (capped at the last class, so a 4096-byte
  uncompressed page goes to the 4096 huge class).

Pool behaviour modelled faithfully (kernel >= 6.3 fullness groups):

* Fullness group of a zspage: 0 if empty, 11 ("100 %") if full, else
  ``100·inuse // objs_per_zspage // 10 + 1`` (groups 1..10 = "10 %".."99 %").
* ``zs_malloc`` takes the *head* of the fullest non-empty group 10..1
  (``find_get_zspage``); a zspage whose group changes is moved to the head of
  its new group (``fix_fullness_group``/``insert_zspage`` use ``list_add``).
  A new zspage is allocated only when every zspage of the class is full.
* ``zs_free`` releases a zspage as soon as it is empty.
* ``zs_compact`` runs ``__zs_compact`` per class while ``zs_can_compact`` > 0:
  the destination is the head of the densest group, the source the head of
  the sparsest, objects move until the destination is full or the source
  empty; an emptied source is freed.  When it finishes, every class holds
  exactly ceil(objects / objs_per_zspage) zspages.

Model choices (documented, not kernel behaviour):

* Handles are small positive ints recycled LIFO (the kernel's are slab
  addresses, also recycled).  ``free`` of a handle that is not live raises
  :class:`~swapops.errors.InvalidEntryError` (the kernel would corrupt
  memory), but a stale handle that was already handed out again cannot be
  told apart, exactly as in the kernel.
* The 8-byte handle slab object (``zs_handle`` cache) is not counted in
  ``pages``: like the kernel's ``zs_get_total_pages`` we count zspage pages.
* Per-object state is one packed int in a ``list`` indexed by handle:
  ``zspage_id << 20 | size``; zspage fill counts live in a ``list[int]``.
  The reverse map (zspage -> handles) is built only inside ``compact``.

Bookkeeping (same placement, fewer operations per call): per class, the
partial zspages sit in one insertion-ordered dict per fullness group, except
the zspage ``zs_malloc`` would pick now (the head of the fullest group),
which is held apart as ``cur``.  Filling ``cur`` moves it up groups without
touching any list: it stays the newest member of whatever group it reaches,
hence still the head of the fullest one.  It is put back in its group's dict
only when another zspage takes its place (a free brings a fuller or equally
full zspage to the head of a group at least as full, or ``cur`` drops below a
listed group) or before compaction.  ``tests/test_zsmalloc.py`` checks the
placement and the list order of every group against a plain transcription of
``mm/zsmalloc.c`` after every call.
"""

from __future__ import annotations

import attrs
import numpy as np

from swapops.errors import ConfigError, InvalidEntryError

__all__ = [
    "CLASS_BITS",
    "ClassState",
    "MAX_CHAIN_SIZE",
    "MIN_CHAIN_SIZE",
    "ZS_HANDLE_SIZE",
    "ZS_MIN_ALLOC_SIZE",
    "SIZE_BITS",
    "SIZE_MASK",
    "SizeClass",
    "ZsPool",
    "huge_class_size",
    "merged_classes",
    "size_classes",
]

ZS_HANDLE_SIZE = 8
ZS_MIN_ALLOC_SIZE = 32
CLASS_BITS = 8
#: ``CONFIG_ZSMALLOC_CHAIN_SIZE`` range (Kconfig ``range 4 16``, default 8).
MIN_CHAIN_SIZE = 4
MAX_CHAIN_SIZE = 16
DEFAULT_CHAIN_SIZE = 8

# Fullness groups (enum fullness_group in mm/zsmalloc.c).
_RATIO_0 = 0
_RATIO_10 = 1
_RATIO_99 = 10
_RATIO_100 = 11
_NR_FULLNESS_GROUPS = 12

# Packed per-object word: zspage id << SIZE_BITS | object size.
SIZE_BITS = 20
SIZE_MASK = (1 << SIZE_BITS) - 1
_MAX_PAGE_SIZE = 1 << 16  # 64 KiB pages (arm64/ppc64); sizes fit in SIZE_BITS


@attrs.frozen
class SizeClass:
    """One zsmalloc size class.

    ``index`` is the kernel's class index (``size = 32 + index·delta``); for a
    merged class it is the index of its representative, the largest size.
    ``huge`` marks the (1 page, 1 object) classes (``ZsHugePage``).
    """

    index: int
    size: int
    pages_per_zspage: int
    objs_per_zspage: int
    huge: bool


def _check_geometry(chain_size: int, page_size: int) -> None:
    if not MIN_CHAIN_SIZE <= chain_size <= MAX_CHAIN_SIZE:
        raise ConfigError(
            f"zsmalloc chain size {chain_size} out of range "
            f"{MIN_CHAIN_SIZE}..{MAX_CHAIN_SIZE} (CONFIG_ZSMALLOC_CHAIN_SIZE)"
        )
    if page_size < 4096 or page_size > _MAX_PAGE_SIZE or page_size & (page_size - 1):
        raise ConfigError(f"page size {page_size} must be a power of two in 4096..{_MAX_PAGE_SIZE}")


def _chain_size(size: int, chain_size: int, page_size: int) -> int:
    """``calculate_zspage_chain_size``: pages per zspage for a class size."""
    if size & (size - 1) == 0:
        return 1
    best, min_waste = 1, page_size  # waste < size <= page_size, so k=1 always replaces it
    for k in range(1, chain_size + 1):
        waste = (k * page_size) % size
        if waste < min_waste:
            min_waste, best = waste, k
    return best


def size_classes(chain_size: int = DEFAULT_CHAIN_SIZE, page_size: int = 4096) -> list[SizeClass]:
    """All raw size classes, smallest first (255 at 4 KiB pages), before merging."""
    _check_geometry(chain_size, page_size)
    delta = page_size >> CLASS_BITS
    n = -(-(page_size - ZS_MIN_ALLOC_SIZE) // delta) + 1  # ZS_SIZE_CLASSES
    out = []
    for i in range(n):
        size = min(ZS_MIN_ALLOC_SIZE + i * delta, page_size)
        pages = _chain_size(size, chain_size, page_size)
        objs = pages * page_size // size
        out.append(SizeClass(i, size, pages, objs, pages == 1 and objs == 1))
    return out


def _build(chain_size: int, page_size: int) -> tuple[list[SizeClass], list[SizeClass], int]:
    """(raw classes, representative per raw index, huge_class_size) as zs_create_pool."""
    raw = size_classes(chain_size, page_size)
    rep: list[SizeClass | None] = [None] * len(raw)
    prev: SizeClass | None = None
    huge_size = 0
    for c in reversed(raw):
        if c.pages_per_zspage != 1 and c.objs_per_zspage != 1 and not huge_size:
            huge_size = c.size - (ZS_HANDLE_SIZE - 1)
        if (
            prev is not None
            and prev.pages_per_zspage == c.pages_per_zspage
            and prev.objs_per_zspage == c.objs_per_zspage
        ):
            rep[c.index] = prev
            continue
        rep[c.index] = prev = c
    reps = [r for r in rep if r is not None]
    assert len(reps) == len(raw)
    return raw, reps, huge_size


def merged_classes(chain_size: int = DEFAULT_CHAIN_SIZE, page_size: int = 4096) -> list[SizeClass]:
    """The distinct classes after merging, smallest first (119 at chain 8).

    Each is the representative the kernel keeps (and lists in debugfs): the
    largest size of its merged group, with that size's index.
    """
    _, reps, _ = _build(chain_size, page_size)
    out: list[SizeClass] = []
    for r in reps:
        if not out or out[-1] is not r:
            out.append(r)
    return out


def huge_class_size(chain_size: int = DEFAULT_CHAIN_SIZE, page_size: int = 4096) -> int:
    """``zs_huge_class_size()``: compressed lengths >= this take a whole page."""
    return _build(chain_size, page_size)[2]


class ClassState:
    """Mutable bookkeeping of one merged class (hot path: slots, plain ints; see
    :class:`ZsPool` for the fields a fast-path caller may use).

    Partial zspages (groups 1..10) are kept in per-group insertion-ordered
    dicts whose *head* (``list_add`` position) is the last key, except one:
    ``cur``, the zspage ``find_get_zspage`` would return now (the head of the
    fullest non-empty group), which is held apart, "detached", so that
    filling it costs no list moves.  While detached it is, by construction,
    the most recent member of its group ``fg[inuse[cur]]``; it is put back at
    the head of that group whenever another zspage takes its place (or before
    compaction).  ``cur`` is -1 exactly when the class has no partial zspage.
    """

    __slots__ = ("sc", "ppz", "opz", "fg", "down", "groups", "mask", "cur", "zspages")

    def __init__(self, sc: SizeClass) -> None:
        self.sc = sc
        self.ppz = sc.pages_per_zspage
        self.opz = opz = sc.objs_per_zspage
        # inuse -> fullness group (get_fullness_group), precomputed.
        fg = [_RATIO_0] * (opz + 1)
        for n in range(1, opz):
            fg[n] = 100 * n // opz // 10 + 1
        fg[opz] = _RATIO_100
        self.fg = fg
        # down[n]: a free that leaves n objects changes the group (fg[n] != fg[n+1]).
        self.down = [fg[n] != fg[n + 1] for n in range(opz)]
        # Groups 1..10 (index 0 and 11 unused): full zspages (group 11) are not
        # listed, nothing ever searches them.
        self.groups: list[dict[int, None]] = [{} for _ in range(_NR_FULLNESS_GROUPS)]
        self.mask = 0  # bit g set <=> groups[g] non-empty (g in 1..10); cur not included
        self.cur = -1
        self.zspages = 0

    def objs(self, inuse: list[int]) -> int:
        """``ZS_OBJS_INUSE``, derived rather than counted per call: full zspages
        hold ``opz`` objects, so only the partial ones (listed, and cur) are read."""
        opz = self.opz
        free_slots = 0
        for g in range(_RATIO_10, _RATIO_99 + 1):
            for z in self.groups[g]:
                free_slots += opz - inuse[z]
        if self.cur >= 0:
            free_slots += opz - inuse[self.cur]
        return self.zspages * opz - free_slots

    def can_compact(self, objs: int) -> int:
        """``zs_can_compact``: pages compaction could free in this class."""
        wasted = self.zspages * self.opz - objs
        return wasted // self.opz * self.ppz if wasted > 0 else 0

    def attach(self, inuse: list[int]) -> None:
        """Put ``cur`` back at the head of its group (it stops being detached)."""
        z = self.cur
        if z >= 0:
            g = self.fg[inuse[z]]
            self.groups[g][z] = None
            self.mask |= 1 << g
            self.cur = -1

    def detach(self) -> None:
        """``cur`` := the head of the fullest non-empty group, taken out of it (or -1)."""
        mask = self.mask
        if mask:
            g = mask.bit_length() - 1
            grp = self.groups[g]
            self.cur = grp.popitem()[0]
            if not grp:
                self.mask = mask ^ (1 << g)
        else:
            self.cur = -1


class ZsPool:
    """Page-accounting model of one zsmalloc pool (see the module docstring).

    ``pages`` (pool size in pages, ``zs_get_total_pages``) is a plain
    attribute, kept current by every call; read it freely.  ``objects`` and
    the per-class object counts are derived when asked (from the partial
    zspages' fill counts), not counted per call.

    ``malloc``/``free`` validate their argument; ``malloc_unchecked`` and
    ``free_unchecked`` are the same operations for a caller that guarantees
    a size in 1..page_size and a live handle (zswap).

    **Fast-path state** (public, for a per-page caller that cannot afford a
    Python call per object; zswap's store and load use it). Read-write:

    * ``lut[size]``: the :class:`ClassState` of an object of ``size`` bytes;
      its ``cur`` (the zspage ``zs_malloc`` fills now, -1 if none), ``opz``
      (objects per zspage), ``ppz`` (pages per zspage), ``zspages``, and
      ``down[n]`` (a free that leaves ``n`` objects changes the zspage's
      fullness group).
    * ``inuse[zspage]``: objects in a zspage; ``obj[handle]``: the object's
      word ``zspage << SIZE_BITS | size`` (0 = free); ``free_handles`` and
      ``free_zspages``: recycled ids, taken with ``pop()`` (LIFO).

    A caller may perform exactly these transitions in place and must call
    ``malloc_unchecked``/``free_unchecked`` for anything else:

    1. malloc into ``cur`` when it stays partial (``inuse[cur] + 1 < opz``):
       ``inuse[cur] += 1``;
    2. malloc with no ``cur`` in a class with ``opz > 1`` when
       ``free_zspages`` is not empty: ``zid = free_zspages.pop()``,
       ``inuse[zid] = 1``, ``zspages += 1``, ``pages += ppz``, ``cur = zid``;
    3. then, for 1 and 2, a handle: ``free_handles.pop()`` or ``len(obj)``
       (append), with ``obj[handle] = zid << SIZE_BITS | size``;
    4. free without a group change (``not down[inuse[zid] - 1]``):
       ``inuse[zid] -= 1``, ``obj[handle] = 0``, ``free_handles.append(handle)``;
    5. free of the last object of ``cur`` in a class with no other partial
       zspage (``zid == cur``, ``inuse[zid] == 1``, ``mask == 0``): as 4, then
       ``zspages -= 1``, ``pages -= ppz``, ``free_zspages.append(zid)``,
       ``cur = -1``.

    These are the commonest paths of ``malloc_unchecked``/``free_unchecked``
    verbatim; :meth:`check` recounts everything, and ``tests/test_zswap.py``
    checks zswap's placement against the kernel transcription.
    """

    __slots__ = (
        "chain_size",
        "page_size",
        "pages",
        "pages_compacted",
        "_classes",
        "lut",
        "obj",
        "free_handles",
        "inuse",
        "free_zspages",
    )

    def __init__(self, chain_size: int = DEFAULT_CHAIN_SIZE, page_size: int = 4096) -> None:
        _, reps, _ = _build(chain_size, page_size)
        self.chain_size = chain_size
        self.page_size = page_size
        self.pages = 0
        self.pages_compacted = 0  # zs_pool_stats.pages_compacted
        states: dict[int, ClassState] = {}
        for r in reps:
            if r.index not in states:
                states[r.index] = ClassState(r)
        self._classes = sorted(states.values(), key=lambda s: s.sc.size)
        # Lookup table: compressed length (1..page_size) -> class state, i.e.
        # size_class[get_size_class_index(len + ZS_HANDLE_SIZE)].
        delta = page_size >> CLASS_BITS
        last = len(reps) - 1
        lut: list[ClassState] = [self._classes[0]] * (page_size + 1)  # [0] never used
        for length in range(1, page_size + 1):
            s = length + ZS_HANDLE_SIZE
            idx = -(-(s - ZS_MIN_ALLOC_SIZE) // delta) if s > ZS_MIN_ALLOC_SIZE else 0
            lut[length] = states[reps[min(idx, last)].index]
        self.lut = lut
        # handle -> zspage << 20 | size; 0 = free; handle 0 unused.  A list,
        # not an array('q'): item access on a list is 3-4x cheaper.
        self.obj: list[int] = [0]
        self.free_handles: list[int] = []
        self.inuse: list[int] = []  # zspage id -> objects in use
        self.free_zspages: list[int] = []

    @property
    def objects(self) -> int:
        """Objects allocated (``ZS_OBJS_INUSE`` summed over the classes)."""
        inuse = self.inuse
        return sum(c.objs(inuse) for c in self._classes)

    # ------------------------------------------------------------------ hot path

    def malloc(self, size: int) -> int:
        """``zs_malloc``: place an object of ``size`` compressed bytes; return its handle.

        :raises ConfigError: ``size`` is 0 (-EINVAL) or larger than a page
            (-ENOSPC); zswap stores incompressible pages as ``page_size``.
        """
        if not 0 < size <= self.page_size:
            raise ConfigError(f"zs_malloc: size {size} not in 1..{self.page_size}")
        return self.malloc_unchecked(size)

    def malloc_unchecked(self, size: int) -> int:
        """``malloc`` for a ``size`` the caller knows is in 1..page_size."""
        c = self.lut[size]
        zid = c.cur
        if zid >= 0:
            # find_get_zspage: cur is the head of the fullest non-full group.
            # Moving up a group keeps it the head of the (new) fullest group.
            inuse = self.inuse
            n = inuse[zid] + 1
            inuse[zid] = n
            if n == c.opz:  # full now (group 11, unlisted): the next candidate
                c.detach()
        else:
            # alloc_zspage: every zspage of the class is full (or none exists).
            free_z = self.free_zspages
            if free_z:
                zid = free_z.pop()
                self.inuse[zid] = 1
            else:
                zid = len(self.inuse)
                self.inuse.append(1)
            c.zspages += 1
            self.pages += c.ppz
            if c.opz > 1:  # else a huge class: the zspage is full at once
                c.cur = zid
        word = zid << SIZE_BITS | size
        free_h = self.free_handles
        if free_h:
            handle = free_h.pop()
            self.obj[handle] = word
        else:
            handle = len(self.obj)
            self.obj.append(word)
        return handle

    def free(self, handle: int) -> None:
        """``zs_free``: release the object; an emptied zspage is released at once.

        :raises InvalidEntryError: ``handle`` is not a live handle.
        """
        obj = self.obj
        word = obj[handle] if 0 < handle < len(obj) else 0
        if not word:
            raise InvalidEntryError(f"zs_free: handle {handle} is not allocated")
        self.free_unchecked(handle)

    def free_unchecked(self, handle: int) -> None:
        """``free`` of a handle the caller knows is live."""
        obj = self.obj
        word = obj[handle]
        obj[handle] = 0
        self.free_handles.append(handle)
        c = self.lut[word & SIZE_MASK]
        zid = word >> SIZE_BITS
        inuse = self.inuse
        n = inuse[zid] - 1
        inuse[zid] = n
        if not c.down[n]:  # same fullness group: nothing moves
            return
        cur = c.cur
        if zid == cur:
            if n:
                # cur went down a group; it is that group's newest member, so
                # it stays the head unless a fuller group is listed.
                mask = c.mask
                if mask:
                    g = mask.bit_length() - 1
                    ng = c.fg[n]
                    if g > ng:
                        c.groups[ng][zid] = None
                        grp = c.groups[g]
                        c.cur = grp.popitem()[0]
                        if not grp:
                            mask ^= 1 << g
                        c.mask = mask | 1 << ng
                return
            # free_zspage
            c.zspages -= 1
            self.pages -= c.ppz
            self.free_zspages.append(zid)
            c.detach()
            return
        # fix_fullness_group for a listed (or full) zspage that is not cur.
        fg = c.fg
        g = fg[n + 1]
        mask = c.mask
        if g != _RATIO_100:
            grp = c.groups[g]
            del grp[zid]
            if not grp:
                mask ^= 1 << g
        if n:
            ng = fg[n]  # zid is now the newest member of group ng
            if cur < 0:
                c.cur = zid
            elif ng >= (cg := fg[inuse[cur]]):  # zid is the new head: cur goes back
                c.groups[cg][cur] = None
                mask |= 1 << cg
                c.cur = zid
            else:
                c.groups[ng][zid] = None
                mask |= 1 << ng
        else:  # free_zspage (a one-object zspage that was not cur)
            c.zspages -= 1
            self.pages -= c.ppz
            self.free_zspages.append(zid)
        c.mask = mask

    # ------------------------------------------------------------------ queries

    def obj_size(self, handle: int) -> int:
        """The compressed length ``handle`` was allocated with."""
        obj = self.obj
        word = obj[handle] if 0 < handle < len(obj) else 0
        if not word:
            raise InvalidEntryError(f"handle {handle} is not allocated")
        return word & SIZE_MASK

    def zspage_of(self, handle: int) -> int:
        """The id of the zspage holding ``handle`` (a model label, recycled; for tests)."""
        obj = self.obj
        word = obj[handle] if 0 < handle < len(obj) else 0
        if not word:
            raise InvalidEntryError(f"handle {handle} is not allocated")
        return word >> SIZE_BITS

    def size_class(self, size: int) -> SizeClass:
        """The (merged) class an object of ``size`` compressed bytes goes to."""
        if not 0 < size <= self.page_size:
            raise ConfigError(f"size {size} not in 1..{self.page_size}")
        return self.lut[size].sc

    def classes(self) -> list[SizeClass]:
        """The pool's distinct (merged) classes, smallest first."""
        return [c.sc for c in self._classes]

    def class_usage(self) -> list[tuple[SizeClass, int, int]]:
        """Per class in use: (class, zspages, objects) — debugfs ``classes`` rows."""
        inuse = self.inuse
        return [(c.sc, c.zspages, c.objs(inuse)) for c in self._classes if c.zspages]

    def fullness(self, size: int) -> list[list[int]]:
        """The partial zspages of ``size``'s class per fullness group 1..10, head first.

        Index 0 is the "10 %" group; each list is in ``find_get_zspage`` order
        (the kernel's list order). Full zspages are not listed.
        """
        self.size_class(size)  # validates size
        c = self.lut[size]
        out = [list(reversed(c.groups[g])) for g in range(_RATIO_10, _RATIO_99 + 1)]
        if c.cur >= 0:
            out[c.fg[self.inuse[c.cur]] - _RATIO_10].insert(0, c.cur)
        return out

    def _words(self) -> np.ndarray:
        return np.fromiter(self.obj, dtype=np.int64, count=len(self.obj))

    def stats(self) -> dict[str, int]:
        """Pool counters (debugfs ``classes`` totals plus a few derived ones).

        ``bytes_stored`` is the sum of the compressed lengths passed to
        ``malloc``; ``bytes_allocated`` the sum of the slot sizes they occupy
        (class size, handle included); ``freeable`` is what ``compact`` could
        free now (``zs_can_compact`` summed); ``inuse_ratio_<g>`` count zspages
        per fullness group.
        """
        groups = [0] * _NR_FULLNESS_GROUPS
        zspages = obj_allocated = bytes_allocated = huge = freeable = objects = 0
        inuse = self.inuse
        for c in self._classes:
            if not c.zspages:
                continue
            objs = c.objs(inuse)
            zspages += c.zspages
            objects += objs
            obj_allocated += c.zspages * c.opz
            bytes_allocated += objs * c.sc.size
            freeable += c.can_compact(objs)
            if c.sc.huge:
                huge += objs
            listed = 0
            for g in range(_RATIO_10, _RATIO_99 + 1):
                k = len(c.groups[g])
                groups[g] += k
                listed += k
            if c.cur >= 0:
                groups[c.fg[inuse[c.cur]]] += 1
                listed += 1
            groups[_RATIO_100] += c.zspages - listed
        bytes_stored = int((self._words() & SIZE_MASK).sum())
        out = {
            "pages": self.pages,
            "pool_bytes": self.pages * self.page_size,
            "objects": objects,
            "obj_allocated": obj_allocated,
            "bytes_stored": bytes_stored,
            "bytes_allocated": bytes_allocated,
            "zspages": zspages,
            "huge_objects": huge,
            "freeable": freeable,
            "pages_compacted": self.pages_compacted,
        }
        for g, label in zip(range(_RATIO_10, _NR_FULLNESS_GROUPS), _RATIO_LABELS, strict=True):
            out[f"inuse_ratio_{label}"] = groups[g]
        return out

    def check(self) -> None:
        """Verify the cached bookkeeping against the per-object state (tests; O(objects)).

        :raises AssertionError: with what disagrees.
        """
        inuse = self.inuse
        count = [0] * len(inuse)
        cls_of: dict[int, ClassState] = {}
        objs: dict[int, int] = {}
        for word in self.obj:
            if word:
                z = word >> SIZE_BITS
                c = self.lut[word & SIZE_MASK]
                count[z] += 1
                if cls_of.setdefault(z, c) is not c:
                    raise AssertionError(f"zspage {z} holds objects of two classes")
                objs[id(c)] = objs.get(id(c), 0) + 1
        free_z = set(self.free_zspages)
        free_h = set(self.free_handles)
        if any(self.obj[h] for h in free_h) or len(free_h) != len(self.free_handles):
            raise AssertionError("free handle list holds a live or duplicate handle")
        pages = 0
        for c in self._classes:
            zs = [z for z, k in cls_of.items() if k is c]
            if any(count[z] != inuse[z] for z in zs):
                raise AssertionError(f"class {c.sc.size}: inuse disagrees with the objects")
            if any(z in free_z for z in zs):
                raise AssertionError(f"class {c.sc.size}: a used zspage is on the free list")
            if c.zspages != len(zs) or c.objs(inuse) != objs.get(id(c), 0):
                raise AssertionError(f"class {c.sc.size}: zspages/objs counters are off")
            pages += c.zspages * c.ppz
            listed: set[int] = set()
            mask = 0
            for g in range(_RATIO_10, _RATIO_99 + 1):
                for z in c.groups[g]:
                    if c.fg[inuse[z]] != g or cls_of.get(z) is not c:
                        raise AssertionError(f"class {c.sc.size}: zspage {z} in the wrong group {g}")
                    listed.add(z)
                if c.groups[g]:
                    mask |= 1 << g
            if mask != c.mask:
                raise AssertionError(f"class {c.sc.size}: group mask is stale")
            partial = {z for z in zs if inuse[z] < c.opz}
            if c.cur >= 0:
                if c.cur in listed or cls_of.get(c.cur) is not c or inuse[c.cur] >= c.opz:
                    raise AssertionError(f"class {c.sc.size}: cur {c.cur} is not a detached partial zspage")
                if mask and mask.bit_length() - 1 > c.fg[inuse[c.cur]]:
                    raise AssertionError(f"class {c.sc.size}: a fuller zspage than cur is listed")
                listed.add(c.cur)
            elif mask:
                raise AssertionError(f"class {c.sc.size}: partial zspages listed but no cur")
            if listed != partial:
                raise AssertionError(f"class {c.sc.size}: listed zspages are not the partial ones")
        if pages != self.pages:
            raise AssertionError(f"pages {self.pages} != {pages} from the classes")

    # ------------------------------------------------------------------ compaction

    def compactable_pages(self) -> int:
        """``zs_shrinker_count``: the pages :meth:`compact` would free now
        (``zs_can_compact`` summed over the classes)."""
        inuse = self.inuse
        return sum(c.can_compact(c.objs(inuse)) for c in self._classes if c.zspages > 1)

    def compact(self) -> int:
        """``zs_compact``: compact every class; return the pages freed.

        Afterwards each class holds exactly ceil(objects / objs_per_zspage)
        zspages.  Cost: one pass over the handle table (numpy) when any class
        has something to free, then work proportional to the objects moved.
        """
        inuse = self.inuse
        todo: list[tuple[ClassState, int]] = []
        for c in reversed(self._classes):
            if c.zspages > 1:
                objs = c.objs(inuse)
                if c.can_compact(objs):
                    todo.append((c, objs))
        if not todo:
            return 0
        for c, _ in todo:
            c.attach(inuse)
        # Reverse map zspage -> handles, only for partial zspages of those classes.
        members: dict[int, list[int]] = {}
        for c, _ in todo:
            for g in range(_RATIO_10, _RATIO_99 + 1):
                for zid in c.groups[g]:
                    members[zid] = []
        words = self._words()
        zids = words >> SIZE_BITS
        live = words != 0
        del words
        wanted = np.fromiter(members, dtype=np.int64, count=len(members))
        handles = np.flatnonzero(np.isin(zids, wanted) & live)
        owners = zids[handles]
        for h, z in zip(handles.tolist(), owners.tolist(), strict=True):
            members[z].append(h)
        freed = 0
        for c, objs in todo:
            freed += self._compact_class(c, members, objs)
            c.detach()
        self.pages_compacted += freed
        return freed

    def _isolate(self, c: ClassState, order: range) -> int:
        """Remove and return the head zspage of the first non-empty group in ``order``."""
        for g in order:
            grp = c.groups[g]
            if grp:
                zid = next(reversed(grp))
                del grp[zid]
                if not grp:
                    c.mask ^= 1 << g
                return zid
        return -1

    def _putback(self, c: ClassState, zid: int) -> int:
        """``putback_zspage``: insert at the head of its group; return the group."""
        g = c.fg[self.inuse[zid]]
        if _RATIO_10 <= g <= _RATIO_99:
            c.groups[g][zid] = None
            c.mask |= 1 << g
        return g

    def _compact_class(self, c: ClassState, members: dict[int, list[int]], objs: int) -> int:
        """``__zs_compact`` for one class holding ``objs`` objects (moves keep the count)."""
        inuse = self.inuse
        obj = self.obj
        opz = c.opz
        dense_first = range(_RATIO_99, _RATIO_10 - 1, -1)
        sparse_first = range(_RATIO_10, _RATIO_99 + 1)
        freed = 0
        dst = -1
        while c.can_compact(objs):
            if dst < 0:
                dst = self._isolate(c, dense_first)
                if dst < 0:
                    break
            src = self._isolate(c, sparse_first)
            if src < 0:
                break
            # migrate_zspage: until dst is full or src is empty.
            src_list = members[src]
            dst_list = members[dst]
            k = min(inuse[src], opz - inuse[dst])
            moved = src_list[len(src_list) - k :]
            del src_list[len(src_list) - k :]
            dst_list.extend(moved)
            dst_word = dst << SIZE_BITS
            for h in moved:
                obj[h] = dst_word | (obj[h] & SIZE_MASK)
            inuse[src] -= k
            inuse[dst] += k
            if self._putback(c, src) == _RATIO_0:  # free_zspage
                c.zspages -= 1
                self.pages -= c.ppz
                self.free_zspages.append(src)
                freed += c.ppz
            if inuse[dst] == opz:
                self._putback(c, dst)
                dst = -1
        if dst >= 0:
            self._putback(c, dst)
        return freed


_RATIO_LABELS = ("10", "20", "30", "40", "50", "60", "70", "80", "90", "99", "100")
