"""The memory controller of the mm model (cgroup v2) and swap tiers.

Processes are placed in cgroups, each with ``memory.max``, ``memory.swap.max``
and a set of swap tiers. :class:`MemcgModel` attaches to an :class:`~swapops.mm.MM`
(``mm.memcg``); the mm model calls it at a few hook points only when one is
attached, so a run without cgroups is the run it always was.

**RAM** (``memory.current``): every frame the mm allocates is charged to a
cgroup: a new anonymous page or a COW copy to the faulting process's
(``mem_cgroup_charge``), a page read from swap, by fault or readahead, to the
cgroup the entry was charged to (``mem_cgroup_swapin_charge_folio`` reads the
swap cgroup record; the faulting process's when the entry has none). Freeing
the frame uncharges it. RAM the swap layers hold (zswap's pool) and the page
cache are not charged (the kernel charges zswap's pool to the cgroup as
``memory.zswap.current``: not modeled).

**memory.max** (``mm/memcontrol.c: try_charge_memcg()``): before a fault of a
process whose cgroup is at its limit, the cgroup is reclaimed
(``try_to_free_mem_cgroup_pages()``: ``SWAP_CLUSTER_MAX`` pages). Each attempt
counts ``memory.events: max``; attempts that free nothing are retried
``MAX_RECLAIM_RETRIES`` (16) times, then ``memory.events: oom`` is counted and,
as the model's global reclaim does, the charge goes through beyond the limit
instead of killing a task (``overcommit``, a model counter); the cgroup then
waits ``_BACKOFF`` faults before it is reclaimed again. The charge is checked
before the fault, so a fault that takes several pages (a large folio,
readahead) may end above the limit until the cgroup's next fault.

The kernel reclaims the cgroup's own lruvec. The model has one LRU per list
for the machine; a cgroup's reclaim runs the very reclaim code of the global
one (:meth:`MM._shrink`, so pages are judged, paged out, activated and
counted in the same way) over the cgroup's pages of those lists, in their
order, taken out as a view: other cgroups' pages keep their places and bits.
Building the view walks both lists (O(LRU) per reclaim, fine at the model's
sizes). Global reclaim (kswapd at the low watermark) is unchanged: it scans
the one LRU whatever the cgroup, where the kernel's walks the cgroups in
turn.

**Swap** (``memory.swap.current``): an entry is charged when it is allocated
(``folio_alloc_swap()`` -> ``mem_cgroup_try_charge_swap()``); a charge beyond
``memory.swap.max`` fails (``memory.events: swap_max`` and ``swap_fail``), the
entry is given back (``put_swap_folio``) and the folio stays in memory,
activated (:class:`SwapChargeError`, a :class:`~swapops.errors.WriteActivateError`);
a large folio is split first, as ``shrink_folio_list`` splits one whose
``add_to_swap`` failed. An allocation that finds no slot counts ``swap_fail``
too. The charge is dropped when the entry is freed
(``swap_entry_range_free()`` -> ``mem_cgroup_uncharge_swap()``), not when
the page is swapped in (cgroup v2: swap and memory charges live with the slot
and the page). Which pages of an entry are charged is the top layer's answer
(:meth:`SwapDevice.swap_charge`, ``docs/hooks.md``): every page for mainline's
layers; vswap's ``charge=physical`` counts only the pages it backed with a
physical slot (its design's claim: zswap, zero pages and pages held in
memory are not swap use). With the default the charge is checked before the
write (no I/O for a refused page); with an override after the write, the
entry then freed again. Not modeled: a charge that moves later (vswap's
zswap entry written back to a physical slot is charged then in v5).

``mem_cgroup_swap_full()``: a cgroup whose swap use is half its
``memory.swap.max`` or more counts as swap-full for its own pages (the mm
model frees their swap copies on swap-in and on activation, as for
``vm_swap_full()``).

**Swap tiers** (YoungJun Park's RFC, v8 ``memory.swap.tiers.max``): a tier is
a name for a range of swap priorities; a cgroup is allowed a set of tiers
(``memory.swap.tiers.max`` set to ``max`` for those, ``0`` for the rest) and
its pages get entries only from the areas whose priority falls in an allowed
tier, highest priority first (:meth:`SwapSystem.swap_out`'s ``allowed`` mask).
The mask is resolved once per cgroup and change of the area table
(``SwapSystem.generation``), not per page. A cgroup with no tier setting may
use every area. Promotion and demotion between tiers (open in the RFC) are not
modeled.

Counters: per cgroup, ``memory.events`` (``max``, ``oom``, ``swap_max``,
``swap_fail``) and ``memory.stat`` twins (``pgscan``, ``pgsteal``,
``swapcached``) with the kernel's meaning; ``overcommit`` (charges past
``memory.max`` after reclaim failed) and the per-area ``entries`` /
``charged`` pages are model names.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .device import SwapDevice
from .errors import (
    ConfigError,
    FolioSplitRequired,
    OutOfSwapSpaceError,
    WriteActivateError,
)
from .folio import Folio
from .sizes import PAGE_SIZE, parse_size

if TYPE_CHECKING:
    from .mm import MM
    from .system import SwapEntry

MAX_RECLAIM_RETRIES = 16  # mm/memcontrol.c
SWAP_CLUSTER_MAX = 32
_BACKOFF = 256  # faults a cgroup is left alone after its reclaim failed (the model's OOM)
_FMASK = (1 << 32) - 1  # an LRU tag's frame (swapops.mm)
_PRIO_MIN, _PRIO_MAX = -1, 32767
ROOT = "root"

#: ``memory.events`` names the model counts, then ``memory.stat`` twins.
EVENTS = ("max", "oom", "swap_max", "swap_fail")
STAT = ("pgscan", "pgsteal", "swapcached")


class SwapChargeError(WriteActivateError):
    """A swap charge beyond the cgroup's ``memory.swap.max``: this folio stays in memory."""


