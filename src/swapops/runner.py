"""The run/compare engine behind ``swapops run`` and ``swapops compare``.

:func:`run` builds a machine (a :class:`~swapops.SwapSystem` and the
:class:`~swapops.mm.MM` model on top), swaps on a stack, replays a workload,
reports every metric, then measures a swapoff of the stack's physical
backend. :func:`compare` does the same for several stacks with one workload
and seed. Both return plain JSON-able dicts (keys in ``docs/cli.md``); only
the ``host`` part (wall time, simulator memory) differs between two runs of
the same configuration.

For finer control (several areas, swapoff steps) use :class:`Run`, which
:mod:`swapops.scenario` drives.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import resource
import time
import tracemalloc
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .content import ContentMix, mix_from_record
from .device import SwapDevice
from .errors import ConfigError, SwapOpsError
from .files import check_seed
from .memcg import MemcgModel
from .metrics import Sampler, area_report, clean, totals
from .mm import MM
from .registry import SwapPluginWarning
from .sizes import PAGE_SIZE, parse_size
from .stack import LayerSpec, StackSpec, check_stack, parse_stack
from .system import SwapSystem
from .trace import TraceWorkload, TraceWriter
from .workloads import DEFAULT_WORKLOAD, Workload, make_workload

SCHEMA = "swapops.run/1"

#: The designs of the debate (docs/kernel.md §5), as ``swapops compare`` runs them.
DEFAULT_STACKS: tuple[str, ...] = (
    "swapfile:device=nvme",
    "zswap>swapfile:device=nvme",
    "vswap>swapfile:device=nvme",
    "vswap>zswap>swapfile:device=nvme",
    "swapfile:device=flash",
    "flashbuf>swapfile:device=flash",
    "vswap>flashbuf>swapfile:device=flash",
)

#: The designs of the 2026 thread (``swapops compare --designs debate``): mainline
#: swap and zswap, zswap on a ghost swapfile, vswap (v5 and the Swap Table
#: Edition) over zswap, and zram alone and with a backing device whose idle
#: pages a daemon writes back every 100 ms of simulated time (docs/zram.md).
DEBATE_STACKS: tuple[str, ...] = (
    "swapfile:device=nvme",
    "zswap>swapfile:device=nvme",
    "zswap>ghost",
    "vswap>zswap>swapfile:device=nvme",
    "vswap:edition=ste>zswap>swapfile:device=nvme",
    "zram",
    "zram:writeback=idle,writeback_interval=100000000>swapfile:device=nvme",
)

#: Named sets of stacks for ``swapops compare --designs NAME``.
DESIGN_PRESETS: dict[str, tuple[str, ...]] = {"default": DEFAULT_STACKS, "debate": DEBATE_STACKS}

DEFAULT_RAM = "16M"
# 96 MiB of swap (24,575 slots) for the default workload's 10,240 pages: even
# with every page swapped out less than half of it is in use, so vm_swap_full()
# can never hold and the compare table shows each design's own costs; at 40M
# the designs differed mostly in who crossed half full (docs/compare.md).
DEFAULT_SWAP = "96M"
DEFAULT_EVENTS = 500_000
DEFAULT_FOOTPRINT = 2.5  # workload pages per RAM page
DEFAULT_EVENT_NS = 1_000  # simulated time per event (one sampled memory access)
CHUNK = 2048  # events per chunk asked of a workload
STEP = 1024  # events between clock advances and samples
CONTENT_MODES = ("ref", "bytes")
DEFAULT_CONTENT = "ref"  # how pages reach the swap layers (swapops.contentref)

Progress = Callable[[int], None]


def quiet_system(seed: int) -> SwapSystem:
    """A SwapSystem whose plugin-load warnings are not printed (see ``plugin_failures``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SwapPluginWarning)
        return SwapSystem(seed=seed)


def _rss_kib() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return 0


