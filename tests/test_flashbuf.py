"""flashbuf: buffer, segments, cleaning, dedup, wear-aware placement, failures, WAF."""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import swapops
from swapops import Folio, SwapDevice
from swapops.errors import ConfigError, DeviceIOError, InvalidStackError, OutOfSwapSpaceError
from swapops.sizes import parse_size

pytest.importorskip("swapops_flashbuf")
pytest.importorskip("swapops_swapfile")

from scripts import load  # noqa: E402
from swapops_flashbuf import FlashbufDevice  # noqa: E402
from swapops_swapfile import SwapfileDevice  # noqa: E402

FLASH = "swapfile:device=flash,op=0.07,pages_per_block=64,gc=greedy"

_experiment = load("docs/examples/flashbuf_experiment.py", "flashbuf_experiment")
compare, format_table, run_workload = _experiment.compare, _experiment.format_table, _experiment.run_workload


def page(key: int) -> bytes:
    return (key | 1 << 62).to_bytes(8, "little") * 512


def system(*plugins: object) -> swapops.SwapSystem:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # modules other engineers are still writing
        return swapops.SwapSystem(plugins=list(plugins))


def fb_of(top: SwapDevice) -> FlashbufDevice:
    for dev in top.layers():
        if isinstance(dev, FlashbufDevice):
            return dev
    raise AssertionError("no flashbuf layer")


def flash_stats(top: SwapDevice) -> dict[str, Any]:
    for dev in top.layers():
        if isinstance(dev, SwapfileDevice):
            return dict(dev.flash.stats())
    raise AssertionError("no swapfile layer")


# -- test-local devices ----------------------------------------------------------


class FlakySwapfile(SwapfileDevice):
    """A swapfile whose writes fail once more than ``fail_after`` pages would be written
    (``-1``: never); a failed write changes nothing."""

    NAME = "flakyfile"

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        self.fail_after = -1  # -1: never fail; n >= 0: n more writes succeed

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        nr = folio.nr_pages
        if self.fail_after >= 0:
            if nr > self.fail_after:
                raise DeviceIOError("flakyfile: injected write error")
            self.fail_after -= nr
        super().swapops_write_folio(offset, folio)


class ExclusiveCache(SwapDevice):
    """A cache that gives its copy away on load (like zswap's exclusive load)."""

    NAME = "exclcache"
    KIND = "cache"
    LOWER_KINDS = frozenset({"physical"})
    NEEDS_LOWER = True

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        self.held: dict[int, bytes] = {}

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        assert self.lower is not None and self.lower.ops is not None
        return self.lower.ops.alloc(order)

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        assert self.lower is not None and self.lower.ops is not None
        for k in range(nr):
            self.held.pop(offset + k, None)
        self.lower.ops.free(offset, nr)

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        for k, p in enumerate(folio.pages()):
            self.held[offset + k] = p

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        folio.data = b"".join(self.held.pop(offset + k) for k in range(folio.nr_pages))
        folio.dirty = True

    @property
    def size(self) -> int:
        assert self.lower is not None
        return self.lower.size

    @property
    def used(self) -> int:
        assert self.lower is not None
        return self.lower.used


class TestDevices:
    @swapops.hookimpl
    def swapops_register_modules(self, registry: swapops.ModuleRegistry) -> None:
        registry.add(FlakySwapfile)
        registry.add(ExclusiveCache)


@pytest.fixture
def sys_() -> Iterator[swapops.SwapSystem]:
    s = system(TestDevices())
    yield s
    for dev in list(s.devices):
        s.swapoff(dev)


# -- placement and geometry ---------------------------------------------------------


def test_placement_rules(sys_: swapops.SwapSystem) -> None:
    assert "flashbuf" in sys_.module_names()
    with pytest.raises(InvalidStackError, match="needs a lower device"):
        sys_.swapon("flashbuf", size="8M")
    with pytest.raises(InvalidStackError):
        sys_.swapon("flashbuf>flashbuf>swapfile", size="8M")
    assert FlashbufDevice.KIND == "buffer"


