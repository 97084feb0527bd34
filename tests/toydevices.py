"""Small device types for testing the core without the built-in modules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import swapops
from swapops import Folio, Option, SwapDevice
from swapops.errors import DeviceIOError


class ToyRam(SwapDevice):
    """A bump-and-freelist slot allocator over a dict: the simplest physical device."""

    NAME = "toyram"
    KIND = "physical"
    OPTIONS: Mapping[str, Option] = {"size": Option("size", 1 << 20), "fail_writes": Option("int", 0)}

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        self.nr = options["size"] // 4096
        self.slots: dict[int, bytes] = {}
        self.allocated: set[int] = set()
        self.fail_writes = options["fail_writes"]
        self.events: list[str] = []

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        n = 1 << order
        for start in range(0, self.nr - n + 1, n):
            if not any(s in self.allocated for s in range(start, start + n)):
                self.allocated.update(range(start, start + n))
                return start
        return -1

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        for s in range(offset, offset + nr):
            self.allocated.remove(s)
            self.slots.pop(s, None)

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise DeviceIOError("toyram: injected write error")
        self.slots[offset] = folio.data

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        folio.data = self.slots[offset]

    @swapops.hookimpl
    def swapops_activate(self, ctx: swapops.SwapContext) -> None:
        self.events.append("activate")

    @swapops.hookimpl
    def swapops_deactivate(self) -> None:
        self.events.append("deactivate")

    @property
    def size(self) -> int:
        return self.nr

    @property
    def used(self) -> int:
        return len(self.allocated)


class ToyCache(SwapDevice):
    """A pass-through cache layer: exercises stacking rules and exclusive loads."""

    NAME = "toycache"
    KIND = "cache"
    LOWER_KINDS = frozenset({"physical"})
    NEEDS_LOWER = True
    OPTIONS: Mapping[str, Option] = {"exclusive": Option("bool", False)}

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        self.held: dict[int, bytes] = {}

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        assert self.lower is not None and self.lower.ops is not None
        return self.lower.ops.alloc(order)

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        assert self.lower is not None and self.lower.ops is not None
        self.held.pop(offset, None)
        self.lower.ops.free(offset, nr)

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        self.held[offset] = folio.data

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        if self.options["exclusive"]:
            folio.data = self.held.pop(offset)
            folio.dirty = True
        else:
            folio.data = self.held[offset]

    @property
    def size(self) -> int:
        assert self.lower is not None
        return self.lower.size

    @property
    def used(self) -> int:
        assert self.lower is not None
        return self.lower.used


class NoRead(SwapDevice):
    """Lacks the mandatory read operation: swapon must refuse it."""

    NAME = "noread"
    KIND = "physical"

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        return 0

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        return None

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        return None

    size = 1
    used = 0


class ToyPlugin:
    """A plugin object registering the toy modules."""

    @swapops.hookimpl
    def swapops_register_modules(self, registry: swapops.ModuleRegistry) -> None:
        registry.add(ToyRam)
        registry.add(ToyCache)
        registry.add(NoRead)
