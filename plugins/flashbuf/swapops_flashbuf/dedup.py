"""flashbuf's optional deduplication by content hash (``dedup=true``).

A page whose BLAKE2b-128 digest matches a live page takes a reference to that
page instead of being written. State (on the device): ``_dmap`` (digest ->
location), ``_lhash`` (location -> digest) and ``_extra`` (location -> the
slots sharing it beyond its primary owner, which ``_rev`` or ``_bown`` holds).
References follow a page through flushes and cleaning (:func:`rekey`); freeing
drops one (:func:`release`), and the page dies with its last. Collisions are
not checked (2**-64 birthday bound at 2**32 pages).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .device import FlashbufDevice


def digest(data: bytes) -> bytes:
    """The page's BLAKE2b-128 digest."""
    return hashlib.blake2b(data, digest_size=16).digest()

def put(dev: FlashbufDevice, slot: int, data: bytes) -> None:
    h = digest(data)
    where = dev._dmap.get(h)
    if where is not None:
        dev._extra.setdefault(where, []).append(slot)
        dev._loc[slot] = where
        dev.n_dedup_hits += 1
        return
    bdata = dev._bdata
    i = len(bdata)
    if not i:
        dev._since = dev._clock.now_ns
    bdata.append(data)
    dev._bown.append(slot)
    enc = -2 - i
    dev._loc[slot] = enc
    dev._dmap[h] = enc
    dev._lhash[enc] = h
    dev.n_buffered += 1


def rekey(dev: FlashbufDevice, old: int, new: int) -> None:
    """Move the shared owners and the hash entry of location ``old`` to ``new``."""
    lst = dev._extra.pop(old, None)
    if lst is not None:
        loc = dev._loc
        for slot in lst:
            loc[slot] = new
        dev._extra[new] = lst
    h = dev._lhash.pop(old, None)
    if h is not None:
        dev._lhash[new] = h
        dev._dmap[h] = new



def release(dev: FlashbufDevice, slot: int, where: int) -> bool:
    """``slot`` drops its reference to location ``where``: True if another slot
    still shares the page (it lives on), else False (its digest is forgotten,
    and the caller frees the page)."""
    if dev._extra:
        lst = dev._extra.get(where)
        if lst is not None:
            if where >= 0:
                if dev._rev[where] == slot:
                    dev._rev[where] = lst.pop()
                else:
                    lst.remove(slot)
            else:
                i = -2 - where
                if dev._bown[i] == slot:
                    dev._bown[i] = lst.pop()
                else:
                    lst.remove(slot)
            if not lst:
                del dev._extra[where]
            return True
    if dev._lhash:
        h = dev._lhash.pop(where, None)
        if h is not None:
            del dev._dmap[h]
    return False
