"""Content by reference: layers hold a content key instead of a page's bytes.

In the mm model a page's contents are a pure function of its content key
``ck`` (``page << 32 | version``, :class:`swapops.content.ContentMix`), so a
layer that only stores and returns a page need not keep its 4 KiB: it can keep
the key. A :class:`ContentCache` is what such layers ask for the facts about a
content that their design depends on:

* ``page(ck)``: the bytes themselves (made on demand, never stored);
* ``is_zero(ck)``: zero-filled (the core's zero-page check, the swap table's
  ``Z`` bit);
* ``memo(name, fn)``: ``fn(page(ck))`` computed once per distinct content with
  the real function (zswap's compressed size with its real compressor),
  kept in a bounded table (a miss recomputes it: contents are pure, so the
  result is the same).

The mode is per swap area. A module declares it can hold references with
``SwapDevice.CONTENT_REF = True`` (or a ``content_ref`` property when it
depends on the instance, a swapfile on a real file cannot); an area whose
stack has a layer that does not declare it gets the bytes, materialised by the
core at ``swap_out``, exactly as in byte mode (:meth:`SwapSystem.set_content`).
A folio in reference mode is an order-0 :class:`~swapops.folio.Folio` with
``ck >= 0`` and empty ``data``; large folios always carry bytes. A
reference-capable layer therefore handles both: it stores ``folio.ck`` when it
is set and ``folio.data`` otherwise, and a read sets whichever it stored
(:func:`stored`, :func:`fill`). Byte mode (no cache set) is the default of the
Python API and of the conformance kit; ``swapops run/compare/sweep`` and
:class:`swapops.runner.Run` use reference mode unless told ``--content bytes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .folio import ZERO_PAGES, Folio

T = TypeVar("T")

#: Entries a memo keeps before it starts over (a bound on simulator memory,
#: about 100 B each; a miss only costs the computation again).
MEMO_LIMIT = 1 << 16

_ZERO = ZERO_PAGES[0]


class ContentCache:
    """What layers need to know about contents they hold by key.

    :param page: ``page(ck) -> bytes``, a pure function (a :class:`ContentMix`'s ``page``).
    :param is_zero: ``is_zero(ck) -> bool`` if cheaper than making the page
        (:meth:`ContentMix.is_zero`); by default the page is made and compared.
    """

    __slots__ = ("page", "is_zero", "_memos", "computed", "hits")

    def __init__(self, page: Callable[[int], bytes], is_zero: Callable[[int], bool] | None = None) -> None:
        self.page = page
        self.is_zero: Callable[[int], bool] = is_zero if is_zero is not None else self._is_zero
        self._memos: dict[str, Callable[[int], Any]] = {}
        self.computed = 0  # memo misses (the real function ran)
        self.hits = 0

    def _is_zero(self, ck: int) -> bool:
        return self.page(ck) == _ZERO

    def memo(self, name: str, fn: Callable[[bytes], T]) -> Callable[[int], T]:
        """``ck -> fn(page(ck))``, computed once per distinct content (per ``name``).

        Layers of the same kind with the same function share one table by
        ``name`` (two zswap layers with the same compressor)."""
        got = self._memos.get(name)
        if got is not None:
            return got
        table: dict[int, T] = {}
        page = self.page
        cache = self

        def lookup(ck: int) -> T:
            try:
                value = table[ck]
            except KeyError:
                if len(table) >= MEMO_LIMIT:
                    table.clear()
                value = table[ck] = fn(page(ck))
                cache.computed += 1
                return value
            cache.hits += 1
            return value

        self._memos[name] = lookup
        return lookup

    def bytes_of(self, folio: Folio) -> bytes:
        """The folio's bytes, made from its key if it holds one."""
        ck = folio.ck
        return folio.data if ck < 0 else self.page(ck)


def stored(folio: Folio) -> bytes | int:
    """What a reference-capable layer stores for ``folio``: its key or its bytes."""
    ck = folio.ck
    return folio.data if ck < 0 else ck


def fill(folio: Folio, value: bytes | int) -> None:
    """Set what a read returns from a stored value (:func:`stored`)."""
    if isinstance(value, int):
        folio.ck = value
    else:
        folio.data = value


__all__ = ["MEMO_LIMIT", "ContentCache", "fill", "stored"]
