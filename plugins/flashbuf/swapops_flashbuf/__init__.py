"""The ``flashbuf`` swap module: a flash-friendly RAM write buffer over a physical device.

Pages written to flashbuf gather in a RAM buffer and reach the device below as
sequential writes of whole erase-block-sized segments; freed pages are
discarded so the FTL can TRIM them; a segment cleaner (greedy or
cost-benefit) compacts the log. See ``docs/flashbuf.md``.
"""

from .device import FlashbufDevice, flash_block_pages

__all__ = ["FlashbufDevice", "flash_block_pages"]
