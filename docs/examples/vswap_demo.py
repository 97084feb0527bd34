"""What vswap changes, shown with the public API only: ``python docs/examples/vswap_demo.py``.

* 1,000 zero folios through ``vswap>swapfile`` leave the swapfile unused;
* ``vswap>zswap>swapfile`` stores more compressible pages than the swapfile
  has slots (when the zswap module is installed);
* swapoff of the swapfile under vswap keeps every entry readable and
  byte-identical, visiting no page table, next to a directly mapped swapfile's
  swapoff that walks every page-table entry;
* ``--bench``: the per-page round-trip cost (swap_out + swap_in + swap_free) of
  ``vswap>swapfile`` against ``swapfile`` alone (CPU time, min of interleaved
  batches; a measurement, not simulation logic).
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import warnings
from typing import Any

import swapops
from swapops import Folio

PAGE = swapops.PAGE_SIZE
Entry = tuple[int, int]


class PageTables:
    """A toy set of page tables: each PTE holds page contents or a swap entry.

    It is the page-table owner ``SwapSystem.swapoff`` tells about a directly
    mapped device: ``unuse`` walks every PTE (the kernel's ``try_to_unuse``
    over every mm), brings back the ones pointing at the area and counts the
    visits.
    """

    def __init__(self) -> None:
        self.ptes: list[bytes | Entry] = []

    def map_page(self, data: bytes) -> int:
        self.ptes.append(data)
        return len(self.ptes) - 1

    def map_swap(self, entry: Entry) -> int:
        self.ptes.append(entry)
        return len(self.ptes) - 1

    def unuse(self, system: swapops.SwapSystem, swap_type: int) -> int:
        visits = 0
        found: dict[Entry, bytes] = {}  # the swap cache: one read per entry
        for i, pte in enumerate(self.ptes):
            visits += 1
            if isinstance(pte, tuple) and pte[0] == swap_type:
                data = found.get(pte)
                if data is None:
                    data = found[pte] = system.swap_in(pte).data
                self.ptes[i] = data
                system.swap_free(pte)
        return visits

    def content(self, i: int, system: swapops.SwapSystem | None = None) -> bytes:
        pte = self.ptes[i]
        if isinstance(pte, tuple):
            assert system is not None, "a swapped-out PTE needs the system to read it"
            return system.swap_in(pte).data
        return pte


def _system(seed: int = 0, owner: Any = None) -> swapops.SwapSystem:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # modules of other engineers may be missing
        return swapops.SwapSystem(seed=seed, owner=owner)


def zero_pages(n: int = 1000) -> dict[str, int]:
    """``n`` zero folios through ``vswap>swapfile``: the swapfile's ``used`` stays 0."""
    system = _system()
    top = system.swapon("vswap>swapfile", size="1M")
    entries = [system.swap_out(Folio(bytes(PAGE))) for _ in range(n)]
    lower = top.lower
    assert lower is not None
    out = {"entries": len(entries), "vswap_used": top.used, "swapfile_used": lower.used,
           "swapfile_size": lower.size}
    system.swapoff(top)
    return out


def zswap_capacity(factor: int = 3) -> dict[str, int] | None:
    """``vswap>zswap>swapfile`` holds ``factor`` x the swapfile's slots of compressible pages."""
    system = _system()
    if "zswap" not in system.module_names():
        return None
    top = system.swapon("vswap>zswap>swapfile", size="1M")
    zswap = top.lower
    assert zswap is not None and zswap.lower is not None
    slots = zswap.lower.size
    pages = [Folio(((b"compressible page %06d " % i) * 200)[:PAGE]) for i in range(factor * slots)]
    entries = [system.swap_out(p) for p in pages]
    ok = all(system.swap_in(e) == p for e, p in zip(entries, pages, strict=True))
    out = {"stored": len(entries), "swapfile_slots": slots, "swapfile_used": zswap.lower.used,
           "readable": int(ok)}
    system.swapoff(top)
    return out


