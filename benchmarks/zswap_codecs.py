"""Compression ratio per compressor and the zswap layer's per-page cost.

Run ``python benchmarks/zswap_codecs.py [pages-per-kind] [seed]``. Pages are
sampled at run time from ELF and text files on this machine
(:mod:`swapops_zswap.corpus`).

Timing is wall-clock and is *reported*, never used by the model. The raw
compressor (``compress`` + ``decompress`` of each page through the same
codec object zswap binds) and the zswap layer (``write_folio`` then the
exclusive ``read_folio`` of each page, called through the device's dispatch
table as the core calls it, over a RAM swapfile) run side by side, in
alternating chunks of 20 pages on the thread's CPU clock; each chunk counts
with its best of several rounds (the least disturbed by other processes).
"""

from __future__ import annotations

import operator
import random
import sys
import time
from collections.abc import Sequence

import attrs
from swapops_zswap import ZswapDevice, corpus

import swapops
from swapops.compress import AVAILABLE_COMPRESSORS, get_compressor
from swapops.errors import ConfigError
from swapops.folio import Folio
from swapops.sizes import PAGE_SIZE


@attrs.frozen
class RatioRow:
    """Compression of one corpus by one compressor."""

    compressor: str
    kind: str
    pages: int
    ratio: float  # raw bytes / compressed bytes (the codec's own output)
    stored_ratio: float  # raw bytes / bytes zswap keeps (incompressible pages kept raw)
    pool_ratio: float  # pages stored / zsmalloc pool pages (memory actually saved)


@attrs.frozen
class TimingRow:
    """Per-page µs of the raw codec and of the zswap layer, measured side by side."""

    compressor: str
    pages: int
    raw_us: float
    layer_us: float

    @property
    def overhead_us(self) -> float:
        return self.layer_us - self.raw_us


def available_compressors() -> list[str]:
    """The compressors whose bindings are installed (lzo is an optional extra)."""
    names = []
    for name in AVAILABLE_COMPRESSORS:
        try:
            get_compressor(name)
        except ConfigError:
            continue
        names.append(name)
    return names


def sample_corpus(per_kind: int, seed: int = 0) -> dict[str, list[bytes]]:
    """``per_kind`` pages each from ELF and text files on this machine."""
    rng = random.Random(seed)
    return {"elf": corpus.file_pages("elf", per_kind, rng), "text": corpus.file_pages("text", per_kind, rng)}


def _zswap_stack(compressor: str, ram: str = "4G") -> tuple[swapops.SwapSystem, ZswapDevice]:
    system = swapops.SwapSystem()
    dev = system.swapon(f"zswap:compressor={compressor},ram={ram}>swapfile", size="1G")
    assert isinstance(dev, ZswapDevice)
    return system, dev


def compression_ratios(
    pages: Sequence[bytes], compressor: str, kind: str = "", min_stores: int = 4096
) -> RatioRow:
    """The codec's ratio, the bytes zswap keeps, and the pool's pages for ``pages``.

    The pool ratio needs a filled pool (each of zsmalloc's ~120 size classes
    holds at least one partly used zspage of up to 8 pages), so the pages are
    stored repeatedly until at least ``min_stores`` entries are in it.
    """
    if not pages:
        raise ValueError("no pages")
    codec = get_compressor(compressor)
    raw = len(pages) * PAGE_SIZE
    out = sum(len(codec.compress(p)) for p in pages)
    system, dev = _zswap_stack(compressor)
    try:
        stores = max(min_stores, len(pages))
        ops = dev.ops
        assert ops is not None
        for i in range(stores):
            ops.write(ops.alloc(0), Folio(pages[i % len(pages)]))
        st = dev.stats()
        kept = sum(min(len(codec.compress(p)), PAGE_SIZE) for p in pages)
        pool_ratio = st["stored_pages"] / st["pool_pages"] if st["pool_pages"] else 0.0
    finally:
        system.swapoff(dev)
    return RatioRow(compressor, kind, len(pages), raw / out if out else 0.0, raw / kept, pool_ratio)


