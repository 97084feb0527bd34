"""What zswap does, shown through the public API only.

Run ``python docs/examples/zswap_demo.py``. Two experiments:

1. *Pool limit and writeback*: fill ``zswap>swapfile`` past its pool limit
   (``max_pool_percent`` of ``ram``); the shrink worker writes entries back to
   the swapfile, and the pool ends at or under the limit. Every page reads
   back byte-exact, from the pool or from the swapfile.
2. *Capacity coupling*: directly over a swapfile, zswap entries are the
   swapfile's slots, so storing more pages than it has slots fails with
   :class:`swapops.OutOfSwapSpaceError` although the pool has room; under
   vswap the same pages are taken (zswap's entries are no longer slots).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from swapops_zswap import corpus

import swapops


def _pages(count: int, seed: int, distinct: int = 400) -> list[bytes]:
    """``count`` compressible pages: up to ``distinct`` sampled from files here
    (topped up with synthetic text when the machine has few), repeated."""
    rng = random.Random(seed)
    n = min(count, distinct)
    base = corpus.file_pages("text", n // 2, rng) + corpus.file_pages("elf", n - n // 2, rng)
    while len(base) < n:
        base.append(corpus.text_page(rng))
    return [base[i % n] for i in range(count)]


def pool_limit_demo(seed: int = 0, ram: str = "32M", say: Callable[[str], None] = print) -> dict[str, Any]:
    """Fill past the pool limit; return the figures that show writeback happened."""
    system = swapops.SwapSystem(seed=seed)
    dev = system.swapon(f"zswap:ram={ram}>swapfile", size="64M")
    limit = dev.stats()["max_pool_pages"]
    count = int(limit * 3)  # ~1.5x the limit at a compression ratio of ~2
    pages = _pages(count, seed)
    entries = [system.swap_out(swapops.Folio(p)) for p in pages]
    st = dev.stats()
    say(
        f"stored {count} pages into zswap:ram={ram} (pool limit {limit} pages): "
        f"written_back_pages={st['written_back_pages']}, pool={st['pool_pages']} pages, "
        f"stored_pages={st['stored_pages']}, pool_limit_hit={st['pool_limit_hit']}"
    )
    exact = all(system.swap_in(e).data == p for e, p in zip(entries, pages, strict=True))
    for e in entries:
        system.swap_free(e)
    say(f"all {count} pages read back byte-exact: {exact}")
    system.swapoff(dev)
    return {
        "limit_pages": limit,
        "pool_pages": st["pool_pages"],
        "written_back_pages": st["written_back_pages"],
        "zswpwb": st["zswpwb"],
        "stored_pages": st["stored_pages"],
        "exact": exact,
    }


def capacity_demo(seed: int = 0, swap_size: str = "1M", say: Callable[[str], None] = print) -> dict[str, Any]:
    """More pages than the swapfile has slots: refused directly over it, taken under vswap."""
    result: dict[str, Any] = {}
    system = swapops.SwapSystem(seed=seed)
    dev = system.swapon("zswap>swapfile", size=swap_size)
    slots = dev.size
    pages = _pages(slots + 16, seed)
    stored = 0
    error = ""
    try:
        for p in pages:
            system.swap_out(swapops.Folio(p))
            stored += 1
    except swapops.OutOfSwapSpaceError as exc:
        error = str(exc)
    st = dev.stats()
    say(
        f"zswap>swapfile ({slots} slots): stored {stored} of {len(pages)} pages, then "
        f"OutOfSwapSpaceError={bool(error)} with the pool at {st['pool_pages']} of "
        f"{st['max_pool_pages']} pages"
    )
    result.update(direct_slots=slots, direct_stored=stored, direct_error=error,
                  direct_pool_pages=st["pool_pages"], direct_max_pool_pages=st["max_pool_pages"])
    for entry in list(system.live_entries()):
        system.swap_free(entry)
    system.swapoff(dev)

    if "vswap" not in system.module_names():
        say("vswap is not installed: the vswap>zswap>swapfile half is skipped")
        result["vswap"] = None
        return result
    system = swapops.SwapSystem(seed=seed)
    top = system.swapon("vswap>zswap>swapfile", size=swap_size)
    entries = [system.swap_out(swapops.Folio(p)) for p in pages]
    exact = all(system.swap_in(e).data == p for e, p in zip(entries, pages, strict=True))
    say(f"vswap>zswap>swapfile ({slots} slots below): stored all {len(entries)} pages, read back exact: {exact}")
    result["vswap"] = {"stored": len(entries), "exact": exact}
    for e in entries:
        system.swap_free(e)
    system.swapoff(top)
    return result


def main() -> int:
    limit = pool_limit_demo()
    cap = capacity_demo()
    ok = (
        limit["written_back_pages"] > 0
        and limit["pool_pages"] <= limit["limit_pages"]
        and limit["exact"]
        and bool(cap["direct_error"])
        and cap["direct_stored"] == cap["direct_slots"]
        and (cap["vswap"] is None or cap["vswap"]["exact"])
    )
    print("OK" if ok else "UNEXPECTED")
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
