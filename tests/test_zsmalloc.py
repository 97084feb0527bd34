"""Tests for swapops.zsmalloc: kernel size-class geometry and the pool model."""

from __future__ import annotations

import functools
import math
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from swapops.errors import ConfigError, InvalidEntryError
from swapops.zsmalloc import (
    ZS_HANDLE_SIZE,
    SizeClass,
    ZsPool,
    huge_class_size,
    merged_classes,
    size_classes,
)

PAGE = 4096

# (size, pages_per_zspage, objs_per_zspage) at chain 8, docs/kernel.md §3.
DOC_EXAMPLES = [
    (32, 1, 128),
    (48, 3, 256),
    (80, 5, 256),
    (144, 7, 199),
    (208, 3, 59),
    (3408, 5, 6),
    (3584, 7, 8),
    (3632, 8, 9),
    (4096, 1, 1),
]


# --------------------------------------------------------------------------- geometry


def test_raw_classes_layout() -> None:
    raw = size_classes()
    assert len(raw) == 255
    assert raw[0].size == 32
    assert raw[-1].size == PAGE
    assert [c.index for c in raw] == list(range(255))
    assert all(b.size - a.size == 16 for a, b in zip(raw, raw[1:], strict=False))


def _brute_chain(size: int, chain: int) -> int:
    """Chain length re-derived independently: min (waste, k); 1 for powers of two."""
    if math.log2(size).is_integer():
        return 1
    return min(range(1, chain + 1), key=lambda k: ((k * PAGE) % size, k))


@pytest.mark.parametrize("chain", [4, 8, 16])
def test_pages_and_objs_follow_kernel_rule(chain: int) -> None:
    for c in size_classes(chain):
        assert c.pages_per_zspage == _brute_chain(c.size, chain), c
        assert c.objs_per_zspage == c.pages_per_zspage * PAGE // c.size
        assert c.huge == (c.pages_per_zspage == 1 and c.objs_per_zspage == 1)
        if c.size & (c.size - 1) == 0:
            assert c.pages_per_zspage == 1


def test_doc_examples_raw_and_as_reported() -> None:
    """Every example is a raw class *and* a surviving (debugfs-listed) merged class."""
    raw = {c.size: c for c in size_classes(8)}
    merged = {c.size: c for c in merged_classes(8)}
    for size, pages, objs in DOC_EXAMPLES:
        assert (raw[size].pages_per_zspage, raw[size].objs_per_zspage) == (pages, objs)
        assert size in merged, f"{size} should be a class representative"
        assert merged[size] == raw[size]