class SwapTiers:
    """Named swap tiers: inclusive priority ranges that do not overlap.

    :param tiers: ``{name: (lowest, highest)}`` priorities (-1..32767), or a
        single priority for a one-priority tier.
    """

    def __init__(self, tiers: Mapping[str, Any]) -> None:
        if not isinstance(tiers, Mapping):
            raise ConfigError("tiers must be a table of name = [lowest, highest] priority ranges")
        ranges: dict[str, tuple[int, int]] = {}
        for name, value in tiers.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ConfigError(f"tier name {name!r}: a word of letters, digits and _")
            lo_hi = [value, value] if _is_int(value) else value
            if (not isinstance(lo_hi, (list, tuple)) or len(lo_hi) != 2
                    or not all(_is_int(v) for v in lo_hi)):
                raise ConfigError(f"tier {name}: {value!r} is not a priority or a [lowest, highest] range")
            lo, hi = int(lo_hi[0]), int(lo_hi[1])
            if not _PRIO_MIN <= lo <= hi <= _PRIO_MAX:
                raise ConfigError(f"tier {name}: range {lo}..{hi} is not within -1..32767, lowest first")
            for other, (olo, ohi) in ranges.items():
                if lo <= ohi and olo <= hi:
                    raise ConfigError(f"tier {name} ({lo}..{hi}) overlaps tier {other} ({olo}..{ohi})")
            ranges[name] = (lo, hi)
        self.ranges = ranges

    def tier_of(self, priority: int) -> str | None:
        for name, (lo, hi) in self.ranges.items():
            if lo <= priority <= hi:
                return name
        return None

    def check(self, names: Iterable[str], where: str) -> tuple[str, ...]:
        out = tuple(names)
        for name in out:
            if name not in self.ranges:
                known = ", ".join(self.ranges) or "none defined"
                raise ConfigError(f"{where}: unknown swap tier {name!r} (tiers: {known})")
        return out


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class Memcg:
    """One cgroup: limits (pages), charges and counters."""

    __slots__ = ("name", "index", "memory_max", "swap_max", "tiers", "memory", "swap", "events", "stat",
                 "overcommit", "mask", "gen", "precheck", "backoff_until", "area_entries", "area_charged")

    def __init__(self, name: str, index: int, memory_max: int | None, swap_max: int | None,
                 tiers: tuple[str, ...] | None) -> None:
        self.name = name
        self.index = index
        self.memory_max = memory_max
        self.swap_max = swap_max
        self.tiers = tiers
        self.memory = 0  # memory.current, pages
        self.swap = 0  # memory.swap.current, pages
        self.events = dict.fromkeys(EVENTS, 0)
        self.stat = dict.fromkeys(STAT, 0)
        self.overcommit = 0
        self.mask = -1  # allowed swap types (SwapSystem.swap_out)
        self.gen = -1  # SwapSystem.generation the mask was resolved at
        self.precheck = True  # every allowed area charges whole entries: check before the write
        self.backoff_until = 0
        self.area_entries: dict[int, int] = {}  # swap type -> pages with an entry there
        self.area_charged: dict[int, int] = {}  # swap type -> pages charged there


