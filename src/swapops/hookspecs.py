"""The swapops hook specifications: the kernel's ``swap_ops`` as pluggy specs.

Two kinds of hook live here.

*Module hooks* are broadcast to every loaded plugin: a plugin announces its
device types (``swapops_register_modules``) and may observe lifecycle events.
They run a handful of times per swapon, never per page.

*Device operations* (class :class:`DeviceOps`) mirror ``struct swap_ops``:
cluster allocate/free, folio write/read, unplug, discard, plus activation at
swapon and deactivation at swapoff. A device instance implements them as
methods marked with :data:`swapops.hookimpl`; at swapon the device is
registered with the system's plugin manager (pluggy validates every method's
signature against these specs) and the core resolves the methods once into a
dispatch table, like ``init_swap_ops()``. The per-page path then calls plain
bound methods; it never broadcasts through pluggy.

Mandatory operations (swapon fails without them, as ``init_swap_ops`` returns
-EINVAL without ``read_folio``/``write_folio``): ``swapops_cluster_alloc``,
``swapops_cluster_free``, ``swapops_write_folio``, ``swapops_read_folio``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .device import SwapContext, SwapDevice
    from .folio import Folio
    from .registry import ModuleRegistry
    from .system import SwapSystem

PROJECT = "swapops"
hookspec = pluggy.HookspecMarker(PROJECT)

MANDATORY_OPS = (
    "swapops_cluster_alloc",
    "swapops_cluster_free",
    "swapops_write_folio",
    "swapops_read_folio",
)
OPTIONAL_OPS = (
    "swapops_unplug",
    "swapops_discard",
    "swapops_activate",
    "swapops_deactivate",
    "swapops_tick",
    "swapops_detach_lower",
    "swapops_attach_lower",
)
#: Every device operation: the ``swapops_*`` names a device may define.
DEVICE_OPS = MANDATORY_OPS + OPTIONAL_OPS

# --------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------


@hookspec
def swapops_register_modules(registry: ModuleRegistry) -> None:
    """Announce the device types (swap modules) a plugin provides.

    Called once per plugin manager after plugins are loaded. Call
    ``registry.add(DeviceClass)`` for each type; the class's ``NAME`` is the
    module name used in stack strings (``"zswap>swapfile"``). Adding a name
    twice raises :class:`swapops.InvalidStackError`.

    :param registry: the :class:`swapops.registry.ModuleRegistry` of the system.
    """


# --------------------------------------------------------------------------
# Lifecycle events (observers; not per page)
# --------------------------------------------------------------------------


@hookspec
def swapops_swapon(system: SwapSystem, device: SwapDevice) -> None:
    """A stack was activated; ``device`` is its top layer.

    Called after every layer's ``swapops_activate`` succeeded and the stack
    entered the swap area table. For observers (tracing, metrics).

    :param system: the :class:`swapops.SwapSystem` that swapped on.
    :param device: the top device of the new stack.
    """


@hookspec
def swapops_swapoff(system: SwapSystem, device: SwapDevice) -> None:
    """A device was taken out of service; ``device`` is the layer removed.

    Called after its entries were moved away and ``swapops_deactivate`` ran.

    :param system: the :class:`swapops.SwapSystem`.
    :param device: the device (top of a stack, or a layer detached from below vswap).
    """


@hookspec
def swapops_trace(device: SwapDevice, op: str, args: tuple[object, ...]) -> None:
    """One device operation, reported only when ``SWAPOPS_TRACE_HOOKS=1``.

    With tracing on, the dispatch table wraps each bound operation so every
    call is broadcast here before it runs; hook wrappers can observe every
    allocation and I/O. Off by default: it costs microseconds per call.

    :param device: the device whose operation is called.
    :param op: the operation name, e.g. ``"swapops_write_folio"``.
    :param args: the positional arguments of the call.
    """


# --------------------------------------------------------------------------
# Device operations (the swap_ops table), implemented as device methods
# --------------------------------------------------------------------------


class DeviceOps:
    """Specs of the per-device operations; ``self`` is the device.

    A device class implements these as methods decorated with
    ``@swapops.hookimpl``. Offsets are slot numbers in the device's own slot
    space; ``nr`` counts slots; a folio of order ``n`` covers ``2**n`` slots.
    """

    # -- cluster ------------------------------------------------------------

    @hookspec
    def swapops_cluster_alloc(self, order: int) -> int:  # type: ignore[empty-body]
        """Allocate ``2**order`` contiguous, naturally aligned slots.

        :param order: folio order, 0..9.
        :return: the first slot's offset, or ``-1`` when this device has no
            such run (the caller tries the next device, or splits the folio).
        """

    @hookspec
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        """Release ``nr`` slots from ``offset``; their contents are dead.

        Flows down the stack: zswap invalidates its entry, flashbuf its buffer
        or segment page, a physical device may queue a discard.

        :param offset: first slot.
        :param nr: number of slots, a run previously allocated (or part of one).
        """

    # -- I/O ----------------------------------------------------------------

    @hookspec
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        """Store ``folio`` at the allocated slots starting at ``offset``.

        May be called again for slots already written (a dirty swap-cache
        folio written back to its slot). On failure raise
        :class:`swapops.OutOfSwapSpaceError` (no room for it) or
        :class:`swapops.DeviceIOError` (the storage failed), nothing else,
        and leave no state behind: the core frees the slots and the folio
        stays with the caller (``docs/hooks.md``, Errors).

        :param offset: first slot, from ``swapops_cluster_alloc``.
        :param folio: the folio; ``folio.data`` is ``4096 << folio.order`` bytes.
        """

    @hookspec
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        """Fill ``folio.data`` from the slots starting at ``offset``.

        ``folio.order`` says how many slots. A load that consumes the stored
        copy (zswap's exclusive load) sets ``folio.dirty = True``. On failure
        raise :class:`swapops.DeviceIOError`; the entry stays intact.

        :param offset: first slot.
        :param folio: an empty folio of the right order to fill.
        """

    @hookspec
    def swapops_unplug(self) -> None:
        """Submit anything batched or buffered (``swap_ops.unplug`` in v7)."""

    @hookspec
    def swapops_discard(self, offset: int, nr: int) -> None:
        """The upper layer no longer needs these slots' contents (TRIM hint).

        :param offset: first slot.
        :param nr: number of slots.
        """

    # -- lifecycle ----------------------------------------------------------

    @hookspec
    def swapops_activate(self, ctx: SwapContext) -> None:
        """swapon: bring the device into service (open files, read headers).

        Raise a :class:`swapops.SwapOpsError` to refuse; swapon then fails
        and no layer of the stack stays active.

        :param ctx: the system's clock, seed and page size.
        """

    @hookspec
    def swapops_deactivate(self) -> None:
        """swapoff: flush and release everything; called once no entry is live."""

    @hookspec
    def swapops_tick(self, now_ns: int) -> None:
        """Simulated time advanced to ``now_ns`` (flush timers and the like).

        :param now_ns: the system clock, in simulated nanoseconds.
        """

    # -- backends below a virtual layer ------------------------------------------

    @hookspec
    def swapops_detach_lower(self) -> Mapping[str, int]:  # type: ignore[empty-body]
        """swapoff of the device below: move every entry off it, touch no page table.

        Only a layer that owns the mapping from its entries to their backing
        (vswap) can do this: it reads each entry backed below and repoints it
        to memory (FOLIO) or another backend, then drops its ``lower``. Layers
        without this operation make swapoff of their lower device fail with
        :class:`swapops.DeviceBusyError`.

        :return: counters of the work done; at least ``entries_moved``.
        """

    @hookspec
    def swapops_attach_lower(self, lower: SwapDevice) -> None:
        """A new, already activated stack becomes this layer's lower device.

        :param lower: the top device of the new backend stack.
        """
