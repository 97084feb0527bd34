"""The lab never calls swapon/swapoff on the host: swap is enabled only inside the guest.

Two checks: a scan of the lab's source (no process is started with a swapon or
swapoff command, no foreign-function access to libc, and the only text naming
swapon is the guest's script), and a run of the lab's host side (set-up, a real
boot when qemu is present, the model, the comparison) under a guard that
refuses any such call before it happens.
"""

from __future__ import annotations

import ast
import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

LAB = Path(__file__).resolve().parents[1] / "src" / "swapops" / "lab"
FORBIDDEN = ("swapon", "swapoff")
TINY = Path(__file__).with_name("data") / "lab-tiny.toml"

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
        # The only code that names swapon/swapoff is the script the guest runs.
        allowed: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and path.name == "guest.py" and node.name == "guest_script":
                allowed |= {id(s) for s in ast.walk(node)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                    and any(w in node.value for w in FORBIDDEN)):
                assert id(node) in allowed, f"{path.name}:{node.lineno}: {node.value!r} outside guest_script"
    # the guest's /init and the C program do not call them either (the script does, in the guest)
    for name in ("init.sh", "workload.c", "content.h"):
        body = [ln for ln in (LAB / name).read_text().splitlines() if not ln.lstrip().startswith(("#", "*", "/*"))]
        assert not any(w in ln for ln in body for w in FORBIDDEN), name


class GuardError(AssertionError):
    pass


class Guard:
    """Refuses, before it happens, any program start or libc call that would swapon/swapoff."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.commands: list[list[str]] = []
        real_popen_init = subprocess.Popen.__init__
        guard = self

        def check(args: Any) -> None:
            argv = [str(a) for a in (args if isinstance(args, list | tuple) else [args])]
            guard.commands.append(argv)
            if any(os.path.basename(a).startswith(FORBIDDEN) or a.split()[0:1] in (["swapon"], ["swapoff"])
                   for a in argv):
                raise GuardError(f"the host would run {argv}")

        def popen_init(self: subprocess.Popen[Any], args: Any, *a: Any, **k: Any) -> None:
            check(args)
            real_popen_init(self, args, *a, **k)

        monkeypatch.setattr(subprocess.Popen, "__init__", popen_init)

        def refuse(name: str) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                check([name, *[a for a in args if isinstance(a, str | os.PathLike)]])
                raise GuardError(f"the lab called os.{name} (it must use subprocess)")

            return call

        for name in ("system", "popen", "execv", "execve", "execvp", "execvpe", "spawnv", "spawnve",
                     "posix_spawn", "posix_spawnp"):
            if hasattr(os, name):
                monkeypatch.setattr(os, name, refuse(name))

        real_cdll = ctypes.CDLL

        class CDLL(real_cdll):  # type: ignore[misc, valid-type]
            def __getattr__(self, attr: str) -> Any:
                if attr in FORBIDDEN:
                    raise GuardError(f"the host would call {attr}(2)")
                return super().__getattr__(attr)

        monkeypatch.setattr(ctypes, "CDLL", CDLL)


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


def test_lab_host_side_under_the_guard(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Set-up, a real boot (when qemu is here), the model and the comparison, guarded."""
    from swapops.lab.compare import compare, kernel_record
    from swapops.lab.guest import run_guest
    from swapops.lab.scenario import load_lab_scenario
    from swapops.lab.setup import setup

    guard = Guard(monkeypatch)
    scn = load_lab_scenario(TINY)
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 not found: the lab needs it (apt-get install qemu-system-x86, "
                    "or run 'swapops lab setup' as root)")
    lab = setup(install=False)
    run = run_guest(scn, lab)
    result = compare(scn, kernel_record(run))
    assert [p["name"] for p in result["phases"]] == [p.name for p in scn.phases]
    ran = [os.path.basename(c[0]) for c in guard.commands]
    assert "timeout" in ran  # qemu runs, and under timeout
    qemu = [c for c in guard.commands if os.path.basename(c[0]) == "timeout"][0]
    assert "qemu-system-x86_64" in os.path.basename(qemu[4]) and qemu[qemu.index("-accel") + 1] == "tcg"
