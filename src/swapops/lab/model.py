"""The same scenario through swapops' mm model, on a machine sized from the guest.

:func:`run_model` builds a :class:`swapops.runner.Run` (a
:class:`~swapops.SwapSystem` and the :class:`~swapops.mm.MM` model) with:

* **RAM**: the pages the guest had free when the workload started (the sum of
  ``pages free`` over its zones in the ``start`` dump: what is left for
  anonymous memory once the kernel, the ramfs root and the workload's own
  locked buffers are in place);
* **watermarks**: per zone ``min``/``low``/``high`` plus the zone's
  ``lowmem_reserve`` for a movable allocation (``protection`` in
  ``/proc/zoneinfo``), summed over the zones: one zone standing for the
  guest's DMA and DMA32 (a simplification: the kernel balances each zone);
* **swap**: a swapfile of the guest's swap disk size (its header page is slot
  0, as in the kernel), on the SSD paths unless the scenario says
  ``rotational``; with zswap, ``zswap>swapfile`` with the scenario's
  compressor, ``max_pool_percent`` (of the guest's MemTotal, as the kernel's
  ``zswap_max_pages`` takes ``totalram_pages``), ``accept_threshold_percent``
  and ``shrinker_enabled``;
* ``page_cluster``, the seed and the content mix of the scenario, and the same
  event stream (:mod:`swapops.lab.workload`).

After each phase it snapshots every metric and the process's swap PTEs
(its slot per page), for :mod:`swapops.lab.compare`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..content import DEFAULT_MIX
from ..errors import ConfigError
from ..mm import is_swap_pte, pte_entry
from ..runner import Run
from ..sizes import PAGE_SIZE, parse_size
from ..workloads import Chunk
from .scenario import LabScenario
from .workload import PARENT, Phase, phase_events


@dataclass(frozen=True)
class Machine:
    """What the model takes from the guest (recorded with a kernel run)."""

    ram_pages: int
    wmark_min: int
    wmark_low: int
    wmark_high: int
    mem_total: int  # bytes (MemTotal): zswap's pool limit is a share of it

    def to_json(self) -> dict[str, int]:
        return {"ram_pages": self.ram_pages, "wmark_min": self.wmark_min, "wmark_low": self.wmark_low,
                "wmark_high": self.wmark_high, "mem_total": self.mem_total}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Machine:
        return cls(**{k: int(d[k]) for k in ("ram_pages", "wmark_min", "wmark_low", "wmark_high", "mem_total")})


def machine_from_guest(zones: list[dict[str, Any]], meminfo: Mapping[str, int]) -> Machine:
    """:class:`Machine` from the ``start`` dump's zones and meminfo (see the module docstring)."""
    if not zones:
        raise ConfigError("the guest's start dump has no zone with managed pages")
    free = low = high = wmin = 0
    for z in zones:
        prot = max(z.get("protection") or [0])  # the reserve kept from higher-zone (movable) allocations
        free += z["free"]
        wmin += z["min"] + prot
        low += z["low"] + prot
        high += z["high"] + prot
    return Machine(ram_pages=free, wmark_min=wmin, wmark_low=low, wmark_high=high,
                   mem_total=int(meminfo["MemTotal"]) * 1024)


def stack_for(scn: LabScenario, machine: Machine) -> str:
    """The swapops stack standing for the guest's swap set-up."""
    rot = "true" if scn.guest.rotational else "false"
    bottom = f"swapfile:device=nvme,blockdev=true,rotational={rot},cpus=1"
    z = scn.zswap
    if not z.enabled:
        return bottom
    if z.zpool != "zsmalloc":
        raise ConfigError(f"lab scenario {scn.name}: the model has zswap over zsmalloc only, not {z.zpool}")
    top = (f"zswap:compressor={z.compressor},max_pool_percent={z.max_pool_percent},"
           f"accept_threshold_percent={z.accept_threshold_percent},"
           f"shrinker_enabled={'true' if z.shrinker_enabled else 'false'},ram={machine.mem_total}")
    return f"{top}>{bottom}"


class _PhaseStream:
    """One phase's events as a workload :meth:`Run.replay` takes."""

    def __init__(self, chunks: list[Chunk], info: dict[str, Any]) -> None:
        self._chunks = chunks
        self.events = sum(len(c[0]) for c in chunks)
        self._info = info

    def describe(self) -> dict[str, Any]:
        return dict(self._info)

    def chunks(self, size: int = 0) -> Iterator[Chunk]:
        yield from self._chunks


@dataclass
class ModelPhase:
    name: str
    pid: int
    snapshot: dict[str, Any]  # Run.snapshot(): totals, areas, mm
    offsets: np.ndarray  # per page of the region: its swap offset in the model, or -1


def _offsets(run: Run, pid: int, pages: int) -> np.ndarray:
    out = np.full(pages, -1, dtype=np.int64)
    pt = run.mm.pts.get(pid)
    if pt is None:
        return np.zeros(0, dtype=np.int64)
    for vp, pte in pt.items():
        if is_swap_pte(pte) and 0 <= vp < pages:
            out[vp] = pte_entry(pte)[1]
    return out


def thp_orders(scn: LabScenario) -> tuple[int, ...]:
    """The folio orders the guest's write faults may allocate: each mTHP size
    the scenario enables (``hugepages-<size>/enabled`` = madvise on a
    MADV_HUGEPAGE region, ``mm/huge_memory.c: thp_vma_allowable_orders()``);
    none without ``thp``, where the region is MADV_NOHUGEPAGE."""
    if not scn.guest.thp:
        return ()
    return tuple(sorted({(parse_size(size) // PAGE_SIZE).bit_length() - 1 for size in scn.guest.mthp}))


def run_model(scn: LabScenario, machine: Machine) -> tuple[str, list[ModelPhase]]:
    """Replay ``scn`` on the model; return the stack and a snapshot per phase."""
    mix = {**DEFAULT_MIX, **dict(scn.mix)}
    run = Run(seed=scn.seed, ram=machine.ram_pages * PAGE_SIZE, mix=mix, page_cluster=scn.guest.page_cluster,
              verify=True, points=4, thp_orders=thp_orders(scn))
    run.mm.wmark_min, run.mm.wmark_low, run.mm.wmark_high = machine.wmark_min, machine.wmark_low, machine.wmark_high
    stack = stack_for(scn, machine)
    run.swapon(stack, size=scn.guest.swap_size)
    phases: list[ModelPhase] = []
    pid = PARENT
    info = {"name": "lab", "scenario": scn.name, "pages": scn.pages}
    for phase, chunks in phase_events(scn.phases, scn.pages, scn.seed):
        run.replay(_PhaseStream(chunks, {**info, "phase": phase.name}))  # type: ignore[arg-type]
        pid = _pid_after(phase, pid)
        phases.append(ModelPhase(phase.name, pid, run.snapshot(), _offsets(run, pid, scn.pages)))
    return stack, phases


def _pid_after(phase: Phase, pid: int) -> int:
    """The process whose view the dump after ``phase`` shows (as the C program dumps)."""
    if phase.kind == "fork":
        return 2
    if phase.kind == "exit":
        return PARENT
    return pid


__all__ = ["Machine", "machine_from_guest", "stack_for", "run_model", "ModelPhase"]
