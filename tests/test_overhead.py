"""Modeled kernel metadata (swapops.overhead) and the devices' kernel_overhead()."""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from swapops_vswap import VswapDevice

import swapops
from swapops import Folio, overhead
from swapops.errors import ConfigError
from swapops.overhead import (
    KAIRUI_BYTES_PER_SLOT,
    KAIRUI_TABLE,
    MIB,
    V5_COVER_ENTRIES,
    V5_COVER_TABLE,
    Component,
    OverheadModel,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "overhead.md"


def close(modeled: float, published: float, rel: float = 0.05) -> bool:
    """Within ``rel`` of the published figure; a published 0.00 allows its rounding."""
    if published == 0:
        return abs(modeled) < 0.005
    return abs(modeled - published) <= rel * published


@pytest.fixture
def system() -> Iterator[swapops.SwapSystem]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = swapops.SwapSystem(seed=3)
    yield s
    for dev in list(s.devices):
        s.swapoff(dev)


# ----------------------------------------------------------- reproductions


def test_v5_cover_table_reproduced_within_5_percent() -> None:
    rows = overhead.reproduce_v5_cover()
    assert [u for u, _ in rows] == [0, 25, 50, 75, 100]
    for usage, modeled in rows:
        for col, m, p in zip(overhead.V5_COVER_COLUMNS, modeled, V5_COVER_TABLE[usage], strict=True):
            assert close(m, p), f"{col} at {usage} %: model {m:.2f} MB, cover {p:.2f} MB"


def test_kairui_table_reproduced_within_5_percent() -> None:
    for name, (zero, full, per_slot) in overhead.reproduce_kairui().items():
        p0, p100 = KAIRUI_TABLE[name]
        assert close(zero, p0) and close(full, p100), (name, zero, full)
        assert close(per_slot, KAIRUI_BYTES_PER_SLOT[name]), (name, per_slot)


def test_cover_slopes_match_the_derived_per_entry_costs() -> None:
    """docs/kernel.md §5 (derived): old 16 B/entry with zswap, 8 B on disk; vswap ~24.1 / ~32.1 B."""
    models = overhead.v5_cover_models()
    slope = {name: m.bytes_per_entry() for name, m in models.items()}
    assert slope == {"zswap: old": 16.0, "zswap: vswap": 24.125, "disk: old": 8.0, "disk: vswap": 32.125}
    assert models["disk: old"].static_bytes / V5_COVER_ENTRIES == 3.125  # swap_map + swap_cgroup + zeromap


def test_cluster_info_is_what_separates_the_two_tables() -> None:
    """The cover letter leaves swap_cluster_info out; Kairui counts it (0.5 MB at 32 B x 16384)."""
    legacy = overhead.legacy_swapfile(V5_COVER_ENTRIES)
    assert legacy.total(0) / MIB == KAIRUI_TABLE["P2 (mm-stable)"][0]
    assert legacy.without("cluster_info").total(0) / MIB == V5_COVER_TABLE[0][2]
    with_ci = overhead.vswap_virtual("v5") + overhead.vswap_physical(V5_COVER_ENTRIES, "v5")
    assert with_ci.total(0) / MIB == 2.5  # Kairui's vswap row (copied from the cover) says 2.00


def test_docs_hold_the_generated_tables() -> None:
    text = DOCS.read_text()
    assert overhead.markdown_v5_cover() in text
    assert overhead.markdown_kairui() in text
    assert overhead.markdown_roadmap() in text
    assert overhead.markdown_memcg() in text


def test_memcg_metadata_rows() -> None:
    rows = overhead.reproduce_memcg()
    p4 = rows["P4 swap table + memcg_table, B/slot at 100 %"]
    assert abs(p4 - 10) / 10 < 0.05  # 8 B swap table + 2 B memcg id + 48 B per 512-slot cluster
    assert p4 == 8 + 2 + 48 / 512
    # the STE's physical device has no memcg table: 512 u16 ids saved per cluster
    assert rows["STE: memcg_table a physical cluster no longer allocates, B"] == 512 * 2


def test_roadmap_p4_and_ste_reproduced_within_5_percent() -> None:
    for name, per_slot in overhead.reproduce_roadmap().items():
        published = overhead.KAIRUI_ROADMAP[name]
        assert abs(per_slot - published) / published < 0.05, name
    static, saving = overhead.reproduce_p4_static()
    assert static == overhead.P4_STATIC_PER_SLOT  # 48 B per 512-slot cluster, exactly
    assert abs(saving - 512) / 512 < 0.05
    ste = overhead.vswap_virtual("ste")
    assert ste.bytes_per_entry() == overhead.STE_PER_SLOT["virtual_table"] + overhead.STE_PER_SLOT[
        "swap_table"] + 80 / 512


def test_ghost_and_zram_builders_by_hand() -> None:
    dyn = overhead.ghost_swapfile(1 << 20)
    assert dyn.static_bytes == 0 and dyn.total(512) == 72 + 4096  # one cluster in use
    static = overhead.ghost_swapfile(1 << 20, dynamic=False)
    assert static.static_bytes == 48 * 2048
    zram = overhead.zram_model(1024, backing_pages=1000)
    assert zram.static_bytes == 16 * 1024 + 8 * 16  # table + ceil(1000 / 64) longs
    assert zram.total(10) == zram.static_bytes + 10 * 8  # a handle per object
    assert overhead.zram_model(1024, actime=True).static_bytes == 24 * 1024


# ------------------------------------------------------------ model algebra


def test_model_arithmetic() -> None:
    m = OverheadModel("t", (Component("a", static=100), Component("b", per_entry=3, per_cluster=512)))
    assert m.static_bytes == 100 and m.bytes_per_entry() == 4
    assert m.total(1000) == 100 + 3000 + 512 * 2  # 1000 entries fill 2 clusters densely
    assert m.total(1000, clusters=10) == 100 + 3000 + 5120  # sparse costs more
    rep = m.report(10, clusters=3, reserved_clusters=1)
    assert rep == {"static_bytes": 612.0, "bytes_per_entry": 4.0, "total_bytes": 100 + 30 + 1536}
    assert m.report(0, reserved_clusters=1)["total_bytes"] == rep["static_bytes"]
    assert m.without("a").names == ("b",) and m.only("a").names == ("a",)
    assert (m + m.only("a")).static_bytes == 200
    assert m.breakdown(512) == {"a": 100, "b": 3 * 512 + 512}
    with pytest.raises(ConfigError):
        m.without("nope")
    with pytest.raises(ConfigError):
        overhead.vswap_virtual("v7")


def test_published_structure_sizes() -> None:
    assert overhead.vswap_virtual("v5").bytes_per_entry() == 24 + 64 / 512
    assert overhead.vswap_virtual("ste").bytes_per_entry() == 16 + 80 / 512
    p4 = overhead.swap_table_p4(1 << 20)
    assert p4.static_bytes / (1 << 20) == 0.09375  # P4 v3: 48 B per 512-slot cluster
    assert overhead.swap_table_p4(512, memcg_table=True).bytes_per_entry() == 10
    assert overhead.swap_table_p3(512).static_bytes == 512 * 2.125 + 32
    assert overhead.zswap_model().bytes_per_entry() == 48 + 8 + 8
    assert overhead.zswap_model(below_virtual=True).bytes_per_entry() == 48 + 8
    assert overhead.zswap_model(nr_slots=V5_COVER_ENTRIES).static_bytes == 512 * 16  # 32 GB: 512 trees
    assert overhead.vswap_physical(512, "v5").static_bytes == 128 + 32
    dyn = overhead.mapping_layer("fb", entry_bytes=8, cluster_bytes=64)
    assert dyn.static_bytes == 0 and dyn.bytes_per_entry() == 8 + 64 / 512
    fixed = overhead.mapping_layer("fb", dynamic=False, nr_slots=1024, static_bytes=10)
    assert fixed.static_bytes == 10 + 8 * 1024 and fixed.bytes_per_entry() == 0
    with pytest.raises(ConfigError):
        overhead.mapping_layer("fb", dynamic=False)


def test_physical_model_follows_the_layer_above() -> None:
    assert overhead.physical_model(1024).design == "p4"
    assert overhead.physical_model(1024, VswapDevice({})).design == "vswap-v5-physical"
    assert overhead.physical_model(1024, VswapDevice({"design": "ste"})).design == "vswap-ste-physical"


# ------------------------------------------------------------- live devices


def test_swapfile_kernel_overhead_by_hand(system: swapops.SwapSystem) -> None:
    rng = random.Random(1)
    sf = system.swapon("swapfile", size="8M")  # 2048 slots = 4 clusters; slot 0 is the header
    assert sf.kernel_overhead() == {"static_bytes": 4 * 48 + 4096, "bytes_per_entry": 8.0,
                                    "total_bytes": 4 * 48 + 4096}
    for _ in range(1000):  # clusters 0 (511 free slots) and 1 in use
        system.swap_out(Folio(rng.randbytes(4096)))
    assert sf.kernel_overhead()["total_bytes"] == 4 * 48 + 2 * 4096


def test_vswap_stack_kernel_overhead_by_hand(system: swapops.SwapSystem) -> None:
    rng = random.Random(2)
    v = system.swapon("vswap>swapfile", size="8M")
    for i in range(1500):
        system.swap_out(Folio(rng.randbytes(4096)) if i % 3 else Folio(bytes(4096)))
    assert v.used == 1500 and v.lower is not None and v.lower.used == 1000
    # vswap v5: 3 virtual clusters in use x (512 descriptors x 24 B + 64 B header)
    assert v.kernel_overhead()["total_bytes"] == 3 * (512 * 24 + 64)
    # the swapfile below: 2 bits/slot bitmaps + 32 B cluster_info + reverse map per cluster in use
    below = v.lower.kernel_overhead()
    assert below["static_bytes"] == 2048 / 4 + 4 * 32 + 4096
    assert below["total_bytes"] == 2048 / 4 + 4 * 32 + 2 * 4096
    stack = overhead.stack_overhead(v)
    assert list(stack) == ["0:vswap", "1:swapfile", "total"]
    assert stack["total"]["total_bytes"] == 3 * (512 * 24 + 64) + below["total_bytes"]


def test_full_size_devices_static_overhead(system: swapops.SwapSystem) -> None:
    """The cover's 32 GB swapfile, swapped on for real (clusters are lazy, so this is cheap)."""
    direct = system.swapon("swapfile", size="32G")
    assert direct.kernel_overhead()["static_bytes"] == 16384 * 48 + 4096
    v = system.swapon("vswap>swapfile", size="32G")
    assert v.kernel_overhead()["static_bytes"] == 0  # "zswap: vswap" at 0 %: 0.00 MB
    assert v.lower is not None
    static = v.lower.kernel_overhead()["static_bytes"]
    assert static == 2 * MIB + 16384 * 32 + 4096  # the cover's 2.00 MB + cluster_info + cluster 0
