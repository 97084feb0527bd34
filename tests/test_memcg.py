"""The memory controller of the mm model (swapops.memcg): charging, memory.max, swap.max, swap tiers."""

from __future__ import annotations

import pathlib
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import swapops
from swapops.errors import ConfigError
from swapops.memcg import CgroupConfig, MemcgModel
from swapops.mm import MM, is_swap_pte
from swapops.runner import Run, build_workload
from swapops.scenario import load_scenario, parse_scenario, run_scenario
from swapops.sizes import PAGE_SIZE
from swapops.workloads import EXIT, FORK, MUNMAP, OP_SHIFT, READ, WRITE, ContentMix

ROOT = pathlib.Path(__file__).resolve().parent.parent
RAM = 256  # pages


def machine(stacks: list[tuple[str, str, int]], cgroups: dict[str, Any], tiers: dict[str, Any] | None = None,
            ram: int = RAM, mix: dict[str, float] | None = None,
            thp_orders: tuple[int, ...] = ()) -> tuple[swapops.SwapSystem, MM, MemcgModel]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        system = swapops.SwapSystem(seed=1)
    content = ContentMix.from_parts(mix, seed=1) if mix is not None else ContentMix(seed=1)
    mm = MM(system, ram, content.page, thp_orders=thp_orders)
    system.owner = mm
    memcg = MemcgModel(mm, cgroups, tiers)
    for stack, size, prio in stacks:
        system.swapon(stack, size=size, priority=prio)
    return system, mm, memcg


def fill(mm: MM, pid: int, pages: int, start: int = 0) -> None:
    mm.replay([WRITE] * pages, [pid] * pages, list(range(start, start + pages)))


def read_all(mm: MM) -> None:
    """Read every mapped page back: a lost or wrong page raises (verify is on)."""
    for pid, pt in list(mm.pts.items()):
        for vp in list(pt):
            mm.access(pid, vp)


def entries_of(memcg: MemcgModel, name: str) -> list[Any]:
    cg = memcg.cgroup(name)
    return [e for e, (owner, _c, _n) in memcg.swap_cg.items() if owner is cg]


# ---------------------------------------------------------------------------------- charging


def test_mainline_charges_every_entry_at_allocation_and_uncharges_when_it_is_freed() -> None:
    system, mm, memcg = machine([("swapfile", "8M", -1)], {"a": {"procs": [1]}})
    mm.spawn(1)
    fill(mm, 1, 3 * RAM)
    mm.check()  # memcg.check: charges recounted from the frames and the live entries
    a = memcg.cgroup("a")
    assert a.memory == mm.nr_used - mm.nr_held - mm.nr_wb  # every frame is a's
    swap_ptes = sum(1 for p in mm.pts[1].values() if is_swap_pte(p))
    assert swap_ptes > RAM
    assert a.swap == len(entries_of(memcg, "a")) == system.nr_entries()  # zero pages too: they hold an entry
    mm.exit(1)
    mm.check()
    assert a.swap == 0 and a.memory == 0


def test_vswap_charges_only_physical_slots() -> None:
    # Above zswap: nothing is physical, nothing is charged, while every page has an entry.
    system, mm, memcg = machine([("vswap>zswap>swapfile", "8M", -1)], {"a": {"procs": [1]}})
    mm.spawn(1)
    fill(mm, 1, 3 * RAM)
    mm.check()
    a = memcg.cgroup("a")
    assert len(entries_of(memcg, "a")) > RAM
    assert a.swap == 0
    # Directly above a swapfile: the pages written below are charged, zero pages are not.
    system, mm, memcg = machine([("vswap>swapfile", "8M", -1)], {"a": {"procs": [1]}},
                                mix={"zero": 0.3, "random": 0.1})
    mm.spawn(1)
    fill(mm, 1, 3 * RAM)
    mm.check()
    a = memcg.cgroup("a")
    vswap = system.devices[0]
    assert 0 < a.swap < len(entries_of(memcg, "a"))
    assert a.swap == vswap.charged  # the module's own count of physical slots
    # The same machine with mainline's policy on a swapfile charges every entry.
    _s, mm2, memcg2 = machine([("swapfile", "8M", -1)], {"a": {"procs": [1]}}, mix={"zero": 0.3, "random": 0.1})
    mm2.spawn(1)
    fill(mm2, 1, 3 * RAM)
    assert memcg2.cgroup("a").swap == len(entries_of(memcg2, "a"))


