"""Tests for the kernel-faithful swap cluster allocator (swapops.cluster)."""

from __future__ import annotations

import random
import tracemalloc

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from swapops.cluster import (
    CLUSTER_SIZE,
    PMD_ORDER,
    UNBOUNDED_SIZE,
    ClusterAllocator,
)
from swapops.errors import ConfigError, InvalidEntryError

C = CLUSTER_SIZE


def states(a: ClusterAllocator) -> list[str]:
    return [a.cluster_state(ci) for ci in range(a.nr_clusters)]


# -- construction ------------------------------------------------------------


def test_fresh_device_puts_bad_clusters_on_nonfull0_and_the_rest_on_free() -> None:
    a = ClusterAllocator(4 * C, bad_slots=(0, 3 * C + 7))
    assert states(a) == ["nonfull", "free", "free", "nonfull"]
    assert a.size == 4 * C - 2
    assert a.used == 0
    s = a.stats()
    assert (s["clusters_free"], s["nonfull_0"], s["clusters_with_table"]) == (2, 2, 2)
    assert a.is_bad(0) and a.is_bad(3 * C + 7) and not a.is_bad(1)
    a.check_invariants()


def test_tail_of_last_cluster_is_bad_but_not_counted_in_size() -> None:
    a = ClusterAllocator(1000)
    assert a.size == 1000
    assert states(a) == ["free", "nonfull"]
    assert a.cluster_count(1) == 1024 - 1000
    assert all(a.is_bad(s) for s in range(1000, 1024))
    got = []
    while (off := a.alloc(0)) >= 0:
        got.append(off)
    assert sorted(got) == list(range(1000))
    assert a.used == a.size
    a.check_invariants()


