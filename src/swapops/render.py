"""What ``swapops compare`` and ``swapops run`` print, fitted to the output's width.

A figure is never cut: every layout is measured (rich's own measurement, at
its natural width) before it is printed, and the next, narrower one is taken
when it does not fit. For a comparison, in order:

1. designs as columns headed by their stack strings;
2. designs as columns headed by short labels (``A``, ``B``, ...) with a
   legend mapping each label to its stack;
3. designs as rows, the metrics split over as many tables as the width
   needs, a group of related figures (I/O, zswap, flash, ...) kept together;
4. one metric/value table per design (very narrow outputs).

The width is ``--width``, else ``COLUMNS``, else the terminal's, else
:data:`DEFAULT_WIDTH` (80, as util-linux's tools assume when piped). The
``markdown`` and ``csv`` formats are one row per design and a column per
metric: formatted cells in Markdown, raw numbers in CSV.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from .metrics import TOTAL_KEYS, bytes_h
from .tables import LAYER_KEYS, METRICS, Metric, swap_full_note

#: The width when the output is no terminal and ``COLUMNS`` is not set.
DEFAULT_WIDTH = 80
FORMATS = ("table", "markdown", "csv", "json")
MODELED_NOTE = ("modeled: NAND writes, WAF, kernel metadata, device time (see docs/compare.md); "
                "simulator memory: the run's peak RSS growth, each run in its own process")
#: The narrowest width a layout is fitted to (below it nothing fits anyway).
MIN_WIDTH = 20


def output_width(width: int | None = None) -> int:
    """``width`` if given, else ``COLUMNS``, else the terminal's, else :data:`DEFAULT_WIDTH`."""
    if width:
        return max(width, MIN_WIDTH)
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) > 0:
        return max(int(env), MIN_WIDTH)
    if sys.stdout.isatty():
        return max(shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns, MIN_WIDTH)
    return DEFAULT_WIDTH


def make_console(width: int | None = None, file: Any = None) -> Console:
    """A console of exactly :func:`output_width` columns (no soft wrapping past it)."""
    return Console(width=output_width(width), file=file, soft_wrap=False)


_MEASURE = Console(width=100_000, file=io.StringIO())


def natural_width(renderable: RenderableType) -> int:
    """The width ``renderable`` takes when nothing makes it narrower."""
    return Measurement.get(_MEASURE, _MEASURE.options, renderable).maximum


def minimum_width(renderable: RenderableType) -> int:
    """The narrowest ``renderable`` gets without breaking a word."""
    return Measurement.get(_MEASURE, _MEASURE.options, renderable).minimum


def design_labels(n: int) -> list[str]:
    """``A`` .. ``Z``, then ``AA``, ``AB``, ... (a spreadsheet's column names)."""
    out = []
    for i in range(n):
        name, k = "", i
        while True:
            name = chr(ord("A") + k % 26) + name
            k = k // 26 - 1
            if k < 0:
                break
        out.append(name)
    return out


def _wrap_header(text: str, width: int) -> str:
    """A header over lines of at most ``width`` (or its longest word): no word is cut."""
    longest = max((len(w) for w in text.split()), default=0)
    return "\n".join(textwrap.wrap(text, width=max(width, longest, 8), break_long_words=False)) or text


# ------------------------------------------------------------------------------ generic fitted tables


