"""docs/compare.md's tables are generated from ``swapops compare`` and must match it.

Each table of the page sits between two markers naming it; above it, in a
``sh`` block, the command that makes it. Both are written here from
:data:`TABLES` (the arguments, which figures, how they are formatted), so
the command shown and the table cannot drift apart. Regenerate the page with
``python tests/test_compare_doc.py --write`` (about a minute); the prose
around the tables is written by hand from the same figures.
"""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from swapops.runner import DEBATE_STACKS, DEFAULT_STACKS, missing_modules

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "compare.md"
START = "<!-- compare-table {name}: start (tests/test_compare_doc.py --write) -->"
END = "<!-- compare-table {name}: end -->"

Row = tuple[str, str, str]  # label, path into a run's result ("totals.pswpout"), format


@dataclass(frozen=True)
class DocTable:
    args: tuple[str, ...]  # after "swapops compare"
    rows: tuple[Row, ...]
    headers: tuple[str, ...] = ()  # column headers; default: the stacks in backquotes
    stacks: tuple[str, ...] = field(default=())  # the stacks the args name (for the module check)


DEFAULT_ROWS: tuple[Row, ...] = (
    ("swap-outs (entries allocated)", "totals.swap_entries_allocated", "int"),
    ("pswpout (pages written to a device)", "totals.pswpout", "int"),
    ("pswpin (pages read from a device)", "totals.pswpin", "int"),
    ("swpout_zero (zero pages, no I/O)", "totals.swpout_zero", "int"),
    ("slots used at the end", "totals.slots_used", "int"),
    ("slots used, peak", "totals.slots_used_peak", "int"),
    ("zswpout / zswpin", "totals.zswpout/totals.zswpin", "int"),
    ("zswpwb (written back)", "totals.zswpwb", "int"),
    ("pool_limit_hit", "totals.pool_limit_hit", "int"),
    ("zswap pool pages (stored / pool)", "totals.pool_pages+totals.compression_ratio", "pool"),
    ("NAND writes (modeled)", "totals.nand_writes", "int"),
    ("FTL write amplification (modeled)", "totals.waf", "f2"),
    ("swap-cache copies freed (vm_swap_full)", "totals.swap_cache_freed_full", "int"),
    ("pgmajfault", "totals.pgmajfault", "int"),
    ("kernel metadata (modeled)", "totals.kernel_bytes", "kib"),
    ("swapoff: PTE visits", "totals.swapoff_pte_visits", "int"),
    ("swapoff: entries moved", "totals.swapoff_entries_moved", "int"),
    ("device time (modeled)", "totals.modeled_time_ns", "s"),
)

NVME = "swapfile:device=nvme"
FLASH = "swapfile:device=flash"

