"""The swapops command line: run, compare, modules, stacks, format, inspect, errors."""

from __future__ import annotations

import json
import pathlib
import sys
import uuid

import pytest
from click.testing import CliRunner, Result

import swapops
from swapops.cli import main
from swapops.metrics import TOTAL_KEYS
from swapops.runner import DEFAULT_STACKS, missing_modules, quiet_system
from swapops.testing import BUILTIN_MODULES
from swapops.workloads import WORKLOADS

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILTINS = set(BUILTIN_MODULES)
# Small machines keep the suite fast; 16M is the smallest flash device whose
# FTL keeps a spare block at the default 256-page erase blocks.
SMALL = ["--ram", "1M", "--swap", "16M", "--events", "3000", "-q"]
RESULT_KEYS = {"schema", "stack", "stacks", "seed", "config", "workload", "events", "totals", "mm", "areas",
               "swapoff", "series", "host"}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def installed(stack: str) -> bool:
    return not missing_modules([stack])


def deterministic(result: dict) -> dict:  # type: ignore[type-arg]
    return {k: v for k, v in result.items() if k != "host"}


# --------------------------------------------------------------------------- run


@pytest.mark.parametrize("stack", DEFAULT_STACKS)
def test_run_every_workload_on_each_default_stack(stack: str) -> None:
    if not installed(stack):
        pytest.skip(f"{missing_modules([stack])[stack]} not installed")
    for workload in sorted(WORKLOADS):
        res = invoke("run", stack, "--workload", workload, "--seed", "5", "--json", *SMALL)
        assert res.exit_code == 0, (workload, res.stderr)
        data = json.loads(res.stdout)
        assert set(data) >= RESULT_KEYS
        assert set(TOTAL_KEYS) <= set(data["totals"])
        assert data["events"] == 3000
        assert data["workload"]["name"] == workload
        assert data["stack"] == stack
        assert data["swapoff"] and "error" not in data["swapoff"][0], data["swapoff"]
        if workload in ("uniform", "seqscan", "usemem"):  # 2.5 x RAM touched: swap is used
            assert data["totals"]["pswpout"] > 0, workload


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_same_seed_same_json_apart_from_host(workload: str) -> None:
    stack = "vswap>zswap>swapfile" if installed("vswap>zswap>swapfile") else "swapfile"
    args = ("run", stack, "-w", workload, "--seed", "11", "--json", *SMALL)
    first, second = invoke(*args), invoke(*args)
    assert first.exit_code == second.exit_code == 0
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert deterministic(a) == deterministic(b)
    assert a["host"]["wall_s"] > 0
    other = json.loads(invoke("run", stack, "-w", workload, "--seed", "12", "--json", *SMALL).stdout)
    assert deterministic(other) != deterministic(a)


def test_run_prints_tables() -> None:
    res = invoke("run", "swapfile", "-w", "uniform", *SMALL)
    assert res.exit_code == 0, res.stderr
    for text in ("pswpout", "slots used", "kernel metadata", "swapoff", "PTE visits", "layers"):
        assert text in res.stdout


def test_run_record_and_replay_trace(tmp_path: pathlib.Path) -> None:
    trace = tmp_path / "run.trace.gz"
    first = invoke("run", "swapfile", "-w", "fork", "--seed", "7", "--mix", "zero=0.4", "--record", str(trace),
                   "--json", *SMALL)
    assert first.exit_code == 0, first.stderr
    again = invoke("run", "swapfile", "--trace", str(trace), "--json", *SMALL)  # seed and mix from the header
    assert again.exit_code == 0, again.stderr
    a, b = json.loads(first.stdout), json.loads(again.stdout)
    assert a["totals"] == b["totals"] and a["mm"] == b["mm"]
    assert b["workload"]["name"] == "trace" and b["seed"] == 7 and b["workload"]["mix"]["zero"] == 0.4


