"""The constants every layer of the model shares, in one place.

The simulated machine is x86-64 with 4 KiB pages and THP swap
(``CONFIG_THP_SWAP``), as the kernel this project validates against builds it
(see ``docs/kernel.md``). Core and modules import these names from here;
``swapops.sizes``, ``swapops.folio`` and ``swapops.cluster`` re-export the
ones they always had.
"""

from __future__ import annotations

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT  # 4096

#: HPAGE_PMD_ORDER on x86-64: a PMD-mapped THP is 512 pages.
PMD_ORDER = 9
#: The largest folio swapped out whole (orders 0..MAX_ORDER).
MAX_ORDER = PMD_ORDER
#: Orders a cluster allocator keeps per-order state for (``SWAP_NR_ORDERS``).
SWAP_NR_ORDERS = PMD_ORDER + 1

#: A swap cluster is ``SWAPFILE_CLUSTER = HPAGE_PMD_NR`` slots (``mm/swapfile.c``).
CLUSTER_SHIFT = PMD_ORDER
CLUSTER_SIZE = 1 << CLUSTER_SHIFT  # 512
CLUSTER_MASK = CLUSTER_SIZE - 1

#: Swap types (``MAX_SWAPFILES_SHIFT`` = 5 in ``include/linux/swap.h``; the
#: kernel takes a few of the 32 for migration/device/hwpoison entries, the
#: model keeps all 32 for areas).
MAX_SWAPFILES = 32

#: The slot space of an unbounded (virtual) device: the Swap Table Edition
#: widens ``si->max`` to ``unsigned long``, "~8 PB" of 4 KiB pages = 2**41 slots.
UNBOUNDED_SIZE = 1 << 41

__all__ = [
    "CLUSTER_MASK",
    "CLUSTER_SHIFT",
    "CLUSTER_SIZE",
    "MAX_ORDER",
    "MAX_SWAPFILES",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "PMD_ORDER",
    "SWAP_NR_ORDERS",
    "UNBOUNDED_SIZE",
]