# ---------------------------------------------------------------------------------- memory.max


def test_memory_max_reclaims_the_cgroup_not_the_others() -> None:
    system, mm, memcg = machine([("swapfile", "8M", -1)],
                                {"small": {"procs": [1], "memory_max": 64 * PAGE_SIZE}, "big": {"procs": [2]}},
                                ram=1024)
    mm.spawn(1)
    mm.spawn(2)
    fill(mm, 2, 300)
    fill(mm, 1, 400)
    mm.check()
    small, big = memcg.cgroup("small"), memcg.cgroup("big")
    assert small.memory <= 64  # checked before each fault: an order-0 fault ends at the limit
    assert small.events["max"] > 0 and small.events["oom"] == 0
    assert small.stat["pgsteal"] >= 400 - 64
    assert len(entries_of(memcg, "small")) >= 400 - 64
    # RAM was plenty: the other cgroup kept every page, and kswapd never ran
    assert big.memory == 300 and not entries_of(memcg, "big")
    assert mm.counters["reclaim_runs"] == 0
    read_all(mm)
    mm.check()


def test_memory_max_without_swap_counts_oom_and_loses_nothing() -> None:
    _system, mm, memcg = machine([("swapfile", "8M", -1)],
                                 {"a": {"procs": [1], "memory_max": 64 * PAGE_SIZE, "swap_max": 0}}, ram=1024)
    mm.spawn(1)
    fill(mm, 1, 200)
    a = memcg.cgroup("a")
    assert a.events["oom"] >= 1 and a.overcommit > 0
    assert a.events["swap_max"] > 0 and a.swap == 0
    assert a.memory == 200  # nothing could go: every page is still in memory
    read_all(mm)
    mm.check()


# ---------------------------------------------------------------------------------- swap.max


@pytest.mark.parametrize("stack", ["swapfile", "vswap>swapfile"])
def test_swap_max_refusal_leaves_the_page_in_memory_and_readable(stack: str) -> None:
    limit = 100
    system, mm, memcg = machine([(stack, "8M", -1)], {"a": {"procs": [1], "swap_max": limit * PAGE_SIZE}},
                                mix={"zero": 0.0, "same": 0.0, "random": 1.0})
    mm.spawn(1)
    fill(mm, 1, 3 * RAM)
    mm.check()
    a = memcg.cgroup("a")
    assert a.swap <= limit
    assert a.events["swap_max"] > 0 and a.events["swap_fail"] >= a.events["swap_max"]
    assert mm.counters["swapout_activated"] > 0  # refused pages were activated, as add_to_swap failing
    resident = sum(1 for p in mm.pts[1].values() if isinstance(p, int))
    assert resident >= 3 * RAM - limit  # the rest is still in memory (beyond RAM: overcommitted)
    if stack == "vswap>swapfile":  # the charge is checked after the write: refused entries were freed again
        assert system.devices[0].used == len(entries_of(memcg, "a"))
    read_all(mm)
    mm.check()


def test_swap_half_full_cgroup_frees_swap_copies_on_swapin() -> None:
    _system, mm, memcg = machine([("swapfile", "32M", -1)], {"a": {"procs": [1], "swap_max": 600 * PAGE_SIZE}},
                                 mix={"zero": 0.0, "same": 0.0, "random": 1.0})
    mm.spawn(1)
    fill(mm, 1, 3 * RAM)
    assert memcg.cgroup("a").swap * 2 >= 600  # mem_cgroup_swap_full, though vm_swap_full() is not
    assert not mm._swap_full()
    before = mm.counters["swap_cache_freed_full"]
    mm.replay([READ] * 100, [1] * 100, list(range(100)))
    assert mm.counters["swap_cache_freed_full"] > before
    mm.check()