def fit_records(key_header: str, keys: Sequence[str], headers: Sequence[str], rows: Sequence[Sequence[str]],
                width: int, groups: Sequence[str] | None = None, title: str = "") -> list[Table]:
    """Records (one key and a cell per header each) as tables of at most ``width`` columns.

    The value columns are packed into as many tables as the width needs, each
    repeating the key column; columns of one group stay in one table when they
    fit there. Where not even one value column fits beside the key, each
    record becomes a two-column (name, value) table of its own."""
    groups = list(groups) if groups is not None else [""] * len(headers)

    def build(cols: Sequence[int], name: str) -> Table:
        table = Table(title=name or None, title_justify="left", header_style="bold")
        table.add_column(key_header, no_wrap=True)
        for c in cols:
            cell_w = max((len(r[c]) for r in rows), default=1)
            table.add_column(_wrap_header(headers[c], cell_w), justify="right", no_wrap=True)
        for key, r in zip(keys, rows, strict=True):
            table.add_row(Text(key), *[Text(r[c]) for c in cols])
        return table

    def name_of(cols: Sequence[int]) -> str:
        seen = list(dict.fromkeys(groups[c] for c in cols if groups[c]))
        return ", ".join(seen) if title == "" else (f"{title}: " + ", ".join(seen) if seen else title)

    def fits(cols: Sequence[int]) -> bool:
        return natural_width(build(cols, "")) <= width

    if headers and not all(fits([c]) for c in range(len(headers))):
        return [kv_grid(f"{title + ': ' if title else ''}{k}", list(zip(headers, r, strict=True)), width)
                for k, r in zip(keys, rows, strict=True)]
    by_group: list[list[int]] = []
    for c, g in enumerate(groups):
        if by_group and groups[by_group[-1][0]] == g:
            by_group[-1].append(c)
        else:
            by_group.append([c])
    tables: list[list[int]] = []
    current: list[int] = []
    for cols in by_group:
        if fits(current + cols):
            current += cols
            continue
        if current:
            tables.append(current)
        current = []
        for c in cols:  # the group alone fits, or is split column by column
            if current and not fits(current + [c]):
                tables.append(current)
                current = []
            current.append(c)
    if current:
        tables.append(current)
    return [build(cols, name_of(cols)) for cols in tables]


