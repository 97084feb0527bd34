"""Swap offsets the kernel assigned against the slots swapops' allocator assigned.

Both sides give, after a phase, the swap offset of every page of the region
that has a swap PTE (the kernel from ``/proc/self/pagemap``, the model from
its page table), or -1. Measures of one side (``offsets``, page order):

``swap_ptes``
    pages with a swap PTE;
``clusters``
    512-slot clusters (``SWAPFILE_CLUSTER``) holding at least one of them;
``cluster_fill``
    ``swap_ptes / (clusters * 512)``: how full the clusters in use are with
    this process's pages;
``sequential``
    of the neighbouring page pairs ``(i, i+1)`` both with a swap PTE, the
    share whose offsets are consecutive too (``offset(i+1) = offset(i) + 1``):
    how much of the region sits in sequential runs on the device;
``mean_run``
    the mean length, in pages, of the maximal runs of such pairs.

Similarity of the two sides (1 is identical):

``cluster_overlap``
    ``sum_c min(k_c, s_c) / max(sum k, sum s)`` over cluster numbers ``c``,
    ``k_c``/``s_c`` the pages in cluster ``c`` on each side: the same
    per-cluster fill, cluster by cluster;
``same_offset``
    of the pages with a swap PTE on both sides, the share with the very same
    offset;
``order``
    Spearman's rank correlation of the two offsets over the pages with a swap
    PTE on both sides: the same *order of swap-out* (allocation follows it),
    whatever the absolute offsets.
"""

from __future__ import annotations

import numpy as np

CLUSTER = 512
MEASURES = ("swap_ptes", "clusters", "cluster_fill", "sequential", "mean_run")
SIMILARITY = ("cluster_overlap", "same_offset", "order")


def measures(offsets: np.ndarray) -> dict[str, float]:
    """The per-side measures of one offsets array (see the module docstring)."""
    swapped = offsets >= 0
    n = int(swapped.sum())
    if n == 0:
        return {"swap_ptes": 0, "clusters": 0, "cluster_fill": 0.0, "sequential": 0.0, "mean_run": 0.0}
    clusters = np.unique(offsets[swapped] // CLUSTER)
    both = swapped[:-1] & swapped[1:]
    seq = both & (offsets[1:] == offsets[:-1] + 1)
    pairs = int(both.sum())
    nseq = int(seq.sum())
    # runs of consecutive sequential pairs: a run of k pairs is k + 1 pages
    starts = int((seq[1:] & ~seq[:-1]).sum() + (1 if len(seq) and seq[0] else 0))
    return {
        "swap_ptes": n,
        "clusters": len(clusters),
        "cluster_fill": n / (len(clusters) * CLUSTER),
        "sequential": nseq / pairs if pairs else 0.0,
        "mean_run": (nseq + starts) / starts if starts else 1.0,
    }


def similarity(kernel: np.ndarray, model: np.ndarray) -> dict[str, float | None]:
    """How alike the two sides' offsets are (None where nothing to compare)."""
    k_on = kernel >= 0
    m_on = model >= 0
    out: dict[str, float | None] = {"cluster_overlap": None, "same_offset": None, "order": None}
    if not k_on.any() and not m_on.any():
        return out
    kc = np.bincount(kernel[k_on] // CLUSTER) if k_on.any() else np.zeros(0, dtype=np.int64)
    mc = np.bincount(model[m_on] // CLUSTER) if m_on.any() else np.zeros(0, dtype=np.int64)
    width = max(len(kc), len(mc))
    kc = np.pad(kc, (0, width - len(kc)))
    mc = np.pad(mc, (0, width - len(mc)))
    out["cluster_overlap"] = float(np.minimum(kc, mc).sum() / max(kc.sum(), mc.sum()))
    both = k_on & m_on
    if both.any():
        out["same_offset"] = float((kernel[both] == model[both]).mean())
        if both.sum() > 2:
            rk = np.argsort(np.argsort(kernel[both])).astype(np.float64)
            rm = np.argsort(np.argsort(model[both])).astype(np.float64)
            if rk.std() > 0 and rm.std() > 0:
                out["order"] = float(np.corrcoef(rk, rm)[0, 1])
    return out


__all__ = ["measures", "similarity", "MEASURES", "SIMILARITY", "CLUSTER"]