def test_segments_follow_the_erase_block(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf>" + FLASH, size="16M")
    fb = fb_of(top)
    lower = top.lower
    assert lower is not None
    assert fb.S == 64  # the flash erase block below
    # cluster 0 holds the header slot: its whole segments 64..511 still count
    assert fb.nr_segments == 4096 // 64 - 1
    assert lower.used == fb.nr_segments * 64  # the segment space is claimed below
    assert fb.size == fb.nr_segments * 64 - fb.reserve_pages
    assert fb.reserve_pages >= 3 * 64
    assert fb.used + fb.free == fb.size
    fb.check_invariants()
    sys_.swapoff(top)
    assert lower.used == 0  # every claimed run given back


def test_segment_default_without_flash_and_options(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf>swapfile", size="16M")
    assert fb_of(top).S == 256
    top2 = sys_.swapon("flashbuf:segment=32,reserve=0.2,size=8M,buffer=64K>swapfile", size="32M")
    fb = fb_of(top2)
    assert fb.S == 32 and fb.size == 2048 and fb.stats()["buffer_capacity"] == 16
    assert fb.nr_segments * 32 < 8192  # claimed only what size + reserve needs
    with pytest.raises(ConfigError):
        sys_.swapon("flashbuf:cleaning=lru>swapfile", size="16M")
    with pytest.raises(ConfigError, match="segment"):
        sys_.swapon("flashbuf:segment=1024>swapfile", size="2M")


def test_file_backed_lower_claims_order0(sys_: swapops.SwapSystem, tmp_path: Any) -> None:
    top = sys_.swapon("flashbuf:segment=32>swapfile", size="4M", path=tmp_path / "swap.img")
    fb = fb_of(top)
    entries = {sys_.swap_out(Folio(page(k))): k for k in range(100)}
    sys_.unplug()
    assert fb.stats()["pages_written_below"] == 100
    for e, k in entries.items():
        assert sys_.swap_in(e).data == page(k)
    fb.check_invariants()


# -- buffer, flush, reads -------------------------------------------------------------


def test_buffer_flushes_one_full_segment(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf>" + FLASH, size="16M")
    fb = fb_of(top)
    entries = [sys_.swap_out(Folio(page(k))) for k in range(63)]
    st = fb.stats()
    assert st["pages_buffered"] == 63 and st["buffer_pages"] == 63 and st["pages_written_below"] == 0
    assert flash_stats(top)["host_writes"] == 0
    assert sys_.swap_in(entries[5]).data == page(5)
    assert fb.stats()["reads_from_buffer"] == 1
    entries.append(sys_.swap_out(Folio(page(63))))  # the 64th page fills the buffer
    st = fb.stats()
    assert st["segments_flushed"] == 1 and st["pages_written_below"] == 64 and st["buffer_pages"] == 0
    fl = flash_stats(top)
    assert fl["host_writes"] == 64
    kind, lower_slot = fb.location(entries[0][1])
    assert kind == "lower"
    slots = sorted(fb.location(e[1])[1] for e in entries)
    assert slots == list(range(slots[0], slots[0] + 64))  # one contiguous run
    assert slots[0] % 64 == 0
    for k, e in enumerate(entries):
        assert sys_.swap_in(e).data == page(k)
    assert fb.stats()["reads_below"] == 64
    fb.check_invariants()


def test_large_folios(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf>" + FLASH, size="16M")
    fb = fb_of(top)
    rng = random.Random(3)
    data = {o: rng.randbytes(4096 << o) for o in (0, 2, 6, 9)}
    entries = {o: sys_.swap_out(Folio(d)) for o, d in data.items()}
    for o, e in entries.items():
        assert sys_.swap_in(e).data == data[o]
    sys_.unplug()
    for o, e in entries.items():
        assert sys_.swap_in(e).data == data[o]
    sys_.swap_free(entries[6])
    fb.check_invariants()
    assert fb.used == 1 + 4 + 512


def test_free_drops_buffered_pages_and_discards_flushed_ones(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf>" + FLASH, size="16M")
    fb = fb_of(top)
    buffered = [sys_.swap_out(Folio(page(k))) for k in range(10)]
    for e in buffered[:4]:
        sys_.swap_free(e)
    assert fb.stats()["dropped_in_buffer"] == 4
    sys_.unplug()
    assert fb.stats()["pages_written_below"] == 6  # freed pages never reached the device
    trims = flash_stats(top)["trims"]
    sys_.swap_free(buffered[5])
    assert fb.stats()["discards_below"] == 1
    assert flash_stats(top)["trims"] == trims + 1
    assert flash_stats(top)["valid_pages"] == 5
    for k in (4, 6, 7, 8, 9):
        assert sys_.swap_in(buffered[k]).data == page(k)
    fb.check_invariants()


def test_flush_timer_in_simulated_time(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf:flush_interval=5000000>" + FLASH, size="16M")
    fb = fb_of(top)
    e = sys_.swap_out(Folio(page(1)))
    sys_.advance(4_999_999)
    assert fb.stats()["buffer_pages"] == 1
    sys_.advance(1)
    st = fb.stats()
    assert st["buffer_pages"] == 0 and st["pages_written_below"] == 1 and st["segments_flushed"] == 0
    # the next flush continues the open segment: the erase block is still filled in order
    e2 = sys_.swap_out(Folio(page(2)))
    sys_.advance(5_000_000)
    assert fb.location(e2[1])[1] == fb.location(e[1])[1] + 1
    other = system()
    top2 = other.swapon("flashbuf:flush_interval=0>swapfile", size="16M")
    other.swap_out(Folio(page(3)))
    other.advance(10**12)
    assert fb_of(top2).stats()["buffer_pages"] == 1


def test_buffered_pages_survive_unplug_and_swapoff(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf>" + FLASH, size="16M")
    fb = fb_of(top)
    entries = {sys_.swap_out(Folio(page(k))): k for k in range(100)}  # 64 flushed, 36 buffered
    assert fb.stats()["buffer_pages"] == 36
    report = sys_.swapoff(top)
    assert len(report.restored) == 100
    assert all(report.restored[e].data == page(k) for e, k in entries.items())
    top = sys_.swapon("flashbuf>" + FLASH, size="16M")
    fb = fb_of(top)
    entries = {sys_.swap_out(Folio(page(k))): k for k in range(30)}
    sys_.unplug()
    assert fb.stats()["buffer_pages"] == 0 and flash_stats(top)["host_writes"] == 30
    assert all(sys_.swap_in(e).data == page(k) for e, k in entries.items())


# -- cleaning ---------------------------------------------------------------------------


def churn(s: swapops.SwapSystem, top: SwapDevice, steps: int, seed: int, lo: float = 0.8,
          hi: float = 0.9, pages: Any = page) -> dict[tuple[int, int], int]:
    """Random swap-outs and frees at lo..hi use, every free read back first."""
    rng = random.Random(seed)
    live: list[tuple[tuple[int, int], int]] = []
    key = 0
    for _ in range(steps):
        n = len(live)
        if n < lo * top.size or (n < hi * top.size and rng.random() < 0.5):
            live.append((s.swap_out(Folio(pages(key))), key))
            key += 1
        else:
            i = rng.randrange(n)
            e, k = live[i]
            live[i] = live[-1]
            live.pop()
            assert s.swap_in(e).data == pages(k)
            s.swap_free(e)
    return dict(live)


@pytest.mark.parametrize("cleaning", ["greedy", "cost-benefit"])
def test_cleaning_moves_live_pages(sys_: swapops.SwapSystem, cleaning: str) -> None:
    top = sys_.swapon(f"flashbuf:cleaning={cleaning}>" + FLASH, size="8M")
    fb = fb_of(top)
    live = churn(sys_, top, 12000, seed=1)
    st = fb.stats()
    assert st["segments_cleaned"] > 0 and st["cleaning_copies"] > 0
    assert st["pages_written_below"] == flash_stats(top)["host_writes"]
    assert st["pages_written_below"] == st["pages_buffered"] - st["dropped_in_buffer"] - st[
        "buffer_pages"] + st["cleaning_copies"]
    assert flash_stats(top)["waf"] < 1.05  # the FTL only ever erases empty blocks
    fb.check_invariants()
    for e, k in live.items():
        assert sys_.swap_in(e).data == page(k)
    assert fb.live_pages() == len(live)


def test_greedy_cleans_the_emptiest_segment(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf>" + FLASH, size="8M")
    fb = fb_of(top)
    entries = [sys_.swap_out(Folio(page(k))) for k in range(64 * 4)]  # four closed segments
    segs = sorted({fb.location(e[1])[1] // 64 for e in entries})
    assert len(segs) == 4
    kill = {0: 10, 1: 50, 2: 30, 3: 5}  # dead pages per segment, by write order
    for i, n in kill.items():
        for e in entries[64 * i : 64 * i + n]:
            sys_.swap_free(e)
    before = fb.stats()["cleaning_copies"]
    assert fb.clean_segments(1) == 1
    assert fb.stats()["cleaning_copies"] - before == 64 - 50  # segment 1: fewest live pages
    fb.check_invariants()


def test_cost_benefit_prefers_old_segments(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf:cleaning=cost-benefit>" + FLASH, size="8M")
    fb = fb_of(top)
    entries = [sys_.swap_out(Folio(page(k))) for k in range(64 * 4)]
    for i in range(4):  # equal utilisation: 32 dead pages in each segment
        for e in entries[64 * i : 64 * i + 32]:
            sys_.swap_free(e)
    before = [fb.location(e[1]) for e in entries[32:64]] + [fb.location(e[1]) for e in entries[-32:]]
    assert fb.clean_segments(1) == 1
    after = [fb.location(e[1]) for e in entries[32:64]] + [fb.location(e[1]) for e in entries[-32:]]
    assert all(a != b for a, b in zip(before[:32], after[:32], strict=True))  # the oldest moved
    assert before[32:] == after[32:]  # the youngest stayed
    assert fb.stats()["cleaning_copies"] == 32
    fb.check_invariants()


# -- dedup ----------------------------------------------------------------------------


def test_dedup_reference_counts(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf:dedup=true>" + FLASH, size="16M")
    fb = fb_of(top)
    a = sys_.swap_out(Folio(page(7)))
    b = sys_.swap_out(Folio(page(7)))
    c = sys_.swap_out(Folio(page(8)))
    st = fb.stats()
    assert st["dedup_hits"] == 1 and st["buffer_pages"] == 2
    sys_.unplug()
    assert fb.stats()["pages_written_below"] == 2
    sys_.swap_free(a)
    assert sys_.swap_in(b).data == page(7)
    assert fb.stats()["discards_below"] == 0  # b still references the page
    sys_.swap_free(b)
    assert fb.stats()["discards_below"] == 1
    d = sys_.swap_out(Folio(page(7)))  # the hash entry died with the page
    assert fb.stats()["dedup_hits"] == 1
    assert sys_.swap_in(c).data == page(8) and sys_.swap_in(d).data == page(7)
    fb.check_invariants()


def test_dedup_survives_cleaning(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf:dedup=true>" + FLASH, size="8M")
    fb = fb_of(top)

    def content(k: int) -> bytes:  # every other page is one of 300 common pages
        return page(k % 300) if k % 2 else page(k)

    live = churn(sys_, top, 10000, seed=2, pages=content)
    st = fb.stats()
    assert st["dedup_hits"] > 1000 and st["segments_cleaned"] > 0
    fb.check_invariants()
    assert fb.live_pages() < len(live) - 500
    for e, k in live.items():
        assert sys_.swap_in(e).data == content(k)


# -- wear-aware placement ----------------------------------------------------------------


def _spread(s: swapops.SwapSystem, wear_aware: bool) -> tuple[int, int, int]:
    top = s.swapon(f"flashbuf:wear_aware={str(wear_aware).lower()}>" + FLASH, size="8M")
    fb = fb_of(top)
    cold = [s.swap_out(Folio(page(k))) for k in range(fb.size // 2)]  # cold data, never freed
    hot: list[tuple[int, int]] = []
    for k in range(20000):  # hot data: freed soon after it is written
        hot.append(s.swap_out(Folio(page(10**6 + k))))
        if len(hot) > 200:
            s.swap_free(hot.pop(0))
    fb.check_invariants()
    writes = fb.segment_writes()
    moved = int(fb.stats()["wear_level_copies"])
    for k, e in enumerate(cold):
        assert s.swap_in(e).data == page(k)
        s.swap_free(e)
    s.swapoff(top)
    return min(writes), max(writes), moved


def test_wear_aware_placement_spreads_segment_writes() -> None:
    s = system()
    lo_aware, hi_aware, moved = _spread(s, True)
    lo_naive, hi_naive, unmoved = _spread(s, False)
    assert hi_naive > 4 * hi_aware  # naive: the hot data cycles through a few segments
    assert hi_aware - lo_aware <= 8 + 1  # wear_threshold: cold segments are migrated
    assert moved > 0 and unmoved == 0
    assert lo_naive <= 1


# -- failures ---------------------------------------------------------------------------------


def test_failed_flush_loses_nothing(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf>flakyfile", size="16M")
    fb = fb_of(top)
    lower = top.lower
    assert isinstance(lower, FlakySwapfile)
    lower.fail_after = 0
    entries: dict[tuple[int, int], int] = {}
    with pytest.raises(DeviceIOError):
        for k in range(10_000):
            entries[sys_.swap_out(Folio(page(k)))] = k
    st = fb.stats()
    assert st["flush_errors"] > 0 and st["pages_written_below"] == 0
    assert st["buffer_pages"] == len(entries) == 256 + 512  # the buffer took what it could
    assert fb.used == len(entries)  # the failed swap-out's slot was released
    fb.check_invariants()
    lower.fail_after = 300  # heal part-way: the second segment write fails
    with pytest.raises(DeviceIOError):
        sys_.unplug()
    st = fb.stats()
    assert st["pages_written_below"] == 256 and st["buffer_pages"] == len(entries) - st[
        "pages_written_below"]
    fb.check_invariants()
    for e, k in entries.items():
        assert sys_.swap_in(e).data == page(k)
    lower.fail_after = -1
    sys_.unplug()
    assert fb.stats()["buffer_pages"] == 0
    assert sys_.swap_in(next(iter(entries))).data == page(0)
    fb.check_invariants()
    report = sys_.swapoff(top)
    assert all(report.restored[e].data == page(k) for e, k in entries.items())


def test_failed_write_during_cleaning_is_consistent(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf:segment=64>flakyfile", size="8M")
    fb = fb_of(top)
    lower = top.lower
    assert isinstance(lower, FlakySwapfile)
    live = churn(sys_, top, 3000, seed=4)
    lower.fail_after = 30
    rng = random.Random(5)
    key = 10**6
    with pytest.raises((DeviceIOError, OutOfSwapSpaceError)):
        for _ in range(20000):
            if len(live) < 0.85 * fb.size:
                live[sys_.swap_out(Folio(page(key)))] = key
                key += 1
            else:
                e = rng.choice(list(live))
                sys_.swap_free(e)
                del live[e]
    fb.check_invariants()
    lower.fail_after = -1
    sys_.unplug()
    fb.check_invariants()
    for e, k in live.items():
        assert sys_.swap_in(e).data == page(k)


def test_exclusive_lower_load_is_rehomed(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf:segment=32>exclcache>swapfile", size="8M")
    fb = fb_of(top)
    entries = [sys_.swap_out(Folio(page(k))) for k in range(40)]  # 32 flushed below
    assert sys_.swap_in(entries[0]).data == page(0)  # the cache below gave its copy away
    assert fb.stats()["rehomed"] == 1 and fb.location(entries[0][1])[0] == "buffer"
    assert sys_.swap_cache_size() == 0  # flashbuf kept the page: nothing for the swap cache
    assert sys_.swap_in(entries[0]).data == page(0)
    sys_.unplug()
    for k, e in enumerate(entries):
        assert sys_.swap_in(e).data == page(k)
    fb.check_invariants()


# -- under vswap -------------------------------------------------------------------------------


def test_under_vswap(sys_: swapops.SwapSystem) -> None:
    if "vswap" not in sys_.module_names():
        pytest.skip("the vswap module is not installed yet")
    top = sys_.swapon("vswap>flashbuf>" + FLASH, size="8M")
    fb = fb_of(top)
    live = churn(sys_, top, 4000, seed=6, lo=0.5 * fb.size / top.size, hi=0.6 * fb.size / top.size)
    assert fb.stats()["pages_written_below"] > 0
    fb.check_invariants()
    for e, k in live.items():
        assert sys_.swap_in(e).data == page(k)
    sys_.unplug()
    report = sys_.swapoff(top)
    assert all(report.restored[e].data == page(k) for e, k in live.items())


# -- accounting ------------------------------------------------------------------------------------


def test_kernel_overhead(sys_: swapops.SwapSystem) -> None:
    top = sys_.swapon("flashbuf>" + FLASH, size="16M")
    fb = fb_of(top)
    empty = fb.kernel_overhead()
    assert empty["static_bytes"] >= 64 * 4096  # the RAM buffer is part of the design's cost
    assert empty["total_bytes"] == empty["static_bytes"]
    for k in range(100):
        sys_.swap_out(Folio(page(k)))
    assert fb.kernel_overhead()["total_bytes"] == empty["static_bytes"] + 100 * empty["bytes_per_entry"]


# -- the WAF comparison (issue 5, done-when) -------------------------------------------------------


def test_flashbuf_halves_nand_waf() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = compare("16M", pages_per_block=64, op=0.07, band_of="first", warmup=2.0, measure=1.5)
    base, fb = rows
    assert base["stack"].startswith("swapfile:device=flash") and fb["stack"].startswith("flashbuf>")
    assert base["user_pages"] == fb["user_pages"] > 4000  # the same workload
    assert base["use_lo"] >= 0.79 and base["use_hi"] <= 0.91
    assert base["ftl_waf"] >= 2.0 * fb["ftl_waf"]
    assert fb["ftl_waf"] < 1.05
    # every NAND program under flashbuf is a user page or a flashbuf cleaning copy
    assert abs(fb["host_writes"] - fb["cleaning_copies"] - fb["user_pages"]) <= 2 * 64
    for r in rows:
        assert r["mismatches"] == 0 and r["verified"] > r["user_pages"]
    table = format_table(rows)
    assert "flashbuf>swapfile" in table and "0 mismatches" in table


def test_run_workload_rejects_an_overfull_band() -> None:
    with pytest.raises(ConfigError):
        run_workload("flashbuf>" + FLASH, "8M", base=10**6)


# -- over a zswap with no device below ------------------------------------------------------
# Such a zswap refuses an incompressible page with OutOfSwapSpaceError: a flush that
# meets it keeps the pages buffered (retried later), and a full buffer refuses new pages.


def random_page(rng: random.Random) -> bytes:
    return rng.randbytes(4096)


def over_bottom_zswap(s: swapops.SwapSystem, opts: str = "size=256K,segment=16") -> tuple[SwapDevice, FlashbufDevice]:
    if "zswap" not in s.module_names():
        pytest.skip("zswap is not installed")
    top = s.swapon(f"flashbuf:{opts}>zswap")
    assert top.lower is not None and top.lower.NAME == "zswap" and top.lower.lower is None
    return top, fb_of(top)


def test_over_bottom_zswap_unplug_keeps_incompressible_pages(sys_: swapops.SwapSystem) -> None:
    top, fb = over_bottom_zswap(sys_)
    rng = random.Random(1)
    rnd = random_page(rng)
    before = [sys_.swap_out(Folio(page(k))) for k in range(3)]  # compressible, ahead of it
    e = sys_.swap_out(Folio(rnd))
    after = [sys_.swap_out(Folio(page(k))) for k in range(3, 5)]
    used_below = top.lower.used if top.lower is not None else -1
    sys_.unplug()  # must not raise
    st = fb.stats()
    assert st["flush_errors"] == 1
    # the pages before the refused one are written (page by page); it and the rest stay buffered
    assert [fb.location(x[1])[0] for x in before] == ["lower"] * 3
    assert fb.location(e[1]) == ("buffer", 0)
    assert [fb.location(x[1])[0] for x in after] == ["buffer"] * 2
    assert st["pages_written_below"] == 3 and st["buffer_pages"] == 3 and fb.used == 6
    assert top.lower is not None and top.lower.used == used_below  # no lower slot leaked
    fb.check_invariants()
    sys_.unplug()  # retried, refused again, still nothing lost
    assert fb.stats()["flush_errors"] == 2 and fb.stats()["buffer_pages"] == 3
    assert sys_.swap_in(e).data == rnd
    for k, x in enumerate(before + after):
        assert sys_.swap_in(x).data == page(k)
    sys_.swap_free(e)  # once the refused page is gone, the buffer drains
    sys_.unplug()
    assert fb.stats()["buffer_pages"] == 0 and fb.stats()["flush_errors"] == 2
    fb.check_invariants()


def test_over_bottom_zswap_flush_timer_does_not_raise(sys_: swapops.SwapSystem) -> None:
    top, fb = over_bottom_zswap(sys_, "size=256K,segment=16,flush_interval=1000")
    rnd = random_page(random.Random(2))
    e = sys_.swap_out(Folio(rnd))
    sys_.advance(1000)  # the timer's flush is refused: counted, not raised
    assert fb.stats()["flush_errors"] == 1 and fb.location(e[1]) == ("buffer", 0)
    sys_.advance(10**9)
    assert fb.stats()["flush_errors"] == 2
    fb.check_invariants()
    assert sys_.swap_in(e).data == rnd


def test_over_bottom_zswap_swapoff_restores_buffered_pages(sys_: swapops.SwapSystem) -> None:
    top, fb = over_bottom_zswap(sys_)
    rng = random.Random(3)
    want = {}
    for k in range(40):
        data = random_page(rng) if k % 3 == 2 else page(k)
        want[sys_.swap_out(Folio(data))] = data
    sys_.unplug()
    assert fb.stats()["buffer_pages"] > 0 and fb.stats()["pages_written_below"] > 0
    zs = top.lower
    report = sys_.swapoff(top)
    assert set(report.restored) == set(want)
    assert all(report.restored[e].data == d for e, d in want.items())
    assert top not in sys_.devices and zs is not None and zs.used == 0


def test_over_bottom_zswap_full_buffer_refuses_before_allocating(sys_: swapops.SwapSystem) -> None:
    top, fb = over_bottom_zswap(sys_, "size=4M,segment=16")
    hard = fb.stats()["buffer_capacity"] + 512
    assert fb.size > hard
    rng = random.Random(4)
    want: dict[tuple[int, int], bytes] = {}
    data = random_page(rng)
    with pytest.raises(OutOfSwapSpaceError):
        for _ in range(fb.size):
            want[sys_.swap_out(Folio(data))] = data
            data = random_page(rng)
    assert len(want) == hard == fb.used == fb.stats()["buffer_pages"]
    assert fb.stats()["pages_written_below"] == 0
    fb.check_invariants()
    errors = fb.stats()["flush_errors"]
    with pytest.raises(OutOfSwapSpaceError):  # refused again: nothing allocated, nothing lost
        sys_.swap_out(Folio(data))
    assert fb.used == hard and fb.stats()["flush_errors"] > errors
    for e, d in want.items():
        assert sys_.swap_in(e).data == d
    # a compressible page still fits once the buffer has room again
    victims = list(want)[:20]
    for e in victims:
        sys_.swap_free(e)
        del want[e]
    e2 = sys_.swap_out(Folio(page(7)))
    assert sys_.swap_in(e2).data == page(7)
    fb.check_invariants()


def test_cleaning_refused_below_keeps_consumed_pages(sys_: swapops.SwapSystem) -> None:
    """zswap's loads are exclusive: a cleaning copy refused below must not lose the page."""
    top, fb = over_bottom_zswap(sys_, "size=1M,segment=16")
    live = {sys_.swap_out(Folio(page(k))): k for k in range(96)}
    sys_.unplug()
    for e in list(live)[::2]:  # half of every segment dies
        sys_.swap_free(e)
        del live[e]
    real = fb.lower_write
    calls = [0]

    def one_page_then_refuse(slot: int, folio: Folio) -> None:
        if folio.order or calls[0]:
            raise OutOfSwapSpaceError("test: no room below")
        calls[0] += 1
        real(slot, folio)

    fb.lower_write = one_page_then_refuse
    with pytest.raises(OutOfSwapSpaceError):
        fb.clean_segments(1)
    st = fb.stats()
    assert st["cleaning_copies"] == 1 and st["segments_cleaned"] == 0
    assert st["rehomed"] == 7  # the victim's other live pages, consumed by the loads, are buffered
    fb.check_invariants()
    fb.lower_write = real
    for e, k in live.items():
        assert sys_.swap_in(e).data == page(k)
    sys_.unplug()
    fb.check_invariants()
    for e, k in live.items():
        assert sys_.swap_in(e).data == page(k)


@pytest.mark.parametrize("buffer", ["0", "1", "10G"])
def test_buffer_size_out_of_range_is_refused(buffer: str) -> None:
    system = swapops.SwapSystem()
    with pytest.raises(ConfigError, match=f"buffer={parse_size(buffer)} must hold"):
        system.swapon(f"flashbuf:buffer={buffer}>swapfile", size="16M")
    assert system.devices == []