def _limit(what: str, value: Any) -> int | None:
    """A limit in bytes (or a size string) as pages; ``None``/``"max"``: none."""
    if value is None or value == "max":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"{what} = {value!r}: a size such as \"8M\", a number of bytes, or \"max\"")
    nbytes = parse_size(value)
    if nbytes < 0:
        raise ConfigError(f"{what} = {value!r} is negative")
    return nbytes // PAGE_SIZE


class CgroupConfig:
    """Validated cgroup and tier configuration (no machine needed): what a
    scenario's ``[cgroup.<name>]`` and ``[tiers]`` tables give.

    :param cgroups: ``{name: {memory_max, swap_max, swap_tiers, procs}}``:
        limits in bytes or size strings (``"max"`` or absent: none), the
        allowed tier names (absent: every area) and the pids placed in it. A
        pid placed nowhere is in the root cgroup; a forked child joins its
        parent's cgroup unless it is placed itself.
    :param tiers: ``{name: [lowest, highest]}`` (see :class:`SwapTiers`).
    """

    def __init__(self, cgroups: Mapping[str, Any] | None, tiers: Mapping[str, Any] | None = None) -> None:
        if cgroups is not None and not isinstance(cgroups, Mapping):
            raise ConfigError("cgroup must be a table of [cgroup.<name>] tables")
        self.tiers = SwapTiers(tiers or {})
        self.cgroups: list[Memcg] = [Memcg(ROOT, 0, None, None, None)]
        self.pid_cg: dict[int, Memcg] = {}
        for name, spec in (cgroups or {}).items():
            self._add(name, spec)

    def _add(self, name: str, spec: Any) -> None:
        where = f"cgroup {name}"
        if not isinstance(name, str) or not name or name == ROOT or "/" in name:
            raise ConfigError(f"cgroup name {name!r}: a non-empty name other than root, without '/'")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} must be a table")
        unknown = sorted(set(spec) - {"memory_max", "swap_max", "swap_tiers", "procs"})
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r} (keys: memory_max, procs, swap_max, swap_tiers)")
        tiers = spec.get("swap_tiers")
        if tiers is not None:
            if not isinstance(tiers, (list, tuple)) or not all(isinstance(t, str) for t in tiers):
                raise ConfigError(f"{where}: swap_tiers must be a list of tier names")
            tiers = self.tiers.check(tiers, where)
        memory_max = _limit(f"{where}: memory_max", spec.get("memory_max"))
        if memory_max is not None and memory_max < SWAP_CLUSTER_MAX:
            raise ConfigError(f"{where}: memory_max of {memory_max} pages is too small (at least {SWAP_CLUSTER_MAX})")
        cg = Memcg(name, len(self.cgroups), memory_max, _limit(f"{where}: swap_max", spec.get("swap_max")), tiers)
        procs = spec.get("procs", [])
        if not isinstance(procs, (list, tuple)) or not all(_is_int(p) and p >= 0 for p in procs):
            raise ConfigError(f"{where}: procs must be a list of process ids")
        for pid in procs:
            if pid in self.pid_cg:
                raise ConfigError(f"{where}: process {pid} is in cgroup {self.pid_cg[pid].name} already")
            self.pid_cg[pid] = cg
        if len(self.cgroups) >= 255:
            raise ConfigError("at most 254 cgroups")
        self.cgroups.append(cg)


