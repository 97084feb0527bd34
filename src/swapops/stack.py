"""Stack strings and placement rules.

A stack is written top to bottom, modules joined by ``>``, each with options
after ``:`` as comma-separated ``key=value``::

    vswap>zswap:compressor=lz4>swapfile:size=1G,path=swap.img

:func:`parse_stack` turns that into a :class:`StackSpec`; :func:`check_stack`
applies every module's placement declaration and names the rule a bad chain
breaks; :func:`valid_chains` enumerates every chain the installed modules allow.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from .device import SwapDevice
from .errors import InvalidStackError
from .registry import ModuleRegistry

MAX_STACK_DEPTH = 8


@attrs.frozen
class LayerSpec:
    """One module of a stack and its options (raw strings or Python values)."""

    module: str
    options: tuple[tuple[str, Any], ...] = ()

    def option_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def __str__(self) -> str:
        if not self.options:
            return self.module
        return self.module + ":" + ",".join(f"{k}={v}" for k, v in self.options)


@attrs.frozen
class StackSpec:
    """A validated-later chain of layers, top first."""

    layers: tuple[LayerSpec, ...]

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(layer.module for layer in self.layers)

    def __str__(self) -> str:
        return ">".join(str(layer) for layer in self.layers)


def parse_stack(text: str) -> StackSpec:
    """Parse ``"a:k=v,k=v>b>c"``; raise :class:`InvalidStackError` naming the bad part."""
    if not isinstance(text, str):
        raise InvalidStackError(f"a stack must be a string such as 'zswap>swapfile', not {type(text).__name__}")
    if not text.strip():
        raise InvalidStackError("empty stack: name at least one module, e.g. 'swapfile'")
    parts = text.split(">")
    if len(parts) > MAX_STACK_DEPTH:
        raise InvalidStackError(f"stack {text!r} has {len(parts)} layers; at most {MAX_STACK_DEPTH}")
    layers = []
    for position, part in enumerate(parts, 1):
        name, sep, opts = part.partition(":")
        name = name.strip()
        if not name:
            raise InvalidStackError(f"stack {text!r}: layer {position} has no module name")
        if not name.replace("_", "").replace("-", "").isalnum() or not name.isascii():
            raise InvalidStackError(f"stack {text!r}: {name!r} is not a module name")
        options: list[tuple[str, str]] = []
        if sep:
            if not opts.strip():
                raise InvalidStackError(f"stack {text!r}: {name}: nothing after ':' (expected key=value)")
            seen: set[str] = set()
            for item in opts.split(","):
                key, eq, value = item.partition("=")
                key = key.strip()
                if not eq or not key:
                    raise InvalidStackError(f"stack {text!r}: {name}: option {item.strip()!r} is not key=value")
                if key in seen:
                    raise InvalidStackError(f"stack {text!r}: {name}: option {key!r} given twice")
                seen.add(key)
                options.append((key, value.strip()))
        layers.append(LayerSpec(name, tuple(options)))
    return StackSpec(tuple(layers))


def _effective_below(classes: Sequence[type[SwapDevice]], index: int) -> type[SwapDevice] | None:
    """The first non-filter class below ``index`` (filters are transparent)."""
    for cls in classes[index + 1 :]:
        if cls.KIND != "filter":
            return cls
    return None


def check_stack(modules: Sequence[str], registry: ModuleRegistry) -> list[type[SwapDevice]]:
    """Apply every placement rule; return the classes, top first."""
    if not modules:
        raise InvalidStackError("empty stack: name at least one module, e.g. 'swapfile'")
    classes = [registry.get(name) for name in modules]
    for i, cls in enumerate(classes):
        below_direct = classes[i + 1] if i + 1 < len(classes) else None
        if below_direct is None:
            if cls.NEEDS_LOWER:
                raise InvalidStackError(f"{cls.NAME} needs a lower device")
            continue
        if not cls.LOWER_KINDS:
            raise InvalidStackError(
                f"{cls.NAME} must be the bottom of a stack (nothing may sit below it, found {below_direct.NAME})"
            )
        if cls.KIND == "filter":
            continue
        below = _effective_below(classes, i)
        if below is None:
            if cls.NEEDS_LOWER:
                raise InvalidStackError(f"{cls.NAME} needs a lower device (only filters below it)")
            continue
        if below.KIND not in cls.LOWER_KINDS:
            kinds = ", ".join(sorted(cls.LOWER_KINDS))
            raise InvalidStackError(
                f"{cls.NAME} cannot sit on {below.NAME}: {cls.NAME} accepts {kinds} devices below it, "
                f"{below.NAME} is {below.KIND}"
            )
    counts: dict[str, int] = {}
    for cls in classes:
        counts[cls.NAME] = counts.get(cls.NAME, 0) + 1
        if counts[cls.NAME] > cls.MAX_IN_STACK:
            times = "once" if cls.MAX_IN_STACK == 1 else f"{cls.MAX_IN_STACK} times"
            raise InvalidStackError(f"{cls.NAME} may appear in a stack at most {times}")
    return classes


def valid_chains(
    registry: ModuleRegistry, modules: Iterable[str] | None = None, max_depth: int = 4
) -> list[str]:
    """Every chain of ``modules`` (default: all installed) the declarations allow."""
    names = sorted(modules if modules is not None else registry)
    found: list[str] = []
    for depth in range(1, max_depth + 1):
        for combo in itertools.product(names, repeat=depth):
            try:
                check_stack(combo, registry)
            except InvalidStackError:
                continue
            found.append(">".join(combo))
    return found


def merge_kwargs(
    spec: StackSpec, classes: Sequence[type[SwapDevice]], kwargs: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Per-layer option dicts: the stack string's options, plus each keyword
    option given to ``swapon`` for the bottom-most layer that declares it."""
    per_layer = [layer.option_dict() for layer in spec.layers]
    for key, value in kwargs.items():
        if value is None:
            continue
        for index in range(len(classes) - 1, -1, -1):
            if key in classes[index].OPTIONS:
                per_layer[index].setdefault(key, value)
                break
        else:
            names = ", ".join(spec.modules)
            raise InvalidStackError(f"option {key!r} is not an option of any module in {names}")
    return per_layer
