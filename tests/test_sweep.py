"""Sweeps: the same 40 points through each executor give the same metrics; resume works."""

from __future__ import annotations

import json
import pathlib

import pytest
from click.testing import CliRunner

from swapops.cli import main
from swapops.errors import ConfigError
from swapops.sweep import (
    SweepInterrupted,
    expand,
    load_sweep,
    metric_rows,
    point_id,
    read_results,
    run_sweep,
)
from swapops.sweep_cli import plot_command, sweep_command

ROOT = pathlib.Path(__file__).resolve().parent.parent

SPEC = {
    "name": "tiny-waf",
    "stacks": ["swapfile:device=flash,op={op}", "flashbuf>swapfile:device=flash,op={op}"],
    "workloads": ["uniform"],
    "seeds": [1, 2, 3, 4],
    "base": {"ram": "2M", "swap": "16M", "events": 1500, "swapoff": False},
    "grid": {"op": [0.07, 0.15, 0.28, 0.5, 1.0]},
    "metrics": ["totals.waf", "totals.nand_writes", "totals.pswpout", "totals.swap_entries_allocated"],
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


@pytest.mark.slow
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
    spec = {**SPEC, "stacks": ["swapfile:device=flash,op={op}", "nosuch>swapfile:op={op}"], "seeds": [1]}
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


# --------------------------------------------------------------------------- sweep-file mistakes

TINY = {
    "stacks": ["swapfile:device=flash,op={op}"],
    "seeds": [1],
    "base": {"ram": "1M", "swap": "16M", "events": 300, "swapoff": False},
    "grid": {"op": [0.1, 0.3]},
    "metrics": ["totals.waf"],
}


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"seedz": [1]}, "unknown key 'seedz' in [sweep]; did you mean 'seeds'?"),
        ({"base": {"evnts": 100}}, "'evnts' in [sweep.base]"),
        ({"grid": {"op": [0.1], "size_mb": [1, 2]}}, "'size_mb' in [sweep.grid]"),
        ({"points": [{"opp": 0.5}]}, "'opp' in [[sweep.points]] #0"),
        ({"base": {"seed": 3}}, "'seed' in [sweep.base]"),
        ({"grid": {"op": [0.1], "seed": [1, 2]}}, "'seed' in [sweep.grid]"),
        ({"metrics": ["totals.nosuch"]}, "unknown metric 'totals.nosuch'"),
        ({"metrics": ["mm.pgscan_anno"]}, "did you mean 'mm.pgscan_anon'?"),
        ({"metrics": []}, "non-empty list"),
        ({"seeds": [1, 1]}, "twice"),
        ({"seeds": 0}, "at least 1"),
        ({"workloads": []}, "workloads"),
        ({"workload": "zipf", "workloads": ["zipf"]}, "not both"),
    ],
)
def test_sweep_file_mistakes_are_refused(change: dict[str, object], needle: str) -> None:
    from swapops.sweep import check_spec

    with pytest.raises(ConfigError) as info:
        check_spec({**TINY, **change})
    assert needle in str(info.value)


def test_base_value_used_only_by_a_placeholder_is_accepted() -> None:
    from swapops.sweep import check_spec

    spec = check_spec({**TINY, "stacks": ["swapfile:device={dev},op={op}"], "base": {"dev": "flash"}})
    points = expand(spec)
    assert [p["stack"] for p in points] == ["swapfile:device=flash,op=0.1", "swapfile:device=flash,op=0.3"]
    assert all("dev" not in p["run"] for p in points)  # not an argument of run


def test_rows_name_their_design_and_plot_draws_one_line_per_design(
    serial_rows: list[dict[str, object]],
) -> None:
    from swapops.sweep_cli import sweep_series

    assert {r["design"] for r in serial_rows} == set(SPEC["stacks"])
    series = sweep_series(serial_rows, "param.op", "totals.waf", "design")  # type: ignore[arg-type]
    assert sorted(series) == sorted(SPEC["stacks"])
    for points in series.values():  # one point per op, the mean of 4 seeds
        assert [p[0] for p in points] == [0.07, 0.15, 0.28, 0.5, 1.0]
        assert all(p[4] == 4 and p[2] <= p[1] <= p[3] for p in points)
    first = [r["totals.waf"] for r in serial_rows if r["design"] == SPEC["stacks"][0] and r["param.op"] == 0.07]
    assert series[SPEC["stacks"][0]][0][1] == pytest.approx(sum(first) / 4)  # type: ignore[arg-type]


