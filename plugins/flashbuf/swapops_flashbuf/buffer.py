"""flashbuf's RAM write buffer: pages gather here and leave as one log append.

State (on the device): ``_bdata`` (buffered page contents, in arrival order),
``_bown`` (the slot each belongs to: ``_loc[_bown[i]] == -2 - i``), ``_bcap``
(a buffer this full is flushed), ``_bhard`` (the most it may ever hold: one
large folio beyond ``_bcap``) and ``_since`` (simulated time of the oldest
buffered page, for the flush timer). The write path appends in place
(``FlashbufDevice.swapops_write_folio``); this module flushes, makes room for
an allocation, and takes back a page whose lower copy a load consumed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from swapops.errors import DeviceIOError, OutOfSwapSpaceError

from . import cleaning, dedup, segments
from .segments import NONE

if TYPE_CHECKING:
    from .device import FlashbufDevice

def flush(dev: FlashbufDevice) -> None:
    """Append every buffered page to the log (cleaning first if space is short)."""
    bdata = dev._bdata
    n = len(bdata)
    if not n:
        return
    cleaning.make_room(dev, n)
    dev._lw_done = 0
    try:
        segments.log_write(dev, bdata, None)
    finally:
        done = dev._lw_done
        if done:
            bown = dev._bown
            del bdata[:done]
            del bown[:done]
            if bdata:  # a partial failure: renumber what is left
                loc = dev._loc
                aux = bool(dev._extra or dev._lhash)
                for j, slot in enumerate(bown):
                    loc[slot] = -2 - j
                    if aux:
                        dedup.rekey(dev, -2 - (j + done), -2 - j)
            dev.n_flushes += 1


def drain(dev: FlashbufDevice, nr: int) -> bool:
    """Try to flush so that ``nr`` more pages fit the full buffer; whether the
    slots may be allocated. Only a lack of room below refuses them; an I/O
    error lets the allocation go on, so that the write reports it."""
    try:
        flush(dev)
    except OutOfSwapSpaceError:
        dev.n_flush_errors += 1
        return len(dev._bdata) + nr <= dev._bhard
    except DeviceIOError:
        pass  # the write's own flush meets it again and raises it
    return True


def rehome(dev: FlashbufDevice, ppn: int, data: bytes) -> None:
    """The lower load consumed page ``ppn`` (an exclusive zswap load): buffer it again."""
    bdata = dev._bdata
    i = len(bdata)
    if not i:
        dev._since = dev._clock.now_ns
    owner = dev._rev[ppn]
    bdata.append(data)
    dev._bown.append(owner)
    enc = -2 - i
    dev._loc[owner] = enc
    dev._rev[ppn] = NONE
    dev._seg_live[ppn // dev.S] -= 1
    if dev._extra or dev._lhash:
        dedup.rekey(dev, ppn, enc)
    dev.n_rehomed += 1

