"""The lab workload's phases as an event stream for the mm model.

The C program (``workload.c``, run in the guest) and :func:`phase_events`
perform the same accesses in the same order: phase by phase, page by page,
each page access one event (``READ``/``WRITE`` of the process's virtual page
``i``). ``tests/test_lab_workload.py`` runs the C program natively with
``trace=1`` and checks its events are these. Phases (see ``workload.c``):

``fill``
    a store to every page, first to last;
``read`` / ``read:rev``
    a load of every page, first to last / last to first (the C program
    verifies every byte);
``rewrite:T``
    a store to each page ``i`` with ``rewrite_sel(seed, r, i) < T`` (``r``
    counts the rewrite phases from 1; ``T`` a threshold in units of 2**-32);
``fork`` ... ``exit``
    the phases between run in a child (process 2) while the parent waits;
``munmap``
    the region is unmapped.

The process is 1, the child 2 (the mm model's process ids).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..content import GOLDEN, M64, mix64, seed_salt
from ..errors import ConfigError
from ..workloads import EXIT, FORK, MUNMAP, OP_SHIFT, READ, SPAWN, WRITE, Chunk

REWRITE_SALT = 0x8CB92BA72F3D8DD7
CHUNK = 4096
PARENT, CHILD = 1, 2


def rewrite_sel(seed: int, round_: int, page: int) -> int:
    """Which pages a rewrite phase stores to: page ``page`` (from 0) of round
    ``round_`` (from 1) is rewritten when this is below the phase's threshold."""
    s = mix64(seed_salt(seed) ^ REWRITE_SALT)
    return mix64((s + ((round_ << 32) | (page + 1)) * GOLDEN) & M64) & 0xFFFFFFFF


@dataclass(frozen=True)
class Phase:
    """One phase: its name in the scenario (``read:rev``), kind and argument."""

    name: str
    kind: str  # fill, read, read:rev, rewrite, fork, exit, munmap
    threshold: int = 0  # rewrite: units of 2**-32


def parse_phases(names: Sequence[str]) -> list[Phase]:
    """Check a scenario's phase list (``["fill", "read", "rewrite:0.25", ...]``).

    A rewrite names the share of pages it stores to (``rewrite:0.25``); the
    returned phase carries it as the integer threshold the C program gets.
    """
    out: list[Phase] = []
    in_child = False
    filled = False
    unmapped = False
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"lab scenario: phase {name!r} is not a string")
        kind, _, arg = name.partition(":")
        if unmapped:
            raise ConfigError(f"lab scenario: phase {name!r} after munmap (munmap must come last)")
        if kind == "rewrite":
            try:
                share = float(arg)
            except ValueError:
                raise ConfigError(f"lab scenario: {name!r}: expected rewrite:SHARE such as rewrite:0.25") from None
            if not 0.0 < share <= 1.0:
                raise ConfigError(f"lab scenario: {name!r}: the share must be in (0, 1]")
            out.append(Phase(name, "rewrite", min(1 << 32, int(share * (1 << 32)))))
            continue
        if name not in ("fill", "read", "read:rev", "fork", "exit", "munmap"):
            raise ConfigError(f"lab scenario: unknown phase {name!r} "
                              "(phases: fill, read, read:rev, rewrite:SHARE, fork, exit, munmap)")
        if name == "fill":
            if filled:
                raise ConfigError("lab scenario: only one fill phase")
            filled = True
        elif not filled:
            raise ConfigError(f"lab scenario: phase {name!r} before fill")
        if name == "fork":
            if in_child:
                raise ConfigError("lab scenario: a child cannot fork (one fork ... exit at a time)")
            in_child = True
        elif name == "exit":
            if not in_child:
                raise ConfigError("lab scenario: exit without fork")
            in_child = False
        elif name == "munmap":
            if in_child:
                raise ConfigError("lab scenario: munmap inside fork ... exit")
            unmapped = True
        out.append(Phase(name, name))
    if not filled:
        raise ConfigError("lab scenario: the phases need a fill")
    if in_child:
        raise ConfigError("lab scenario: fork without exit")
    return out


def c_phase_arg(phases: Sequence[Phase]) -> str:
    """The ``phases=`` argument of the C program."""
    return ",".join(f"rewrite:{p.threshold}" if p.kind == "rewrite" else p.kind for p in phases)


def _pages(pid: int, op: int, pages: range | list[int]) -> Iterator[Chunk]:
    pages = list(pages)
    for start in range(0, len(pages), CHUNK):
        part = pages[start : start + CHUNK]
        yield [op] * len(part), [pid] * len(part), part


def phase_events(phases: Sequence[Phase], pages: int, seed: int) -> Iterator[tuple[Phase, list[Chunk]]]:
    """For each phase, the chunks of events it performs (the first chunk of
    the first phase spawns process 1)."""
    pid = PARENT
    rounds = 0
    first = True
    for phase in phases:
        chunks: list[Chunk] = []
        if first:
            chunks.append(([SPAWN], [PARENT], [0]))
            first = False
        kind = phase.kind
        if kind == "fill":
            chunks.extend(_pages(pid, WRITE, range(pages)))
        elif kind == "read":
            chunks.extend(_pages(pid, READ, range(pages)))
        elif kind == "read:rev":
            chunks.extend(_pages(pid, READ, range(pages - 1, -1, -1)))
        elif kind == "rewrite":
            rounds += 1
            chosen = [i for i in range(pages) if rewrite_sel(seed, rounds, i) < phase.threshold]
            chunks.extend(_pages(pid, WRITE, chosen))
        elif kind == "fork":
            chunks.append(([FORK], [PARENT], [CHILD]))
            pid = CHILD
        elif kind == "exit":
            chunks.append(([EXIT], [CHILD], [0]))
            pid = PARENT
        elif kind == "munmap":
            chunks.append(([MUNMAP | (pages << OP_SHIFT)], [pid], [0]))
        yield phase, chunks


def trace_lines(phases: Sequence[Phase], pages: int, seed: int) -> list[str]:
    """The events as the C program's ``trace=1`` prints them."""
    out = []
    for _phase, chunks in phase_events(phases, pages, seed):
        for ops, a, b in chunks:
            for op, x, y in zip(ops, a, b, strict=True):
                kind = op & 7
                if kind == SPAWN:
                    continue
                if kind in (READ, WRITE):
                    out.append(f"{'W' if kind == WRITE else 'R'} {x} {y}")
                elif kind == FORK:
                    out.append(f"F {x} {y}")
                elif kind == EXIT:
                    out.append(f"X {x}")
                elif kind == MUNMAP:
                    out.append(f"U {x} {op >> OP_SHIFT}")
    return out


__all__ = ["Phase", "parse_phases", "phase_events", "c_phase_arg", "rewrite_sel", "trace_lines", "PARENT", "CHILD"]