def test_run_plot_writes_a_png(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "run.png"
    res = invoke("run", "swapfile", "-w", "seqscan", "--plot", str(png), *SMALL)
    assert res.exit_code == 0, res.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_matplotlib_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    res = invoke("run", "swapfile", "--plot", str(tmp_path / "x.png"), *SMALL)
    assert res.exit_code == 2
    assert res.stderr.strip() == "swapops: error: plots need matplotlib: pip install 'swapops[plot]'"


SCENARIO = """
seed = 3
ram = "1M"

[[swapon]]
stack = "vswap>zswap>swapfile"
size = "4M"
priority = 10

[[swapon]]
stack = "swapfile:device=hdd"
size = "8M"

[workload]
name = "uniform"
events = 4000
mix = {{ zero = 0.3, random = 0.1 }}

[[swapoff]]
area = 0
layer = "swapfile"

[[swapoff]]
area = 0
layer = "zswap"

[[swapoff]]
area = 1

[report]
totals = ["pswpout", "swpout_zero", "swapoff_pte_visits"]
plot = "{plot}"
"""


def test_run_scenario(tmp_path: pathlib.Path) -> None:
    if not installed("vswap>zswap>swapfile"):
        pytest.skip("vswap or zswap not installed")
    plot = "scn.png" if _have_matplotlib() else ""
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(plot=plot).replace('plot = ""\n', ""))
    res = invoke("run", str(path), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["stacks"] == ["vswap>zswap>swapfile", "swapfile:device=hdd"]
    assert data["workload"]["mix"]["zero"] == 0.3
    assert [a["priority"] for a in data["areas"]] == [10, -1]
    busy, lower, plain = data["swapoff"]
    assert "error" in busy  # swapfile sits below zswap, which cannot let it go
    assert lower["pte_visits"] == 0  # right below vswap: no page-table walk
    assert plain["pte_visits"] == data["mm"]["ptes"] > 0  # the whole walk
    assert data["scenario"]["report"]["totals"] == ["pswpout", "swpout_zero", "swapoff_pte_visits"]
    if plot:
        assert (tmp_path / "scn.png").exists()
    table = invoke("run", str(path), "-q")
    assert table.exit_code == 0 and "swapoff_pte_visits" in table.stdout


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_bad_scenarios_are_one_line(tmp_path: pathlib.Path) -> None:
    cases = {
        "typo.toml": 'sed = 1\n[[swapon]]\nstack = "swapfile"\n',
        "noswap.toml": "seed = 1\n",
        "badtoml.toml": "seed = = 1\n",
        "badarea.toml": '[[swapon]]\nstack = "swapfile"\n[[swapoff]]\narea = 3\n',
        "priority.toml": '[[swapon]]\nstack = "swapfile"\npriority = "high"\n',
        "events.toml": '[[swapon]]\nstack = "swapfile"\n[workload]\nevents = "many"\n',
        "seed.toml": 'seed = "a"\n[[swapon]]\nstack = "swapfile"\n',
        "ram.toml": 'ram = "lots"\n[[swapon]]\nstack = "swapfile"\n',
        "verify.toml": 'verify = "yes"\n[[swapon]]\nstack = "swapfile"\n',
        "wf.toml": '[[swapon]]\nstack = "swapfile"\n[workload]\nwrite_fraction = 2\n',
        "mix.toml": '[[swapon]]\nstack = "swapfile"\n[workload]\nmix = { zero = "lots" }\n',
        "params.toml": '[[swapon]]\nstack = "swapfile"\n[workload]\nparams = 3\n',
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        res = invoke("run", str(tmp_path / name))
        assert res.exit_code == 2, (name, res.stderr)
        assert res.stderr.count("\n") == 1, res.stderr
        assert res.stderr.startswith(("swapops: error: scenario", "swapops: error: content mix")), res.stderr


# --------------------------------------------------------------------------- compare


def test_compare_reduced_json_and_plot(tmp_path: pathlib.Path) -> None:
    stacks = [s for s in DEFAULT_STACKS if installed(s)]
    png = tmp_path / "cmp.png"
    args = ["compare", *stacks, "--json", "--ram", "1M", "--swap", "16M", "--events", "6000", "-q", "--seed", "2"]
    if _have_matplotlib():
        args += ["--plot", str(png)]
    res = invoke(*args)
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["schema"] == "swapops.compare/1"
    assert data["stacks"] == stacks
    runs = data["runs"]
    assert [r["stack"] for r in runs] == stacks
    for r in runs:
        assert set(r) >= RESULT_KEYS
        assert set(TOTAL_KEYS) <= set(r["totals"])
        assert r["host"]["memory"]["method"] == "rss"
        assert r["host"]["memory"]["peak_growth_kib"] >= 0
    by = {r["stack"]: r["totals"] for r in runs}
    # One workload, one seed: designs whose entries are the swapfile's own slots
    # see the same faults and swap-outs (readahead follows the slot order, so
    # vswap and flashbuf, which hand out other offsets, may differ a little);
    # zswap's pool is RAM the workload loses, so it swaps more, but the pool takes
    # device I/O off it (pswpout/pswpin count device I/O only).
    same = [by[s] for s in ("swapfile:device=nvme", "swapfile:device=flash") if s in by]
    assert len({(t["swap_entries_allocated"], t["swap_entries_read"], t["swpout_zero"]) for t in same}) == 1
    if "zswap>swapfile:device=nvme" in by:
        z, plain = by["zswap>swapfile:device=nvme"], by["swapfile:device=nvme"]
        assert z["zswpout"] > 0 and z["swap_entries_allocated"] > plain["swap_entries_allocated"]
        assert z["pswpout"] < z["swap_entries_allocated"] - z["swpout_zero"]
    if "vswap>swapfile:device=nvme" in by:
        assert by["vswap>swapfile:device=nvme"]["swapoff_pte_visits"] == 0
        assert by["swapfile:device=nvme"]["swapoff_pte_visits"] > 0
    if "swapfile:device=flash" in by:
        assert by["swapfile:device=flash"]["waf"] >= 1.0
        assert by["swapfile:device=nvme"]["waf"] is None
    if _have_matplotlib():
        assert png.read_bytes()[:4] == b"\x89PNG"
    # jobs=1 gives the same results as the default pool of two.
    one = invoke(*[a for a in args if a not in ("--plot", str(png))], "--jobs", "1")
    assert [deterministic(r) for r in json.loads(one.stdout)["runs"]] == [deterministic(r) for r in runs]


# The default compare table in docs/compare.md, and that the default finishes in under a
# minute: tests/test_compare_doc.py.



def test_compare_designs_and_stacks_are_exclusive() -> None:
    res = invoke("compare", "swapfile", "--designs", "debate", "-q")
    assert res.exit_code == 2 and "not both" in res.stderr


def test_compare_prints_one_table() -> None:
    res = invoke("compare", "swapfile", "swapfile:device=flash", "--ram", "1M", "--swap", "16M", "--events", "4000",
                 "-q")
    assert res.exit_code == 0, res.stderr
    for part in ("swapfile:device=flash", "pswpout", "WAF (modeled)", "swapoff: PTE visits", "4,000 events of zipf"):
        assert part in res.stdout


# --------------------------------------------------------------------------- modules / stacks


def test_modules_lists_distribution_and_version() -> None:
    res = invoke("modules", "--json")
    assert res.exit_code == 0
    rows = {r["module"]: r for r in json.loads(res.stdout)["modules"]}
    system = quiet_system(0)
    assert set(rows) == set(system.registry)
    for name in BUILTINS & set(rows):
        assert rows[name]["distribution"] == "swapops"
        assert rows[name]["version"] == swapops.__version__
    table = invoke("modules")
    assert table.exit_code == 0 and "distribution" in table.stdout and "swapfile" in table.stdout


def test_stacks_are_the_valid_chains() -> None:
    res = invoke("stacks")
    assert res.exit_code == 0
    listed = [line.split()[0] for line in res.stdout.splitlines()]
    assert listed == swapops.valid_chains(quiet_system(0).registry)
    doc = json.loads(invoke("stacks", "--json").stdout)
    assert doc["stacks"] == listed
    # what each chain can hold is marked: stacks that store nothing, or only compressible pages
    marks = {line.split()[0]: line.split(None, 1)[1] if " " in line else "" for line in res.stdout.splitlines()}
    assert marks["vswap"] == "(zero pages only)" and doc["holds"]["vswap"] == "nothing"
    assert marks["zswap>zswap"] == "(compressible pages only)" and marks["vswap>zswap>swapfile"] == ""


def test_modules_show_their_options() -> None:
    rows = {r["module"]: r for r in json.loads(invoke("modules", "--json").stdout)["modules"]}
    zswap = {o["name"]: o for o in rows["zswap"]["options"]}
    assert zswap["max_pool_percent"]["type"] == "int" and zswap["max_pool_percent"]["default"] == 20
    assert zswap["compressor"]["choices"] and rows["swapfile"]["holds"] == "any"
    table = invoke("modules").stdout
    assert "zswap options" in table and "max_pool_percent" in table and "swapops[lzo]" in table


def test_docs_stacks_md_is_current() -> None:
    if set(quiet_system(0).registry) != BUILTINS:
        pytest.skip("docs/stacks.md lists the built-in modules' stacks; other modules are installed or missing")
    res = invoke("stacks", "--markdown")
    assert res.exit_code == 0
    assert (ROOT / "docs" / "stacks.md").read_text() == res.stdout, "regenerate: swapops stacks --markdown > docs/stacks.md"


# --------------------------------------------------------------------------- format / inspect


def test_format_and_inspect(tmp_path: pathlib.Path) -> None:
    img = tmp_path / "swap.img"
    uid = str(uuid.UUID(int=0x1234))
    res = invoke("format", str(img), "--size", "1M", "--label", "testswap", "--uuid", uid)
    assert res.exit_code == 0, res.stderr
    assert "size = 1020 KiB (1044480 bytes)" in res.stdout
    assert f"LABEL=testswap, UUID={uid}" in res.stdout
    data = json.loads(invoke("inspect", str(img), "--json").stdout)
    assert data["label"] == "testswap" and data["uuid"] == uid and data["last_page"] == 255
    assert all(k == k.lower() and " " not in k for k in data), sorted(data)  # snake_case keys
    assert {"page_size", "usable_pages", "bad_page_list", "byte_order"} <= set(data)
    table = invoke("inspect", str(img))
    assert table.exit_code == 0 and "testswap" in table.stdout
    long = invoke("format", str(img), "--size", "1M", "--label", "a-label-longer-than-16")
    assert long.exit_code == 0 and "warning" in long.stderr


# --------------------------------------------------------------------------- user mistakes


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "nosuchmodule"], "unknown swap module 'nosuchmodule'"),
        (["run", "flashbuf"], "flashbuf needs a lower device"),
        (["run", "swapfile>vswap"], "swapfile must be the bottom"),
        (["run", "swapfile", "--ram", "12Q"], "invalid size '12Q'"),
        (["run", "swapfile", "--swap", "-5"], "invalid size"),
        (["run", "swapfile", "--workload", "nope"], "'nope' is not one of"),
        (["run", "swapfile", "--mix", "zero=2"], "zero fraction must be between 0 and 1"),
        (["run", "swapfile", "--param", "beta=1", "--events", "10"], "unknown parameter 'beta'"),
        (["run", "swapfile", "--plot", "out.txt"], "give a .png file name"),
        (["run", "swapfile", "--trace", "/nonexistent-swapops-test/t.trace"], "does not exist"),
        (["run", "/nonexistent-swapops-test/scenario.toml"], "no such file"),
        (["run", "swapfile:size=12Q"], "invalid size"),
        (["run", "swapfile:colour=red"], "unknown option 'colour'"),
        (["compare", "swapfile", "nosuchmodule"], "unknown swap module"),
        (["compare", "--events", "0"], "0 is not in the range"),
        (["inspect", "/nonexistent-swapops-test/swap.img"], "does not exist"),
        (["format", "/nonexistent-swapops-test/dir/swap.img", "--size", "1M"], "/nonexistent-swapops-test/dir"),
        (["format", "/nonexistent-file.img"], "no such file"),
        (["nosuchcommand"], "No such command"),
        (["run", "swapfile", "--jobs", "2"], "--jobs"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(args: list[str], needle: str) -> None:
    res = invoke(*args)
    assert res.exit_code == 2, (args, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    assert res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith("swapops: error: ")
    assert needle in res.stderr, res.stderr


def test_no_command_prints_the_help() -> None:
    res = invoke()
    assert res.exit_code == 0
    assert "Commands:" in res.stdout and "compare" in res.stdout


def test_inspect_of_a_file_that_is_not_swap(tmp_path: pathlib.Path) -> None:
    junk = tmp_path / "junk.img"
    junk.write_bytes(bytes(65536))
    res = invoke("inspect", str(junk))
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "junk.img" in res.stderr


def test_scenario_workload_parameter_mistake_is_exit_2(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alpha.toml"
    path.write_text('[[swapon]]\nstack = "swapfile"\n[workload]\nname = "zipf"\nevents = 100\n'
                    'params = { alpha = "abc" }\n')
    res = invoke("run", str(path), "-q")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "alpha" in res.stderr and "internal error" not in res.stderr


def test_format_over_another_signature_names_the_option(tmp_path: pathlib.Path) -> None:
    img = tmp_path / "ext.img"
    data = bytearray(1 << 20)
    data[1080:1082] = b"\x53\xef"  # the ext2/3/4 superblock magic
    img.write_bytes(bytes(data))
    res = invoke("format", str(img))
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "--force" in res.stderr and "force=True" not in res.stderr
    assert invoke("format", str(img), "--force").exit_code == 0


def test_out_of_memory_is_a_user_mistake(monkeypatch: pytest.MonkeyPatch) -> None:
    def too_big(*_a: object, **_k: object) -> None:
        raise MemoryError

    monkeypatch.setattr("swapops.runner.run", too_big)
    res = invoke("run", "swapfile", "--ram", "100T", "-q")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "out of memory" in res.stderr and "--ram" in res.stderr


def test_json_key() -> None:
    from swapops.cli import json_key

    assert json_key("Page size") == "page_size"
    assert json_key("UUID") == "uuid"
    assert json_key("Bad page list") == "bad_page_list"


def test_run_table_title_keeps_a_long_stack_name_whole() -> None:
    stack = "swapfile:device=flash,op=0.07,pages_per_block=64"
    res = invoke("run", stack, "-w", "uniform", *SMALL)
    assert res.exit_code == 0, res.stderr
    assert stack in res.stdout  # not broken over lines by the table's width


def test_thp_orders_reach_the_mm_model_and_bad_ones_exit_2() -> None:
    res = invoke("run", "swapfile", "--ram", "1M", "--swap", "8M", "--events", "3000", "--thp-orders", "2,4",
                 "--json", "-q")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["config"]["thp_orders"] == [4, 2]
    assert out["mm"]["mthp_anon_fault_alloc"] > 0
    bad = invoke("run", "swapfile", "--ram", "1M", "--events", "100", "--thp-orders", "12", "-q")
    assert bad.exit_code == 2 and "--thp-orders" in bad.stderr and "Traceback" not in bad.stderr


def test_compare_says_where_vm_swap_full_held() -> None:
    roomy = invoke("compare", "swapfile", "--ram", "1M", "--swap", "16M", "--events", "4000", "-q")
    assert roomy.exit_code == 0, roomy.stderr
    assert "never held" in " ".join(roomy.stdout.split())
    tight = invoke("compare", "swapfile", "--ram", "1M", "--swap", "2M", "--events", "20000", "-q")
    assert tight.exit_code == 0, tight.stderr
    text = " ".join(tight.stdout.split())
    assert "vm_swap_full() held in swapfile" in text
