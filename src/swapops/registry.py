"""Plugin discovery: one plugin manager per SwapSystem, modules by entry point.

Built-in modules (``swapfile``, ``vswap``, ``zswap``, ``flashbuf``) load through
the ``swapops`` entry-point group exactly like third-party ones; the core never
imports them. A plugin that fails to load is reported by name and skipped.
``SWAPOPS_DISABLE_PLUGIN_AUTOLOAD=1`` turns autoloading off (pass plugins
explicitly then).
"""

from __future__ import annotations

import importlib.metadata
import os
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .device import KINDS, SwapDevice
from .errors import InvalidStackError, UnknownModuleError

PROJECT = hookspecs.PROJECT
ENTRY_POINT_GROUP = PROJECT
hookimpl = pluggy.HookimplMarker(PROJECT)


class SwapPluginWarning(UserWarning):
    """A plugin could not be loaded or registered; it was skipped."""


class _PluginManager(pluggy.PluginManager):
    """Only ``swapops_*`` attributes are hooks; others (properties) are never touched."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        if not name.startswith("swapops_"):
            return None
        return super().parse_hookimpl_opts(plugin, name)


@attrs.define
class ModuleInfo:
    """A registered module: its class and where it came from."""

    name: str
    cls: type[SwapDevice]
    plugin: str  # the plugin (entry point) name that registered it
    distribution: str
    version: str


class ModuleRegistry:
    """Device types by module name, filled by ``swapops_register_modules``."""

    def __init__(self) -> None:
        self._modules: dict[str, ModuleInfo] = {}
        self._source: tuple[str, str, str] = ("<direct>", "", "")

    def add(self, cls: type[SwapDevice]) -> None:
        """Register a device class under ``cls.NAME``; a name is taken once."""
        name = getattr(cls, "NAME", "")
        if not isinstance(name, str) or not name or not name.replace("_", "").replace("-", "").isalnum():
            raise InvalidStackError(f"module class {cls.__qualname__} needs a NAME of letters, digits, - or _")
        if name in self._modules:
            other = self._modules[name]
            raise InvalidStackError(
                f"module {name!r} registered twice (by {other.plugin} and by {self._source[0]})"
            )
        kind = getattr(cls, "KIND", None)
        if kind not in KINDS:
            raise InvalidStackError(f"module {name!r}: KIND {kind!r} is not one of {', '.join(KINDS)}")
        plugin, dist, version = self._source
        self._modules[name] = ModuleInfo(name, cls, plugin, dist, version)

    def get(self, name: str) -> type[SwapDevice]:
        try:
            return self._modules[name].cls
        except KeyError:
            known = ", ".join(sorted(self._modules)) or "none installed"
            raise UnknownModuleError(f"unknown swap module {name!r} (modules: {known})") from None

    def info(self, name: str) -> ModuleInfo:
        self.get(name)
        return self._modules[name]

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._modules))

    def __len__(self) -> int:
        return len(self._modules)

    def modules(self) -> list[ModuleInfo]:
        return [self._modules[n] for n in sorted(self._modules)]


def make_plugin_manager(
    *,
    autoload: bool | None = None,
    plugins: Iterable[Any] = (),
    blocked: Iterable[str] = (),
) -> tuple[pluggy.PluginManager, ModuleRegistry, list[str]]:
    """A fresh plugin manager with the specs, the plugins and a filled registry.

    :param autoload: load the ``swapops`` entry points; default: unless
        ``SWAPOPS_DISABLE_PLUGIN_AUTOLOAD`` is set.
    :param plugins: extra plugin objects (modules or instances) to register.
    :param blocked: entry-point names not to load.
    :return: the manager, the registry and the list of load failures (one
        line each, also issued as :class:`SwapPluginWarning`).
    """
    pm = _PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.add_hookspecs(hookspecs.DeviceOps)
    for name in blocked:
        pm.set_blocked(name)
    if autoload is None:
        autoload = not os.environ.get("SWAPOPS_DISABLE_PLUGIN_AUTOLOAD")
    failures: list[str] = []
    sources: dict[int, tuple[str, str, str]] = {}
    if autoload:
        for ep in _entry_points():
            if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
                continue
            dist = ep.dist.name if ep.dist is not None else ""
            version = ep.dist.version if ep.dist is not None else ""
            try:
                plugin = ep.load()
                pm.register(plugin, name=ep.name)
            except Exception as exc:  # a broken third-party plugin must not take us down
                failures.append(f"plugin {ep.name!r} ({dist or ep.value}) failed to load: {exc}")
                continue
            sources[id(plugin)] = (ep.name, dist, version)
    for plugin in plugins:
        if pm.is_registered(plugin):
            continue
        name = getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{id(plugin):x}"
        pm.register(plugin, name=name)
        sources.setdefault(id(plugin), (name, "", ""))
    registry = ModuleRegistry()
    for impl in pm.hook.swapops_register_modules.get_hookimpls():
        registry._source = sources.get(id(impl.plugin), (impl.plugin_name, "", ""))
        try:
            impl.function(registry=registry)
        except InvalidStackError:
            raise
        except Exception as exc:
            failures.append(f"plugin {impl.plugin_name!r} failed to register its modules: {exc}")
    registry._source = ("<direct>", "", "")
    for line in failures:
        warnings.warn(f"swapops: {line}; skipped", SwapPluginWarning, stacklevel=2)
    return pm, registry, failures


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    seen: set[str] = set()
    unique = []
    for ep in sorted(eps, key=lambda e: e.name):
        if ep.name not in seen:  # an editable install can list a distribution twice
            seen.add(ep.name)
            unique.append(ep)
    return unique
