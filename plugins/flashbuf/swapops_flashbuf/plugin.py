"""Entry point of the ``flashbuf`` module (group ``swapops``)."""

from __future__ import annotations

import swapops
from swapops.registry import ModuleRegistry

from .device import FlashbufDevice


@swapops.hookimpl
def swapops_register_modules(registry: ModuleRegistry) -> None:
    registry.add(FlashbufDevice)
