"""The swap areas of a run as ``swapon --show`` shows them (``swapops swaps``).

util-linux's ``swapon --show`` reads ``/proc/swaps`` (``mm/swapfile.c:
swap_show()``: Filename, Type, ``K(si->pages)``, ``K(si->inuse_pages)``,
``si->prio``), multiplies the two sizes by 1024 and prints the columns NAME
TYPE SIZE USED PRIO, sizes as ``size_to_human_string()`` writes them (or exact
bytes with ``--bytes``). Here the rows come from a result document: every
area of a ``swapops.run/1`` document carries its ``/proc/swaps`` row
(``proc_swaps``, taken from the stack's top device when the metrics are: the
module says its ``filename`` and ``swap_type``, the core its size and use),
and nothing is computed here but the units.

One area is one stack, so with vswap on top the row is vswap's virtual space
(``[vswap]``, type ``virtual``, 8 PiB unless ``size=`` bounds it), as the
model's ``/proc/swaps`` shows it; ``layers=True`` adds every layer below the
top as a child row, lsblk-style, so the physical backend's size and use are
visible too. docs/results.md says why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .errors import ConfigError

COLUMNS = ("NAME", "TYPE", "SIZE", "USED", "PRIO")
_RIGHT = frozenset({"SIZE", "USED", "PRIO"})  # SCOLS_FL_RIGHT in sys-utils/swapon.c
_UINT64_MAX = (1 << 64) - 1


def human_size(nbytes: int) -> str:
    """``nbytes`` as util-linux's ``size_to_human_string(SIZE_SUFFIX_1LETTER, ...)``
    (lib/strutils.c) writes it: ``0B``, ``512M``, ``1.5G``, ``8P``.

    Powers of 1024, one decimal rounded half up from three truncated digits,
    the decimal dropped when it rounds to zero; a fraction that rounds up to
    a whole unit gives the next integer of the same unit (``1024K``), as
    util-linux does.
    """
    if not isinstance(nbytes, int) or isinstance(nbytes, bool) or not 0 <= nbytes <= _UINT64_MAX:
        raise ConfigError(f"a size is a whole number of bytes from 0 to 2**64-1, not {nbytes!r}")
    exp = 60  # get_exp(): the exponent in KiB..EiB
    for shift in range(10, 70, 10):
        if nbytes < 1 << shift:
            exp = shift - 10
            break
    letter = "BKMGTPE"[exp // 10]
    dec = nbytes >> exp
    frac = nbytes & ((1 << exp) - 1)
    if frac:
        # three digits after the decimal point, then round 4/5 to one
        if frac >= _UINT64_MAX // 1000:
            frac = (frac // 1024 * 1000) // (1 << (exp - 10))
        else:
            frac = frac * 1000 // (1 << exp)
        frac = (frac + 50) // 100 * 10
        if frac == 100:
            dec, frac = dec + 1, 0
    if frac:
        return f"{dec}.{frac // 10}{letter}"
    return f"{dec}{letter}"


@attrs.frozen
class SwapRow:
    """One row: a swap area (``prio`` set) or a layer below an area's top (``prio`` None)."""

    name: str
    type: str
    size: int  # bytes
    used: int  # bytes
    prio: int | None
    children: tuple[SwapRow, ...] = ()


def _area_error(where: str, what: str) -> ConfigError:
    return ConfigError(f"{where}: {what}")


def area_rows(result: Mapping[str, Any], *, layers: bool = False, where: str = "result") -> list[SwapRow]:
    """The ``/proc/swaps`` rows of a ``swapops.run/1`` result, by swap type.

    With ``layers`` each row gets the layers below the stack's top as a chain
    of children (each sits on the next). A document written before areas
    carried their ``proc_swaps`` row is refused with a ConfigError.
    """
    areas = result.get("areas")
    if not isinstance(areas, list):
        raise _area_error(where, "no list of areas (not a swapops.run/1 result)")
    page_size = (result.get("config") or {}).get("page_size")
    rows = []
    for i, area in enumerate(areas):
        row = area.get("proc_swaps") if isinstance(area, Mapping) else None
        if not isinstance(row, Mapping):
            raise _area_error(where, f"area {i} has no proc_swaps row "
                                     "(written by a swapops before 0.1 areas carried it; run it again)")
        children: tuple[SwapRow, ...] = ()
        if layers:
            if not isinstance(page_size, int):
                raise _area_error(where, "config has no page_size (needed for the layers' sizes); run it again")
            children = _chain(area.get("layers") or [], page_size, where, i)
        rows.append(SwapRow(str(row["filename"]), str(row["type"]), int(row["size"]) * 1024,
                            int(row["used"]) * 1024, int(row["priority"]), children))
    return rows


def _chain(layers: Sequence[Mapping[str, Any]], page_size: int, where: str, area: int) -> tuple[SwapRow, ...]:
    below = [layer for layer in layers if layer.get("position", 0) > 0]
    child: tuple[SwapRow, ...] = ()
    for layer in reversed(below):  # the bottom first: each row holds the one below it
        if "filename" not in layer or "swap_type" not in layer:
            raise _area_error(where, f"area {area} layer {layer.get('position')} has no filename/swap_type; "
                                     "run it again")
        child = (SwapRow(str(layer["filename"]), str(layer["swap_type"]), int(layer["size"]) * page_size,
                         int(layer["used"]) * page_size, None, child),)
    return child


