"""flashbuf's segment cleaning: free whole segments by copying live pages out.

Just before a flush would leave less than one free segment, :func:`make_room`
cleans: :func:`pick_victim` chooses a closed segment (``greedy``: fewest live
pages, ties to the least written with wear-aware placement; ``cost-benefit``:
largest ``(1 - u) * age / (1 + u)``, as Rosenblum and Ousterhout's LFS, age in
pages written since the segment was last written); :func:`clean` reads its
live pages, appends them to the log (cleaning copies, host writes like any
other), discards the old copies below and returns the segment to the free
pool. Reads may be exclusive (zswap below): pages read but not copied go back
to the buffer if a copy fails.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import numpy as np

from swapops.errors import SwapOpsError
from swapops.folio import Folio

from . import buffer, segments, wear
from .segments import CLOSED, FREE

if TYPE_CHECKING:
    from .device import FlashbufDevice

def make_room(dev: FlashbufDevice, n: int) -> None:
    S = dev.S
    if dev._wl and dev._wmax > dev._wl:
        wear.wear_level(dev)
    while segments.avail(dev) < n + S:
        victim = pick_victim(dev)
        if victim < 0:
            break
        clean(dev, victim)


def pick_victim(dev: FlashbufDevice) -> int:
    S = dev.S
    live = dev._live_np
    closed = dev._state_np == CLOSED
    if dev._greedy:
        if dev._wear_aware:  # among equally empty victims, free the least written
            w = dev._wmax + 1
            writes = np.frombuffer(dev._seg_writes, dtype=np.int64)
            cand = np.where(closed, live * w + writes, S * w)
            victim = int(cand.argmin())
            return victim if cand[victim] < S * w else -1
        cand = np.where(closed, live, S)
        victim = int(cand.argmin())
        return victim if cand[victim] < S else -1
    usable = closed & (live < S)
    if not usable.any():
        return -1
    empty = usable & (live == 0)
    if empty.any():
        return int(empty.argmax())
    u = live / S
    age = (dev._wclock - dev._mtime_np + 1).astype(np.float64)
    score = np.where(usable, (1.0 - u) * age / (1.0 + u), -1.0)
    return int(score.argmax())


def clean(dev: FlashbufDevice, victim: int) -> None:
    """Move the victim's live pages to the log head and free the segment."""
    S = dev.S
    first = victim * S
    base = dev._seg_base[victim]
    rev = dev._rev
    read = dev.lower_read
    datas: list[bytes] = []
    srcs: list[int] = []
    consumed: list[int] = []  # indexes of pages an exclusive lower load took
    dev._lw_done = 0
    try:
        for ppn in range(first, first + S):
            if rev[ppn] >= 0:
                f = Folio.empty(0)
                read(base + ppn - first, f)
                if f.dirty:
                    consumed.append(len(datas))
                datas.append(f.data)
                srcs.append(ppn)
                dev.n_reads_below += 1
        if datas:
            segments.log_write(dev, datas, srcs)
    except BaseException:
        # Pages read but not copied whose lower copy the load consumed
        # (an exclusive zswap load) would be lost: keep them in the buffer.
        done = dev._lw_done
        for t in consumed:
            if t >= done:
                buffer.rehome(dev, srcs[t], datas[t])
        raise
    finally:
        dev.n_cleaning_copies += dev._lw_done
    if datas and dev._discard:
        discard_runs(dev, base - first, srcs)
    if dev._seg_live[victim]:
        raise SwapOpsError(f"flashbuf: segment {victim} still holds live pages after cleaning")
    dev._seg_state[victim] = FREE
    heapq.heappush(dev._heap, wear.heap_key(dev, victim))
    dev._nfree += 1
    dev.n_segments_cleaned += 1


def discard_runs(dev: FlashbufDevice, delta: int, ppns: list[int]) -> None:
    """Discard the lower slots ``ppn + delta`` of ``ppns`` (ascending), a run at a time."""
    start = prev = ppns[0]
    for p in ppns[1:]:
        if p != prev + 1:
            dev.lower_discard(start + delta, prev - start + 1)
            start = p
        prev = p
    dev.lower_discard(start + delta, prev - start + 1)
    dev.n_discards += len(ppns)

