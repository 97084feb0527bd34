"""The zram module: same-filled and huge pages, mem_limit, idle marking, writeback,
recompression, sysfs counters, SWP_SYNCHRONOUS_IO, placement, kernel overhead."""

from __future__ import annotations

import contextlib
import os
import random
import warnings

import pytest
from swapops_zram import ZramDevice

import swapops
from swapops import Folio, overhead
from swapops.device import SWAPIN_FREE_CACHE, SWAPIN_NO_READAHEAD
from swapops.errors import ConfigError, DeviceIOError, InvalidStackError, OutOfSwapSpaceError
from swapops.mm import MM
from swapops.sizes import PAGE_SIZE
from swapops.workloads import READ, WRITE, ContentMix
from swapops.zsmalloc import huge_class_size


def _system() -> swapops.SwapSystem:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return swapops.SwapSystem(seed=3)


def _zram(system: swapops.SwapSystem, spec: str = "zram", **kw: object) -> ZramDevice:
    top = system.swapon(spec, **kw)  # type: ignore[arg-type]
    dev = top if isinstance(top, ZramDevice) else next(d for d in top.layers() if isinstance(d, ZramDevice))
    assert isinstance(dev, ZramDevice)
    return dev


def _text(seed: int) -> bytes:
    """A compressible page (words from a small vocabulary)."""
    rng = random.Random(seed)
    words = [b"swap", b"zram", b"page", b"folio", b"cluster", b"kernel", b"memory"]
    out = b" ".join(rng.choice(words) for _ in range(1200))
    return (out * 2)[:PAGE_SIZE]


def _random(seed: int) -> bytes:
    return random.Random(seed).randbytes(PAGE_SIZE)


# ---------------------------------------------------------------------------- pages


