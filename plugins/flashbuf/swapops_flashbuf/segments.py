"""flashbuf's segment map and log: the lower device's slots cut into segments.

State (on the device, created by ``FlashbufDevice.swapops_activate``):

* ``_loc[slot]``: where a flashbuf slot's content is: ``NONE`` (-1),
  ``<= -2`` buffer index ``-2 - loc``, ``>= 0`` a physical page number
  ``ppn = segment * S + index``; ``_rev[ppn]``: the slot a page belongs to;
* per segment: ``_seg_base`` (its first lower slot), ``_seg_live`` (live
  pages), ``_seg_mtime`` (the write clock when last written), ``_seg_writes``
  (times opened), ``_seg_state`` (``FREE``, ``OPEN``, ``CLOSED``);
* the free pool ``_heap`` (keys by :func:`wear.heap_key`), ``_nfree``, the
  open segment ``_open`` and its ``_fill``; ``_wclock``, pages written so far.

At swapon :func:`claim` takes the lower device's slot space (``alloc(9)`` until
it fails, then ``alloc(0)``), merges it into extents and cuts segments at
multiples of ``S``; what makes no whole segment goes back at once.
:func:`log_write` appends pages to the open segment as naturally aligned
power-of-two folios and repoints their owners.
"""

from __future__ import annotations

import heapq
from array import array
from typing import TYPE_CHECKING

from swapops.constants import CLUSTER_SIZE, MAX_ORDER
from swapops.errors import OutOfSwapSpaceError, SwapOpsError
from swapops.folio import Folio

from . import dedup

if TYPE_CHECKING:
    from .device import FlashbufDevice

NONE = -1
FREE, OPEN, CLOSED = 0, 1, 2

def claim(dev: FlashbufDevice, want: int | None) -> list[int]:
    """Claim the lower slot space and cut it into segments; return their base slots."""
    S = dev.S
    alloc = dev.lower_alloc
    runs: list[tuple[int, int]] = []
    got = 0
    limit = None if want is None else want + 2 * CLUSTER_SIZE
    dev._write_order = 0
    for order in (MAX_ORDER, 0):
        nr = 1 << order
        while limit is None or got < limit:
            start = alloc(order)
            if start < 0:
                break
            runs.append((start, nr))
            got += nr
            if order:
                dev._write_order = MAX_ORDER
    runs.sort()
    bases: list[int] = []
    spare: list[tuple[int, int]] = []
    i = 0
    need = None if want is None else -(-want // S)
    while i < len(runs):
        start, nr = runs[i]
        end = start + nr
        i += 1
        while i < len(runs) and runs[i][0] == end:
            end += runs[i][1]
            i += 1
        pos = -(-start // S) * S
        if pos > start:
            spare.append((start, min(pos, end) - start))
        while pos + S <= end and (need is None or len(bases) < need):
            bases.append(pos)
            pos += S
        if pos < end:
            spare.append((pos, end - pos))
    for start, nr in spare:
        give_back(dev, start, nr)
    return bases


def give_back(dev: FlashbufDevice, start: int, nr: int) -> None:
    pos = start
    end = start + nr
    while pos < end:  # one lower cluster at a time
        stop = min((pos // CLUSTER_SIZE + 1) * CLUSTER_SIZE, end)
        dev.lower_free(pos, stop - pos)
        pos = stop


def release(dev: FlashbufDevice, bases: list[int] | array[int]) -> None:
    for base in bases:
        give_back(dev, base, dev.S)


def open_segment(dev: FlashbufDevice) -> int:
    if not dev._heap:
        raise SwapOpsError("flashbuf: no free segment (cleaning reserve invariant broken)")
    seg = heapq.heappop(dev._heap) & 0xFFFFFFFF
    dev._nfree -= 1
    dev._seg_state[seg] = OPEN
    w = dev._seg_writes[seg] + 1
    dev._seg_writes[seg] = w
    if w > dev._wmax:
        dev._wmax = w
    dev._open = seg
    dev._fill = 0
    return seg


def avail(dev: FlashbufDevice) -> int:
    """Pages that can be appended without cleaning."""
    S = dev.S
    return dev._nfree * S + (S - dev._fill if dev._open >= 0 else 0)


def log_write(dev: FlashbufDevice, datas: list[bytes], srcs: list[int] | None) -> None:
    """Append ``datas`` to the open segment(s) and repoint their owners.

    ``srcs`` holds each page's current location (``None``: buffer index
    ``j``). Each lower write commits its pages before the next is tried;
    ``dev._lw_done`` counts committed pages when an error propagates.
    """
    S = dev.S
    n = len(datas)
    loc = dev._loc
    rev = dev._rev
    live = dev._seg_live
    bown = dev._bown
    aux = bool(dev._extra or dev._lhash)
    write = dev.lower_write
    max_order = dev._write_order
    i = 0
    while i < n:
        seg = dev._open
        if seg < 0:
            seg = open_segment(dev)
        fill = dev._fill
        k = min(S - fill, n - i)
        lbase = dev._seg_base[seg] + fill
        pbase = seg * S + fill
        j = i
        end = i + k
        while j < end:
            lslot = lbase + (j - i)
            left = end - j
            order = min(max_order, left.bit_length() - 1)
            if lslot:
                order = min(order, (lslot & -lslot).bit_length() - 1)
            cnt = 1 << order
            f = Folio.empty(order)
            f.data = datas[j] if cnt == 1 else b"".join(datas[j : j + cnt])
            try:
                write(lslot, f)
            except OutOfSwapSpaceError:
                if cnt == 1:
                    raise
                # the device below refuses the folio as a whole (a zswap
                # with no device below and one incompressible page): go
                # page by page, committing those before the refused one
                max_order = 0
                continue
            dev.n_written_below += cnt
            for t in range(j, j + cnt):
                ppn = pbase + (t - i)
                if srcs is None:
                    old = -2 - t
                    owner = bown[t]
                else:
                    old = srcs[t]
                    owner = rev[old]
                    rev[old] = NONE
                    live[old // S] -= 1
                loc[owner] = ppn
                rev[ppn] = owner
                if aux:
                    dedup.rekey(dev, old, ppn)
            live[seg] += cnt
            j += cnt
            dev._fill += cnt
            dev._wclock += cnt
            dev._seg_mtime[seg] = dev._wclock
            dev._lw_done = j
        if dev._fill == S:
            dev._seg_state[seg] = CLOSED
            dev._open = -1
            dev._fill = 0
            dev.n_segments_flushed += 1
        i = end

