"""``swapops trace``: import, record and inspect traces of real programs (``docs/traces.md``).

Registered by :mod:`swapops.cli` with one line; errors are :class:`ConfigError`
(one line on stderr, exit 2).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from typing import Any

import click

from .content import DEFAULT_MIX, ContentMix, parse_mix
from .errors import ConfigError
from .render import status_line
from .trace import TraceWorkload, read_header
from .trace_import import DEFAULT_RULES, GAP, SOURCES, Rules, import_trace
from .workloads import EXIT, FORK, MUNMAP, OP_MASK, READ, SPAWN, WRITE

#: What ``trace record`` runs the command under (the lackey log of each process to DIR).
VALGRIND_ARGS = ("--tool=lackey", "--trace-mem=yes", "--trace-children=yes")


def _mix_header(mix: str | None, mix_from: str | None) -> dict[str, Any]:
    """The header's ``mix`` (and where it came from) from ``--mix`` or ``--mix-from``."""
    if mix and mix_from:
        raise ConfigError("give --mix or --mix-from, not both")
    if mix_from:
        from .pagestats import dump_stats, mix_of

        stats = dump_stats(mix_from)
        return {"mix": mix_of(stats["counts"]), "content": stats}
    if mix:
        parts = parse_mix(mix)
        return {"mix": ContentMix.from_parts(parts).as_dict(), "content": {"source": f"--mix {mix}"}}
    return {"mix": ContentMix.from_parts(None).as_dict(),
            "content": {"source": "none measured: swapops' default mix (docs/traces.md)"}}


def _rules(with_code: bool, no_collapse: bool, gap: int, perf_loads: bool) -> Rules:
    return Rules(with_code=with_code, collapse=not no_collapse, gap=gap, perf_first_store=not perf_loads)


def _rule_options(f: Any) -> Any:
    for opt in reversed([
        click.option("--with-code", is_flag=True,
                     help="lackey: keep instruction fetches (code pages are file-backed: left out by default)"),
        click.option("--no-collapse", is_flag=True,
                     help="an event per access (default: a run of accesses to one page is one reference)"),
        click.option("--gap", type=click.IntRange(1, 1 << 20), default=GAP, show_default=True,
                     help="holes in the address space longer than this many pages are squashed to it"),
        click.option("--mix", default=None, metavar="zero=F,same=F,random=F,lz4_N=F",
                     help="content mix to write in the header  [default: measured (record) or swapops' default]"),
        click.option("--mix-from", type=click.Path(dir_okay=False), default=None, metavar="DUMP",
                     help="the header's mix from the page statistics of a raw dump or ELF core file"),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="the header's seed (page contents on replay)"),
    ]):
        f = opt(f)
    return f


@click.group(name="trace")
def trace_group() -> None:
    """Import, record and inspect memory traces of real programs."""


@trace_group.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--from", "source", type=click.Choice(SOURCES), required=True,
              help="lackey: valgrind --tool=lackey --trace-mem=yes logs, one per process; "
                   "perf: 'perf script -F pid,addr' text or a perf.data of page-faults")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="the trace (.gz: compressed)")
@click.option("--command", "command", default=None, help="the command the logs are of (for the header)")
@click.option("--perf-loads", is_flag=True,
              help="perf: every fault a load (default: a page's first fault is a store)")
@_rule_options
def import_command(files: tuple[str, ...], source: str, output: str, command: str | None, perf_loads: bool,
                   with_code: bool, no_collapse: bool, gap: int, mix: str | None, mix_from: str | None,
                   seed: int) -> None:
    """Turn lackey logs or perf page-fault samples into a swapops trace."""
    extra = _mix_header(mix, mix_from)
    if command:
        extra["command"] = command
    header = import_trace(source, list(files), output, rules=_rules(with_code, no_collapse, gap, perf_loads),
                          header=extra, seed=seed)
    click.echo(_summary(output, header))


@trace_group.command(name="record", context_settings={"ignore_unknown_options": True})
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- CMD [ARGS]...")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="the trace  [default: CMD.trace.gz]")
@click.option("--no-content", is_flag=True,
              help="do not run CMD natively to measure its pages' contents (the header gets --mix or the default)")
@click.option("--interval", type=click.FloatRange(0.001, 10.0), default=0.01, show_default=True,
              help="seconds between samples of the native run's memory")
@click.option("--keep-logs", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="keep valgrind's lackey logs in DIR")
@_rule_options
def record_command(argv: tuple[str, ...], output: str | None, no_content: bool, interval: float,
                   keep_logs: str | None, with_code: bool, no_collapse: bool, gap: int, mix: str | None,
                   mix_from: str | None, seed: int) -> None:
    """Run CMD under valgrind's lackey and write its trace in one step.

    Unless --no-content, --mix or --mix-from, CMD first runs natively and its
    anonymous pages are read from /proc/PID/mem (every --interval seconds and at
    its exit) to measure the content mix: CMD runs twice, so it must do the same
    thing twice. CMD's standard output is discarded.
    """
    header = record(list(argv), output=output, content=not no_content, interval=interval, keep_logs=keep_logs,
                    rules=_rules(with_code, no_collapse, gap, False), mix=mix, mix_from=mix_from, seed=seed)
    click.echo(_summary(header["output"], header))


