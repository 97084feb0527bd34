"""Configuration values of the NAND/FTL model: geometry and timing.

Both are frozen attrs values with validators (configuration, not the per-page
path). Over-provisioning follows the SSD vendors' definition::

    op = (physical - logical) / logical        physical = logical * (1 + op)

Papers on write amplification often use the *spare factor*
``Sf = (physical - logical) / physical = op / (1 + op)`` or the utilisation
``alpha = logical / physical = 1 / (1 + op)``; :attr:`FlashGeometry.alpha` and
:attr:`FlashGeometry.spare_factor` give those. (Desnoyers' alpha is the
reciprocal, ``physical / logical = 1 / (1 - Sf)``.)
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs

from ..errors import ConfigError

GC_POLICIES = ("greedy", "fifo", "cost-benefit")


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{attribute.name} must be a positive integer, not {value!r}")


def _non_negative(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{attribute.name} must be a non-negative integer, not {value!r}")


def _default_logical(self: FlashGeometry) -> int:
    # floor(physical / (1 + op)); the epsilon keeps exact ratios (e.g. 1070 / 1.07) exact.
    try:
        return max(1, int(math.floor(self.nr_blocks * self.pages_per_block / (1.0 + self.over_provisioning) + 1e-9)))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return 1  # placeholder: the field validators report the real error


@attrs.frozen(kw_only=True)
class FlashGeometry:
    """Shape of the modeled NAND array and of its page-mapped FTL.

    :param nr_blocks: erase blocks in the device (all of them: user space,
        over-provisioning and the GC reserve). Use :meth:`for_logical_pages`
        to derive it from a logical size.
    :param page_size: bytes per NAND page; one host page maps to one NAND page.
    :param pages_per_block: pages in one erase block.
    :param over_provisioning: spare fraction as SSD vendors define it,
        ``physical = logical * (1 + op)``. Only used to derive
        ``logical_pages`` when that is not given.
    :param logical_pages: pages the host may address (LPNs ``0 .. logical_pages-1``).
        Default: ``floor(physical_pages / (1 + over_provisioning))``.
    :param gc: victim selection: ``"greedy"`` (fewest valid pages), ``"fifo"``
        (oldest closed block, which is also LRU for a log-structured FTL) or
        ``"cost-benefit"`` (Kawaguchi et al. 1995: max ``age * (1 - u) / 2u``).
    :param wear_leveling_threshold: static wear levelling. When the largest
        erase count exceeds the smallest erase count of a block holding data by
        more than this, that coldest block's data is migrated and the block is
        erased so it takes hot data. ``None`` disables it.
    :param gc_low_watermark: free blocks kept in reserve. Whenever the write
        frontier moves to a fresh block and fewer blocks than this are free,
        GC cleans victims until this many are free again.
    """

    nr_blocks: int = attrs.field(validator=_positive)
    page_size: int = attrs.field(default=4096, validator=_positive)
    pages_per_block: int = attrs.field(default=256, validator=_positive)
    over_provisioning: float = attrs.field(default=0.07)
    logical_pages: int = attrs.field(
        default=attrs.Factory(_default_logical, takes_self=True), validator=_positive
    )
    gc: str = attrs.field(default="greedy")
    wear_leveling_threshold: int | None = attrs.field(default=None)
    gc_low_watermark: int = attrs.field(default=1, validator=_positive)

    @over_provisioning.validator
    def _check_op(self, _attribute: attrs.Attribute[Any], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0.0:
            raise ConfigError(f"over_provisioning must be a number >= 0, not {value!r}")

    @gc.validator
    def _check_gc(self, _attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in GC_POLICIES:
            raise ConfigError(f"unknown GC policy {value!r}; expected one of {', '.join(GC_POLICIES)}")

    @wear_leveling_threshold.validator
    def _check_wl(self, attribute: attrs.Attribute[Any], value: int | None) -> None:
        if value is not None:
            _non_negative(self, attribute, value)

    def __attrs_post_init__(self) -> None:
        usable = (self.nr_blocks - self.gc_low_watermark) * self.pages_per_block
        if self.logical_pages >= usable:
            # GC needs at least one invalid page among the closed blocks to make progress.
            raise ConfigError(
                f"{self.logical_pages} logical pages do not fit: with {self.nr_blocks} blocks of "
                f"{self.pages_per_block} pages and {self.gc_low_watermark} reserve block(s) at most "
                f"{usable - 1} logical pages leave GC room to work (raise over_provisioning or nr_blocks)"
            )

    @classmethod
    def for_logical_pages(
        cls,
        n_logical: int,
        *,
        over_provisioning: float = 0.07,
        pages_per_block: int = 256,
        **kwargs: Any,
    ) -> FlashGeometry:
        """A geometry exposing exactly ``n_logical`` pages with at least the requested
        over-provisioning: ``nr_blocks = ceil(n_logical * (1 + op) / pages_per_block)``.

        Rounding up to whole blocks makes :attr:`effective_over_provisioning`
        slightly larger than requested. A device so small that the requested
        over-provisioning would not leave GC its reserve blocks plus one spare
        page gets those blocks too (a 4 MiB device at 7 % has 6 blocks, not 5),
        so :attr:`effective_over_provisioning` says what was really built.
        Other fields pass through ``kwargs``.
        """
        if isinstance(n_logical, bool) or not isinstance(n_logical, int) or n_logical <= 0:
            raise ConfigError(f"n_logical must be a positive integer, not {n_logical!r}")
        if not isinstance(over_provisioning, int | float) or not over_provisioning >= 0.0:
            raise ConfigError(f"over_provisioning must be a number >= 0, not {over_provisioning!r}")
        if isinstance(pages_per_block, bool) or not isinstance(pages_per_block, int) or pages_per_block <= 0:
            raise ConfigError(f"pages_per_block must be a positive integer, not {pages_per_block!r}")
        blocks = math.ceil(n_logical * (1.0 + over_provisioning) / pages_per_block - 1e-9)
        reserve = kwargs.get("gc_low_watermark", 1)
        if isinstance(reserve, int) and not isinstance(reserve, bool) and reserve > 0:
            blocks = max(blocks, (n_logical + 1 + pages_per_block - 1) // pages_per_block + reserve)
        return cls(
            nr_blocks=max(blocks, 1),
            pages_per_block=pages_per_block,
            over_provisioning=over_provisioning,
            logical_pages=n_logical,
            **kwargs,
        )

    @property
    def physical_pages(self) -> int:
        """All NAND pages: ``nr_blocks * pages_per_block``."""
        return self.nr_blocks * self.pages_per_block

    @property
    def effective_over_provisioning(self) -> float:
        """``physical_pages / logical_pages - 1`` (vendor definition), after rounding."""
        return self.physical_pages / self.logical_pages - 1.0

    @property
    def alpha(self) -> float:
        """Utilisation ``logical / physical`` (the reciprocal of Desnoyers' alpha = physical / logical)."""
        return self.logical_pages / self.physical_pages

    @property
    def spare_factor(self) -> float:
        """``(physical - logical) / physical`` (the spare factor Sf of Hu et al.)."""
        return 1.0 - self.alpha


# Typical datasheet-order values for 3D TLC NAND behind each interface. They are
# modeled figures, not measurements of any product: tR/tPROG/tBERS of current TLC
# parts are tens of µs / several hundred µs / a few ms; transfer_ns is one 4 KiB
# page over the host link (eMMC HS400 ~400 MB/s, UFS 3.1 ~1.5 GB/s, PCIe 4 x4
# NVMe ~7 GB/s, SATA 6 Gb/s ~550 MB/s); parallelism is the number of dies/planes
# working at once (small for eMMC, large for NVMe).
_PROFILES: dict[str, dict[str, int]] = {
    "emmc": dict(read_ns=60_000, program_ns=700_000, erase_ns=5_000_000, transfer_ns=10_000, parallelism=4),
    "ufs": dict(read_ns=50_000, program_ns=600_000, erase_ns=4_000_000, transfer_ns=2_700, parallelism=8),
    "nvme": dict(read_ns=50_000, program_ns=500_000, erase_ns=3_500_000, transfer_ns=600, parallelism=64),
    "sata-ssd": dict(read_ns=50_000, program_ns=600_000, erase_ns=3_500_000, transfer_ns=7_500, parallelism=16),
}


@attrs.frozen(kw_only=True)
class FlashTiming:
    """Latencies the model charges, in nanoseconds (modeled, not measured).

    ``modeled_time_ns`` of :meth:`NandFlash.stats` is the serial sum
    ``reads*(read+transfer) + host_writes*(transfer+program) +
    gc_copies*(read+program) + erases*erase``, divided by ``parallelism``
    (perfect striping over that many dies). GC copies use on-chip copy-back,
    so they pay no host transfer.
    """

    PROFILES: ClassVar[tuple[str, ...]] = tuple(_PROFILES)

    read_ns: int = attrs.field(default=50_000, validator=_non_negative)
    program_ns: int = attrs.field(default=600_000, validator=_non_negative)
    erase_ns: int = attrs.field(default=3_500_000, validator=_non_negative)
    transfer_ns: int = attrs.field(default=0, validator=_non_negative)
    parallelism: int = attrs.field(default=1, validator=_positive)

    @classmethod
    def profile(cls, name: str) -> FlashTiming:
        """A named profile: ``"emmc"``, ``"ufs"``, ``"nvme"`` or ``"sata-ssd"``.

        The numbers are typical datasheet-order values for 3D TLC NAND behind
        that interface, used as model inputs; no product was measured.
        """
        try:
            return cls(**_PROFILES[name])
        except KeyError:
            raise ConfigError(
                f"unknown flash timing profile {name!r}; expected one of {', '.join(_PROFILES)}"
            ) from None
