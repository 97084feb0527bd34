"""Every hook is documented in docs/hooks.md with its signature."""

from __future__ import annotations

import inspect
import pathlib

import pytest

from swapops import hookspecs

DOC = (pathlib.Path(__file__).parent.parent / "docs" / "hooks.md").read_text()


def _specs() -> list[tuple[str, list[str]]]:
    found = []
    for holder in (hookspecs, hookspecs.DeviceOps):
        for name, fn in vars(holder).items():
            if name.startswith("swapops_") and callable(fn):
                args = [p for p in inspect.signature(fn).parameters if p != "self"]
                found.append((name, args))
    return found


def test_there_are_specs() -> None:
    names = {n for n, _ in _specs()}
    assert set(hookspecs.MANDATORY_OPS) <= names
    assert set(hookspecs.OPTIONAL_OPS) <= names
    assert "swapops_register_modules" in names


@pytest.mark.parametrize(("name", "args"), _specs(), ids=[n for n, _ in _specs()])
def test_hook_is_documented(name: str, args: list[str]) -> None:
    heading = f"### `{name}({', '.join(args)})`"
    assert heading in DOC, f"docs/hooks.md lacks the section {heading}"


def test_every_spec_has_a_docstring() -> None:
    for holder in (hookspecs, hookspecs.DeviceOps):
        for name, fn in vars(holder).items():
            if name.startswith("swapops_"):
                assert fn.__doc__ and len(fn.__doc__.strip()) > 20, name


def test_the_calling_convention_lists_every_operation() -> None:
    section = DOC[DOC.index("## The calling convention of a stack") : DOC.index("## Errors")]
    for op in hookspecs.DEVICE_OPS:
        assert f"| `{op}` |" in section, f"docs/hooks.md's calling convention lacks {op}"
    for name in ("lower_alloc", "lower_free", "lower_write", "lower_read", "lower_discard", "lower_unplug",
                 "lower_tick", "effective_lower", "effective_upper", "bind_lower"):
        assert name in section, name


def test_the_error_rules_are_the_kits() -> None:
    from swapops.testing.stateful import RULES

    section = DOC[DOC.index("## Errors") :]
    for rule in RULES:
        assert f"**{rule}**" in section, rule