def record(argv: list[str], *, output: str | None = None, content: bool = True, interval: float = 0.01,
           keep_logs: str | None = None, rules: Rules = DEFAULT_RULES, mix: str | None = None,
           mix_from: str | None = None, seed: int = 0) -> dict[str, Any]:
    """``swapops trace record``: the header written (with ``output``, the trace's path)."""
    if not argv:
        raise ConfigError("trace record: no command given (swapops trace record -- CMD ARGS)")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise ConfigError("trace record: valgrind is not installed (Debian: apt-get install valgrind)")
    if shutil.which(argv[0]) is None:
        raise ConfigError(f"trace record: command not found: {argv[0]}")
    output = output or f"{os.path.basename(argv[0])}.trace.gz"
    if mix or mix_from or not content:
        extra = _mix_header(mix, mix_from)
    else:
        from .pagestats import mix_of, sample_command

        with status_line(f"swapops: {shlex.join(argv)} natively, sampling its pages"):
            stats = sample_command(argv, interval=interval)
        if stats["pages"]:
            extra = {"mix": mix_of(stats["counts"]), "content": stats}
        else:
            extra = _mix_header(None, None)
            extra["content"]["source"] = "none measured: the native run ended before a sample; swapops' default mix"
    version = subprocess.run([valgrind, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="swapops-lackey-") as tmp:
        logdir = keep_logs or tmp
        os.makedirs(logdir, exist_ok=True)
        cmd = [valgrind, *VALGRIND_ARGS, f"--log-file={os.path.join(logdir, 'lackey.%p')}", *argv]
        with status_line(f"swapops: {shlex.join(argv)} under valgrind's lackey"):
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if proc.returncode != 0:
            last = (proc.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
            raise ConfigError(f"trace record: {shlex.join(argv)} exited with status {proc.returncode} under "
                              f"valgrind" + (f": {last}" if last else ""))
        logs = sorted(os.path.join(logdir, n) for n in os.listdir(logdir) if n.startswith("lackey."))
        if not logs:
            raise ConfigError(f"trace record: valgrind wrote no lackey log to {logdir}")
        extra.update({"command": shlex.join(argv), "date": date,
                      "recorded_with": f"{version} {' '.join(VALGRIND_ARGS)}"})
        header = import_trace("lackey", logs, output, rules=rules, header=extra, seed=seed)
    header["output"] = output
    return header


def _summary(path: str, header: dict[str, Any]) -> str:
    mix = header.get("mix", {})
    shown = ", ".join(f"{k}={v:g}" for k, v in mix.items() if v)
    procs = header.get("processes", [])
    return (f"wrote {path}: {header.get('events', 0):,} events, {len(procs)} process"
            f"{'es' if len(procs) != 1 else ''}, footprint {header.get('footprint', 0):,} pages; mix {shown}")


@trace_group.command(name="info")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def info_command(file: str, as_json: bool) -> None:
    """A trace's header, event counts and footprint (distinct pages per process)."""
    data = trace_info(file)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    head = data["header"]
    click.echo(f"{file}: swapops-trace 1, seed {head.get('seed', 0)}")
    for key in ("source", "workload", "date", "recorded_with"):
        if key in head:
            value = head[key]
            click.echo(f"  {key}: {json.dumps(value) if isinstance(value, dict) else value}")
    if "import" in head:
        for rule in head["import"].get("rules", []):
            click.echo(f"  rule: {rule}")
    click.echo(f"  mix: {json.dumps(head.get('mix', DEFAULT_MIX))}")
    if "content" in head:
        click.echo(f"  content: {head['content'].get('source', '')}")
    ev = data["events"]
    click.echo("  events: " + ", ".join(f"{k} {v:,}" for k, v in ev.items()))
    click.echo(f"  footprint: {data['footprint']:,} pages ({data['footprint'] * 4 // 1024:,} MiB) in "
               f"{len(data['processes'])} process{'es' if len(data['processes']) != 1 else ''}")
    for p in data["processes"]:
        click.echo(f"    pid {p['pid']}: {p['pages']:,} pages, {p['loads']:,} loads, {p['stores']:,} stores")


_NAMES = {READ: "loads", WRITE: "stores", FORK: "forks", EXIT: "exits", SPAWN: "spawns", MUNMAP: "munmaps"}


def trace_info(path: str) -> dict[str, Any]:
    """The header, event counts by kind and per-process footprint of a trace (read once)."""
    header = read_header(path)
    wl = TraceWorkload(path)
    kinds: Counter[str] = Counter()
    pages: dict[int, set[int]] = {}
    loads: Counter[int] = Counter()
    stores: Counter[int] = Counter()
    for ops, a, b in wl.chunks():
        for op, pid, page in zip(ops, a, b, strict=True):
            kind = op & OP_MASK
            kinds[_NAMES[kind]] += 1
            if kind in (READ, WRITE):
                pages.setdefault(pid, set()).add(page)
                (stores if kind == WRITE else loads)[pid] += 1
    procs = [{"pid": pid, "pages": len(s), "loads": loads[pid], "stores": stores[pid]}
             for pid, s in sorted(pages.items())]
    return {"header": header, "events": {"total": sum(kinds.values()), **dict(kinds)},
            "footprint": sum(p["pages"] for p in procs), "processes": procs}


@trace_group.command(name="mix")
@click.argument("dump", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def mix_command(dump: str, as_json: bool) -> None:
    """Page-content statistics of a raw page dump or an ELF core file, as a --mix.

    Every whole 4 KiB page (of a core file: its writable PT_LOAD segments) is
    zero, same-filled, compressible into an lz4 size bucket, or incompressible.
    """
    from .pagestats import dump_stats, mix_of

    stats = dump_stats(dump)
    mix = mix_of(stats["counts"])
    if as_json:
        click.echo(json.dumps({**stats, "mix": mix}, indent=2))
        return
    click.echo(f"{dump}: {stats['pages']:,} pages ({stats['format']})")
    for cls, n in stats["counts"].items():
        click.echo(f"  {cls:>9}: {n:>9,}  {100 * n / stats['pages']:6.2f} %")
    click.echo("--mix " + ",".join(f"{k}={v:g}" for k, v in mix.items()))


__all__ = ["trace_group", "record", "trace_info", "VALGRIND_ARGS"]
