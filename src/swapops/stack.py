"""Stacks: the stack grammar, the placement rules and the two-pass builder.

A stack is written top to bottom, modules joined by ``>``, each with options
after ``:`` as comma-separated ``key=value``::

    vswap>zswap:compressor=lz4>swapfile:size=1G,path=swap.img

:func:`parse_stack` turns that into a :class:`StackSpec`; :func:`check_stack`
applies every module's placement declaration and names the rule a bad chain
breaks; :func:`valid_chains` enumerates every chain the installed modules
allow; :func:`chain_holds` says what a chain can keep.

:class:`StackBuilder` builds a checked stack in two passes, as pycachesim's
``from_dict`` does ("first pass, create; second pass, connect"):

1. **create and link**: every layer is constructed bottom-up with the device
   below it (``cls(options, lower)``, which links ``lower.upper``), and
   registered with the system's plugin manager, which validates its
   operations against the specs (an unknown ``swapops_*`` method, a missing
   mandatory operation or an unmarked one refuses the swapon here, before
   anything is activated);
2. **bind and activate**, bottom-up: each layer's ``lower_*`` names are bound
   to the (already active) device below (:meth:`SwapDevice.bind_lower`), then
   ``swapops_activate`` runs, then its operations are resolved into a
   :class:`~swapops.device.DeviceDispatch` (``init_swap_ops``).

So at activation every layer knows both neighbours: zswap sees whether a
virtual layer sits above it, a physical layer its upper for its overhead
model. If any step fails, every layer built is deactivated (if it was
activated) and unregistered, and the devices the new stack was linked to are
unlinked: nothing stays half-built.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .clock import SimClock
from .constants import PAGE_SIZE
from .device import HOLD_LEVELS, DeviceDispatch, SwapContext, SwapDevice
from .errors import (
    ConfigError,
    InvalidStackError,
    MissingOperationError,
    SwapOpsError,
    UnknownOperationError,
)
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
        # Filters are looked through, and a filter's own LOWER_KINDS apply
        # to the first real device below it too.
        below = _effective_below(classes, i)
        if below is None:
            if cls.NEEDS_LOWER and cls.KIND != "filter":
                raise InvalidStackError(f"{cls.NAME} needs a lower device (only filters below it)")
            continue
        if below.KIND not in cls.LOWER_KINDS:
            kinds = ", ".join(sorted(cls.LOWER_KINDS))
            through = "" if below is below_direct else f" (through {below_direct.NAME})"
            raise InvalidStackError(
                f"{cls.NAME} cannot sit on {below.NAME}{through}: {cls.NAME} accepts {kinds} devices "
                f"below it, {below.NAME} is {below.KIND}"
            )
        need = HOLD_LEVELS.index(cls.LOWER_HOLDS)
        if need and HOLD_LEVELS.index(chain_holds(classes[i + 1 :])) < need:
            below_names = ">".join(c.NAME for c in classes[i + 1 :])
            raise InvalidStackError(
                f"{cls.NAME} cannot sit on {below_names}: {cls.NAME} needs a device below that keeps "
                f"{HOLDS_TEXT[cls.LOWER_HOLDS].replace(' only', '')}, {below_names} keeps "
                f"{HOLDS_TEXT[chain_holds(classes[i + 1 :])]}"
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


# ---------------------------------------------------------------------- holdings

#: How ``swapops stacks`` describes what a chain can keep (``chain_holds``).
HOLDS_TEXT = {
    "any": "any page",
    "compressible": "compressible pages only",
    "nothing": "zero pages only",
}


def chain_holds(classes: Sequence[type[SwapDevice]]) -> str:
    """What a chain can keep: the most any of its layers can keep by itself
    (:meth:`SwapDevice.holds`). Zero-filled pages are kept by the core (a flag,
    no write) on every chain, so ``"nothing"`` means zero pages only."""
    best = max((HOLD_LEVELS.index(cls.holds()) for cls in classes), default=0)
    return HOLD_LEVELS[best]


# ---------------------------------------------------------------------- the builder


class StackBuilder:
    """Builds the stacks of one :class:`~swapops.SwapSystem` (see the module docstring).

    :param pm: the system's plugin manager (each layer is registered with it).
    :param registry: the module registry the placement rules come from.
    :param clock: the system's simulated clock, handed to every layer.
    :param seed: the system seed, handed to every layer.
    :param trace: wrap every bound operation so it is reported through the
        ``swapops_trace`` hook (slow; for debugging).
    """

    def __init__(
        self, pm: pluggy.PluginManager, registry: ModuleRegistry, clock: SimClock, seed: int, trace: bool
    ) -> None:
        self.pm = pm
        self.registry = registry
        self.clock = clock
        self.seed = seed
        self.trace = trace
        self._seq = 0  # layers created so far: part of each layer's RNG seed path

    # -- rules ------------------------------------------------------------------------

    def check(
        self, stack: StackSpec, *, lower: SwapDevice | None = None, upper: SwapDevice | None = None
    ) -> list[type[SwapDevice]]:
        """The classes of ``stack`` (top first), every placement rule applied over
        the whole chain it will be part of: on ``lower`` (an active device), or
        below ``upper`` (a layer taking a new lower device)."""
        if lower is not None:
            names = [*stack.modules, *(d.NAME for d in lower.layers())]
            return check_stack(names, self.registry)[: len(stack.modules)]
        classes = check_stack(stack.modules, self.registry)
        if upper is not None:
            check_stack([upper.NAME, *stack.modules], self.registry)
        return classes

    # -- building ---------------------------------------------------------------------

    def build(
        self,
        classes: Sequence[type[SwapDevice]],
        options: Sequence[Mapping[str, Any]],
        *,
        label: str,
        lower: SwapDevice | None = None,
        upper: SwapDevice | None = None,
    ) -> SwapDevice:
        """Create, link, bind and activate the layers ``classes`` (top first) with
        their parsed ``options``; return the top device.

        :param label: names the stack in each layer's context path (the swap
            type, or ``"sub"`` for a stack attached below a layer).
        :param lower: an active device the new layers sit on (``swapon(...,
            lower=)``); its layers are told of their new upper afterwards
            (:meth:`SwapDevice.relink`).
        :param upper: an active layer the new stack goes below (``swapon(...,
            above=)``): linked before activation, then handed the new stack
            through its ``swapops_attach_lower``.
        """
        created: list[SwapDevice] = []  # bottom first
        paths: list[str] = []
        tables: list[dict[str, Callable[..., Any]]] = []
        activated: list[SwapDevice] = []
        below = lower
        try:
            # Pass 1: create and link every layer, bottom-up; validate its operations.
            for index in range(len(classes) - 1, -1, -1):
                cls = classes[index]
                try:
                    dev = cls(options[index], below)
                except SwapOpsError:
                    raise
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{cls.NAME}: {exc}") from exc
                created.append(dev)
                self._seq += 1
                paths.append(f"{label}.{self._seq}/{index}/{cls.NAME}")
                below = dev
            top = created[-1]
            if upper is not None:
                top.upper = upper
            for dev in created:
                tables.append(self._register(dev))
            # Pass 2: bind and activate, bottom-up: the device below is active.
            for dev, path, table in zip(created, paths, tables, strict=True):
                dev.ctx = SwapContext(self.clock, self.seed, PAGE_SIZE, path)
                dev.bind_lower()
                activate = table.get("swapops_activate")
                if activate is not None:
                    activate(dev.ctx)
                activated.append(dev)
                if not self.trace:
                    # Operations the activated device offers with the same
                    # contract and fewer calls (e.g. its allocator's alloc).
                    fast = dev.fast_ops()
                    table.update({op: fn for op, fn in fast.items() if op in table})
                dev.ops = DeviceDispatch(dev, table)
            if upper is not None:
                attach = getattr(upper, "swapops_attach_lower", None)
                if attach is None:
                    raise InvalidStackError(f"{upper.NAME} cannot take a new lower device")
                attach(top)
        except BaseException:
            for dev in reversed(created):
                self.teardown(dev, deactivate=dev in activated)
            if created and upper is not None:
                created[-1].upper = None
            if lower is not None:
                lower.upper = None  # it stays what it was
            raise
        if lower is not None:
            for dev in lower.layers():
                dev.relink()
        return top

    def _register(self, dev: SwapDevice) -> dict[str, Callable[..., Any]]:
        """Register ``dev`` and resolve its operations once (``init_swap_ops``)."""
        self._check_op_names(dev)
        name = f"{dev.NAME}@{id(dev):x}"
        try:
            self.pm.register(dev, name=name)
        except pluggy.PluginValidationError as exc:
            raise MissingOperationError(f"module {dev.NAME}: {exc}; swapon refused") from None
        table: dict[str, Callable[..., Any]] = {}
        for op in hookspecs.DEVICE_OPS:
            caller = getattr(self.pm.hook, op)
            for impl in caller.get_hookimpls():
                if impl.plugin is dev:
                    table[op] = impl.function
        missing = [op for op in hookspecs.MANDATORY_OPS if op not in table]
        if missing:
            self.pm.unregister(dev)
            raise MissingOperationError(
                f"module {dev.NAME} lacks mandatory operation {missing[0]}; swapon refused (-EINVAL)"
            )
        if self.trace:
            table = {op: self._traced(dev, op, fn) for op, fn in table.items()}
        return table

    def _check_op_names(self, dev: SwapDevice) -> None:
        """Refuse ``swapops_*`` methods that are no operation (a misspelled op is
        never called) and operations not marked ``@swapops.hookimpl`` (ignored by
        pluggy), as pluggy's ``check_pending`` refuses unknown hooks."""
        known = hookspecs.DEVICE_OPS
        for attr in dir(type(dev)):
            if not attr.startswith("swapops_"):
                continue
            if attr not in known:
                close = difflib.get_close_matches(attr, known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else f" (operations: {', '.join(known)})"
                raise UnknownOperationError(
                    f"module {dev.NAME}: {type(dev).__name__}.{attr} is not a swap operation{hint}; "
                    "swapon refused"
                )
            if self.pm.parse_hookimpl_opts(dev, attr) is None:
                raise UnknownOperationError(
                    f"module {dev.NAME}: {type(dev).__name__}.{attr} is not marked @swapops.hookimpl, "
                    "so it would never be called; swapon refused"
                )

    def _traced(self, dev: SwapDevice, op: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        hook = self.pm.hook.swapops_trace

        def call(*args: Any) -> Any:
            hook(device=dev, op=op, args=args)
            return fn(*args)

        return call

    def teardown(self, dev: SwapDevice, *, deactivate: bool = True) -> None:
        """Deactivate ``dev`` (if asked and it was activated) and unregister it."""
        if deactivate and dev.ops is not None:
            deact = getattr(dev, "swapops_deactivate", None)
            if deact is not None and dev.ctx is not None:
                deact()
        if self.pm.is_registered(dev):
            self.pm.unregister(dev)
        dev.ops = None
