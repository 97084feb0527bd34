"""Folios: the unit of memory that is swapped out and in.

A folio of order ``n`` holds ``4096 << n`` bytes (orders 0..9, as with THP
swap on x86-64). It is a plain slotted object: it is created once per swap
operation, so it must be cheap (no attrs validators on this path).
"""

from __future__ import annotations

from .constants import MAX_ORDER, PAGE_SHIFT, PAGE_SIZE
from .errors import ConfigError

_SIZE_TO_ORDER = {PAGE_SIZE << order: order for order in range(MAX_ORDER + 1)}
ZERO_PAGES: tuple[bytes, ...] = tuple(bytes(PAGE_SIZE << o) for o in range(MAX_ORDER + 1))


class Folio:
    """``data`` of 4096·2^order bytes; ``dirty`` is set when the only copy is in memory.

    A device's ``swapops_read_folio`` fills ``data``; a load that consumes the
    stored copy (zswap's exclusive load) sets ``dirty`` so the swap cache knows
    the page must be written again before it may be dropped.
    """

    __slots__ = ("data", "order", "dirty")

    def __init__(self, data: bytes | bytearray | memoryview, order: int | None = None) -> None:
        if not isinstance(data, bytes):
            if not isinstance(data, bytearray | memoryview):
                # bytes(4096) would silently be a zero page, bytes("abc") a TypeError
                raise ConfigError(f"folio data must be bytes, bytearray or memoryview, not {type(data).__name__}")
            data = bytes(data)
        size_order = _SIZE_TO_ORDER.get(len(data))
        if size_order is None:
            raise ConfigError(
                f"folio of {len(data)} bytes: a folio holds 4096 << order bytes, order 0..{MAX_ORDER}"
            )
        if order is not None and order != size_order:
            raise ConfigError(f"folio of {len(data)} bytes is order {size_order}, not {order}")
        self.data: bytes = data
        self.order: int = size_order
        self.dirty: bool = False

    @classmethod
    def empty(cls, order: int) -> Folio:
        """An empty folio of ``order`` for a read to fill (``data`` is ``b""``).

        What a layer passes to its lower device's ``read`` when it needs the
        bytes itself (a bounce folio). It skips the constructor's checks, so
        it costs one allocation on the per-page path; ``order`` is not
        validated.
        """
        folio = cls.__new__(cls)
        folio.data = b""
        folio.order = order
        folio.dirty = False
        return folio

    # The name this had before it was public (callers outside this project's
    # modules may still use it).
    _empty = empty

    @property
    def nr_pages(self) -> int:
        return 1 << self.order

    def is_zero(self) -> bool:
        return self.data == ZERO_PAGES[self.order]

    def pages(self) -> list[bytes]:
        """The folio's pages, as order-0 byte strings."""
        data = self.data
        return [data[i : i + PAGE_SIZE] for i in range(0, len(data), PAGE_SIZE)]

    def split(self) -> list[Folio]:
        """Order-0 folios, as reclaim splits a large folio it cannot swap out whole."""
        return [Folio(page) for page in self.pages()]

    def __len__(self) -> int:
        return len(self.data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Folio):
            return self.data == other.data
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        kind = "zero" if self.is_zero() else f"{self.data[:8].hex()}…"
        return f"Folio(order={self.order}, {kind})"


__all__ = ["Folio", "MAX_ORDER", "PAGE_SHIFT", "PAGE_SIZE", "ZERO_PAGES"]
