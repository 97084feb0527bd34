"""swapops.areas (the swapon --show view), the result JSON Schemas and swapops.results (the reader)."""

from __future__ import annotations

import copy
import fnmatch
import json
import pathlib
import shutil
import subprocess
import sys
import tomllib
from typing import Any

import pytest
from click.testing import CliRunner, Result

from swapops import results, runner
from swapops.areas import SwapRow, area_rows, human_size, render, swapon_json, swapon_table
from swapops.cli import main
from swapops.errors import ConfigError
from swapops.metrics import TOTAL_KEYS
from swapops.scenario import load_scenario, run_scenario
from swapops.sizes import PAGE_SIZE
from swapops.sweep import read_results, run_sweep

jsonschema = pytest.importorskip("jsonschema")

ROOT = pathlib.Path(__file__).resolve().parent.parent
SMALL: dict[str, Any] = {"ram": "1M", "swap": "16M", "events": 3000}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def save(tmp_path: pathlib.Path, name: str, doc: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.fixture(scope="module")
def tiers() -> dict[str, Any]:
    """A scenario run with two areas of different priorities (docs/examples/tiers.toml)."""
    return run_scenario(load_scenario(ROOT / "docs" / "examples" / "tiers.toml"))


@pytest.fixture(scope="module")
def vswap_run() -> dict[str, Any]:
    return runner.run("vswap>zswap>swapfile:device=nvme", seed=3, **SMALL)


# ----------------------------------------------------------------------------- human sizes


@pytest.mark.parametrize(("nbytes", "text"), [
    (0, "0B"), (1, "1B"), (1023, "1023B"), (1024, "1K"), (1536, "1.5K"),
    (1024 + 51, "1K"),        # 0.0498: three digits 049, rounds to 0
    (1024 + 52, "1.1K"),      # 0.0507: 050 rounds half up to .1
    (1023 * 1024 + 983, "1024K"),  # .959 rounds up to a whole unit of the same letter, as util-linux does
    (512 << 20, "512M"), (3 << 29, "1.5G"), (1 << 53, "8P"), (1 << 60, "1E"), ((1 << 64) - 1, "16E"),
    # findmnt -D and findmnt -D -b of util-linux 2.38.1 on the reference machine
    (12630794240, "11.8G"), (25276182528, "23.5G"), (270553174016, "252G"), (33205084160, "30.9G"),
    (75739209728, "70.5G"), (4096, "4K"),
])
def test_human_size_is_util_linux_size_to_human_string(nbytes: int, text: str) -> None:
    assert human_size(nbytes) == text


@pytest.mark.parametrize("bad", [-1, 1 << 64, 1.5, "1M", True, None])
def test_human_size_refuses_what_is_not_a_byte_count(bad: Any) -> None:
    with pytest.raises(ConfigError):
        human_size(bad)


@pytest.mark.skipif(shutil.which("findmnt") is None, reason="util-linux findmnt missing")
def test_human_size_matches_this_hosts_util_linux() -> None:
    """findmnt prints df sizes with size_to_human_string(SIZE_SUFFIX_1LETTER): the same
    sizes, human and in bytes, must format alike (0 aside: findmnt prints it as "0")."""
    def sizes(*flags: str) -> dict[str, Any]:
        out = subprocess.run(["findmnt", "-D", "-J", "-o", "TARGET,SIZE", *flags], capture_output=True,
                             text=True, timeout=30, check=True).stdout
        return {fs["target"]: fs["size"] for fs in json.loads(out)["filesystems"]}

    exact, human = sizes("-b"), sizes()
    pairs = [(int(exact[t]), human[t]) for t in exact if t in human and int(exact[t]) > 0]
    assert pairs
    assert [(n, human_size(n)) for n, _ in pairs] == pairs


# ----------------------------------------------------------------------------- the table


def test_table_layout_is_swapon_shows() -> None:
    """The columns, alignment and separators of a real `swapon --show` (util-linux 2.38)."""
    rows = [SwapRow("/swapfile", "file", 40 << 30, int(9.6 * (1 << 30)), -2),
            SwapRow("/dev/zram0", "partition", int(15.4 * (1 << 30)), int(14.1 * (1 << 30)), 5)]
    assert swapon_table(rows) == (
        "NAME       TYPE       SIZE  USED PRIO\n"
        "/swapfile  file        40G  9.6G   -2\n"
        "/dev/zram0 partition 15.4G 14.1G    5\n"
    )
    assert swapon_table(rows, headings=False, raw=True) == (
        "/swapfile file 40G 9.6G -2\n/dev/zram0 partition 15.4G 14.1G 5\n")
    assert swapon_table([]) == ""  # swapon --show prints nothing when no swap is on
    assert swapon_json(rows[:1]) == {"swapdevices": [
        {"name": "/swapfile", "type": "file", "size": "40G", "used": "9.6G", "prio": -2}]}
    assert swapon_json(rows[:1], as_bytes=True)["swapdevices"][0]["size"] == 40 << 30


def test_rows_are_the_models_proc_swaps_when_the_metrics_were_taken() -> None:
    """Two areas by priority: each row is SwapSystem.swaps() at the snapshot, in bytes."""
    r = runner.Run(seed=2, ram="1M")
    r.swapon("zram", size="4M", priority=100)
    r.swapon("swapfile", size="16M", priority=5)
    r.replay(runner.build_workload("uniform", ram="1M", seed=2, events=4000))
    snap = r.snapshot()
    want = [(s.filename, s.type, s.size * 1024, s.used * 1024, s.priority) for s in r.system.swaps()]
    r.swapoff(r.system.devices[1])
    rows = area_rows(r.report(snap))
    assert [(x.name, x.type, x.size, x.used, x.prio) for x in rows] == want
    assert rows[0].used > 0 and [x.prio for x in rows] == [100, 5]
    assert rows[1].size == (16 << 20) - PAGE_SIZE  # si->pages: the header page is not swap space


def test_layers_are_children_down_to_the_physical_backend(vswap_run: dict[str, Any]) -> None:
    (row,) = area_rows(vswap_run, layers=True)
    assert (row.name, row.type, row.size) == ("[vswap]", "virtual", (1 << 41) * PAGE_SIZE)
    (zswap,) = row.children
    (swapfile,) = zswap.children
    area = vswap_run["areas"][0]
    assert zswap.type == "zswap" and swapfile.children == ()
    assert swapfile.size == ((16 << 20) - PAGE_SIZE) and swapfile.used == area["layers"][2]["used"] * PAGE_SIZE
    assert row.used == area["entries"] * PAGE_SIZE > swapfile.used > 0  # zero pages take no slot below
    text = render(vswap_run, layers=True).splitlines()
    assert text[1].startswith("[vswap] ") and text[2].startswith("└─[zswap] ") and text[3].startswith("  └─[ram:16M]")
    nested = json.loads(render(vswap_run, layers=True, as_json=True, as_bytes=True))["swapdevices"][0]
    assert nested["children"][0]["children"][0]["used"] == swapfile.used
    assert nested["children"][0]["prio"] is None  # a layer below the top is not a swap area


# ----------------------------------------------------------------------------- the commands


def test_swaps_command_on_run_and_compare_documents(tmp_path: pathlib.Path, tiers: dict[str, Any]) -> None:
    path = save(tmp_path, "tiers.json", tiers)
    out = invoke("swaps", path)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "SIZE", "USED", "PRIO"]
    assert [ln.split()[0] for ln in lines[1:]] == ["/dev/zram0", "[ram:32M]"]
    assert [ln.split()[-1] for ln in lines[1:]] == ["100", "10"]
    data = json.loads(invoke("swaps", path, "--json", "--bytes").output)
    assert [d["size"] for d in data["swapdevices"]] == [a["proc_swaps"]["size"] * 1024 for a in tiers["areas"]]

    cmp = invoke("compare", "swapfile", "zswap>swapfile", "--ram", "1M", "--swap", "16M", "--events", "3000",
                 "-q", "--json", "-j", "1")
    assert cmp.exit_code == 0, cmp.output
    cpath = save(tmp_path, "cmp.json", json.loads(cmp.output))
    blocks = invoke("swaps", cpath).output.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["swapfile", "zswap>swapfile"]
    assert blocks[1].splitlines()[2].split()[:2] == ["[zswap]", "zswap"]
    runs = json.loads(invoke("swaps", cpath, "--json").output)["runs"]
    assert [r["stack"] for r in runs] == ["swapfile", "zswap>swapfile"]


