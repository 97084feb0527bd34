"""Page contents as a pure function of ``(seed, page, version)``: the one definition.

swapops' workloads (:class:`ContentMix`, used by the mm model) and the lab's C
workload program (``swapops/lab/content.h``, run inside a real kernel) both
make page bytes with the generator below, so the kernel and the model swap the
very same pages. ``tests/test_content.py`` checks that both produce
byte-identical pages for many ``(seed, page, version)``.

The generator, in 64-bit unsigned arithmetic (all operations modulo 2**64)::

    GOLDEN   = 0x9E3779B97F4A7C15
    mix64(x) = splitmix64's finaliser:
               x ^= x >> 30; x *= 0xBF58476D1CE4E5B9
               x ^= x >> 27; x *= 0x94D049BB133111EB
               x ^= x >> 31
    salt     = mix64(seed * GOLDEN + 0x632BE59BD9B4E019)
    ck       = page << 32 | version           # the content key (page >= 1, version >= 1)
    h        = mix64(salt + ck * GOLDEN)      # the ck-th output of splitmix64 seeded with salt
    x        = h & 0xFFFFFFFF                 # chooses the class
    k        = h >> 32                        # chooses the bytes within the class

``x`` is compared with three cumulative integer thresholds (fractions of
2**32, computed once by :func:`thresholds`; the C program is given the
integers, so no floating point crosses the language boundary):

* ``x < zero_thr``: a **zero** page (4096 zero bytes; Linux 6.12 keeps these
  out of swap I/O: ``swpout_zero``);
* ``x < same_thr``: a **same-filled** page: the 8-byte word
  ``w = mix64(h ^ SAME_SALT)`` (1 if that is 0) repeated 512 times, little
  endian (compresses to almost nothing; 6.12 no longer special-cases it);
* ``x < random_thr``: an **incompressible** page: a 16-byte tag, then 4080
  bytes of the seed's random pool from offset ``k & 0xFFFF``;
* otherwise a **corpus** page: the tag, then 4080 bytes of corpus page
  ``(k & 0xFFFF) % n_corpus`` (``corpus.bin``, :mod:`swapops.corpus`) read
  cyclically from offset ``(k >> 16) & 0xFFF``: real data at its real
  compressibility.

The tag is ``ck`` and ``h``, each 8 bytes little endian, so no two non-zero
pages are equal.

A mix may also carry a **compressibility histogram** (parts ``lz4_512``,
``lz4_1024``, ... ``lz4_4096``: the fraction of all pages whose lz4-compressed
size is below that many bytes and at least 512 fewer; :mod:`swapops.pagestats`
measures them on real memory). Their thresholds follow ``random_thr``
(cumulative in that order); a page drawn into bucket ``b`` is the tag, then
recipe ``(k & 0xFFFF) % len(recipes[b])`` of the bucket
(:data:`swapops._lz4_recipes.RECIPES`: ``(source, length)``, ``length`` bytes of
corpus page ``source`` from its start, or of the random pool from offset
``k & 0xFFFF`` when ``source`` is -1), then zeros to 4096 bytes: real data cut to
the length that compresses into the bucket. The corpus takes what the
histogram leaves. A mix without histogram parts takes none of these branches:
its pages are exactly the ones described above (``tests/test_content.py``). The random pool is ``POOL_WORDS`` (8704) 64-bit words, little
endian: word ``i`` (from 0) is ``mix64(s + (i + 1) * GOLDEN)`` with
``s = mix64(salt ^ POOL_SALT)`` (splitmix64 seeded with ``s``); 65536 + 4096
bytes, so every offset ``< 65536`` has 4080 bytes after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from .corpus import corpus_pages
from .errors import ConfigError
from .folio import ZERO_PAGES
from .sizes import PAGE_SIZE

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
SEED_SALT = 0x632BE59BD9B4E019
SAME_SALT = 0xD1B54A32D192ED03
POOL_SALT = 0xA0761D6478BD642F
POOL_WORDS = (65536 + PAGE_SIZE) // 8
TAG = 16  # bytes naming (ck, h) at the start of each random or corpus page
BODY = PAGE_SIZE - TAG
KINDS = ("zero", "same", "random", "corpus")
#: The compressibility histogram's buckets: upper bounds (exclusive) of the lz4-compressed size.
LZ4_EDGES = tuple(range(512, PAGE_SIZE + 1, 512))
LZ4_PARTS = tuple(f"lz4_{edge}" for edge in LZ4_EDGES)

#: The default mix: 15 % zero pages, 2 % same-filled, 10 % incompressible, the rest corpus.
DEFAULT_MIX: dict[str, float] = {"zero": 0.15, "same": 0.02, "random": 0.10}

_ZERO = ZERO_PAGES[0]  # the same object the core compares with first


def mix64(x: int) -> int:
    """splitmix64's finaliser (a bijection of 64-bit integers)."""
    x &= M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def seed_salt(seed: int) -> int:
    return mix64(seed * GOLDEN + SEED_SALT)


