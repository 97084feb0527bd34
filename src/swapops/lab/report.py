"""The comparison as tables: rich tables for the terminal, Markdown for ``docs/validation.md``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from .slots import MEASURES, SIMILARITY

HEADERS = ("counter", "kernel", "swapops", "difference", "tolerance", "pass/fail")


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _diff(row: Mapping[str, Any]) -> str:
    if row["difference"] is None:
        return "–"
    text = f"{row['difference']:+,.0f}"
    if row["relative"] is not None:
        text += f" ({row['relative']:+.1%})"
    return text


def _verdict(row: Mapping[str, Any]) -> str:
    if row["pass"] is None:
        return "n/a"
    return "pass" if row["pass"] else "FAIL"


def _name(row: Mapping[str, Any]) -> str:
    name = row["counter"] + (" (level)" if row.get("gauge") else "")
    return name + " *" if row["claimed"] else name


def counter_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        cells = [_name(r), _num(r["kernel"]), _num(r["swapops"]), _diff(r), f"±{r['tolerance']:.0%}", _verdict(r)]
        if "kernel_spread" in r:
            cells.append("–" if r["kernel_spread"] is None else f"{r['kernel_spread']:.1%}")
        out.append(cells)
    return out


def _fmt_measure(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3f}"
    return f"{int(value):,}"


def slot_rows(slots: Mapping[str, Any]) -> list[list[str]]:
    rows = [[m, _fmt_measure(slots["kernel"][m]), _fmt_measure(slots["swapops"][m])] for m in MEASURES]
    rows += [[f"similarity: {m}", "", _fmt_measure(slots["similarity"][m])] for m in SIMILARITY]
    return rows


def title(result: Mapping[str, Any]) -> str:
    k = result["kernel"]
    s = result["swapops"]
    runs = k.get("runs") or 1
    return (f"{result['scenario']['name']}: Linux {k['release']} (QEMU TCG, {runs} run{'s' if runs > 1 else ''}) "
            f"vs swapops {s['version']} ({s['stack']}; RAM {s['ram_pages']:,} pages, "
            f"watermarks {'/'.join(f'{w:,}' for w in s['watermarks'])})")


def _has_spread(rows: Sequence[Mapping[str, Any]]) -> bool:
    return any("kernel_spread" in r for r in rows)


def rich_tables(result: Mapping[str, Any]) -> list[Table]:
    """One counter table per phase (and its slot table), then the whole run."""
    tables = []
    for phase in result["phases"]:
        t = Table(title=f"phase {phase['name']} (process {phase['pid']})", header_style="bold")
        for i, h in enumerate(HEADERS):
            t.add_column(h, justify="left" if i == 0 else "right")
        if _has_spread(phase["counters"]):
            t.add_column("kernel spread", justify="right")
        for cells in counter_rows(phase["counters"]):
            t.add_row(*cells)
        tables.append(t)
        if phase["slots"] is not None:
            s = Table(title=f"phase {phase['name']}: swap offsets", header_style="bold")
            for h in ("measure", "kernel", "swapops"):
                s.add_column(h, justify="left" if h == "measure" else "right")
            for cells in slot_rows(phase["slots"]):
                s.add_row(*cells)
            tables.append(s)
    t = Table(title="whole run (start to the last phase)", header_style="bold")
    for i, h in enumerate(HEADERS):
        t.add_column(h, justify="left" if i == 0 else "right")
    for cells in counter_rows(result["total"]):
        t.add_row(*cells)
    tables.append(t)
    return tables


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i < right_from else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def _nonzero(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows where either side counted something (``0 = 0`` and ``0 vs n/a`` rows left out)."""
    return [r for r in rows if (r["kernel"] or 0) != 0 or (r["swapops"] or 0) != 0]


def markdown(result: Mapping[str, Any], *, level: int = 3) -> str:
    """The comparison of one scenario as Markdown (headings at ``level``); rows where
    both sides are zero are left out."""
    h = "#" * level
    lines = [f"{h} {result['scenario']['name']}", ""]
    if result["scenario"]["description"]:
        lines += [result["scenario"]["description"], ""]
    lines += [title(result) + ".", ""]
    for phase in result["phases"]:
        headers = list(HEADERS) + (["kernel spread"] if _has_spread(phase["counters"]) else [])
        lines += [f"{h}# phase {phase['name']} (process {phase['pid']})", ""]
        lines += _md_table(headers, counter_rows(_nonzero(phase["counters"])))
        lines.append("")
        if phase["slots"] is not None:
            lines += _md_table(["swap offsets", "kernel", "swapops"], slot_rows(phase["slots"]))
            lines.append("")
    lines += [f"{h}# whole run", ""]
    lines += _md_table(list(HEADERS), counter_rows(_nonzero(result["total"])))
    lines.append("")
    return "\n".join(lines)


__all__ = ["rich_tables", "markdown", "title", "counter_rows", "slot_rows"]
