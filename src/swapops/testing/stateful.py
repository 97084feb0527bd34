"""A hypothesis state machine that drives swap stacks through the public API.

:class:`SwapStackMachine` swaps out folios of mixed orders (zero, compressible
and random contents), forks (``swap_dup``), frees, swaps in (with or without
pinning the swap cache), drops the swap cache, unplugs, advances simulated
time, swaps devices off and on again (with or without a page-table owner),
swaps a virtual layer's backend off and back on, and, when a stack holds a
fault-injection layer, arms faults. After every step it checks:

* every live entry reads back identical (in :meth:`~SwapStackMachine.check_contents`,
  on every swap-in, at swapoff and at the end);
* no slot of a live entry is handed out again (the model's slot map);
* at every layer ``0 <= used <= size`` and ``used + free == size``; the top
  device's ``used`` is exactly the slots the live entries cover; ``/proc/swaps``
  and ``nr_entries()`` agree;
* no counter of the system or of any layer is negative;
* with no live entry left, every layer is back to what it used at swapon.

A failed write (out of space, or an injected I/O error) must leave the page
with the caller and nothing allocated; a failed read must raise
:class:`~swapops.errors.DeviceIOError` and leave the entry intact, so a retry
reads it back.

One machine drives one or more *lanes*: a lane is a :class:`swapops.SwapSystem`
with one stack, or several side by side with priorities. Several lanes run
the same operations in lockstep (the differential machine) and must give the
same contents. Run it with :func:`run_conformance` / :func:`run_differential`
or the ``swapops_conformance`` pytest fixture.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import attrs
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from swapops.device import SwapDevice
from swapops.errors import (
    DeviceIOError,
    FolioSplitRequired,
    InvalidEntryError,
    OutOfSwapSpaceError,
)
from swapops.folio import MAX_ORDER, Folio
from swapops.system import SwapoffReport, SwapSystem

from .model import (
    Entry,
    Lane,
    ModelError,
    Page,
    Placement,
    SwapModel,
    entry_parts,
    first_difference,
)
from .stacks import backend_of
from .strategies import KINDS, folio_bytes, folio_specs

F = TypeVar("F", bound=Callable[..., Any])

PICK = st.integers(0, 255)  # an index into a list of candidates (modulo its length)
FAULT_OPS = ("write", "read", "alloc")
FAULT_MODES = ("1", "2", "3", "p=0.1", "p=0.3", "p=0.6", "clear")
MAX_REFS = 64
BATCHES = (1, 1, 2, 4, 16)
HOUSEKEEPING = ("check", "reclaim", "unplug", "advance:10000", "advance:1000000", "advance:100000000", "advance:2000000000", "swapoff", "swapoff+owner")


# The rules of docs/hooks.md ("Errors") a failed operation is held to; the
# machine names the one broken when it rejects an error.
RULES = {
    "write-errors": "a failed write raises OutOfSwapSpaceError (no room) or DeviceIOError (the storage "
                    "failed), nothing else",
    "read-errors": "a failed read raises DeviceIOError and leaves the entry intact",
    "io-errors-only-from-storage": "DeviceIOError means the storage failed; with no fault injected a "
                                   "device must not raise it",
}


def rule_broken(where: str, rule: str, exc: BaseException) -> ModelError:
    """The :class:`ModelError` for an error that breaks ``rule`` (a key of :data:`RULES`)."""
    return ModelError(
        f"{where}: rule {rule} broken ({RULES[rule]}; docs/hooks.md#errors): got {type(exc).__name__}: {exc}"
    )


@attrs.frozen
class StackPlan:
    """A stack to swap on: its stack string and priority."""

    spec: str
    priority: int = -1


@attrs.frozen
class LanePlan:
    """One system's stacks (several = side by side, with their priorities)."""

    stacks: tuple[StackPlan, ...]

    @property
    def name(self) -> str:
        return " + ".join(s.spec if len(self.stacks) == 1 else f"{s.spec} (prio {s.priority})" for s in self.stacks)


@attrs.frozen
class MachineConfig:
    """What a :class:`SwapStackMachine` drives.

    :param lanes: the systems run in lockstep (one for a conformance test).
    :param plugins: plugin objects each system registers (e.g. a module under
        test that has no entry point yet, or :mod:`swapops.testing.faulty`).
    :param autoload: load the ``swapops`` entry points (default: as SwapSystem).
    :param seed: the systems' seed.
    :param max_order: largest folio order swapped out (0..9; default 9, every
        order a built-in module supports).
    :param max_live: at most this many pages referenced at once.
    :param kinds: folio content kinds (``zero``, ``compressible``, ``random``, ``mixed``).
    :param swapoff: include the swapoff/swapon rules.
    """

    lanes: tuple[LanePlan, ...]
    plugins: tuple[Any, ...] = ()
    autoload: bool | None = None
    seed: int = 0
    max_order: int = MAX_ORDER
    max_live: int = 40
    kinds: tuple[str, ...] = KINDS
    swapoff: bool = True

    def __attrs_post_init__(self) -> None:
        if not self.lanes or any(not lane.stacks for lane in self.lanes):
            raise ValueError("a machine needs at least one lane with at least one stack")
        if not 0 <= self.max_order <= MAX_ORDER:
            raise ValueError(f"max_order {self.max_order} outside 0..{MAX_ORDER}")

    @property
    def name(self) -> str:
        return " | ".join(lane.name for lane in self.lanes)


