"""The benchmark harness runs end to end and writes the JSON it documents.

This is not a timed test: ``--smoke`` uses tiny sizes and one repeat, and
only the shape of the output is checked (every section, every target, finite
measured values), never whether a target was met.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_TARGETS = {
    "rt_swapfile_vs_floor",
    "vswap_overhead_o0", "vswap_overhead_o4", "vswap_overhead_o9",
    "vswap_zswap_overhead_o0", "vswap_zswap_overhead_o4", "vswap_zswap_overhead_o9",
    "zswap_beyond_codec",
    "replay_cpu", "replay_wall",
    "swapon_1t_time", "swapon_1t_memory", "perpage_1t_vs_1g",
    "slot_bytes_swapfile", "slot_bytes_vswap",
    "nand_per_call", "nand_bulk",
}


def test_smoke_run_writes_valid_json(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "smoke.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--smoke", "--no-table",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["schema"] == "swapops.bench/1"
    assert doc["mode"] == "smoke"
    assert doc["machine"]["cpu"] and doc["machine"]["python"].startswith("3.")
    assert doc["date"] and doc["duration_s"] > 0
    assert set(doc["results"]) == {"roundtrip", "zswap", "replay", "scale", "nand", "dispatch"}

    rt = doc["results"]["roundtrip"]
    assert not rt["errors"], rt["errors"]
    for order in ("0", "4", "9"):
        row = rt["us_per_page"][order]
        assert set(row) == {"floor", *rt["stacks"]}
        for cell in row.values():
            assert cell["us_per_page"]["median"] > 0
    assert rt["ratios"]["0"]["vswap>swapfile / swapfile"]["n"] == 1
    for row in rt["device_ops"]["stacks"].values():
        assert set(row) == {"alloc", "write", "read", "free", "sum"}

    z = doc["results"]["zswap"]["us_per_page"]
    assert z["raw_codec"]["median"] > 0 and z["layer_ops"]["median"] > 0
    assert z["zsmalloc_malloc_free"]["median"] > 0 and z["write"]["n"] == 1

    sb = doc["results"]["scale"]["slot_bytes"]
    assert sb["swapfile"]["bytes_per_slot"] > 0
    assert sb["vswap>swapfile"]["bytes_per_slot"] > sb["swapfile"]["bytes_per_slot"]
    assert doc["results"]["scale"]["swapon_memory"]["swapfile"]["1T"]["slots"] == 1 << 28

    nand = doc["results"]["nand"]
    assert nand["source"] == "benchmarks/bench_flash.py"
    assert set(nand["paths"]) == {"per_call", "bulk", "plain_python_ftl"}

    dp = doc["results"]["dispatch"]
    assert set(dp["ns"]) == {"direct", "table", "pluggy"}
    assert all(cell["median"] > 0 for cell in dp["ns"].values())

    ids = {t["id"] for t in doc["targets"]}
    assert ids == EXPECTED_TARGETS
    for t in doc["targets"]:
        assert isinstance(t["measured"], float) and math.isfinite(t["measured"]), t
        assert t["met"] in (True, False)
        assert t["op"] in ("<=", ">=") and t["goal"] > 0


def test_unknown_section_is_refused() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--only", "rt,bogus"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "unknown section 'bogus'" in proc.stderr


def test_issue15_benchmark_smoke_writes_json(tmp_path: Path) -> None:
    """benchmarks/bench_issue15.py end to end at tiny sizes, without a previous release to compare."""
    out = tmp_path / "i15.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_issue15.py"), "--smoke", "--json", str(out)],
                   check=True, capture_output=True, text=True, cwd=ROOT / "benchmarks", timeout=600)
    res = json.loads(out.read_text())
    assert res["schema"] == "swapops.bench.issue15/1" and res["baseline"] is None
    assert set(res["replay"]["stacks"]) == {"swapfile", "vswap>zswap>swapfile"}
    for cell in res["replay"]["stacks"].values():
        assert cell["events_per_cpu_s"]["new"] > 0 and cell["events_per_cpu_s"]["new_bytes"] > 0
    assert set(res["flat"]["runs"]) == {"new_ref", "new_bytes"}
    for cell in res["flat"]["runs"].values():
        assert all(math.isfinite(x) and x > 0 for x in cell["us_per_event"])
    assert {t["id"] for t in res["targets"]} == {
        "replay_swapfile", "replay_vswap_zswap", "bytes_per_page_ref", "bytes_per_slot_swapfile", "cost_flat"}
    assert res["slots"]["swapfile"]["bytes_per_slot_without_caller_entries"] > 0
