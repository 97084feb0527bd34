"""The reference model the conformance machines check swap stacks against.

Plain Python, no hypothesis. A *page* is what a process swapped out: a
folio's bytes, its order and the page-table references it holds. Each *lane*
is one :class:`swapops.SwapSystem` driven in lockstep with the others; in a
lane a page is **swapped** (one entry, or one entry per subpage after a
split) or **held** in memory (its swap-out was refused there, or swapoff
brought it back). Every lane must give back the model's bytes.

The model also mirrors what the core promises about entries:

* a live entry's slots (``offset .. offset + 2**order - 1`` of its swap
  type) are never handed out again while it lives (:meth:`Lane.claim`);
* an entry whose last reference is dropped disappears, unless it was pinned
  in the swap cache (``swap_in(entry, cache=True)``): then it lives on with
  count 0 (:attr:`Lane.cache_only`) until its folio leaves the swap cache.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from swapops.sizes import PAGE_SIZE

Entry = tuple[int, int]


class ModelError(AssertionError):
    """The system under test disagrees with the model."""


def first_difference(got: bytes, want: bytes) -> str:
    """Where two byte strings first differ, for error messages."""
    if len(got) != len(want):
        return f"{len(got)} bytes instead of {len(want)}"
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        if a != b:
            return f"byte {i} (page {i // PAGE_SIZE}) is {a:#04x}, expected {b:#04x}"
    return "identical"


@attrs.define(eq=False)
class Page:
    """One swapped-out folio as the process sees it."""

    pid: int
    data: bytes = attrs.field(repr=False)
    order: int
    refs: int = 1  # page-table references (the swap count of each of its entries)


@attrs.define(eq=False)
class Placement:
    """Where one lane keeps a page: its entries (one, or one per subpage), or memory."""

    entries: list[Entry] = attrs.field(factory=list)
    pinned: bool = False  # swap_in(cache=True) was asked since the last cache drop

    @property
    def held(self) -> bool:
        return not self.entries


@attrs.define(eq=False)
class Lane:
    """One system's view: where each page is, and which slots live entries occupy."""

    name: str
    placements: dict[int, Placement] = attrs.field(factory=dict)
    #: entries with no reference left, alive in the swap cache: entry -> (order, bytes)
    cache_only: dict[Entry, tuple[int, bytes]] = attrs.field(factory=dict)
    #: swap type -> slot -> the live entry that covers it
    occupied: dict[int, dict[int, Entry]] = attrs.field(factory=dict)

    def claim(self, entry: Entry, order: int) -> None:
        """Record a new entry; fail if any of its slots belongs to a live entry."""
        swap_type, offset = entry
        slots = self.occupied.setdefault(swap_type, {})
        end = offset + (1 << order)
        for slot in range(offset, end):
            other = slots.get(slot)
            if other is not None:
                raise ModelError(
                    f"{self.name}: new entry {entry} (order {order}) reuses slot {slot} of live entry {other}"
                )
        for slot in range(offset, end):
            slots[slot] = entry

    def release(self, entry: Entry, order: int) -> None:
        """Forget a freed entry's slots."""
        swap_type, offset = entry
        slots = self.occupied.get(swap_type, {})
        for slot in range(offset, offset + (1 << order)):
            if slots.pop(slot, None) != entry:
                raise ModelError(f"{self.name}: the model lost track of slot {slot} of {entry}")

    def slots(self, swap_type: int) -> int:
        """Slots live entries of ``swap_type`` cover, by the model."""
        return len(self.occupied.get(swap_type, ()))

    def nr_entries(self) -> int:
        return sum(len(p.entries) for p in self.placements.values()) + len(self.cache_only)

    def swapped(self) -> Iterator[tuple[int, Placement]]:
        """(page id, placement) of the pages swapped in this lane, by page id."""
        for pid in sorted(self.placements):
            placement = self.placements[pid]
            if placement.entries:
                yield pid, placement


def entry_parts(page: Page, placement: Placement) -> list[tuple[Entry, int, bytes]]:
    """``(entry, order, bytes)`` for each entry of a swapped page (one, or one per subpage)."""
    if len(placement.entries) == 1:
        return [(placement.entries[0], page.order, page.data)]
    return [
        (entry, 0, page.data[k * PAGE_SIZE : (k + 1) * PAGE_SIZE])
        for k, entry in enumerate(placement.entries)
    ]


@attrs.define(eq=False)
class SwapModel:
    """Pages by id, and per lane where each page is."""

    lanes: list[Lane]
    pages: dict[int, Page] = attrs.field(factory=dict)
    next_pid: int = 0

    def new_page(self, data: bytes, order: int) -> Page:
        if len(data) != PAGE_SIZE << order:
            raise ValueError(f"a page of {len(data)} bytes is not of order {order}")
        page = Page(self.next_pid, data, order)
        self.next_pid += 1
        self.pages[page.pid] = page
        return page

    def referenced(self) -> list[int]:
        """Ids of the pages still referenced, oldest first."""
        return [pid for pid, page in self.pages.items() if page.refs > 0]

    def forget(self, pid: int) -> None:
        """The last reference went: no lane places the page any more."""
        page = self.pages.pop(pid)
        if page.refs:
            raise ModelError(f"page {pid} forgotten with {page.refs} references")
        for lane in self.lanes:
            if pid in lane.placements:
                raise ModelError(f"{lane.name}: page {pid} forgotten while still placed")


__all__ = ["Entry", "Lane", "ModelError", "Page", "Placement", "SwapModel", "entry_parts", "first_difference"]
