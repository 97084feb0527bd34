"""The mm model: page tables, LRU reclaim, faults, readahead, fork/exit, swapoff."""

from __future__ import annotations

import random
import warnings

import pytest

import swapops
from swapops.mm import MM, DataMismatchError, is_swap_pte, pte_entry, swap_pte
from swapops.runner import DEFAULT_STACKS, backend_of, missing_modules
from swapops.workloads import EXIT, FORK, MUNMAP, OP_SHIFT, READ, SPAWN, WRITE, ContentMix

RAM = 256  # pages: the smallest machines keep these tests fast


def is_frame(pte: object) -> bool:
    """A PTE mapping a frame (an int >= 0; a swap PTE is a negative int, the zero page False)."""
    return type(pte) is int and pte >= 0


def machine(stack: str = "swapfile", size: str = "4M", ram: int = RAM, **mm_kw: object) -> tuple[swapops.SwapSystem, MM]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        system = swapops.SwapSystem(seed=1)
    mix = ContentMix(seed=1)
    mm = MM(system, ram, mix.page, **mm_kw)  # type: ignore[arg-type]
    system.owner = mm
    # Small erase blocks and more spare: a few MiB of flash still leave its FTL room for GC.
    flash = {"pages_per_block": 64, "op": 0.25} if "device=flash" in stack else {}
    system.swapon(stack, size=size, **flash)
    return system, mm


def writes_of(system: swapops.SwapSystem) -> int:
    return sum(int(dev.stats().get("writes", 0)) for top in system.devices for dev in top.layers()
               if dev.KIND == "physical")


def fill(mm: MM, pid: int, pages: int, op: int = WRITE) -> None:
    mm.replay([op] * pages, [pid] * pages, list(range(pages)))


def test_reclaim_keeps_free_memory_and_swaps_out_cold_pages() -> None:
    system, mm = machine()
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    mm.check()
    assert mm.nr_free >= mm.wmark_min
    assert mm.nr_used <= RAM
    st = mm.stats()
    assert st["pageouts"] >= RAM - mm.wmark_high
    assert st["pgscan_anon"] >= st["pgsteal_anon"] == st["pageouts"] + st["clean_drops"]
    core = system.stats()
    # Every page-out allocated an entry; only the non-zero ones were device writes (pswpout).
    assert core["swap_entries_allocated"] == st["pageouts"]
    assert core["pswpout"] == st["pageouts"] - core["swpout_zero"] == writes_of(system)
    # Sequential fill: the first pages are the coldest and went out first.
    assert is_swap_pte(mm.pts[1][0])
    assert is_frame(mm.pts[1][2 * RAM - 1])


def test_reads_of_untouched_memory_map_the_zero_page() -> None:
    _system, mm = machine()
    mm.spawn(1)
    fill(mm, 1, 3 * RAM, op=READ)
    assert mm.nr_used == 0
    assert mm.stats()["zero_page_maps"] == 3 * RAM
    mm.access(1, 5, write=True)
    assert mm.nr_used == 1


def test_clean_swapcache_page_is_dropped_without_a_rewrite() -> None:
    system, mm = machine()
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)  # page 0 is swapped out
    entry = mm.pts[1][0]
    assert is_swap_pte(entry)
    mm.access(1, 0)  # read fault: page back, kept in the swap cache, clean
    frame = mm.pts[1][0]
    assert is_frame(frame) and mm.f_swap[frame] == entry
    assert system.swap_count(pte_entry(entry)) == 0  # only the swap cache holds it
    drops = mm.counters["clean_drops"]
    mm.spawn(2)
    fill(mm, 2, 2 * RAM)  # pressure: page 0 of process 1 is reclaimed again
    assert mm.pts[1][0] == entry  # the same entry, not a new one
    assert mm.counters["clean_drops"] > drops
    assert system.swap_count(pte_entry(entry)) == 1
    mm.check()


