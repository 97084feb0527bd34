"""docs/validation.md is current: regenerated from the recorded kernel runs (lab/results)
and today's model it is the file as committed; every shipped scenario has a record of
the pinned kernel, made from the scenario file as it is now."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from swapops.errors import ConfigError
from swapops.lab.common import PINNED, LabError
from swapops.lab.compare import decode_offsets, encode_offsets
from swapops.lab.counters import COUNTERS, metric_for, resolve
from swapops.lab.guest import parse_zoneinfo
from swapops.lab.model import machine_from_guest
from swapops.lab.scenario import load_lab_scenario, parse_lab_scenario
from swapops.lab.validation import load_results, render_doc

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = {"no-zswap", "zswap-lz4", "zswap-incompressible", "zswap-shrinker", "fork", "page-cluster-0",
            "page-cluster-3", "large-folios"}


def test_every_required_scenario_is_shipped_and_recorded() -> None:
    names = {load_lab_scenario(p).name for p in (ROOT / "lab" / "scenarios").glob("*.toml")}
    assert names >= REQUIRED
    for path in (ROOT / "lab" / "scenarios").glob("*.toml"):
        assert load_lab_scenario(path).name == path.stem
    recorded = load_results(ROOT)  # raises on a missing or stale record
    assert {scn.name for scn, _ in recorded} == names
    assert all(rec["release"] == PINNED.release for _, rec in recorded)


@pytest.mark.slow
def test_validation_doc_is_current() -> None:
    text = (ROOT / "docs" / "validation.md").read_text()
    assert PINNED.release in text and PINNED.spec in text
    assert render_doc(ROOT) == text, (
        "docs/validation.md is stale: run 'swapops lab validate --model-only' (model changed) or "
        "'swapops lab validate' (scenarios changed)")


def test_stale_record_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lab" / "scenarios").mkdir(parents=True)
    (tmp_path / "lab" / "results").mkdir(parents=True)
    src = ROOT / "lab" / "scenarios" / "no-zswap.toml"
    dst = tmp_path / "lab" / "scenarios" / "no-zswap.toml"
    dst.write_text(src.read_text())
    with pytest.raises(LabError, match="missing"):
        load_results(tmp_path)
    saved = json.loads((ROOT / "lab" / "results" / "no-zswap.json").read_text())
    (tmp_path / "lab" / "results" / "no-zswap.json").write_text(json.dumps(saved))
    assert len(load_results(tmp_path)) == 1
    dst.write_text(src.read_text() + "\n# edited\n")
    with pytest.raises(LabError, match="another version"):
        load_results(tmp_path)


def test_counter_table_resolves_in_this_swapops() -> None:
    """Every metric the table names exists (a rename shows here, not as a silent n/a)."""
    from swapops.lab.model import Machine, run_model

    scn = parse_lab_scenario({"name": "t", "guest": {"memory": "128M", "swap_size": "16M"},
                              "zswap": {"enabled": True, "compressor": "lz4"},
                              "workload": {"size": "2M", "phases": ["fill", "read"]}})
    _stack, phases = run_model(scn, Machine(ram_pages=300, wmark_min=10, wmark_low=20, wmark_high=30,
                                            mem_total=128 << 20))
    snap = {**phases[-1].snapshot, "lab": {"swap_ptes": 0}}
    for c in COUNTERS:
        path = metric_for(c)
        if path is not None:
            resolve(snap, path)  # KeyError if the metric is gone
    zswpout = next(c for c in COUNTERS if c.name == "zswpout")
    assert resolve(snap, metric_for(zswpout) or "") > 0  # the zswap layer's counters are found


def test_offsets_round_trip_and_machine() -> None:
    offsets = np.array([-1, 5, 6, 7, -1, 1000, 3, -1], dtype=np.int64)
    assert (decode_offsets(encode_offsets(offsets)) == offsets).all()
    zones = parse_zoneinfo("Node 0, zone      DMA\n  pages free     3808\n        min      33\n        low      41\n"
                           "        high     49\n        spanned  4095\n        present  3998\n        managed  3840\n"
                           "        protection: (0, 189, 189, 189, 189)\n"
                           "Node 0, zone    DMA32\n  pages free     43450\n        min      423\n        low      528\n"
                           "        high     633\n        managed  50600\n        protection: (0, 0, 0, 0, 0)\n"
                           "Node 0, zone   Normal\n  pages free     0\n        managed  0\n")
    m = machine_from_guest(zones, {"MemTotal": 217760})
    assert (m.ram_pages, m.wmark_min, m.wmark_low, m.wmark_high) == (47258, 645, 758, 871)


def test_scenario_file_is_checked() -> None:
    for data, match in [
        ({}, "name"),
        ({"name": "x", "guest": {"memroy": "1G"}}, "unknown key"),
        ({"name": "x", "zswap": {"compressor": "snappy"}}, "compressor"),
        ({"name": "x", "guest": {"mthp": ["64kB"]}}, "thp = true"),
        ({"name": "x", "workload": {"phases": ["read"]}}, "before fill"),
        ({"name": "x", "workload": {"size": "100K"}}, "at least"),
        ({"name": "x", "seed": -1}, "seed"),
        ({"name": "x", "guest": {"page_cluster": "3"}}, "wrong type"),
    ]:
        with pytest.raises(ConfigError, match=match):
            parse_lab_scenario(data)