def swapoff_comparison(nr_pages: int = 3000, nr_mapped: int = 9000, seed: int = 0) -> dict[str, dict[str, int]]:
    """Swapoff work: a directly mapped swapfile vs the swapfile below vswap.

    The same workload on both: ``nr_mapped`` resident pages, ``nr_pages``
    swapped-out pages each mapped by one PTE, a tenth of them forked (one more
    PTE each). Directly mapped, swapoff walks every PTE; below vswap, vswap
    repoints its entries and no PTE is visited.
    """
    rng = random.Random(seed)
    resident = [rng.randbytes(64) * 64 for _ in range(nr_mapped)]
    swapped = [rng.randbytes(64) * 64 for _ in range(nr_pages)]
    out: dict[str, dict[str, int]] = {}
    for spec in ("swapfile", "vswap>swapfile"):
        tables = PageTables()
        system = _system(seed, owner=tables)
        top = system.swapon(spec, size=f"{(nr_pages + 1024) * PAGE // 1024}K")
        for data in resident:
            tables.map_page(data)
        expect: list[bytes] = []
        for i, data in enumerate(swapped):
            entry = system.swap_out(Folio(data))
            tables.map_swap(entry)
            expect.append(data)
            if i % 10 == 0:  # fork: one more PTE on the same entry
                system.swap_dup(entry)
                tables.map_swap(entry)
                expect.append(data)
        if spec == "swapfile":
            report = system.swapoff(top)
        else:
            assert top.lower is not None
            report = system.swapoff(top.lower)
        ok = all(
            tables.content(nr_mapped + i, system) == data for i, data in enumerate(expect)
        )
        out[spec] = {
            "entries_moved": report.entries_moved,
            "pages_read": report.pages_read,
            "pte_visits": report.pte_visits,
            "readable": int(ok),
        }
        for dev in list(system.devices):
            system.swapoff(dev)
    return out


def roundtrip_cost(
    batch: int = 4000, rounds: int = 25, resident: int = 0, stream: bool = False
) -> dict[str, float]:
    """Microseconds (CPU time) per page of swap_out + swap_in + swap_free.

    ``stream=False``: one page out, in and freed again and again (the slots
    are reused); ``stream=True``: ``batch`` distinct pages out, then in, then
    freed. Interleaved batches, the minimum of ``rounds`` kept for each stack.
    """
    specs = ("swapfile", "vswap>swapfile")
    systems = []
    for spec in specs:
        system = _system()
        system.swapon(spec, size="64M")
        for i in range(resident):
            system.swap_out(Folio(bytes([i % 251 + 1]) * PAGE))
        systems.append(system)
    one = Folio(b"ab" * (PAGE // 2))
    many = [Folio(bytes([i % 251 + 1]) * PAGE) for i in range(batch)]
    best = [float("inf")] * len(specs)
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for k, system in enumerate(systems):
                out, inn, free = system.swap_out, system.swap_in, system.swap_free
                t0 = time.process_time()
                if stream:
                    entries = [out(f) for f in many]
                    for e in entries:
                        inn(e)
                    for e in entries:
                        free(e)
                else:
                    for _ in range(batch):
                        e = out(one)
                        inn(e)
                        free(e)
                best[k] = min(best[k], (time.process_time() - t0) / batch * 1e6)
    finally:
        if gc_was:
            gc.enable()
    return dict(zip(specs, best, strict=True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", action="store_true", help="also measure the per-page round trip")
    args = parser.parse_args(argv)
    z = zero_pages()
    print(f"zero folios: {z['entries']} entries, vswap used {z['vswap_used']}, "
          f"swapfile used {z['swapfile_used']} of {z['swapfile_size']}")
    c = zswap_capacity()
    if c is None:
        print("vswap>zswap>swapfile: zswap module not installed")
    else:
        print(f"vswap>zswap>swapfile: {c['stored']} compressible pages stored, swapfile has "
              f"{c['swapfile_slots']} slots ({c['swapfile_used']} used), all readable: {bool(c['readable'])}")
    cmp_ = swapoff_comparison()
    print("swapoff (3000 swapped pages, 300 forked, 9000 resident pages mapped):")
    for spec, r in cmp_.items():
        what = "swapoff(swapfile)" if spec == "swapfile" else "swapoff(swapfile below vswap)"
        print(f"  {spec:15s} {what:31s} entries moved {r['entries_moved']:5d}  pages read "
              f"{r['pages_read']:5d}  PTEs visited {r['pte_visits']:6d}  readable {bool(r['readable'])}")
    if args.bench:
        for stream, resident in ((False, 0), (False, 1000), (True, 0)):
            cost = roundtrip_cost(batch=2048 if stream else 4000, resident=resident, stream=stream)
            a, b = cost["swapfile"], cost["vswap>swapfile"]
            kind = "2048-page stream" if stream else f"one page, {resident} resident"
            print(f"round trip ({kind}): swapfile {a:.2f} us, vswap>swapfile {b:.2f} us, ratio {b / a:.2f}")


if __name__ == "__main__":
    main()