TABLES: dict[str, DocTable] = {
    "default": DocTable((), DEFAULT_ROWS, stacks=DEFAULT_STACKS),
    "half-full": DocTable(
        (NVME, f"vswap>{NVME}", FLASH, f"flashbuf>{FLASH}", "--swap", "40M"),
        (
            ("swap-outs (entries allocated)", "totals.swap_entries_allocated", "int"),
            ("pswpout (pages written to a device)", "totals.pswpout", "int"),
            ("slots used, peak", "totals.slots_used_peak", "int"),
            ("swap-cache copies freed (vm_swap_full)", "totals.swap_cache_freed_full", "int"),
            ("clean drops (no write)", "mm.clean_drops", "int"),
            ("NAND writes (modeled)", "totals.nand_writes", "int"),
        ),
        stacks=(NVME, f"vswap>{NVME}", FLASH, f"flashbuf>{FLASH}"),
    ),
    "zero": DocTable(
        (NVME, f"vswap>{NVME}", "--mix", "zero=0.5,random=0.1"),
        (
            ("swap-outs (entries allocated)", "totals.swap_entries_allocated", "int"),
            ("swpout_zero (zero pages, no I/O)", "totals.swpout_zero", "int"),
            ("pswpout (pages written to a device)", "totals.pswpout", "int"),
            ("slots used at the end", "totals.slots_used", "int"),
            ("slots used, peak", "totals.slots_used_peak", "int"),
            ("kernel metadata (modeled)", "totals.kernel_bytes", "kib"),
        ),
        stacks=(NVME, f"vswap>{NVME}"),
    ),
    "zswap-bound": DocTable(
        (f"zswap:max_pool_percent=40>{NVME}", f"vswap>zswap:max_pool_percent=40>{NVME}",
         f"zswap:max_pool_percent=40>{NVME},size=64M", "--swap", "2M", "--pages", "7000"),
        (
            ("swap-outs (entries allocated)", "totals.swap_entries_allocated", "int"),
            ("zswpout / zswpwb", "totals.zswpout/totals.zswpwb", "int"),
            ("zswap stored pages (at the end)", "totals.stored_pages", "int"),
            ("zswap pool pages (limit 1,638)", "totals.pool_pages", "int"),
            ("pool_limit_hit", "totals.pool_limit_hit", "int"),
            ("slots used, peak", "totals.slots_used_peak", "int"),
            ("swap-outs refused (no space)", "mm.swapout_failures", "int"),
            ("swap-cache copies freed (vm_swap_full)", "totals.swap_cache_freed_full", "int"),
            ("RAM overcommit peak (pages)", "mm.overcommit_peak", "int"),
            ("kernel metadata (modeled)", "totals.kernel_bytes", "kib"),
        ),
        headers=("`zswap…>swapfile` (2 MiB)", "`vswap>zswap…>swapfile` (2 MiB)", "`zswap…>swapfile` (64 MiB)"),
        stacks=("zswap>swapfile", "vswap>zswap>swapfile"),
    ),
    "swapoff": DocTable(
        (NVME, f"vswap>{NVME}", "--pages", "4400"),
        (
            ("page-table entries", "mm.ptes", "int"),
            ("swapoff: PTE visits", "totals.swapoff_pte_visits", "int"),
            ("swapoff: entries moved", "totals.swapoff_entries_moved", "int"),
        ),
        stacks=(NVME, f"vswap>{NVME}"),
    ),
    "debate": DocTable(
        ("--designs", "debate"),
        (
            ("swap-outs (entries allocated)", "totals.swap_entries_allocated", "int"),
            ("pswpout (pages written to a device)", "totals.pswpout", "int"),
            ("pswpin (pages read from a device)", "totals.pswpin", "int"),
            ("swpout_zero (zero pages, no I/O)", "totals.swpout_zero", "int"),
            ("slots used at the end", "totals.slots_used", "int"),
            ("slots used, peak", "totals.slots_used_peak", "int"),
            ("zswpout / zswpwb", "totals.zswpout/totals.zswpwb", "int"),
            ("compressed pool pages (stored / pool)", "totals.pool_pages+totals.compression_ratio", "pool"),
            ("swap-cache copies freed at swap-in", "mm.swap_cache_freed_swapin", "int"),
            ("pgmajfault", "totals.pgmajfault", "int"),
            ("kernel metadata (modeled)", "totals.kernel_bytes", "kib"),
            ("kernel metadata at swapon (modeled)", "totals.kernel_static_bytes", "kib"),
            ("swapoff: PTE visits", "totals.swapoff_pte_visits", "int"),
            ("swapoff: entries moved", "totals.swapoff_entries_moved", "int"),
            ("device time (modeled)", "totals.modeled_time_ns", "s"),
            ("swap-outs refused, page kept in memory", "mm.swapout_failures", "int"),
        ),
        stacks=DEBATE_STACKS,
    ),
    "flash": DocTable(
        (FLASH, f"flashbuf>{FLASH}", f"vswap>flashbuf>{FLASH}", "--events", "2000000", "--swap", "80M"),
        (
            ("swap-outs (entries allocated)", "totals.swap_entries_allocated", "int"),
            ("pswpout (pages written to a device)", "totals.pswpout", "int"),
            ("swap-cache copies freed (vm_swap_full)", "totals.swap_cache_freed_full", "int"),
            ("NAND writes (modeled)", "totals.nand_writes", "int"),
            ("FTL write amplification (modeled)", "totals.waf", "f2"),
            ("erase-block erases (modeled)", "totals.flash_erases", "int"),
            ("device time (modeled)", "totals.modeled_time_ns", "s"),
            ("kernel metadata (modeled)", "totals.kernel_bytes", "kib"),
        ),
        stacks=(FLASH, f"flashbuf>{FLASH}", f"vswap>flashbuf>{FLASH}"),
    ),
}

# docs/traces.md's shipped trace of a real program (GNU sort under valgrind's lackey) through the
# default designs; RAM defaults to half the trace's footprint (swapops.trace.footprint_ram).
TABLES["trace-sort"] = DocTable(("--trace", "traces/sort.trace.gz"), DEFAULT_ROWS, stacks=DEFAULT_STACKS)