def content_key(page: int, version: int) -> int:
    """``ck`` of ``(page, version)``: what the mm model keeps per frame."""
    return (page << 32) | version


def thresholds(zero: float, same: float, random: float) -> tuple[int, int, int]:
    """The cumulative class thresholds (units of 2**-32) of a mix."""
    for name, value in (("zero", zero), ("same", same), ("random", random)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
            raise ConfigError(f"content mix: {name} fraction must be between 0 and 1, not {value!r}")
    if zero + same + random > 1.0 + 1e-12:
        raise ConfigError(f"content mix: zero ({zero}) + same ({same}) + random ({random}) exceed 1")
    one = 1 << 32
    return (min(one, int(zero * one)), min(one, int((zero + same) * one)),
            min(one, int((zero + same + random) * one)))


@cache
def random_pool(seed: int) -> bytes:
    """The seed's random pool (``POOL_WORDS`` splitmix64 words, little endian)."""
    s = mix64(seed_salt(seed) ^ POOL_SALT)
    return b"".join(mix64(s + i * GOLDEN).to_bytes(8, "little") for i in range(1, POOL_WORDS + 1))


class ContentMix:
    """Page contents as a pure function of ``(seed, page, version)`` (the generator above).

    ``zero``, ``same`` and ``random`` are fractions of pages; the corpus takes
    the rest. :attr:`page` maps a content key ``ck = page << 32 | version`` to
    its 4096 bytes; the mm model calls it when it swaps a page out (and, with
    ``verify``, when one comes back). Building a page costs one hash and one
    copy out of pre-built buffers.
    """

    __slots__ = ("zero", "same", "random", "seed", "thresholds", "hist", "hist_thresholds", "_salt", "_corpus",
                 "_pool", "page")

    def __init__(self, zero: float = DEFAULT_MIX["zero"], random: float = DEFAULT_MIX["random"], *,
                 same: float = DEFAULT_MIX["same"], seed: int = 0, hist: Mapping[str, float] | None = None) -> None:
        self.thresholds = thresholds(zero, same, random)
        self.zero = float(zero)
        self.same = float(same)
        self.random = float(random)
        self.seed = int(seed)
        #: The compressibility histogram (``{"lz4_1024": 0.3, ...}``, fractions of all pages), empty if none.
        self.hist: dict[str, float] = {k: float(v) for k, v in (hist or {}).items() if v}
        self.hist_thresholds = _hist_thresholds(self.thresholds[2], zero + same + random, self.hist)
        self._salt = seed_salt(self.seed)
        # Doubled pages, as memoryviews: a cyclic read is one slice, copied once by the concatenation.
        self._corpus = tuple(memoryview(p + p) for p in corpus_pages())
        self._pool = memoryview(random_pool(self.seed))
        self.page: Callable[[int], bytes] = self._make_hist_page() if self.hist else self._make_page()

    @classmethod
    def from_parts(cls, parts: Mapping[str, float] | None, *, seed: int = 0) -> ContentMix:
        """A mix from ``{"zero": .., "same": .., "random": .., "lz4_1024": ..}`` (missing parts: defaults;
        histogram parts: none)."""
        p = {**DEFAULT_MIX, **(parts or {})}
        hist = {k: v for k, v in p.items() if k in LZ4_PARTS}
        return cls(p["zero"], p["random"], same=p["same"], seed=seed, hist=hist)

    @property
    def corpus(self) -> float:
        return max(0.0, 1.0 - self.zero - self.same - self.random - sum(self.hist.values()))

    def as_dict(self) -> dict[str, float]:
        out = {"zero": self.zero, "same": self.same, "corpus": round(self.corpus, 12), "random": self.random}
        out.update((k, self.hist[k]) for k in LZ4_PARTS if k in self.hist)
        return out

    def _make_page(self) -> Callable[[int], bytes]:
        salt = self._salt
        zero_thr, same_thr, rand_thr = self.thresholds
        corpus = self._corpus
        ncorpus = len(corpus)
        pool = self._pool
        zero = _ZERO
        body = BODY

        def page(ck: int) -> bytes:
            """The 4096 bytes of content key ``ck`` (``page << 32 | version``)."""
            h = (salt + ck * GOLDEN) & M64
            h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & M64
            h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & M64
            h ^= h >> 31
            x = h & 0xFFFFFFFF
            if x < zero_thr:
                return zero
            if x < same_thr:
                return (mix64(h ^ SAME_SALT) or 1).to_bytes(8, "little") * 512
            k = h >> 32
            tag = (h << 64 | ck).to_bytes(TAG, "little")
            if x < rand_thr:
                off = k & 0xFFFF
                return tag + pool[off : off + body]
            off = (k >> 16) & 0xFFF
            return tag + corpus[(k & 0xFFFF) % ncorpus][off : off + body]

        return page

    def _make_hist_page(self) -> Callable[[int], bytes]:
        """:meth:`_make_page` with the histogram's buckets between random and corpus pages."""
        from bisect import bisect_right

        from ._lz4_recipes import RECIPES

        plain = self._make_page()
        rand_thr = self.thresholds[2]
        bucket_thr = [thr for _name, thr in self.hist_thresholds]
        last = bucket_thr[-1]
        pool = self._pool
        body = BODY
        # Per bucket: the recipes' bodies (corpus) or lengths (pool), made once.
        built: list[tuple[tuple[bytes | int, ...], ...]] = []
        for name, _thr in self.hist_thresholds:
            items: list[tuple[bytes | int, ...]] = []
            for source, length in RECIPES[int(name[4:])]:
                if source < 0:
                    items.append((length, bytes(body - length)))
                else:
                    src = corpus_pages()[source]
                    items.append((src[:length] + bytes(body - length),))
            built.append(tuple(items))
        salt = self._salt

        def page(ck: int) -> bytes:
            """The 4096 bytes of content key ``ck`` (``page << 32 | version``)."""
            h = mix64(salt + ck * GOLDEN)
            x = h & 0xFFFFFFFF
            if x < rand_thr or x >= last:
                return plain(ck)
            recipes = built[bisect_right(bucket_thr, x)]
            k = h >> 32
            tag = (h << 64 | ck).to_bytes(TAG, "little")
            r = recipes[(k & 0xFFFF) % len(recipes)]
            if len(r) == 1:
                return tag + r[0]  # type: ignore[operator]
            off = k & 0xFFFF
            length = r[0]
            return tag + pool[off : off + length] + r[1]  # type: ignore[operator]

        return page

    def is_zero(self, ck: int) -> bool:
        """Whether ``page(ck)`` is the zero page, without making it (reference mode's
        zero check, :mod:`swapops.contentref`)."""
        return mix64(self._salt + ck * GOLDEN) & 0xFFFFFFFF < self.thresholds[0]

    def kind(self, ck: int) -> str:
        """``"zero"``, ``"same"``, ``"random"`` or ``"corpus"``: the class ``ck`` drew."""
        x = mix64(self._salt + ck * GOLDEN) & 0xFFFFFFFF
        for name, thr in zip(KINDS, self.thresholds, strict=False):
            if x < thr:
                return name
        for name, thr in self.hist_thresholds:
            if x < thr:
                return name
        return "corpus"


def _hist_thresholds(start: int, below: float, hist: Mapping[str, float]) -> tuple[tuple[str, int], ...]:
    """Cumulative thresholds of the histogram's buckets after ``start`` (random's), in bucket order."""
    unknown = sorted(set(hist) - set(LZ4_PARTS))
    if unknown:
        raise ConfigError(f"content mix: unknown histogram part {unknown[0]!r} (parts: {', '.join(LZ4_PARTS)})")
    for name, value in hist.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise ConfigError(f"content mix: {name} fraction must be between 0 and 1, not {value!r}")
    if below + sum(hist.values()) > 1.0 + 1e-9:
        raise ConfigError("content mix: zero + same + random + the lz4 histogram exceed 1")
    one = 1 << 32
    out = []
    total = below
    for name in LZ4_PARTS:
        if name in hist:
            total += hist[name]
            out.append((name, max(start, min(one, int(total * one)))))
    return tuple(out)


def parse_mix(text: str | Mapping[str, Any] | None) -> dict[str, float]:
    """``"zero=0.2,random=0.1"`` (or a mapping) -> ``{"zero": .., "random": ..}``.

    Parts: ``zero``, ``same``, ``random`` and ``corpus``, and the histogram's
    ``lz4_512`` ... ``lz4_4096`` (none by default); parts not given keep
    their defaults (:data:`DEFAULT_MIX`), except that a given ``corpus`` is
    what the others leave: with zero and random given, ``same`` is derived
    from it; otherwise the one part of zero/random not given is.
    """
    if text is None:
        return {}
    items: Mapping[str, Any]
    if isinstance(text, str):
        parsed: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            if not sep:
                raise ConfigError(f"content mix {text!r}: expected key=value pairs such as zero=0.2,random=0.1")
            parsed[key.strip()] = value.strip()
        items = parsed
    else:
        items = text
    given: dict[str, float] = {}
    for key, value in items.items():
        if key not in ("zero", "same", "random", "corpus", *LZ4_PARTS):
            raise ConfigError(
                f"content mix: unknown part {key!r} (parts: zero, same, random, corpus, lz4_512 ... lz4_4096)"
            )
        if isinstance(value, bool):
            raise ConfigError(f"content mix: {key}={value!r} is not a number")
        try:
            given[key] = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"content mix: {key}={value!r} is not a number") from None
    corpus = given.pop("corpus", None)
    if corpus is not None:
        corpus += sum(v for k, v in given.items() if k in LZ4_PARTS)  # what zero/same/random leave
        if "same" not in given and "zero" in given and "random" in given:
            given["same"] = 1.0 - corpus - given["zero"] - given["random"]  # e.g. a record from before "same"
        same = given.get("same", DEFAULT_MIX["same"])
        if "zero" not in given:
            given["zero"] = 1.0 - corpus - same - given.get("random", DEFAULT_MIX["random"])
        if "random" not in given:
            given["random"] = 1.0 - corpus - same - given["zero"]
        if abs(given["zero"] + same + given["random"] + corpus - 1.0) > 1e-9 or min(given.values()) < 0:
            raise ConfigError("content mix: zero + same + corpus + random (+ the lz4 histogram) must add up to 1")
    return given


def mix_from_record(recorded: Mapping[str, Any]) -> dict[str, float]:
    """The mix parts of a recorded ``mix`` (a trace header, a result): a record
    without ``same`` (made before same-filled pages existed) had none."""
    parts = {k: float(v) for k, v in recorded.items() if k in ("zero", "same", "random", *LZ4_PARTS)}
    if parts and "same" not in parts:
        parts["same"] = 0.0
    return parts


__all__ = [
    "ContentMix", "DEFAULT_MIX", "KINDS", "parse_mix", "mix_from_record", "mix64", "seed_salt",
    "content_key", "thresholds", "random_pool", "GOLDEN", "POOL_WORDS", "TAG", "LZ4_EDGES", "LZ4_PARTS",
]
