"""The ``ghost`` swap module: a swap area with no backing store (ghost swapfile, ``SWP_GHOST``).

Its slots give zswap entries an identity and nothing else: a write that reaches
it fails and the page stays in memory, so zswap above it runs with writeback
off. See ``docs/ghost.md``.
"""

from .device import GhostDevice

__all__ = ["GhostDevice"]