def test_clean_drop_costs_no_device_write() -> None:
    system, mm = machine()
    mm.spawn(1)
    fill(mm, 1, RAM)  # fills RAM: some pages go out
    mm.spawn(2)
    fill(mm, 2, RAM)
    swapped = [vp for vp, pte in mm.pts[1].items() if is_swap_pte(pte)]
    assert len(swapped) > 32
    mm.replay([READ] * len(swapped), [1] * len(swapped), swapped)  # read them all back
    drops = mm.counters["clean_drops"]
    mm.spawn(3)
    fill(mm, 3, RAM)  # reclaim again: the clean pages read back are dropped
    assert mm.counters["clean_drops"] - drops > 32
    # Every device write is the page-out of a dirty, non-zero page: the clean
    # drops cost none.
    zero = system.stats()["areas"][0]["swpout_zero"]
    assert writes_of(system) == mm.counters["pageouts"] - zero
    mm.check()


def test_store_to_a_swapped_in_page_drops_the_stale_swap_copy() -> None:
    system, mm = machine()
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    entry = mm.pts[1][0]
    live = system.nr_entries()
    mm.access(1, 0, write=True)  # write fault on a swapped page
    frame = mm.pts[1][0]
    assert is_frame(frame)
    assert mm.f_swap[frame] is None and not mm.f_wp[frame]
    assert pte_entry(entry) not in mm.swapped_entries() and entry not in mm.cache
    assert system.nr_entries() <= live  # the entry was released (reclaim may add others)
    assert mm.counters["swapcache_dirtied"] == 1
    assert mm.f_ck[frame] & 0xFFFFFFFF == 2  # version 2: written again after swap-in
    mm.check()


def test_fork_shares_swap_entries_and_exit_frees_them() -> None:
    system, mm = machine()
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    swapped = [pte for pte in mm.pts[1].values() if is_swap_pte(pte)]
    assert swapped
    mm.fork(1, 2)
    assert all(system.swap_count(pte_entry(e)) == 2 for e in swapped)
    mm.check()
    mm.exit(2)
    assert all(system.swap_count(pte_entry(e)) == 1 for e in swapped)
    mm.exit(1)
    assert system.nr_entries() == 0
    assert mm.nr_used == 0 and not mm.swapped_entries() and not mm.cache
    mm.check()


def test_fork_cow_keeps_the_parents_page() -> None:
    system, mm = machine()
    mm.spawn(1)
    fill(mm, 1, 16)
    frame = mm.pts[1][3]
    before = mm.f_ck[frame]
    mm.fork(1, 2)
    assert mm.f_map[frame] == [1, 2] and mm.f_wp[frame]
    mm.access(2, 3, write=True)
    copy = mm.pts[2][3]
    assert copy != frame and mm.counters["cow"] == 1
    assert mm.f_ck[frame] == before and mm.f_map[frame] == [1]
    assert mm.f_ck[copy] >> 32 != before >> 32  # a new page
    mm.check()


def test_fork_of_a_swapped_page_faulted_by_one_process_is_shared_then_copied() -> None:
    system, mm = machine()
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    entry = mm.pts[1][0]
    mm.fork(1, 2)
    mm.access(1, 0)  # major fault in the parent
    frame = mm.pts[1][0]
    mm.access(2, 0)  # minor: the child finds it in the swap cache
    assert mm.pts[2][0] == frame
    assert mm.counters["swapin_cache_hits"] >= 1
    assert system.swap_count(pte_entry(entry)) == 0
    mm.access(2, 0, write=True)  # shared: COW
    assert mm.pts[2][0] != frame and mm.counters["cow"] == 1
    mm.check()


def test_munmap_frees_frames_and_entries() -> None:
    system, mm = machine()
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    mm.replay([MUNMAP | (2 * RAM << OP_SHIFT)], [1], [0])
    assert not mm.pts[1]
    assert system.nr_entries() == 0 and mm.nr_used == 0
    mm.check()


def test_cluster_readahead_reads_neighbours_and_counts_hits() -> None:
    system, mm = machine("swapfile:rotational=on", page_cluster=3)
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    out = sorted((pte_entry(pte)[1], vp) for vp, pte in mm.pts[1].items() if is_swap_pte(pte))
    # Fault the swapped pages in slot order: after the first adjacent faults the
    # window opens and later faults find their pages read ahead.
    for _off, vp in out[:64]:
        mm.access(1, vp)
    st = mm.stats()
    assert st["swap_ra"] > 0
    assert 0 < st["swap_ra_hit"] <= st["swap_ra"]
    assert st["swapin_cache_hits"] >= st["swap_ra_hit"]
    mm.check()