StackArg = str | StackPlan | tuple[str, int]


def _plan(stack: StackArg) -> StackPlan:
    if isinstance(stack, StackPlan):
        return stack
    if isinstance(stack, tuple):
        return StackPlan(stack[0], stack[1])
    return StackPlan(stack)


def side_by_side(*stacks: StackArg, **options: Any) -> MachineConfig:
    """One system with every stack swapped on (``(spec, priority)`` pairs for priorities)."""
    return MachineConfig(lanes=(LanePlan(tuple(_plan(s) for s in stacks)),), **options)


def lockstep(*stacks: StackArg, **options: Any) -> MachineConfig:
    """One system per stack, driven in lockstep (the differential machine)."""
    return MachineConfig(lanes=tuple(LanePlan((_plan(s),)) for s in stacks), **options)


def conformance_settings(examples: float = 1.0, steps: float = 1.0, **overrides: Any) -> settings:
    """Settings scaled from the conformance profile (``ci``, ``dev``, ``deep``, ``smoke``).

    The profile is the active hypothesis profile when it is one of those
    (``--hypothesis-profile=deep``), else ``SWAPOPS_HYPOTHESIS_PROFILE``
    (default ``ci``). ``examples`` and ``steps`` multiply its ``max_examples``
    and ``stateful_step_count``, so a test declares its share of the budget
    once and a deeper profile makes every test deeper.
    """
    base = _conformance_profile()
    values: dict[str, Any] = {
        "max_examples": max(1, round(base.max_examples * examples)),
        "stateful_step_count": max(2, round(base.stateful_step_count * steps)),
        "deadline": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    }
    if _is_profile(base, "ci"):
        # CI reports a failure at once, with its whole step list: shrinking a
        # long stateful run can take minutes. Rerun with the dev profile to shrink.
        values["phases"] = [p for p in base.phases if p is not Phase.shrink]
    values.update(overrides)
    return settings(base, **values)


PROFILES = ("ci", "dev", "deep", "smoke")


def _conformance_profile() -> settings:
    current = settings.default or settings()
    if any(_is_profile(current, name) for name in PROFILES):
        return current
    try:
        return settings.get_profile(os.environ.get("SWAPOPS_HYPOTHESIS_PROFILE", "ci"))
    except Exception:  # not registered: the pytest plugin is not loaded
        return current


def _is_profile(current: settings, name: str) -> bool:
    try:
        return current is settings.get_profile(name)
    except Exception:  # not registered (the pytest plugin registers ci, dev, deep)
        return False


def _step(fn: F) -> F:
    """Mark the machine unclean while a rule or invariant runs (teardown then skips its checks)."""

    @functools.wraps(fn)
    def wrapper(self: SwapStackMachine, *args: Any, **kwargs: Any) -> Any:
        self._clean = False
        result = fn(self, *args, **kwargs)
        self._clean = True
        return result

    return wrapper  # type: ignore[return-value]


class _ModelOwner:
    """The page-table owner at swapoff (``SwapOwner``): brings back every page of the area."""

    def __init__(self, machine: SwapStackMachine, li: int) -> None:
        self.machine = machine
        self.li = li
        self.visits = 0

    def unuse(self, system: SwapSystem, swap_type: int) -> int:
        machine = self.machine
        lane = machine.model.lanes[self.li]
        for pid, placement in list(lane.swapped()):
            if any(e[0] == swap_type for e in placement.entries):
                page = machine.model.pages[pid]
                ptes = page.refs * sum(1 for e in placement.entries if e[0] == swap_type)
                machine._bring_back(self.li, pid, placement)
                self.visits += ptes
        return self.visits


