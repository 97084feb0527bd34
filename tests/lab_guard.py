"""A guard for the lab's host side: refuses, before it happens, any program start or
libc call that would swapon/swapoff on the host (used by tests/test_lab_safety.py and,
around the CI boots, tests/test_lab.py)."""

from __future__ import annotations

import ctypes
import os
import subprocess
from typing import Any

import pytest

FORBIDDEN = ("swapon", "swapoff")


class GuardError(AssertionError):
    pass


class Guard:
    """Refuses, before it happens, any program start or libc call that would swapon/swapoff."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Patch for as long as ``monkeypatch`` is active; ``commands`` records every argv started."""
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


def qemu_commands(guard: Guard) -> list[list[str]]:
    """The qemu runs the guard saw: each must be ``timeout ... qemu-system-x86_64 ... -accel tcg``."""
    return [c for c in guard.commands if os.path.basename(c[0]) == "timeout"
            and any(os.path.basename(a).startswith("qemu-system") for a in c)]
