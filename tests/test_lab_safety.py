"""The lab never calls swapon/swapoff on the host: swap is enabled only inside the guest.

Two checks: a scan of the lab's source (no process is started with a swapon or
swapoff command, no foreign-function access to libc, and in the modules that
can start programs the only text naming swapon is the guest's script), and a run
of the lab's host side (set-up, the model, the comparison) under a guard
(tests/lab_guard.py) that refuses any such call before it happens. The real
boots of CI run under the same guard in tests/test_lab.py.
"""

from __future__ import annotations

import ast
import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_guard import FORBIDDEN, Guard, GuardError

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "src" / "swapops" / "lab"

# Calls that start a program or reach libc directly.
SPAWNERS = {
    ("subprocess", n) for n in ("run", "Popen", "call", "check_call", "check_output", "getoutput",
                                "getstatusoutput")
} | {("os", n) for n in ("system", "popen", "execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp",
                         "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle", "posix_spawn",
                         "posix_spawnp")}


def _strings(node: ast.AST) -> Iterator[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _can_spawn(tree: ast.AST) -> bool:
    """Imports subprocess or calls one of os' program starters."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "subprocess" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "subprocess":
            return True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in SPAWNERS):
            return True
    return False


def test_spawn_detection() -> None:
    """The scan above tells the modules that start programs from those that do not."""
    assert _can_spawn(ast.parse((LAB / "guest.py").read_text()))
    assert _can_spawn(ast.parse((LAB / "setup.py").read_text()))
    assert _can_spawn(ast.parse("import os\nos.system('x')\n"))
    assert not _can_spawn(ast.parse((LAB / "validation.py").read_text()))


def test_lab_source_never_runs_swapon_on_the_host() -> None:
    files = sorted(LAB.glob("*.py"))
    assert {f.name for f in files} >= {"guest.py", "setup.py", "cli.py", "compare.py"}
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] in ("ctypes", "cffi") for n in names), f"{path.name}: imports {names}"
            if isinstance(node, ast.Call):
                func = node.func
                if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                        and (func.value.id, func.attr) in SPAWNERS):
                    for text in _strings(node):
                        assert not any(w in text for w in FORBIDDEN), f"{path.name}:{node.lineno} runs {text!r}"
        # In a module that can start programs, the only text naming swapon/swapoff is the
        # script the guest runs. A module that starts none (the document generator) may
        # say in prose that swapon runs in the guest, but holds no command-like text.
        allowed: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and path.name == "guest.py" and node.name == "guest_script":
                allowed |= {id(s) for s in ast.walk(node)}
        spawns = _can_spawn(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                    and any(w in node.value for w in FORBIDDEN)):
                if not spawns and len(node.value.split()) >= 8:
                    continue  # prose in a module that cannot start a program
                assert id(node) in allowed, f"{path.name}:{node.lineno}: {node.value!r} outside guest_script"
    # the guest's /init and the C program do not call them either (the script does, in the guest)
    for name in ("init.sh", "workload.c", "content.h"):
        body = [ln for ln in (LAB / name).read_text().splitlines() if not ln.lstrip().startswith(("#", "*", "/*"))]
        assert not any(w in ln for ln in body for w in FORBIDDEN), name


def test_guard_refuses_before_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard itself: refused calls never start (the path does not exist anyway)."""
    guard = Guard(monkeypatch)
    with pytest.raises(GuardError):
        subprocess.run(["/nonexistent/swapon", "/nonexistent/file"], check=False)
    with pytest.raises(GuardError):
        os.system("/nonexistent/swapoff -a")
    with pytest.raises(GuardError):
        _ = ctypes.CDLL(None).swapon
    assert guard.commands[0] == ["/nonexistent/swapon", "/nonexistent/file"]


def test_lab_host_side_under_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set-up (found in the cache when qemu is here), the model and the comparison against a
    stored kernel record, guarded. The real boots run under the same guard in
    tests/test_lab.py."""
    from swapops.lab.compare import compare
    from swapops.lab.validation import load_results

    guard = Guard(monkeypatch)
    if shutil.which("qemu-system-x86_64") is not None:
        from swapops.lab.setup import setup

        setup(install=False)
    scn, record = next((s, r) for s, r in load_results(ROOT) if s.name == "no-zswap")
    result = compare(scn, record)
    assert [p["name"] for p in result["phases"]] == [p.name for p in scn.phases]
    assert not any(os.path.basename(c[0]).startswith(FORBIDDEN) for c in guard.commands)
