"""The examples in README.md and docs/*.md run.

Every fenced block whose info string is exactly ``python`` is executed, in
order, in one namespace per document, inside a temporary directory. Blocks
marked ``python no-run`` are illustrations only (e.g. plugin skeletons).
"""

from __future__ import annotations

import os
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)


def python_blocks(path: pathlib.Path) -> list[str]:
    return [body for info, body in FENCE.findall(path.read_text()) if info.strip() == "python"]


DOCS_WITH_CODE = [p for p in DOCS if python_blocks(p)]


@pytest.mark.parametrize("path", DOCS_WITH_CODE, ids=[p.name for p in DOCS_WITH_CODE])
def test_doc_examples_run(path: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"doc_{path.stem}"}
    for index, block in enumerate(python_blocks(path)):
        code = compile(block, f"{path.name}[block {index}]", "exec")
        exec(code, namespace)  # noqa: S102 - the docs are ours


def test_readme_opens_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    first = FENCE.search(text)
    assert first is not None
    lines = [ln for ln in first.group(2).splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0].startswith("python3 -m pip install -e")
    assert lines[1].startswith("python3 -m pytest")
    assert lines[0].endswith("&& python3 -m swapops lab setup"), "the set-up command sets up the real-kernel lab too"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines[0] in ci and lines[1] in ci, ".ci/run must run the README's two commands, as whole lines"
    assert ci.index(lines[0]) < ci.index(lines[1])
    assert os.access(ROOT / ".ci" / "run", os.R_OK)
