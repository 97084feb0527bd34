"""Small, fast stacks for tests, and the chains a conformance run covers.

Nothing here needs hypothesis. :func:`small_stack` adds options that keep
every layer small (a few hundred slots, a pool that hits its limit, a buffer
that flushes often) so a stateful test reaches full devices, writeback and
cleaning in a few dozen steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from swapops.registry import ModuleRegistry
from swapops.stack import LayerSpec, StackSpec, parse_stack, valid_chains

BUILTIN_MODULES = ("swapfile", "vswap", "zswap", "flashbuf", "zram", "ghost")

#: Options :func:`small_stack` adds per module (options already in the stack
#: string, or passed to :func:`small_stack`, win). Extend it for your module,
#: or pass ``options={"mymodule": {...}}``.
SMALL_OPTIONS: dict[str, dict[str, str]] = {
    # 1023 usable slots: cluster 0 (the header's) for small folios and one
    # whole free cluster, so every order up to 9 gets a run (and a large run is
    # freed, so "frees only the first slot of a run" is caught); it still fills
    # up within a run.
    "swapfile": {"size": "4M"},
    # pool limit 20 % of 512K = 25 pages: random pages (stored raw) reach it
    # and writeback or rejection happens within a run.
    "zswap": {"ram": "512K"},
    # 16-page segments and an 8-page buffer: flushes, partial flushes (timer,
    # unplug) and segment cleaning within a run; 512 slots (size=, needed for
    # unbounded lowers anyway): one whole cluster, so every order gets a run.
    "flashbuf": {"size": "2M", "segment": "16", "buffer": "32K", "flush_interval": "1000000"},
    # 1023 usable slots as the swapfile's; a pool limit random pages (stored
    # whole) reach within a run, so writes fail for lack of memory.
    "zram": {"disksize": "4M", "mem_limit": "256K"},
    # 1023 usable slots: room for every order, full within a run.
    "ghost": {"size": "4M"},
}


#: Options :func:`small_stack` adds only to a layer with a device below it:
#: zram's writeback daemon (marks pages idle, then writes idle ones back every
#: simulated millisecond) needs its backing device.
SMALL_OPTIONS_OVER: dict[str, dict[str, str]] = {
    "zram": {"writeback": "idle", "writeback_interval": "1000000"},
}


def _as_dict(value: Mapping[str, object] | str) -> dict[str, str]:
    if isinstance(value, str):
        if not value.strip():
            return {}
        return dict(parse_stack("x:" + value).layers[0].options)
    return {str(k): str(v) for k, v in value.items()}


def small_stack(
    chain: str,
    options: Mapping[str, Mapping[str, object] | str] | None = None,
    registry: ModuleRegistry | None = None,
) -> str:
    """``chain`` with options that make each layer small and fast.

    :param chain: a stack string, e.g. ``"vswap>zswap>swapfile"``; options in
        it win over everything else.
    :param options: per module name, options to use instead of
        :data:`SMALL_OPTIONS` (a mapping or ``"k=v,k=v"``); a module author
        passes their own here.
    :param registry: when given, options a module does not declare are
        dropped (so a renamed option does not break every test).
    :return: the stack string, e.g.
        ``"vswap>zswap:ram=512K>swapfile:size=512K"``.
    """
    spec = parse_stack(chain)
    extra = {name: _as_dict(value) for name, value in (options or {}).items()}
    layers = []
    last = len(spec.layers) - 1
    for position, layer in enumerate(spec.layers):
        merged = dict(SMALL_OPTIONS.get(layer.module, {}))
        if position < last:
            merged.update(SMALL_OPTIONS_OVER.get(layer.module, {}))
        merged.update(extra.get(layer.module, {}))
        if registry is not None and layer.module in registry:
            declared = registry.get(layer.module).OPTIONS
            merged = {k: v for k, v in merged.items() if k in declared}
        merged.update(layer.option_dict())
        layers.append(LayerSpec(layer.module, tuple(merged.items())))
    return str(StackSpec(tuple(layers)))


def conformance_chains(
    registry: ModuleRegistry, modules: Iterable[str] = BUILTIN_MODULES, max_depth: int = 4
) -> list[str]:
    """Every valid chain of the installed ``modules`` (missing ones are left out)."""
    return valid_chains(registry, [m for m in modules if m in registry], max_depth=max_depth)


def chains_with(
    module: str,
    registry: ModuleRegistry,
    others: Iterable[str] = BUILTIN_MODULES,
    max_depth: int = 3,
) -> list[str]:
    """Valid chains that contain ``module``, stacked with the installed ``others``.

    A module author's list of stacks to prove: the module alone (if it may be
    the bottom) and under or over each built-in module.
    """
    names = [module, *(m for m in others if m in registry and m != module)]
    return [c for c in valid_chains(registry, names, max_depth=max_depth) if module in c.split(">")]


def backend_of(stack: str) -> str:
    """The stack below the top layer (what ``swapon(..., above=top)`` re-attaches)."""
    spec = parse_stack(stack)
    return str(StackSpec(spec.layers[1:]))


__all__ = [
    "BUILTIN_MODULES",
    "SMALL_OPTIONS",
    "SMALL_OPTIONS_OVER",
    "backend_of",
    "chains_with",
    "conformance_chains",
    "small_stack",
]