def blocks(document: Mapping[str, Any], *, layers: bool = False,
           where: str = "result") -> list[tuple[str | None, list[SwapRow]]]:
    """``[(stack, rows)]``: one block for a run document, one per design for a compare document."""
    schema = document.get("schema")
    if schema == "swapops.compare/1":
        runs = document.get("runs")
        if not isinstance(runs, list):
            raise _area_error(where, "a swapops.compare/1 document without a list of runs")
        return [(str(run.get("stack")), area_rows(run, layers=layers, where=f"{where}: run {i}"))
                for i, run in enumerate(runs)]
    if schema == "swapops.run/1":
        return [(None, area_rows(document, layers=layers, where=where))]
    raise _area_error(where, f"not a swapops.run/1 or swapops.compare/1 document (schema {schema!r})")


# ----------------------------------------------------------------------------- rendering


def _cells(row: SwapRow, as_bytes: bool) -> dict[str, str]:
    def size(n: int) -> str:
        return str(n) if as_bytes else human_size(n)

    return {"NAME": row.name, "TYPE": row.type, "SIZE": size(row.size), "USED": size(row.used),
            "PRIO": "" if row.prio is None else str(row.prio)}


def _tree(rows: Sequence[SwapRow], indent: str = "") -> list[tuple[str, SwapRow]]:
    """Rows with their tree prefix in NAME (lsblk's ``└─``), parents before children."""
    out: list[tuple[str, SwapRow]] = []
    for row in rows:
        out.append((indent, row))
        below = indent.replace("└─", "  ").replace("├─", "│ ")
        for j, child in enumerate(row.children):
            out.extend(_tree([child], below + ("└─" if j == len(row.children) - 1 else "├─")))
    return out


def swapon_table(rows: Sequence[SwapRow], *, as_bytes: bool = False, headings: bool = True,
                 raw: bool = False) -> str:
    """The text ``swapon --show`` prints: columns NAME TYPE SIZE USED PRIO separated by one
    space, NAME and TYPE left-aligned, the others right-aligned (libsmartcols' layout);
    ``raw``: no alignment. Empty for no rows, as swapon prints nothing when /proc/swaps is empty."""
    if not rows:
        return ""
    lines = [dict(_cells(row, as_bytes), NAME=prefix + row.name) for prefix, row in _tree(rows)]
    table = ([dict(zip(COLUMNS, COLUMNS, strict=True))] if headings else []) + lines
    if raw:
        return "\n".join(" ".join(line[c] for c in COLUMNS).rstrip() for line in table) + "\n"
    width = {c: max(len(line[c]) for line in table) for c in COLUMNS}
    out = []
    for line in table:
        cells = [line[c].rjust(width[c]) if c in _RIGHT else line[c].ljust(width[c]) for c in COLUMNS]
        out.append(" ".join(cells).rstrip())
    return "\n".join(out) + "\n"


def _json_row(row: SwapRow, as_bytes: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": row.name,
        "type": row.type,
        "size": row.size if as_bytes else human_size(row.size),
        "used": row.used if as_bytes else human_size(row.used),
        "prio": row.prio,
    }
    if row.children:
        out["children"] = [_json_row(child, as_bytes) for child in row.children]
    return out


def swapon_json(rows: Sequence[SwapRow], *, as_bytes: bool = False) -> dict[str, Any]:
    """``{"swapdevices": [{"name", "type", "size", "used", "prio"}]}``: libsmartcols' JSON of
    the table (lower-case column names; ``prio`` a number; sizes strings as in the table, numbers
    with ``as_bytes``; layers below an area's top under ``children``, as lsblk nests them)."""
    return {"swapdevices": [_json_row(row, as_bytes) for row in rows]}


def render(document: Mapping[str, Any], *, as_bytes: bool = False, as_json: bool = False,
           layers: bool = False, headings: bool = True, raw: bool = False, where: str = "result") -> str:
    """``swapops swaps``' output for a run or compare document."""
    parts = blocks(document, layers=layers, where=where)
    if as_json:
        if len(parts) == 1 and parts[0][0] is None:
            data: dict[str, Any] = swapon_json(parts[0][1], as_bytes=as_bytes)
        else:
            data = {"runs": [{"stack": stack, **swapon_json(rows, as_bytes=as_bytes)} for stack, rows in parts]}
        # libsmartcols indents its JSON by three spaces
        return json.dumps(data, indent=3, ensure_ascii=False) + "\n"
    texts = []
    for stack, rows in parts:
        table = swapon_table(rows, as_bytes=as_bytes, headings=headings, raw=raw)
        texts.append(table if stack is None else f"{stack}\n{table}")
    return "\n".join(texts)


__all__ = ["COLUMNS", "SwapRow", "area_rows", "blocks", "human_size", "render", "swapon_json", "swapon_table"]