def test_run_show_is_swaps_of_the_same_run(tmp_path: pathlib.Path) -> None:
    args = ["run", "zram", "--ram", "1M", "--swap", "8M", "--events", "3000", "-q"]
    shown = invoke(*args, "--show")
    saved = invoke(*args, "--json")
    assert shown.exit_code == 0 and saved.exit_code == 0, shown.output + saved.output
    assert shown.output == invoke("swaps", save(tmp_path, "r.json", json.loads(saved.output))).output
    assert shown.output.splitlines()[1].split()[:2] == ["/dev/zram0", "partition"]
    assert json.loads(invoke(*args, "--show", "--json").output)["swapdevices"][0]["name"] == "/dev/zram0"


def _old(doc: dict[str, Any]) -> dict[str, Any]:
    old = copy.deepcopy(doc)
    for area in old["areas"]:
        del area["proc_swaps"]
    return old


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"stack": "swapfile"}', 'no "schema" key'),
    ('{"schema": "swapops.lab.compare/1"}', "unknown schema"),
    ('{"schema": "swapops.run/2"}', "does not read"),
    ('{"schema": "swapops.run/1", "areas": 3}', "no list of areas"),
    ("OLD", "no proc_swaps row"),
])
def test_swaps_bad_input_is_one_line_exit_2(tmp_path: pathlib.Path, vswap_run: dict[str, Any],
                                            content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_old(vswap_run)) if content == "OLD" else content)
    out = invoke("swaps", str(path))
    assert out.exit_code == 2
    assert message in out.output and len(out.output.strip().splitlines()) == 1 and "Traceback" not in out.output