def _get(run: dict[str, Any], path: str) -> Any:
    value: Any = run
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "f2":
        return f"{value:.2f}"
    if kind == "kib":
        return f"{value / 1024:,.1f} KiB"
    if kind == "s":
        return f"{value / 1e9:.2f} s"
    return f"{int(value):,}"


def _cell(run: dict[str, Any], path: str, kind: str) -> str:
    if kind == "pool":
        pages, ratio = (_get(run, p) for p in path.split("+"))
        return "–" if not pages else f"{int(pages):,} ({ratio:.2f})"
    return " / ".join(_fmt(_get(run, p), kind) for p in path.split("/"))


def command(table: DocTable) -> str:
    return " ".join(["swapops compare", *(shlex.quote(a) for a in table.args)])


_RUNS: dict[tuple[str, ...], list[dict[str, Any]]] = {}


def runs_of(table: DocTable) -> list[dict[str, Any]]:
    if table.args in _RUNS:
        return _RUNS[table.args]
    exe = [sys.executable, "-c", "from swapops.cli import main; main()", "compare", *table.args, "--json", "-q"]
    proc = subprocess.run(exe, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    runs: list[dict[str, Any]] = json.loads(proc.stdout)["runs"]
    _RUNS[table.args] = runs
    return runs


def render(table: DocTable, runs: list[dict[str, Any]]) -> str:
    headers = table.headers or tuple(f"`{r['stack']}`" for r in runs)
    lines = ["```sh", command(table), "```", "", "| | " + " | ".join(headers) + " |",
             "|---|" + "---:|" * len(headers)]
    for label, path, kind in table.rows:
        lines.append(f"| {label} | " + " | ".join(_cell(r, path, kind) for r in runs) + " |")
    return "\n".join(lines)


def _span(text: str, name: str) -> tuple[int, int]:
    start = text.index(START.format(name=name)) + len(START.format(name=name))
    return start, text.index(END.format(name=name))


def current(name: str) -> str:
    text = DOC.read_text()
    start, end = _span(text, name)
    return text[start:end].strip()


def test_every_table_of_the_page_is_generated_here() -> None:
    names = re.findall(r"<!-- compare-table (\S+): start", DOC.read_text())
    assert sorted(names) == sorted(TABLES)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TABLES))
def test_table_is_what_swapops_compare_prints(name: str) -> None:
    table = TABLES[name]
    missing = missing_modules(list(table.stacks))
    if missing:
        pytest.skip(f"modules missing: {missing}")
    runs = runs_of(table)
    if name == "default":  # the real default: the seven designs (its time: benchmarks/bench_compare.py)
        assert [r["stack"] for r in runs] == list(DEFAULT_STACKS)
    assert current(name) == render(table, runs), (
        f"docs/compare.md's {name} table is stale: run python tests/test_compare_doc.py --write"
    )


@pytest.mark.slow
def test_debate_designs_behave_as_their_kernel_code() -> None:
    """What ``--designs debate`` must show whatever the figures: a ghost stores
    nothing, zram (``SWP_SYNCHRONOUS_IO``) frees every slot it reads at swap-in
    and does no readahead."""
    table = TABLES["debate"]
    if missing_modules(list(table.stacks)):
        pytest.skip(f"modules missing: {missing_modules(list(table.stacks))}")
    runs = runs_of(table)
    assert [r["stack"] for r in runs] == list(DEBATE_STACKS)
    by = {r["stack"]: r for r in runs}
    assert by["zswap>ghost"]["totals"]["slots_used"] == 0
    assert by["zswap>ghost"]["totals"]["pswpout"] == 0
    for zram in DEBATE_STACKS[-2:]:
        assert by[zram]["mm"]["swap_cache_freed_swapin"] == by[zram]["totals"]["pgmajfault"] > 0
    # the backing device's writeback is no swap I/O: pswpout is what zram served
    assert by[DEBATE_STACKS[-1]]["totals"]["pswpout"] == by["zram"]["totals"]["pswpout"]
    assert by["zram"]["totals"]["swap_ra"] == 0


if __name__ == "__main__" and sys.argv[1:2] == ["--write"]:
    only = sys.argv[2:] or list(TABLES)
    text = DOC.read_text()
    for name in only:
        start, end = _span(text, name)
        text = text[:start] + "\n" + render(TABLES[name], runs_of(TABLES[name])) + "\n" + text[end:]
        print(f"{name}: written", file=sys.stderr)
    DOC.write_text(text)
