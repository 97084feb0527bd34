"""Every mistake gets the project's own error: exit 2 and one line at the CLI,
a :class:`~swapops.errors.SwapOpsError` in Python (issue 18's list, and more of its kind)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import swapops
from swapops.cli import main
from swapops.errors import ConfigError, InvalidEntryError, SwapOpsError
from swapops.scenario import load_scenario
from swapops.sweep import ResultStore, load_sweep, read_results
from swapops.trace import TraceWorkload, TraceWriter


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def one_line_error(res: Result, needle: str) -> None:
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stdout + res.stderr
    assert res.stderr.startswith("swapops: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert needle in res.stderr, res.stderr


SCENARIO = '[[swapon]]\nstack = "swapfile"\nsize = "1M"\n[workload]\nevents = 100\nname = "uniform"\n'


def _trace_bytes(events: int = 40000) -> bytes:
    lines = ["swapops-trace 1", '{"seed": 1}', "n 1", *(f"w 1 {i % 200}" for i in range(events))]
    return ("\n".join(lines) + "\n").encode("ascii")


# --------------------------------------------------------------------------- the CLI


def test_scenario_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(b"# caf\xe9\n" + SCENARIO.encode())
    one_line_error(invoke("run", str(path)), "not UTF-8 text (byte 0xe9 at offset 5)")


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_trace_non_ascii_past_its_first_buffer(tmp_path: Path, gz: bool) -> None:
    data = bytearray(_trace_bytes())
    cut = len(data) - 2000  # far past the first read buffer (8 KiB text, 16 K events a chunk)
    data[cut] = 0xE9
    path = tmp_path / ("t.trace.gz" if gz else "t.trace")
    path.write_bytes(gzip.compress(bytes(data)) if gz else bytes(data))
    res = invoke("run", "swapfile", "--trace", str(path), "--ram", "1M", "-q", "--no-verify")
    one_line_error(res, "not ASCII text (byte 0xe9 at line")


def test_trace_gzip_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "t.trace.gz"
    path.write_bytes(gzip.compress(_trace_bytes())[:-200])
    one_line_error(invoke("run", "swapfile", "--trace", str(path), "--ram", "1M", "-q"), "cannot read past line")


def test_trace_that_is_not_gzip(tmp_path: Path) -> None:
    path = tmp_path / "t.trace.gz"
    path.write_bytes(_trace_bytes())
    one_line_error(invoke("run", "swapfile", "--trace", str(path)), "not a swapops trace")


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ('{ path = "a\\u0000b" }', "contains a NUL byte"),
        ("{ path = 5 }", "path must be a string (a file name), not int"),
        ("{ path = [1] }", "path must be a string"),
    ],
)
def test_scenario_bad_paths(tmp_path: Path, options: str, needle: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.replace('size = "1M"\n', f'size = "1M"\noptions = {options}\n'))
    one_line_error(invoke("run", str(path)), needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("seed = -1", "seed = -1 in the scenario: expected an integer >= 0"),
        ('[report]\nplot = "a\\u0000b.png"', "plot = 'a\\x00b.png'"),
    ],
)
def test_scenario_bad_values(tmp_path: Path, line: str, needle: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(line + "\n" + SCENARIO if line.startswith("seed") else SCENARIO + line + "\n")
    one_line_error(invoke("run", str(path)), needle)


def test_trace_path_with_nul_in_a_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.replace('name = "uniform"', 'trace = "t\\u0000.trace"'))
    one_line_error(invoke("run", str(path)), "expected a trace file path")


def test_seed_minus_one() -> None:
    one_line_error(invoke("run", "swapfile", "--seed", "-1"), "-1 is not in the range x>=0")
    one_line_error(invoke("compare", "swapfile", "--seed", "-1"), "-1 is not in the range x>=0")


@pytest.mark.parametrize("kind", ["scenario", "trace", "sweep"])
def test_fifo_inputs_do_not_hang(tmp_path: Path, kind: str) -> None:
    fifo = tmp_path / ("f.toml" if kind != "trace" else "f.trace")
    os.mkfifo(fifo)
    args = {"scenario": ["run", str(fifo)], "trace": ["run", "swapfile", "--trace", str(fifo)],
            "sweep": ["sweep", str(fifo), "--executor", "serial"]}[kind]
    one_line_error(invoke(*args), "is a FIFO")


def test_sweep_file_not_utf8_and_results_not_utf8(tmp_path: Path) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_bytes(b'[sweep]\nname = "\xff"\nstacks = ["swapfile"]\n')
    one_line_error(invoke("sweep", str(sweep), "--executor", "serial"), "not UTF-8 text (byte 0xff")
    results = tmp_path / "r.jsonl"
    results.write_bytes(b'{"point_id": "a"}\n{"x": "\xff"}\n')
    one_line_error(invoke("plot", str(results), "--x", "op", "--y", "waf"), "not UTF-8 text (byte 0xff at line 2)")
    csv = tmp_path / "r.csv"
    csv.write_bytes(b"point_id,x\na,\xfe\n")
    with pytest.raises(ConfigError, match="at line 2"):
        read_results(csv)


def test_sweep_output_that_is_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "r.jsonl")
    with pytest.raises(ConfigError, match="is a FIFO"):
        ResultStore(tmp_path / "r.jsonl")


def test_negative_seeds_in_a_sweep(tmp_path: Path) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nstacks = ["swapfile"]\nseeds = [-1]\n')
    with pytest.raises(ConfigError, match="integers >= 0"):
        load_sweep(sweep)


def test_trace_header_seed_negative(tmp_path: Path) -> None:
    path = tmp_path / "t.trace"
    path.write_text('swapops-trace 1\n{"seed": -3}\nn 1\n')
    with pytest.raises(ConfigError, match="integer >= 0"):
        TraceWorkload(path)


def test_trace_writer_refuses_a_fifo_and_nul(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f.trace")
    with pytest.raises(ConfigError, match="is a FIFO"):
        TraceWriter(tmp_path / "f.trace", {"seed": 0})
    with pytest.raises(ConfigError, match="NUL"):
        TraceWriter("a\0b", {"seed": 0})


def test_scenario_path_types() -> None:
    for bad in (5, b"x.toml", "a\0b.toml", ""):
        with pytest.raises(ConfigError):
            load_scenario(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the Python API


@pytest.fixture
def system_with_entry() -> tuple[swapops.SwapSystem, tuple[int, int]]:
    system = swapops.SwapSystem(seed=1)
    system.swapon("swapfile", size="1M")
    entry = system.swap_out(swapops.Folio(b"x" * 4096))
    system.swap_in(entry, cache=True)  # the swap cache is not empty: the lookups hash
    return system, entry


BAD_ENTRIES = [[5, 1], {0: 1}, "ab", None, (0,), (0, 1, 2), (0.5, 1), ("a", "b")]


@pytest.mark.parametrize("op", ["swap_in", "swap_free", "swap_dup", "swap_count"])
@pytest.mark.parametrize("bad", BAD_ENTRIES)
def test_entry_arguments(system_with_entry: tuple[swapops.SwapSystem, tuple[int, int]], op: str,
                         bad: object) -> None:
    system, _entry = system_with_entry
    with pytest.raises(InvalidEntryError):
        getattr(system, op)(bad)


@pytest.mark.parametrize("bad", BAD_ENTRIES)
def test_swap_cache_drop_arguments(system_with_entry: tuple[swapops.SwapSystem, tuple[int, int]],
                                   bad: object) -> None:
    """Dropping what is not in the swap cache does nothing (documented); what cannot
    be an entry at all (unhashable) is an InvalidEntryError, not a TypeError."""
    system, _entry = system_with_entry
    try:
        system.swap_cache_drop(bad)  # type: ignore[arg-type]
    except InvalidEntryError:
        assert isinstance(bad, (list, dict))
    assert system.swap_cache_size() == 1


def test_swap_cache_drop_of_a_list() -> None:
    system = swapops.SwapSystem(seed=1)
    system.swapon("swapfile", size="1M")
    entry = system.swap_out(swapops.Folio(b"x" * 4096))
    system.swap_in(entry, cache=True)
    with pytest.raises(InvalidEntryError, match=r"\(type, offset\) tuple"):
        system.swap_cache_drop([0, 1])  # type: ignore[arg-type]
    with pytest.raises(InvalidEntryError):
        system.swap_free(list(entry))  # type: ignore[arg-type]  # a list, and the entry is cached


@pytest.mark.parametrize("bad", ["a", 1.5, None, True, -1, 10**30])
def test_area_arguments(bad: object) -> None:
    with pytest.raises(InvalidEntryError):
        swapops.SwapSystem().area(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [123, b"x.img", "a\0b", "", ["x"]])
def test_swapon_path_arguments(bad: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError):
        swapops.SwapSystem().swapon("swapfile", path=bad, size="1M")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_pages_per_block_huge() -> None:
    with pytest.raises(ConfigError, match="pages_per_block.*at most 65536"):
        swapops.SwapSystem().swapon("swapfile", size="1M", device="flash", pages_per_block=2**40)


@pytest.mark.parametrize("bad", [-1, "1", 1.5, True, None])
def test_seed_arguments(bad: object) -> None:
    with pytest.raises(ConfigError, match="seed"):
        swapops.SwapSystem(seed=bad)  # type: ignore[arg-type]


def test_seed_takes_any_integer_type() -> None:
    import numpy as np

    assert swapops.SwapSystem(seed=np.int64(3)).seed == 3
    assert swapops.SwapSystem(seed=2**80).seed == 2**80


def test_every_error_here_is_a_swapops_error() -> None:
    """The errors above are all SwapOpsErrors (what the CLI prints in one line)."""
    assert issubclass(InvalidEntryError, SwapOpsError) and issubclass(ConfigError, SwapOpsError)
