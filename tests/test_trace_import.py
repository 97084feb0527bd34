"""Real programs' traces: the lackey and perf importers, trace record/info/mix, the
content histogram and the shipped traces (docs/traces.md)."""

from __future__ import annotations

import gzip
import hashlib
import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from swapops.content import LZ4_PARTS, ContentMix, parse_mix
from swapops.errors import ConfigError
from swapops.pagestats import classifier, dump_stats, mix_of
from swapops.trace import TraceWorkload, footprint_ram, read_header
from swapops.trace_import import GAP, Rules, import_lackey, import_perf

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "traces").glob("*.trace.gz"))


def _events(path: pathlib.Path) -> list[str]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as f:
        return [ln.strip() for ln in f.read().splitlines()[2:]]


def _log(tmp_path: pathlib.Path, body: str, name: str = "lackey.100") -> pathlib.Path:
    path = tmp_path / name
    path.write_text("==100== Lackey, an example Valgrind tool\n==100== Command: prog arg\n"
                    "==100== Parent PID: 99\n==100== \n" + body + "==100== \n==100== Exit code:       0\n")
    return path


def test_page_crossing_m_and_collapsing(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path, (
        "I  04000000,3\n"          # code: left out
        " L 7ff000000ff8,8\n"     # one page
        " L 7ff000000ffc,8\n"     # crosses into the next page: both
        " S 7ff000001000,4\n"     # same page as the last: collapsed, the run becomes a store
        " M 7ff000005000,4\n"     # a modify: one store reference
        " L 7ff000000010,1\n"
    ))
    out = tmp_path / "t.trace"
    header = import_lackey([str(log)], str(out))
    # pages 0x7ff000000, ...001 (adjacent: 0, 1), ...005 (hole of 3 pages kept: 5)
    assert _events(out) == ["n 1", "r 1 0", "w 1 1", "w 1 5", "r 1 0", "x 1"]
    assert header["processes"][0] == {"pid": 1, "os_pid": 100, "parent": None, "command": "prog arg",
                                      "log": "lackey.100", "pages": 3, "loads": 2, "stores": 2}
    assert header["footprint"] == 3
    assert read_header(out)["import"]["collapse"] is True


def test_without_collapsing_m_is_a_load_and_a_store(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path, " M 1000,4\n L 1008,4\n")
    out = tmp_path / "t.trace"
    import_lackey([str(log)], str(out), rules=Rules(collapse=False))
    assert _events(out) == ["n 1", "r 1 0", "w 1 0", "r 1 0", "x 1"]


def test_code_kept_on_request(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path, "I  400000,4\n L 7f0000000000,8\n")
    out = tmp_path / "t.trace"
    import_lackey([str(log)], str(out), rules=Rules(with_code=True))
    assert _events(out) == ["n 1", "r 1 0", f"r 1 {GAP + 1}", "x 1"]  # the 47-bit hole squashed to GAP


def test_large_gaps_are_squashed_small_ones_kept(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path, " S 0,1\n S 3000,1\n S 100000,1\n S 100000000,1\n")
    out = tmp_path / "t.trace"
    import_lackey([str(log)], str(out))
    # pages 0, 3 (hole of 2 kept), 0x100 (hole of 252 -> 16), 0x100000
    assert _events(out) == ["n 1", "w 1 0", "w 1 3", f"w 1 {3 + GAP + 1}", f"w 1 {3 + 2 * (GAP + 1)}", "x 1"]


@pytest.mark.parametrize("line", ["Q 1000,4", " X 1000,4", " L zz,4", " L 1000", " L 1000,0", " L 1000,-1"])
def test_bad_lackey_line_names_file_and_line(tmp_path: pathlib.Path, line: str) -> None:
    log = _log(tmp_path, f" L 1000,4\n{line}\n")
    with pytest.raises(ConfigError, match=rf"lackey {log}:6: bad line"):
        import_lackey([str(log)], str(tmp_path / "t.trace"))


def test_empty_file_is_not_a_lackey_log(tmp_path: pathlib.Path) -> None:
    (tmp_path / "e").write_text("")
    with pytest.raises(ConfigError, match="not a valgrind lackey log"):
        import_lackey([str(tmp_path / "e")], str(tmp_path / "t.trace"))


def test_children_are_processes_exiting_after_their_subtree(tmp_path: pathlib.Path) -> None:
    parent = _log(tmp_path, " S 1000,1\n", "lackey.100")
    child = tmp_path / "lackey.101"
    child.write_text("==101== Command: child\n==101== Parent PID: 100\n S 2000,1\n")
    out = tmp_path / "t.trace"
    header = import_lackey([str(child), str(parent)], str(out))
    assert _events(out) == ["n 1", "w 1 0", "n 2", "w 2 0", "x 2", "x 1"]
    assert [p["parent"] for p in header["processes"]] == [None, 1]
    assert len(list(TraceWorkload(out).chunks())) == 1  # a valid trace


def test_perf_script_text(tmp_path: pathlib.Path) -> None:
    text = tmp_path / "perf.txt"
    text.write_text("  7  7f0000001000\n  8  1000\n  7  7f0000001008\n  7  7f0000000000\n"
                    "  7 ffffffff81000000\n  7  7f0000001000\n")
    out = tmp_path / "t.trace"
    header = import_perf([str(text)], str(out))
    # pid 7: pages ..1, (..1 collapsed), ..0, ..1 again: first faults stores, the refault a load
    assert _events(out) == ["n 1", "w 1 1", "n 2", "w 2 0", "x 2", "w 1 0", "r 1 1", "x 1"]
    assert header["source"] == "perf" and header["footprint"] == 3
    (tmp_path / "bad").write_text("7 zz\n")
    with pytest.raises(ConfigError, match=r"perf .*bad:1: bad line"):
        import_perf([str(tmp_path / "bad")], str(out))


