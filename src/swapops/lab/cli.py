"""``swapops lab``: set up the real-kernel lab, compare a scenario, regenerate docs/validation.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .common import PINNED, KernelPin, LabError


def _log(msg: str) -> None:
    click.echo(f"swapops lab: {msg}", err=True)


def _pin(spec: str | None) -> KernelPin | None:
    """``PACKAGE=VERSION`` -> :class:`KernelPin` (release from the package name)."""
    if spec is None:
        return None
    package, sep, version = spec.partition("=")
    if not sep or not package.startswith("linux-image-") or not version:
        raise LabError(f"--kernel {spec!r}: expected PACKAGE=VERSION such as {PINNED.spec}")
    release = package.removeprefix("linux-image-").removesuffix("-unsigned")
    return KernelPin(package=package, version=version, release=release)


@click.group(name="lab")
def lab_group() -> None:
    """Run swapops' scenarios on a real Linux kernel under QEMU and compare (docs/validation.md)."""


@lab_group.command(name="setup")
@click.option("--kernel", "kernel", metavar="PACKAGE=VERSION", default=None,
              help=f"kernel package to use  [default: the pinned {PINNED.spec}]")
@click.option("--allow-other-kernel", is_flag=True, help="accept a kernel other than the pinned one")
@click.option("--no-install", is_flag=True, help="do not apt-get install missing host packages")
def setup_command(kernel: str | None, allow_other_kernel: bool, no_install: bool) -> None:
    """Fetch the pinned kernel, build the initramfs and the workload program (cached; idempotent)."""
    from .setup import setup

    lab = setup(kernel=_pin(kernel), allow_other_kernel=allow_other_kernel, install=not no_install, log=_log)
    click.echo(f"kernel {lab.kernel.spec} ({lab.kernel.release})")
    click.echo(f"initramfs {lab.initramfs}")
    click.echo(f"modules {' '.join(lab.modules) or '-'}")


def _runs(scenario: Any, runs: int, keep: str | None, allow_other_kernel: bool,
          bar: bool = True) -> dict[str, Any]:
    from .compare import kernel_record, merge_records
    from .guest import run_guest
    from .setup import setup

    lab = setup(install=False, log=_log)
    if lab.kernel != PINNED and not allow_other_kernel:
        raise LabError(f"the lab is set up for {lab.kernel.spec}, not the pinned {PINNED.spec} "
                       "(--allow-other-kernel to compare anyway)")
    records = []
    with _boots(runs, bar) as advance:  # one live bar at a time: validate has its own
        for i in range(runs):
            where = None if keep is None else str(Path(keep) / f"run{i + 1}")
            run = run_guest(scenario, lab, log=_log, keep=where)
            _log(f"run {i + 1}/{runs}: booted in {run.boot_s:.1f} s, workload {run.workload_s:.1f} s, "
                 f"{run.wall_s:.1f} s in all")
            records.append(kernel_record(run))
            if advance:
                advance(f"boot {i + 1}/{runs}", 1)
    return merge_records(records)


def _boots(total: int, enabled: bool = True) -> Any:
    """A transient progress bar on stderr (a terminal only; the log lines print above it)."""
    from ..render import progress_bar

    return progress_bar(total, enabled and total > 1)


@lab_group.command(name="compare")
@click.argument("scenario_file", metavar="SCENARIO.toml", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print the comparison as JSON")
@click.option("--runs", type=click.IntRange(1, 20), default=1, show_default=True,
              help="boot the scenario this many times (kernel column: the median; spread shown)")
@click.option("--record", "record_file", type=click.Path(dir_okay=False), default=None,
              help="also write the kernel's record (what lab/results/ keep) to FILE")
@click.option("--from-record", "from_record", type=click.Path(exists=True, dir_okay=False), default=None,
              help="compare with a recorded kernel run instead of booting")
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="keep each run's serial log and dump disk in DIR")
@click.option("--allow-other-kernel", is_flag=True, help="accept a set-up kernel other than the pinned one")
def compare_command(scenario_file: str, as_json: bool, runs: int, record_file: str | None,
                    from_record: str | None, keep: str | None, allow_other_kernel: bool) -> None:
    """Boot SCENARIO on the kernel, run it through swapops' mm model, print both side by side."""
    from .compare import compare, failures
    from .report import rich_tables, title
    from .scenario import load_lab_scenario

    scn = load_lab_scenario(scenario_file)
    if from_record is not None:
        record = json.loads(Path(from_record).read_text())
        record = record.get("kernel_record", record)
    else:
        record = _runs(scn, runs, keep, allow_other_kernel)
    if record_file is not None:
        Path(record_file).write_text(json.dumps(record) + "\n")
    result = compare(scn, record)
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(title(result))
    for table in rich_tables(result):
        console.print(table)
    console.print("[dim]* claimed: the model claims this counter here (tests assert it); "
                  "(level): compared at the phase's end, others as the phase's increase; "
                  "n/a: swapops has no such counter yet[/dim]")
    bad = failures(result)
    if bad:
        console.print(f"[bold red]{len(bad)} claimed counter(s) outside tolerance:[/bold red] " + "; ".join(bad))


@lab_group.command(name="validate")
@click.argument("scenario_files", nargs=-1, metavar="[SCENARIO.toml ...]", type=click.Path(dir_okay=False))
@click.option("--root", default=".", show_default=True, type=click.Path(file_okay=False, exists=True),
              help="the repository: lab/scenarios, lab/results and docs/validation.md under it")
@click.option("--model-only", is_flag=True,
              help="boot nothing: re-run the model against the recorded kernel runs and rewrite the doc")
@click.option("--runs", type=click.IntRange(1, 20), default=1, show_default=True,
              help="boots per scenario (the variation study boots its scenario at least 3 times)")
def validate_command(scenario_files: tuple[str, ...], root: str, model_only: bool, runs: int) -> None:
    """Boot the shipped scenarios (or the ones given), record them in lab/results and regenerate
    docs/validation.md."""
    from .scenario import load_lab_scenario
    from .validation import DOC, SCENARIO_DIR, render_doc, save_record

    base = Path(root)
    files = [Path(f) for f in scenario_files] or sorted((base / SCENARIO_DIR).glob("*.toml"))
    if not files:
        raise LabError(f"no scenarios in {base / SCENARIO_DIR}")
    if not model_only:
        with _boots(len(files)) as advance:
            for path in files:
                scn = load_lab_scenario(path)
                record = _runs(scn, runs, None, False, bar=False)
                save_record(base, scn, record)
                _log(f"recorded {scn.name}")
                if advance:
                    advance(scn.name, 1)
    (base / DOC).write_text(render_doc(base, log=_log))
    _log(f"wrote {base / DOC}")


__all__ = ["lab_group"]