# ---------------------------------------------------------------------------------- tiers


TIERS = {"fast": [100, 32767], "slow": [-1, 99]}


def test_tiers_keep_each_cgroup_to_its_areas() -> None:
    system, mm, memcg = machine([("swapfile", "4M", 100), ("swapfile", "8M", 10)],
                                {"f": {"procs": [1], "swap_tiers": ["fast"]},
                                 "s": {"procs": [2], "swap_tiers": ["slow"]},
                                 "any": {"procs": [3]}}, TIERS, ram=512)
    for pid in (1, 2, 3):
        mm.spawn(pid)
    for k in range(6):  # interleaved, so each cgroup's reclaim meets the others' areas in use
        for pid in (1, 2, 3):
            fill(mm, pid, 100, start=k * 100)
    mm.check()  # memcg.check asserts every entry of a tiered cgroup is in an allowed area
    assert {e[0] for e in entries_of(memcg, "f")} == {0}
    assert {e[0] for e in entries_of(memcg, "s")} == {1}
    # no tier setting: any area (it stays on the area whose cluster the last
    # allocation was filling, as the per-CPU cluster cache does)
    assert entries_of(memcg, "any")
    report = memcg.report()
    assert set(report["f"]["areas"]) == {"0"} and report["f"]["areas"]["0"]["tier"] == "fast"
    assert report["s"]["memory.swap.tiers.max"] == {"fast": "0", "slow": "max"}
    read_all(mm)
    mm.check()


def test_a_tier_with_no_area_cannot_swap_and_a_swapon_into_it_is_picked_up() -> None:
    system, mm, memcg = machine([("swapfile", "8M", 10)], {"f": {"procs": [1], "swap_tiers": ["fast"]}}, TIERS)
    mm.spawn(1)
    fill(mm, 1, 2 * RAM)
    f = memcg.cgroup("f")
    assert f.swap == 0 and f.events["swap_fail"] > 0
    system.swapon("swapfile", size="8M", priority=200)  # the mask is resolved again (SwapSystem.generation)
    mm._backoff_until = 0
    fill(mm, 1, 2 * RAM, start=2 * RAM)
    assert f.swap > 0 and {e[0] for e in entries_of(memcg, "f")} == {1}
    read_all(mm)
    mm.check()


def test_unlimited_cgroups_change_no_figure() -> None:
    """Cgroups without limits or tiers only count: the mm's figures are those of a run without them."""
    def run(cgroups: dict[str, Any] | None) -> dict[str, Any]:
        r = Run(seed=3, ram="2M", cgroups=cgroups)
        r.swapon("zswap>swapfile", size="8M")
        r.replay(build_workload("zipf", ram="2M", seed=3, events=20000, pages=900, processes=2))
        r.mm.check()
        return r.report()

    plain = run(None)
    grouped = run({"a": {"procs": [1]}, "b": {"procs": [2]}})
    assert "cgroups" not in plain and set(grouped["cgroups"]) == {"root", "a", "b"}
    assert plain["mm"] == grouped["mm"] and plain["totals"] == grouped["totals"]
    assert sum(c["memory.current"] for c in grouped["cgroups"].values()) > 0


# ---------------------------------------------------------------------------------- no page lost


OPS = st.lists(st.tuples(st.sampled_from(["w", "w", "r", "fork", "exit", "munmap"]), st.integers(0, 3),
                         st.integers(0, 400)), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, mem=st.sampled_from([None, 40, 80]), swap=st.sampled_from([None, 0, 60, 300]),
       tiered=st.booleans(), stack=st.sampled_from(["swapfile", "vswap>swapfile", "zswap>swapfile"]),
       large=st.booleans())
