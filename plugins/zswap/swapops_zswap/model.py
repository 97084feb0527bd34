"""Constants and formulas of the zswap model (what they model is said at each).

Kernel constants come from Linux 6.12 (``mm/internal.h``, ``mm/shrinker.c``,
``mm/zswap.c``) as summarised in ``docs/kernel.md`` §3; per-page compressor
costs from the measurements in ``docs/kernel.md`` §4. Kernel metadata
(``kernel_overhead()``) uses :func:`swapops.overhead.zswap_model`.
"""

from __future__ import annotations

from swapops.compress import COMPRESSOR_COST_NS as _COST_NS

#: ``shrink_worker`` gives up after this many failures, a second-chance rotation
#: counting as one (``MAX_RECLAIM_RETRIES``, ``mm/internal.h``).
MAX_RECLAIM_RETRIES = 16
#: Entries one shrinker call scans at most (``SHRINK_BATCH`` in ``mm/shrinker.c``).
SHRINK_BATCH = 128

#: Modeled compressor cost per 4 KiB page, ``(compress_ns, decompress_ns)``:
#: the core's table (:data:`swapops.compress.COMPRESSOR_COST_NS`, shared with zram).
COMPRESSOR_COST_NS = _COST_NS
