"""Swap 10,000 random folios out and back through a stack, using only the public API.

    python docs/examples/roundtrip.py                          # swapfile, RAM backing
    python docs/examples/roundtrip.py --path /tmp/swap.img     # swapfile on a real file (mkswap format)
    python docs/examples/roundtrip.py --stack 'vswap>zswap>swapfile' --count 2000

Folios of orders 0-4 with random or zero-filled contents go out (a folio
with no aligned run of slots is split and its pages go out, as reclaim
does); some
entries are dup'd (as fork does) and every reference is dropped in a random
order, each entry read back and compared byte for byte before its last
reference goes. At the end the device's ``used`` must be 0. Exit status 1 on
any mismatch or leftover slot.
"""

from __future__ import annotations

import argparse
import random
import sys

import swapops


def run(stack: str, count: int, seed: int, path: str | None, size: str) -> dict[str, int]:
    rng = random.Random(seed)
    system = swapops.SwapSystem(seed=seed)
    top = system.swapon(stack, size=size, path=path)
    expected: dict[tuple[int, int], bytes] = {}
    refs: list[tuple[int, int]] = []  # one item per page-table reference
    pages = dups = splits = 0
    for _ in range(count):
        order = rng.randrange(5)
        nbytes = 4096 << order
        data = bytes(nbytes) if rng.random() < 0.2 else rng.randbytes(nbytes)
        folio = swapops.Folio(data)
        try:
            out = [(system.swap_out(folio), data)]
        except swapops.FolioSplitRequired:
            # No aligned run (a swap file on a filesystem takes order 0 only, as
            # in the kernel): reclaim splits the folio and swaps out its pages.
            out = [(system.swap_out(page), page.data) for page in folio.split()]
            splits += 1
        for entry, content in out:
            expected[entry] = content
            refs.append(entry)
            if rng.random() < 0.25:  # fork: the child maps the same entry
                system.swap_dup(entry)
                refs.append(entry)
                dups += 1
        pages += 1 << order
    rng.shuffle(refs)
    mismatches = 0
    for entry in refs:  # a dup'd entry is read back before each of its two frees
        if system.swap_in(entry).data != expected[entry]:
            mismatches += 1
        system.swap_free(entry)
    used = top.used
    system.swapoff(top)
    return {"folios": count, "pages": pages, "split_folios": splits, "dups": dups, "mismatches": mismatches,
            "used_after_free": used}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stack", default="swapfile")
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--path", default=None, help="back the swapfile with this file (created, mkswap format)")
    ap.add_argument("--size", default="512M")
    args = ap.parse_args(argv)
    result = run(args.stack, args.count, args.seed, args.path, args.size)
    print(" ".join(f"{k}={v}" for k, v in result.items()))
    return 0 if result["mismatches"] == 0 and result["used_after_free"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
