"""The ``zram`` swap module: a compressed RAM block device as a swap area (``drivers/block/zram``).

Pages are compressed into a zsmalloc pool (same-filled pages stored as one
word, incompressible ones whole), capped by ``mem_limit``; idle or huge pages
can be written back to a backing device, the stack below (``zram>swapfile``).
See ``docs/zram.md``.
"""

from .device import RECOMPRESS_TYPES, WRITEBACK_MODES, ZramDevice

__all__ = ["RECOMPRESS_TYPES", "WRITEBACK_MODES", "ZramDevice"]
