"""``swapops compare`` / ``swapops run`` output fitted to the width (swapops.render):
no line past the width, nothing cut with "…", every figure of every design whole,
and the Markdown / CSV formats."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from typing import Any

import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from swapops import render
from swapops.cli import main
from swapops.metrics import TOTAL_KEYS
from swapops.runner import DEFAULT_STACKS, missing_modules
from swapops.tables import METRICS

# Small enough to be quick, large enough that every design swaps (and flash writes NAND pages).
ARGS = ["--ram", "1M", "--swap", "16M", "--events", "6000", "--seed", "3", "-q"]
SMALL = ["--ram", "1M", "--swap", "16M", "--events", "3000", "-q"]


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture(scope="module")
def runs() -> list[dict[str, Any]]:
    """One real comparison of every installed default design, shared by the module."""
    stacks = [s for s in DEFAULT_STACKS if not missing_modules([s])]
    res = invoke("compare", *stacks, *ARGS, "--json")
    assert res.exit_code == 0, res.stderr
    out: list[dict[str, Any]] = json.loads(res.stdout)["runs"]
    return out


def text_of(renderables: list[Any], width: int) -> str:
    buf = io.StringIO()
    render.print_all(render.make_console(width, file=buf), renderables)
    return buf.getvalue()


def cells(text: str) -> Counter[str]:
    """Every body cell of every table in ``text`` (between │ borders), stripped."""
    found: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("│"):
            found.update(c.strip() for c in line.strip("│").split("│"))
    return found


def assert_fits(text: str, width: int) -> None:
    assert "…" not in text
    for line in text.splitlines():
        assert cell_len(line) <= width, (width, line)


@pytest.mark.parametrize("width", [80, 200, 120, 60, 40])
def test_compare_fits_and_shows_every_figure_whole(runs: list[dict[str, Any]], width: int) -> None:
    title = render.compare_title(runs, "1M", "16M")
    text = text_of(render.compare_renderables(runs, title, width), width)
    assert_fits(text, width)
    # each figure is one whole cell of a table (a figure cut or wrapped would be two cells, or none)
    want = Counter(m.fmt(r) for r in runs for m in METRICS)
    got = cells(text)
    missing = {c: n for c, n in want.items() if got[c] < n}
    assert not missing, missing
    for label in (m.label for m in METRICS):  # every metric named (headers may wrap at spaces)
        assert all(word in text for word in label.split()), label
    for r in runs:  # the legend (or the headers) name every stack whole
        assert r["stack"] in text or r["stack"].replace(">", ">\n") in text
    assert "never held" in text or "vm_swap_full() held in" in " ".join(text.split())
    assert "modeled:" in text


def test_compare_layout_by_width(runs: list[dict[str, Any]]) -> None:
    """200 columns hold the designs as columns (labels A.. and a legend); 80 do not:
    designs are rows there, over one table per group of figures."""
    labels = render.design_labels(len(runs))
    wide = text_of(render.compare_renderables(runs, "", 200), 200)
    header = next(line for line in wide.splitlines() if line.startswith("┃") and "metric" in line)
    assert [c.strip() for c in header.strip("┃").split("┃")][1:] == labels
    narrow = text_of(render.compare_renderables(runs, "", 80), 80)
    assert "metric" not in narrow
    rows = [line for line in narrow.splitlines() if line.startswith("│ A ")]
    assert len(rows) >= 2  # more than one table at 80 columns
    for lb, r in zip(labels, runs, strict=True):
        assert re.search(rf"^{lb}\s+{re.escape(r['stack'])}$", narrow, re.M), lb


def test_two_stacks_are_headed_by_their_names() -> None:
    res = invoke("compare", "swapfile", "vswap>swapfile", *SMALL, "--width", "80")
    assert res.exit_code == 0, res.stderr
    assert_fits(res.stdout, 80)
    assert "vswap>" in res.stdout and not re.search(r"^A\s+swapfile", res.stdout, re.M)


def test_cli_honours_width_and_columns() -> None:
    args = ["compare", "swapfile", "swapfile:device=flash", "vswap>swapfile", *SMALL]
    for env, width in (({"COLUMNS": "72"}, 72), ({"COLUMNS": ""}, render.DEFAULT_WIDTH)):
        res = invoke(*args, env=env)
        assert res.exit_code == 0, res.stderr
        assert_fits(res.stdout, width)
        assert "swapfile:device=flash" in res.stdout
    res = invoke(*args, "--width", "150", env={"COLUMNS": "72"})  # --width wins
    assert max(cell_len(line) for line in res.stdout.splitlines()) > 72
    assert_fits(res.stdout, 150)


def test_output_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "123")
    assert render.output_width() == 123
    assert render.output_width(90) == 90
    monkeypatch.delenv("COLUMNS")
    monkeypatch.setattr("sys.stdout", io.StringIO())  # piped: no terminal
    assert render.output_width() == render.DEFAULT_WIDTH == 80


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def test_csv_is_the_raw_numbers_of_the_json(runs: list[dict[str, Any]]) -> None:
    rows = list(csv.DictReader(io.StringIO(render.csv_text(runs, render.metric_fields()))))
    assert [r["stack"] for r in rows] == [r["stack"] for r in runs]
    for row, run in zip(rows, runs, strict=True):
        for field in render.metric_fields():
            want = render.get_path(run, field)
            assert "," not in row[field]  # no thousands separators
            assert _number(row[field]) == (None if want is None else float(want)), field


def test_markdown_is_a_table_of_formatted_cells(runs: list[dict[str, Any]]) -> None:
    text = render.compare_markdown(runs)
    lines = text.splitlines()
    assert len(lines) == 2 + len(runs)
    widths = {len(re.split(r"(?<!\\)\|", line)) for line in lines}
    assert len(widths) == 1  # every line has the same number of cells
    assert all(line.startswith("| ") or line.startswith("|---") for line in lines)
    assert re.fullmatch(r"\|---\|(---:\|)+", lines[1])
    for line, r in zip(lines[2:], runs, strict=True):
        assert line.startswith(f"| `{r['stack']}` |")
        for m in METRICS:
            assert f"| {m.fmt(r)} |" in line


def test_cli_formats() -> None:
    args = ["compare", "swapfile", "swapfile:device=flash", *SMALL]
    data = json.loads(invoke(*args, "--format", "json").stdout)
    assert data == {**data, "schema": "swapops.compare/1"}
    alias = json.loads(invoke(*args, "--json").stdout)
    assert [r["totals"] for r in alias["runs"]] == [r["totals"] for r in data["runs"]]
    table = list(csv.DictReader(io.StringIO(invoke(*args, "--format", "csv").stdout)))
    assert [int(r["totals.pswpout"]) for r in table] == [r["totals"]["pswpout"] for r in data["runs"]]
    md = invoke(*args, "--format", "markdown").stdout
    assert md.splitlines()[0].startswith("| stack | swap-outs")
    clash = invoke(*args, "--json", "--format", "csv")
    assert clash.exit_code == 2 and clash.stderr.count("\n") == 1 and "--format" in clash.stderr


@pytest.mark.parametrize("width", [80, 200])
def test_run_all_shows_every_figure(runs: list[dict[str, Any]], width: int) -> None:
    run = runs[-1]
    text = text_of(render.run_renderables(run, width, every=True), width)
    assert_fits(text, width)
    got = cells(text)
    for key in TOTAL_KEYS:
        assert got[key] >= 1, key
        assert got[render.fmt_value(run["totals"][key])] >= 1
    for key in run["mm"]:
        assert got[key] >= 1, key
    for layer in (lay for a in run["areas"] for lay in a["layers"]):
        for key in layer["stats"]:
            assert got[f"stats.{key}"] >= 1, key


def test_run_summary_fits(runs: list[dict[str, Any]]) -> None:
    for width in (80, 60, 40):
        for run in runs:
            text = text_of(render.run_renderables(run, width), width)
            assert_fits(text, width)
            got = cells(text)
            for m in METRICS:
                assert got[m.fmt(run)] >= 1, (width, m.label)


def test_cli_run_all_and_formats() -> None:
    res = invoke("run", "zswap>swapfile", *SMALL, "--all", "--width", "80")
    assert res.exit_code == 0, res.stderr
    assert_fits(res.stdout, 80)
    assert all(key in res.stdout for key in TOTAL_KEYS)
    rows = list(csv.DictReader(io.StringIO(invoke("run", "swapfile", *SMALL, "--all", "--format", "csv").stdout)))
    assert len(rows) == 1 and {f"totals.{k}" for k in TOTAL_KEYS} <= set(rows[0])
    data = json.loads(invoke("run", "swapfile", *SMALL, "--json").stdout)
    assert float(rows[0]["totals.pswpout"]) == data["totals"]["pswpout"]
    md = invoke("run", "swapfile", *SMALL, "--format", "markdown").stdout.splitlines()
    assert len(md) == 3 and md[2].startswith("| `swapfile` |")


def test_fit_records_falls_back_to_one_grid_per_record() -> None:
    headers = ["a rather long header", "another one"]
    rows = [["1,234,567,890", "2"], ["3", "4,567"]]
    for width in (80, 30, 20):
        text = text_of(render.fit_records("", ["A", "B"], headers, rows, width), width)
        assert_fits(text, width)
        got = cells(text)
        assert all(got[c] >= 1 for row in rows for c in row), (width, text)


def test_thousands_on_plot_axes() -> None:
    from swapops.plot import thousands

    assert thousands(2230.0) == "2,230"
    assert thousands(1_500_000) == "1,500,000"
    assert thousands(0.5) == "0.5" and thousands(1.25) == "1.25" and thousands(0) == "0"


def test_compare_plot_labels_designs(runs: list[dict[str, Any]], tmp_path: Any) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from swapops import plot

    seen: list[Any] = []
    real_close = plt.close

    def keep(fig: Any) -> None:
        seen.append(fig)

    plt.close = keep
    try:
        plot.plot_compare(runs, tmp_path / "c.png")
    finally:
        plt.close = real_close
    fig = seen[0]
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    labels = render.design_labels(len(runs))
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == labels
        ticks = [ax.yaxis.get_major_formatter()(v, 0) for v in ax.get_yticks()]
        assert not any("e+" in t for t in ticks)
        assert any("," in t for t in ticks) or max(ax.get_yticks()) < 1000
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [f"{lb}  {r['stack']}" for lb, r in zip(labels, runs, strict=True)]
    real_close(fig)


def test_progress_bar_only_on_a_terminal() -> None:
    with render.progress_bar(10) as advance:  # pytest's stderr is no terminal
        assert advance is None


def test_status_line_only_on_a_terminal() -> None:
    from rich.console import Console

    piped = io.StringIO()
    with render.status_line("recording", Console(file=piped)):  # a StringIO is no terminal
        pass
    assert piped.getvalue() == ""
    term = io.StringIO()
    with render.status_line("recording", Console(file=term, force_terminal=True, width=80)):
        pass
    assert "recording" in term.getvalue()