def test_no_page_is_lost_with_cgroups_and_tiers(ops: list[tuple[str, int, int]], mem: int | None,
                                               swap: int | None, tiered: bool, stack: str, large: bool) -> None:
    cgroups: dict[str, Any] = {
        "a": {"procs": [1], "memory_max": None if mem is None else mem * PAGE_SIZE,
              "swap_max": None if swap is None else swap * PAGE_SIZE},
        "b": {"procs": [2], "swap_max": 100 * PAGE_SIZE},
    }
    if tiered:
        cgroups["a"]["swap_tiers"] = ["fast"]
        cgroups["b"]["swap_tiers"] = ["slow"]
    system, mm, memcg = machine([(stack, "4M", 100), ("swapfile", "4M", 10)], cgroups, TIERS, ram=192,
                                mix={"zero": 0.2, "random": 0.2}, thp_orders=(2, 4) if large else ())
    live = {1, 2}
    mm.spawn(1)
    mm.spawn(2)
    nxt = 10
    for kind, who, n in ops:
        pids = sorted(live)
        if not pids:
            break
        pid = pids[who % len(pids)]
        if kind in ("w", "r"):
            count = n % 150 + 1
            mm.replay([WRITE if kind == "w" else READ] * count, [pid] * count, list(range(count)))
        elif kind == "fork":
            mm.event(FORK, pid, nxt)  # the child joins its parent's cgroup
            assert memcg.cgroup_of(nxt) is memcg.cgroup_of(pid)
            live.add(nxt)
            nxt += 1
        elif kind == "exit" and len(live) > 1:
            mm.event(EXIT, pid, 0)
            live.discard(pid)
        elif kind == "munmap":
            mm.event(MUNMAP | (8 << OP_SHIFT), pid, n % 100)
    mm.check()
    read_all(mm)
    mm.check()
    for name in ("a", "b"):
        cg = memcg.cgroup(name)
        if cg.swap_max is not None:
            assert cg.swap <= cg.swap_max


# ---------------------------------------------------------------------------------- scenarios


def test_the_tiers_scenario_keeps_each_cgroup_to_its_tier() -> None:
    scn = load_scenario(ROOT / "docs" / "examples" / "tiers.toml")
    result = run_scenario(scn)
    cgs = result["cgroups"]
    web, batch = cgs["web"], cgs["batch"]
    assert [a["tier"] for a in web["areas"].values()] == ["fast"]
    assert [a["tier"] for a in batch["areas"].values()] == ["slow"]
    assert web["areas"]["0"]["stack"] == "zram" and batch["areas"]["1"]["stack"] == "swapfile"
    for cg in (web, batch):
        assert cg["memory.events"]["max"] > 0  # each was held at memory.max and reclaimed itself
        assert cg["memory.current"] <= cg["memory.max"]
        assert sum(a["entries"] for a in cg["areas"].values()) > 0


BASE: dict[str, Any] = {"swapon": [{"stack": "swapfile"}]}