def _interleaved(stack: str) -> tuple[swapops.SwapSystem, MM]:
    """Two processes written page by page in turn: their pages alternate in the
    swap slots (slot order = eviction order), so slot neighbours are the other
    process's pages and virtual neighbours are every other slot."""
    system, mm = machine(stack, page_cluster=3)
    mm.spawn(1)
    mm.spawn(2)
    n = RAM
    ops = [WRITE] * (2 * n)
    a = [1 + (i & 1) for i in range(2 * n)]
    b = [i >> 1 for i in range(2 * n)]
    mm.replay(ops, a, b)
    return system, mm


def _readahead_owners(mm: MM) -> set[int]:
    """The processes whose swap PTEs point at the pages read ahead (not yet used)."""
    ra = {e for e, f in mm.cache.items() if mm.f_ra[f]}
    return {pid for pid, pt in mm.pts.items() for pte in pt.values() if pte in ra}


@pytest.mark.parametrize("rotational", [False, True])
def test_readahead_follows_swap_use_vma_readahead(rotational: bool) -> None:
    """Process 1 faults its pages in address order, which are every other slot.
    Non-rotational swap: VMA readahead opens its window on the virtual walk and
    reads the process's own PTE neighbours only. Rotational: cluster readahead
    judges by device offsets, which are never adjacent here, so its window
    stays at one page (swapin_nr_pages)."""
    system, mm = _interleaved(f"swapfile:rotational={'on' if rotational else 'off'}")
    assert system.rotational_swap() == rotational
    swapped = sorted(vp for vp, pte in mm.pts[1].items() if is_swap_pte(pte))
    for vp in swapped[:40]:  # a forward walk: the window opens
        mm.access(1, vp)
    st = mm.stats()
    if rotational:
        assert st["swap_ra"] == 0
    else:
        assert st["swap_ra"] > 0 and st["swap_ra_hit"] > 0
        assert _readahead_owners(mm) == {1}
    mm.check()


def test_vma_readahead_window_stays_in_the_pmd() -> None:
    """swap_vma_ra_win clips the window to the fault's 2 MiB (512-page) PMD."""
    _system, mm = _interleaved("swapfile")
    swapped = sorted(vp for vp, pte in mm.pts[1].items() if is_swap_pte(pte))
    for vp in swapped[:40]:
        mm.access(1, vp)
    ra = {e for e, f in mm.cache.items() if mm.f_ra[f]}
    vps = [vp for vp, pte in mm.pts[1].items() if pte in ra]
    last = swapped[39]
    assert vps and all(last < vp <= last + 32 and vp >> 9 == last >> 9 for vp in vps)