def kv_grid(title: str, items: Sequence[tuple[str, str]], width: int) -> Table:
    """(name, value) pairs in as many side-by-side pairs of columns as ``width`` holds.

    Filled column by column; with a single pair that still does not fit, the
    names wrap (at spaces, else folded) and the values stay whole."""
    def build(pairs: int, wrap_names: bool = False, wrap_values: bool = False) -> Table:
        table = Table(title=title or None, title_justify="left", show_header=False)
        per = -(-len(items) // pairs) if items else 0
        for _ in range(pairs):
            table.add_column("figure", no_wrap=not wrap_names, overflow="fold")
            table.add_column("value", justify="right", no_wrap=not wrap_values, overflow="fold")
        for i in range(per):
            cells: list[Text] = []
            for p in range(pairs):
                j = p * per + i
                k, v = items[j] if j < len(items) else ("", "")
                cells += [Text(k), Text(v)]
            table.add_row(*cells)
        return table

    for pairs in range(min(6, len(items)), 1, -1):
        per = -(-len(items) // pairs)
        if (pairs - 1) * per >= len(items):  # the last pair of columns would be empty
            continue
        table = build(pairs)
        if natural_width(table) <= width:
            return table
    table = build(1)
    if natural_width(table) <= width:
        return table
    # a long text value (a path, a stack) wraps too; a number is shorter than any width here
    longest = max((len(v) for _, v in items if not v.replace(",", "").replace(".", "").isdigit()), default=0)
    return build(1, wrap_names=True, wrap_values=longest > width // 2)


# ------------------------------------------------------------------------------ compare


def _cells(results: Sequence[dict[str, Any]], metrics: Sequence[Metric]) -> list[list[str]]:
    return [[m.fmt(r) for m in metrics] for r in results]


def _columns_table(headers: Sequence[str], cells: list[list[str]], metrics: Sequence[Metric]) -> Table:
    """Designs as columns, a row per metric, a rule between groups."""
    table = Table(header_style="bold")
    table.add_column("metric", no_wrap=True)
    for h in headers:
        table.add_column(h, justify="right", no_wrap=True)
    for i, m in enumerate(metrics):
        last = i + 1 == len(metrics) or metrics[i + 1].group != m.group
        table.add_row(m.label, *[Text(row[i]) for row in cells], end_section=last)
    return table


def legend(labels: Sequence[str], results: Sequence[dict[str, Any]]) -> Text:
    """``A  swapfile:device=nvme`` lines: which label is which stack."""
    pad = max(len(lb) for lb in labels)
    text = Text()
    for i, (lb, r) in enumerate(zip(labels, results, strict=True)):
        text.append(f"{lb:<{pad}}  ", style="bold")
        text.append(str(r["stack"]) + ("\n" if i + 1 < len(labels) else ""))
    return text


def compare_renderables(results: Sequence[dict[str, Any]], title: str, width: int,
                        metrics: Sequence[Metric] = METRICS) -> list[RenderableType]:
    """What ``swapops compare`` prints, every figure whole within ``width`` columns."""
    cells = _cells(results, metrics)
    out: list[RenderableType] = [Text(title, style="bold")] if title else []
    full = _columns_table([str(r["stack"]).replace(">", ">\n") for r in results], cells, metrics)
    if natural_width(full) <= width:
        out.append(full)
    else:
        labels = design_labels(len(results))
        out.append(legend(labels, results))
        short = _columns_table(labels, cells, metrics)
        if natural_width(short) <= width:
            out.append(short)
        else:
            out += fit_records("", labels, [m.label for m in metrics], cells, width,
                               groups=[m.group for m in metrics])
    out.append(Text(swap_full_note(results)))
    out.append(Text(MODELED_NOTE, style="dim"))
    return out


def compare_title(results: Sequence[dict[str, Any]], ram: str, swap: str) -> str:
    first = results[0]
    return (f"{first['events']:,} events of {first['workload'].get('name')}, seed {first['seed']}, "
            f"RAM {ram}, swap {swap}")


# ------------------------------------------------------------------------------ markdown / csv


def get_path(result: dict[str, Any], path: str) -> Any:
    """``totals.pswpout`` -> ``result["totals"]["pswpout"]`` (None where absent); list items by index."""
    value: Any = result
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table, the first column left, the others right aligned."""
    lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |",
             "|---|" + "---:|" * (len(headers) - 1)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def compare_markdown(results: Sequence[dict[str, Any]], metrics: Sequence[Metric] = METRICS) -> str:
    """One row per design (its stack), a column per metric, cells as the table prints them."""
    rows = [[f"`{r['stack']}`", *cells] for r, cells in zip(results, _cells(results, metrics), strict=True)]
    return markdown_table(["stack", *(m.label for m in metrics)], rows)


def metric_fields(metrics: Sequence[Metric] = METRICS) -> list[str]:
    """The raw values behind ``metrics``, each once, in order (``totals.pswpout``, ...)."""
    return list(dict.fromkeys(f for m in metrics for f in m.fields))


def _raw(value: Any) -> Any:
    """A CSV cell: numbers as Python prints them (no separators), None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, sort_keys=True)
    return value


def csv_text(results: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    """``stack`` then a column per field path, one row per result, raw numbers."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["stack", *fields])
    for r in results:
        writer.writerow([r["stack"], *(_raw(get_path(r, f)) for f in fields)])
    return buf.getvalue()


# ------------------------------------------------------------------------------ run


def fmt_value(v: Any) -> str:
    """A figure for the tables: thousands separators, no exponent, ``-`` for none."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.4g}" if abs(v) >= 1e-4 else f"{v:.2e}"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_value(x) for x in v) or "-"
    return str(v)


def flat_items(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as dotted keys (``memory.peak_rss_kib``), in order."""
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += flat_items(v, f"{prefix}{k}.")
        elif isinstance(v, list) and any(isinstance(x, dict) for x in v):  # records: by index
            out += flat_items({str(i): x for i, x in enumerate(v)}, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


def all_sections(result: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]], list[tuple[str, Any]]]]:
    """Every figure of a run, grouped: (title, [(name, formatted)], [(path, raw)]).

    The totals by the groups of :data:`~swapops.tables.METRICS` (the others
    after them), the mm model's counters, per area its counters and per layer
    its stats and kernel metadata, each swapoff, the host figures."""
    sections: list[tuple[str, list[tuple[str, str]], list[tuple[str, Any]]]] = []

    def add(title: str, items: list[tuple[str, Any]], path_prefix: str) -> None:
        if items:
            sections.append((title, [(k, fmt_value(v)) for k, v in items],
                             [(path_prefix + k, v) for k, v in items]))

    totals = result["totals"]
    group_of: dict[str, str] = {}
    for m in METRICS:
        for f in m.fields:
            if f.startswith("totals."):
                group_of.setdefault(f.removeprefix("totals."), m.group)
    keys = list(dict.fromkeys([*TOTAL_KEYS, *totals]))
    order = list(dict.fromkeys(m.group for m in METRICS))
    for group in [*order, ""]:
        items = [(k, totals.get(k)) for k in keys if group_of.get(k, "") == group and k in totals]
        add(f"totals: {group}" if group else "totals: other", items, "totals.")
    add("mm", flat_items(result["mm"]), "mm.")
    for i, area in enumerate(result.get("areas", [])):
        head = flat_items({k: v for k, v in area.items() if k not in ("layers", "stack", "type")})
        add(f"area {i}: {area.get('type')} {area.get('stack')}", head, f"areas.{i}.")
        for j, layer in enumerate(area.get("layers", [])):
            items = flat_items(layer.get("stats", {}), "stats.") + flat_items(layer.get("kernel_overhead", {}),
                                                                              "kernel_overhead.")
            add(f"area {i} layer {j}: {layer.get('module')} ({layer.get('kind')})", items,
                f"areas.{i}.layers.{j}.")
    for i, s in enumerate(result.get("swapoff", [])):
        add(f"swapoff {i}: {s.get('device')}", [(k, v) for k, v in flat_items(s) if k != "device"],
            f"swapoff.{i}.")
    add("host (not deterministic)", flat_items(result.get("host", {})), "host.")
    return sections


def _run_title(result: dict[str, Any]) -> str:
    return f"{result['stack']} — {result['events']:,} events of {result['workload'].get('name')}"


def run_summary_table(result: dict[str, Any], width: int, keys: Sequence[str] | None = None) -> Table:
    """The figures of one run (``keys``: only these totals, by name), within ``width``."""
    title = _run_title(result)
    table = Table(title=title, header_style="bold", min_width=min(len(title), width))
    table.add_column("metric", overflow="fold")  # a label may wrap; a figure never
    table.add_column("value", justify="right", no_wrap=True)
    if keys:
        for key in keys:
            table.add_row(key, fmt_value(result["totals"].get(key)))
    else:
        for i, m in enumerate(METRICS):
            last = i + 1 == len(METRICS) or METRICS[i + 1].group != m.group
            table.add_row(m.label, Text(m.fmt(result)), end_section=last)
    return table


def layers_renderables(result: dict[str, Any], width: int) -> list[RenderableType]:
    """Every layer with its main counters: one table (the counters wrap between
    figures), or per layer a name/value grid where that does not fit."""
    table = Table(title="layers", header_style="bold")
    table.add_column("area", no_wrap=True)
    table.add_column("layer", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("counters", overflow="fold")
    table.add_column("kernel\nmetadata\n(modeled)", justify="right", no_wrap=True)
    per_layer: list[tuple[str, list[tuple[str, str]]]] = []
    for area in result["areas"]:
        for layer in area["layers"]:
            st = layer["stats"]
            figures = [(k, fmt_value(st[k])) for k in LAYER_KEYS if k in st and st[k] is not None]
            meta = bytes_h(layer["kernel_overhead"].get("total_bytes"))
            table.add_row(str(area["type"]), layer["module"], layer["kind"],
                          Text(" ".join(f"{k}={v}" for k, v in figures)), meta)
            per_layer.append((f"area {area['type']} layer {layer['module']} ({layer['kind']})",
                              [*figures, ("kernel metadata (modeled)", meta)]))
    # Only the counters column wraps (rich narrows it alone): it fits when what
    # the other columns leave holds its longest figure.
    longest = max((len(f"{k}={v}") for _, f in per_layer for k, v in f[:-1]), default=0)
    counters = max((len(str(c)) for c in table.columns[3].cells), default=0)
    if natural_width(table) - counters + longest <= width:
        return [table]
    return [kv_grid(name, items, width) for name, items in per_layer]


def swapoff_renderables(result: dict[str, Any], width: int) -> list[RenderableType]:
    rows = []
    for s in result["swapoff"]:
        if "error" in s:
            rows.append([f"error: {s['error']}", "", "", ""])
        else:
            rows.append([fmt_value(s["pte_visits"]), fmt_value(s["entries_moved"]), fmt_value(s["pages_read"])])
    if any("error" in s for s in result["swapoff"]):  # an error is text: a grid per swapoff
        return [kv_grid(f"swapoff {s['device']}", [("error", str(s["error"]))] if "error" in s else
                        [("PTE visits", r[0]), ("entries moved", r[1]), ("pages read", r[2])], width)
                for s, r in zip(result["swapoff"], rows, strict=True)]
    return [*fit_records("device", [s["device"] for s in result["swapoff"]], ["PTE visits", "entries moved",
                       "pages read"], rows, width, title="swapoff")]


def _limit(v: Any) -> str:
    return "max" if v is None else fmt_value(v)


def cgroups_renderables(result: dict[str, Any], width: int) -> list[RenderableType]:
    """Per cgroup and swap area: entries there and pages charged, then the
    cgroup's limits and events (pages; ``swapops.memcg``)."""
    keys: list[str] = []
    rows: list[list[str]] = []
    headers = ["procs", "tiers", "area", "entries", "swap charged", "memory / max", "swap / max",
               "events (max oom swap_max swap_fail)"]
    for name, cg in result.get("cgroups", {}).items():
        tiers = ",".join(t for t, v in cg["memory.swap.tiers.max"].items() if v == "max") or "-"
        ev = cg["memory.events"]
        tail = [f"{fmt_value(cg['memory.current'])} / {_limit(cg['memory.max'])}",
                f"{fmt_value(cg['memory.swap.current'])} / {_limit(cg['memory.swap.max'])}",
                " ".join(fmt_value(ev[k]) for k in ("max", "oom", "swap_max", "swap_fail"))]
        for t, a in (cg["areas"] or {"-": None}).items():
            where = "-" if a is None else f"{t}: {a['stack']} (prio {a['priority']}, {a['tier'] or 'no tier'})"
            cells = ["-", "-"] if a is None else [fmt_value(a["entries"]), fmt_value(a["charged"])]
            keys.append(name)
            rows.append([",".join(map(str, cg["procs"])) or "-", tiers, where, *cells, *tail])
    if not rows:
        return []
    return [*fit_records("cgroup", keys, headers, rows, width, title="cgroups (pages)")]


def run_renderables(result: dict[str, Any], width: int, keys: Sequence[str] | None = None,
                    every: bool = False) -> list[RenderableType]:
    """What ``swapops run`` prints: the summary (or with ``every`` every figure, grouped),
    the layers, cgroups and swapoffs, all within ``width``."""
    out: list[RenderableType] = []
    if every:
        out.append(Text(_run_title(result), style="bold"))
        out += [kv_grid(title, items, width) for title, items, _ in all_sections(result)]
    else:
        out.append(run_summary_table(result, width, keys))
        if not keys:
            out += layers_renderables(result, width)
    if result.get("cgroups"):
        out += cgroups_renderables(result, width)
    if result["swapoff"] and not every:
        out += swapoff_renderables(result, width)
    return out


def run_fields(result: dict[str, Any], every: bool) -> list[tuple[str, Any]]:
    """(path, raw value) of the figures ``--format csv`` prints for a run."""
    if every:
        return [item for _, _, raw in all_sections(result) for item in raw]
    return [(f, get_path(result, f)) for f in metric_fields()]


def run_markdown(result: dict[str, Any], every: bool) -> str:
    """One row (the run's stack), a column per figure."""
    if every:
        pairs = [(path, fmt_value(v)) for path, v in run_fields(result, True)]
    else:
        pairs = [(m.label, m.fmt(result)) for m in METRICS]
    return markdown_table(["stack", *(p for p, _ in pairs)], [[f"`{result['stack']}`", *(v for _, v in pairs)]])


def run_csv(result: dict[str, Any], every: bool) -> str:
    return csv_text([result], [p for p, _ in run_fields(result, every)])


# ------------------------------------------------------------------------------ progress


@contextmanager
def progress_bar(total: int, enabled: bool = True) -> Iterator[Callable[[str, int], None] | None]:
    """A transient bar on stderr, only when stderr is a terminal: yields
    ``advance(label, n)``, or None (no bar)."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("", total=total)

        def advance(label: str, n: int) -> None:
            bar.update(task, advance=n, description=label)

        yield advance


@contextmanager
def status_line(text: str, console: Console | None = None) -> Iterator[None]:
    """A transient spinner with the elapsed time on stderr, only when it is a terminal: for a
    step that gives no count to advance (``swapops trace record``'s valgrind run)."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        bar.add_task(text, total=None)
        yield


def print_all(console: Console, renderables: Sequence[RenderableType]) -> None:
    for r in renderables:
        console.print(r)


__all__ = ["DEFAULT_WIDTH", "FORMATS", "MODELED_NOTE", "output_width", "make_console", "natural_width",
           "design_labels", "fit_records", "kv_grid", "compare_renderables", "compare_markdown", "metric_fields",
           "csv_text", "get_path", "markdown_table", "fmt_value", "all_sections", "run_renderables",
           "run_markdown", "run_csv", "run_fields", "progress_bar", "status_line", "print_all", "legend"]
