"""A page-mapped FTL over NAND: placement, garbage collection and wear, no data.

The model keeps, in numpy ``int64`` arrays:

* ``l2p[lpn]``: the physical page holding logical page ``lpn``, or the
  sentinel ``T`` (one past the last physical page) when unmapped;
* ``p2l[ppn]``: the logical page stored at ``ppn``, or ``-1`` (free or
  invalid); ``p2l[T]`` is a scratch slot that the sentinel may overwrite;
* ``key[block]``: the GC key. A closed block's key is its valid-page count;
  a free or open block's key is ``_BIG + pages_per_block - invalidated``, so
  ``argmin`` over ``key`` is greedy victim selection without masking. Entry
  ``N`` is a dummy block behind the sentinel page.

There is one write frontier (the *open block*): host pages and GC copies are
programmed into it in order. When it is full the next free block opens and,
if fewer than ``gc_low_watermark`` blocks are then free, GC cleans victims
(valid pages copied to the frontier, block erased, appended to the free queue).

Two lookup tables turn small ufunc calls into cheaper gathers: ``iota[p] == p``
and ``blk[p] == p // pages_per_block``. Memory: 8 bytes per logical page plus
18 per physical page (about 27.5 B per logical page at op = 7 %, 0.7 % of a
4 KiB page; measured with tracemalloc).

Speed. Host writes are applied in chunks that never cross a GC event: a chunk
is at most the pages left in the open block. A chunk costs a fixed handful of
numpy calls, so the cost per page falls with the chunk length. ``write()``
appends the LPN to a pending list, applied when it reaches ``_PENDING_MAX``
or before any call that looks at or changes the state. Chunks shorter than
``_SMALL`` and chunks that write one LPN twice take a scalar loop with the
same semantics, so ``write``, ``write_many`` and any interleaving of them
reach the same state page for page (``tests/test_flash.py`` checks this in
lockstep with an independent reference FTL).
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from ..errors import ConfigError, InvalidEntryError
from .geometry import FlashGeometry, FlashTiming

_BIG = 1 << 40  # key offset of blocks that are free or open
_HUGE = 1 << 62  # key of the dummy block behind the unmapped sentinel
_SMALL = 8  # chunks shorter than this use the scalar loop
_PENDING_MAX = 2048  # write() applies its buffer at this length at the latest

_GREEDY, _FIFO, _COST_BENEFIT = 0, 1, 2
_POLICY_CODES = {"greedy": _GREEDY, "fifo": _FIFO, "cost-benefit": _COST_BENEFIT}

IntArray = npt.NDArray[np.int64]


def _require(ok: bool | np.bool_, message: str) -> None:
    if not ok:
        raise AssertionError(message)


class InvalidLPNError(InvalidEntryError, IndexError):
    """A logical page number outside ``0 .. logical_pages - 1`` of a :class:`NandFlash`.

    A :class:`~swapops.errors.InvalidEntryError` (so a :class:`~swapops.errors.SwapOpsError`)
    and, as before, an :class:`IndexError`.
    """


def _as_int(value: object, where: str, name: str) -> int:
    """``value`` as a Python int (numpy integers pass); ConfigError for anything else (cold path)."""
    if isinstance(value, bool | np.bool_):
        raise ConfigError(f"NandFlash.{where}: {name} must be an integer, not bool {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(f"NandFlash.{where}: {name} must be an integer, not {type(value).__name__} {value!r}") from None


@attrs.frozen
class FlashCounters:
    """Cumulative event counts of one :class:`NandFlash` at one moment.

    Subtract two snapshots (``later - earlier``) for the counts of the
    interval between them; ``waf`` of the difference is the write
    amplification over that interval, whatever the GC policy.
    """

    host_writes: int
    gc_copies: int
    wl_copies: int
    erases: int
    trims: int
    reads: int

    @property
    def nand_writes(self) -> int:
        """Pages programmed: host writes plus GC and wear-levelling copies."""
        return self.host_writes + self.gc_copies

    @property
    def waf(self) -> float:
        """``nand_writes / host_writes``; NaN when there were no host writes."""
        return self.nand_writes / self.host_writes if self.host_writes else math.nan

    def modeled_time_ns(self, timing: FlashTiming) -> int:
        """Serial NAND busy time of these events under ``timing`` (see :class:`FlashTiming`)."""
        t = timing
        serial = (
            self.reads * (t.read_ns + t.transfer_ns)
            + self.host_writes * (t.transfer_ns + t.program_ns)
            + self.gc_copies * (t.read_ns + t.program_ns)
            + self.erases * t.erase_ns
        )
        return serial // t.parallelism

    def __sub__(self, other: FlashCounters) -> FlashCounters:
        return FlashCounters(
            self.host_writes - other.host_writes,
            self.gc_copies - other.gc_copies,
            self.wl_copies - other.wl_copies,
            self.erases - other.erases,
            self.trims - other.trims,
            self.reads - other.reads,
        )


class NandFlash:
    """Page-mapped FTL over NAND for one device (placement, GC, wear; no data).

    :param geometry: blocks, pages, over-provisioning, GC policy, wear levelling.
    :param timing: latencies for ``modeled_time_ns`` (default :class:`FlashTiming`).
    :param seed: seeds :attr:`rng`, used only by :meth:`write_random`; the FTL
        itself is deterministic (ties go to the lowest block number).

    Logical page numbers run from 0 to ``logical_pages - 1``. Bad input raises
    before anything changes: an LPN out of range :class:`InvalidLPNError` (an
    :class:`~swapops.errors.InvalidEntryError` and an :class:`IndexError`), a
    non-integer LPN, a negative count or a malformed batch
    :class:`~swapops.errors.ConfigError`. Each message names the method, the
    argument, its value and the valid range.
    """

    __slots__ = (
        "geometry",
        "timing",
        "logical_pages",
        "rng",
        "_B",
        "_N",
        "_T",
        "_l2p",
        "_p2l",
        "_key",
        "_iota",
        "_blk",
        "_erase",
        "_closed_seq",
        "_seq",
        "_free",
        "_fifo",
        "_policy",
        "_reserve",
        "_wl",
        "_ec_max",
        "_ec_floor",
        "_open",
        "_wp",
        "_end",
        "_budget",
        "_pending",
        "_pending_append",
        "_host",
        "_copies",
        "_wl_copies",
        "_erases",
        "_trims",
        "_reads",
    )

    def __init__(self, geometry: FlashGeometry, timing: FlashTiming | None = None, *, seed: int = 0) -> None:
        if not isinstance(geometry, FlashGeometry):
            raise ConfigError(f"geometry must be a FlashGeometry, not {type(geometry).__name__}")
        if timing is not None and not isinstance(timing, FlashTiming):
            raise ConfigError(f"timing must be a FlashTiming or None, not {type(timing).__name__}")
        self.geometry = geometry
        self.timing = timing if timing is not None else FlashTiming()
        try:
            self.rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"NandFlash: seed must be a non-negative integer, not {seed!r} ({exc})") from None
        b = geometry.pages_per_block
        n = geometry.nr_blocks
        t = n * b
        self.logical_pages: int = geometry.logical_pages
        self._B = b
        self._N = n
        self._T = t
        self._l2p: IntArray = np.full(self.logical_pages, t, dtype=np.int64)
        self._p2l: IntArray = np.full(t + 1, -1, dtype=np.int64)
        self._key: IntArray = np.full(n + 1, _BIG + b, dtype=np.int64)
        self._key[n] = _HUGE
        # Lookup tables (gathers are far cheaper than small ufunc calls):
        # _iota[p] == p, _blk[p] == p // pages_per_block (the sentinel maps to block N).
        self._iota: IntArray = np.arange(t + 1, dtype=np.int64)
        self._blk: npt.NDArray[Any] = np.arange(
            n + 1, dtype=np.int16 if n < 1 << 15 else np.int32
        ).repeat(b)[: t + 1]
        self._erase: list[int] = [0] * n
        self._closed_seq: list[int] = [0] * n
        self._seq = 0
        self._free: deque[int] = deque(range(n))
        self._fifo: deque[int] = deque()
        self._policy = _POLICY_CODES[geometry.gc]
        self._reserve = geometry.gc_low_watermark
        self._wl = geometry.wear_leveling_threshold
        self._ec_max = 0
        self._ec_floor = 0
        self._pending: list[int] = []
        self._pending_append = self._pending.append
        self._host = self._copies = self._wl_copies = self._erases = self._trims = self._reads = 0
        first = self._free.popleft()
        self._open = first
        self._wp = first * b
        self._end = self._wp + b
        self._budget = _PENDING_MAX

    def __repr__(self) -> str:
        g = self.geometry
        return (
            f"NandFlash(logical_pages={self.logical_pages}, nr_blocks={g.nr_blocks}, "
            f"pages_per_block={g.pages_per_block}, op={g.effective_over_provisioning:.4f}, gc={g.gc!r})"
        )

    # ------------------------------------------------------------------ host I/O

    def write(self, lpn: int) -> None:
        """One host page write to ``lpn`` (hot path: a bounds check and a list append).

        Buffered writes are applied in order, with the GC they cause, when
        the buffer is full or before any call that looks at or changes the
        state, so no caller can tell them from immediate writes.
        """
        if lpn.__class__ is not int:
            lpn = _as_int(lpn, "write", "lpn")  # numpy integers pass; floats, bools, str: ConfigError
        if not 0 <= lpn < self.logical_pages:
            raise InvalidLPNError(f"NandFlash.write: lpn {lpn} is outside 0..{self.logical_pages - 1}")
        self._pending_append(lpn)
        self._budget -= 1
        if not self._budget:
            self._flush()

    def write_run(self, lpn: int, n: int) -> None:
        """``n`` host page writes to consecutive LPNs ``lpn .. lpn + n - 1``."""
        lpn, n = self._check_range(lpn, n, "write_run")
        if n:
            self.write_many(np.arange(lpn, lpn + n, dtype=np.int64))

    def write_many(self, lpns: npt.ArrayLike | Sequence[int]) -> None:
        """Host page writes to ``lpns`` in order; the same result as a loop of :meth:`write`.

        The batch is validated first: a bad LPN raises before any page is written.
        """
        lp = self._lpn_array(lpns, "write_many")
        if lp.shape[0] == 0:
            return
        if self._pending:
            self._flush()
        self._apply(lp)

    def write_random(self, n: int, *, batch: int = 1 << 20) -> None:
        """``n`` host writes to LPNs drawn uniformly from :attr:`rng` (the analysis workload)."""
        n = _as_int(n, "write_random", "n")
        if n < 0:
            raise ConfigError(f"NandFlash.write_random: n must be >= 0, not {n}")
        batch = _as_int(batch, "write_random", "batch")
        if batch <= 0:
            raise ConfigError(f"NandFlash.write_random: batch must be >= 1, not {batch}")
        while n > 0:
            k = min(n, batch)
            self.write_many(self.rng.integers(0, self.logical_pages, size=k, dtype=np.int64))
            n -= k

    def trim(self, lpn: int, n: int = 1) -> None:
        """TRIM/discard ``n`` LPNs from ``lpn``: their pages become invalid, the LPNs unmapped."""
        lpn, n = self._check_range(lpn, n, "trim")
        if n == 0:
            return
        if self._pending:
            self._flush()
        l2p = self._l2p
        unmapped = self._T
        if n == 1:
            old = int(l2p[lpn])
            if old != unmapped:
                self._p2l[old] = -1
                self._key[old // self._B] -= 1
                l2p[lpn] = unmapped
        else:
            seg = l2p[lpn : lpn + n]
            self._p2l[seg] = -1
            np.subtract.at(self._key, self._blk[seg], 1)  # the sentinel hits the dummy block
            seg.fill(unmapped)
        self._trims += n

    def read(self, lpn: int, n: int = 1) -> None:
        """Count ``n`` host page reads from ``lpn`` (for the counters and modeled time)."""
        lpn, n = self._check_range(lpn, n, "read")
        self._reads += n

    # ------------------------------------------------------------------ observation

    def snapshot(self) -> FlashCounters:
        """The cumulative counters now; subtract two snapshots for an interval."""
        if self._pending:
            self._flush()
        return FlashCounters(self._host, self._copies, self._wl_copies, self._erases, self._trims, self._reads)

    def stats(self) -> dict[str, Any]:
        """Counters since creation or :meth:`reset_stats`, plus wear and occupancy now.

        Keys: ``host_writes``, ``nand_writes`` (host + copies), ``gc_copies``
        (GC and wear-levelling copies), ``wl_copies`` (the wear-levelling part),
        ``erases``, ``waf`` (NaN before any host write), ``trims``, ``reads``,
        ``modeled_time_ns``; wear since creation: ``erase_count_min``,
        ``erase_count_mean``, ``erase_count_max``; now: ``free_blocks``,
        ``valid_pages``, ``logical_pages``, ``physical_pages``.
        """
        c = self.snapshot()
        ec = self.erase_counts
        return {
            "host_writes": c.host_writes,
            "nand_writes": c.nand_writes,
            "gc_copies": c.gc_copies,
            "wl_copies": c.wl_copies,
            "erases": c.erases,
            "waf": c.waf,
            "trims": c.trims,
            "reads": c.reads,
            "modeled_time_ns": c.modeled_time_ns(self.timing),
            "erase_count_min": int(ec.min()),
            "erase_count_mean": float(ec.mean()),
            "erase_count_max": int(ec.max()),
            "free_blocks": len(self._free),
            "valid_pages": self._valid_pages(),
            "logical_pages": self.logical_pages,
            "physical_pages": self._T,
        }

    def reset_stats(self) -> None:
        """Zero the event counters (not the erase counts), e.g. after a warm-up."""
        if self._pending:
            self._flush()
        self._host = self._copies = self._wl_copies = self._erases = self._trims = self._reads = 0

    @property
    def erase_counts(self) -> IntArray:
        """Erase count of every block since creation (a new array)."""
        if self._pending:
            self._flush()
        return np.array(self._erase, dtype=np.int64)

    def waf_trace(self, lpns: npt.ArrayLike | Sequence[int], interval: int) -> npt.NDArray[np.float64]:
        """Write ``lpns`` and return the write amplification of each ``interval`` host writes.

        Built on :meth:`snapshot` only, so it works for any GC policy; the last
        entry covers the remainder when ``len(lpns)`` is not a multiple.
        """
        interval = _as_int(interval, "waf_trace", "interval")
        if interval <= 0:
            raise ConfigError(f"NandFlash.waf_trace: interval must be >= 1, not {interval}")
        lp = self._lpn_array(lpns, "waf_trace")  # the whole batch is checked before any write
        out = []
        before = self.snapshot()
        for start in range(0, lp.shape[0], interval):
            self.write_many(lp[start : start + interval])
            after = self.snapshot()
            out.append((after - before).waf)
            before = after
        return np.array(out, dtype=np.float64)

    def check_invariants(self) -> None:
        """Recompute the mapping and per-block counts from scratch and compare (O(pages); for tests).

        Raises :class:`AssertionError` on the first inconsistency (also under ``python -O``).
        """
        if self._pending:
            self._flush()
        b, n, t = self._B, self._N, self._T
        l2p, p2l = self._l2p, self._p2l
        mapped = np.flatnonzero(l2p != t)
        _require(np.array_equal(p2l[l2p[mapped]], mapped), "l2p and p2l disagree")
        valid = p2l[:t] >= 0
        _require(int(valid.sum()) == mapped.size, "a physical page is valid for no LPN")
        per_block = valid.reshape(n, b).sum(axis=1)
        free = set(self._free)
        _require(len(free) == len(self._free) and self._open not in free, "free list corrupt")
        written_open = self._wp - self._open * b
        for blk in range(n):
            k = int(self._key[blk])
            if blk in free:
                _require(k == _BIG + b and per_block[blk] == 0, f"free block {blk} not empty")
            elif blk == self._open:
                _require(k - _BIG - (b - written_open) == per_block[blk], "open block count wrong")
                _require(not valid[self._wp : self._end].any(), "unwritten page valid")
            else:
                _require(k == per_block[blk], f"closed block {blk}: key {k} != valid {per_block[blk]}")
        if self._policy == _FIFO:
            _require(len(self._fifo) == n - len(free) - 1, "fifo queue misses closed blocks")
        _require(self._valid_pages() == mapped.size, "valid page count wrong")

    # ------------------------------------------------------------------ internals

    def _check_range(self, lpn: int, n: int, where: str) -> tuple[int, int]:
        """Validate the run ``lpn .. lpn + n - 1`` (``n = 0`` may start at ``logical_pages``)."""
        if lpn.__class__ is not int:
            lpn = _as_int(lpn, where, "lpn")
        if n.__class__ is not int:
            n = _as_int(n, where, "n")
        if n < 0:
            raise ConfigError(f"NandFlash.{where}: n (page count) must be >= 0, not {n}")
        if lpn < 0 or lpn + n > self.logical_pages:
            last = self.logical_pages - 1
            raise InvalidLPNError(
                f"NandFlash.{where}: lpn={lpn}, n={n} reaches outside the logical pages 0..{last}"
                f" (lpn must be in 0..{self.logical_pages} and lpn + n <= {self.logical_pages})"
            )
        return lpn, n

    def _lpn_array(self, lpns: npt.ArrayLike | Sequence[int], where: str) -> IntArray:
        """``lpns`` as a validated 1-D int64 array (cold path: once per batch)."""
        try:
            lp = np.asarray(lpns)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"NandFlash.{where}: lpns must be a 1-D sequence of integers ({exc})") from None
        if lp.ndim != 1:
            raise ConfigError(f"NandFlash.{where}: lpns must be a 1-D sequence of LPNs, not shape {lp.shape}")
        if lp.shape[0] == 0:
            return np.empty(0, dtype=np.int64)
        if lp.dtype.kind not in "iu":
            raise ConfigError(f"NandFlash.{where}: LPNs must be integers, not dtype {lp.dtype}")
        lo = int(lp.min())
        hi = int(lp.max())
        if lo < 0 or hi >= self.logical_pages:
            bad = lo if lo < 0 else hi
            i = int(np.flatnonzero(lp == bad)[0])
            raise InvalidLPNError(
                f"NandFlash.{where}: lpns[{i}] = {bad} is outside 0..{self.logical_pages - 1}; nothing was written"
            )
        return lp if lp.dtype == np.int64 else lp.astype(np.int64)

    def _valid_pages(self) -> int:
        n_free = len(self._free)
        raw = int(self._key[: self._N].sum())
        return raw - _BIG * (n_free + 1) - self._B * n_free - (self._end - self._wp)

    def _flush(self) -> None:
        """Apply the host writes buffered by :meth:`write`."""
        pending = self._pending
        if len(pending) < _SMALL and len(pending) < self._end - self._wp:
            self._host_scalar(pending)
        else:
            self._apply(np.array(pending, dtype=np.int64))
        pending.clear()
        self._budget = _PENDING_MAX

    def _apply(self, lp: IntArray) -> None:
        """Host writes to validated ``lp`` in chunks that each end at a GC point.

        A chunk of at least ``_SMALL`` pages costs a fixed handful of numpy
        calls: gather the old mapping, scatter the new one, read it back to
        detect a repeated LPN, store the reverse map, invalidate the old
        pages and count them per block. The write pointer lives in a local.
        """
        l2p, p2l, key, iota, blk = self._l2p, self._p2l, self._key, self._iota, self._blk
        subtract_at = np.subtract.at
        small = _SMALL
        n = lp.shape[0]
        i = 0
        host = 0
        wp, end = self._wp, self._end
        while i < n:
            k = end - wp
            if n - i < k:
                k = n - i
            part = lp[i : i + k]
            i += k
            if k >= small:
                old = l2p[part]
                new = iota[wp : wp + k]
                l2p[part] = new
                if l2p[part].tobytes() == new.tobytes():
                    p2l[wp : wp + k] = part
                    p2l[old] = -1
                    subtract_at(key, blk[old], 1)
                    wp += k
                    host += k
                else:  # an LPN repeats in the chunk: restore (all copies read the same old page)
                    l2p[part] = old
                    self._wp = wp
                    self._host_scalar(part.tolist())
                    wp = self._wp
            else:
                self._wp = wp
                self._host_scalar(part.tolist())
                wp = self._wp
            if wp == end:
                self._wp = wp
                self._make_room()
                wp, end = self._wp, self._end
        self._wp = wp
        self._host += host

    def _host_scalar(self, lpns: Sequence[int]) -> None:
        """Host writes one by one; ``len(lpns)`` must fit in the open block."""
        l2p, p2l, key, b = self._l2p, self._p2l, self._key, self._B
        wp = self._wp
        for lpn in lpns:
            old = int(l2p[lpn])
            p2l[old] = -1
            key[old // b] -= 1
            l2p[lpn] = wp
            p2l[wp] = lpn
            wp += 1
        self._host += wp - self._wp
        self._wp = wp

    def _open_next(self) -> None:
        """Close the full open block and open the next free one (no GC here)."""
        closed = self._open
        self._key[closed] -= _BIG
        self._closed_seq[closed] = self._seq
        self._seq += 1
        if self._policy == _FIFO:
            self._fifo.append(closed)
        if not self._free:
            raise RuntimeError("NandFlash: no free block left (GC reserve invariant broken)")
        nxt = self._free.popleft()
        self._open = nxt
        self._wp = nxt * self._B
        self._end = self._wp + self._B

    def _make_room(self) -> None:
        """The open block is full: move the frontier on and clean until the reserve is back."""
        free = self._free
        reserve = self._reserve
        greedy = self._policy == _GREEDY
        while self._wp == self._end:
            self._open_next()
            while len(free) < reserve:
                self._collect(int(self._key.argmin()) if greedy else self._select_victim())
                if self._wl is not None:
                    self._wear_level(self._wl)

    def _select_victim(self) -> int:
        """FIFO or cost-benefit victim (greedy's ``argmin`` is inlined in :meth:`_make_room`)."""
        if self._policy == _FIFO:
            return self._fifo.popleft()
        key = self._key[: self._N]
        best = int(key.argmin())
        if key[best] == 0:
            return best  # an empty block costs nothing to clean
        age = self._seq - np.array(self._closed_seq, dtype=np.float64)
        score = age * (self._B - key) / key
        score[key >= _BIG] = -np.inf
        return int(score.argmax())

    def _collect(self, victim: int) -> int:
        """Copy the victim's valid pages to the frontier, erase it, free it; return copies."""
        b = self._B
        key = self._key
        nvalid = int(key[victim])
        if nvalid:
            seg = self._p2l[victim * b : victim * b + b]
            moved = seg.copy() if nvalid == b else seg[seg >= 0]
            wp = self._wp
            if self._end - wp >= nvalid:  # the usual case: fits in the open block
                self._l2p[moved] = self._iota[wp : wp + nvalid]
                self._p2l[wp : wp + nvalid] = moved
                self._wp = wp + nvalid
            else:
                self._relocate(moved)
            seg.fill(-1)
            self._copies += nvalid
        key[victim] = _BIG + b
        count = self._erase[victim] + 1
        self._erase[victim] = count
        if count > self._ec_max:
            self._ec_max = count
        self._free.append(victim)
        self._erases += 1
        return nvalid

    def _relocate(self, lpns: IntArray) -> None:
        """Program ``lpns`` (valid pages being moved) at the frontier, opening blocks as needed."""
        l2p, p2l = self._l2p, self._p2l
        n = lpns.shape[0]
        i = 0
        while i < n:
            if self._wp == self._end:
                self._open_next()
            wp = self._wp
            k = min(self._end - wp, n - i)
            part = lpns[i : i + k]
            l2p[part] = self._iota[wp : wp + k]
            p2l[wp : wp + k] = part
            self._wp = wp + k
            i += k

    def _wear_level(self, threshold: int) -> None:
        """Static wear levelling, at most one migration per GC victim.

        When the largest erase count exceeds the smallest one among closed
        blocks by more than ``threshold``, the valid pages of that coldest
        block move into the most-erased free block, which is closed at once
        (unwritten pages count as invalid) so it rests under cold data, and
        the coldest block is erased and joins the free queue to take hot data.
        """
        if self._ec_max - self._ec_floor <= threshold:
            return  # _ec_floor never exceeds the true minimum, so nothing to do
        ec = np.array(self._erase, dtype=np.int64)
        self._ec_floor = int(ec.min())
        key = self._key
        closed_ec = np.where(key[: self._N] < _BIG, ec, _HUGE)
        coldest = int(closed_ec.argmin())
        if self._ec_max - int(closed_ec[coldest]) <= threshold:
            return
        erase = self._erase
        free = self._free
        dest = max(free, key=lambda blk: (erase[blk], -blk))
        free.remove(dest)
        b = self._B
        seg = self._p2l[coldest * b : coldest * b + b]
        moved = seg[seg >= 0]
        n = moved.shape[0]
        d0 = dest * b
        self._l2p[moved] = self._iota[d0 : d0 + n]
        self._p2l[d0 : d0 + n] = moved
        seg.fill(-1)
        key[dest] = n  # closed, with n valid pages
        self._closed_seq[dest] = self._seq
        self._seq += 1
        if self._policy == _FIFO:
            self._fifo.remove(coldest)
            self._fifo.append(dest)
        self._copies += n
        self._wl_copies += n
        key[coldest] = 0
        self._collect(coldest)  # now empty: this only erases it
