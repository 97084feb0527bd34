"""``swap_in(entry, cache=True)`` pins the entry in the swap cache on every stack.

Under ``zswap>swapfile`` a first ``swap_in`` is an exclusive load: the folio
goes to the swap cache dirty (its compressed copy is gone) but unpinned, so
the last ``swap_free`` takes it along. A later ``swap_in(entry, cache=True)``
finds it there and must pin it, as the same call pins it under ``swapfile``
(where the first read leaves the copy on the device and caches nothing):
the entry then outlives its last reference until ``swap_cache_drop``.
"""

from __future__ import annotations

import random

import pytest

import swapops
from swapops import Folio


def _page(seed: int) -> bytes:
    return random.Random(seed).randbytes(4096)


@pytest.mark.parametrize("stack", ["swapfile", "zswap>swapfile", "vswap>zswap>swapfile"])
def test_cache_true_pins_an_entry_already_cached(stack: str) -> None:
    system = swapops.SwapSystem(seed=1)
    dev = system.swapon(stack, size="4M")
    data = _page(1)
    entry = system.swap_out(Folio(data))
    first = system.swap_in(entry)  # zswap: exclusive load, cached dirty and unpinned
    assert first.data == data
    again = system.swap_in(entry, cache=True)
    assert again.data == data
    assert system.swap_free(entry) == 0  # the last page-table reference
    # Pinned: still a live entry, served from the swap cache, until dropped.
    assert entry in set(system.live_entries())
    assert system.swap_in(entry).data == data
    assert system.swap_cache_size() == 1
    system.swap_cache_drop(entry)
    assert system.swap_cache_size() == 0
    assert entry not in set(system.live_entries())
    assert dev.used == 0


@pytest.mark.parametrize("stack", ["swapfile", "zswap>swapfile"])
def test_without_cache_true_the_last_free_releases(stack: str) -> None:
    """The other half of the documented rule: an unpinned entry goes with its last reference."""
    system = swapops.SwapSystem(seed=1)
    dev = system.swapon(stack, size="4M")
    entry = system.swap_out(Folio(_page(2)))
    system.swap_in(entry)
    assert system.swap_free(entry) == 0
    assert entry not in set(system.live_entries())
    assert system.swap_cache_size() == 0 and dev.used == 0
