"""Fuzz the files swapops reads: scenarios, sweep files, traces, results files, swap files.

Each test feeds mutated or arbitrary input through the real loader and
asserts that only the documented errors escape: a
:class:`~swapops.errors.SwapOpsError` (one line at the CLI, exit 2), never a
``TypeError``, ``UnicodeDecodeError``, ``KeyError`` or a decoder's own
exception. Where input is accepted, the test goes on with it (a parsed trace
is read to its end, a parsed scenario is run when it is small, a formatted
file reads back) so that what validation lets through cannot fail later.

The number of examples follows the Hypothesis profile: ``ci`` (the suite's
default, a few seconds for the whole module), ``SWAPOPS_HYPOTHESIS_PROFILE=deep``
for a long run.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import swapops
from swapops.errors import SignatureExistsError, SwapOpsError
from swapops.header import format_swapfile, pack_header, read_header
from swapops.scenario import load_scenario, parse_scenario, run_scenario
from swapops.sweep import ResultStore, check_spec, expand, load_sweep, read_results
from swapops.trace import TraceWorkload

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _tmp(name: str, data: bytes) -> Path:
    """A fresh file per example (hypothesis calls the test many times within one tmp_path)."""
    directory = Path(tempfile.mkdtemp(prefix="swapops-fuzz-"))
    path = directory / name
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _cleanup(path: Path) -> None:
    for child in path.parent.iterdir():
        child.unlink()
    path.parent.rmdir()


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few byte-level edits: flips, insertions, deletions, truncation."""
    data = bytearray(seed)
    for _ in range(draw(st.sampled_from((0, 1, 1, 1, 2, 3, 6)))):  # mostly near the valid file
        kind = draw(st.sampled_from(("flip", "insert", "delete", "truncate", "splice")))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "splice":
            data[at:at] = draw(st.sampled_from(
                (b"\xff", b"\xe9", b"\0", b"\n", b"=", b"[", b"]]", b'"', b"{", b"-1", b"1e999", b"nan", b"#")))
    return bytes(data)


def _documented(exc: BaseException) -> None:
    assert isinstance(exc, SwapOpsError), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    assert text and "Traceback" not in text


# --------------------------------------------------------------------------- scenarios

SCENARIO = b'''seed = 1
ram = "2M"
page_cluster = 2

[[swapon]]
stack = "zswap>swapfile"
size = "4M"
priority = 5

[workload]
name = "uniform"
events = 300
mix = { zero = 0.2, random = 0.1 }

[[swapoff]]
area = 0

[report]
totals = ["pswpout", "slots_used"]
'''


