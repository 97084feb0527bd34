"""docs/architecture.md's module tables are generated from the code and must match it.

Each row is a module's path and the first sentence of its docstring, so a
new, renamed or removed module, or a docstring that changed its summary,
shows here. Regenerate with ``python tests/test_architecture_doc.py --write``.
"""

from __future__ import annotations

import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
START, END = "<!-- module-table: start (tests/test_architecture_doc.py --write) -->", "<!-- module-table: end -->"


def _summary(path: pathlib.Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    para = " ".join(doc.split("\n\n")[0].split())
    match = re.match(r"(.+?\.)(\s|$)", para)
    text = match.group(1) if match else para
    return text.rstrip(".").replace("|", "\\|")


def _rows(paths: list[pathlib.Path]) -> list[str]:
    return [f"| `{p.relative_to(ROOT)}` | {_summary(p)} |" for p in paths]


def module_tables() -> str:
    core = sorted((ROOT / "src" / "swapops").rglob("*.py"))
    core = [p for p in core if p.name != "__init__.py" or p.parent.name != "swapops"]
    plugins = sorted((ROOT / "plugins").glob("*/swapops_*/*.py"))
    lines = ["### The core (`src/swapops`)", "", "| module | what it holds |", "|---|---|", *_rows(core), "",
             "### The built-in modules (`plugins/`)", "", "| module | what it holds |", "|---|---|", *_rows(plugins)]
    return "\n".join(lines)


def _current() -> str:
    text = DOC.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip()


def test_module_tables_match_the_code() -> None:
    assert _current() == module_tables(), (
        "docs/architecture.md's module tables lag the code: run python tests/test_architecture_doc.py --write"
    )


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    text = DOC.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    DOC.write_text(text[:start] + "\n\n" + module_tables() + "\n\n" + text[end:])