def test_one_tib_device_is_built_lazily() -> None:
    tracemalloc.start()
    try:
        a = ClusterAllocator(1 << 28, bad_slots=(0,))
        built = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert built < 12 * 1024 * 1024, f"1 TiB allocator took {built} bytes"
    assert a.size == (1 << 28) - 1
    assert a.nr_clusters == 1 << 19
    s = a.stats()
    assert s["clusters_free"] == (1 << 19) - 1
    assert s["clusters_with_table"] == 1
    assert a.alloc(0) == 1
    assert a.alloc(PMD_ORDER) == C
    a.free(C, C)
    a.free(1, 1)
    assert a.used == 0
    a.check_invariants()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"nr_slots": 0},
        {"nr_slots": 10, "bad_slots": (10,)},
        {"nr_slots": 10, "bad_slots": (-1,)},
        {"nr_slots": 10, "bad_slots": (3, 3)},
        {"nr_slots": 2, "bad_slots": (0, 1)},
        {"nr_slots": 10, "nr_cpus": 0},
        {"nr_slots": None, "discard": True},
    ],
)
def test_bad_configuration_is_refused(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        ClusterAllocator(**kwargs)


# -- list transitions ----------------------------------------------------------


def test_first_allocation_skips_the_header_and_leaves_the_cluster_on_frag() -> None:
    a = ClusterAllocator(4 * C, bad_slots=(0,))
    assert [a.alloc(0) for _ in range(3)] == [1, 2, 3]
    assert a.cluster_state(0) == "frag"
    assert a.stats()["alloc_fast"] == 2  # the 2nd and 3rd came from the CPU's current cluster
    a.check_invariants()


def test_full_then_nonfull_on_free_then_full_again() -> None:
    a = ClusterAllocator(2 * C)
    assert [a.alloc(0) for _ in range(C)] == list(range(C))
    assert a.cluster_state(0) == "full"
    a.free(100, 1)
    assert a.cluster_state(0) == "nonfull"
    assert a.alloc(0) == 100  # nonfull[0] is scanned before the free list
    assert a.cluster_state(0) == "full"
    a.check_invariants()


def test_empty_cluster_goes_to_free_tail_drops_its_table_and_order() -> None:
    a = ClusterAllocator(4 * C)
    assert [a.alloc(9) for _ in range(4)] == [0, C, 2 * C, 3 * C]  # initial free list: index order
    assert states(a) == ["full"] * 4
    assert a.cluster_order(2) == 9
    a.free(2 * C, C)
    assert a.cluster_state(2) == "free"
    assert a.cluster_order(2) == 0
    assert a.stats()["clusters_with_table"] == 3
    a.free(0, C)
    assert a.alloc(9) == 2 * C  # freed clusters are appended: 2 before 0
    assert a.alloc(9) == 0
    assert a.alloc(9) == -1
    assert a.stats()["large_order_failures"] == 1
    a.check_invariants()


def test_partial_free_of_frag_cluster_moves_it_to_nonfull_of_its_order() -> None:
    a = ClusterAllocator(2 * C)
    first = a.alloc(3)
    a.alloc(3)
    assert a.cluster_state(0) == "frag"
    a.free(first, 8)
    assert a.cluster_state(0) == "nonfull"
    assert a.stats()["nonfull_3"] == 1
    a.check_invariants()


def test_split_run_can_be_freed_in_pieces() -> None:
    a = ClusterAllocator(C)
    off = a.alloc(3)
    for start, nr in ((0, 4), (4, 2), (6, 1), (7, 1)):
        a.free(off + start, nr)
    assert a.used == 0
    assert a.cluster_state(0) == "free"
    a.check_invariants()


def test_free_across_a_cluster_boundary() -> None:
    a = ClusterAllocator(2 * C)
    assert (a.alloc(9), a.alloc(9)) == (0, C)
    a.free(C // 2, C)
    assert states(a) == ["nonfull", "nonfull"]
    assert a.used == C
    a.free(0, C // 2)
    a.free(C + C // 2, C // 2)
    assert states(a) == ["free", "free"]
    a.check_invariants()


# -- orders ------------------------------------------------------------------


def test_first_allocation_sets_the_cluster_order() -> None:
    a = ClusterAllocator(2 * C)
    assert a.alloc(2) == 0
    assert a.alloc(3) == C  # cluster 0 is order 2: order 3 needs another cluster
    assert a.alloc(2) == 4
    assert (a.cluster_order(0), a.cluster_order(1)) == (2, 3)
    a.free(0, 4)
    a.free(4, 4)
    assert a.cluster_state(0) == "free" and a.cluster_order(0) == 0
    assert a.alloc(5) == 0  # an empty cluster takes any order
    assert a.cluster_order(0) == 5


def test_large_order_does_not_use_a_cluster_of_another_order() -> None:
    a = ClusterAllocator(C)
    assert a.alloc(0) == 0
    assert a.alloc(1) == -1
    assert a.alloc(0) == 1


@pytest.mark.parametrize("order", range(PMD_ORDER + 1))
def test_every_order_is_naturally_aligned_and_inside_one_cluster(order: int) -> None:
    a = ClusterAllocator(8 * C, bad_slots=(0, 5 * C + 77))
    nr = 1 << order
    taken: set[int] = set()
    a.alloc(0)  # put a used slot in the way
    while (off := a.alloc(order)) >= 0:
        assert off % nr == 0
        assert off // C == (off + nr - 1) // C
        run = set(range(off, off + nr))
        assert not run & taken
        assert not a.is_bad(off) and all(a.is_allocated(s) for s in run)
        taken |= run
    a.check_invariants()
    # clusters 0 and 5 hold bad slots (order 0 forever); order 0 blocks nothing else
    expected = 6 * C if order else 8 * C - 3
    assert len(taken) == expected


def test_order0_steals_from_a_higher_order_cluster() -> None:
    a = ClusterAllocator(2 * C)
    assert a.alloc(1) == 0  # cluster 0: order 1, on frag[1]
    assert [a.alloc(0) for _ in range(C)] == list(range(C, 2 * C))
    assert a.stats()["order0_steals"] == 0
    assert a.alloc(0) == 2
    assert a.stats()["order0_steals"] == 1
    assert a.cluster_order(0) == 1
    a.check_invariants()


def test_order0_fails_only_when_every_slot_is_used() -> None:
    a = ClusterAllocator(3 * C, bad_slots=(0, 700))
    rng = random.Random(5)
    while True:
        order = rng.choice((0, 0, 1, 3))
        if a.alloc(order) < 0 and order == 0:
            break
    assert a.used == a.size
    assert a.stats()["alloc_failures"] == 1


def test_large_orders_disabled_for_a_swap_file() -> None:
    a = ClusterAllocator(4 * C, large_orders=False)
    assert [a.alloc(o) for o in range(1, PMD_ORDER + 1)] == [-1] * PMD_ORDER
    assert a.alloc(0) == 0
    assert a.stats()["large_order_failures"] == PMD_ORDER
    with pytest.raises(ConfigError):
        a.alloc(PMD_ORDER + 1)
    with pytest.raises(ConfigError):
        a.alloc(-1)


def test_bad_slots_are_never_handed_out() -> None:
    rng = random.Random(11)
    nr_slots = 7 * C - 123
    bad = {0, *rng.sample(range(1, nr_slots), 200)}
    a = ClusterAllocator(nr_slots, bad_slots=bad)
    got: set[int] = set()
    while True:
        order = rng.choice((0, 0, 0, 1, 2, 4))
        off = a.alloc(order)
        if off < 0:
            if order == 0:
                break
            continue
        run = set(range(off, off + (1 << order)))
        assert not run & bad and not run & got and max(run) < nr_slots
        got |= run
    assert got == set(range(nr_slots)) - bad
    assert a.used == a.size == nr_slots - len(bad)
    assert not any(a.is_allocated(s) for s in bad)
    a.check_invariants()


# -- discard -------------------------------------------------------------------


def test_emptied_cluster_waits_for_discard_and_is_not_reused() -> None:
    calls: list[tuple[int, int]] = []
    a = ClusterAllocator(2 * C, discard=True, on_discard=lambda s, n: calls.append((s, n)))
    assert a.alloc(0) == 0
    a.free(0, 1)
    assert a.cluster_state(0) == "discard"
    assert a.alloc(0) == C  # cluster 0 is not usable until discarded
    assert calls == []
    assert a.process_discards() == 1
    assert calls == [(0, C)]
    assert a.cluster_state(0) == "free"
    assert a.stats()["discards"] == 1
    assert a.process_discards() == 0
    a.check_invariants()


def test_order0_failure_runs_the_discard_worker_synchronously() -> None:
    calls: list[tuple[int, int]] = []
    a = ClusterAllocator(C, discard=True, on_discard=lambda s, n: calls.append((s, n)))
    assert [a.alloc(0) for _ in range(C)] == list(range(C))
    a.free(0, C)
    assert a.cluster_state(0) == "discard"
    assert a.alloc(9) == -1  # large orders do not force a discard
    assert calls == []
    assert a.alloc(0) == 0
    assert calls == [(0, C)]
    assert a.stats()["sync_discards"] == 1
    a.check_invariants()


@pytest.mark.parametrize(("discard", "expected"), [(True, C), (False, 0)])
def test_discard_prefers_free_clusters_over_nonfull(discard: bool, expected: int) -> None:
    a = ClusterAllocator(3 * C, discard=discard, nr_cpus=2)
    assert (a.alloc(0), a.alloc(0)) == (0, 1)
    a.free(0, 1)
    assert a.cluster_state(0) == "nonfull"
    a.cpu = 1  # no current cluster on this CPU: slow path
    assert a.alloc(0) == expected


# -- SSD per-CPU clusters vs HDD global cluster -----------------------------------


def test_ssd_gives_each_cpu_its_own_cluster() -> None:
    a = ClusterAllocator(4 * C, nr_cpus=2)
    got = []
    for cpu in (0, 1, 0, 1):
        a.cpu = cpu
        got.append(a.alloc(0))
    assert got == [0, C, 1, C + 1]
    a.check_invariants()


def test_rotational_device_shares_one_cluster_between_cpus() -> None:
    a = ClusterAllocator(4 * C, nr_cpus=2, rotational=True)
    got = []
    for cpu in (0, 1, 0, 1):
        a.cpu = cpu
        got.append(a.alloc(0))
    assert got == [0, 1, 2, 3]
    a.check_invariants()


def test_current_cluster_continues_past_a_freed_hole() -> None:
    a = ClusterAllocator(2 * C)
    assert [a.alloc(0) for _ in range(10)] == list(range(10))
    a.free(3, 1)
    assert a.alloc(0) == 10  # the cached next offset, not the hole
    assert [a.alloc(0) for _ in range(C - 11)] == list(range(11, C))
    # The hole sits in a frag cluster (the fast path relocated it there), which
    # the slow path only looks at once no free cluster is left.
    assert a.cluster_state(0) == "frag"
    assert a.alloc(0) == C
    assert [a.alloc(0) for _ in range(C - 1)] == list(range(C + 1, 2 * C))
    assert a.alloc(0) == 3
    assert a.alloc(0) == -1
    a.check_invariants()


# -- unbounded (vswap) -----------------------------------------------------------


def test_unbounded_space_creates_and_drops_clusters() -> None:
    a = ClusterAllocator(None, bad_slots=(0,))
    assert a.size == UNBOUNDED_SIZE - 1
    assert a.alloc(0) == 1
    assert a.alloc(9) == C
    assert a.alloc(9) == 2 * C
    a.free(C, C)
    assert a.cluster_state(1) == "free"
    assert a.stats()["clusters_dropped"] == 1
    assert a.stats()["clusters_with_table"] == 2
    assert a.alloc(9) == C  # the lowest free index is reused
    offs = [a.alloc(0) for _ in range(5000)]
    assert len(set(offs)) == 5000 and min(offs) >= 2
    assert a.cluster_state(10_000) == "free"
    s = a.stats()
    # cluster 0 exists from the start (it holds the bad slot); the rest were created
    assert s["clusters_with_table"] == 1 + s["clusters_created"] - s["clusters_dropped"]
    assert s["clusters_with_table"] == -(-(a.used + 1) // C)  # all full but the last
    a.check_invariants()


# -- freeing errors and inspection -------------------------------------------------


def test_invalid_frees_raise_and_change_nothing() -> None:
    a = ClusterAllocator(2 * C, bad_slots=(0,))
    assert [a.alloc(0) for _ in range(3)] == [1, 2, 3]
    with pytest.raises(InvalidEntryError):
        a.free(2, 3)  # slot 4 was never handed out
    assert a.used == 3 and a.is_allocated(2) and a.is_allocated(3)
    a.free(2, 1)
    with pytest.raises(InvalidEntryError):
        a.free(2, 1)  # double free
    with pytest.raises(InvalidEntryError):
        a.free(0, 1)  # the header
    with pytest.raises(InvalidEntryError):
        a.free(C + 5, 1)  # a cluster never used
    with pytest.raises(InvalidEntryError):
        a.free(1, 0)
    with pytest.raises(InvalidEntryError):
        a.free(C - 1, 2)  # crosses into an unused cluster
    assert a.used == 2
    a.check_invariants()


def test_allocated_runs_merge_neighbours_and_skip_bad_slots() -> None:
    a = ClusterAllocator(4 * C, bad_slots=(0,))
    assert [a.alloc(0) for _ in range(5)] == [1, 2, 3, 4, 5]
    assert a.alloc(2) == C
    a.free(3, 1)
    assert list(a.allocated_runs()) == [(1, 2), (4, 2), (C, 4)]
    for off, nr in list(a.allocated_runs()):
        a.free(off, nr)
    assert a.used == 0
    assert list(a.allocated_runs()) == []


def test_check_invariants_reports_corruption() -> None:
    a = ClusterAllocator(2 * C)
    a.alloc(0)
    a.check_invariants()
    a.used += 1
    with pytest.raises(AssertionError, match="used 2 != 1"):
        a.check_invariants()
    a.used -= 1
    a._tables[0][7] = 1  # a slot marked used behind the count's back
    with pytest.raises(AssertionError, match="count 1 != 2 used"):
        a.check_invariants()
    a._tables[0][7] = 0
    a._flags[0] = 4  # claims full while on frag[0]
    with pytest.raises(AssertionError, match="cluster 0 on list 10 has state 'full'"):
        a.check_invariants()


# -- stateful: against a set-based model -----------------------------------------


class ClusterMachine(RuleBasedStateMachine):
    """Random alloc / free / discard / CPU switches against a set of used slots."""

    def __init__(self, nr_slots: int | None, bad: set[int], **kwargs: bool | int) -> None:
        super().__init__()
        self.bounded = nr_slots is not None
        self.nr_slots = nr_slots or 0
        self.bad = bad
        self.used: set[int] = set()
        self.runs: list[tuple[int, int]] = []
        self.discarded: list[tuple[int, int]] = []
        self.a = ClusterAllocator(
            nr_slots,
            bad_slots=sorted(bad),
            on_discard=lambda s, n: self.discarded.append((s, n)),
            **kwargs,  # type: ignore[arg-type]
        )
        span = self.nr_slots if self.bounded else 4 * C
        tail = set(range(span, -(-span // C) * C))
        assert {s for s in range(span + C) if self.a.is_bad(s)} == bad | tail

    @rule(
        order=st.integers(0, PMD_ORDER),
        times=st.sampled_from([1, 1, 1, 7, 64, 1 << 20]),
    )
    def alloc(self, order: int, times: int) -> None:
        for _ in range(times):  # until the first failure: the last choice fills the device
            if not self.alloc_one(order):
                break

    def alloc_one(self, order: int) -> bool:
        a = self.a
        if not self.bounded and len(self.used) > 8 * C:
            return False  # keep the model small; unbounded space never runs out
        pending = (
            [ci for ci in range(a.nr_clusters) if a.cluster_state(ci) == "discard"]
            if a.discard
            else []
        )
        seen_discards = len(self.discarded)
        off = a.alloc(order)
        nr = 1 << order
        if off < 0:
            if order == 0:
                assert self.bounded and len(self.used) == a.size, "order 0 failed with free slots"
            elif a.large_orders:
                assert self.bounded
                assert a.stats()["clusters_free"] == 0, "large order failed with a free cluster"
            return False
        assert order == 0 or a.large_orders
        assert off % nr == 0 and off // C == (off + nr - 1) // C
        run = set(range(off, off + nr))
        assert not run & self.used, f"{sorted(run & self.used)} handed out twice"
        assert not run & self.bad
        assert not self.bounded or off + nr <= self.nr_slots
        ci = off // C
        if ci in pending:  # only after the synchronous discard of an order-0 failure
            assert order == 0 and (ci * C, C) in self.discarded[seen_discards:]
        if order:
            assert a.cluster_order(ci) == order
        self.used |= run
        self.runs.append((off, nr))
        return True

    @precondition(lambda self: self.runs)
    @rule(pick=st.integers(0, 1 << 16), how=st.sampled_from(["whole", "halves", "head"]))
    def free(self, pick: int, how: str) -> None:
        off, nr = self.runs.pop(pick % len(self.runs))
        if how == "whole" or nr == 1:
            pieces = [(off, nr)]
        elif how == "halves":
            half = nr // 2
            pieces = [(off + half, nr - half), (off, half)]
        else:  # free the first slot, keep the rest allocated
            pieces = [(off, 1)]
            self.runs.append((off + 1, nr - 1))
        for p_off, p_nr in pieces:
            self.a.free(p_off, p_nr)
            self.used -= set(range(p_off, p_off + p_nr))

    @precondition(lambda self: self.runs)
    @rule(pick=st.integers(0, 1 << 16))
    def free_a_cluster(self, pick: int) -> None:
        ci = self.runs[pick % len(self.runs)][0] // C
        mine = [r for r in self.runs if r[0] // C == ci]
        self.runs = [r for r in self.runs if r[0] // C != ci]
        for off, nr in mine:
            self.a.free(off, nr)
            self.used -= set(range(off, off + nr))
        has_bad = any(b // C == ci for b in self.bad) or (
            self.bounded and (ci + 1) * C > self.nr_slots
        )
        assert self.a.cluster_state(ci) in (("nonfull",) if has_bad else ("free", "discard"))

    @rule(slot=st.integers(0, 5 * C), nr=st.integers(1, 4))
    def freeing_unallocated_slots_is_refused(self, slot: int, nr: int) -> None:
        run = set(range(slot, slot + nr))
        if run <= self.used:
            return
        with pytest.raises(InvalidEntryError):
            self.a.free(slot, nr)

    @rule()
    def process_discards(self) -> None:
        waiting = [ci for ci in range(self.a.nr_clusters) if self.a.cluster_state(ci) == "discard"]
        self.discarded.clear()
        assert self.a.process_discards() == len(waiting)
        assert sorted(s // C for s, _ in self.discarded) == waiting
        assert all(n == C and s % C == 0 for s, n in self.discarded)
        assert all(self.a.cluster_state(ci) == "free" for ci in waiting)

    @rule(cpu=st.integers(0, 2))
    def switch_cpu(self, cpu: int) -> None:
        self.a.cpu = cpu % self.a.nr_cpus

    @rule(seed=st.integers(0, 1 << 32), steps=st.integers(1, 300))
    def burst(self, seed: int, steps: int) -> None:
        """A seeded run of the rules above: reaches full devices, steals and forced discards."""
        rng = random.Random(seed)
        pressure = rng.random()
        orders = (0, 0, 0, 0, 0, 1, 2, 3, 4, 9)
        for _ in range(steps):
            x = rng.random()
            if x < 0.06:  # fill the device (an order-0 fill steals from higher orders)
                self.alloc(rng.choice(orders[3:]), 1 << 20)
            elif x < 0.55 + 0.35 * pressure:
                self.alloc_one(rng.choice(orders))
            elif x < 0.93 and self.runs:
                self.free(rng.randrange(1 << 16), rng.choice(("whole", "halves", "head")))
            elif x < 0.95 and self.runs:
                self.free_a_cluster(rng.randrange(1 << 16))
            elif x < 0.98:
                self.process_discards()
            else:
                self.switch_cpu(rng.randrange(3))

    @invariant()
    def agrees_with_model(self) -> None:
        a = self.a
        a.check_invariants()
        assert a.used == len(self.used)
        if self.bounded:  # used + free == size, free counted from the model
            assert a.used + (self.nr_slots - len(self.bad) - len(self.used)) == a.size
        runs = {s for off, nr in a.allocated_runs() for s in range(off, off + nr)}
        assert runs == self.used
        assert all(a.is_allocated(s) for s in self.used)


MACHINE_CONFIGS = {
    "ssd-2cpu": {"nr_slots": 4 * C - 100, "bad": {0}, "nr_cpus": 2},
    "hdd-2cpu": {"nr_slots": 2 * C, "bad": {0}, "rotational": True, "nr_cpus": 2},
    "discard": {"nr_slots": 2 * C + 5, "bad": {0}, "discard": True},
    "discard-1-cluster": {"nr_slots": C, "bad": set(), "discard": True, "nr_cpus": 3},
    "swapfile-no-large": {"nr_slots": 2 * C, "bad": {0}, "large_orders": False},
    "many-bad": {"nr_slots": 3 * C, "bad": set(random.Random(3).sample(range(3 * C), 40))},
    "unbounded": {"nr_slots": None, "bad": {0, C + 3}, "nr_cpus": 2},
}


@pytest.mark.parametrize("name", MACHINE_CONFIGS)
def test_stateful_against_set_model(name: str) -> None:
    cfg = MACHINE_CONFIGS[name]
    run_state_machine_as_test(
        lambda: ClusterMachine(**cfg),  # type: ignore[arg-type]
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
