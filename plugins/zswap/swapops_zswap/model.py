"""Constants and formulas of the zswap model (what they model is said at each).

Kernel constants come from ``mm/zswap.c`` / ``mm/shrinker.c`` as summarised in
``docs/kernel.md`` §3; per-page compressor costs from the
measurements in ``docs/kernel.md`` §4. Kernel metadata (``kernel_overhead()``)
uses :func:`swapops.overhead.zswap_model`.
"""

from __future__ import annotations

#: ``shrink_worker`` gives up after this many failed writebacks (``MAX_RECLAIM_RETRIES``).
MAX_RECLAIM_RETRIES = 16
#: Entries one shrinker call scans at most (``SHRINK_BATCH`` in ``mm/shrinker.c``).
SHRINK_BATCH = 128

#: Modeled compressor cost per 4 KiB page, ``(compress_ns, decompress_ns)``.
#:
#: What it models: the time the named compressor takes for one page, as
#: measured through its Python binding on the reference machine (mean of the
#: ELF and text columns of ``docs/kernel.md`` §4). It is a per-call constant,
#: not a function of the data, and not a kernel (C, in-kernel) speed. zswap
#: counts compress and decompress calls; ``modeled_time_ns`` multiplies.
#: Wall time is never used in any decision.
COMPRESSOR_COST_NS: dict[str, tuple[int, int]] = {
    "lz4": (6_000, 1_500),
    "lz4hc": (40_000, 1_500),
    "zstd": (16_000, 5_350),
    "lzo": (7_250, 6_000),
    "deflate": (106_000, 16_000),
}
