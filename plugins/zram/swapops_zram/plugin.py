"""Entry point of the ``zram`` module (group ``swapops``)."""

from __future__ import annotations

import swapops
from swapops.registry import ModuleRegistry

from .device import ZramDevice


@swapops.hookimpl
def swapops_register_modules(registry: ModuleRegistry) -> None:
    registry.add(ZramDevice)
