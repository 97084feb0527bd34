"""``swapops sweep`` and ``swapops plot``: click commands over :mod:`swapops.sweep`."""

from __future__ import annotations

import pathlib
from collections import defaultdict
from typing import Any

import click

from .errors import ConfigError
from .sweep import (
    DASK_WORKER_TIMEOUT_S,
    EXECUTORS,
    empty_metrics,
    load_sweep,
    read_results,
    run_sweep,
)


@click.command("sweep")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--executor", type=click.Choice(EXECUTORS), default="process", show_default=True)
@click.option("--scheduler", default=None, help="Dask scheduler address (with --executor dask).")
@click.option("--workers", type=click.IntRange(1, 1024), default=None, help="Worker processes.")
@click.option(
    "--worker-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DASK_WORKER_TIMEOUT_S,
    show_default=True,
    help="Dask: give up after this many seconds without any worker.",
)
@click.option(
    "--out", "out", default="results.jsonl", show_default=True, help="results.jsonl|.csv|.parquet"
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep_command(
    sweep_file: str,
    executor: str,
    scheduler: str | None,
    workers: int | None,
    worker_timeout: float,
    out: str,
    quiet: bool,
) -> None:
    """Run every point of SWEEP_FILE (TOML); resumable: finished points are skipped.

    The progress bar goes to stderr, and only when it is a terminal. Exit
    status: 0 when at least one point succeeded (failed points are recorded
    with their error and counted on stderr), 1 when every point failed or the
    executor could not go on (no Dask worker, a dead pool), 130 on Ctrl-C;
    every finished row is kept in each case.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    spec = load_sweep(sweep_file)
    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
        transient=False,
    ) as bar:
        task = bar.add_task(f"sweep {spec.get('name', pathlib.Path(sweep_file).stem)}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        rows = run_sweep(
            spec, out, executor=executor, workers=workers, scheduler=scheduler, progress=progress,
            worker_timeout=worker_timeout,
        )
    failed = [r for r in rows if r.get("error")]
    click.echo(f"{len(rows)} points in {out}; {len(failed)} failed")
    for row in failed[:5]:
        click.echo(f"  failed: {row['stack']} seed={row['seed']}: {row['error']}", err=True)
    if len(failed) > 5:
        click.echo(f"  ... and {len(failed) - 5} more (the 'error' column of {out})", err=True)
    empty = empty_metrics(rows, spec.get("metrics"))
    if empty:
        click.echo(
            f"swapops: warning: no successful point has a value for {', '.join(empty)}", err=True
        )
    if rows and len(failed) == len(rows):
        raise click.ClickException(f"every point of the sweep failed ({len(rows)} points)")


@click.command("plot")
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--x", "x", required=True, help="Parameter for the x axis (e.g. op or param.op).")
@click.option("--y", "y", required=True, help="Metric for the y axis (e.g. totals.waf).")
@click.option(
    "--hue",
    default=None,
    help="Column that names the lines  [default: design, the stack template; else stack].",
)
@click.option(
    "--per",
    default=None,
    help="Divide Y by this column, e.g. --y nand_writes --per swap_entries_allocated (end-to-end WAF).",
)
@click.option("-o", "--output", default=None, help="PNG to write (default: RESULTS with .png).")
def plot_command(
    results: str, x: str, y: str, hue: str | None, per: str | None, output: str | None
) -> None:
    """Plot a sweep: Y against X, one line per HUE, mean over seeds with min-max band.

    Prints the plotted values as a Markdown table (mean, and min-max over seeds).
    """
    rows = [r for r in read_results(results) if not r.get("error")]
    if not rows:
        raise ConfigError(f"{results}: no successful points to plot")
    xkey = _column(rows, x, "param.")
    ykey = _column(rows, y, "totals.")
    pkey = _column(rows, per, "totals.") if per else None
    if hue is None:
        hue = "design" if any("design" in row for row in rows) else "stack"
    hkey = _column(rows, hue, "")
    for key in (xkey, ykey, pkey):
        if key is not None:
            _numeric(rows, key)
    out = output or str(pathlib.Path(results).with_suffix(".png"))
    series = plot_sweep(rows, xkey, ykey, hkey, out, per=pkey)
    click.echo(f"wrote {out}")
    click.echo(series_markdown(series, xkey, f"{ykey} / {pkey}" if pkey else ykey))


def _numeric(rows: list[dict[str, Any]], key: str) -> None:
    """Refuse a column with a value that is not a number (e.g. --x stack)."""
    for row in rows:
        value = row.get(key)
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            continue
        raise ConfigError(
            f"column {key!r} is not numeric (a row has {value!r}); --x, --y and --per take "
            f"numbers such as param.op or totals.waf, --hue takes any column"
        )


def _column(rows: list[dict[str, Any]], name: str, prefix: str) -> str:
    for candidate in (name, prefix + name):
        if any(candidate in row for row in rows):
            return candidate
    columns = sorted({k for row in rows for k in row if k not in ("config",)})
    raise ConfigError(f"no column {name!r} in the results (columns: {', '.join(columns[:40])} ...)")


Series = dict[str, list[tuple[float, float, float, float, int]]]


def sweep_series(
    rows: list[dict[str, Any]], xkey: str, ykey: str, hkey: str, *, per: str | None = None
) -> Series:
    """Per HUE value, sorted by X: ``(x, mean, min, max, n)`` of Y (over seeds)."""
    values: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        xv, yv = row.get(xkey), row.get(ykey)
        if xv is None or yv is None:
            continue
        if per is not None:
            pv = row.get(per)
            if not pv:
                continue
            yv = yv / pv
        values[str(row.get(hkey))][float(xv)].append(float(yv))
    return {
        label: [(x, sum(v) / len(v), min(v), max(v), len(v)) for x, v in sorted(by_x.items())]
        for label, by_x in sorted(values.items())
    }


def series_markdown(series: Series, xkey: str, ylabel: str) -> str:
    """The plotted values as a Markdown table: one row per X, one column per line."""
    xs = sorted({p[0] for points in series.values() for p in points})
    labels = list(series)
    lines = [
        f"| {xkey} | " + " | ".join(f"{ylabel}: `{label}`" for label in labels) + " |",
        "|---:|" + "---:|" * len(labels),
    ]
    for x in xs:
        cells = []
        for label in labels:
            found = [p for p in series[label] if p[0] == x]
            if not found:
                cells.append("")
                continue
            _, mean, lo, hi, n = found[0]
            cells.append(f"{mean:.3g}" if n == 1 or lo == hi else f"{mean:.3g} ({lo:.3g}–{hi:.3g})")
        lines.append(f"| {x:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_sweep(
    rows: list[dict[str, Any]],
    xkey: str,
    ykey: str,
    hkey: str,
    out: str,
    *,
    per: str | None = None,
) -> Series:
    """Write the figure to ``out``; return what it plots (:func:`sweep_series`)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'swapops[plot]'") from None
    series = sweep_series(rows, xkey, ykey, hkey, per=per)
    ylabel = f"{ykey} / {per}" if per else ykey
    if not series:
        raise ConfigError(f"no successful point has values for both {xkey} and {ylabel}: nothing to plot")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, points in series.items():
        xs = [p[0] for p in points]
        ax.plot(xs, [p[1] for p in points], marker="o", label=label)
        ax.fill_between(xs, [p[2] for p in points], [p[3] for p in points], alpha=0.2)
    from .plot import count_axis

    count_axis(ax, "x", "y")  # 2,230 pages, not 2.23e+03
    ax.set_xlabel(xkey)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return series
