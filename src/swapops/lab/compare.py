"""``swapops lab compare``: kernel and swapops side by side, phase by phase.

:func:`kernel_record` turns a guest run into a JSON-able record (what
``lab/results/*.json`` keep: every counter of :mod:`swapops.lab.counters`
after each phase, the guest's machine, and the swap offset of every page
after each phase, compressed); :func:`compare` runs the model for the same
scenario on the recorded machine and lines both up. Event counters are
compared per phase (the phase's increase), levels at the phase's end; the
``total`` table compares the whole run (the last dump less the start).
"""

from __future__ import annotations

import base64
import statistics
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import __version__
from .common import PINNED
from .counters import (
    COUNTERS,
    Counter,
    claim_applies,
    kernel_named,
    kernel_value,
    metric_for,
    resolve,
)
from .guest import KernelRun
from .model import Machine, ModelPhase, machine_from_guest, run_model
from .scenario import LabScenario
from .slots import measures, similarity

SCHEMA = "swapops.lab.compare/1"


# --------------------------------------------------------------------------- the kernel's side


def encode_offsets(offsets: np.ndarray) -> str:
    """int32 deltas, zlib, base64: sequential offsets compress to almost nothing."""
    arr = offsets.astype(np.int64)
    delta = np.diff(arr, prepend=0).astype("<i4")
    return base64.b64encode(zlib.compress(delta.tobytes(), 9)).decode()


def decode_offsets(text: str) -> np.ndarray:
    delta = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype="<i4").astype(np.int64)
    return np.cumsum(delta)


def kernel_record(run: KernelRun) -> dict[str, Any]:
    """The JSON-able record of one guest run (see the module docstring)."""
    start = run.start
    machine = machine_from_guest(start.zones, start.meminfo)

    def values(dump: Any) -> dict[str, float | None]:
        return {c.name: kernel_value(c, dump) for c in COUNTERS}

    phases = []
    for dump in run.phase_dumps():
        phases.append({
            "name": dump.phase,
            "pid": dump.pid,
            "values": values(dump),
            "offsets": encode_offsets(dump.swap_offsets()) if dump.pagemap is not None else None,
        })
    return {
        "release": run.release,
        "package": PINNED.spec if run.release == PINNED.release else None,
        "boot_s": round(run.boot_s, 2),
        "workload_s": round(run.workload_s, 2),
        "wall_s": round(run.wall_s, 2),
        "machine": machine.to_json(),
        "start": {"values": values(start), "zones": start.zones},
        "phases": phases,
    }


