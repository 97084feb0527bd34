"""The ``vswap`` swap module: a virtual swap space (Nhat Pham's vswap, v5/v6 design)."""

from .device import FOLIO, ZERO, VswapDevice

__all__ = ["FOLIO", "ZERO", "VswapDevice"]
