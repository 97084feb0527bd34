"""The ``zswap`` swap module: a compressed cache with real compressors, a
zsmalloc pool model, pool limits and second-chance LRU writeback."""

from .device import MODE_DIRECT, MODE_KEYED, ZswapDevice

__all__ = ["MODE_DIRECT", "MODE_KEYED", "ZswapDevice"]
