"""The swapfile device: slots on RAM or a real file, allocated by the kernel's
cluster allocator (:mod:`swapops.cluster`), with a timing profile and, on
``device=flash``, a NAND/FTL model underneath.

Faithful points (``docs/kernel.md`` §1, §2): slot 0 is the header and bad;
bad pages from the header and the tail of the last cluster are bad slots;
``si->pages = max - 1 - bad``; large folios only on block devices (a regular
file splits them, as ``folio_alloc_swap`` returns no slot for them there);
page discard frees clusters through a discard list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import swapops
from swapops import overhead
from swapops.cluster import ClusterAllocator
from swapops.constants import CLUSTER_SIZE
from swapops.device import SwapContext, SwapDevice
from swapops.errors import ConfigError, InvalidSwapHeaderError
from swapops.folio import Folio
from swapops.options import Option
from swapops.sizes import PAGE_SIZE
from swapops.timing import PROFILES, DeviceTiming, get_profile

from .backing import FileBacking, RamBacking

DEVICES = (*PROFILES, "flash")


#: Options of the NAND model; given without device=flash they would be ignored.
_FLASH_ONLY = ("flash_timing", "op", "pages_per_block", "gc", "wear_threshold")


class SwapfileDevice(SwapDevice):
    """A physical swap area: RAM-backed (a block device such as zram or a
    partition) or a file carrying a Linux swap header."""

    NAME = "swapfile"
    KIND = "physical"
    LOWER_KINDS: ClassVar[frozenset[str]] = frozenset()
    SUMMARY = "physical swap area: kernel cluster allocator, RAM or real file with a swap header"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        # 256 TiB: a simulator limit (about 560 MB of allocator state), above any swap area in use.
        "size": Option("size", None, "device size in bytes (K/M/G/T); required for RAM or a new file",
                       maximum=float(1 << 48)),
        "path": Option("str", None, "backing file; created and formatted if missing (RAM when unset)"),
        "label": Option("str", "", "label when a new file is formatted"),
        "uuid": Option("str", None, "UUID when a new file is formatted (default: random)"),
        "blockdev": Option("bool", None, "treat as a block device: large folios, bad pages allowed "
                           "(default: yes for RAM, no for a file)"),
        "rotational": Option("bool", None, "rotational media: one global cluster instead of per-CPU "
                             "(default: from the device profile)"),
        "discard": Option("bool", False, "page discard (SWAP_FLAG_DISCARD_PAGES): freed clusters are discarded"),
        "cpus": Option("int", 1, "simulated CPUs with their own current cluster (a run gives its "
                       "machine's CPUs)", minimum=1, maximum=1024),
        "device": Option("choice", "ram", "timing profile; flash adds a NAND/FTL model", choices=DEVICES),
        "flash_timing": Option("choice", "emmc", "timing of the NAND model (device=flash)",
                               choices=("emmc", "ufs", "nvme", "sata-ssd")),
        "op": Option("float", 0.07, "NAND over-provisioning (device=flash)", minimum=0.0, maximum=4.0),
        # Real NAND erase blocks hold 64 to a few thousand pages; the model's arrays grow with it.
        "pages_per_block": Option("int", 256, "NAND pages per erase block (device=flash)", minimum=2,
                                  maximum=65536),
        "gc": Option("choice", "greedy", "FTL GC victim policy (device=flash)",
                     choices=("greedy", "fifo", "cost-benefit")),
        "wear_threshold": Option("int", None, "static wear levelling threshold in erases (device=flash)",
                                 minimum=1),
    }

    @property
    def content_ref(self) -> bool:
        """A RAM-backed swapfile holds content keys (reference mode); one on a real file needs bytes."""
        return self.path is None

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        self.path: str | None = options["path"]
        self.header: Any = None
        self.nr_slots = 0
        self.allocator: ClusterAllocator | None = None
        self.backing: RamBacking | FileBacking | None = None
        self.timing: DeviceTiming = PROFILES["ram"]
        self.flash: Any = None
        self.reads = 0
        self.writes = 0
        self.discards = 0
        self.modeled_ns = 0
        self._last_end = -1
        self._timed = False  # the RAM profile costs no modeled time: skip the model

    # -- lifecycle -------------------------------------------------------------

    @swapops.hookimpl
    def swapops_activate(self, ctx: SwapContext) -> None:
        opts = self.options
        device = opts["device"]
        if device != "flash":  # refused before a file is created for nothing
            ignored = [k for k in _FLASH_ONLY if opts[k] != self.OPTIONS[k].default]
            if ignored:
                raise ConfigError(f"swapfile: option {ignored[0]} applies only with device=flash (device={device})")
        try:
            self._activate(ctx)
        except BaseException:
            if isinstance(self.backing, FileBacking):
                self.backing.discard()  # a file this swapon created does not stay behind
            raise

    def _activate(self, ctx: SwapContext) -> None:
        opts = self.options
        bad: list[int] = [0]
        if self.path is None:
            if opts["size"] is None:
                raise ConfigError("swapfile: size is required for a RAM-backed device (e.g. size=64M)")
            self.nr_slots = opts["size"] // PAGE_SIZE
            blockdev = True if opts["blockdev"] is None else opts["blockdev"]
            self.backing = RamBacking()
        else:
            path = self.path
            # Refuses links and non-regular files, creates a missing file (O_EXCL,
            # 0600) when size is given, warns on loose permissions as swapon does.
            backing = self.backing = FileBacking(
                path, PAGE_SIZE, size=opts["size"], label=opts["label"], uuid=opts["uuid"]
            )
            header = backing.header
            if header.page_size != PAGE_SIZE:
                raise InvalidSwapHeaderError(
                    f"{path}: swap header is for {header.page_size}-byte pages; this system uses "
                    f"{PAGE_SIZE} (the kernel looks for the magic at PAGE_SIZE-10 and would not find it)"
                )
            if opts["size"] is not None and opts["size"] // PAGE_SIZE != header.nr_pages and (
                backing.file_size // PAGE_SIZE != opts["size"] // PAGE_SIZE
            ):
                raise ConfigError(
                    f"swapfile: size={opts['size']} conflicts with {path}, whose header says "
                    f"{header.nr_pages} pages; omit size or reformat with 'swapops format'"
                )
            blockdev = False if opts["blockdev"] is None else opts["blockdev"]
            if header.nr_badpages and not blockdev:
                raise InvalidSwapHeaderError(
                    f"{path}: a regular file with bad pages is rejected (as swapon does); "
                    "pass blockdev=true to treat it as a partition image"
                )
            self.header = header
            self.nr_slots = header.nr_pages
            bad.extend(header.badpages)
        if self.nr_slots < 10:
            raise ConfigError(
                f"swapfile: {self.nr_slots} pages is too small (a swap area needs at least 10 pages, 40 KiB)"
            )
        device = opts["device"]
        if device == "flash":
            from swapops.flash import FlashGeometry, FlashTiming, NandFlash

            geometry = FlashGeometry.for_logical_pages(
                self.nr_slots,
                over_provisioning=opts["op"],
                pages_per_block=opts["pages_per_block"],
                gc=opts["gc"],
                wear_leveling_threshold=opts["wear_threshold"],
            )
            self.flash = NandFlash(geometry, FlashTiming.profile(opts["flash_timing"]), seed=ctx.seed)
        else:
            self.timing = get_profile(device)
            self._timed = device != "ram"
        rotational = self.timing.rotational if opts["rotational"] is None else opts["rotational"]
        self.allocator = ClusterAllocator(
            self.nr_slots,
            bad_slots=bad,
            rotational=rotational,
            discard=opts["discard"],
            nr_cpus=opts["cpus"],
            large_orders=blockdev,
            on_discard=self._discard_cluster,
        )
        self._alloc = self.allocator.alloc
        self._free = self.allocator.free
        self._bwrite = self.backing.write
        self._bread = self.backing.read
        self._bfree = self.backing.free

    def set_cpu(self, cpu: int) -> None:
        """The allocating CPU (``this_cpu_ptr(si->percpu_cluster)``)."""
        if self.allocator is not None:
            self.allocator.cpu = cpu % self.allocator.nr_cpus

    def fast_ops(self) -> Mapping[str, Callable[..., Any]]:
        # Allocation is the allocator's alone: bind it directly.
        return {"swapops_cluster_alloc": self._alloc}

    @swapops.hookimpl
    def swapops_deactivate(self) -> None:
        if self.allocator is not None:
            self.allocator.process_discards()
        if self.backing is not None:
            self.backing.close()

    # -- cluster ---------------------------------------------------------------

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        return self._alloc(order)

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        self._bfree(offset, nr)
        self._free(offset, nr)

    # -- I/O -------------------------------------------------------------------

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        nr = 1 << folio.order
        ck = folio.ck
        self._bwrite(offset, folio.data if ck < 0 else ck, nr)  # type: ignore[arg-type]  # keys: RAM only
        self.writes += nr
        if self.flash is not None:
            if nr == 1:
                self.flash.write(offset)
            else:
                self.flash.write_run(offset, nr)
        elif self._timed:
            self.modeled_ns += self.timing.io_ns(nr, offset == self._last_end, True)
            self._last_end = offset + nr

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        nr = 1 << folio.order
        if nr > 1 and self.content is not None:
            self.backing.content = self.content  # type: ignore[union-attr]
        v = self._bread(offset, nr)
        if isinstance(v, int):
            folio.ck = v
        else:
            folio.data = v
        self.reads += nr
        if self.flash is not None:
            self.flash.read(offset, nr)
        elif self._timed:
            self.modeled_ns += self.timing.io_ns(nr, offset == self._last_end, False)
            self._last_end = offset + nr

    @swapops.hookimpl
    def swapops_discard(self, offset: int, nr: int) -> None:
        """The layer above no longer needs these slots' contents: TRIM them."""
        self.discards += nr
        if self.flash is not None:
            self.flash.trim(offset, nr)

    def _discard_cluster(self, offset: int, nr: int) -> None:
        self.discards += nr
        if self.flash is not None:
            self.flash.trim(offset, nr)

    @swapops.hookimpl
    def swapops_unplug(self) -> None:
        if self.allocator is not None:
            self.allocator.process_discards()

    def check_invariants(self) -> None:
        if self.allocator is not None:
            self.allocator.check_invariants()  # used recounted from the cluster tables

    # -- handle API ------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.allocator.size if self.allocator is not None else 0

    @property
    def used(self) -> int:
        return self.allocator.used if self.allocator is not None else 0

    @property
    def filename(self) -> str:
        return self.path if self.path is not None else f"[ram:{self.nr_slots * PAGE_SIZE >> 20}M]"

    @property
    def swap_type(self) -> str:
        return "file" if self.path is not None else "partition"

    @property
    def rotational(self) -> bool:
        """Rotational media (option ``rotational``, default from the device profile)."""
        if self.allocator is not None:
            return self.allocator.rotational
        return False

    def io_pages(self) -> tuple[int, int]:
        """Every page read and written here is device I/O (``pswpin``/``pswpout``)."""
        return (self.reads, self.writes)

    def stats(self) -> dict[str, int | float]:
        out: dict[str, int | float] = {
            "size": self.size,
            "used": self.used,
            "reads": self.reads,
            "writes": self.writes,
            "discards": self.discards,
        }
        if self.allocator is not None:
            for key, value in self.allocator.stats().items():
                out.setdefault(f"alloc_{key}", value)
        if self.flash is not None:
            flash = self.flash.stats()
            for key, value in flash.items():
                out[f"flash_{key}"] = value
            out["modeled_time_ns"] = flash.get("modeled_time_ns", 0)
        else:
            out["modeled_time_ns"] = self.modeled_ns
        return out

    def kernel_overhead(self) -> dict[str, float]:
        """Modeled kernel metadata of this area (:mod:`swapops.overhead`), not simulator memory.

        Directly mapped: the current swap table (P4: ``swap_cluster_info`` 48 B per
        cluster at swapon, an 8 B/slot swap table page per cluster in use). Below
        vswap: v5's allocated/bad bitmaps + reverse map, or the Swap Table Edition's
        P4 table of reverse-map entries (:func:`swapops.overhead.physical_model`).
        Clusters holding bad slots (the header, bad pages, the tail) have their
        table from swapon on, so they count as static.
        """
        if self.allocator is None:
            return super().kernel_overhead()
        model = overhead.physical_model(self.nr_slots, self.upper)
        bad = {0, *(page >> 9 for page in (self.header.badpages if self.header is not None else ()))}
        if self.nr_slots % CLUSTER_SIZE:
            bad.add(self.nr_slots // CLUSTER_SIZE)
        in_use = self.allocator.stats()["clusters_with_table"]
        return model.report(self.allocator.used, in_use, reserved_clusters=len(bad))


__all__ = ["SwapfileDevice", "CLUSTER_SIZE"]