def test_refault_soon_after_eviction_is_activated() -> None:
    """workingset_refault: a page swapped in shortly after its eviction (refault
    distance within the active list) goes to the active list; one evicted long
    ago does not."""
    _system, mm = machine(page_cluster=0)
    mm.spawn(1)
    fill(mm, 1, RAM)
    for _ in range(3):  # make the first half hot: referenced twice, activated
        for vp in range(RAM // 2):
            mm.access(1, vp)
        fill(mm, 1, RAM + 64)  # pressure: the cold half goes out
    assert mm.nr_lru[2] > 0
    old = next(vp for vp, pte in sorted(mm.pts[1].items()) if is_swap_pte(pte))
    fill(mm, 1, 4 * RAM)  # many evictions since: a long refault distance
    before = mm.counters["workingset_activate_anon"]
    mm.access(1, old)
    st = mm.stats()
    assert st["workingset_refault_anon"] >= 1
    assert st["workingset_activate_anon"] == before  # too far: inactive
    # A page evicted by the last reclaim comes back at once: activated.
    shadows = {e: a for e in mm.swapped_entries() if (a := mm.shadow_of(e)) is not None}
    recent = max(shadows, key=shadows.__getitem__)
    vp = next(v for v, pte in mm.pts[1].items() if pte == swap_pte(recent))
    mm.access(1, vp)
    assert mm.counters["workingset_activate_anon"] == before + 1
    assert mm.f_lru[mm.pts[1][vp]] == 2
    mm.check()


def test_readahead_off_with_page_cluster_zero() -> None:
    _system, mm = machine(page_cluster=0)
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    out = sorted((pte_entry(pte)[1], vp) for vp, pte in mm.pts[1].items() if is_swap_pte(pte))
    for _off, vp in out[:64]:
        mm.access(1, vp)
    assert mm.stats()["swap_ra"] == 0


def test_swapoff_walks_every_pte_of_every_process() -> None:
    system, mm = machine()
    for pid in (1, 2, 3):
        mm.spawn(pid)
        fill(mm, pid, RAM)
    mm.fork(1, 4)
    ptes = mm.nr_ptes()
    swap_ptes = sum(1 for pt in mm.pts.values() for p in pt.values() if is_swap_pte(p))
    assert swap_ptes
    report = system.swapoff(system.devices[0])
    assert report.pte_visits == ptes
    assert not report.restored  # the owner claimed every entry
    assert all(not is_swap_pte(p) for pt in mm.pts.values() for p in pt.values())
    assert not mm.swapped_entries() and not mm.cache
    assert mm.nr_used > RAM  # brought back beyond RAM: counted as overcommit
    assert mm.counters["swapoff_pte_visits"] == ptes


def test_out_of_swap_space_keeps_pages_and_overcommits() -> None:
    system, mm = machine(size="200K")  # 49 slots
    mm.spawn(1)
    fill(mm, 1, 3 * RAM)
    st = mm.stats()
    assert st["swapout_failures"] > 0
    assert st["overcommit_peak"] > 0
    assert system.devices[0].used == system.devices[0].size
    mm.check()


def test_corrupted_data_is_detected() -> None:
    _system, mm = machine()
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    entry = mm.pts[1][0]
    mm._sw_put(entry, mm._sw_key(entry) + 1, mm._sw_shadow(entry, 0))  # pretend another version went out
    with pytest.raises(DataMismatchError):
        mm.access(1, 0)


def random_events(rng: random.Random, n: int, pages: int) -> tuple[list[int], list[int], list[int]]:
    """A random stream with every kind of event; pids stay valid."""
    ops, a, b = [SPAWN, SPAWN], [1, 2], [0, 0]
    alive = [1, 2]
    next_pid = 3
    for _ in range(n):
        r = rng.random()
        if r < 0.01 and len(alive) < 6:
            parent = rng.choice(alive)
            ops.append(FORK)
            a.append(parent)
            b.append(next_pid)
            alive.append(next_pid)
            next_pid += 1
        elif r < 0.015 and len(alive) > 1:
            pid = alive.pop(rng.randrange(len(alive)))
            ops.append(EXIT)
            a.append(pid)
            b.append(0)
        elif r < 0.02:
            start = rng.randrange(pages)
            ops.append(MUNMAP | (rng.randrange(1, 16) << OP_SHIFT))
            a.append(rng.choice(alive))
            b.append(start)
        else:
            ops.append(WRITE if rng.random() < 0.4 else READ)
            a.append(rng.choice(alive))
            b.append(rng.randrange(pages))
    return ops, a, b


STACKS = list(DEFAULT_STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_random_streams_keep_mm_and_core_consistent(stack: str) -> None:
    missing = missing_modules([stack])
    if missing:
        pytest.skip(f"module {missing[stack]} not installed")
    system, mm = machine(stack, size="2M")
    ops, a, b = random_events(random.Random(stack), 6000, 3 * RAM // 2)
    for i in range(0, len(ops), 500):
        mm.replay(ops[i : i + 500], a[i : i + 500], b[i : i + 500])
        mm.check()
    assert system.stats()["swap_entries_allocated"] > 0
    assert mm.counters["pgmajfault"] + mm.counters["swapin_cache_hits"] > 0
    # Take the physical backend away: every page stays readable afterwards.
    top = system.devices[0]
    system.swapoff(backend_of(top), owner=mm)
    mm.check()
    for pid, pt in list(mm.pts.items()):
        vps = list(pt)
        mm.replay([READ] * len(vps), [pid] * len(vps), vps)  # verify=True checks every byte


# ---------------------------------------------------------------- vm_swap_full


def test_swap_full_frees_the_swap_copy_on_swapin() -> None:
    """More than half of swap in use: a swap-in gives its slot back (do_swap_page)."""
    system, mm = machine(size="1536K")  # 383 slots
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    assert mm._swap_full()  # ~300 of 383 slots used
    entry = mm.pts[1][0]
    assert is_swap_pte(entry)
    used = system.devices[0].used
    mm.access(1, 0)
    frame = mm.pts[1][0]
    assert is_frame(frame)
    assert mm.f_swap[frame] is None and pte_entry(entry) not in mm.swapped_entries() and entry not in mm.cache
    assert mm.f_wp[frame] == 0  # exclusive and dirty now
    assert mm.counters["swap_cache_freed_full"] >= 1
    assert system.devices[0].used < used
    mm.check()


def test_swap_not_full_keeps_the_swap_copy() -> None:
    _system, mm = machine(size="4M")  # 1023 slots, ~300 used
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    assert not mm._swap_full()
    mm.access(1, 0)
    frame = mm.pts[1][0]
    assert is_frame(frame) and mm.f_swap[frame] is not None
    assert mm.counters["swap_cache_freed_full"] == 0


def test_swap_full_keeps_a_copy_other_ptes_still_reference() -> None:
    system, mm = machine(size="1536K")
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    mm.fork(1, 2)  # both processes' PTEs hold page 0's entry
    entry = mm.pts[1][0]
    assert is_swap_pte(entry) and system.swap_count(pte_entry(entry)) == 2
    mm.access(1, 0)
    frame = mm.pts[1][0]
    assert is_frame(frame) and mm.f_swap[frame] == entry  # folio_swapped: kept
    mm.check()


def test_swap_full_frees_the_copy_of_a_page_reclaim_activates(monkeypatch: pytest.MonkeyPatch) -> None:
    """shrink_folio_list's activate_locked: a referenced swap-cache page loses its copy."""
    _system, mm = machine()
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    mm.access(1, 0)  # swap not full: the page stays in the swap cache
    frame = mm.pts[1][0]
    assert is_frame(frame) and mm.f_swap[frame] is not None
    monkeypatch.setattr(mm, "_swap_full", lambda: True)
    for _ in range(50):
        mm.f_ref[frame] = 1  # referenced at every scan: activated on the second
        mm._shrink()
        if mm.f_lru[frame] == 2:
            break
    assert mm.f_lru[frame] == 2
    assert mm.f_swap[frame] is None
    assert mm.counters["swap_cache_freed_full"] >= 1
    mm.check()


def test_swap_full_lets_a_fitting_workload_run_without_overcommit() -> None:
    """Anonymous memory that fits RAM + swap: no swap-out failure once cached copies are freed."""
    _system, mm = machine(size="2M")  # 511 slots + 256 frames for 512 pages
    mm.spawn(1)
    pages = 2 * RAM
    fill(mm, 1, pages)
    for _ in range(3):
        fill(mm, 1, pages, op=READ)
    fill(mm, 1, pages)
    st = mm.stats()
    assert st["swap_cache_freed_full"] > 0
    assert st["swapout_failures"] == 0
    assert st["overcommit_allocs"] == 0
    mm.check()


# ---------------------------------------------------------------- bad input


def test_events_for_a_missing_process_are_config_errors() -> None:
    _system, mm = machine()
    mm.spawn(1)
    with pytest.raises(swapops.ConfigError, match="process 7, which does not exist"):
        mm.replay([WRITE], [7], [3])
    with pytest.raises(swapops.ConfigError, match="process 7"):
        mm.replay([FORK], [7], [8])
    with pytest.raises(swapops.ConfigError, match="process 7"):
        mm.replay([EXIT], [7], [0])
    with pytest.raises(swapops.ConfigError, match="process 7"):
        mm.replay([MUNMAP | (4 << OP_SHIFT)], [7], [0])
    mm.replay([WRITE], [1], [3])  # the machine still works
    mm.check()


def test_ram_limits_are_config_errors_and_frames_are_made_on_use() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        system = swapops.SwapSystem(seed=1)
    page = ContentMix(seed=1).page
    with pytest.raises(swapops.ConfigError, match=r"RAM of 0 pages \(0K\) is too small \(at least 128 pages, 512K\)"):
        MM(system, 0, page)
    mm = MM(system, 1 << 40, page)  # 4 PiB of RAM: no frame exists until one is used
    assert len(mm.f_ck) == 0 and not mm.free
    mm.spawn(1)
    fill(mm, 1, 10)
    assert len(mm.f_ck) == 10 and mm.nr_used == 10
    mm.munmap(1, 0, 5)
    fill(mm, 1, 5)  # freed frames are reused before new ones are made
    assert len(mm.f_ck) == 10
    mm.check()


def test_swap_allocator_gets_the_machines_cpus() -> None:
    """A run's CPUs reach the swapfile's per-CPU cluster allocator (unless the stack
    names its own), and reclaim allocates on the faulting process's CPU."""
    from swapops.runner import Run, build_workload

    r = Run(seed=3, ram="1M", cpus=2)
    dev = r.swapon("swapfile", size="8M")
    assert dev.allocator is not None and dev.allocator.nr_cpus == 2
    r.replay(build_workload("usemem", ram="1M", seed=3, events=4000, pages=600, processes=2))
    caches = dev.allocator._caches
    assert caches[0] is not caches[1] and caches[0][0] >= 0 and caches[1][0] >= 0  # both CPUs allocated
    own = Run(seed=3, ram="1M", cpus=4).swapon("swapfile:cpus=1", size="8M")
    assert own.allocator is not None and own.allocator.nr_cpus == 1


# ---------------------------------------------------------------- large folios


def _readback(mm: MM) -> None:
    for pid, pt in list(mm.pts.items()):
        vps = list(pt)
        mm.replay([READ] * len(vps), [pid] * len(vps), vps)  # verify=True checks every byte


def test_large_folios_swap_out_whole_and_come_back_page_by_page() -> None:
    system, mm = machine(thp_orders=(4,))
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    mm.check()
    st = mm.stats()
    assert st["mthp_anon_fault_alloc"] == 2 * RAM // 16  # every aligned 16-page range, one fault each
    assert st["faults_anon"] == 2 * RAM // 16
    assert st["mthp_swpout"] > 0 and st["mthp_swpout_fallback"] == 0 and st["thp_swpout"] == 0
    core = system.stats()
    assert core["pswpout"] + core["swpout_zero"] == st["pageouts"] == 16 * st["mthp_swpout"]
    # Its entries are per page: page 1 of the first folio is its own entry, slot 1 of the run.
    e0, e1 = mm.pts[1][0], mm.pts[1][1]
    assert is_swap_pte(e0) and pte_entry(e1) == (pte_entry(e0)[0], pte_entry(e0)[1] + 1)
    majors = mm.stats()["pgmajfault"]
    mm.replay([READ], [1], [1])  # one page comes back, order 0 (readahead may bring neighbours)
    assert is_frame(mm.pts[1][1]) and mm.pts[1][1] not in mm._folios
    assert mm.stats()["pgmajfault"] == majors + 1
    mm.check()
    _readback(mm)
    mm.check()


def test_large_folio_is_split_when_no_contiguous_run_is_free() -> None:
    """A swap *file* (not SWP_BLKDEV) has no large orders: shrink_folio_list splits and
    swaps the pages out one by one (thp_swpout_fallback for a PMD-sized folio)."""
    system, mm = machine("swapfile:blockdev=false", size="8M", ram=1024, thp_orders=(9,))
    mm.spawn(1)
    fill(mm, 1, 3 * 1024)
    mm.check()
    st = mm.stats()
    assert st["thp_swpout"] == 0 and st["thp_swpout_fallback"] == st["mthp_swpout_fallback"] > 0
    assert st["mthp_split"] >= st["mthp_swpout_fallback"] and st["thp_split_page"] == st["mthp_split"]
    assert system.stats()["swap_entries_allocated"] == st["pageouts"] > 0
    _readback(mm)
    mm.check()


def test_pmd_sized_folio_counts_thp_swpout() -> None:
    _system, mm = machine(size="8M", ram=1024, thp_orders=(9,))
    mm.spawn(1)
    fill(mm, 1, 3 * 1024)
    st = mm.stats()
    assert st["thp_swpout"] == st["mthp_swpout"] > 0
    # Only clusters with every slot free take an order-9 folio (cluster 0 holds the header).
    assert st["thp_swpout_fallback"] == st["mthp_swpout_fallback"] < st["thp_swpout"]
    _readback(mm)
    mm.check()


def test_large_folio_under_vswap_is_activated_not_split() -> None:
    """vswap v5: physical slots at the folio's order or AOP_WRITEPAGE_ACTIVATE."""
    missing = missing_modules(["vswap>swapfile"])
    if missing:
        pytest.skip("vswap not installed")
    system, mm = machine("vswap>swapfile:blockdev=false", thp_orders=(4,))
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    mm.check()
    st = mm.stats()
    assert st["large_pageout_activated"] > 0
    assert st["mthp_swpout_fallback"] == 0 and st["mthp_swpout"] == 0
    assert system.devices[0].stats()["large_activated"] == st["large_pageout_activated"]


def test_orders_fall_back_when_the_range_is_not_empty() -> None:
    _system, mm = machine(thp_orders=(4, 2))
    mm.spawn(1)
    mm.replay([READ], [1], [5])  # the zero page in the first 16-page range, not in pages 0-3
    mm.replay([WRITE], [1], [0])
    assert mm.stats()["mthp_anon_fault_alloc"] == 1 and len(mm._folios[mm.pts[1][0]]) == 4  # order 2
    mm.replay([WRITE], [1], [4])  # pages 4-7 hold the zero page at 5: order 0
    assert mm.stats()["mthp_anon_fault_alloc"] == 1 and mm.pts[1].get(6) is None
    mm.check()


@pytest.mark.parametrize("stack", ["swapfile", "zswap>swapfile", "vswap>swapfile", "flashbuf>swapfile:device=flash"])
def test_random_streams_with_large_folios_stay_consistent(stack: str) -> None:
    missing = missing_modules([stack])
    if missing:
        pytest.skip(f"module {missing[stack]} not installed")
    system, mm = machine(stack, size="2M", thp_orders=(2, 4))
    rng = random.Random(stack)
    ops, a, b = random_events(rng, 6000, 3 * RAM // 2)
    for i in range(0, len(ops), 500):
        mm.replay(ops[i : i + 500], a[i : i + 500], b[i : i + 500])
        mm.check()
    assert mm.counters["mthp_anon_fault_alloc"] > 0 and mm.counters["mthp_split"] > 0
    system.swapoff(backend_of(system.devices[0]), owner=mm)
    mm.check()
    _readback(mm)


# ---------------------------------------------------------------- page cache and swappiness


def test_a_large_page_cache_is_trimmed_before_anonymous_memory() -> None:
    """cache_trim_mode: inactive file >> DEF_PRIORITY is non-zero, so reclaim takes file pages only."""
    system, mm = machine(ram=12288, size="16M", file_pages=4096 + 512)
    mm.spawn(1)
    fill(mm, 1, 12288 - 4608 + 200)  # needs a few hundred pages back: all from the cache
    mm.check()
    st = mm.stats()
    assert st["pgsteal_file"] > 0 and st["pgscan_anon"] == 0 and system.stats()["swap_entries_allocated"] == 0


@pytest.mark.parametrize("swappiness", [0, 60, 200])
def test_swappiness_divides_reclaim_between_the_lists(swappiness: int) -> None:
    _system, mm = machine(ram=1024, size="8M", file_pages=256, swappiness=swappiness)
    mm.spawn(1)
    fill(mm, 1, 1024)
    mm.check()
    st = mm.stats()
    if swappiness == 0:  # file only while there is any
        assert st["pgsteal_file"] > 0 and (mm.nr_file == 0 or st["pgscan_anon"] == 0)
    elif swappiness == 200:
        assert st["pgsteal_file"] == 0 and st["pgsteal_anon"] > 0
    else:
        assert st["pgsteal_file"] > 0 and st["pgsteal_anon"] > 0  # SCAN_FRACT: both lists
    _readback(mm)


def test_page_cache_and_swappiness_are_checked() -> None:
    with pytest.raises(swapops.ConfigError):
        machine(swappiness=201)
    with pytest.raises(swapops.ConfigError):
        machine(file_pages=RAM)


def test_zswap_pool_pages_are_ram_the_workload_loses() -> None:
    """zsmalloc's pages come out of free memory: the mm model counts the pool as used RAM,
    so the same workload needs more reclaim with zswap than without."""
    missing = missing_modules(["zswap>swapfile"])
    if missing:
        pytest.skip("zswap not installed")
    plain_system, plain = machine(ram=1024, size="8M")
    z_system, z = machine("zswap:ram=4M>swapfile", ram=1024, size="8M")  # the pool limit: 20 % of these 4M
    for mm in (plain, z):
        mm.spawn(1)
        fill(mm, 1, 3 * 1024)
        mm.replay([READ] * 1024, [1] * 1024, list(range(1024)))
        mm.check()
    pool = z_system.devices[0].stats()["pool_pages"]
    assert pool > 0 and z.nr_held == pool == z_system.ram_held() and plain.nr_held == 0
    frames = len(z.f_ck) - len(z.free)
    # and zswap writeback's swap-cache folios not reclaimed yet
    assert z.nr_used == frames + pool + z.nr_wb and z.nr_free == z.ram_pages - z.nr_used
    assert z.counters["pgsteal_anon"] > plain.counters["pgsteal_anon"]
    assert plain_system.ram_held() == 0


def test_zswap_writeback_leaves_its_folio_in_the_swap_cache() -> None:
    """``zswap_writeback_entry``: a written-back entry's folio stays in the swap
    cache, clean and unmapped, until reclaim drops it; a fault on it is a minor
    fault (no device read, no readahead hit), and the page reads back intact."""
    missing = missing_modules(["zswap>swapfile"])
    if missing:
        pytest.skip("zswap not installed")
    system, mm = machine("zswap:ram=4M>swapfile", ram=1024, size="8M")
    mm.spawn(1)
    fill(mm, 1, 3 * 1024)
    mm.check()
    c = mm.counters
    assert c["writeback_folios"] > 0 and mm.nr_wb == 0  # every writeback of a direct top zswap is named
    cached = [(e, f) for e, f in mm.cache.items() if not mm.f_map[f] and not mm.f_ra[f]]
    assert cached, "no writeback folio left in the swap cache"
    entry, frame = cached[0]
    pt = mm.pts[1]
    vp = next(v for v, pte in pt.items() if pte == entry)
    before = (c["pgmajfault"], c["swap_ra_hit"], c["swapin_cache_hits"], system.stats()["pswpin"])
    mm.access(1, vp)
    assert pt[vp] == frame
    after = (c["pgmajfault"], c["swap_ra_hit"], c["swapin_cache_hits"], system.stats()["pswpin"])
    assert after == (before[0], before[1], before[2] + 1, before[3])
    mm.check()
    _readback(mm)


@pytest.mark.parametrize("stack", ["swapfile", "vswap>swapfile"])
def test_swapped_pages_beyond_the_arrays_go_to_the_dict(stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offsets past _SW_DIRECT (a sparse allocator) keep their key and shadow in
    MM._sw_far: the same faults, readahead, refaults and frees as the arrays."""
    import swapops.mm as mm_mod

    runs = []
    for direct in (1 << 27, 64):
        monkeypatch.setattr(mm_mod, "_SW_DIRECT", direct)
        system, mm = machine(stack)
        mm.spawn(1)
        fill(mm, 1, 3 * RAM)
        mm.fork(1, 2)
        rng = random.Random(3)
        vps = [rng.randrange(3 * RAM) for _ in range(4 * RAM)]
        mm.replay([READ if i % 3 else WRITE for i in range(len(vps))], [1 + (i & 1) for i in range(len(vps))], vps)
        mm.check()
        if direct == 64:
            assert mm._sw_far and all(len(a) <= 64 for a in mm._sw_ck)
        runs.append(mm.stats())
        mm.exit(2)
        mm.exit(1)
        assert not mm.swapped_entries() and not mm._sw_far
    assert runs[0] == runs[1]