def test_plot_default_hue_is_the_design(tmp_path: pathlib.Path, serial_rows: list[dict[str, object]],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in serial_rows))
    seen: list[str] = []

    def fake_plot(rows: object, xkey: str, ykey: str, hkey: str, path: str, **kw: object) -> dict:  # type: ignore[type-arg]
        seen.append(hkey)
        return {}

    monkeypatch.setattr("swapops.sweep_cli.plot_sweep", fake_plot)
    result = CliRunner().invoke(plot_command, [str(out), "--x", "op", "--y", "waf"])
    assert result.exit_code == 0, result.output
    assert seen == ["design"]


def test_sweep_cli_mistakes_are_one_line(tmp_path: pathlib.Path, serial_rows: list[dict[str, object]]) -> None:
    from swapops.cli import main

    runner = CliRunner()
    good = tmp_path / "r.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in serial_rows[:3]))
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text(good.read_text() + "not json at all\n" + json.dumps(serial_rows[3]) + "\n")
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text('[sweep]\nstacks = ["swapfile"]\n[sweep.base]\nevnts = 100\n')
    cases = [
        (["plot", str(garbage), "--x", "op", "--y", "waf"], "line 4: not valid JSON"),
        (["plot", str(good), "--x", "stack", "--y", "waf"], "column 'stack' is not numeric"),
        (["plot", str(good), "--x", "op", "--y", "waf", "--hue", "nope"], "no column 'nope'"),
        (["sweep", str(bad_file), "--out", str(tmp_path / "o.jsonl")], "'evnts'"),
    ]
    for args, needle in cases:
        res = runner.invoke(main, args)
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.count("\n") == 1 and needle in res.stderr, res.stderr
        assert "internal error" not in res.stderr