class MemcgModel:
    """The cgroups of one :class:`~swapops.mm.MM`; attaches itself (``mm.memcg``).

    :param cgroups: as :class:`CgroupConfig` takes them.
    :param tiers: as :class:`CgroupConfig` takes them.
    """

    def __init__(self, mm: MM, cgroups: Mapping[str, Any] | None, tiers: Mapping[str, Any] | None = None) -> None:
        if getattr(mm, "memcg", None) is not None:
            raise ConfigError("this machine has a memory controller already")
        config = CgroupConfig(cgroups, tiers)
        self.mm = mm
        self.system = mm.system
        self.tiers = config.tiers
        self.cgroups = config.cgroups
        self._pid_cg = config.pid_cg
        self.f_cg = bytearray()  # per frame: cgroup index + 1 (0: not charged)
        # swap_cgroup: entry -> (cgroup, pages charged, pages); per page once split
        self.swap_cg: dict[SwapEntry, tuple[Memcg, int, int]] = {}
        self._charge_fns: dict[int, Any] = {}  # swap type -> top's swap_charge (None: the default)
        self._gen = -1
        mm.memcg = self
        # Entries die inside the core (the last reference, or a swap-cache
        # drop): the mm's bound calls are wrapped to uncharge them then.
        self._free = mm._swap_free
        self._drop = mm._cache_drop
        self._live = self.system.entry_live
        mm._swap_free = self._swap_free
        mm._cache_drop = self._cache_drop

    def cgroup(self, name: str) -> Memcg:
        for cg in self.cgroups:
            if cg.name == name:
                return cg
        raise ConfigError(f"no cgroup {name!r}")

    # ------------------------------------------------------------------ placement

    def cgroup_of(self, pid: int) -> Memcg:
        return self._pid_cg.get(pid, self.cgroups[0])

    def fork(self, parent: int, child: int) -> None:
        """A child joins its parent's cgroup (unless the configuration placed it)."""
        if child not in self._pid_cg and parent in self._pid_cg:
            self._pid_cg[child] = self._pid_cg[parent]

    def _frame_cg(self, frame: int) -> Memcg:
        f_cg = self.f_cg
        idx = f_cg[frame] if frame < len(f_cg) else 0
        return self.cgroups[idx - 1] if idx else self.cgroups[0]

    # ------------------------------------------------------------------ RAM

    def _charge(self, frame: int, cg: Memcg) -> None:
        f_cg = self.f_cg
        if frame >= len(f_cg):
            f_cg.extend(bytes(frame + 1 - len(f_cg) + 1024))
        f_cg[frame] = cg.index + 1
        cg.memory += 1

    def charge(self, frame: int, pid: int) -> None:
        """A new page (anonymous fault, COW copy) for process ``pid``."""
        self._charge(frame, self.cgroup_of(pid))

    def charge_frames(self, frames: Sequence[int], pid: int) -> None:
        cg = self.cgroup_of(pid)
        for f in frames:
            self._charge(f, cg)

    def charge_swapin(self, frame: int, entry: SwapEntry, pid: int) -> None:
        """A page read from swap: to the entry's cgroup (else the faulting process's)."""
        rec = self.swap_cg.get(entry)
        self._charge(frame, rec[0] if rec is not None else self.cgroup_of(pid))

    def uncharge(self, frame: int) -> None:
        f_cg = self.f_cg
        if frame < len(f_cg):
            idx = f_cg[frame]
            if idx:
                self.cgroups[idx - 1].memory -= 1
                f_cg[frame] = 0

    def try_charge(self, pid: int) -> None:
        """``try_charge_memcg``: before a fault of ``pid``, reclaim its cgroup while it is at its limit."""
        cg = self._pid_cg.get(pid)
        if cg is None or cg.memory_max is None or cg.memory < cg.memory_max:
            return
        mm = self.mm
        if cg.backoff_until > mm.nr_faults:
            cg.overcommit += 1
            return
        retries = MAX_RECLAIM_RETRIES
        budget = 4 * cg.memory + 4 * SWAP_CLUSTER_MAX  # progress is bounded too
        while cg.memory >= cg.memory_max:
            cg.events["max"] += 1
            freed, scanned = self.reclaim(cg, SWAP_CLUSTER_MAX)
            budget -= scanned or 1
            if cg.memory < cg.memory_max:
                return
            if not freed or budget <= 0:
                retries -= 1
                if retries <= 0 or budget <= 0:
                    break
        cg.events["oom"] += 1
        cg.overcommit += 1
        cg.backoff_until = mm.nr_faults + _BACKOFF

    def reclaim(self, cg: Memcg, nr_to_reclaim: int) -> tuple[int, int]:
        """``try_to_free_mem_cgroup_pages``: ``(pages freed, scanned)`` from ``cg``.

        The mm's own reclaim batch (:meth:`MM._shrink`) runs over a view of the
        LRU lists holding only ``cg``'s pages (their tags, in list order) and
        their page counts. Pages it moves get new tags there; those are put at
        the head of the real lists afterwards, and their old tags on the real
        lists are stale (the LRU's lazy deletion skips them). Pages it did not
        reach keep their place.
        """
        mm = self.mm
        idx = cg.index + 1
        f_cg = self.f_cg
        n_f = len(f_cg)
        f_tag = mm.f_tag
        folios = mm._folios
        real_inactive, real_active, real_lru = mm.inactive, mm.active, mm.nr_lru
        counts = [0, 0, 0]

        def view(lst: deque[int], lru: int) -> deque[int]:
            out: deque[int] = deque()
            for tag in lst:
                frame = tag & _FMASK
                if frame < n_f and f_cg[frame] == idx and f_tag[frame] == tag:
                    out.append(tag)
                    counts[lru] += len(folios[frame]) if folios and frame in folios else 1
            return out

        sub_inactive = view(real_inactive, 1)
        sub_active = view(real_active, 2)
        if not sub_inactive and not sub_active:
            return 0, 0
        seq0 = mm._tagseq
        before = list(counts)
        nr_wb = mm.nr_wb
        mm.inactive, mm.active, mm.nr_lru, mm.nr_wb = sub_inactive, sub_active, counts, 0
        freed = scanned = 0
        # As the global reclaim's budget: twice the cgroup's pages, so pages
        # that are all refused (swap.max) end the attempt instead of cycling.
        budget = 2 * (counts[1] + counts[2]) + 2 * SWAP_CLUSTER_MAX
        try:
            while freed < nr_to_reclaim and scanned < budget and (sub_inactive or counts[2]):
                f, s = mm._shrink(SWAP_CLUSTER_MAX)
                freed += f
                scanned += s
                if not s or mm._backoff_until > mm.nr_faults:
                    break
        finally:
            mm.inactive, mm.active, mm.nr_lru, mm.nr_wb = real_inactive, real_active, real_lru, nr_wb
            for sub, real in ((sub_inactive, real_inactive), (sub_active, real_active)):
                for tag in reversed(sub):
                    if tag >> 32 > seq0 and f_tag[tag & _FMASK] == tag:
                        real.appendleft(tag)
            for lru in (1, 2):
                real_lru[lru] += counts[lru] - before[lru]
        cg.stat["pgscan"] += scanned
        cg.stat["pgsteal"] += freed
        mm.system.run_work()
        mm._sync_held()
        return freed, scanned

    # ------------------------------------------------------------------ swap

    def _resolve(self, cg: Memcg) -> None:
        """The cgroup's allowed areas (a swap-type mask) and charging policy, once per area-table change."""
        system = self.system
        if self._gen != system.generation:
            self._gen = system.generation
            base = SwapDevice.swap_charge
            self._charge_fns = {
                dev.type: (None if type(dev).swap_charge is base else dev.swap_charge) for dev in system.devices
            }
            live = set(self._charge_fns)
            stale = [e for e in self.swap_cg if e[0] not in live]  # areas gone (swapoff's unclaimed)
            for e in stale:
                self._uncharge_swap(e)
        tiers = cg.tiers
        mask = 0
        precheck = True
        for dev in system.devices:
            if tiers is not None and self.tiers.tier_of(dev.priority) not in tiers:
                continue
            mask |= 1 << dev.type
            if self._charge_fns.get(dev.type) is not None:
                precheck = False
        cg.mask = -1 if tiers is None else mask
        cg.precheck = precheck
        cg.gen = system.generation

    def swap_out(self, folio: Folio, frame: int) -> SwapEntry:
        """``folio_alloc_swap`` for the folio of ``frame``: an entry from the
        cgroup's allowed areas, charged as the area's top layer says."""
        cg = self._frame_cg(frame)
        if cg.gen != self.system.generation:
            self._resolve(cg)
        order = folio.order
        nr = 1 << order
        limit = cg.swap_max
        if limit is not None and cg.precheck and cg.swap + nr > limit:
            self._refuse(cg, order)
        try:
            entry = self.system.swap_out(folio, cg.mask)
        except WriteActivateError:  # a layer refused the write (not the allocation)
            raise
        except OutOfSwapSpaceError:
            # No slot (a large folio's run too): mem_cgroup_try_charge_swap() with !entry.val
            cg.events["swap_fail"] += 1
            raise
        fn = self._charge_fns.get(entry[0])
        charged = nr if fn is None else fn(entry[1], nr)
        if limit is not None and cg.swap + charged > limit:
            self._free(entry)  # put_swap_folio: the entry goes, the folio stays
            self._refuse(cg, order)
        self._record(entry, cg, charged, nr)
        return entry

    def _refuse(self, cg: Memcg, order: int) -> None:
        cg.events["swap_max"] += 1
        cg.events["swap_fail"] += 1
        if order:
            raise FolioSplitRequired(f"cgroup {cg.name}: memory.swap.max reached; split the folio")
        raise SwapChargeError(f"cgroup {cg.name}: memory.swap.max reached ({cg.swap_max} pages)")

    def _record(self, entry: SwapEntry, cg: Memcg, charged: int, nr: int) -> None:
        self.swap_cg[entry] = (cg, charged, nr)
        cg.swap += charged
        t = entry[0]
        cg.area_entries[t] = cg.area_entries.get(t, 0) + nr
        cg.area_charged[t] = cg.area_charged.get(t, 0) + charged

    def split(self, entry: SwapEntry, entries: Sequence[SwapEntry]) -> None:
        """A large folio's entry became one entry per page (``SwapSystem.swap_split``)."""
        rec = self.swap_cg.pop(entry, None)
        if rec is None:
            return
        cg, charged, _nr = rec
        for k, e in enumerate(entries):
            self.swap_cg[e] = (cg, 1 if k < charged else 0, 1)

    def _uncharge_swap(self, entry: SwapEntry) -> None:
        cg, charged, nr = self.swap_cg.pop(entry)
        cg.swap -= charged
        t = entry[0]
        cg.area_entries[t] -= nr
        cg.area_charged[t] -= charged

    def _swap_free(self, entry: SwapEntry) -> int:
        left = self._free(entry)
        if not left and entry in self.swap_cg and not self._live(entry):
            self._uncharge_swap(entry)
        return left

    def _cache_drop(self, entry: SwapEntry) -> None:
        self._drop(entry)
        if entry in self.swap_cg and not self._live(entry):
            self._uncharge_swap(entry)

    def swap_full(self, frame: int) -> bool:
        """``mem_cgroup_swap_full`` beyond ``vm_swap_full()``: the frame's cgroup
        uses half its ``memory.swap.max`` or more."""
        cg = self._frame_cg(frame)
        limit = cg.swap_max
        return limit is not None and cg.swap * 2 >= limit

    # ------------------------------------------------------------------ reporting

    def report(self) -> dict[str, dict[str, Any]]:
        """Per cgroup: limits, charges (pages), events, stat, and per area the
        pages with an entry there and the pages charged."""
        swapcached = [0] * len(self.cgroups)
        for frame in self.mm.cache.values():
            swapcached[self._frame_cg(frame).index] += 1
        names = {dev.type: dev for dev in self.system.devices}
        out: dict[str, dict[str, Any]] = {}
        for cg in self.cgroups:
            cg.stat["swapcached"] = swapcached[cg.index]
            areas = {}
            for t in sorted(set(cg.area_entries) | set(cg.area_charged)):
                dev = names.get(t)
                if dev is None or not (cg.area_entries.get(t) or cg.area_charged.get(t)):
                    continue
                areas[str(t)] = {
                    "stack": dev.stack_name,
                    "priority": dev.priority,
                    "tier": self.tiers.tier_of(dev.priority),
                    "entries": cg.area_entries.get(t, 0),
                    "charged": cg.area_charged.get(t, 0),
                }
            out[cg.name] = {
                "procs": sorted(p for p, c in self._pid_cg.items() if c is cg),
                "memory.current": cg.memory,
                "memory.max": cg.memory_max,
                "memory.swap.current": cg.swap,
                "memory.swap.max": cg.swap_max,
                "memory.swap.tiers.max": self._tiers_max(cg),
                "memory.events": dict(cg.events),
                "memory.stat": dict(cg.stat),
                "overcommit": cg.overcommit,
                "areas": areas,
            }
        return out

    def _tiers_max(self, cg: Memcg) -> dict[str, str]:
        return {name: ("max" if cg.tiers is None or name in cg.tiers else "0") for name in self.tiers.ranges}

    def check(self) -> None:
        """Cross-check the charges against the mm and the core (tests)."""
        mm = self.mm
        in_use = [0] * len(self.cgroups)
        free = set(mm.free)
        for frame in range(len(mm.f_ck)):
            if frame in free:
                assert frame >= len(self.f_cg) or not self.f_cg[frame], frame
                continue
            idx = self.f_cg[frame] if frame < len(self.f_cg) else 0
            assert idx, f"frame {frame} in use but charged to no cgroup"
            in_use[idx - 1] += 1
        for cg in self.cgroups:
            assert cg.memory == in_use[cg.index], (cg.name, cg.memory, in_use[cg.index])
        live = set(self.system.live_entries())
        assert set(self.swap_cg) <= live, set(self.swap_cg) - live
        swap = [0] * len(self.cgroups)
        for cg, charged, _nr in self.swap_cg.values():
            swap[cg.index] += charged
        for cg in self.cgroups:
            assert cg.swap == swap[cg.index], (cg.name, cg.swap, swap[cg.index])
            if cg.tiers is not None:
                for e, (owner, _c, _n) in self.swap_cg.items():
                    if owner is cg:
                        prio = self.system.area(e[0]).priority
                        assert self.tiers.tier_of(prio) in cg.tiers, (cg.name, e, prio)


__all__ = ["MemcgModel", "CgroupConfig", "Memcg", "SwapTiers", "SwapChargeError", "EVENTS", "STAT", "MAX_RECLAIM_RETRIES"]
