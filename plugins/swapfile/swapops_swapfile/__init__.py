"""The ``swapfile`` swap module: a physical swap area with the kernel's cluster allocator."""

from .device import SwapfileDevice

__all__ = ["SwapfileDevice"]
