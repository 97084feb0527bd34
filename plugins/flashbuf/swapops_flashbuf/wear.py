"""flashbuf's wear-aware placement: which free segment is written next.

With ``wear_aware`` the free pool is ordered by how often each segment was
opened (:func:`heap_key`), so the least-written free segment is written next;
otherwise by segment number. Static wear levelling (:func:`wear_level`): when
the most-written segment is ``wear_threshold`` writes ahead of a closed one,
that one holds cold data and is cleaned, so it joins the free pool. State:
``_wear_aware``, ``_wl`` (the threshold, 0 off) and ``_wmax`` (most writes of
any segment), on the device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import cleaning, segments
from .segments import CLOSED

if TYPE_CHECKING:
    from .device import FlashbufDevice

def heap_key(dev: FlashbufDevice, seg: int) -> int:
    return (dev._seg_writes[seg] << 32) | seg if dev._wear_aware else seg


def wear_level(dev: FlashbufDevice) -> None:
    """Static wear levelling: a closed segment written ``wear_threshold`` times
    less than the most-written one holds cold data; move it so the segment
    joins the free pool (where it is chosen first, being the least written)."""
    closed = dev._state_np == CLOSED
    if not closed.any():
        return
    writes = np.frombuffer(dev._seg_writes, dtype=np.int64)
    cand = np.where(closed, writes, dev._wmax)
    coldest = int(cand.argmin())
    # it must fit; afterwards at least one segment of room is left, as before
    if dev._wmax - int(cand[coldest]) > dev._wl and segments.avail(dev) >= dev._seg_live[coldest]:
        before = dev.n_cleaning_copies
        cleaning.clean(dev, coldest)
        dev.n_wear_moves += dev.n_cleaning_copies - before

