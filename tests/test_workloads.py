"""Workload generators, the content mix and the trace format."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from swapops.compress import get_compressor
from swapops.corpus import corpus_pages, corpus_sources
from swapops.errors import ConfigError
from swapops.folio import ZERO_PAGES
from swapops.runner import run
from swapops.trace import MAGIC, TraceWorkload, TraceWriter, read_header
from swapops.workloads import (
    EXIT,
    FORK,
    MAX_PROCESSES,
    MAX_TABLE_PAGES,
    MUNMAP,
    OP_MASK,
    OP_SHIFT,
    READ,
    SPAWN,
    WORKLOADS,
    WRITE,
    ContentMix,
    make_workload,
    parse_mix,
)


def stream(name: str, seed: int = 1, events: int = 20_000, pages: int = 2000) -> list[tuple[int, int, int]]:
    wl = make_workload(name, events=events, pages=pages, seed=seed)
    return [ev for ops, a, b in wl.chunks(4096) for ev in zip(ops, a, b, strict=True)]


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_workload_is_deterministic_and_exact(name: str) -> None:
    first = stream(name)
    assert len(first) == 20_000
    assert stream(name) == first
    if name == "usemem":  # sequential fill and free: the seed only changes page contents
        assert stream(name, seed=2) == first
    else:
        assert stream(name, seed=2) != first


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_workload_events_are_valid(name: str) -> None:
    """Every access is to a live process and inside its pages; forks and exits pair up."""
    pages = 2000
    wl = make_workload(name, events=30_000, pages=pages, seed=3)
    alive: set[int] = set()
    kinds: set[int] = set()
    for ops, a, b in wl.chunks(1000):
        for op, x, y in zip(ops, a, b, strict=True):
            kind = op & OP_MASK
            kinds.add(kind)
            if kind in (READ, WRITE):
                assert x in alive
                assert 0 <= y < wl.per_process
            elif kind == SPAWN:
                assert x not in alive
                alive.add(x)
            elif kind == FORK:
                assert x in alive and y not in alive
                alive.add(y)
            elif kind == EXIT:
                alive.remove(x)
            elif kind == MUNMAP:
                assert x in alive and y >= 0 and y + (op >> OP_SHIFT) <= wl.per_process
    assert {READ, WRITE, SPAWN} <= kinds
    if name == "fork":
        assert {FORK, EXIT} <= kinds
    if name == "usemem":
        assert {WRITE, READ, MUNMAP, EXIT} <= kinds


def test_zipf_is_skewed_and_uniform_is_not() -> None:
    from collections import Counter

    def top_share(name: str) -> float:
        counts = Counter((x, y) for op, x, y in stream(name, events=50_000) if op in (READ, WRITE))
        top = sum(c for _k, c in counts.most_common(200))  # 10 % of 2000 pages
        return top / sum(counts.values())

    assert top_share("zipf") > 0.4
    assert top_share("uniform") < 0.2


def test_write_fraction_is_honoured() -> None:
    wl = make_workload("uniform", events=40_000, pages=1000, write_fraction=0.25, seed=5)
    ops = [op for chunk in wl.chunks() for op in chunk[0] if op in (READ, WRITE)]
    assert abs(sum(ops) / len(ops) - 0.25) < 0.02


def test_bad_workload_parameters() -> None:
    with pytest.raises(ConfigError, match="unknown workload"):
        make_workload("nope", events=10, pages=10)
    with pytest.raises(ConfigError, match="unknown parameter 'beta'"):
        make_workload("zipf", events=10, pages=10, beta=1)
    with pytest.raises(ConfigError, match="events"):
        make_workload("zipf", events=0, pages=10)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("zipf", {"alpha": "abc"}, "alpha='abc' is not a number"),
        ("zipf", {"alpha": 0}, r"alpha=0 out of range \(must be > 0\)"),
        ("zipf", {"alpha": float("nan")}, "alpha=nan is not a number"),
        ("zipf", {"alpha": True}, "is not a number"),
        ("phase", {"phases": "abc"}, "phases='abc' is not a number"),
        ("phase", {"phases": 0}, "phases=0 out of range"),
        ("phase", {"phases": 2.5}, "phases=2.5 must be a whole number"),
        ("phase", {"hot_fraction": 2}, r"hot_fraction=2 out of range \(must be > 0 and <= 1\)"),
        ("phase", {"hot_fraction": 0}, "hot_fraction=0 out of range"),
        ("phase", {"hot_share": -0.1}, "hot_share=-0.1 out of range"),
        ("usemem", {"passes": 0}, r"passes=0 out of range \(must be >= 1\)"),
        ("usemem", {"passes": 1.5}, "passes=1.5 must be a whole number"),
        ("usemem", {"passes": "x"}, "is not a number"),
        ("fork", {"fork_every": 0}, "fork_every=0 out of range"),
        ("fork", {"children": 10**9}, "children=1000000000 out of range"),
        ("fork", {"child_write_fraction": 1.5}, "child_write_fraction=1.5 out of range"),
        ("fork", {"child_events": -1}, "child_events=-1 out of range"),
        ("fork", {"children": 4096, "child_events": 1 << 20}, "events per fork round is too many"),
    ],
)
def test_workload_parameters_are_checked_when_built(name: str, params: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_workload(name, events=10, pages=100, **params)  # type: ignore[arg-type]


def test_workload_parameters_from_text_are_converted() -> None:
    wl = make_workload("phase", events=10, pages=100, phases="3", hot_fraction="0.5")  # type: ignore[arg-type]
    assert wl.params["phases"] == 3 and isinstance(wl.params["phases"], int)
    assert wl.params["hot_fraction"] == 0.5
    assert make_workload("usemem", events=10, pages=100, passes=2.0).params["passes"] == 2  # type: ignore[arg-type]
    assert make_workload("zipf", events=10, pages=100, alpha=1).params["alpha"] == 1.0


def test_page_and_process_counts_are_bounded() -> None:
    with pytest.raises(ConfigError, match=f"1000000000 pages is too many \\(at most {MAX_TABLE_PAGES}"):
        make_workload("zipf", events=10, pages=10**9)
    with pytest.raises(ConfigError, match="pages is too many"):
        make_workload("fork", events=10, pages=MAX_TABLE_PAGES + 1)
    # Without per-page tables any count is fine, and building costs nothing.
    wl = make_workload("uniform", events=10, pages=10**12)
    assert sum(len(c[0]) for c in wl.chunks()) == 10
    with pytest.raises(ConfigError, match="processes is too many"):
        make_workload("uniform", events=10, pages=10**9, processes=MAX_PROCESSES + 1)
    with pytest.raises(ConfigError, match="is RAM too small"):
        make_workload("zipf", events=10, pages=0)


# --------------------------------------------------------------------------- content


def test_corpus_is_real_pages() -> None:
    pages = corpus_pages()
    assert len(pages) == len(corpus_sources()) >= 30
    assert all(len(p) == 4096 and p != ZERO_PAGES[0] for p in pages)
    assert {s.split(":")[0] for s in corpus_sources()} == {"elf", "text", "pyc"}
    codec = get_compressor("lz4")
    ratio = len(pages) * 4096 / sum(len(codec.compress(p)) for p in pages)
    assert 1.3 < ratio < 3.0  # real data: compressible, not trivially


def test_content_is_a_function_of_seed_page_and_version() -> None:
    mix = ContentMix(seed=7)
    again = ContentMix(seed=7)
    other = ContentMix(seed=8)
    keys = [(page << 32) | version for page in range(1, 400) for version in (1, 2)]
    assert [mix.page(k) for k in keys] == [again.page(k) for k in keys]
    assert [mix.page(k) for k in keys] != [other.page(k) for k in keys]
    nonzero = [mix.page(k) for k in keys if mix.kind(k) != "zero"]
    assert all(len(p) == 4096 for p in nonzero)
    assert len(set(nonzero)) == len(nonzero)  # tagged: no two pages alike


def test_content_mix_fractions_and_compressibility() -> None:
    mix = ContentMix(zero=0.2, random=0.3, same=0.05, seed=1)
    codec = get_compressor("lz4")
    kinds: dict[str, list[int]] = {"zero": [], "same": [], "random": [], "corpus": []}
    for page in range(1, 4001):
        ck = page << 32 | 1
        data = mix.page(ck)
        kind = mix.kind(ck)
        if kind == "zero":
            assert data is ZERO_PAGES[0]
        if kind == "same":
            assert data == data[:8] * 512 and data != ZERO_PAGES[0]
        kinds[kind].append(len(codec.compress(data)))
    n = 4000
    assert abs(len(kinds["zero"]) / n - 0.2) < 0.03
    assert abs(len(kinds["same"]) / n - 0.05) < 0.02
    assert abs(len(kinds["random"]) / n - 0.3) < 0.03
    assert min(kinds["random"]) >= 4096  # incompressible
    assert max(kinds["same"]) < 64  # one word repeated
    assert sum(kinds["corpus"]) / len(kinds["corpus"]) < 3200  # compressible like the corpus


def test_parse_mix() -> None:
    assert parse_mix("zero=0.2,random=0.05") == {"zero": 0.2, "random": 0.05}
    assert parse_mix("same=0.1") == {"same": 0.1}
    assert parse_mix({"corpus": 0.7, "zero": 0.2}) == pytest.approx({"zero": 0.2, "random": 0.08})
    # a record from before same-filled pages: same is what the others leave
    assert parse_mix({"zero": 0.15, "corpus": 0.75, "random": 0.1}) == pytest.approx(
        {"zero": 0.15, "random": 0.1, "same": 0.0})
    assert parse_mix(None) == {}
    with pytest.raises(ConfigError):
        parse_mix("zero")
    with pytest.raises(ConfigError):
        parse_mix("sparkle=0.1")
    with pytest.raises(ConfigError):
        parse_mix("corpus=0.9,zero=0.2,random=0.2")
    with pytest.raises(ConfigError):
        ContentMix(zero=0.8, random=0.5)
    with pytest.raises(ConfigError):
        ContentMix(zero=0.5, random=0.4, same=0.2)
    with pytest.raises(ConfigError):
        parse_mix("same=yes")


# --------------------------------------------------------------------------- trace


@pytest.mark.parametrize("suffix", ["trace", "trace.gz"])
def test_trace_round_trip(tmp_path: Path, suffix: str) -> None:
    wl = make_workload("fork", events=12_000, pages=800, seed=4, fork_every=500, child_events=50)
    path = tmp_path / f"run.{suffix}"
    with TraceWriter(path, {"seed": 4, "workload": wl.describe()}) as w:
        for chunk in wl.chunks(1000):
            w.write(*chunk)
    assert read_header(path)["seed"] == 4
    replay = TraceWorkload(path)
    assert replay.events == 12_000
    got = [ev for ops, a, b in replay.chunks(777) for ev in zip(ops, a, b, strict=True)]
    want = [ev for ops, a, b in wl.chunks(1000) for ev in zip(ops, a, b, strict=True)]
    assert got == want
    if suffix.endswith(".gz"):
        with gzip.open(path, "rt") as f:
            assert f.readline().strip() == MAGIC


def test_trace_munmap_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "t.trace"
    path.write_text(f"{MAGIC}\n{{\"seed\": 1}}\n# a comment\nn 1\nw 1 5\n\nu 1 0 8  # unmap\nx 1\n")
    wl = TraceWorkload(path)
    ops, a, b = next(wl.chunks())
    assert ops == [SPAWN, WRITE, MUNMAP | (8 << OP_SHIFT), EXIT]
    assert a == [1, 1, 1, 1] and b == [0, 5, 0, 0]
    assert TraceWorkload(path, events=2).events == 2
    assert sum(len(c[0]) for c in TraceWorkload(path, events=2).chunks()) == 2


@pytest.mark.parametrize(
    "body",
    ["nope\n{}\n", f"{MAGIC}\nnot json\n", f"{MAGIC}\n{{}}\nw 1\n", f"{MAGIC}\n{{}}\nq 1 2\n", f"{MAGIC}\n{{}}\nr x 2\n"],
)
def test_bad_traces_are_config_errors(tmp_path: Path, body: str) -> None:
    path = tmp_path / "bad.trace"
    path.write_text(body)
    with pytest.raises(ConfigError):
        wl = TraceWorkload(path)
        list(wl.chunks())


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('{"seed": "x"}\nn 1\n', "header seed must be an integer, not 'x'"),
        ('{"seed": 1.5}\nn 1\n', "header seed must be an integer"),
        ('{"seed": 1, "mix": "lots"}\nn 1\n', "header mix must be an object"),
        ('{"seed": 1, "mix": {"zero": "abc"}}\nn 1\n', "zero='abc' is not a number"),
        ('{"seed": 1, "mix": {"zero": 0.9, "random": 0.5}}\nn 1\n', "between 0 and 1, summing"),
        ('{"seed": 1}\nn 1\nw 7 3\n', ":4: event 'w 7 3' for process 7, which was never spawned"),
        ('{"seed": 1}\nn 1\nw 1 -5\n', ":4: bad event 'w 1 -5'.*integers >= 0"),
        ('{"seed": 1}\nn 1\nu 1 0 -3\n', ":4: bad event 'u 1 0 -3'"),
        ('{"seed": 1}\nn 1\nx 1\nr 1 0\n', ":5: event 'r 1 0' for process 1, which was never spawned or has exited"),
        ('{"seed": 1}\nn 1\nn 1\n', "process 1 spawned while it exists"),
        ('{"seed": 1}\nn 1\nn 2\nf 1 2\n', "fork to process 2, which exists"),
        ('{"seed": 1}\nf 3 4\n', "process 3, which was never spawned"),
    ],
)
def test_trace_header_and_events_are_checked(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "bad.trace"
    path.write_text(f"{MAGIC}\n{body}")
    with pytest.raises(ConfigError, match=match):
        list(TraceWorkload(path).chunks())


def test_trace_fork_child_is_live_and_exit_ends_it(tmp_path: Path) -> None:
    path = tmp_path / "ok.trace"
    path.write_text(f"{MAGIC}\n{{\"seed\": 2}}\nn 1\nf 1 2\nw 2 0\nx 2\nr 1 0\nn 2\nr 2 9\n")
    wl = TraceWorkload(path)
    assert wl.seed == 2
    assert sum(len(c[0]) for c in wl.chunks()) == 7


def test_replaying_a_recorded_run_gives_the_same_result(tmp_path: Path) -> None:
    path = tmp_path / "rec.trace.gz"
    kw = {"seed": 9, "ram": "1M", "swap": "4M", "events": 15_000, "mix": {"zero": 0.3, "random": 0.2}}
    first = run("swapfile", "phase", trace_out=path, **kw)  # type: ignore[arg-type]
    again = run("swapfile", TraceWorkload(path), seed=9, ram="1M", swap="4M")  # the mix comes from the header
    assert first["totals"] == again["totals"]
    assert first["mm"] == again["mm"]
    assert first["totals"]["pswpout"] > 0