def layer_timing(
    pages: Sequence[bytes], compressor: str, rounds: int = 9, chunk: int = 20, background: int = 2
) -> TimingRow:
    """Per-page µs: raw compress+decompress vs zswap write+exclusive read, side by side.

    The pool first holds ``background`` stored copies of the corpus (a warm
    pool: zsmalloc's zspages exist, as in a running system). The pages are
    cut into chunks; each round times every chunk raw and through the layer
    on the thread's CPU clock, swapping which goes first every round (the
    second one finds the pages in the CPU cache). A chunk's figure is its
    best round, so bursts of load from other processes disturb neither side;
    the per-page result sums the chunks' best rounds.
    """
    system, dev = _zswap_stack(compressor)
    try:
        ops = dev.ops
        assert ops is not None
        for _ in range(background):
            for p in pages:
                ops.write(ops.alloc(0), Folio(p))
        offsets = [ops.alloc(0) for _ in pages]
        folios = [Folio(p) for p in pages]
        target = Folio._empty(0)
        codec = dev._codec  # the very codec object the layer calls
        compress = codec.compress
        decompress = codec.decompress
        write = ops.write
        read = ops.read
        clock = time.thread_time_ns
        chunks = [
            (pages[i : i + chunk], list(zip(offsets[i : i + chunk], folios[i : i + chunk], strict=True)))
            for i in range(0, len(pages), chunk)
        ]
        best_raw = [1 << 62] * len(chunks)
        best_layer = [1 << 62] * len(chunks)

        def run_raw(k: int, raw_pages: Sequence[bytes]) -> None:
            t0 = clock()
            for p in raw_pages:
                decompress(compress(p), PAGE_SIZE)
            t = clock() - t0
            if t < best_raw[k]:
                best_raw[k] = t

        def run_layer(k: int, pairs: Sequence[tuple[int, Folio]]) -> None:
            t0 = clock()
            for off, folio in pairs:
                write(off, folio)
                read(off, target)
            t = clock() - t0
            if t < best_layer[k]:
                best_layer[k] = t

        for r in range(rounds):
            for k, (raw_pages, pairs) in enumerate(chunks):
                if r & 1:
                    run_layer(k, pairs)
                    run_raw(k, raw_pages)
                else:
                    run_raw(k, raw_pages)
                    run_layer(k, pairs)
                if target.data != raw_pages[-1]:
                    raise AssertionError("zswap layer returned different bytes")
    finally:
        system.swapoff(dev)
    n = len(pages)
    return TimingRow(compressor, n, sum(best_raw) / n / 1000, sum(best_layer) / n / 1000)


@attrs.frozen
class BookkeepingRow:
    """Per-page µs the layer adds besides compression (a do-nothing codec in place)."""

    pages: int
    layer_us: float  # write + read through the layer, minus the null codec's own calls
    zsmalloc_us: float  # of which: one ZsPool.malloc + free, timed alone on the same pool


def bookkeeping_overhead(pages: Sequence[bytes], rounds: int = 15) -> BookkeepingRow:
    """The layer's own per-page cost, measured with a codec that does no work.

    The codec is two C builtins (a 1500-byte slice for ``compress``,
    ``bytes.ljust`` to a page for ``decompress``), so what remains is the
    layer's bookkeeping: dispatch, limit checks, the zsmalloc model, the LRU,
    counters. The pool is warm (two stored copies of the corpus).
    """
    system, dev = _zswap_stack("lz4")
    try:
        ops = dev.ops
        assert ops is not None
        for _ in range(2):
            for p in pages:
                ops.write(ops.alloc(0), Folio(p))
        pairs = [(ops.alloc(0), Folio(p)) for p in pages]
        null_compress = operator.itemgetter(slice(0, 1500))
        null_decompress = bytes.ljust  # (data, size) -> data padded to size bytes
        dev._compress = null_compress  # the layer calls whatever is bound here
        dev._decompress = null_decompress
        write = ops.write
        read = ops.read
        target = Folio._empty(0)
        pool = dev.pool
        malloc = pool.malloc
        free = pool.free
        clock = time.thread_time_ns
        best = [1 << 62, 1 << 62, 1 << 62]
        for r in range(rounds):
            order = (0, 1, 2) if r & 1 else (2, 1, 0)
            for which in order:
                t0 = clock()
                if which == 0:
                    for p in pages:
                        null_decompress(null_compress(p), PAGE_SIZE)
                elif which == 1:
                    for off, folio in pairs:
                        write(off, folio)
                        read(off, target)
                else:
                    for _p in pages:
                        free(malloc(1500))
                t = clock() - t0
                if t < best[which]:
                    best[which] = t
    finally:
        system.swapoff(dev)
    n = len(pages)
    return BookkeepingRow(n, (best[1] - best[0]) / n / 1000, best[2] / n / 1000)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    per_kind = int(args[0]) if args else 200
    seed = int(args[1]) if len(args) > 1 else 0
    pages = sample_corpus(per_kind, seed)
    print(f"corpus: {len(pages['elf'])} ELF pages, {len(pages['text'])} text pages (seed {seed})")
    names = available_compressors()
    print(f"{'compressor':<10} {'kind':<5} {'ratio':>6} {'stored':>7} {'pool':>6}")
    for name in names:
        for kind, kind_pages in pages.items():
            if kind_pages:
                r = compression_ratios(kind_pages, name, kind)
                print(f"{name:<10} {kind:<5} {r.ratio:6.2f} {r.stored_ratio:7.2f} {r.pool_ratio:6.2f}")
    mixed = pages["elf"] + pages["text"]
    print(f"\n{'compressor':<10} {'raw µs':>8} {'zswap µs':>9} {'delta':>7}  (per page, write+read)")
    for name in names:
        t = layer_timing(mixed, name)
        print(f"{name:<10} {t.raw_us:8.2f} {t.layer_us:9.2f} {t.overhead_us:7.2f}")
    b = bookkeeping_overhead(mixed)
    print(f"\nlayer bookkeeping with a do-nothing codec: {b.layer_us:.2f} µs per page "
          f"(of which zsmalloc model malloc+free: {b.zsmalloc_us:.2f} µs)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
