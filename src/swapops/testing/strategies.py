"""Hypothesis strategies for swap testing: folio contents and stack strings.

Folio contents are drawn as a small recipe (kind, order, seed) and expanded
deterministically, so hypothesis stores a few integers per folio instead of
kilobytes, and shrinking goes towards order 0, zero pages and seed 0.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import strategies as st

from swapops.folio import MAX_ORDER
from swapops.sizes import PAGE_SIZE

KINDS = ("zero", "compressible", "random", "mixed")
_PAGE_KINDS = ("zero", "compressible", "random")
_ZERO = bytes(PAGE_SIZE)
_DISTINCT = 16  # distinct pages generated per large folio (see folio_bytes)
_WORDS = (b"swap", b"page", b"folio", b"zswap", b"vswap", b"\x00\x00\x00\x00", b"\xff" * 8, b"cluster")


def page_bytes(kind: str, seed: int) -> bytes:
    """One 4 KiB page: all zero, compressible (text-like, some zero runs) or random."""
    if kind == "zero":
        return _ZERO
    rng = random.Random(seed)
    if kind == "random":
        return rng.randbytes(PAGE_SIZE)
    if kind == "same":  # a same-filled page (zram's same_pages), never all zero
        return bytes([rng.randrange(1, 256)]) * PAGE_SIZE
    parts: list[bytes] = []
    size = 0
    while size < PAGE_SIZE:
        word = rng.choice(_WORDS) if rng.random() < 0.9 else rng.randbytes(rng.randrange(1, 16))
        parts.append(word)
        size += len(word)
    return b"".join(parts)[:PAGE_SIZE]


def folio_bytes(kind: str, order: int, seed: int) -> bytes:
    """The bytes of an order-``order`` folio of the given content kind.

    ``mixed`` gives every subpage its own kind (zero, compressible or random),
    so a large folio can hold zero subpages among data pages.
    """
    nr = 1 << order
    if kind == "zero":
        return bytes(PAGE_SIZE << order)
    rng = random.Random(seed)
    kinds = [rng.choice(_PAGE_KINDS) if kind == "mixed" else kind for _ in range(nr)]
    if nr <= _DISTINCT:
        return b"".join(page_bytes(kinds[k], seed * 1024 + k) for k in range(nr))
    # A large folio: _DISTINCT base pages per kind, each page made unique by its
    # index in its first 8 bytes (cheap, and a page moved within the folio still
    # shows); zero subpages stay zero.
    bases: dict[tuple[str, int], bytes] = {}
    parts = []
    for k in range(nr):
        key = (kinds[k], k % _DISTINCT)
        base = bases.get(key)
        if base is None:
            base = bases[key] = page_bytes(key[0], seed * 1024 + key[1])
        parts.append(base if key[0] == "zero" else k.to_bytes(8, "little") + base[8:])
    return b"".join(parts)


@st.composite
def folio_specs(
    draw: st.DrawFn,
    max_order: int = 4,
    kinds: Sequence[str] = KINDS,
) -> tuple[str, int, int]:
    """``(kind, order, seed)``: a folio recipe. Orders favour 0 (as reclaim does)."""
    if not 0 <= max_order <= MAX_ORDER:
        raise ValueError(f"max_order {max_order} outside 0..{MAX_ORDER}")
    kind = draw(st.sampled_from(tuple(kinds)))
    order = draw(st.integers(0, max_order) if draw(st.integers(0, 3)) == 3 else st.just(0))
    seed = draw(st.integers(0, 2**16))
    return kind, order, seed


def folio_data(max_order: int = 4, kinds: Sequence[str] = KINDS) -> st.SearchStrategy[bytes]:
    """Folio bytes (``4096 << order``) of zero, compressible, random or mixed pages."""
    return folio_specs(max_order, kinds).map(lambda spec: folio_bytes(*spec))


# -- stack strings ----------------------------------------------------------------

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-"
_TOKENS = (">", ":", ",", "=", " ", "", "\t", "\n", ">>", "::", "==", ",,", "\x00", "é", "\\")
_VALUES = (
    "", "0", "1", "-1", "4M", "2M", "64K", "1G", "0x10", "1e3", "1.5", "nan", "inf", "-inf",
    "true", "false", "yes", "off", "lz4", "zstd", "greedy", "bogus", " 8M ", "4m", "4MiB",
    "999999999999999999999999", "None", "1_000",
)


def module_names(known: Sequence[str]) -> st.SearchStrategy[str]:
    """Known module names, or garbage that looks like one."""
    return st.sampled_from(tuple(known)) | st.text(_NAME_CHARS, min_size=0, max_size=10)


def stack_texts(known: Sequence[str]) -> st.SearchStrategy[str]:
    """Arbitrary text biased towards the stack grammar (``a:k=v,k=v>b``)."""
    piece = st.one_of(
        module_names(known),
        st.sampled_from(_TOKENS),
        st.sampled_from(_VALUES),
        st.text(max_size=6),
    )
    return st.lists(piece, max_size=12).map("".join) | st.text(max_size=40)


@st.composite
def mutated_stacks(draw: st.DrawFn, valid: Sequence[str]) -> str:
    """A valid stack string with a few characters or tokens changed, dropped or added."""
    text = draw(st.sampled_from(tuple(valid)))
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(("insert", "delete", "replace", "swap-token")))
        token = draw(st.sampled_from(_TOKENS + _VALUES) | st.text(_NAME_CHARS, min_size=1, max_size=3))
        if action == "insert":
            text = text[:pos] + token + text[pos:]
        elif action == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 4)) :]
        elif action == "replace":
            text = text[:pos] + token + text[pos + 1 :]
        else:
            text = text.replace(draw(st.sampled_from((">", ":", ",", "="))), token, 1)
    return text


__all__ = [
    "KINDS",
    "folio_bytes",
    "folio_data",
    "folio_specs",
    "module_names",
    "mutated_stacks",
    "page_bytes",
    "stack_texts",
]
