"""The ``swapops`` command line (``docs/cli.md``).

Every user mistake (unknown module, invalid stack, bad size, missing file,
bad option) is reported as one line on stderr with exit code 2, never a
traceback. ``--json`` prints machine-readable results on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__, results_cli, runner
from .errors import ConfigError, ExecutorError, SignatureExistsError, SwapOpsError
from .header import SwapHeaderWarning, describe, format_swapfile, read_header
from .mm import DataMismatchError
from .sizes import format_size, parse_size
from .stack import HOLDS_TEXT, chain_holds, valid_chains
from .workloads import DEFAULT_WORKLOAD, WORKLOADS, parse_mix

PROG = "swapops"


def _fail(message: str, code: int = 2) -> NoReturn:
    line = " ".join(str(message).split())  # one line, whatever the message held
    click.echo(f"{PROG}: error: {line}", err=True)
    sys.exit(code)


def _interrupted(exc: KeyboardInterrupt) -> NoReturn:
    """Ctrl-C: exit 130 like a shell, saying what was kept (a sweep's rows) if anything was."""
    detail = " ".join(str(exc).split())
    click.echo(f"{PROG}: interrupted" + (f": {detail}" if detail else ""), err=True)
    sys.exit(130)


@contextmanager
def _one_line_warnings() -> Iterator[None]:
    """swapops' own warnings (e.g. insecure permissions of a swap file) as
    ``swapops: warning: ...`` lines on stderr, like its errors; others as Python prints them."""
    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if category.__module__.startswith("swapops"):
            text = " ".join(str(message).split()).removeprefix(f"{PROG}: ")
            click.echo(f"{PROG}: warning: {text}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


_NoArgsIsHelp: type[click.UsageError] = getattr(click.exceptions, "NoArgsIsHelpError", type("_Never", (click.UsageError,), {}))


class _Main(click.Group):
    """A group whose errors are one line on stderr (exit 2), never a traceback."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            with _one_line_warnings():
                rv = super().main(args, prog_name or PROG, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, KeyboardInterrupt):  # click turns Ctrl-C into Abort: still 130
                _interrupted(cause)
            click.echo(f"{PROG}: aborted", err=True)
            sys.exit(1)
        except _NoArgsIsHelp as exc:  # plain `swapops`: the help, not an error
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            sys.exit(0)
        except click.UsageError as exc:
            hint = f" (see '{PROG} {exc.ctx.info_name} --help')" if exc.ctx and exc.ctx.parent else ""
            _fail(exc.format_message() + hint)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code or 2)
        except DataMismatchError as exc:
            _fail(f"a module returned wrong data: {exc}", 1)
        except ExecutorError as exc:  # not bad input: the sweep could not go on
            _fail(str(exc), 1)
        except SwapOpsError as exc:
            _fail(str(exc))
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}")
        except KeyboardInterrupt as exc:
            _interrupted(exc)
        except MemoryError:
            _fail("out of memory: this machine cannot hold the simulation; "
                  "use a smaller --ram, --swap, --pages or --events")
        except Exception as exc:  # a bug: still one line, the traceback on request
            if os.environ.get("SWAPOPS_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (SWAPOPS_DEBUG=1 shows the traceback)", 1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name=PROG)
def main() -> None:
    """Simulate, compare and inspect Linux swap designs as stackable modules."""


# ------------------------------------------------------------------------------ helpers


def _console(width: int | None = None) -> Console:
    """stdout at ``--width``, else ``COLUMNS``, else the terminal's width, else 80 (``swapops.render``)."""
    from .render import make_console

    return make_console(width)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def _size(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        parse_size(value)  # InvalidSizeError -> one line
    return value


def _params(values: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--param")
        value: Any = raw
        for conv in (int, float):
            try:
                value = conv(raw)
                break
            except ValueError:
                continue
        out[key.strip()] = value
    return out


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[str, int], None] | None]:
    from .render import progress_bar

    with progress_bar(total, enabled) as advance:
        yield advance


def workload_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by run and compare."""
    opts = [
        click.option("-w", "--workload", default=DEFAULT_WORKLOAD, show_default=True,
                     type=click.Choice(sorted(WORKLOADS)), help="built-in workload"),
        click.option("--trace", "trace", type=click.Path(exists=True, dir_okay=False),
                     help="replay a recorded trace instead of a built-in workload"),
        click.option("--ram", default=runner.DEFAULT_RAM, show_default=True, callback=_size,
                     help="RAM size (with --trace of an imported program: half its footprint)"),
        click.option("--swap", default=runner.DEFAULT_SWAP, show_default=True, callback=_size,
                     help="swap size given to swapon (the swapfile's size)"),
        click.option("--seed", default=None, type=click.IntRange(min=0),
                     help="seed of workload, contents and devices  [default: 0, or a trace's own]"),
        click.option("--events", type=click.IntRange(min=1), default=None,
                     help=f"events to replay  [default: {runner.DEFAULT_EVENTS}]"),
        click.option("--pages", type=click.IntRange(min=1), default=None,
                     help=f"workload pages in total  [default: {runner.DEFAULT_FOOTPRINT} x RAM]"),
        click.option("--processes", type=click.IntRange(min=1), default=None, help="processes  [default: 4]"),
        click.option("--write-fraction", type=click.FloatRange(0.0, 1.0), default=None,
                     help="share of accesses that are stores  [default: 0.4]"),
        click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
                     help="workload parameter, e.g. alpha=0.9 (repeatable)"),
        click.option("--mix", default=None, metavar="zero=F,same=F,random=F",
                     help="page content mix  [default: zero=0.15,same=0.02,random=0.1; the rest from the "
                          "real-page corpus]"),
        click.option("--page-cluster", default=3, show_default=True, type=click.IntRange(0, 10),
                     help="readahead of 2**N pages (0: off)"),
        click.option("--cpus", default=1, show_default=True, type=click.IntRange(1, 1024),
                     help="simulated CPUs (the swap allocator's per-CPU clusters)"),
        click.option("--thp-orders", default="", metavar="N,N",
                     help="large-folio orders anonymous write faults may allocate, e.g. 4 or 2,4,9  [default: none]"),
        click.option("--page-cache", default="0", metavar="SIZE",
                     help="clean page cache in RAM at the start, reclaimed beside anonymous memory  [default: 0]"),
        click.option("--swappiness", default=60, show_default=True, type=click.IntRange(0, 200),
                     help="vm.swappiness: the anonymous/file scan balance (with --page-cache)"),
        click.option("--verify/--no-verify", default=True, show_default=True,
                     help="check every swapped-in page's bytes (its content key with --content ref)"),
        click.option("--content", type=click.Choice(["ref", "bytes"]), default="ref", show_default=True,
                     help="pages reach the swap layers by content key (ref: no stored bytes, same metrics) "
                          "or as their bytes"),
        click.option("--swapoff/--no-swapoff", default=True, show_default=True,
                     help="swap the physical backend off at the end and report the work"),
        click.option("--memory", type=click.Choice(["rss", "tracemalloc"]), default="rss", show_default=True,
                     help="how to measure the simulator's memory"),
        click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json"]), default=None,
                     help="table (fitted to the width), markdown or csv (a row per design, a column per "
                          "figure; csv: raw numbers), json  [default: table]"),
        click.option("--json", "as_json", is_flag=True, help="the same as --format json"),
        click.option("--width", type=click.IntRange(min=20), default=None,
                     help="columns the tables fit in  [default: COLUMNS, else the terminal's, else 80 "
                          "when piped]"),
        click.option("--plot", type=click.Path(dir_okay=False), default=None, help="write plots to FILE.png"),
        click.option("-q", "--quiet", is_flag=True, help="no progress bar"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _orders(text: str) -> tuple[int, ...]:
    """``--thp-orders 2,4``: orders 1..9 (a bad one is a ConfigError, exit 2)."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not part.isdigit() or not 1 <= int(part) <= 9:
            raise ConfigError(f"--thp-orders: {part!r} is not an order from 1 to 9")
        out.append(int(part))
    return tuple(out)


def _run_kwargs(o: dict[str, Any]) -> dict[str, Any]:
    return {
        "seed": o["seed"],
        "ram": o["ram"],
        "swap": o["swap"],
        "events": o["events"],
        "pages": o["pages"],
        "processes": o["processes"],
        "write_fraction": o["write_fraction"],
        "workload_params": _params(o["params"]),
        "mix": parse_mix(o["mix"]) if o["mix"] else None,
        "page_cluster": o["page_cluster"],
        "cpus": o["cpus"],
        "thp_orders": _orders(o["thp_orders"]),
        "page_cache": o["page_cache"],
        "swappiness": o["swappiness"],
        "verify": o["verify"],
        "swapoff": o["swapoff"],
        "memory": o["memory"],
        "content": o["content"],
    }


def _workload(o: dict[str, Any]) -> Any:
    if o["trace"]:
        from .trace import TraceWorkload, footprint_ram

        wl = TraceWorkload(o["trace"], events=o["events"])
        if click.get_current_context().get_parameter_source("ram") == click.core.ParameterSource.DEFAULT:
            o["ram"] = footprint_ram(wl.header) or o["ram"]
        return wl
    return o["workload"]


def _total_events(o: dict[str, Any], wl: Any) -> int:
    if not isinstance(wl, str):
        return int(wl.events)
    return o["events"] or runner.DEFAULT_EVENTS


def _plot_check(path: str | None) -> None:
    """Fail before a long run, not after it, if the plot cannot be written."""
    if path is not None:
        from .plot import check_plot

        check_plot(path)


# ------------------------------------------------------------------------------ run


@main.command()
@click.argument("target", metavar="STACK|SCENARIO.toml")
@workload_options
@click.option("--record", type=click.Path(dir_okay=False), default=None,
              help="record the event stream to a trace file (.gz: compressed)")
@click.option("--all", "every", is_flag=True,
              help="every figure of the result (all totals, mm counters, per-area and per-layer figures, "
                   "swapoff, host), grouped")
@results_cli.show_option
def run(target: str, **o: Any) -> None:
    """Run a workload over a stack (or a scenario file) and report its figures
    (a summary; --all: every one).

    STACK is written top first, e.g. 'vswap>zswap>swapfile:device=nvme'.
    Tables fit --width, else COLUMNS, else the terminal, else 80 columns.
    """
    _plot_check(o["plot"])
    _format(o)  # a --json/--format clash fails before the runs
    if target.endswith(".toml"):
        from .scenario import load_scenario, run_scenario

        scn = load_scenario(target)
        total = int(scn["workload"].get("events") or runner.DEFAULT_EVENTS)
        with _progress(total, not o["quiet"]) as prog:
            cb = (lambda n: prog(target, n)) if prog else None
            result = run_scenario(scn, progress=cb)
        keys = scn["report"].get("totals")
        plot = o["plot"] or scn["report"].get("plot")
    else:
        runner.check_stacks([target])
        wl = _workload(o)
        with _progress(_total_events(o, wl), not o["quiet"]) as prog:
            cb = (lambda n: prog(target, n)) if prog else None
            result = runner.run(target, wl, progress=cb, trace_out=o["record"], **_run_kwargs(o))
        keys = None
        plot = o["plot"]
    if plot:
        from .plot import plot_run

        plot_run(result, plot)
    fmt = _format(o)
    if o["show"]:
        results_cli.show(result, fmt == "json")
        return
    if fmt == "json":
        _print_json(result)
        return
    from . import render

    if fmt == "markdown":
        click.echo(render.run_markdown(result, o["every"]), nl=False)
    elif fmt == "csv":
        click.echo(render.run_csv(result, o["every"]), nl=False)
    else:
        console = _console(o["width"])
        render.print_all(console, render.run_renderables(result, console.width, keys, every=o["every"]))
    if plot:
        click.echo(f"plots written to {plot}", err=fmt != "table")


def _format(o: dict[str, Any]) -> str:
    """``--format``, with ``--json`` its alias (both given and different: a usage error)."""
    if o["as_json"] and o["fmt"] not in (None, "json"):
        raise click.UsageError(f"--json and --format {o['fmt']} disagree: give one")
    return "json" if o["as_json"] else o["fmt"] or "table"


# ------------------------------------------------------------------------------ compare


@main.command()
@click.argument("stacks", nargs=-1, metavar="[STACK ...]")
@workload_options
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="runs at once, each in its own process  [default: 2]")
@click.option("--designs", type=click.Choice(sorted(runner.DESIGN_PRESETS)), default=None,
              help="a named set of stacks instead of STACKs (debate: every design of the 2026 thread)")
def compare(stacks: tuple[str, ...], **o: Any) -> None:
    """Run one workload over several stacks and print their figures side by side.

    With no STACK, the designs of the debate: swapfile, zswap>swapfile,
    vswap>swapfile, vswap>zswap>swapfile on an NVMe profile, and swapfile,
    flashbuf>swapfile, vswap>flashbuf>swapfile on a flash (NAND) device.
    --designs debate: swapfile, zswap>swapfile, zswap>ghost, vswap>zswap>swapfile
    in both editions, and zram with and without a backing device.

    The table fits --width, else COLUMNS, else the terminal, else 80 columns:
    designs as columns (short labels A, B, ... and a legend when the stack
    names do not fit), else designs as rows over as many tables as needed.
    --plot FILE.png draws the key costs per design.
    """
    _plot_check(o["plot"])
    _format(o)  # a --json/--format clash fails before the runs
    if stacks and o["designs"]:
        _fail("give STACKs or --designs, not both")
    preset = runner.DESIGN_PRESETS[o["designs"] or "default"]
    chosen = list(stacks) if stacks else list(preset)
    if stacks:
        runner.check_stacks(chosen)
    else:
        for stack, missing in runner.missing_modules(chosen).items():
            click.echo(f"{PROG}: warning: skipping {stack}: module {', '.join(missing)} not installed", err=True)
            chosen.remove(stack)
        if not chosen:
            _fail("none of the default stacks' modules is installed")
    wl = _workload(o)
    kwargs = _run_kwargs(o)
    with _progress(_total_events(o, wl) * len(chosen), not o["quiet"]) as prog:
        results = runner.compare(chosen, wl, progress=prog, jobs=o["jobs"], **kwargs)
    if o["plot"]:
        from .plot import plot_compare

        plot_compare(results, o["plot"])
    fmt = _format(o)
    if fmt == "json":
        _print_json({"schema": "swapops.compare/1", "stacks": chosen, "runs": results})
        return
    from . import render

    if fmt == "markdown":
        click.echo(render.compare_markdown(results), nl=False)
    elif fmt == "csv":
        click.echo(render.csv_text(results, render.metric_fields()), nl=False)
    else:
        console = _console(o["width"])
        title = render.compare_title(results, o["ram"], o["swap"])
        render.print_all(console, render.compare_renderables(results, title, console.width))
    if o["plot"]:
        click.echo(f"plots written to {o['plot']}", err=fmt != "table")


# ------------------------------------------------------------------------------ modules / stacks


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def modules(as_json: bool) -> None:
    """Installed swap modules, with their distribution and version."""
    system = runner.quiet_system(0)
    rows: list[dict[str, Any]] = [
        {
            "module": info.name,
            "kind": info.cls.KIND,
            "lower_kinds": sorted(info.cls.LOWER_KINDS),
            "needs_lower": info.cls.NEEDS_LOWER,
            "distribution": info.distribution,
            "version": info.version,
            "plugin": info.plugin,
            "summary": info.cls.SUMMARY,
            "holds": info.cls.holds(),
            "options": [
                {"name": name, "type": opt.kind, "default": opt.default, "help": opt.help,
                 **({"choices": list(opt.choices)} if opt.choices else {})}
                for name, opt in info.cls.OPTIONS.items()
            ],
        }
        for info in system.registry.modules()
    ]
    if as_json:
        _print_json({"modules": rows, "failures": list(system.plugin_failures)})
        return
    table = Table(header_style="bold")
    for col in ("module", "kind", "sits on", "distribution", "version", "summary"):
        table.add_column(col, overflow="fold")  # narrow outputs wrap, never cut with "…"
    for r in rows:
        below = ", ".join(r["lower_kinds"]) or "(bottom only)"
        if not r["needs_lower"] and r["lower_kinds"]:
            below += " or bottom"
        table.add_row(r["module"], r["kind"], below, r["distribution"] or "-", r["version"] or "-", r["summary"])
    console = _console()
    console.print(table)
    for r in rows:
        if not r["options"]:
            continue
        opts = Table(title=f"{r['module']} options", header_style="bold", title_justify="left")
        for col in ("option", "type", "default", "meaning"):
            opts.add_column(col, overflow="fold")
        for o in r["options"]:
            kind = o["type"] + (f" ({'|'.join(o['choices'])})" if "choices" in o else "")
            default = o["default"]
            shown = "-" if default is None else format_size(default) if o["type"] == "size" else str(default)
            opts.add_row(o["name"], escape(kind), shown, escape(o["help"]))
        console.print(opts)
    for line in system.plugin_failures:
        click.echo(f"{PROG}: warning: {line}", err=True)


def stacks_markdown(chains: Sequence[str], kinds: dict[str, str], holds: dict[str, str] | None = None) -> str:
    """The text of ``docs/stacks.md`` (``swapops stacks --markdown``)."""
    lines = [
        "# Valid stacks",
        "",
        "Generated by `swapops stacks --markdown > docs/stacks.md` from the placement declarations of the",
        "installed modules (`swapops.valid_chains`, stacks of up to 4 layers); `tests/test_cli.py` checks that",
        "this file matches. A stack is written top first: `a>b` means `a` sits on `b`.",
        "",
        "Modules: " + ", ".join(f"`{name}` ({kind})" for name, kind in sorted(kinds.items())) + ".",
        "",
        "What a stack can hold: the most any of its layers can keep by itself (`HOLDS`); zero-filled pages",
        "are kept by the core on every stack, so \"zero pages only\" marks a stack that stores nothing.",
        "",
        "| # | stack | kinds, top first | can hold |",
        "|---:|---|---|---|",
    ]
    for i, chain in enumerate(chains, 1):
        layer_kinds = " > ".join(kinds[m] for m in chain.split(">"))
        can = HOLDS_TEXT[holds[chain]] if holds else ""
        lines.append(f"| {i} | `{chain}` | {layer_kinds} | {can} |")
    lines.append("")
    lines.append(f"{len(chains)} stacks.")
    return "\n".join(lines) + "\n"


@main.command()
@click.option("--markdown", is_flag=True, help="print docs/stacks.md")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def stacks(markdown: bool, as_json: bool) -> None:
    """Every valid stack of the installed modules."""
    system = runner.quiet_system(0)
    chains = valid_chains(system.registry)
    holds = {c: chain_holds([system.registry.get(m) for m in c.split(">")]) for c in chains}
    if as_json:
        _print_json({"stacks": chains, "holds": holds})
    elif markdown:
        kinds = {info.name: info.cls.KIND for info in system.registry.modules()}
        click.echo(stacks_markdown(chains, kinds, holds), nl=False)
    else:
        for chain in chains:
            click.echo(chain if holds[chain] == "any" else f"{chain}  ({HOLDS_TEXT[holds[chain]]})")


# ------------------------------------------------------------------------------ format / inspect


@main.command(name="format")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--size", callback=_size, help="area size (K/M/G suffixes); default: the file's size")
@click.option("-L", "--label", default="", help="volume label (at most 15 bytes kept)")
@click.option("-U", "--uuid", default=None, help="UUID, 'random' (default) or 'clear'")
@click.option("-p", "--pagesize", default=4096, show_default=True, type=int, help="page size of the header")
@click.option("-f", "--force", is_flag=True, help="overwrite another format's signature")
def format_cmd(file: str, size: str | None, label: str, uuid: str | None, pagesize: int, force: bool) -> None:
    """Write a Linux swap header to FILE (like mkswap; never enables swap)."""
    if size is None and not os.path.lexists(file):  # a dangling link is refused below, not created
        _fail(f"{file}: no such file; give --size to create it")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SwapHeaderWarning)
        try:
            header = format_swapfile(file, size=size, page_size=pagesize, label=label, uuid=uuid, force=force)
        except SignatureExistsError as exc:  # the library says force=True; the command line --force
            _fail(str(exc).replace("force=True", "--force"))
    for w in caught:
        click.echo(f"{PROG}: warning: {w.message}", err=True)
    nbytes = header.last_page * header.page_size
    click.echo(f"Setting up swapspace version {header.version}, size = {nbytes // 1024} KiB ({nbytes} bytes)")
    label_text = f"LABEL={header.label}" if header.label else "no label"
    click.echo(f"{label_text}, UUID={header.uuid}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def inspect(file: str, as_json: bool) -> None:
    """Show the swap header of FILE."""
    fields = describe(read_header(file))
    if as_json:
        _print_json({"file": file, **{json_key(k): v for k, v in fields.items()}})
        return
    table = Table(title=file, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in fields.items():
        if isinstance(value, list):
            value = ", ".join(map(str, value)) or "-"
        table.add_row(key, str(value))
    _console().print(table)

def json_key(label: str) -> str:
    """A display label as a snake_case JSON key: "Page size" -> "page_size", "UUID" -> "uuid"."""
    return "_".join("".join(c if c.isalnum() else " " for c in label).lower().split())


def _add_sweep_commands() -> None:
    """``swapops sweep`` and ``swapops plot`` live in :mod:`swapops.sweep_cli`."""
    try:
        from .sweep_cli import plot_command, sweep_command
    except ImportError:  # pragma: no cover - a partial install
        return
    main.add_command(sweep_command)
    main.add_command(plot_command)


_add_sweep_commands()


def _add_lab_commands() -> None:
    """``swapops lab`` (the real-kernel lab) lives in :mod:`swapops.lab.cli`."""
    try:
        from .lab.cli import lab_group
    except ImportError:  # pragma: no cover - a partial install
        return
    main.add_command(lab_group)


_add_lab_commands()
results_cli.add_commands(main)  # swapops swaps, swapops schema


def _add_trace_commands() -> None:
    """``swapops trace`` (import, record, info, mix) lives in :mod:`swapops.trace_cli`."""
    from .trace_cli import trace_group

    main.add_command(trace_group)


_add_trace_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
