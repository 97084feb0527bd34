"""``swapops sweep`` and ``swapops plot``: click commands over :mod:`swapops.sweep`."""

from __future__ import annotations

import pathlib
from collections import defaultdict
from typing import Any

import click

from .errors import ConfigError
from .sweep import EXECUTORS, load_sweep, read_results, run_sweep


@click.command("sweep")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--executor", type=click.Choice(EXECUTORS), default="process", show_default=True)
@click.option("--scheduler", default=None, help="Dask scheduler address (with --executor dask).")
@click.option("--workers", type=click.IntRange(1, 1024), default=None, help="Worker processes.")
@click.option(
    "--out", "out", default="results.jsonl", show_default=True, help="results.jsonl|.csv|.parquet"
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep_command(
    sweep_file: str,
    executor: str,
    scheduler: str | None,
    workers: int | None,
    out: str,
    quiet: bool,
) -> None:
    """Run every point of SWEEP_FILE (TOML); resumable: finished points are skipped."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    spec = load_sweep(sweep_file)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=quiet,
        transient=False,
    ) as bar:
        task = bar.add_task(f"sweep {spec.get('name', pathlib.Path(sweep_file).stem)}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        rows = run_sweep(
            spec, out, executor=executor, workers=workers, scheduler=scheduler, progress=progress
        )
    failed = [r for r in rows if r.get("error")]
    click.echo(f"{len(rows)} points in {out}; {len(failed)} failed")
    for row in failed[:5]:
        click.echo(f"  failed: {row['stack']} seed={row['seed']}: {row['error']}", err=True)


@click.command("plot")
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--x", "x", required=True, help="Parameter for the x axis (e.g. op or param.op).")
@click.option("--y", "y", required=True, help="Metric for the y axis (e.g. totals.waf).")
@click.option("--hue", default="stack", show_default=True, help="Column that names the lines.")
@click.option("-o", "--output", default=None, help="PNG to write (default: RESULTS with .png).")
def plot_command(results: str, x: str, y: str, hue: str, output: str | None) -> None:
    """Plot a sweep: Y against X, one line per HUE, mean over seeds with min-max band."""
    rows = [r for r in read_results(results) if not r.get("error")]
    if not rows:
        raise ConfigError(f"{results}: no successful points to plot")
    xkey = _column(rows, x, "param.")
    ykey = _column(rows, y, "totals.")
    hkey = _column(rows, hue, "")
    out = output or str(pathlib.Path(results).with_suffix(".png"))
    plot_sweep(rows, xkey, ykey, hkey, out)
    click.echo(f"wrote {out}")


def _column(rows: list[dict[str, Any]], name: str, prefix: str) -> str:
    for candidate in (name, prefix + name):
        if any(candidate in row for row in rows):
            return candidate
    columns = sorted({k for row in rows for k in row if k not in ("config",)})
    raise ConfigError(f"no column {name!r} in the results (columns: {', '.join(columns[:40])} ...)")


def plot_sweep(rows: list[dict[str, Any]], xkey: str, ykey: str, hkey: str, out: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'swapops[plot]'") from None
    series: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        xv, yv = row.get(xkey), row.get(ykey)
        if xv is None or yv is None:
            continue
        series[str(row.get(hkey))][float(xv)].append(float(yv))
    if not series:
        raise ConfigError(f"no successful point has values for both {xkey} and {ykey}: nothing to plot")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label in sorted(series):
        points = sorted(series[label].items())
        xs = [p[0] for p in points]
        means = [sum(v) / len(v) for _, v in points]
        ax.plot(xs, means, marker="o", label=label)
        ax.fill_between(xs, [min(v) for _, v in points], [max(v) for _, v in points], alpha=0.2)
    ax.set_xlabel(xkey)
    ax.set_ylabel(ykey)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
