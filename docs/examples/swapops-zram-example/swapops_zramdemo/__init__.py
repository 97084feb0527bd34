"""swapops-zram-example: a zram-like compressed RAM block device as a swapops module."""

from .device import ZramDemoDevice

__all__ = ["ZramDemoDevice"]