def test_swaps_missing_file_and_directory(tmp_path: pathlib.Path) -> None:
    for target in (str(tmp_path / "nope.json"), str(tmp_path)):
        out = invoke("swaps", target)
        assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1, out.output


# ----------------------------------------------------------------------------- schemas


def test_schemas_are_valid_draft_2020_12_and_shipped() -> None:
    for name in results.SCHEMAS:
        doc = results.schema(name)
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(doc)
        assert json.loads(invoke("schema", name).output) == doc
    # the wheel carries them: pyproject's package data matches every schema file
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["swapops"]
    files = sorted((ROOT / "src" / "swapops" / "schemas").glob("*.json"))
    assert len(files) == len(results.SCHEMAS)
    assert all(any(fnmatch.fnmatch(f"schemas/{f.name}", p) for p in patterns) for f in files)


def test_run_schema_lists_every_total() -> None:
    """A total added to metrics.TOTAL_KEYS must be added to the schema too."""
    totals = results.schema("run")["$defs"]["totals"]
    assert set(TOTAL_KEYS) <= set(totals["required"]) and set(totals["required"]) <= set(totals["properties"])


ALL_STACKS = sorted(set(runner.DEFAULT_STACKS) | set(runner.DEBATE_STACKS))


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_real_runs_are_valid(stack: str) -> None:
    doc = runner.run(stack, seed=1, **SMALL)
    assert results.validation_errors(doc, "run") == []
    assert results.validate(doc) == "run"


def test_real_scenario_tracemalloc_and_error_swapoff_runs_are_valid(tiers: dict[str, Any]) -> None:
    assert results.validation_errors(tiers, "run") == []
    traced = runner.run("swapfile", memory="tracemalloc", swapoff=False, thp_orders=(4,), **SMALL)
    assert traced["swapoff"] == [] and results.validation_errors(traced, "run") == []
    r = runner.Run(seed=0, ram="1M")
    top = r.swapon("swapfile", size="16M")
    r.replay(runner.build_workload("uniform", ram="1M", events=2000))
    snap = r.snapshot()
    r.swapoff(top)
    r.swapoff(top)  # not on any more: refused, recorded as an error
    doc = r.report(snap)
    assert "error" in doc["swapoff"][1] and results.validation_errors(doc, "run") == []


def test_compare_document_is_valid(tmp_path: pathlib.Path) -> None:
    out = invoke("compare", "swapfile", "vswap>zswap>swapfile", "--ram", "1M", "--swap", "16M", "--events",
                 "3000", "-q", "--json", "-j", "1")
    doc = json.loads(out.output)
    assert results.validate(doc, where="compare") == "compare"
    check = invoke("schema", "compare", "--validate", save(tmp_path, "c.json", doc))
    assert check.exit_code == 0 and "valid swapops.compare/1" in check.output


def _sweep(tmp_path: pathlib.Path, out: str) -> list[dict[str, Any]]:
    spec = {"stacks": ["zswap:compressor={comp}>swapfile", "nosuchmodule"], "workloads": ["uniform"],
            "seeds": [0, 1], "base": {"ram": "1M", "swap": "16M", "events": 2000}, "grid": {"comp": ["lz4", "zstd"]}}
    run_sweep(spec, tmp_path / out, executor="serial")
    return read_results(tmp_path / out)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_sweep_rows_are_valid(tmp_path: pathlib.Path, suffix: str) -> None:
    rows = _sweep(tmp_path, "s" + suffix)
    assert len(rows) == 6 and sum(bool(r["error"]) for r in rows) == 2  # the unknown module's points failed
    for row in rows:
        row = {**row, "point_id": str(row["point_id"])}
        assert results.validation_errors(row, "sweep-row") == [], row
    check = invoke("schema", "sweep-row", "--validate", str(tmp_path / ("s" + suffix)))
    assert check.exit_code == 0 and "6 valid sweep rows" in check.output


