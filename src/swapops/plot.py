"""Plots of runs and comparisons (matplotlib, the optional ``plot`` extra).

* :func:`plot_run`: time series of one run: swap entries and slots used, zswap
  pool pages, RAM used, flash WAF over the events.
* :func:`plot_compare`: bars of the main totals per stack, and the slots-used
  series of every stack on one axis.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .errors import ConfigError

INSTALL_HINT = "plots need matplotlib: pip install 'swapops[plot]'"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _check_path(path: str | os.PathLike[str]) -> str:
    name = os.fspath(path)
    if not name.lower().endswith(".png"):
        raise ConfigError(f"plot file {name!r}: give a .png file name")
    parent = os.path.dirname(os.path.abspath(name))
    if not os.path.isdir(parent):
        raise ConfigError(f"plot file {name!r}: directory {parent} does not exist")
    return name


def check_plot(path: str | os.PathLike[str]) -> str:
    """Check that ``path`` can take a PNG and that matplotlib is installed."""
    name = _check_path(path)
    _pyplot()
    return name


def _series_axes(ax: Any, result: dict[str, Any], label: str = "") -> None:
    s = result.get("series", {})
    x = s.get("events", [])
    prefix = f"{label}: " if label else ""
    ax.plot(x, s.get("swap_entries", []), label=f"{prefix}swap entries")
    ax.plot(x, s.get("slots_used", []), label=f"{prefix}slots used")


def plot_run(result: dict[str, Any], path: str | os.PathLike[str]) -> str:
    """Write the time series of one run to ``path`` (PNG); return the path."""
    name = _check_path(path)
    plt = _pyplot()
    s = result.get("series", {})
    x = s.get("events", [])
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    ax = axes[0][0]
    _series_axes(ax, result)
    ax.set_title("swap usage (pages)")
    ax.legend(fontsize=8)
    ax = axes[0][1]
    ax.plot(x, s.get("pool_pages", []), color="tab:green")
    ax.set_title("zswap pool (pages)")
    ax = axes[1][0]
    ax.plot(x, s.get("ram_used", []), color="tab:purple")
    ax.axhline(result.get("config", {}).get("ram_pages", 0), color="grey", linestyle=":", label="RAM")
    ax.set_title("RAM used (pages)")
    ax.legend(fontsize=8)
    ax = axes[1][1]
    waf = [float("nan") if v is None else v for v in s.get("waf", [])]
    ax.plot(x, waf, color="tab:red")
    ax.set_title("flash WAF (modeled)")
    if all(v is None for v in s.get("waf", [])):
        ax.text(0.5, 0.5, "no flash device", ha="center", va="center", transform=ax.transAxes, color="grey")
    if not any(s.get("pool_pages", [])):
        axes[0][1].text(0.5, 0.5, "no zswap", ha="center", va="center", transform=axes[0][1].transAxes,
                        color="grey")
    for row in axes:
        for a in row:
            a.grid(alpha=0.3)
    for a in axes[1]:
        a.set_xlabel("events")
    workload = result.get("workload", {}).get("name", "?")
    fig.suptitle(f"{result.get('stack', '?')} — workload {workload}, seed {result.get('seed')}")
    fig.tight_layout()
    fig.savefig(name, dpi=100)
    plt.close(fig)
    return name


BARS = (
    ("swap_entries_allocated", "pages swapped out (entries allocated)"),
    ("slots_used_peak", "peak slots used"),
    ("pswpout", "pswpout (device writes, pages)"),
    ("nand_writes", "NAND writes (pages, modeled)"),
    ("kernel_bytes", "kernel metadata (bytes, modeled)"),
    ("swapoff_pte_visits", "swapoff PTE visits"),
)


def plot_compare(results: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> str:
    """Bars of the main totals per stack plus the slots-used series; return the path."""
    name = _check_path(path)
    plt = _pyplot()
    labels = [r.get("stack", "?") for r in results]
    short = [lb.replace(":device=", ":").replace(">", ">\n") for lb in labels]
    fig, axes = plt.subplots(3, 3, figsize=(15, 12))
    flat = [a for row in axes for a in row]
    for ax, (key, title) in zip(flat, BARS, strict=False):
        values = [r.get("totals", {}).get(key) or 0 for r in results]
        ax.bar(range(len(values)), values, color=[f"C{i}" for i in range(len(values))])
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(short, fontsize=6)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    series_ax = flat[len(BARS)]
    for i, r in enumerate(results):
        s = r.get("series", {})
        series_ax.plot(s.get("events", []), s.get("slots_used", []), color=f"C{i}", label=labels[i])
    series_ax.set_title("slots used over the run", fontsize=10)
    series_ax.set_xlabel("events")
    series_ax.legend(fontsize=6)
    pool_ax = flat[len(BARS) + 1]
    for i, r in enumerate(results):
        s = r.get("series", {})
        pool_ax.plot(s.get("events", []), s.get("pool_pages", []), color=f"C{i}", label=labels[i])
    pool_ax.set_title("zswap pool pages over the run", fontsize=10)
    waf_ax = flat[len(BARS) + 2]
    for i, r in enumerate(results):
        s = r.get("series", {})
        waf = [float("nan") if v is None else v for v in s.get("waf", [])]
        if any(v == v for v in waf):
            waf_ax.plot(s.get("events", []), waf, color=f"C{i}", label=labels[i])
    waf_ax.set_title("flash WAF over the run (modeled)", fontsize=10)
    for a in (pool_ax, waf_ax):
        a.set_xlabel("events")
        a.grid(alpha=0.3)
    series_ax.grid(alpha=0.3)
    first = results[0] if results else {}
    fig.suptitle(f"swapops compare — workload {first.get('workload', {}).get('name', '?')}, seed {first.get('seed')}")
    fig.tight_layout()
    fig.savefig(name, dpi=90)
    plt.close(fig)
    return name


__all__ = ["plot_run", "plot_compare", "check_plot", "INSTALL_HINT"]
