"""Plots of runs and comparisons (matplotlib, the optional ``plot`` extra).

* :func:`plot_run`: time series of one run: swap entries and slots used, zswap
  pool pages, RAM used, flash WAF over the events.
* :func:`plot_compare`: the key costs per design at a glance, one small bar
  chart per cost (device writes and reads, NAND writes with the WAF, kernel
  metadata, zswap pool, swapoff work, modeled device time), the designs
  labelled ``A``, ``B``, ... as in ``swapops compare``'s table, with a legend.

Every count axis prints its ticks with thousands separators (``2,230``, never
``2.23e+03``): :func:`count_axis`.
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


def thousands(value: float, _pos: object = None) -> str:
    """A tick label: ``12,345`` from 1,000 up, else the shortest exact form (``0.5``, ``1.25``)."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def count_axis(ax: Any, *which: str) -> None:
    """Thousands separators on the ``y`` (and/or ``x``) ticks of ``ax``, no offset or exponent."""
    from matplotlib.ticker import FuncFormatter

    for name in which or ("y",):
        getattr(ax, f"{name}axis").set_major_formatter(FuncFormatter(thousands))


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
            count_axis(a, "x", "y")
    for a in axes[1]:
        a.set_xlabel("events")
    workload = result.get("workload", {}).get("name", "?")
    fig.suptitle(f"{result.get('stack', '?')} — workload {workload}, seed {result.get('seed')}")
    fig.tight_layout()
    fig.savefig(name, dpi=100)
    plt.close(fig)
    return name


def _kib(v: Any) -> float | None:
    return None if v is None else float(v) / 1024


def _s(v: Any) -> float | None:
    return None if v is None else float(v) / 1e9


#: The small multiples of :func:`plot_compare`: a title and one or two
#: (totals key, bar label, scale) per panel; a second key draws a second bar per design.
PANELS: tuple[tuple[str, tuple[tuple[str, str, Any], ...]], ...] = (
    ("pages swapped out (entries allocated)", (("swap_entries_allocated", "", None),)),
    ("device I/O (pages)", (("pswpout", "pswpout", None), ("pswpin", "pswpin", None))),
    ("NAND writes (pages, modeled; WAF above)", (("nand_writes", "", None),)),
    ("kernel metadata (KiB, modeled)", (("kernel_bytes", "in use", _kib), ("kernel_static_bytes", "at swapon", _kib))),
    ("zswap pool (pages at the end)", (("pool_pages", "", None),)),
    ("swapoff work", (("swapoff_pte_visits", "PTE visits", None), ("swapoff_entries_moved", "entries moved", None))),
    ("major faults", (("pgmajfault", "", None),)),
    ("slots used, peak", (("slots_used_peak", "", None),)),
    ("device time (s, modeled)", (("modeled_time_ns", "", _s),)),
)


def plot_compare(results: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> str:
    """The key costs per design, one bar chart each, designs labelled ``A``.. with a legend; return the path."""
    from matplotlib.patches import Patch

    from .render import design_labels

    name = _check_path(path)
    plt = _pyplot()
    labels = design_labels(len(results))
    fig, axes = plt.subplots(3, 3, figsize=(15, 11.5))
    flat = [a for row in axes for a in row]
    x = list(range(len(results)))
    colours = [f"C{i % 10}" for i in x]
    for ax, (title, keys) in zip(flat, PANELS, strict=True):
        width = 0.8 / len(keys)
        for k, (key, _part, scale) in enumerate(keys):
            raw = [r.get("totals", {}).get(key) for r in results]
            values = [(scale(v) if scale else v) if v is not None else None for v in raw]
            heights = [0.0 if v is None else float(v) for v in values]
            offset = (k - (len(keys) - 1) / 2) * width
            bars = ax.bar([i + offset for i in x], heights, width=width, color=colours,
                          hatch="//" if k else None, edgecolor="white" if k else None)
            texts = ["n/a" if v is None else thousands(v) for v in values]
            if key == "nand_writes":  # the WAF on top of each flash bar
                wafs = [r.get("totals", {}).get("waf") for r in results]
                texts = [t if w is None else f"{t}\nWAF {w:.2f}" for t, w in zip(texts, wafs, strict=True)]
            ax.bar_label(bars, labels=texts, fontsize=6, padding=1)
        parts = [part for _, part, _ in keys if part]
        if parts:  # which bar is which: said in the title (a legend would hide bars)
            title = f"{title}: {parts[0]}, hatched {parts[1]}"
        ax.set_xticks(x)
        ax.set_xticklabels(labels)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.margins(y=0.18)  # room for the value labels
        count_axis(ax)
    handles = [Patch(color=colours[i], label=f"{labels[i]}  {r.get('stack', '?')}") for i, r in enumerate(results)]
    fig.legend(handles=handles, loc="lower center", ncol=min(4, max(1, len(results))), fontsize=8, frameon=False)
    first = results[0] if results else {}
    fig.suptitle(f"swapops compare — {first.get('events', 0):,} events of "
                 f"{first.get('workload', {}).get('name', '?')}, seed {first.get('seed')}")
    rows = -(-len(results) // 4)
    fig.tight_layout(rect=(0, 0.03 + 0.025 * rows, 1, 0.97))
    fig.savefig(name, dpi=90)
    plt.close(fig)
    return name


__all__ = ["plot_run", "plot_compare", "check_plot", "count_axis", "thousands", "PANELS", "INSTALL_HINT"]