def test_broken_documents_fail_validation(vswap_run: dict[str, Any], tmp_path: pathlib.Path) -> None:
    def broken(change: Any) -> dict[str, Any]:
        doc = copy.deepcopy(vswap_run)
        change(doc)
        return doc

    cases = {
        "totals": broken(lambda d: d["totals"].pop("pswpout")),
        "seed": broken(lambda d: d.update(seed="one")),
        "areas.0.priority": broken(lambda d: d["areas"][0].update(priority=40000)),
        "areas.0.proc_swaps": broken(lambda d: d["areas"][0]["proc_swaps"].pop("used")),
        "areas.0.layers.1.kind": broken(lambda d: d["areas"][0]["layers"][1].update(kind="magic")),
        "swapoff.0": broken(lambda d: d["swapoff"][0].update(error="refused")),  # error and figures at once
        "host.memory": broken(lambda d: d["host"]["memory"].update(method="psutil")),
    }
    for where, doc in cases.items():
        errors = results.validation_errors(doc, "run")
        assert errors and any(e.startswith(where) for e in errors), (where, errors)
        with pytest.raises(ConfigError, match="not a valid run document"):
            results.validate(doc)
    cmp = {"schema": "swapops.compare/1", "stacks": ["x"], "runs": [cases["seed"]]}
    assert results.validation_errors(cmp, "compare")
    out = invoke("schema", "run", "--validate", save(tmp_path, "b.json", cases["seed"]))
    assert out.exit_code == 2 and "seed" in out.output and len(out.output.strip().splitlines()) == 1
    row = {"point_id": "xyz", "stack": "s", "workload": "w", "seed": 0, "config": "{}", "error": None, "wall_s": 1.0}
    assert results.validation_errors(row, "sweep-row")[0].startswith("point_id")
    assert results.validation_errors({**row, "point_id": "0123456789abcdef", "totals.x": [1]}, "sweep-row")


# ----------------------------------------------------------------------------- the reader


def test_load_run_compare_and_sweep_records(tmp_path: pathlib.Path, vswap_run: dict[str, Any]) -> None:
    (rec,) = results.load(save(tmp_path, "r.json", vswap_run))
    assert list(rec)[:5] == list(results.ID_COLUMNS)
    assert (rec["schema"], rec["stack"], rec["workload"], rec["seed"]) == (
        "swapops.run/1", vswap_run["stack"], runner.DEFAULT_WORKLOAD, 3)
    assert all(rec[f"totals.{k}"] == vswap_run["totals"][k] for k in TOTAL_KEYS)
    assert rec["areas.0.layers.2.used"] == vswap_run["areas"][0]["layers"][2]["used"]
    assert rec["config.ram"] == 1 << 20 and not any(k.startswith("series") for k in rec)

    other = runner.run("swapfile", seed=3, **SMALL)
    cmp = {"schema": "swapops.compare/1", "stacks": [vswap_run["stack"], "swapfile"], "runs": [vswap_run, other]}
    recs = results.load(save(tmp_path, "c.json", cmp))
    assert [r["stack"] for r in recs] == cmp["stacks"] and recs[0]["totals.pswpout"] == rec["totals.pswpout"]

    rows = results.load(_sweep(tmp_path, "s.csv") and tmp_path / "s.csv")
    assert len(rows) == 6 and all(isinstance(r["point_id"], str) for r in rows)
    ok = [r for r in rows if not r["error"]]
    assert all(isinstance(r["totals.pswpout"], int) for r in ok) and {r["param.comp"] for r in ok} == {"lz4", "zstd"}


@pytest.mark.parametrize(("content", "message"), [
    ("", "not JSON"), ('{"schema": "swapops.compare/1", "runs": []}', "without runs"),
    ('{"schema": "swapops.compare/7"}', "does not read"),
    ('{"schema": "swapops.run/1", "stack": 3}', "not a swapops.run/1 result"),
])
def test_load_bad_input(tmp_path: pathlib.Path, content: str, message: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        results.load(path)
    assert "\n" not in str(info.value)
    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"stack": "s"}\n')
    with pytest.raises(ConfigError, match="not a swapops sweep row"):
        results.load(bad)


def test_to_frame(tmp_path: pathlib.Path, vswap_run: dict[str, Any]) -> None:
    pd = pytest.importorskip("pandas")
    run_path = save(tmp_path, "r.json", vswap_run)
    _sweep(tmp_path, "s.jsonl")
    frame = results.to_frame([run_path, tmp_path / "s.jsonl"])
    assert isinstance(frame, pd.DataFrame) and len(frame) == 7
    assert list(frame.columns[:5]) == list(results.ID_COLUMNS)
    assert frame["schema"].tolist() == ["swapops.run/1"] + ["swapops.sweep-row"] * 6
    assert frame.loc[0, "totals.pswpout"] == vswap_run["totals"]["pswpout"]
    assert results.to_frame(results.load(run_path)).shape[0] == 1


def test_to_frame_without_pandas(tmp_path: pathlib.Path, vswap_run: dict[str, Any],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(ConfigError, match=r"pip install pandas"):
        results.to_frame(save(tmp_path, "r.json", vswap_run))