class SwapStackMachine(RuleBasedStateMachine):
    """Drives the lanes of a :class:`MachineConfig` and checks them against :class:`SwapModel`.

    Construct it with a config (``run_state_machine_as_test(lambda:
    SwapStackMachine(cfg))``), or subclass it with a class attribute
    ``config`` to use ``SwapStackMachine.TestCase``-style.
    """

    config: MachineConfig | None = None

    def __init__(self, config: MachineConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else type(self).config
        if cfg is None:
            raise TypeError("SwapStackMachine needs a MachineConfig (argument or class attribute)")
        self.cfg = cfg
        self._clean = False
        self.model = SwapModel([Lane(lane.name) for lane in cfg.lanes])
        self.systems: list[SwapSystem] = []
        self.plans: list[list[StackPlan]] = []
        self.tops: list[list[SwapDevice]] = []
        self._baseline: dict[int, tuple[SwapDevice, int]] = {}
        for lane in cfg.lanes:
            system = SwapSystem(seed=cfg.seed, plugins=list(cfg.plugins), autoload=cfg.autoload)
            self.systems.append(system)
            self.plans.append(list(lane.stacks))
            tops = []
            for plan in lane.stacks:
                top = system.swapon(plan.spec, priority=plan.priority)
                self._note_layers(top)
                tops.append(top)
            self.tops.append(tops)
        self._clean = True

    # ------------------------------------------------------------------ helpers

    def _note_layers(self, top: SwapDevice) -> None:
        """Remember what each new layer uses right after swapon (flashbuf claims its lower)."""
        for dev in top.layers():
            self._baseline.setdefault(id(dev), (dev, dev.used))

    def _faulty(self, li: int | None = None) -> list[Any]:
        """Fault-injection layers (anything with ``inject``/``clear``/``paused``/``armed``)."""
        lanes = range(len(self.tops)) if li is None else (li,)
        found = []
        for i in lanes:
            for top in self.tops[i]:
                for dev in top.layers():
                    if callable(getattr(dev, "inject", None)) and callable(getattr(dev, "paused", None)):
                        found.append(dev)
        return found

    def _armed(self, li: int) -> bool:
        return any(dev.armed for dev in self._faulty(li))

    @contextlib.contextmanager
    def _faults_paused(self, li: int | None = None) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for dev in self._faulty(li):
                stack.enter_context(dev.paused())
            yield

    def _footprint(self, li: int) -> tuple[int, tuple[int, ...]]:
        return self.systems[li].nr_entries(), tuple(top.used for top in self.tops[li])

    def _check_unchanged(self, li: int, before: tuple[int, tuple[int, ...]], what: str) -> None:
        after = self._footprint(li)
        if after != before:
            raise ModelError(
                f"{self.model.lanes[li].name}: {what} changed the system: (entries, used per stack) "
                f"went from {before} to {after}; the page must stay with the caller and nothing be allocated"
            )

    @staticmethod
    def _alive(system: SwapSystem, entry: Entry) -> bool:
        try:
            system.swap_count(entry)
        except InvalidEntryError:
            return False
        return True

    def _referenced_pid(self, pick: int) -> int:
        pids = self.model.referenced()
        return pids[pick % len(pids)]

    def _swapped(self) -> list[tuple[int, int]]:
        return [(li, pid) for li, lane in enumerate(self.model.lanes) for pid, _ in lane.swapped()]

    def _held(self) -> list[tuple[int, int]]:
        return [
            (li, pid)
            for li, lane in enumerate(self.model.lanes)
            for pid, placement in sorted(lane.placements.items())
            if placement.held
        ]

    def _orphans(self) -> list[tuple[int, Entry]]:
        return [(li, e) for li, lane in enumerate(self.model.lanes) for e in sorted(lane.cache_only)]

    def _stacks(self) -> list[tuple[int, int]]:
        return [(li, si) for li, tops in enumerate(self.tops) for si in range(len(tops))]

    def _detachable(self, attached: bool) -> list[tuple[int, int]]:
        """Tops that can swap their backend off (vswap), with or without one attached."""
        return [
            (li, si)
            for li, si in self._stacks()
            if getattr(self.tops[li][si], "swapops_detach_lower", None) is not None
            and (self.tops[li][si].lower is not None) == attached
            and len(self.plans[li][si].spec.split(">")) > 1
        ]

    # ------------------------------------------------------------------ placing pages

    def _place(self, li: int, page: Page) -> list[Entry] | None:
        """Swap ``page`` out in lane ``li`` with ``page.refs`` references; None if refused."""
        system = self.systems[li]
        may_fail = self._armed(li)
        before = self._footprint(li)
        try:
            entries = [system.swap_out(Folio(page.data))]
        except FolioSplitRequired:
            event("swap_out: split required")
            split = self._place_split(li, page, may_fail, before)
            if split is None:
                return None
            entries = split
        except OutOfSwapSpaceError:
            event("swap_out: out of space")
            self._check_unchanged(li, before, "a refused swap_out")
            return None
        except DeviceIOError as exc:
            if not may_fail:
                raise rule_broken(self.model.lanes[li].name, "io-errors-only-from-storage", exc) from exc
            event("fault: swap_out failed")
            self._check_unchanged(li, before, "a failed write")
            return None
        except (ModelError, AssertionError):
            raise
        except Exception as exc:
            raise rule_broken(self.model.lanes[li].name, "write-errors", exc) from exc
        lane = self.model.lanes[li]
        order = page.order if len(entries) == 1 else 0
        for entry in entries:
            lane.claim(entry, order)
        for _ in range(page.refs - 1):
            for entry in entries:
                system.swap_dup(entry)
        return entries

    def _place_split(
        self, li: int, page: Page, may_fail: bool, before: tuple[int, tuple[int, ...]]
    ) -> list[Entry] | None:
        """FolioSplitRequired: swap the subpages out one by one (all or none)."""
        system = self.systems[li]
        done: list[Entry] = []
        for sub in Folio(page.data).split():
            try:
                done.append(system.swap_out(sub))
            except (OutOfSwapSpaceError, DeviceIOError) as exc:
                if isinstance(exc, DeviceIOError) and not may_fail:
                    raise rule_broken(self.model.lanes[li].name, "io-errors-only-from-storage", exc) from exc
                event("swap_out: split folio refused")
                for entry in done:
                    system.swap_free(entry)
                self._check_unchanged(li, before, "an undone split swap_out")
                return None
        return done

    def _settle(self, li: int, page: Page, placement: Placement, skip_type: int | None = None) -> None:
        """The page's last reference is gone in lane ``li``: its entries are freed,
        except those pinned in the swap cache, which live on with count 0.
        Entries of ``skip_type`` (an area just swapped off) are left out."""
        system = self.systems[li]
        lane = self.model.lanes[li]
        for entry, order, data in entry_parts(page, placement):
            if entry[0] == skip_type:
                continue
            if self._alive(system, entry):
                if not placement.pinned:
                    raise ModelError(
                        f"{lane.name}: entry {entry} survived its last reference without a swap-cache pin"
                    )
                if system.swap_count(entry) != 0:
                    raise ModelError(f"{lane.name}: entry {entry} kept references after its last free")
                lane.cache_only[entry] = (order, data)
                event("entry lives on in the swap cache")
            else:
                lane.release(entry, order)
        placement.entries = []
        placement.pinned = False

    def _unref(self, pid: int) -> None:
        """Drop one page-table reference of page ``pid`` in every lane."""
        page = self.model.pages[pid]
        page.refs -= 1
        for li, lane in enumerate(self.model.lanes):
            placement = lane.placements.get(pid)
            if placement is None:
                continue
            for entry in placement.entries:
                left = self.systems[li].swap_free(entry)
                if left != page.refs:
                    raise ModelError(f"{lane.name}: swap_free({entry}) left {left}, expected {page.refs}")
            if not page.refs:
                if placement.entries:
                    self._settle(li, page, placement)
                del lane.placements[pid]
        if not page.refs:
            self.model.forget(pid)

    def _read(self, li: int, pid: int, cache: bool = False) -> None:
        """Swap in every entry of page ``pid`` in lane ``li`` and compare with the model."""
        system = self.systems[li]
        lane = self.model.lanes[li]
        page = self.model.pages[pid]
        placement = lane.placements[pid]
        may_fail = self._armed(li)
        if cache:
            placement.pinned = True
        try:
            parts = [system.swap_in(entry, cache=cache).data for entry in placement.entries]
        except DeviceIOError as exc:
            if not may_fail:
                raise rule_broken(lane.name, "io-errors-only-from-storage", exc) from exc
            event("fault: swap_in failed")
            for entry in placement.entries:  # the entry is intact ...
                if system.swap_count(entry) != page.refs:
                    raise ModelError(f"{lane.name}: a failed read changed the count of {entry}") from None
            with self._faults_paused(li):  # ... and a retry reads it back
                parts = [system.swap_in(entry).data for entry in placement.entries]
        data = b"".join(parts)
        if data != page.data:
            raise ModelError(
                f"{lane.name}: page {pid} (order {page.order}, entries {placement.entries}) read back "
                f"wrong: {first_difference(data, page.data)}"
            )

    def _read_orphan(self, li: int, entry: Entry) -> None:
        order, want = self.model.lanes[li].cache_only[entry]
        got = self.systems[li].swap_in(entry).data
        if got != want:
            raise ModelError(f"{self.model.lanes[li].name}: cached entry {entry} reads back wrong: "
                             f"{first_difference(got, want)}")

    def _resync_cache(self, li: int, complete: bool) -> None:
        """After a swap-cache reclaim: orphans are gone (all of them if it completed)."""
        system = self.systems[li]
        lane = self.model.lanes[li]
        for entry in sorted(lane.cache_only):
            if not self._alive(system, entry):
                order, _data = lane.cache_only.pop(entry)
                lane.release(entry, order)
            elif complete:
                raise ModelError(f"{lane.name}: entry {entry} with no reference survived a full reclaim")
        if complete:
            for placement in lane.placements.values():
                placement.pinned = False
            if system.swap_cache_size():
                raise ModelError(f"{lane.name}: {system.swap_cache_size()} folios left in the swap cache")

    def _bring_back(self, li: int, pid: int, placement: Placement) -> None:
        """The owner faults a whole page in: read it, drop every reference, keep it in memory."""
        page = self.model.pages[pid]
        self._read(li, pid)
        system = self.systems[li]
        for entry in placement.entries:
            for _ in range(page.refs):
                system.swap_free(entry)
        self._settle(li, page, placement)

    # ------------------------------------------------------------------ rules: entries

    @precondition(lambda self: len(self.model.referenced()) < self.cfg.max_live)
    @rule(data=st.data())
    @_step
    def swap_out(self, data: st.DataObject) -> None:
        """Reclaim swaps out a batch of folios (1 to 16)."""
        for _ in range(data.draw(st.sampled_from(BATCHES), label="folios")):
            kind, order, seed = data.draw(folio_specs(self.cfg.max_order, self.cfg.kinds), label="folio")
            self._swap_out_new(folio_bytes(kind, order, seed), order)

    def _swap_out_new(self, payload: bytes, order: int) -> None:
        page = self.model.new_page(payload, order)
        placed = False
        for li, lane in enumerate(self.model.lanes):
            entries = self._place(li, page)
            lane.placements[page.pid] = Placement(entries or [])
            placed = placed or entries is not None
        if not placed:  # refused everywhere: it stays with the caller, the model forgets it
            for lane in self.model.lanes:
                del lane.placements[page.pid]
            page.refs = 0
            self.model.forget(page.pid)

    @precondition(lambda self: bool(self._held()))
    @rule(pick=PICK)
    @_step
    def swap_out_again(self, pick: int) -> None:
        """A page held in memory (refused, or brought back by swapoff) is swapped out again."""
        held = self._held()
        li, pid = held[pick % len(held)]
        entries = self._place(li, self.model.pages[pid])
        if entries is not None:
            self.model.lanes[li].placements[pid] = Placement(entries)

    @precondition(lambda self: bool(self.model.referenced()))
    @rule(pick=PICK, times=st.sampled_from((1, 1, 2, 15)))
    @_step
    def dup(self, pick: int, times: int) -> None:
        """fork: one more page-table reference (15 crosses the swap table's count bits)."""
        pid = self._referenced_pid(pick)
        page = self.model.pages[pid]
        for _ in range(min(times, MAX_REFS - page.refs)):
            page.refs += 1
            for li, lane in enumerate(self.model.lanes):
                placement = lane.placements[pid]
                for entry in placement.entries:
                    got = self.systems[li].swap_dup(entry)
                    if got != page.refs:
                        raise ModelError(f"{lane.name}: swap_dup({entry}) returned {got}, expected {page.refs}")

    @precondition(lambda self: bool(self.model.referenced()))
    @rule(pick=PICK)
    @_step
    def free(self, pick: int) -> None:
        """Unmap (exit or munmap): one reference less."""
        self._unref(self._referenced_pid(pick))

    @precondition(lambda self: bool(self.model.referenced()))
    @rule(pick=PICK)
    @_step
    def free_all(self, pick: int) -> None:
        """Every reference of one page goes (the last process exits)."""
        pid = self._referenced_pid(pick)
        while pid in self.model.pages:
            self._unref(pid)

    @precondition(lambda self: bool(self._swapped()))
    @rule(pick=PICK, cache=st.booleans())
    @_step
    def swap_in(self, pick: int, cache: bool) -> None:
        """Read a page back (``cache=True`` pins it in the swap cache)."""
        swapped = self._swapped()
        li, pid = swapped[pick % len(swapped)]
        self._read(li, pid, cache)

    @precondition(lambda self: bool(self.model.referenced()))
    @rule(pick=PICK)
    @_step
    def fault_in(self, pick: int) -> None:
        """A swap-in fault: read the page back, then drop the faulting reference."""
        pid = self._referenced_pid(pick)
        for li, lane in enumerate(self.model.lanes):
            if lane.placements[pid].entries:
                self._read(li, pid)
        self._unref(pid)

    @precondition(lambda self: bool(self._swapped()))
    @rule(pick=PICK)
    @_step
    def cache_drop(self, pick: int) -> None:
        """Reclaim one page's swap-cache folio (written back first if dirty)."""
        swapped = self._swapped()
        li, pid = swapped[pick % len(swapped)]
        system = self.systems[li]
        placement = self.model.lanes[li].placements[pid]
        may_fail = self._armed(li)
        try:
            for entry in placement.entries:
                system.swap_cache_drop(entry)
        except (DeviceIOError, OutOfSwapSpaceError) as exc:
            # Writing a dirty folio back failed: it stays in the swap cache, the entry intact.
            if isinstance(exc, DeviceIOError) and not may_fail:
                raise rule_broken(self.model.lanes[li].name, "io-errors-only-from-storage", exc) from exc
            event(f"swap-cache writeback failed: {type(exc).__name__}")
            self._read(li, pid)
            return
        placement.pinned = False
        for entry in placement.entries:
            if system.swap_count(entry) != self.model.pages[pid].refs:
                raise ModelError(f"a swap-cache drop changed the count of {entry}")

    @precondition(lambda self: bool(self._orphans()))
    @rule(pick=PICK)
    @_step
    def cache_drop_orphan(self, pick: int) -> None:
        """An entry with no reference left leaves the swap cache: it must be freed."""
        orphans = self._orphans()
        li, entry = orphans[pick % len(orphans)]
        self._read_orphan(li, entry)
        system = self.systems[li]
        system.swap_cache_drop(entry)
        if self._alive(system, entry):
            raise ModelError(f"entry {entry} with no reference outlived its swap-cache drop")
        lane = self.model.lanes[li]
        order, _ = lane.cache_only.pop(entry)
        lane.release(entry, order)

    def check_contents(self) -> None:
        """Every live entry of every lane reads back identical (faults paused)."""
        with self._faults_paused():
            for li, lane in enumerate(self.model.lanes):
                for pid, _placement in list(lane.swapped()):
                    self._read(li, pid)
                for entry in sorted(lane.cache_only):
                    self._read_orphan(li, entry)

    # ------------------------------------------------------------------ rules: devices

    @rule(action=st.sampled_from(HOUSEKEEPING), pick=PICK)
    @_step
    def housekeeping(self, action: str, pick: int) -> None:
        """One of: unplug, reclaim the swap cache, check every entry, advance simulated
        time, swap a stack off and on again (with or without a page-table owner)."""
        if action.startswith("swapoff"):
            if self.cfg.swapoff:
                self.swapoff_swapon(pick, with_owner=action.endswith("owner"))
        elif action == "check":
            self.check_contents()
        elif action == "reclaim":
            self.reclaim()
        elif action == "unplug":
            self._each_system(lambda system: system.unplug(), "unplug")
        else:
            ns = int(action.split(":")[1])
            self._each_system(lambda system: system.advance(ns), "timer work")

    def _each_system(self, op: Callable[[SwapSystem], object], what: str) -> None:
        for li, system in enumerate(self.systems):
            may_fail = self._armed(li)
            try:
                op(system)
            except DeviceIOError:
                if not may_fail:
                    raise
                event(f"fault: {what} failed")

    def reclaim(self) -> None:
        """Drop the whole swap cache of every lane."""
        for li, system in enumerate(self.systems):
            may_fail = self._armed(li)
            try:
                system.reclaim_swap_cache(skip_failed=False)  # the failure's type matters here
            except (DeviceIOError, OutOfSwapSpaceError) as exc:
                # A dirty folio could not be written back; it stays cached (and so may others).
                if isinstance(exc, DeviceIOError) and not may_fail:
                    raise rule_broken(self.model.lanes[li].name, "io-errors-only-from-storage", exc) from exc
                event(f"reclaim: writeback failed: {type(exc).__name__}")
                self._resync_cache(li, complete=False)
            else:
                self._resync_cache(li, complete=True)

    def swapoff_swapon(self, pick: int, with_owner: bool) -> None:
        """swapoff a stack (its entries come back), then swap it on again."""
        stacks = self._stacks()
        li, si = stacks[pick % len(stacks)]
        system = self.systems[li]
        top = self.tops[li][si]
        swap_type = top.type
        may_fail = self._armed(li)
        owner = _ModelOwner(self, li) if with_owner else None
        try:
            report = system.swapoff(top, owner=owner)
        except DeviceIOError:
            if not may_fail:
                raise
            event("fault: swapoff failed")
            if top not in system.devices:
                raise ModelError("a failed swapoff took the stack out of service") from None
            return
        self._take_restored(li, swap_type, report, owner)
        plan = self.plans[li][si]
        new = system.swapon(plan.spec, priority=plan.priority)
        self._note_layers(new)
        self.tops[li][si] = new

    def _take_restored(
        self, li: int, swap_type: int, report: SwapoffReport, owner: _ModelOwner | None
    ) -> None:
        lane = self.model.lanes[li]
        want: dict[Entry, bytes] = {}
        ptes = 0
        for pid, placement in lane.swapped():
            page = self.model.pages[pid]
            for entry, _order, data in entry_parts(page, placement):
                if entry[0] == swap_type:
                    want[entry] = data
                    ptes += page.refs
        for entry, (_order, data) in lane.cache_only.items():
            if entry[0] == swap_type:
                want[entry] = data
        got = report.restored
        if set(got) != set(want):
            missing = sorted(set(want) - set(got))[:5]
            extra = sorted(set(got) - set(want))[:5]
            raise ModelError(f"{lane.name}: swapoff restored the wrong entries: missing {missing}, unexpected {extra}")
        for entry, folio in got.items():
            if folio.data != want[entry]:
                raise ModelError(f"{lane.name}: swapoff restored {entry} wrong: {first_difference(folio.data, want[entry])}")
        visits = (owner.visits if owner is not None else 0) + ptes
        if report.pte_visits != visits:
            raise ModelError(f"{lane.name}: swapoff reports {report.pte_visits} page-table visits, expected {visits}")
        if got:
            event("swapoff restored entries" + (" (after the owner)" if owner else ""))
        # The model takes the restored pages back into memory.
        for pid, placement in list(lane.swapped()):
            if any(e[0] == swap_type for e in placement.entries):
                page = self.model.pages[pid]
                for entry in placement.entries:  # subpages split onto another area: fault them in too
                    if entry[0] != swap_type:
                        for _ in range(page.refs):
                            self.systems[li].swap_free(entry)
                self._settle(li, page, placement, skip_type=swap_type)
        for entry in [e for e in lane.cache_only if e[0] == swap_type]:
            del lane.cache_only[entry]
        lane.occupied.pop(swap_type, None)

    @precondition(lambda self: self.cfg.swapoff and bool(self._detachable(attached=True)))
    @rule(pick=PICK, reattach=st.booleans())
    @_step
    def swapoff_backend(self, pick: int, reattach: bool) -> None:
        """swapoff the device below a virtual layer: entries stay valid, no page table is walked."""
        candidates = self._detachable(attached=True)
        li, si = candidates[pick % len(candidates)]
        system = self.systems[li]
        top = self.tops[li][si]
        lower = top.lower
        assert lower is not None
        may_fail = self._armed(li)
        before = self._footprint(li)
        try:
            report = system.swapoff(lower)
        except DeviceIOError:
            if not may_fail:
                raise
            event("fault: backend swapoff failed")
            if top.lower is not lower:
                raise ModelError("a failed backend swapoff detached the backend") from None
            return
        event("backend swapped off")
        if top.lower is not None:
            raise ModelError(f"swapoff of {lower.NAME} left it below {top.NAME}")
        if report.pte_visits:
            raise ModelError(f"backend swapoff walked {report.pte_visits} page-table entries")
        self._check_unchanged(li, before, "a backend swapoff")
        if reattach:
            self._attach(li, si)

    @precondition(lambda self: bool(self._detachable(attached=False)))
    @rule(pick=PICK)
    @_step
    def attach_backend(self, pick: int) -> None:
        candidates = self._detachable(attached=False)
        li, si = candidates[pick % len(candidates)]
        self._attach(li, si)

    def _attach(self, li: int, si: int) -> None:
        top = self.tops[li][si]
        lower = self.systems[li].swapon(backend_of(self.plans[li][si].spec), above=top)
        self._note_layers(lower)
        event("backend attached")

    # ------------------------------------------------------------------ rules: faults

    @precondition(lambda self: bool(self._faulty()))
    @rule(pick=PICK, op=st.sampled_from(FAULT_OPS), mode=st.sampled_from(FAULT_MODES))
    @_step
    def faults(self, pick: int, op: str, mode: str) -> None:
        """Arm a fault-injection layer: fail the next 1-3 ``op``s, set a probability, or clear it."""
        devices = self._faulty()
        dev = devices[pick % len(devices)]
        if mode == "clear":
            dev.clear()
        elif mode.startswith("p="):
            dev.set_probability(op, float(mode[2:]))
        else:
            dev.inject(op, int(mode))

    # ------------------------------------------------------------------ invariants

    @invariant()
    @_step
    def accounting(self) -> None:
        for li in range(len(self.systems)):
            self._check_lane(li)

    def _check_lane(self, li: int) -> None:
        system = self.systems[li]
        lane = self.model.lanes[li]
        tops = sorted(self.tops[li], key=lambda d: d.type)
        for top in tops:
            want = lane.slots(top.type)
            if top.used != want:
                raise ModelError(
                    f"{lane.name}: {top.stack_name} reports used={top.used}, the live entries cover {want} slots"
                )
            for dev in top.layers():
                self._check_device(lane.name, dev)
        if system.nr_entries() != lane.nr_entries():
            raise ModelError(f"{lane.name}: {system.nr_entries()} live entries, the model has {lane.nr_entries()}")
        rows = system.swaps()
        kib = [(top.size * 4, top.used * 4) for top in tops]
        if [(r.size, r.used) for r in rows] != kib:
            raise ModelError(f"{lane.name}: /proc/swaps rows {rows} disagree with the devices {kib}")
        _no_negatives(lane.name, "stats()", system.stats())
        if not lane.nr_entries():
            for top in tops:
                for dev in top.layers():
                    _, used = self._baseline[id(dev)]
                    if dev.used != used:
                        raise ModelError(
                            f"{lane.name}: no live entry, but {dev.NAME} uses {dev.used} slots "
                            f"({used} right after swapon)"
                        )

    @staticmethod
    def _check_device(where: str, dev: SwapDevice) -> None:
        size, used = dev.size, dev.used
        if not 0 <= used <= size:
            raise ModelError(f"{where}: {dev.NAME} used={used} outside 0..size={size}")
        if used + dev.free != size:
            raise ModelError(f"{where}: {dev.NAME} used {used} + free {dev.free} != size {size}")
        try:  # the recount behind used (free is size - used unless a module says otherwise)
            dev.check_invariants()
        except AssertionError as exc:
            raise ModelError(f"{where}: {dev.NAME} accounting: {exc}") from None
        stats = dev.stats()
        if stats.get("size", size) != size or stats.get("used", used) != used:
            raise ModelError(f"{where}: {dev.NAME} stats() size/used disagree with the device: {stats}")

    # ------------------------------------------------------------------ teardown

    def teardown(self) -> None:
        """Free everything; then every layer must be as at swapon, and swapoff bring nothing back."""
        try:
            if self._clean:
                self._final_checks()
        finally:
            for system in self.systems:
                for top in list(system.devices):
                    with contextlib.suppress(Exception):
                        system.swapoff(top)

    def _final_checks(self) -> None:
        for dev in self._faulty():
            dev.clear()
        self.check_contents()
        for pid in self.model.referenced():
            while pid in self.model.pages:
                self._unref(pid)
        for li, system in enumerate(self.systems):
            system.reclaim_swap_cache()
            self._resync_cache(li, complete=True)
            system.unplug()
            if system.nr_entries():
                raise ModelError(f"{self.model.lanes[li].name}: {system.nr_entries()} entries left after freeing all")
            self._check_lane(li)
            for top in list(system.devices):
                report = system.swapoff(top)
                if report.restored:
                    raise ModelError(f"swapoff of an empty {top.stack_name} restored {len(report.restored)} entries")
            if system.devices:
                raise ModelError(f"devices left after swapoff: {system.devices}")


def _no_negatives(where: str, path: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "priority":  # a setting (-1 = default), not a counter
                _no_negatives(where, f"{path}[{key!r}]", item)
    elif isinstance(value, int | float) and not isinstance(value, bool) and not value >= 0:
        raise ModelError(f"{where}: counter {path} is {value}")


# ---------------------------------------------------------------------- runners


def run_machine(config: MachineConfig, settings: settings | None = None) -> None:
    """Run :class:`SwapStackMachine` on ``config`` as a test (raises on a failure)."""

    def factory() -> SwapStackMachine:
        return SwapStackMachine(config)

    # Each configuration its own identity: a derandomized profile draws a
    # different sequence per stack, and the example database keeps failures apart.
    key = f"{config.name}|{config.seed}|{config.max_order}|{config.max_live}|{config.kinds}|{config.swapoff}"
    factory._hypothesis_internal_add_digest = key.encode()  # type: ignore[attr-defined]
    # Hypothesis accepts any zero-argument factory here; newer releases type the
    # parameter as the class, so the factory passes through Any.
    run_state_machine_as_test(cast(Any, factory), settings=settings or conformance_settings())


def run_conformance(
    *stacks: StackArg, settings: settings | None = None, **options: Any
) -> None:
    """The conformance machine on one system with ``stacks`` side by side.

    ``options`` are :class:`MachineConfig` fields (``plugins``, ``max_order``, ...).
    """
    run_machine(side_by_side(*stacks, **options), settings)


def run_differential(
    *stacks: StackArg, settings: settings | None = None, **options: Any
) -> None:
    """The differential machine: one system per stack, the same operations in lockstep."""
    run_machine(lockstep(*stacks, **options), settings)


def machine_class(config: MachineConfig, name: str | None = None) -> type[SwapStackMachine]:
    """A subclass bound to ``config``: use its ``TestCase`` with unittest or pytest."""
    return type(name or "ConfiguredSwapStackMachine", (SwapStackMachine,), {"config": config})


__all__ = [
    "RULES",
    "LanePlan",
    "MachineConfig",
    "StackPlan",
    "SwapStackMachine",
    "conformance_settings",
    "lockstep",
    "machine_class",
    "run_conformance",
    "run_differential",
    "run_machine",
    "side_by_side",
]