def test_merged_members_map_to_larger_representative() -> None:
    """Sizes merged away are not listed; their objects use the larger class."""
    merged_sizes = {c.size for c in merged_classes(8)}
    pool = ZsPool()
    for member, rep in [(3392, 3408), (3568, 3584), (3600, 3632), (3616, 3632), (3648, 4096)]:
        assert member not in merged_sizes
        cls = pool.size_class(member - ZS_HANDLE_SIZE)
        assert cls.size == rep
        raw = size_classes(8)[(member - 32) // 16]
        assert (raw.pages_per_zspage, raw.objs_per_zspage) == (
            cls.pages_per_zspage,
            cls.objs_per_zspage,
        )


@pytest.mark.parametrize(("chain", "count"), [(8, 119), (4, 69), (16, 192)])
def test_merged_class_count(chain: int, count: int) -> None:
    merged = merged_classes(chain)
    assert len(merged) == count
    # Neighbours differ (otherwise they would have merged); representative is
    # the largest size of its run of equal (pages, objs) raw classes.
    for a, b in zip(merged, merged[1:], strict=False):
        assert (a.pages_per_zspage, a.objs_per_zspage) != (b.pages_per_zspage, b.objs_per_zspage)
    raw = size_classes(chain)
    reps = {c.size for c in merged}
    for lo, hi in zip(raw, raw[1:], strict=False):
        same = (lo.pages_per_zspage, lo.objs_per_zspage) == (
            hi.pages_per_zspage,
            hi.objs_per_zspage,
        )
        if same:
            assert lo.size not in reps
    assert raw[-1].size in reps


@pytest.mark.parametrize(("chain", "expected"), [(8, 3625), (4, 3257)])
def test_huge_class_size(chain: int, expected: int) -> None:
    assert huge_class_size(chain) == expected


@pytest.mark.parametrize("chain", [4, 8, 16])
def test_huge_threshold_matches_lookup(chain: int) -> None:
    h = huge_class_size(chain)
    pool = ZsPool(chain)
    assert pool.size_class(h).huge
    assert pool.size_class(PAGE).huge
    assert not pool.size_class(h - 1).huge
    assert pool.size_class(h - 1).pages_per_zspage > 1


@pytest.mark.parametrize("chain", [4, 8, 16])
def test_lookup_is_smallest_class_that_fits(chain: int) -> None:
    pool = ZsPool(chain)
    sizes = sorted(c.size for c in merged_classes(chain))
    assert [c.size for c in pool.classes()] == sizes
    for length in range(1, PAGE + 1):
        need = min(max(length + ZS_HANDLE_SIZE, 32), PAGE)
        want = next(s for s in sizes if s >= need)
        assert pool.size_class(length).size == want


def test_mean_internal_waste_is_small() -> None:
    """Mean waste over the distinct non-huge classes at chain 8 is < 0.5 % (max < 2 %)."""
    waste = [
        (c.pages_per_zspage * PAGE - c.objs_per_zspage * c.size) / (c.pages_per_zspage * PAGE)
        for c in merged_classes(8)
        if not c.huge
    ]
    assert sum(waste) / len(waste) < 0.005
    assert max(waste) < 0.02


def test_bad_geometry_rejected() -> None:
    for chain in (0, 3, 17):
        with pytest.raises(ConfigError):
            ZsPool(chain_size=chain)
    for page in (2048, 4097, 6144, 1 << 17):
        with pytest.raises(ConfigError):
            size_classes(8, page)


def test_other_page_size() -> None:
    raw = size_classes(8, 16384)
    assert raw[0].size == 32 and raw[-1].size == 16384
    assert all(b.size - a.size == 64 for a, b in zip(raw, raw[1:-1], strict=False))
    pool = ZsPool(8, 16384)
    h = pool.malloc(16384)
    assert pool.pages == 1
    pool.free(h)
    assert pool.pages == 0


# --------------------------------------------------------------------------- pool basics


def test_small_objects_share_one_page() -> None:
    pool = ZsPool()
    handles = [pool.malloc(24) for _ in range(128)]  # 24 + 8 = 32: (1 page, 128 objs)
    assert pool.pages == 1
    assert len(set(handles)) == 128
    extra = pool.malloc(1)
    assert pool.pages == 2
    pool.free(extra)
    assert pool.pages == 1  # emptied zspage released at once
    for h in handles:
        pool.free(h)
    assert pool.pages == 0 and pool.objects == 0


def test_multi_page_and_huge_classes() -> None:
    pool = ZsPool()
    a = pool.malloc(40)  # 48 class: a 3-page zspage
    assert pool.pages == 3
    b = pool.malloc(huge_class_size())  # huge: one page per object
    c = pool.malloc(PAGE)  # incompressible page stored as is
    assert pool.pages == 5
    d = pool.malloc(huge_class_size() - 1)  # 3632 class: 8 pages, 9 objects
    assert pool.pages == 13
    st_ = pool.stats()
    assert st_["huge_objects"] == 2
    assert st_["objects"] == 4
    assert st_["bytes_stored"] == 40 + huge_class_size() + PAGE + huge_class_size() - 1
    assert st_["bytes_allocated"] == 48 + PAGE + PAGE + 3632
    assert st_["pool_bytes"] == 13 * PAGE
    assert pool.obj_size(d) == huge_class_size() - 1
    for h in (a, b, c, d):
        pool.free(h)
    assert pool.pages == 0
    assert pool.stats()["zspages"] == 0


@pytest.mark.parametrize("size", [0, -1, PAGE + 1])
def test_malloc_rejects_bad_size(size: int) -> None:
    pool = ZsPool()
    with pytest.raises(ConfigError):
        pool.malloc(size)
    assert pool.pages == 0


def test_free_rejects_bad_handles() -> None:
    pool = ZsPool()
    h = pool.malloc(100)
    for bad in (0, -1, h + 1, 10**9):
        with pytest.raises(InvalidEntryError):
            pool.free(bad)
    pool.free(h)
    with pytest.raises(InvalidEntryError):
        pool.free(h)  # double free
    with pytest.raises(InvalidEntryError):
        pool.obj_size(h)
    assert pool.pages == 0 and pool.objects == 0


def test_allocation_fills_fullest_zspage_first() -> None:
    pool = ZsPool()
    first = [pool.malloc(24) for _ in range(128)]  # zspage A (full)
    second = [pool.malloc(24) for _ in range(128)]  # zspage B (full)
    assert pool.pages == 2
    for h in first[:100]:
        pool.free(h)  # A: 28/128 -> "30 %" group
    for h in second[:10]:
        pool.free(h)  # B: 118/128 -> "99 %" group
    s = pool.stats()
    assert (s["inuse_ratio_30"], s["inuse_ratio_99"], s["inuse_ratio_100"]) == (1, 1, 0)
    for _ in range(10):
        pool.malloc(24)  # must all go to B, the fuller one
    s = pool.stats()
    assert (s["inuse_ratio_30"], s["inuse_ratio_99"], s["inuse_ratio_100"]) == (1, 0, 1)
    pool.malloc(24)  # B is full now: the next goes to A, no new zspage
    assert pool.pages == 2


# --------------------------------------------------------------------------- compaction


@functools.cache
def _class_table(chain: int, page: int) -> list[SizeClass]:
    """Compressed length -> merged class, by a plain search (independent of ZsPool)."""
    reps = sorted(merged_classes(chain, page), key=lambda c: c.size)
    table = [reps[0]]
    for length in range(1, page + 1):
        need = min(max(length + ZS_HANDLE_SIZE, 32), page)
        table.append(next(c for c in reps if c.size >= need))
    return table


def _bound(pool: ZsPool, sizes: list[int]) -> int:
    """Σ_class ceil(objs / objs_per_zspage) × pages_per_zspage."""
    table = _class_table(pool.chain_size, pool.page_size)
    per: Counter[SizeClass] = Counter(table[length] for length in sizes)
    return sum(-(-n // c.objs_per_zspage) * c.pages_per_zspage for c, n in per.items())


def test_compact_packs_sparse_zspages() -> None:
    pool = ZsPool()
    handles = [pool.malloc(24) for _ in range(3 * 128)]
    keep = []
    for z in range(3):  # leave 40 objects in each of the 3 zspages
        chunk = handles[z * 128 : (z + 1) * 128]
        keep += chunk[:40]
        for h in chunk[40:]:
            pool.free(h)
    assert pool.pages == 3
    assert pool.stats()["freeable"] == 2
    assert pool.compact() == 2
    assert pool.pages == 1 == _bound(pool, [24] * 120)
    s = pool.stats()
    assert s["freeable"] == 0 and s["pages_compacted"] == 2 and s["objects"] == 120
    assert pool.compact() == 0  # idempotent
    for h in keep:
        assert pool.obj_size(h) == 24
        pool.free(h)
    assert pool.pages == 0


def test_compact_multi_page_class() -> None:
    pool = ZsPool()
    handles = [pool.malloc(200) for _ in range(59 * 6)]  # 208 class: (3 pages, 59 objs)
    assert pool.pages == 18
    rng = random.Random(7)
    live = set(handles)
    for h in rng.sample(handles, 59 * 6 - 70):
        pool.free(h)
        live.discard(h)
    before = pool.pages
    freed = pool.compact()
    assert pool.pages == before - freed == _bound(pool, [200] * 70) == 6
    for h in live:
        pool.free(h)
    assert pool.pages == 0


# --------------------------------------------------------------------------- random sequences

SIZES = st.one_of(
    st.sampled_from([1, 24, 40, 100, 200, 1000, 1500, 3000, 3624, 3625, 4096]),
    st.integers(1, PAGE),
)


class PoolMachine(RuleBasedStateMachine):
    """Random malloc/free/compact sequences against a dict model of live objects."""

    pool: ZsPool

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.compacted = 0

    @initialize(chain=st.sampled_from([4, 8, 16]))
    def make(self, chain: int) -> None:
        self.pool = ZsPool(chain)

    @rule(size=SIZES, n=st.integers(1, 200))
    def malloc_many(self, size: int, n: int) -> None:
        for _ in range(n):
            h = self.pool.malloc(size)
            assert h not in self.live
            self.live[h] = size

    @precondition(lambda self: self.live)
    @rule(frac=st.floats(0.05, 1.0), seed=st.integers(0, 2**32))
    def free_some(self, frac: float, seed: int) -> None:
        rng = random.Random(seed)
        handles = sorted(self.live)
        for h in rng.sample(handles, max(1, int(len(handles) * frac))):
            self.pool.free(h)
            del self.live[h]

    @rule()
    def compact(self) -> None:
        before = self.pool.pages
        freed = self.pool.compact()
        self.compacted += freed
        event(f"compact freed>0: {freed > 0}")
        assert freed >= 0 and self.pool.pages == before - freed
        assert self.pool.pages == _bound(self.pool, list(self.live.values()))
        assert self.pool.stats()["freeable"] == 0

    @invariant()
    def accounting(self) -> None:
        pool = self.pool
        assert pool.pages >= 0
        assert pool.objects == len(self.live)
        assert pool.pages >= _bound(pool, list(self.live.values()))
        usage = pool.class_usage()
        assert pool.pages == sum(z * c.pages_per_zspage for c, z, _ in usage)
        assert pool.objects == sum(n for _, _, n in usage)
        for c, z, n in usage:
            assert z <= n <= z * c.objs_per_zspage  # no empty zspage is kept
        s = pool.stats()
        groups = sum(v for k, v in s.items() if k.startswith("inuse_ratio_"))
        assert groups == s["zspages"]
        assert s["bytes_stored"] == sum(self.live.values())
        assert s["pages_compacted"] == self.compacted
        for h, size in self.live.items():
            assert pool.obj_size(h) == size
        pool.check()

    def teardown(self) -> None:
        if not hasattr(self, "pool"):
            return
        for h in list(self.live):
            self.pool.free(h)
        assert self.pool.pages == 0
        assert self.pool.objects == 0
        assert self.pool.stats()["zspages"] == 0


TestPoolMachine = PoolMachine.TestCase
TestPoolMachine.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_long_random_run_matches_bound_after_compaction() -> None:
    """A longer seeded churn: invariants hold and compaction reaches the bound."""
    rng = random.Random(1234)
    pool = ZsPool()
    live: dict[int, int] = {}
    for step in range(20_000):
        if live and rng.random() < 0.45:
            h = rng.choice(list(live)) if step % 50 == 0 else next(iter(live))
            pool.free(h)
            del live[h]
        else:
            size = min(PAGE, max(1, int(rng.gauss(1800, 1100))))
            live[pool.malloc(size)] = size
        if step % 5000 == 4999:
            assert pool.pages >= _bound(pool, list(live.values()))
            pool.compact()
            assert pool.pages == _bound(pool, list(live.values()))
    for h in list(live):
        pool.free(h)
    assert pool.pages == 0


# --------------------------------------------------------------------------- reference model


class _RefZspage:
    __slots__ = ("cls", "handles")

    def __init__(self, cls: SizeClass) -> None:
        self.cls = cls
        self.handles: list[int] = []


def _ref_group(cls: SizeClass, inuse: int) -> int:
    """get_fullness_group, written out as mm/zsmalloc.c has it."""
    if inuse == 0:
        return 0
    if inuse == cls.objs_per_zspage:
        return 11
    return 100 * inuse // cls.objs_per_zspage // 10 + 1


class RefPool:
    """mm/zsmalloc.c's placement, written plainly: one list per fullness group
    (0..11, full zspages listed too), head at index 0, list_add = insert(0).

    Independent of ZsPool's detached-``cur`` bookkeeping; compaction mirrors
    the model's documented choice (sparsest head into densest head; the
    source's highest handles move first).
    """

    def __init__(self, chain: int) -> None:
        self.table = _class_table(chain, PAGE)
        self.lists: dict[int, list[list[_RefZspage]]] = {}
        self.where: dict[int, _RefZspage] = {}
        self.pages = 0

    def _lists(self, cls: SizeClass) -> list[list[_RefZspage]]:
        return self.lists.setdefault(cls.size, [[] for _ in range(12)])

    def _move(self, z: _RefZspage, old: int) -> None:
        """fix_fullness_group: remove from ``old``, insert at the head of the new group."""
        new = _ref_group(z.cls, len(z.handles))
        if new == old:
            return
        lists = self._lists(z.cls)
        if old >= 0:
            lists[old].remove(z)
        if new == 0:
            self.pages -= z.cls.pages_per_zspage
        else:
            lists[new].insert(0, z)

    def malloc(self, size: int, handle: int) -> None:
        cls = self.table[size]
        lists = self._lists(cls)
        for g in range(10, 0, -1):  # find_get_zspage
            if lists[g]:
                z, old = lists[g][0], g
                break
        else:
            z, old = _RefZspage(cls), -1
            self.pages += cls.pages_per_zspage
        z.handles.append(handle)
        self.where[handle] = z
        self._move(z, old)

    def free(self, handle: int) -> None:
        z = self.where.pop(handle)
        old = _ref_group(z.cls, len(z.handles))
        z.handles.remove(handle)
        self._move(z, old)

    def compact(self) -> None:
        for size in sorted(self.lists, reverse=True):
            lists = self.lists[size]
            cls = next(c for c in self.table if c.size == size)
            opz = cls.objs_per_zspage
            for g in range(1, 12):
                for z in lists[g]:
                    z.handles.sort()  # the model builds its reverse map in handle order

            dst: _RefZspage | None = None
            while _ref_can_compact(lists, dst, opz):
                if dst is None:
                    dst = next((lists[g].pop(0) for g in range(10, 0, -1) if lists[g]), None)
                    if dst is None:
                        break
                src = next((lists[g].pop(0) for g in range(1, 11) if lists[g]), None)
                if src is None:
                    break
                k = min(len(src.handles), opz - len(dst.handles))
                moved = src.handles[len(src.handles) - k :]
                del src.handles[len(src.handles) - k :]
                dst.handles.extend(moved)
                for h in moved:
                    self.where[h] = dst
                self._move(src, -1)  # putback, or freed when empty
                if len(dst.handles) == opz:
                    self._move(dst, -1)
                    dst = None
            if dst is not None:
                self._move(dst, -1)


def _ref_can_compact(lists: list[list[_RefZspage]], dst: _RefZspage | None, opz: int) -> bool:
    """zs_can_compact > 0 (an isolated dst still counts)."""
    zs = [z for g in range(1, 12) for z in lists[g]] + ([dst] if dst else [])
    return len(zs) * opz - sum(len(z.handles) for z in zs) >= opz


def _same_placement(pool: ZsPool, ref: RefPool) -> None:
    assert pool.pages == ref.pages
    for size, lists in ref.lists.items():
        probe = max(1, size - ZS_HANDLE_SIZE)
        got = pool.fullness(probe)
        by_zid: dict[int, set[int]] = {}
        for h, z in ref.where.items():
            if z.cls.size == size:
                by_zid.setdefault(pool.zspage_of(h), set()).add(h)
        for g in range(1, 11):
            want = [frozenset(z.handles) for z in lists[g]]
            have = [frozenset(by_zid.get(zid, ())) for zid in got[g - 1]]
            assert have == want, (size, g)
        full = {frozenset(z.handles) for z in lists[11]}
        listed = {zid for grp in got for zid in grp}
        assert {frozenset(hs) for zid, hs in by_zid.items() if zid not in listed} == full, size


@pytest.mark.parametrize(
    ("chain", "seed", "sizes"),
    [
        (8, 1, (1400, 2600)),  # lz4-like: few objects per zspage, a group change almost every call
        (8, 2, (24, 200)),  # many objects per zspage: long stretches within one group
        (4, 3, (1, PAGE)),
        (16, 4, (3000, PAGE)),  # huge and near-huge classes
    ],
)
def test_placement_matches_reference_model(chain: int, seed: int, sizes: tuple[int, int]) -> None:
    """Op by op, the pool puts every object in the zspage mm/zsmalloc.c would, and
    keeps each fullness group in the kernel's list order (checked every step)."""
    rng = random.Random(seed)
    pool = ZsPool(chain)
    ref = RefPool(chain)
    live: list[int] = []
    lo, hi = sizes
    for step in range(3000):
        r = rng.random()
        phase = (step // 500) % 2  # alternate growth and shrink phases
        if live and r < (0.35 if phase == 0 else 0.65):
            i = rng.randrange(len(live)) if rng.random() < 0.7 else len(live) - 1
            h = live.pop(i)
            pool.free(h)
            ref.free(h)
        else:
            size = rng.randint(lo, hi) if rng.random() < 0.9 else rng.choice((lo, hi))
            h = pool.malloc(size)
            ref.malloc(size, h)
            live.append(h)
        if step % 700 == 699:
            pool.compact()
            ref.compact()
        if step % 7 == 0 or step < 200:
            _same_placement(pool, ref)
    pool.check()
    _same_placement(pool, ref)
    for h in live:
        pool.free(h)
        ref.free(h)
    _same_placement(pool, ref)
    pool.check()
    assert pool.pages == 0