def test_truncated_last_line_is_skipped_and_resume_continues_cleanly(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "r.jsonl"
    run_sweep(TINY, out, executor="serial", limit=1)
    whole = out.read_text()
    out.write_text(whole + whole[: len(whole) // 2])  # an interruption in the middle of a row
    assert len(read_results(out)) == 1  # the cut row is skipped, not an error
    rows = run_sweep(TINY, out, executor="serial")
    assert len(rows) == 2 and not [r for r in rows if r["error"]]
    assert len(read_results(out)) == 2  # every line whole again


def test_every_point_failing_exits_non_zero(tmp_path: pathlib.Path) -> None:
    from swapops.cli import main

    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nstacks = ["nosuch>swapfile"]\nseeds = 2\n[sweep.base]\nevents = 100\n')
    res = CliRunner().invoke(main, ["sweep", str(sweep), "--executor", "serial", "--out", str(tmp_path / "r.jsonl")])
    assert res.exit_code == 1, res.output
    assert "2 points" in res.stdout and "every point of the sweep failed (2 points)" in res.stderr


def test_metric_with_no_value_is_warned(tmp_path: pathlib.Path) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        '[sweep]\nstacks = ["swapfile"]\nmetrics = ["totals.waf", "areas.5.stats.used"]\n'
        '[sweep.base]\nram = "1M"\nevents = 300\nswapoff = false\n'
    )
    res = CliRunner().invoke(sweep_command, [str(sweep), "--executor", "serial", "--out", str(tmp_path / "r.jsonl")])
    assert res.exit_code == 0, res.output
    assert "no successful point has a value for totals.waf, areas.5.stats.used" in res.stderr


def test_progress_stays_off_stdout(tmp_path: pathlib.Path) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nstacks = ["swapfile"]\n[sweep.base]\nram = "1M"\nevents = 300\n')
    out = tmp_path / "r.jsonl"
    res = CliRunner().invoke(sweep_command, [str(sweep), "--executor", "serial", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout == f"1 points in {out}; 0 failed\n"


def test_parquet_output_and_resume(tmp_path: pathlib.Path, serial_rows: list[dict[str, object]]) -> None:
    pytest.importorskip("pyarrow")
    out = tmp_path / "results.parquet"
    first = run_sweep(SPEC, out, executor="serial", limit=7)
    assert len(first) == 7 and not out.exists()
    seen: list[tuple[int, int]] = []
    rows = run_sweep(SPEC, out, executor="serial", progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (7, 40) and len(seen) == 34  # 33 new points only
    assert by_id(read_results(out)) == by_id(serial_rows) == by_id(rows)
    again = run_sweep(SPEC, out, executor="serial", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (40, 40) and by_id(again) == by_id(serial_rows)  # nothing rerun
    out.write_bytes(b"PAR1 not really")
    with pytest.raises(ConfigError, match="not a readable Parquet file"):
        read_results(out)


def test_interrupt_cancels_queued_points_and_keeps_finished_rows(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import concurrent.futures

    shutdowns: list[dict[str, object]] = []

    class Pool(concurrent.futures.ProcessPoolExecutor):
        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            shutdowns.append({"wait": wait, "cancel_futures": cancel_futures})
            super().shutdown(wait=wait, cancel_futures=cancel_futures)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    spec = {**TINY, "grid": {"op": [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45]}}
    out = tmp_path / "r.jsonl"

    def progress(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        run_sweep(spec, out, executor="process", workers=1, progress=progress)
    assert shutdowns and shutdowns[0] == {"wait": False, "cancel_futures": True}
    kept = read_results(out)
    # the rows taken before the interruption, and any that finished meanwhile
    assert 2 <= len(kept) < 8 and not [r for r in kept if r["error"]]
    assert isinstance(info.value, SweepInterrupted) and info.value.kept == len(kept)
    rows = run_sweep(spec, out, executor="serial")
    assert len(rows) == 8 and not [r for r in rows if r["error"]]


# --------------------------------------------------------------------------- the worked sweep of docs/sweep.md

DOC_SWEEP = ROOT / "docs" / "examples" / "sweep-flash-op.toml"


def test_docs_sweep_file_parses_runs_and_is_the_one_in_the_doc(tmp_path: pathlib.Path) -> None:
    text = DOC_SWEEP.read_text()
    body = text[text.index("[sweep]"):]
    assert body.strip() in (ROOT / "docs" / "sweep.md").read_text()  # the doc shows this file
    spec = load_sweep(DOC_SWEEP)
    points = expand(spec)
    assert len(points) == 30 and len({point_id(p) for p in points}) == 30
    assert {p["stack_template"] for p in points} == set(spec["stacks"])
    cheap = {**spec, "base": {**spec["base"], "events": 3000}}
    rows = run_sweep(cheap, tmp_path / "r.jsonl", executor="serial", limit=2)
    assert len(rows) == 2 and not [r for r in rows if r["error"]]
    assert all(isinstance(r["totals.waf"], float) and r["totals.waf"] >= 1.0 for r in rows)
    assert set(spec["metrics"]) <= set(rows[0])


def test_docs_sweep_reference_example_expands_as_documented() -> None:
    import re
    import tomllib
    from collections import Counter

    from swapops.sweep import check_spec

    doc = (ROOT / "docs" / "sweep.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", doc, re.S)
    assert len(blocks) == 2
    points = expand(check_spec(tomllib.loads(blocks[1])["sweep"]))
    counts = Counter(p["stack_template"] for p in points)
    assert counts == {"zswap:compressor={comp}>swapfile": 30, "swapfile": 18}  # 48, as the doc says
    assert len({point_id(p) for p in points}) == 48


def test_a_run_repeated_by_an_unused_placeholder_is_one_point() -> None:
    from swapops.sweep import check_spec

    spec = check_spec({**TINY, "stacks": ["swapfile:device=flash,op={op}", "swapfile:device=flash"]})
    points = expand(spec)
    assert [p["stack"] for p in points] == [
        "swapfile:device=flash,op=0.1", "swapfile:device=flash", "swapfile:device=flash,op=0.3"
    ]
    assert points[1]["params"]["op"] == 0.1  # the first parameter set that made it


# --------------------------------------------------------------------------- interruption and dead workers


def _group_alive(pgid: int) -> list[str]:
    """Processes of group ``pgid`` that can still compute: not zombies awaiting init,
    not processes already exiting (their memory, and so their command line, released)."""
    alive = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if cmdline:
                alive.append(f"{text[: text.rindex(')') + 1]}: {cmdline}")
    return alive


@pytest.mark.slow
def test_ctrl_c_on_a_process_sweep_stops_at_once_keeps_rows_and_exits_130(tmp_path: pathlib.Path) -> None:
    """SIGINT to the process group, as a terminal sends it: the workers are
    stopped (none is left computing when swapops exits), every finished row
    is kept, exit 130; running the same command again completes the sweep."""
    import os
    import signal
    import subprocess
    import sys
    import time

    sweep = tmp_path / "s.toml"
    sweep.write_text(
        '[sweep]\nstacks = ["swapfile"]\nseeds = 5\n'
        '[sweep.base]\nram = "4M"\nswap = "8M"\nevents = 200000\nverify = false\nswapoff = false\n'
    )
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "swapops.cli", "sweep", str(sweep), "--executor", "process",
           "--workers", "2", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        while not (out.exists() and out.read_text().endswith("\n")):  # the first row is in
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=120)  # a hang guard, not a timing
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert _group_alive(proc.pid) == []  # no worker goes on computing after swapops exits
    assert proc.returncode == 130, stderr
    kept = read_results(out)
    assert 1 <= len(kept) < 5 and not [r for r in kept if r["error"]]
    assert stderr.strip().splitlines()[-1] == (
        f"swapops: interrupted: {len(kept)} of 5 points in {out}; run again to resume"
    ), stderr
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    rows = read_results(out)
    assert len(rows) == 5 and {r["point_id"] for r in kept} <= {r["point_id"] for r in rows}


def test_process_pool_whose_worker_dies_is_an_executor_error(tmp_path: pathlib.Path) -> None:
    from sweep_points import crash_on_seed

    from swapops.errors import ExecutorError

    out = tmp_path / "r.jsonl"
    with pytest.raises(ExecutorError, match="a worker process died"):
        run_sweep({**TINY, "seeds": [1, 2]}, out, executor="process", workers=1, point=crash_on_seed)
    assert {r["seed"] for r in read_results(out)} <= {1}  # what finished first is kept, nothing else


def _dask() -> None:
    pytest.importorskip("distributed")


@pytest.mark.slow
def test_dask_point_that_kills_its_worker_is_one_failed_row(tmp_path: pathlib.Path) -> None:
    _dask()
    import dask
    from sweep_points import CRASH_SEED, crash_on_seed

    spec = {**TINY, "seeds": [1, CRASH_SEED, 3]}
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # one death is enough here
        rows = run_sweep(spec, tmp_path / "r.jsonl", executor="dask", workers=2, point=crash_on_seed)
    assert len(rows) == 6  # 3 seeds x 2 grid points
    failed = [r for r in rows if r["error"]]
    assert [r["seed"] for r in failed] == [CRASH_SEED, CRASH_SEED]
    assert all(str(r["error"]).startswith("KilledWorker: the point's worker died") for r in failed)
    assert all(isinstance(r["wall_s"], float) for r in rows if not r["error"])  # really run


@pytest.mark.slow
def test_dask_without_workers_times_out_with_a_clear_error(tmp_path: pathlib.Path) -> None:
    _dask()
    from distributed import LocalCluster

    from swapops.errors import ExecutorError

    out = tmp_path / "r.jsonl"
    with LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        with pytest.raises(ExecutorError, match=r"no worker connected to the scheduler at .* for 1 s; 2 points not run"):
            run_sweep(TINY, out, executor="dask", scheduler=cluster.scheduler_address, worker_timeout=1)
        sweep = tmp_path / "s.toml"
        sweep.write_text('[sweep]\nstacks = ["swapfile"]\n[sweep.base]\nram = "1M"\nevents = 300\n')
        res = CliRunner().invoke(main, [
            "sweep", str(sweep), "--executor", "dask", "--scheduler", cluster.scheduler_address,
            "--worker-timeout", "1", "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert res.stderr.startswith("swapops: error: dask: no worker connected") and res.stderr.count("\n") == 1


def test_dask_unreachable_scheduler_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    _dask()
    import socket

    from swapops.errors import ExecutorError

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ExecutorError, match="dask: cannot reach the scheduler at"):
        run_sweep(TINY, tmp_path / "r.jsonl", executor="dask", scheduler=f"tcp://127.0.0.1:{port}",
                  worker_timeout=1)
