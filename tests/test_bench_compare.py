"""benchmarks/bench_compare.py runs and writes the JSON it documents (not a timed test)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_compare_writes_its_json(tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    proc = subprocess.run(
        [sys.executable, "bench_compare.py", "--repeats", "1", "--json", str(out), "--",
         "swapfile", "--events", "300", "--ram", "1M", "--swap", "4M"],
        capture_output=True, text=True, timeout=300, cwd=ROOT / "benchmarks",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["schema"] == "swapops.bench.compare/1" and doc["target_s"] == 60.0
    assert doc["wall_s"]["n"] == 1 and math.isfinite(doc["wall_s"]["median"]) and doc["wall_s"]["median"] > 0
    assert isinstance(doc["met"], bool)
