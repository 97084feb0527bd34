"""The ghost device: a swap area with no backing store (``SWP_GHOST``).

Its slots only give entries an identity: zswap above it keys its pool by them,
as it keys it by a swapfile's slots, but no page is ever written to the ghost
area. The model follows the ghost swapfile of Chris Li and Kairui Song's swap
table phase IV RFC (``docs/ghost.md``, ``docs/kernel.md`` §5):

* **swapon** (patches 13 and 14): a header-only swap file, or
  ``/dev/ghostswap``, whose ``si->max`` is "just a number": from ``size``
  (the header's ``last_page``), else the RAM rounded up to a cluster as
  ``/dev/ghostswap`` does. Slot 0 is the header, as on any swap area.
* **allocation**: the kernel's cluster allocator (:mod:`swapops.cluster`),
  large orders allowed (no block device, but no file either: the area is
  marked solid-state and never rotational). With ``dynamic`` (patch 15/15)
  clusters are allocated on first use and freed when they empty, so the
  modeled metadata is per cluster in use only (:func:`swapops.overhead.ghost_swapfile`).
* **a write that reaches it fails**: ``__swap_writepage()`` sets the folio
  dirty and returns ``AOP_WRITEPAGE_ACTIVATE``, so the page stays in memory.
  Here :class:`~swapops.errors.WriteActivateError`, an
  :class:`~swapops.errors.OutOfSwapSpaceError` for this page only (the page
  stays with the caller, the core frees the slots, reclaim goes on with other
  pages; ``docs/hooks.md``, write-errors). zswap's writeback to it fails the same way
  (``zswap_writeback_entry()`` returns ``-EINVAL``).
* **a read that reaches it fails**: ``swap_read_folio()`` leaves the folio not
  up to date after a zswap miss (the fault gets ``SIGBUS``). Nothing is ever
  stored here, so only a layer reading a slot it never wrote gets there:
  :class:`~swapops.errors.DeviceIOError`.
* ``HOLDS = "nothing"``: zswap above a ghost turns writeback off by default
  (patch 13: "zswap write back has been disabled if all swapfiles in the
  system are ghost swap files"), and "slots used" does not count its slots
  as storage (:mod:`swapops.metrics`).

Charging (for the memcg model to come): every allocated ghost slot is an
ordinary swap entry, charged to ``memory.swap.current`` at allocation as
mainline charges any slot; :attr:`GhostDevice.charged_slots` reports them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import swapops
from swapops import overhead
from swapops.cluster import ClusterAllocator
from swapops.constants import CLUSTER_SIZE, PAGE_SIZE
from swapops.device import SwapContext, SwapDevice
from swapops.errors import ConfigError, DeviceIOError, WriteActivateError
from swapops.folio import Folio
from swapops.options import Option


class GhostDevice(SwapDevice):
    """A ghost swap area: cluster-allocated slots with no backing store."""

    NAME = "ghost"
    KIND = "physical"
    HOLDS = "nothing"
    LOWER_KINDS: ClassVar[frozenset[str]] = frozenset()
    SUMMARY = "ghost swap area (SWP_GHOST): slots that only name zswap entries; writes fail, nothing stored"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "size": Option("size", None, "si->max in bytes, as a header-only swap file gives it "
                       "(default: the RAM rounded up to a cluster, as /dev/ghostswap)",
                       maximum=float(1 << 48)),
        "ram": Option("size", 1 << 30, "simulated RAM size, for the default size (default 1G)"),
        "dynamic": Option("bool", True, "clusters allocated on first use and freed when empty "
                          "(dynamic ghost swapfile, P4 RFC 15/15); false: a static cluster_info array"),
    }

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        size = self.options["size"]
        if size is None:
            ram_pages = self.options["ram"] // PAGE_SIZE
            self.nr_slots = -(-ram_pages // CLUSTER_SIZE) * CLUSTER_SIZE  # round_up(totalram, SWAPFILE_CLUSTER)
        else:
            self.nr_slots = size // PAGE_SIZE
        if self.nr_slots < 10:
            raise ConfigError(
                f"ghost: {self.nr_slots} pages is too small (a swap area needs at least 10 pages, 40 KiB)"
            )
        self.dynamic = bool(self.options["dynamic"])
        self.allocator: ClusterAllocator | None = None
        self.write_refused = 0  # pages whose write reached the ghost area (AOP_WRITEPAGE_ACTIVATE)
        self.read_refused = 0
        self.discards = 0

    # -- lifecycle -------------------------------------------------------------

    @swapops.hookimpl
    def swapops_activate(self, ctx: SwapContext) -> None:
        # Slot 0 is the header (read_swap_header / swap_cluster_setup_bad_slot);
        # SWP_SOLIDSTATE: per-CPU clusters; no extents, but clustered, so large orders.
        self.allocator = ClusterAllocator(self.nr_slots, bad_slots=[0], rotational=False)
        self._alloc = self.allocator.alloc
        self._free = self.allocator.free

    def fast_ops(self) -> Mapping[str, Callable[..., Any]]:
        return {"swapops_cluster_alloc": self._alloc}

    # -- cluster ---------------------------------------------------------------

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        return self._alloc(order)

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        self._free(offset, nr)

    # -- I/O -------------------------------------------------------------------

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        self.write_refused += 1 << folio.order
        raise WriteActivateError(
            f"ghost: slot {offset} has no backing store; the page stays in memory "
            "(__swap_writepage on SWP_GHOST: AOP_WRITEPAGE_ACTIVATE)"
        )

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        self.read_refused += 1
        raise DeviceIOError(f"ghost: slot {offset} holds no data (a ghost area stores nothing)")

    @swapops.hookimpl
    def swapops_discard(self, offset: int, nr: int) -> None:
        self.discards += nr  # nothing to trim

    def check_invariants(self) -> None:
        if self.allocator is not None:
            self.allocator.check_invariants()

    # -- handle API ------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.allocator.size if self.allocator is not None else 0

    @property
    def used(self) -> int:
        return self.allocator.used if self.allocator is not None else 0

    @property
    def charged_slots(self) -> int:
        """Slots charged as swap (mainline charges every allocated slot): all of ``used``."""
        return self.used

    @property
    def filename(self) -> str:
        return "/dev/ghostswap" if self.options["size"] is None else f"[ghost:{self.nr_slots * PAGE_SIZE >> 20}M]"

    @property
    def swap_type(self) -> str:
        return "ghost"  # swap_type_str() in patch 13/15

    def stats(self) -> dict[str, int | float]:
        out: dict[str, int | float] = {
            "size": self.size,
            "used": self.used,
            "charged_slots": self.charged_slots,
            "write_refused": self.write_refused,
            "read_refused": self.read_refused,
            "discards": self.discards,
        }
        if self.allocator is not None:
            a = self.allocator.stats()
            out["clusters_in_use"] = a["clusters_with_table"]
        return out

    def kernel_overhead(self) -> dict[str, float]:
        """Modeled kernel metadata (:func:`swapops.overhead.ghost_swapfile`): dynamic,
        72 B of ``swap_cluster_info_dynamic`` and a 4 KiB swap table per cluster in use;
        static, P4's 48 B per cluster at swapon plus the tables in use. The header's
        cluster is in use from swapon on (slot 0 is bad), so it counts as static."""
        if self.allocator is None:
            return super().kernel_overhead()
        model = overhead.ghost_swapfile(self.nr_slots, dynamic=self.dynamic)
        in_use = self.allocator.stats()["clusters_with_table"]
        return model.report(self.allocator.used, in_use, reserved_clusters=1)


__all__ = ["GhostDevice"]