@pytest.mark.parametrize(("extra", "message"), [
    ({"cgroup": {"a": {"memroy_max": "4M"}}}, "scenario: cgroup a: unknown key 'memroy_max'"),
    ({"cgroup": {"a": {"swap_tiers": ["fast"]}}}, "scenario: cgroup a: unknown swap tier 'fast'"),
    ({"tiers": {"x": [0, 10], "y": [5, 20]}}, "scenario: tier y (5..20) overlaps tier x (0..10)"),
    ({"tiers": {"x": [10, 0]}}, "scenario: tier x: range 10..0"),
    ({"tiers": {"x": "fast"}}, "scenario: tier x: 'fast' is not a priority"),
    ({"cgroup": {"a": {"memory_max": "lots"}}}, "scenario: "),
    ({"cgroup": {"a": {"memory_max": "4K"}}}, "scenario: cgroup a: memory_max of 1 pages is too small"),
    ({"cgroup": {"a": {"procs": [1]}, "b": {"procs": [1]}}}, "scenario: cgroup b: process 1 is in cgroup a already"),
    ({"cgroup": {"root": {}}}, "scenario: cgroup name 'root'"),
    ({"cgroup": {"a": 3}}, "scenario: cgroup a must be a table"),
    ({"cgroup": {"a": {"procs": "1"}}}, "scenario: cgroup a: procs must be a list"),
])
def test_bad_cgroup_config_is_a_one_line_error(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_scenario({**BASE, **extra})
    text = str(exc.value)
    assert text.startswith(message) and "\n" not in text


def test_config_accepts_max_and_single_priorities() -> None:
    cfg = CgroupConfig({"a": {"memory_max": "max", "swap_max": "max", "procs": [3]}}, {"t": 5})
    assert cfg.tiers.ranges == {"t": (5, 5)} and cfg.cgroups[1].memory_max is None


def test_a_large_folio_refused_by_swap_max_is_split_and_its_pages_stay() -> None:
    system, mm, memcg = machine([("swapfile", "8M", -1)], {"a": {"procs": [1], "swap_max": 50 * PAGE_SIZE}},
                                mix={"zero": 0.0, "same": 0.0, "random": 1.0}, thp_orders=(4,))
    mm.spawn(1)
    fill(mm, 1, 3 * RAM)
    mm.check()
    a = memcg.cgroup("a")
    assert a.swap <= 50 and a.events["swap_max"] > 0
    assert mm.counters["mthp_swpout"] > 0  # whole folios went out while there was room
    assert mm.counters["mthp_swpout_fallback"] > 0  # then refused ones were split, page by page
    read_all(mm)
    mm.check()


def test_swapoff_brings_pages_back_charged_to_their_cgroups() -> None:
    system, mm, memcg = machine([("swapfile", "4M", 100), ("swapfile", "8M", 10)],
                                {"f": {"procs": [1], "swap_tiers": ["fast"]},
                                 "s": {"procs": [2], "swap_tiers": ["slow"]}}, TIERS, ram=512)
    mm.spawn(1)
    mm.spawn(2)
    fill(mm, 2, 300)
    fill(mm, 1, 300)
    fill(mm, 1, 300, start=300)
    f, s = memcg.cgroup("f"), memcg.cgroup("s")
    assert f.swap > 0 and s.swap > 0
    system.swapoff(system.devices[1])  # the slow area: s's pages come back, charged to s
    mm.check()
    assert s.swap == 0 and s.memory == 300 and f.swap > 0
    read_all(mm)
    mm.check()


def test_cli_runs_the_tiers_scenario_and_refuses_bad_config(tmp_path: pathlib.Path) -> None:
    from click.testing import CliRunner

    from swapops.cli import main

    res = CliRunner().invoke(main, ["run", str(ROOT / "docs" / "examples" / "tiers.toml"), "-q"])
    assert res.exit_code == 0, res.output
    assert "cgroups (pages)" in res.output and "zram (prio 100, fast)" in res.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[[swapon]]\nstack = "swapfile"\n[cgroup.a]\nswap_tiers = ["fast"]\n')
    res = CliRunner().invoke(main, ["run", str(bad)])
    assert res.exit_code == 2
    assert "unknown swap tier 'fast'" in res.output and "Traceback" not in res.output


def test_the_memcg_benchmark_runs(tmp_path: pathlib.Path) -> None:
    import json
    import subprocess
    import sys

    out = tmp_path / "memcg.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_memcg.py"), "--smoke", "--json", str(out)],
                   check=True, capture_output=True, cwd=ROOT / "benchmarks", timeout=300)
    r = json.loads(out.read_text())
    assert set(r["events_per_cpu_s"]) == {"plain", "unlimited", "tiers"}
    assert r["pageouts"]["plain"] == r["pageouts"]["unlimited"]  # cgroups without limits change no figure
