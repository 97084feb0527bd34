"""The zswap layer's cost beyond its compressor, on the same pages, side by side.

Four timings per repeat, interleaved, over the same batch of order-0 corpus
pages (:func:`bench_common.corpus_page`), all in µs per page:

``raw``
    the codec alone: ``decompress(compress(page), 4096)`` with the very codec
    object the zswap device binds (lz4 by default);
``layer``
    the zswap device driven through its dispatch table as the core drives the
    top device: ``alloc(0)``, ``write``, ``read`` (the exclusive load), ``free``;
``below``
    what ``layer`` spends in the device under zswap: ``alloc(0)`` + ``free``
    called directly on the swapfile's dispatch table (zswap over a swapfile
    takes its keys from that swapfile's allocator, as mainline does);
``stack``
    full round trips (:mod:`bench_roundtrip`) of ``zswap>swapfile`` and of
    ``swapfile`` alone.

The zswap layer's own cost is ``layer - below``; beyond the compressor it is
``layer - below - raw`` (the target: at most 2 µs per page). The stack view,
``rt(zswap>swapfile) - rt(swapfile) - raw``, is reported too: it also drops
the swapfile's RAM store and device-time model, which zswap>swapfile skips.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from bench_common import CLOCKS, interleaved, make_folios, summary
from bench_roundtrip import RoundTrip

from swapops.folio import Folio
from swapops.runner import quiet_system
from swapops.sizes import PAGE_SIZE

STACK = "zswap>swapfile"


def measure(
    count: int = 1024,
    repeats: int = 21,
    *,
    compressor: str = "lz4",
    clock: str = "cpu",
    warmup: int = 1,
) -> dict[str, Any]:
    tick = CLOCKS[clock]
    folios = make_folios(0, count)
    pages = [f.data for f in folios]
    system = quiet_system(0)
    top = system.swapon(f"zswap:compressor={compressor}>swapfile", size="1G")
    lower = top.lower
    assert top.ops is not None and lower is not None and lower.ops is not None
    codec = getattr(top, "_codec", None)
    if codec is None:  # pragma: no cover - the attribute is the zswap module's
        from swapops.compress import get_compressor

        codec = get_compressor(compressor)
    compress = codec.compress
    decompress = codec.decompress
    ops = top.ops
    lops = lower.ops

    def raw() -> float:
        t0 = tick()
        for p in pages:
            decompress(compress(p), PAGE_SIZE)
        return (tick() - t0) / count

    target = Folio._empty(0)

    def layer() -> float:
        alloc, write, read, free = ops.alloc, ops.write, ops.read, ops.free
        t0 = tick()
        for f in folios:
            off = alloc(0)
            write(off, f)
            read(off, target)
            free(off, 1)
        return (tick() - t0) / count

    split: dict[str, list[float]] = {"write": [], "read": []}

    def layer_split() -> float:
        """alloc all, write all, read all, free all: write and read on their own clocks."""
        alloc, write, read, free = ops.alloc, ops.write, ops.read, ops.free
        offs = [alloc(0) for _ in folios]
        t0 = tick()
        for off, f in zip(offs, folios, strict=True):
            write(off, f)
        t1 = tick()
        for off in offs:
            read(off, target)
        t2 = tick()
        for off in offs:
            free(off, 1)
        split["write"].append((t1 - t0) / count)
        split["read"].append((t2 - t1) / count)
        return (t2 - t0) / count

    compressed = [compress(p) for p in pages]

    def codec_compress() -> float:
        t0 = tick()
        for p in pages:
            compress(p)
        return (tick() - t0) / count

    def codec_decompress() -> float:
        t0 = tick()
        for c in compressed:
            decompress(c, PAGE_SIZE)
        return (tick() - t0) / count

    pool = top._pool  # the zsmalloc model zswap calls
    sizes = [len(c) for c in compressed]

    def zsmalloc() -> float:
        malloc, free = pool.malloc, pool.free
        t0 = tick()
        handles = [malloc(n) for n in sizes]
        for h in handles:
            free(h)
        return (tick() - t0) / count

    def below() -> float:
        alloc, free = lops.alloc, lops.free
        t0 = tick()
        for _f in folios:
            free(alloc(0), 1)
        return (tick() - t0) / count

    # correctness of the layer path, untimed
    for f in folios[:64]:
        off = ops.alloc(0)
        ops.write(off, f)
        ops.read(off, target)
        if target.data != f.data:
            raise AssertionError("zswap layer returned different bytes")
        ops.free(off, 1)

    rt_z = RoundTrip(f"zswap:compressor={compressor}>swapfile", folios, tick)
    rt_s = RoundTrip("swapfile", folios, tick)
    rt_z.verify()
    rt_s.verify()
    cases: dict[str, Callable[[], float]] = {
        "raw": raw, "layer": layer, "below": below, "rt_zswap": rt_z, "rt_swapfile": rt_s,
        "layer_split": layer_split, "compress": codec_compress, "decompress": codec_decompress,
        "zsmalloc": zsmalloc,
    }
    s = interleaved(cases, repeats, warmup=warmup)
    wr = split["write"][-repeats:]
    rd = split["read"][-repeats:]
    own = [lay - bel for lay, bel in zip(s["layer"], s["below"], strict=True)]
    beyond = [o - r for o, r in zip(own, s["raw"], strict=True)]
    stack_beyond = [z - w - r for z, w, r in zip(s["rt_zswap"], s["rt_swapfile"], s["raw"], strict=True)]
    st = top.stats()
    system.swapoff(top)
    return {
        "what": "zswap layer (alloc+write+read+free via its dispatch table, minus the swapfile's "
                "alloc+free below it) vs the raw codec's compress+decompress, same pages",
        "compressor": compressor,
        "clock": clock,
        "pages": count,
        "repeats": repeats,
        "corpus": "swapops.corpus (libpython3.11.so ELF, stdlib source, bytecode), distinct copies",
        "us_per_page": {
            "raw_codec": summary(s["raw"], 1e-3),
            "layer_ops": summary(s["layer"], 1e-3),
            "below_alloc_free": summary(s["below"], 1e-3),
            "layer_own": summary(own, 1e-3),
            "layer_beyond_codec": summary(beyond, 1e-3),
            "rt_zswap_swapfile": summary(s["rt_zswap"], 1e-3),
            "rt_swapfile": summary(s["rt_swapfile"], 1e-3),
            "stack_beyond_codec": summary(stack_beyond, 1e-3),
            "compress": summary(s["compress"], 1e-3),
            "decompress": summary(s["decompress"], 1e-3),
            "write": summary(wr, 1e-3),
            "read": summary(rd, 1e-3),
            "write_beyond_compress": summary([w - c for w, c in zip(wr, s["compress"], strict=True)], 1e-3),
            "read_beyond_decompress": summary([r - d for r, d in zip(rd, s["decompress"], strict=True)], 1e-3),
            "zsmalloc_malloc_free": summary(s["zsmalloc"], 1e-3),
        },
        "stored_incompressible_pages": st.get("stored_incompressible_pages"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    res = measure(repeats=7 if "--quick" in args else 21)
    for name, cell in res["us_per_page"].items():
        print(f"{name:<22} {cell['median']:8.2f} µs/page")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