def test_histogram_leaves_existing_mixes_unchanged() -> None:
    """The bytes of mixes without histogram parts are those of the generator before it
    (the digest was taken from the release before the histogram)."""
    h = hashlib.sha256()
    for parts in ({}, {"zero": 0.5, "random": 0.1}, {"zero": 0.0, "same": 0.0, "random": 0.0}):
        m = ContentMix.from_parts(parts, seed=3)
        for p in range(1, 3000):
            h.update(m.page(p << 32 | 1))
    assert h.hexdigest() == "1347d3ad357dd1a19cb490b4c178dd803fddfade5c3145c1ae835894ed28fbac"
    assert "lz4_512" not in ContentMix.from_parts({}).as_dict()


def test_histogram_pages_compress_into_their_buckets() -> None:
    parts = parse_mix("zero=0.1,same=0.02,random=0.05,lz4_512=0.3,lz4_1536=0.2,lz4_3584=0.1,lz4_4096=0.1")
    m = ContentMix.from_parts(parts, seed=1)
    classify = classifier()
    for p in range(1, 4000):
        ck = p << 32 | 1
        kind = m.kind(ck)
        page = m.page(ck)
        assert len(page) == 4096
        if kind in LZ4_PARTS or kind in ("zero", "same"):
            assert classify(page) == kind, (p, kind)
    assert m.as_dict()["corpus"] == pytest.approx(0.13)
    with pytest.raises(ConfigError):
        ContentMix.from_parts({"lz4_512": 0.9, "zero": 0.2})
    with pytest.raises(ConfigError, match="unknown part"):
        parse_mix("lz4_100=0.1")


def test_every_recipe_lands_in_its_bucket() -> None:
    from swapops._lz4_recipes import RECIPES
    from swapops.pagestats import build_recipes

    assert build_recipes() == RECIPES, "lz4 changed: rebuild with python -m swapops.pagestats"


def test_dump_stats_and_mix_of(tmp_path: pathlib.Path) -> None:
    m = ContentMix.from_parts({"zero": 0.25, "same": 0.25, "random": 0.25, "lz4_1024": 0.25}, seed=2)
    dump = tmp_path / "dump.img"
    dump.write_bytes(b"".join(m.page(p << 32 | 1) for p in range(1, 401)) + b"x" * 100)
    stats = dump_stats(dump)
    assert stats["pages"] == 400
    mix = mix_of(stats["counts"])
    assert sum(mix.values()) <= 1.0
    want = {k: sum(1 for p in range(1, 401) if m.kind(p << 32 | 1) == k) / 400 for k in ("zero", "same")}
    assert mix["zero"] == pytest.approx(want["zero"]) and mix["same"] == pytest.approx(want["same"])
    with pytest.raises(ConfigError, match="no whole 4 KiB page"):
        (tmp_path / "small").write_bytes(b"1" * 100)
        dump_stats(tmp_path / "small")


def test_footprint_ram() -> None:
    assert footprint_ram({"footprint": 1000}) == "2000K"
    assert footprint_ram({"footprint": 10}) == "512K"  # the mm model's smallest RAM
    assert footprint_ram({}) is None


def _swapops(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "swapops", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_record_sort_end_to_end(tmp_path: pathlib.Path) -> None:
    (tmp_path / "in.txt").write_text("".join(f"line {i * 7919 % 1000}\n" for i in range(1000)))
    got = _swapops("trace", "record", "-o", "sort.trace.gz", "--", "sort", "in.txt", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    header = read_header(tmp_path / "sort.trace.gz")
    assert header["source"] == "lackey" and header["workload"]["command"] == "sort in.txt"
    assert header["footprint"] > 50 and header["content"]["pages"] > 0
    assert "valgrind" in header["recorded_with"]
    info = _swapops("trace", "info", "--json", "sort.trace.gz", cwd=tmp_path)
    data = json.loads(info.stdout)
    assert data["footprint"] == header["footprint"]
    bad = _swapops("trace", "record", "--", "sort", "no-such-file", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "exited with status" in bad.stderr
    missing = _swapops("trace", "record", "--", "no-such-program-here", cwd=tmp_path)
    assert missing.returncode == 2 and "command not found" in missing.stderr


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_trace_is_small_and_documented(path: pathlib.Path) -> None:
    assert path.stat().st_size < 2 << 20
    header = read_header(path)
    assert header["source"] == "lackey" and header["footprint"] * 0.5 >= 256, "must swap at the default RAM"
    assert path.name in (ROOT / "docs" / "traces.md").read_text()


@pytest.mark.slow
def test_compare_on_a_shipped_trace_is_deterministic(tmp_path: pathlib.Path) -> None:
    trace = str(ROOT / "traces" / "sort.trace.gz")
    runs = []
    for _ in range(2):
        got = _swapops("compare", "swapfile", "zswap>swapfile", "--trace", trace, "--events", "300000",
                       "--json", "-q", cwd=tmp_path)
        assert got.returncode == 0, got.stderr
        runs.append([r["totals"] for r in json.loads(got.stdout)["runs"]])
    assert runs[0][0]["pswpout"] > 0, "the default RAM (half the footprint) must make it swap"
    keys = ("pswpout", "pswpin", "pgmajfault", "zswpout")
    assert [{k: t.get(k) for k in keys} for t in runs[0]] == [{k: t.get(k) for k in keys} for t in runs[1]]
