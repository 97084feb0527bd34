"""Entry point of the ``ghost`` module (group ``swapops``)."""

from __future__ import annotations

import swapops
from swapops.registry import ModuleRegistry

from .device import GhostDevice


@swapops.hookimpl
def swapops_register_modules(registry: ModuleRegistry) -> None:
    registry.add(GhostDevice)
