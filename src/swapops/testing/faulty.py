"""The ``faulty`` module: fault injection between any two layers (like dm-flakey).

A transparent filter (``KIND = "filter"``): every operation passes through to
the device below, except that writes, reads or allocations fail on a schedule
or with a seeded probability:

* a failed **write** raises :class:`~swapops.errors.DeviceIOError` before the
  lower device sees it (nothing is written; the core then frees the slots and
  the folio stays with the caller);
* a failed **read** raises :class:`~swapops.errors.DeviceIOError` before the
  lower device is read (the stored copy is untouched, so a retry succeeds);
* a failed **allocation** returns ``-1``, as a full device does.

Schedules, all combinable, applying to the operations named in ``ops``
(``w`` write, ``r`` read, ``a`` alloc):

``every=N``
    fail every N-th such operation;
``probability=P``
    fail each with probability P, drawn from ``ctx.rng("faulty")`` (the run's
    seed and the layer's position: reproducible);
``up_interval=U,down_interval=D``
    dm-flakey's intervals in simulated nanoseconds: the device works for U ns,
    then fails for D ns, and so on (from simulated time 0).

At run time, :meth:`FaultyDevice.inject` fails the next ``count`` operations
of one kind, :meth:`FaultyDevice.set_probability` changes a probability,
:meth:`FaultyDevice.clear` stops every fault and :meth:`FaultyDevice.paused`
suspends them for a ``with`` block.

Register it with ``SwapSystem(plugins=[swapops.testing.faulty])`` (or through
an entry point ``faulty = "swapops.testing.faulty"`` in the ``swapops``
group) and stack it anywhere above another layer:
``"vswap>faulty:ops=r,every=3>swapfile:size=4M"``.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import swapops
from swapops.device import KINDS, SwapContext, SwapDevice
from swapops.errors import ConfigError, DeviceIOError
from swapops.folio import Folio
from swapops.options import Option
from swapops.registry import ModuleRegistry

OPS = ("write", "read", "alloc")
_LETTERS = {"w": "write", "r": "read", "a": "alloc"}


class FaultyDevice(SwapDevice):
    """A pass-through layer that fails operations on demand (test use)."""

    NAME = "faulty"
    KIND = "filter"
    LOWER_KINDS = frozenset(KINDS)
    NEEDS_LOWER = True
    MAX_IN_STACK = 4
    SUMMARY = "fault injection (like dm-flakey): fails writes, reads or allocations on a schedule"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "ops": Option("str", "wr", "operations the schedules apply to: letters w (write), r (read), a (alloc)"),
        "every": Option("int", 0, "fail every N-th such operation (0: never)", minimum=0),
        "probability": Option("float", 0.0, "chance that each such operation fails (seeded)",
                              minimum=0.0, maximum=1.0),
        "up_interval": Option("int", 0, "dm-flakey: simulated ns of normal service per period", minimum=0),
        "down_interval": Option("int", 0, "dm-flakey: simulated ns of failures per period (0: none)",
                                minimum=0),
    }

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        if lower is None:
            raise ConfigError("faulty needs a lower device")
        letters = str(self.options["ops"]).strip().lower()
        bad = sorted(set(letters) - set(_LETTERS))
        if bad:
            raise ConfigError(f"faulty: ops={letters!r}: unknown operation letter {bad[0]!r} (use w, r, a)")
        probability = float(self.options["probability"])
        if not 0.0 <= probability <= 1.0:  # also refuses NaN
            raise ConfigError(f"faulty: probability={probability} must be within 0..1")
        scheduled = {_LETTERS[c] for c in letters}
        self._every = int(self.options["every"])
        self._up = int(self.options["up_interval"])
        self._down = int(self.options["down_interval"])
        self._scheduled = scheduled
        self._probability = dict.fromkeys(OPS, 0.0)
        for op in scheduled:
            self._probability[op] = probability
        self._pending = dict.fromkeys(OPS, 0)
        self._seen = dict.fromkeys(OPS, 0)  # operations of each kind seen (for every=N)
        self._paused = 0
        self._rng = random.Random(0)
        self._clock: Any = None
        self.calls = dict.fromkeys(OPS, 0)
        self.failures = dict.fromkeys(OPS, 0)
        self._armed = False
        self._rearm()

    # -- lifecycle -------------------------------------------------------------

    @swapops.hookimpl
    def swapops_activate(self, ctx: SwapContext) -> None:
        # every operation passes through the lower_* names the builder bound
        self._rng = ctx.rng("faulty")
        self._clock = ctx.clock

    # -- fault control -----------------------------------------------------------

    def inject(self, op: str, count: int = 1) -> None:
        """Fail the next ``count`` operations of kind ``op`` (write, read or alloc)."""
        self._check_op(op)
        if count < 0:
            raise ConfigError(f"faulty: count {count} is negative")
        self._pending[op] += count
        self._rearm()

    def set_probability(self, op: str, probability: float) -> None:
        """Fail each ``op`` with this probability from now on (0 stops it)."""
        self._check_op(op)
        if not 0.0 <= probability <= 1.0:
            raise ConfigError(f"faulty: probability {probability} must be within 0..1")
        self._probability[op] = float(probability)
        self._rearm()

    def clear(self) -> None:
        """Stop every fault: pending injections, probabilities and schedules."""
        self._pending = dict.fromkeys(OPS, 0)
        self._probability = dict.fromkeys(OPS, 0.0)
        self._every = 0
        self._down = 0
        self._rearm()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No operation fails inside the ``with`` block (nothing is consumed either)."""
        self._paused += 1
        self._rearm()
        try:
            yield
        finally:
            self._paused -= 1
            self._rearm()

    @property
    def armed(self) -> bool:
        """Whether an operation may fail now."""
        return self._armed

    @staticmethod
    def _check_op(op: str) -> None:
        if op not in OPS:
            raise ConfigError(f"faulty: unknown operation {op!r} (one of {', '.join(OPS)})")

    def _rearm(self) -> None:
        self._armed = not self._paused and (
            any(self._pending.values())
            or any(self._probability.values())
            or (self._every > 0 and bool(self._scheduled))
            or (self._down > 0 and bool(self._scheduled))
        )

    def _fails(self, op: str) -> bool:
        """Decide (and count) whether this operation fails."""
        pending = self._pending
        if pending[op]:
            pending[op] -= 1
            if not pending[op]:
                self._rearm()
            return self._failed(op)
        if op in self._scheduled:
            self._seen[op] += 1
            if self._every and self._seen[op] % self._every == 0:
                return self._failed(op)
            if self._down and self._clock is not None and self._clock.now_ns % (self._up + self._down) >= self._up:
                return self._failed(op)
        p = self._probability[op]
        if p and self._rng.random() < p:
            return self._failed(op)
        return False

    def _failed(self, op: str) -> bool:
        self.failures[op] += 1
        return True

    # -- operations --------------------------------------------------------------

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        self.calls["alloc"] += 1
        if self._armed and self._fails("alloc"):
            return -1
        return self.lower_alloc(order)

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        self.lower_free(offset, nr)

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        self.calls["write"] += 1
        if self._armed and self._fails("write"):
            raise DeviceIOError(f"faulty: injected write error at slot {offset}")
        self.lower_write(offset, folio)

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        self.calls["read"] += 1
        if self._armed and self._fails("read"):
            raise DeviceIOError(f"faulty: injected read error at slot {offset}")
        self.lower_read(offset, folio)

    @swapops.hookimpl
    def swapops_discard(self, offset: int, nr: int) -> None:
        self.lower_discard(offset, nr)

    # unplug and tick: not passed on, the core calls them on every layer
    # (docs/hooks.md, the calling convention of a stack)

    # -- handle API ----------------------------------------------------------------

    # size and used: the base class's, the lower device's (a filter hands out its slots)

    @property
    def filename(self) -> str:
        return f"[faulty:{self.lower.filename if self.lower is not None else '-'}]"

    def stats(self) -> dict[str, int | float]:
        out: dict[str, int | float] = {"size": self.size, "used": self.used}
        for op in OPS:
            out[f"{op}s"] = self.calls[op]
            out[f"failed_{op}s"] = self.failures[op]
        return out


@swapops.hookimpl
def swapops_register_modules(registry: ModuleRegistry) -> None:
    registry.add(FaultyDevice)


__all__ = ["FaultyDevice", "OPS", "swapops_register_modules"]