def test_same_filled_page_keeps_only_its_word() -> None:
    system = _system()
    dev = _zram(system, size="1M")
    before = dev.stats()
    page = bytes(range(1, 9)) * (PAGE_SIZE // 8)
    entry = system.swap_out(Folio(page))
    st = dev.stats()
    assert dev.page_state(entry[1]) == "same"
    assert st["same_pages"] == before["same_pages"] + 1
    assert st["compr_data_size"] == before["compr_data_size"]  # no object stored
    assert st["mem_used_total"] == before["mem_used_total"]
    assert st["orig_data_size"] == before["orig_data_size"] + PAGE_SIZE
    assert system.swap_in(entry).data == page
    system.swap_free(entry)
    assert dev.stats()["same_pages"] == before["same_pages"]


def test_a_page_repeating_a_shorter_pattern_that_is_not_a_word_is_compressed() -> None:
    system = _system()
    dev = _zram(system, size="1M")
    page = (b"abc" * PAGE_SIZE)[:PAGE_SIZE]  # 3-byte period: words differ
    entry = system.swap_out(Folio(page))
    assert dev.page_state(entry[1]) == "compressed"
    assert system.swap_in(entry).data == page


def test_zero_subpages_of_a_large_folio_are_same_filled() -> None:
    system = _system()
    dev = _zram(system, size="4M")
    data = _text(1) + bytes(PAGE_SIZE) + _random(2) + bytes(PAGE_SIZE)
    entry = system.swap_out(Folio(data))
    base = entry[1]
    assert [dev.page_state(base + k) for k in range(4)] == ["compressed", "same", "huge", "same"]
    assert system.swap_in(entry).data == data


def test_incompressible_page_is_stored_whole_as_huge() -> None:
    system = _system()
    dev = _zram(system, size="1M")
    before = dev.stats()
    page = _random(7)
    entry = system.swap_out(Folio(page))
    st = dev.stats()
    assert dev.page_state(entry[1]) == "huge"
    assert st["huge_pages"] == before["huge_pages"] + 1
    assert st["huge_pages_since"] == before["huge_pages_since"] + 1
    assert st["compr_data_size"] - before["compr_data_size"] == PAGE_SIZE
    assert system.swap_in(entry).data == page
    system.swap_free(entry)
    st = dev.stats()
    assert st["huge_pages"] == before["huge_pages"] and st["huge_pages_since"] == before["huge_pages_since"] + 1


def test_huge_threshold_is_zsmallocs_huge_class_size() -> None:
    system = _system()
    dev = _zram(system, size="1M", chain_size=4)
    assert dev._huge_size == huge_class_size(4, PAGE_SIZE) == 3257


def test_fresh_device_holds_the_mkswap_header_page() -> None:
    system = _system()
    dev = _zram(system, size="1M")
    st = dev.stats()
    assert st["orig_data_size"] == PAGE_SIZE and st["compr_data_size"] > 0
    assert st["mem_used_total"] > 0 and st["used"] == 0
    header = dev._load(0)
    assert header[-10:] == b"SWAPSPACE2"


def test_rewrite_frees_the_old_object() -> None:
    system = _system()
    dev = _zram(system, size="1M")
    entry = system.swap_out(Folio(_random(1)))
    dev.swapops_write_folio(entry[1], Folio(_text(2)))
    assert dev.page_state(entry[1]) == "compressed"
    dev.check_invariants()
    assert system.swap_in(entry).data == _text(2)


# ---------------------------------------------------------------------------- mem_limit


def test_mem_limit_refuses_writes_and_keeps_the_page_with_the_caller() -> None:
    system = _system()
    dev = _zram(system, size="4M", mem_limit="64K")
    entries = []
    with pytest.raises(OutOfSwapSpaceError, match="mem_limit"):
        for seed in range(64):
            entries.append(system.swap_out(Folio(_random(seed))))
    st = dev.stats()
    assert st["failed_writes"] == 1
    assert st["mem_used_total"] <= 64 * 1024
    assert st["mem_used_max"] > 64 * 1024  # update_used_max runs before the limit check
    assert dev.used == len(entries)  # the refused page's slot was freed again
    for seed, entry in enumerate(entries):
        assert system.swap_in(entry).data == _random(seed)
    # same-filled pages take no pool memory: still accepted
    same = system.swap_out(Folio(b"\x07" * PAGE_SIZE))
    assert dev.page_state(same[1]) == "same"


def test_a_refused_large_folio_leaves_the_old_contents() -> None:
    system = _system()
    dev = _zram(system, size="4M", mem_limit="128K")
    data = _text(1) + _text(2)
    entry = system.swap_out(Folio(data))
    with pytest.raises(OutOfSwapSpaceError):
        for seed in range(100, 140):  # fill the pool up to its limit
            system.swap_out(Folio(_random(seed)))
    failed = dev.stats()["failed_writes"]
    with pytest.raises(OutOfSwapSpaceError, match="mem_limit"):  # a rewrite of the large entry
        dev.swapops_write_folio(entry[1], Folio(_random(1) + _random(2)))
    dev.check_invariants()
    assert dev.stats()["failed_writes"] == failed + 1
    assert system.swap_in(entry).data == data


# ---------------------------------------------------------------------------- free


def test_slot_free_notifies_zram() -> None:
    system = _system()
    dev = _zram(system, size="1M")
    entry = system.swap_out(Folio(_text(3)))
    stored = dev.stats()["orig_data_size"]
    system.swap_free(entry)
    st = dev.stats()
    assert st["notify_free"] == 1 and st["orig_data_size"] == stored - PAGE_SIZE


def test_discard_frees_the_pages() -> None:
    system = _system()
    dev = _zram(system, size="1M")
    entry = system.swap_out(Folio(_text(3)))
    dev.swapops_discard(entry[1], 1)
    assert dev.page_state(entry[1]) == "none"
    assert dev.stats()["notify_free"] == 1


# ---------------------------------------------------------------------------- idle and writeback


def _backed(**kw: object) -> tuple[swapops.SwapSystem, ZramDevice]:
    system = _system()
    dev = _zram(system, "zram>swapfile", size="4M", **kw)
    return system, dev


def test_disksize_defaults_to_the_backing_devices_size() -> None:
    system, dev = _backed()
    assert dev.lower is not None and dev.nr_pages == dev.lower.size


def test_idle_writeback_moves_untouched_pages_to_the_backing_device() -> None:
    system, dev = _backed()
    pages = {system.swap_out(Folio(_text(s))): _text(s) for s in range(6)}
    hot = next(iter(pages))
    assert dev.mark_idle() == 6
    system.swap_in(hot)  # accessed: no longer idle
    pool_before = dev.stats()["compr_data_size"]
    result = dev.writeback("idle")
    assert result == {"written": 5, "write_errors": 0, "stopped": 0}
    st = dev.stats()
    assert st["bd_count"] == 5 and st["bd_writes"] == 5
    assert st["compr_data_size"] < pool_before
    assert dev.lower is not None and dev.lower.used == 5
    assert dev.page_state(hot[1]) == "compressed"
    for entry, data in pages.items():
        assert system.swap_in(entry).data == data
    assert dev.stats()["bd_reads"] == 5
    for entry in pages:
        system.swap_free(entry)
    assert dev.lower.used == 0 and dev.stats()["bd_count"] == 0
    dev.check_invariants()


def test_huge_writeback_takes_only_huge_pages() -> None:
    system, dev = _backed()
    huge = system.swap_out(Folio(_random(1)))
    small = system.swap_out(Folio(_text(1)))
    assert dev.writeback("huge")["written"] == 1
    assert dev.page_state(huge[1]) == "wb" and dev.page_state(small[1]) == "compressed"
    assert dev.stats()["huge_pages"] == 0  # zram_free_page clears ZRAM_HUGE
    assert dev.writeback("huge_idle")["written"] == 0  # nothing idle


def test_page_index_writeback_and_its_bounds() -> None:
    system, dev = _backed()
    entry = system.swap_out(Folio(_text(1)))
    assert dev.writeback(index=entry[1])["written"] == 1
    assert dev.page_state(entry[1]) == "wb"
    with pytest.raises(ConfigError, match="page_index"):
        dev.writeback(index=dev.nr_pages)
    with pytest.raises(ConfigError, match="mode"):
        dev.writeback("cold")


def test_writeback_limit_and_a_full_backing_device_stop_writeback() -> None:
    system, dev = _backed(writeback_limit=2)
    for s in range(4):
        system.swap_out(Folio(_text(s)))
    dev.mark_idle()
    assert dev.writeback("idle") == {"written": 2, "write_errors": 0, "stopped": 5}  # -EIO
    system2 = _system()
    dev2 = _zram(system2, "zram:disksize=4M>swapfile", size="40K")  # 9 usable blocks
    for s in range(12):
        system2.swap_out(Folio(_text(s)))
    dev2.mark_idle()
    result = dev2.writeback("idle")
    assert result["written"] == 9 and result["stopped"] == 28  # -ENOSPC
    assert dev2.lower is not None and dev2.lower.used == 9


def test_writeback_without_a_backing_device_is_refused() -> None:
    system = _system()
    dev = _zram(system, size="1M")
    with pytest.raises(ConfigError, match="ENODEV"):
        dev.writeback("idle")
    with pytest.raises(ConfigError, match="backing device"):
        system.swapon("zram:writeback=idle", size="1M")


def test_the_daemon_marks_then_writes_back_on_simulated_time() -> None:
    system, dev = _backed(writeback="idle", writeback_interval=1000)
    entries = [system.swap_out(Folio(_text(s))) for s in range(4)]
    system.advance(1000)  # first run: nothing idle yet; then everything is marked
    assert dev.stats()["bd_count"] == 0 and dev.stats()["idle_pages"] == 4
    system.swap_in(entries[0])
    system.advance(1000)  # second run: the three untouched pages go
    assert dev.stats()["bd_count"] == 3 and dev.stats()["daemon_runs"] == 2
    assert dev.page_state(entries[0][1]) == "compressed"


def test_idle_by_age_needs_access_times() -> None:
    with pytest.raises(ConfigError, match="track_actime"):
        _system().swapon("zram:idle_age=60>swapfile", size="4M")
    system, dev = _backed(track_actime=True)
    old = system.swap_out(Folio(_text(1)))
    system.advance(5_000_000_000)
    new = system.swap_out(Folio(_text(2)))
    assert dev.mark_idle(age_ns=2_000_000_000) == 1
    assert old[1] in dev._idle and new[1] not in dev._idle
    plain = _zram(_system(), size="1M")
    with pytest.raises(ConfigError, match="track_actime"):
        plain.mark_idle(age_ns=1)


def test_recompress_flags_incompressible_pages_for_writeback() -> None:
    system, dev = _backed(comp_algorithm="lz4", recomp_algorithm="zstd")
    huge = system.swap_out(Folio(_random(1)))
    text = system.swap_out(Folio(_text(9)))
    result = dev.recompress("huge")
    assert result == {"recompressed": 0, "incompressible": 1}
    assert dev.writeback("incompressible")["written"] == 1
    assert dev.page_state(huge[1]) == "wb" and dev.page_state(text[1]) == "compressed"
    before = dev.stats()["compr_data_size"]
    assert dev.recompress()["recompressed"] in (0, 1)
    assert dev.stats()["compr_data_size"] <= before
    assert system.swap_in(text).data == _text(9)
    dev.check_invariants()
    with pytest.raises(ConfigError, match="recomp_algorithm"):
        _zram(_system(), size="1M").recompress()


def test_compact_and_mem_used_max_reset() -> None:
    system = _system()
    dev = _zram(system, size="4M")
    entries = [system.swap_out(Folio(_text(s))) for s in range(40)]
    for entry in entries[::2]:
        system.swap_free(entry)
    peak = dev.stats()["mem_used_max"]
    freed = dev.compact()
    assert freed >= 0 and dev.stats()["pages_compacted"] == freed
    dev.reset_mem_used_max()
    assert dev.stats()["mem_used_max"] == dev.stats()["mem_used_total"] <= peak


def test_sysfs_counters_are_named_as_mm_stat_io_stat_bd_stat() -> None:
    dev = _zram(_system(), size="1M")
    st = dev.stats()
    mm_stat = ("orig_data_size", "compr_data_size", "mem_used_total", "mem_limit", "mem_used_max",
               "same_pages", "pages_compacted", "huge_pages", "huge_pages_since")
    io_stat = ("failed_reads", "failed_writes", "invalid_io", "notify_free")
    bd_stat = ("bd_count", "bd_reads", "bd_writes")
    assert all(k in st for k in mm_stat + io_stat + bd_stat)


# ---------------------------------------------------------------------------- SWP_SYNCHRONOUS_IO


@pytest.mark.parametrize(
    ("stack", "flags"),
    [
        ("zram", SWAPIN_NO_READAHEAD | SWAPIN_FREE_CACHE),
        ("zswap>zram", SWAPIN_NO_READAHEAD | SWAPIN_FREE_CACHE),  # zswap is no swap device of its own
        ("zram>swapfile", SWAPIN_NO_READAHEAD | SWAPIN_FREE_CACHE),
        ("swapfile", 0),
        ("zswap>swapfile", 0),
        ("vswap>zram", 0),  # v5: not modeled as synchronous
    ],
)
def test_synchronous_io_areas(stack: str, flags: int) -> None:
    system = _system()
    system.swapon(stack, size="4M")
    entry = system.swap_out(Folio(_text(1)))
    assert system.swapin_flags(entry) == flags


def _mm(stack: str) -> tuple[swapops.SwapSystem, MM]:
    system = _system()
    mix = ContentMix(seed=2)
    mm = MM(system, 256, mix.page, page_cluster=3)
    system.owner = mm
    system.swapon(stack, size="4M")
    return system, mm


@pytest.mark.parametrize("stack", ["zram", "swapfile"])
def test_swapin_frees_the_slot_and_skips_readahead_on_zram_only(stack: str) -> None:
    system, mm = _mm(stack)
    n = 600
    mm.spawn(1)
    mm.replay([WRITE] * n, [1] * n, list(range(n)))
    mm.replay([READ] * n, [1] * n, list(range(n)))  # read everything back: major faults
    st = mm.stats()
    mm.check()
    if stack == "zram":
        assert st["swap_ra"] == 0 and st["swap_cache_freed_swapin"] > 0
    else:
        assert st["swap_ra"] > 0 and st["swap_cache_freed_swapin"] == 0


# ---------------------------------------------------------------------------- placement and options


def test_placement_rules() -> None:
    system = _system()
    with pytest.raises(InvalidStackError, match="zram needs a device below that keeps any page"):
        system.swapon("zram>ghost", size="4M")
    with pytest.raises(InvalidStackError, match="cannot sit on zswap"):
        system.swapon("zram>zswap>swapfile", size="4M")
    with pytest.raises(ConfigError, match="disksize is required"):
        system.swapon("zram")
    with pytest.raises(ConfigError, match="disagree"):
        system.swapon("zram:disksize=1M,size=2M")
    with pytest.raises(ConfigError, match="at least 10 pages"):
        system.swapon("zram:disksize=16K")
    with pytest.raises(ConfigError, match="primary"):
        system.swapon("zram:recomp_algorithm=lz4", size="1M")


def test_round_trip_of_random_traffic_with_writeback() -> None:
    system, dev = _backed(writeback="huge_idle", writeback_interval=10_000, mem_limit="512K")
    rng = random.Random(5)
    live: dict[tuple[int, int], bytes] = {}
    for step in range(1500):
        op = rng.random()
        if op < 0.5 and len(live) < 600:
            kind = rng.choice(("text", "random", "same"))
            data = _text(step) if kind == "text" else _random(step) if kind == "random" else bytes([step % 251 + 1]) * PAGE_SIZE
            with contextlib.suppress(OutOfSwapSpaceError):
                live[system.swap_out(Folio(data))] = data
        elif op < 0.8 and live:
            entry = rng.choice(list(live))
            assert system.swap_in(entry).data == live[entry]
        elif live:
            entry = rng.choice(list(live))
            system.swap_free(entry)
            del live[entry]
        system.advance(1000)
        if step % 100 == 0:
            dev.check_invariants()
    assert dev.stats()["bd_writes"] > 0
    for entry, data in live.items():
        assert system.swap_in(entry).data == data


def test_a_backing_device_read_error_is_reported_and_the_page_kept() -> None:
    from swapops.testing import faulty

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        system = swapops.SwapSystem(seed=1, plugins=[faulty])
    top = system.swapon("zram>faulty>swapfile", size="4M")
    assert isinstance(top, ZramDevice)
    entry = system.swap_out(Folio(_text(4)))
    assert top.writeback(index=entry[1])["written"] == 1
    flt = top.lower
    assert flt is not None
    flt.inject("read", 1)  # type: ignore[attr-defined]
    with pytest.raises(DeviceIOError):
        system.swap_in(entry)
    assert top.stats()["failed_reads"] == 1
    assert system.swap_in(entry).data == _text(4)


# ---------------------------------------------------------------------------- kernel overhead


def test_kernel_overhead_by_hand() -> None:
    system = _system()
    dev = _zram(system, size="4M")  # 1024 pages, 2 clusters
    rep = dev.kernel_overhead()
    # zram table 16 B x 1024, cluster_info 48 B x 2, the header's cluster table (4 KiB)
    assert rep["static_bytes"] == 16 * 1024 + 48 * 2 + 4096
    entry = system.swap_out(Folio(_text(1)))
    rep = dev.kernel_overhead()
    # one more pool object (+8 B handle; the header page's is counted too) and
    # its slot's cluster table (the second cluster, 4 KiB)
    assert rep["total_bytes"] == rep["static_bytes"] + 8 * 2 + 4096 * (entry[1] >> 9 != 0)
    model = overhead.zram_model(1024, backing_pages=100, actime=True)
    assert model.static_bytes == 24 * 1024 + 8 * 2


def test_modeled_time_counts_compressor_calls() -> None:
    system = _system()
    dev = _zram(system, size="1M", comp_algorithm="zstd")
    entry = system.swap_out(Folio(_text(1)))
    system.swap_in(entry)
    st = dev.stats()
    assert st["compress_calls"] == 2 and st["decompress_calls"] == 1  # the header page and ours
    from swapops.compress import COMPRESSOR_COST_NS

    comp, decomp = COMPRESSOR_COST_NS["zstd"]
    assert st["modeled_time_ns"] == 2 * comp + decomp


def test_a_real_random_page_source() -> None:
    system = _system()
    _zram(system, size="1M")
    data = os.urandom(PAGE_SIZE)
    assert system.swap_in(system.swap_out(Folio(data))).data == data
