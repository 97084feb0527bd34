"""``swapops swaps`` and ``swapops schema`` (docs/results.md), and ``swapops run --show``.

Kept out of :mod:`swapops.cli` so that the run/compare commands there stay
small; :func:`add_commands` registers both commands, :data:`show_option` and
:func:`show` are the hook ``swapops run`` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from . import areas, results

_VIEW_OPTIONS: tuple[Callable[[Any], Any], ...] = (
    click.option("--bytes", "as_bytes", is_flag=True, help="sizes in bytes, not 512M/1.5G"),
    click.option("--json", "as_json", is_flag=True, help="JSON in libsmartcols' shape: {\"swapdevices\": [...]}"),
    click.option("--layers", is_flag=True, help="also every layer below each area's top, as child rows"),
    click.option("--noheadings", is_flag=True, help="no heading line"),
    click.option("--raw", is_flag=True, help="columns not aligned"),
)


def _view_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(_VIEW_OPTIONS):
        f = opt(f)
    return f


@click.command(name="swaps")
@click.argument("result", type=click.Path(dir_okay=False), metavar="RESULT.json")
@_view_options
def swaps_command(result: str, as_bytes: bool, as_json: bool, layers: bool, noheadings: bool, raw: bool) -> None:
    """Show the swap areas of a saved run as `swapon --show` does: NAME TYPE SIZE USED PRIO.

    RESULT.json is the output of `swapops run --json` (one table) or
    `swapops compare --json` (one table per design). Sizes and use are those
    of the areas' /proc/swaps rows when the metrics were taken (before the
    final swapoff).
    """
    doc = results.read_document(result)
    click.echo(areas.render(doc, as_bytes=as_bytes, as_json=as_json, layers=layers, headings=not noheadings,
                            raw=raw, where=f"result file {result}"), nl=False)


@click.command(name="schema")
@click.argument("name", type=click.Choice(sorted(results.SCHEMAS)))
@click.option("--validate", "document", type=click.Path(dir_okay=False), metavar="FILE",
              help="check FILE (a JSON document, or a sweep .jsonl) against the schema instead of printing it")
def schema_command(name: str, document: str | None) -> None:
    """Print the JSON Schema (draft 2020-12) of a result document: run, compare or sweep-row."""
    if document is None:
        click.echo(results.schema_text(name), nl=False)
        return
    if name == "sweep-row":
        from .sweep import read_results

        rows = read_results(document)
        for i, row in enumerate(rows, 1):
            results.validate(row, name, where=f"{document}, row {i}")
        click.echo(f"{document}: {len(rows)} valid sweep rows")
        return
    doc = results.read_document(document)
    results.validate(doc, name, where=document)
    click.echo(f"{document}: a valid {doc['schema']} document")


show_option = click.option("--show", is_flag=True,
                           help="print only the run's swap areas as `swapon --show` does (with --json: its JSON)")


def show(result: Mapping[str, Any], as_json: bool) -> None:
    """``swapops run --show``: the areas of ``result`` instead of the tables."""
    click.echo(areas.render(result, as_json=as_json), nl=False)


def add_commands(group: click.Group) -> None:
    group.add_command(swaps_command)
    group.add_command(schema_command)


__all__ = ["add_commands", "schema_command", "show", "show_option", "swaps_command"]