@FUZZ
@given(data=mutated(SCENARIO))
def test_scenario_files(data: bytes) -> None:
    path = _tmp("s.toml", data)
    try:
        scn = load_scenario(path)
    except Exception as exc:
        _documented(exc)
        event("refused")
        return
    finally:
        _cleanup(path)
    event("accepted")
    _run_small(scn)


ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["1M", "4M", "-1", "12Q", "1e999", "a\0b", "", "swapfile", "nan"]),
    st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _sample(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``value``, one time in eight an odd one (so that many examples get far)."""
    return st.sampled_from([False] * 7 + [True]).flatmap(lambda odd: ODD if odd else value)


ONE_IN_EIGHT = st.sampled_from([False] * 7 + [True])  # not integers(): those favour their bounds
SMALL_SIZE = st.sampled_from(["1M", "2M", "4M", 1 << 20, 2 << 20])


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    scn: dict[str, Any] = {}
    for key, good in (("seed", st.integers(0, 5)), ("ram", SMALL_SIZE), ("page_cluster", st.integers(0, 10)),
                      ("verify", st.booleans()), ("event_ns", st.integers(1, 5000)), ("points", st.integers(1, 8)),
                      ("memory", st.sampled_from(["rss", "tracemalloc"]))):
        if draw(st.booleans()):
            scn[key] = draw(_sample(good))
    swapon = {"stack": draw(_sample(st.sampled_from(["swapfile", "zswap>swapfile", "vswap>swapfile", "nosuch"])))}
    for key, good in (("size", SMALL_SIZE), ("priority", st.integers(-1, 10)),
                      ("options", st.sampled_from([{}, {"label": "x"}, {"bogus": 1}, {"path": 5}, {"size": "1M"}]))):
        if draw(st.booleans()):
            swapon[key] = draw(_sample(good))
    scn["swapon"] = draw(_sample(st.sampled_from([[swapon], [swapon], [swapon, swapon]])))
    workload: dict[str, Any] = {"events": draw(_sample(st.integers(1, 300)))}
    for key, good in (("name", st.sampled_from(["uniform", "zipf", "fork", "nope"])), ("pages", st.integers(1, 600)),
                      ("processes", st.integers(1, 4)), ("write_fraction", st.floats(0, 1)),
                      ("mix", st.sampled_from([{"zero": 0.5}, "zero=0.3", {"zero": 2}, {"blue": 0.1}])),
                      ("params", st.sampled_from([{}, {"alpha": 0.9}, {"beta": 1}]))):
        if draw(st.booleans()):
            workload[key] = draw(_sample(good))
    scn["workload"] = workload
    if draw(st.booleans()):
        scn["swapoff"] = draw(st.sampled_from([[{"area": 0}], [{"area": 3}], [{"area": 0, "layer": "swapfile"}],
                                               [{"layer": "nope"}], {"area": 0}]))
    if draw(st.booleans()):
        scn["report"] = draw(st.sampled_from([{"totals": ["pswpout"]}, {"totals": ["nope"]}, {"totals": "pswpout"},
                                              {"colour": 1}]))
    if draw(ONE_IN_EIGHT):
        scn[draw(st.sampled_from(["sead", "workloads", "swapoff"]))] = draw(ODD)
    return scn


def _run_small(scn: dict[str, Any]) -> None:
    """Run an accepted scenario if it is small (the fuzzed sizes are)."""
    if int(scn["workload"].get("events") or 10**9) > 2000 or "trace" in scn["workload"]:
        return
    try:
        run_scenario(scn)
    except Exception as exc:
        _documented(exc)
        event("refused at run")
        return
    event("ran")


@FUZZ
@given(scn=scenarios())
def test_scenario_values(scn: dict[str, Any]) -> None:
    try:
        checked = parse_scenario(scn, base="/nonexistent-swapops-fuzz")
    except Exception as exc:
        _documented(exc)
        event("refused")
        return
    event("accepted")
    _run_small(checked)


# --------------------------------------------------------------------------- sweep files

SWEEP = b'''[sweep]
name = "fuzz"
stacks = ["swapfile:device=flash,op={op}", "flashbuf>swapfile:device=flash,op={op}"]
workloads = ["uniform"]
seeds = [1, 2]
metrics = ["totals.waf", "totals.pswpout"]

[sweep.base]
ram = "1M"
events = 300

[sweep.grid]
op = [0.07, 0.28]

[[sweep.points]]
op = 0.5
'''


@FUZZ
@given(data=mutated(SWEEP))
def test_sweep_files(data: bytes) -> None:
    path = _tmp("s.toml", data)
    try:
        spec = load_sweep(path)
    except Exception as exc:
        _documented(exc)
        event("refused")
        return
    finally:
        _cleanup(path)
    event("accepted")
    try:
        points = expand(spec)
    except Exception as exc:
        _documented(exc)
        return
    assert points


@st.composite
def sweep_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"stacks": draw(_sample(st.sampled_from(
        [["swapfile"], ["swapfile:op={op}"], ["{nope}"], ["swapfile:op={op"], "swapfile", []])))}
    for key, good in (("seeds", st.sampled_from([[1], [0, 1], 3, [1, 1], [-1], 0])),
                      ("workloads", st.sampled_from([["uniform"], "zipf", [], [5]])),
                      ("metrics", st.sampled_from([["totals.waf"], ["totals.nope"], [], "totals.waf"])),
                      ("base", st.sampled_from([{"ram": "1M"}, {"seed": 1}, {"colour": 1}, []])),
                      ("grid", st.sampled_from([{"op": [0.1, 0.2]}, {"op": []}, {"op": 0.1}, {"nope": [1]}])),
                      ("points", st.sampled_from([[{"op": 0.3}], [{}], [1], {"op": 1}]))):
        if draw(st.booleans()):
            spec[key] = draw(_sample(good))
    if draw(ONE_IN_EIGHT):
        spec[draw(st.sampled_from(["stack", "seed", "name", "description"]))] = draw(ODD)
    return spec


@FUZZ
@given(spec=sweep_specs())
def test_sweep_specs(spec: dict[str, Any]) -> None:
    try:
        checked = check_spec(spec)
        points = expand(checked)
    except Exception as exc:
        _documented(exc)
        event("refused")
        return
    event("accepted")
    assert all(isinstance(p["stack"], str) for p in points)


# --------------------------------------------------------------------------- traces

TRACE = ("swapops-trace 1\n" + json.dumps({"seed": 3, "mix": {"zero": 0.2, "random": 0.1},
                                             "workload": {"name": "fuzz"}}) + "\n"
         + "n 1\nw 1 10\nw 1 11\nr 1 10\nf 1 2\nw 2 11\nu 1 10 2\nx 2\n"
         + "".join(f"w 1 {i % 64}\nr 1 {(i * 7) % 64}\n" for i in range(3000))
         + "x 1\n").encode("ascii")


@FUZZ
@given(data=mutated(TRACE), gz=st.booleans(), cut=st.integers(0, 64))
def test_traces(data: bytes, gz: bool, cut: int) -> None:
    raw = gzip.compress(data, mtime=0) if gz else data
    if gz and cut:
        raw = raw[: max(len(raw) - cut, 0)]  # a cut stream
    path = _tmp("t.trace.gz" if gz else "t.trace", raw)
    try:
        workload = TraceWorkload(path)
        events = sum(len(ops) for ops, _a, _b in workload.chunks())
    except Exception as exc:
        _documented(exc)
        event("refused")
        return
    finally:
        _cleanup(path)
    event("accepted")
    assert events >= 0


@FUZZ
@given(data=mutated(TRACE))
def test_traces_replay(data: bytes) -> None:
    """An accepted trace replays through the machine (pages, counts and pids it allows)."""
    from swapops.runner import run

    path = _tmp("t.trace", data)
    try:
        try:
            workload = TraceWorkload(path)
            list(workload.chunks())
        except SwapOpsError:
            event("refused")
            return
        try:
            run("swapfile", workload, ram="1M", swap="4M", swapoff=False)
        except Exception as exc:
            _documented(exc)
            event("refused at run")
            return
        event("replayed")
    finally:
        _cleanup(path)


# --------------------------------------------------------------------------- results files

ROWS = [{"point_id": f"{i:016x}", "stack": "swapfile", "seed": i, "param.op": 0.1 * i, "error": None,
         "totals.waf": 1.0 + i / 10, "wall_s": 0.5} for i in range(4)]
JSONL = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
CSV = ("point_id,stack,seed,param.op,error,totals.waf,wall_s\n"
       + "".join(f"{r['point_id']},swapfile,{r['seed']},{r['param.op']},,{r['totals.waf']},0.5\n" for r in ROWS)
       ).encode()


@FUZZ
@given(data=mutated(JSONL), kind=st.sampled_from(["jsonl", "csv"]))
def test_results_files(data: bytes, kind: str) -> None:
    if kind == "csv":
        data = data.replace(JSONL, CSV) if data == JSONL else data.replace(b"{", b",")
    path = _tmp(f"r.{kind}", data)
    try:
        try:
            rows = read_results(path)
        except Exception as exc:
            _documented(exc)
            event("refused")
            return
        assert all(isinstance(row, dict) for row in rows)
        event("accepted")
        try:
            ResultStore(path).load()  # what a resumed sweep reads
        except Exception as exc:
            _documented(exc)
    finally:
        _cleanup(path)


# --------------------------------------------------------------------------- swap files


def _swap_bytes() -> bytes:
    import uuid

    return pack_header(page_size=4096, last_page=15, uuid=uuid.UUID(int=7), label="fuzz") + bytes(4096 * 15)


@FUZZ
@given(data=st.one_of(mutated(_swap_bytes()), st.binary(max_size=70000)),
       size=st.sampled_from([None, "64K", "1M", 100, 2**70]), force=st.booleans())
def test_format_existing_files(data: bytes, size: str | int | None, force: bool) -> None:
    """format either refuses (SwapOpsError, file untouched) or writes a header that reads back."""
    path = _tmp("x.img", data)
    try:
        try:
            header = format_swapfile(path, size=size, force=force)
        except Exception as exc:
            _documented(exc)
            assert path.read_bytes() == data, "a refused format changed the file"
            event(f"refused: {type(exc).__name__}")
            if isinstance(exc, SignatureExistsError):
                assert not force
            return
        event("formatted")
        again = read_header(path)
        assert again.uuid == header.uuid and again.last_page == header.last_page
    finally:
        _cleanup(path)


@FUZZ
@given(data=st.one_of(mutated(_swap_bytes()), st.binary(max_size=9000)))
def test_swapon_of_files(data: bytes) -> None:
    """swapfile:path= on any file: refused with a SwapOpsError, or a working area."""
    import warnings

    path = _tmp("x.img", data)
    try:
        system = swapops.SwapSystem()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                system.swapon("swapfile", path=path)
            except Exception as exc:
                _documented(exc)
                event("refused")
                return
        event("swapped on")
        entry = system.swap_out(swapops.Folio(b"\x5a" * 4096))
        assert system.swap_in(entry).data == b"\x5a" * 4096
        system.swap_free(entry)
    finally:
        _cleanup(path)