def merge_records(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several runs of one scenario as one record: the median of each counter
    (each phase's offsets and the machine from the first run), with every
    run's values kept for the run-to-run variation."""
    first = records[0]
    if len(records) == 1:
        return {**first, "runs": 1}
    merged = {**first, "runs": len(records), "wall_s": [r["wall_s"] for r in records],
              "workload_s": [r["workload_s"] for r in records]}
    phases = []
    for i, phase in enumerate(first["phases"]):
        per_run = [r["phases"][i]["values"] for r in records]
        vals = {}
        for c in COUNTERS:
            got = [v[c.name] for v in per_run if v[c.name] is not None]
            vals[c.name] = statistics.median(got) if got else None
        phases.append({**phase, "values": vals, "run_values": per_run})
    merged["phases"] = phases
    starts = [r["start"]["values"] for r in records]
    merged["start"] = {**first["start"], "values": {
        c.name: statistics.median([s[c.name] for s in starts if s[c.name] is not None] or [0]) for c in COUNTERS}}
    return merged


# --------------------------------------------------------------------------- comparing


def phase_roles(scn: LabScenario) -> list[set[str]]:
    """The claim roles of each phase (``Counter.claim``): ``fill``, ``first-read``."""
    roles: list[set[str]] = []
    seen_read = False
    for phase in scn.phases:
        r: set[str] = set()
        if phase.kind == "fill":
            r.add("fill")
        elif phase.kind in ("read", "read:rev"):
            if not seen_read:
                r.add("first-read")
            seen_read = True
        elif phase.kind in ("rewrite", "fork"):
            seen_read = True  # a read after these is not the first read of the filled region
        roles.append(r)
    return roles


def claimed(counter: Counter, scn: LabScenario, roles: set[str]) -> bool:
    """Does the model claim ``counter`` for ``scn`` in a phase with ``roles``?"""
    if not claim_applies(scn.zswap.enabled, scn.guest.thp):
        return False
    return bool(roles & set(counter.claim))


def _row(counter: Counter, kernel: float | None, model: float | None, scn: LabScenario, roles: set[str],
         spread: float | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"counter": counter.name, "gauge": counter.gauge, "kernel": kernel, "swapops": model,
                           "difference": None, "relative": None, "tolerance": counter.rel, "pass": None,
                           "claimed": claimed(counter, scn, roles)}
    if spread is not None:
        row["kernel_spread"] = spread
    if kernel is not None and model is not None:
        diff = model - kernel
        row["difference"] = diff
        row["relative"] = diff / kernel if kernel else None
        row["pass"] = abs(diff) <= max(counter.slack, counter.rel * abs(kernel))
    return row


def _model_value(counter: Counter, snap: Mapping[str, Any] | None) -> float | None:
    path = metric_for(counter)
    if path is None:
        return None
    if snap is None:
        return 0.0
    return resolve(snap, path)


def _delta(after: float | None, before: float | None) -> float | None:
    if after is None:
        return None
    return after - (before or 0)


def _spread(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    if len(got) < 2:
        return None
    mid = statistics.median(got)
    return (max(got) - min(got)) / mid if mid else 0.0


def compare(scn: LabScenario, record: Mapping[str, Any], model: tuple[str, list[ModelPhase]] | None = None
            ) -> dict[str, Any]:
    """Kernel record against the model run on the recorded machine (run here unless given)."""
    machine = Machine.from_json(record["machine"])
    stack, phases = model if model is not None else run_model(scn, machine)
    kphases = record["phases"]
    if [p["name"] for p in kphases] != [p.name for p in phases]:
        raise ValueError("kernel record and model have different phases")
    out_phases = []
    k_prev: Mapping[str, float | None] = record["start"]["values"]
    m_prev: Mapping[str, Any] | None = None
    roles = phase_roles(scn)
    for index, (kp, mp) in enumerate(zip(kphases, phases, strict=True)):
        snap = {**mp.snapshot, "lab": {"swap_ptes": int((mp.offsets >= 0).sum())}}
        rows = []
        for c in COUNTERS:
            kv = kp["values"][c.name]
            mv = _model_value(c, snap)
            spread = None
            if "run_values" in kp:
                if c.gauge:
                    spread = _spread([rv[c.name] for rv in kp["run_values"]])
                else:  # the spread of the phase's increase, run by run
                    prev_runs = kphases[index - 1]["run_values"] if index else None
                    spread = _spread([_delta(rv[c.name], prev_runs[j][c.name] if prev_runs else None)
                                      for j, rv in enumerate(kp["run_values"])])
            if not c.gauge:
                kv = _delta(kv, k_prev[c.name])
                mv = None if mv is None else mv - (_model_value(c, m_prev) or 0)
            rows.append(_row(c, kv, mv, scn, roles[index], spread))
        slots: dict[str, Any] | None = None
        if kp.get("offsets") is not None:
            koff = decode_offsets(kp["offsets"])
            slots = {"kernel": measures(koff), "swapops": measures(mp.offsets),
                     "similarity": similarity(koff, mp.offsets)}
        out_phases.append({"name": kp["name"], "pid": kp["pid"], "counters": rows, "slots": slots})
        k_prev = kp["values"]
        m_prev = snap
    last_k = kphases[-1]["values"]
    last_m = {**phases[-1].snapshot, "lab": {"swap_ptes": int((phases[-1].offsets >= 0).sum())}}
    total = []
    for c in COUNTERS:
        if c.gauge:
            continue
        kv = _delta(last_k[c.name], record["start"]["values"][c.name])
        total.append(_row(c, kv, _model_value(c, last_m), scn, {"total"}))
    return {
        "schema": SCHEMA,
        "scenario": {"name": scn.name, "description": scn.description, "sha256": scn.sha256},
        "kernel": {k: record.get(k) for k in ("release", "package", "boot_s", "workload_s", "wall_s", "runs")}
        | {"machine": record["machine"]},
        "swapops": {"version": __version__, "stack": stack, "kernel_named_counters": kernel_named(),
                    "ram_pages": machine.ram_pages,
                    "watermarks": [machine.wmark_min, machine.wmark_low, machine.wmark_high]},
        "phases": out_phases,
        "total": total,
    }


def failures(result: Mapping[str, Any], *, claimed_only: bool = True) -> list[str]:
    """``phase counter: kernel vs swapops`` for every row that fails (claimed rows only by default)."""
    out = []
    sections = [(p["name"], p["counters"]) for p in result["phases"]] + [("total", result["total"])]
    for name, rows in sections:
        for r in rows:
            if r["pass"] is False and (r["claimed"] or not claimed_only):
                out.append(f"{name} {r['counter']}: kernel {r['kernel']:,.0f}, swapops {r['swapops']:,.0f} "
                           f"({r['relative']:+.1%}, tolerance {r['tolerance']:.0%})"
                           if r["relative"] is not None else f"{name} {r['counter']}: {r}")
    return out


__all__ = ["kernel_record", "merge_records", "compare", "failures", "claimed", "phase_roles", "encode_offsets",
           "decode_offsets", "SCHEMA"]