class Run:
    """One simulated machine: swap system, mm model, areas, replay and report.

    :param seed: seeds the system, the workload and the page contents.
    :param ram: RAM size (bytes or "32M").
    :param mix: content mix parts (``{"zero": .15, "same": .02, "random": .1}``,
        :mod:`swapops.content`).
    :param page_cluster: readahead order (``vm.page-cluster``).
    :param cpus: simulated CPUs. Every layer with a ``cpus`` option (the
        swapfile's per-CPU cluster allocator) gets this unless the stack says
        otherwise; reclaim allocates on the CPU of the process that faulted.
    :param thp_orders: large-folio orders anonymous write faults may allocate
        (:class:`~swapops.mm.MM`; empty: order-0 pages only).
    :param page_cache: clean page cache in RAM at the start (bytes or "4M";
        :class:`~swapops.mm.MM`'s ``file_pages``; default none).
    :param swappiness: ``vm.swappiness`` (0..200).
    :param verify: check every swapped-in page's bytes (in reference mode, its content key).
    :param content: ``"ref"`` (default): pages go to the swap layers by content
        key (:mod:`swapops.contentref`: layers that can hold keys store no bytes;
        the metrics are those of byte mode); ``"bytes"``: every page as its
        4 KiB of bytes.
    :param event_ns: simulated time per event.
    :param points: samples in the time series.
    :param memory: ``"rss"`` (default): the process's peak RSS (``ru_maxrss``)
        minus its RSS when the run started, i.e. the peak memory the run
        added; exact in a fresh process (the CLI, :func:`compare`'s workers),
        an underestimate in a process that peaked higher before. Or
        ``"tracemalloc"``: the peak of Python allocations during the run
        (exact, but it slows the run down several times).
    :param cgroups: ``{name: {memory_max, swap_max, swap_tiers, procs}}``:
        processes in cgroups (:class:`swapops.memcg.MemcgModel`); the report
        gains ``cgroups``.
    :param tiers: ``{name: [lowest, highest]}`` swap priorities: the swap tiers.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        ram: int | str = DEFAULT_RAM,
        mix: Mapping[str, float] | None = None,
        page_cluster: int = 3,
        cpus: int = 1,
        thp_orders: Sequence[int] = (),
        page_cache: int | str = 0,
        swappiness: int = 60,
        verify: bool = True,
        event_ns: int = DEFAULT_EVENT_NS,
        points: int = 60,
        memory: str = "rss",
        content: str = DEFAULT_CONTENT,
        cgroups: Mapping[str, Any] | None = None,
        tiers: Mapping[str, Any] | None = None,
    ) -> None:
        if memory not in ("rss", "tracemalloc"):
            raise ConfigError(f"memory must be rss or tracemalloc, not {memory!r}")
        if content not in CONTENT_MODES:
            raise ConfigError(f"content must be ref or bytes, not {content!r}")
        self.content = content
        self.memory = memory
        self._t0 = time.perf_counter()
        self._rss0 = _rss_kib()
        if memory == "tracemalloc":
            tracemalloc.start()
        self.seed = check_seed(seed)
        self.ram_bytes = parse_size(ram)
        ram_pages = self.ram_bytes // PAGE_SIZE
        if mix is not None and not isinstance(mix, Mapping):
            raise ConfigError(f"mix must be a mapping of content parts to fractions, not {mix!r}")
        self.mix = ContentMix.from_parts(mix, seed=self.seed)
        self.system = quiet_system(self.seed)
        if not isinstance(cpus, int) or isinstance(cpus, bool) or not 1 <= cpus <= 1024:
            raise ConfigError(f"cpus must be a whole number from 1 to 1024, not {cpus!r}")
        self.cpus = cpus
        self.mm = MM(self.system, ram_pages, self.mix.page, page_cluster=page_cluster, verify=verify, cpus=cpus,
                     thp_orders=tuple(thp_orders), file_pages=parse_size(page_cache) // PAGE_SIZE,
                     swappiness=swappiness, by_ref=content == "ref", is_zero=self.mix.is_zero)
        self.page_cache_pages = self.mm.nr_file
        self.system.owner = self.mm
        # cgroups and swap tiers (swapops.memcg): only when configured, so a
        # run without them is untouched
        self.memcg = MemcgModel(self.mm, cgroups, tiers) if cgroups or tiers else None
        self.event_ns = int(event_ns)
        self.points = points
        self.verify = verify
        self.page_cluster = page_cluster
        self.stacks: list[str] = []
        self.swap_sizes: list[int | None] = []
        self.events = 0
        self.replay_s = 0.0
        self.workload_info: dict[str, Any] = {}
        self.swapoffs: list[dict[str, Any]] = []
        self.sampler: Sampler | None = None
        self._report: dict[str, Any] | None = None

    # -- swapon / swapoff ------------------------------------------------------

    def stack_spec(self, stack: str) -> StackSpec:
        """Parse ``stack``, check it, and give every layer that has a ``ram``
        option (zswap's pool limit is a share of RAM) this machine's RAM, and
        every layer with a ``cpus`` option this machine's CPUs."""
        spec = parse_stack(stack)
        classes = check_stack(spec.modules, self.system.registry)
        layers = []
        for layer, cls in zip(spec.layers, classes, strict=True):
            opts = layer.option_dict()
            if "ram" in cls.OPTIONS and "ram" not in opts:
                layer = LayerSpec(layer.module, (*layer.options, ("ram", self.ram_bytes)))
            if "cpus" in cls.OPTIONS and "cpus" not in opts:
                layer = LayerSpec(layer.module, (*layer.options, ("cpus", self.cpus)))
            layers.append(layer)
        return StackSpec(tuple(layers))

    def swapon(self, stack: str, size: int | str | None = DEFAULT_SWAP, priority: int = -1,
               **options: Any) -> SwapDevice:
        spec = self.stack_spec(stack)
        nbytes = parse_size(size) if size is not None else None
        top = self.system.swapon(spec, size=nbytes, priority=priority, **options)
        self.stacks.append(stack)
        self.swap_sizes.append(nbytes)
        if self.sampler is not None:
            self.sampler.refresh()
        return top

    def swapoff(self, device: SwapDevice, *, label: str = "") -> dict[str, Any]:
        """Swapoff ``device`` (a stack's top, or a layer below vswap); record the work."""
        wall = time.perf_counter()
        entry: dict[str, Any] = {"device": label or device.stack_name, "module": device.NAME}
        try:
            report = self.system.swapoff(device, owner=self.mm)
        except SwapOpsError as exc:
            entry["error"] = str(exc)
        else:
            entry.update(
                pte_visits=report.pte_visits,
                entries_moved=report.entries_moved,
                pages_read=report.pages_read,
                unclaimed=len(report.restored),
                detail=clean(dict(report.detail)),
            )
        entry["wall_s"] = time.perf_counter() - wall
        self.swapoffs.append(entry)
        if self.sampler is not None:
            self.sampler.refresh()
        return entry

    # -- replay ----------------------------------------------------------------

    def replay(
        self,
        workload: Workload | TraceWorkload,
        *,
        progress: Progress | None = None,
        trace_out: str | os.PathLike[str] | None = None,
    ) -> int:
        """Replay ``workload`` on this machine; return the number of events."""
        info = workload.describe()
        info["mix"] = self.mix.as_dict()
        self.workload_info = info
        total = workload.events
        sampler = self.sampler = Sampler(self.system, lambda: self.mm.nr_used, total, self.points)
        writer = None
        if trace_out is not None:
            writer = TraceWriter(trace_out, {"seed": self.seed, "mix": self.mix.as_dict(), "workload": info})
        mm_replay = self.mm.replay
        advance = self.system.advance
        event_ns = self.event_ns
        done = 0
        start = time.perf_counter()
        # Time advances, and samples are taken, every STEP events exactly, so
        # a result does not depend on how the workload cuts its chunks (a
        # replayed trace gives the recorded run's figures).
        try:
            for ops, a, b in workload.chunks(CHUNK):
                if writer is not None:
                    writer.write(ops, a, b)
                n = len(ops)
                i = 0
                while i < n:
                    k = min(n - i, STEP - done % STEP)
                    if k == n:
                        mm_replay(ops, a, b)
                    else:
                        mm_replay(ops[i : i + k], a[i : i + k], b[i : i + k])
                    i += k
                    done += k
                    if done % STEP == 0:
                        advance(STEP * event_ns)
                        sampler.maybe_sample(done)
                if progress is not None:
                    progress(n)
        finally:
            if writer is not None:
                writer.close()
        advance(done % STEP * event_ns)
        self.system.unplug()
        sampler.sample(done)
        self.replay_s += time.perf_counter() - start
        self.events += done
        return done

    # -- report ----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Metrics now: totals, per-area layers, mm counters (before any swapoff)."""
        areas = area_report(self.system)
        mm = self.mm.stats()
        tot = totals(self.system, areas, mm)
        if self.sampler is not None:
            tot["slots_used_peak"] = max(tot["slots_used"], self.sampler.slots_peak)
        snap: dict[str, Any] = {"totals": tot, "areas": areas, "mm": mm}
        if self.memcg is not None:
            snap["cgroups"] = self.memcg.report()
        return snap

    def report(self, snapshot: Mapping[str, Any] | None = None) -> dict[str, Any]:
        snap = dict(snapshot) if snapshot is not None else self.snapshot()
        tot = snap["totals"]
        ok = [s for s in self.swapoffs if "error" not in s]
        tot["swapoff_pte_visits"] = sum(s["pte_visits"] for s in ok) if ok else None
        tot["swapoff_entries_moved"] = sum(s["entries_moved"] for s in ok) if ok else None
        host: dict[str, Any] = {
            "wall_s": time.perf_counter() - self._t0,
            "replay_s": self.replay_s,
            "events_per_s": self.events / self.replay_s if self.replay_s else None,
            "swapoff_wall_s": sum(s.get("wall_s", 0.0) for s in self.swapoffs),
        }
        if self.memory == "tracemalloc":
            _cur, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            host["memory"] = {"method": "tracemalloc", "peak_bytes": peak}
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            host["memory"] = {
                "method": "rss",
                "rss_start_kib": self._rss0,
                "peak_rss_kib": peak,
                "peak_growth_kib": max(0, peak - self._rss0),
            }
        swapoffs = [{k: v for k, v in s.items() if k != "wall_s"} for s in self.swapoffs]
        extra: dict[str, Any] = {}
        if self.memcg is not None:
            extra["cgroups"] = snap.get("cgroups") or self.memcg.report()
        return clean(
            {
                **extra,
                "schema": SCHEMA,
                "stack": " + ".join(self.stacks),
                "stacks": list(self.stacks),
                "seed": self.seed,
                "config": {
                    "ram": self.ram_bytes,
                    "ram_pages": self.mm.ram_pages,
                    "page_size": PAGE_SIZE,
                    "swap_sizes": self.swap_sizes,
                    "page_cluster": self.page_cluster,
                    "cpus": self.cpus,
                    "thp_orders": list(self.mm.thp_orders),
                    "page_cache_pages": self.page_cache_pages,
                    "swappiness": self.mm.swappiness,
                    "event_ns": self.event_ns,
                    "verify": self.verify,
                    "content": self.content,
                },
                "workload": self.workload_info,
                "events": self.events,
                "totals": tot,
                "mm": snap["mm"],
                "areas": snap["areas"],
                "swapoff": swapoffs,
                "series": self.sampler.series if self.sampler is not None else {},
                "host": host,
            }
        )


def backend_of(top: SwapDevice) -> SwapDevice:
    """What to swapoff to take a stack's physical backend away: the device right
    below a layer that can let its lower go (vswap), else the stack's top."""
    upper: SwapDevice | None = None
    for dev in top.layers():
        if upper is not None and getattr(upper, "swapops_detach_lower", None) is not None:
            return dev
        upper = dev
    return top


def build_workload(
    workload: str | Workload | TraceWorkload,
    *,
    ram: int | str = DEFAULT_RAM,
    seed: int = 0,
    events: int | None = None,
    pages: int | None = None,
    processes: int | None = None,
    write_fraction: float | None = None,
    params: Mapping[str, Any] | None = None,
) -> Workload | TraceWorkload:
    """A built-in workload by name, sized from RAM unless ``pages`` is given."""
    if not isinstance(workload, str):
        return workload
    if params is not None and not isinstance(params, Mapping):
        raise ConfigError(f"workload parameters must be a mapping of names to numbers, not {params!r}")
    if pages is None:
        pages = int(parse_size(ram) // PAGE_SIZE * DEFAULT_FOOTPRINT)
    return make_workload(
        workload,
        events=DEFAULT_EVENTS if events is None else events,
        pages=pages,
        processes=processes,
        write_fraction=write_fraction,
        seed=seed,
        **dict(params or {}),
    )


def run(
    stack: str = "swapfile",
    workload: str | Workload | TraceWorkload = DEFAULT_WORKLOAD,
    *,
    seed: int | None = None,
    ram: int | str = DEFAULT_RAM,
    swap: int | str | None = DEFAULT_SWAP,
    events: int | None = None,
    pages: int | None = None,
    processes: int | None = None,
    write_fraction: float | None = None,
    workload_params: Mapping[str, Any] | None = None,
    mix: Mapping[str, float] | None = None,
    page_cluster: int = 3,
    cpus: int = 1,
    thp_orders: Sequence[int] = (),
    page_cache: int | str = 0,
    swappiness: int = 60,
    verify: bool = True,
    swapoff: bool = True,
    points: int = 60,
    memory: str = "rss",
    progress: Progress | None = None,
    trace_out: str | os.PathLike[str] | None = None,
    content: str = DEFAULT_CONTENT,
) -> dict[str, Any]:
    """Run ``workload`` over ``stack``; return the result dict (``docs/cli.md``).

    ``swap`` is the size given to swapon (it reaches the bottom layer that has
    a ``size`` option: the swapfile). With ``swapoff`` the stack's physical
    backend is swapped off at the end (:func:`backend_of`) and the work it
    took is reported; the metrics are taken before that. ``seed`` defaults to
    0, or for a trace to the seed in its header (with its content mix).
    """
    if seed is None:
        seed = workload.seed if isinstance(workload, TraceWorkload) else 0
    seed = check_seed(seed)
    wl = build_workload(workload, ram=ram, seed=seed, events=events, pages=pages, processes=processes,
                        write_fraction=write_fraction, params=workload_params)
    r = Run(seed=seed, ram=ram, mix=_trace_mix(wl, mix), page_cluster=page_cluster, cpus=cpus,
            thp_orders=thp_orders, page_cache=page_cache, swappiness=swappiness, verify=verify,
            points=points, memory=memory, content=content)
    top = r.swapon(stack, size=swap)
    r.replay(wl, progress=progress, trace_out=trace_out)
    snap = r.snapshot()
    if swapoff:
        r.swapoff(backend_of(top))
    return r.report(snap)


def _trace_mix(wl: Workload | TraceWorkload, mix: Mapping[str, float] | None) -> Mapping[str, float] | None:
    """A trace replays with the mix it was recorded with, unless one is given."""
    if mix is None and isinstance(wl, TraceWorkload):
        recorded = wl.header.get("mix")
        if isinstance(recorded, dict):
            return mix_from_record(recorded)
    return mix


def check_stacks(stacks: Sequence[str]) -> None:
    """Raise the first stack's error (unknown module, invalid chain) before any run."""
    system = quiet_system(0)
    for stack in stacks:
        check_stack(parse_stack(stack).modules, system.registry)


def missing_modules(stacks: Sequence[str]) -> dict[str, list[str]]:
    """Stacks whose modules are not all installed, with the missing names."""
    system = quiet_system(0)
    out: dict[str, list[str]] = {}
    for stack in stacks:
        missing = [m for m in parse_stack(stack).modules if m not in system.registry]
        if missing:
            out[stack] = missing
    return out


def compare(
    stacks: Sequence[str] | None = None,
    workload: str | Workload | TraceWorkload = DEFAULT_WORKLOAD,
    *,
    progress: Callable[[str, int], None] | None = None,
    jobs: int | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """:func:`run` each stack with the same workload and seed (default: :data:`DEFAULT_STACKS`).

    Each run happens in a fresh worker process (forked, one run per process),
    so its simulator-memory figure is its own; ``jobs`` runs that many at
    once (default: up to 2, the cores of the reference machine). Results
    come back in the order of ``stacks`` and do not depend on ``jobs``.
    """
    chosen = list(stacks or DEFAULT_STACKS)
    jobs = max(1, min(jobs or min(2, os.cpu_count() or 1), len(chosen)))
    try:
        ctx = mp.get_context("fork")
    except ValueError:  # no fork on this platform: one after the other, in this process
        return [run(s, workload, progress=_bind_progress(progress, s) if progress else None, **kwargs)
                for s in chosen]
    queue: Any = ctx.Queue()
    with ctx.Pool(jobs, initializer=_child_init, initargs=(queue,), maxtasksperchild=1) as pool:
        pending = [pool.apply_async(_child_run, (stack, workload, kwargs)) for stack in chosen]
        while not all(p.ready() for p in pending):
            _drain(queue, progress, 0.1)
        _drain(queue, progress, 0.0)
        return [p.get() for p in pending]


def _bind_progress(progress: Callable[[str, int], None], stack: str) -> Progress:
    def cb(n: int) -> None:
        progress(stack, n)

    return cb


_QUEUE: Any = None


def _child_init(queue: Any) -> None:
    global _QUEUE
    _QUEUE = queue


def _child_run(stack: str, workload: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    put = _QUEUE.put if _QUEUE is not None else None

    def cb(n: int) -> None:
        if put is not None:
            put((stack, n))

    return run(stack, workload, progress=cb, **kwargs)


def _drain(queue: Any, progress: Callable[[str, int], None] | None, timeout: float) -> None:
    try:
        item = queue.get(timeout=timeout) if timeout else queue.get_nowait()
        while True:
            if progress is not None:
                progress(*item)
            item = queue.get_nowait()
    except queue_mod.Empty:
        return


__all__ = [
    "DEFAULT_STACKS", "DEBATE_STACKS", "DESIGN_PRESETS", "DEFAULT_RAM", "DEFAULT_SWAP", "DEFAULT_EVENTS", "SCHEMA", "Run", "run", "compare",
    "backend_of", "build_workload", "check_stacks", "missing_modules", "quiet_system",
]
