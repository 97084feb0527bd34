"""Sweeps: the same 40 points through each executor give the same metrics; resume works."""

from __future__ import annotations

import json
import pathlib

import pytest
from click.testing import CliRunner

from swapops.errors import ConfigError
from swapops.sweep import expand, load_sweep, metric_rows, point_id, read_results, run_sweep
from swapops.sweep_cli import plot_command, sweep_command

SPEC = {
    "name": "tiny-waf",
    "stacks": ["swapfile:device=flash,op={op}", "flashbuf>swapfile:device=flash,op={op}"],
    "workloads": ["uniform"],
    "seeds": [1, 2, 3, 4],
    "base": {"ram": "2M", "swap": "16M", "events": 1500, "swapoff": False},
    "grid": {"op": [0.07, 0.15, 0.28, 0.5, 1.0]},
    "metrics": ["totals.waf", "totals.nand_writes", "totals.pswpout", "totals.device_writes"],
}


def by_id(rows: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {row["point_id"]: row for row in metric_rows(rows)}


def test_expand_is_the_cartesian_product() -> None:
    points = expand(SPEC)
    assert len(points) == 2 * 5 * 4
    assert len({point_id(p) for p in points}) == 40
    assert points[0]["stack"] == "swapfile:device=flash,op=0.07"
    assert points[0]["run"] == {"ram": "2M", "swap": "16M", "events": 1500, "swapoff": False}


@pytest.fixture(scope="module")
def serial_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    out = tmp_path_factory.mktemp("serial") / "results.jsonl"
    rows = run_sweep(SPEC, out, executor="serial")
    assert len(rows) == 40 and not [r for r in rows if r["error"]]
    return rows


def test_process_pool_matches_serial(
    serial_rows: list[dict[str, object]], tmp_path: pathlib.Path
) -> None:
    rows = run_sweep(SPEC, tmp_path / "results.csv", executor="process", workers=2)
    assert by_id(rows) == by_id(serial_rows)
    assert by_id(read_results(tmp_path / "results.csv")) == by_id(serial_rows)


def test_dask_local_cluster_matches_serial(
    serial_rows: list[dict[str, object]], tmp_path: pathlib.Path
) -> None:
    pytest.importorskip("distributed")
    rows = run_sweep(SPEC, tmp_path / "results.jsonl", executor="dask", workers=2)
    assert by_id(rows) == by_id(serial_rows)


def test_rows_are_reproducible_from_their_config(serial_rows: list[dict[str, object]]) -> None:
    from swapops.sweep import run_point

    row = serial_rows[7]
    again = run_point(json.loads(str(row["config"])), SPEC["metrics"])
    assert metric_rows([again]) == metric_rows([row])


def test_interrupted_sweep_resumes(
    tmp_path: pathlib.Path, serial_rows: list[dict[str, object]]
) -> None:
    out = tmp_path / "results.csv"
    first = run_sweep(SPEC, out, executor="serial", limit=15)
    assert len(first) == 15 and not out.exists()  # only the journal so far
    seen: list[tuple[int, int]] = []
    rows = run_sweep(SPEC, out, executor="serial", progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (15, 40) and seen[-1] == (40, 40) and len(seen) == 26  # 25 new points only
    assert by_id(rows) == by_id(serial_rows)
    assert by_id(read_results(out)) == by_id(serial_rows)


def test_failing_point_is_recorded(tmp_path: pathlib.Path) -> None:
    spec = {**SPEC, "stacks": ["swapfile:device=flash,op={op}", "nosuch>swapfile"], "seeds": [1]}
    rows = run_sweep(spec, tmp_path / "r.jsonl", executor="serial")
    failed = [r for r in rows if r["error"]]
    assert len(rows) == 10 and len(failed) == 5
    assert "nosuch" in str(failed[0]["error"])


def test_bad_sweep_files(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep]\nstacks = []\n")
    with pytest.raises(ConfigError, match="stacks"):
        load_sweep(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_sweep(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="placeholder"):
        expand({**SPEC, "stacks": ["swapfile:op={nope}"], "grid": {}})
    with pytest.raises(ConfigError, match=".jsonl"):
        run_sweep(SPEC, tmp_path / "r.txt", executor="serial")


def test_cli_sweep_and_plot(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("matplotlib")
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        '[sweep]\nstacks = ["swapfile:device=flash,op={op}"]\nseeds = [1]\nmetrics = ["totals.waf"]\n'
        '[sweep.base]\nram = "2M"\nswap = "16M"\nevents = 6000\nswapoff = false\n[sweep.grid]\nop = [0.1, 0.3]\n'
    )
    runner = CliRunner()
    out = tmp_path / "r.jsonl"
    result = runner.invoke(
        sweep_command, [str(sweep), "--executor", "serial", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "2 points" in result.output
    png = tmp_path / "f.png"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(row["totals.waf"] is not None for row in rows)  # the figure has points
    result = runner.invoke(plot_command, [str(out), "--x", "op", "--y", "waf", "-o", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
