"""NAND flash / FTL device model: page-mapped FTL, GC policies, wear, modeled time.

Used underneath the ``swapfile`` module (``swapfile:device=flash,...``: one
swap slot write is one host page write at LPN = slot offset, discard is TRIM)
and on its own for analysis. See ``docs/flash.md``.
"""

from .analytic import (
    agarwal_waf,
    alpha_from_op,
    desnoyers_greedy_waf,
    fifo_valid_fraction,
    fifo_waf,
    greedy_victim_valid,
    greedy_waf,
    lambert_w0,
)
from .ftl import FlashCounters, InvalidLPNError, NandFlash
from .geometry import GC_POLICIES, FlashGeometry, FlashTiming

__all__ = [
    "GC_POLICIES",
    "FlashCounters",
    "FlashGeometry",
    "FlashTiming",
    "InvalidLPNError",
    "NandFlash",
    "agarwal_waf",
    "alpha_from_op",
    "desnoyers_greedy_waf",
    "fifo_valid_fraction",
    "fifo_waf",
    "greedy_victim_valid",
    "greedy_waf",
    "lambert_w0",
]
