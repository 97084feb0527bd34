"""Page compressors with the kernel's names, backed by real Python bindings.

zswap (and any third-party compressed module) compresses every stored page, so
these calls sit on the per-page hot path.  Each codec returned by
:func:`get_compressor` therefore exposes ``compress`` and ``decompress`` as
plain instance attributes bound once, at construction, to the binding's C
function or to a one-line closure that passes the fixed parameters
*positionally* (keyword parsing in the ``lz4`` binding alone costs about
0.4 µs per call).  Nothing else runs per call: no validation, no wrapping of
exceptions, no length check.

Formats and parameters follow ``docs/kernel.md`` §4:

=========  ===============================================================
name       binding and parameters
=========  ===============================================================
lz4        ``lz4.block``, raw LZ4 block (no size prefix), as the kernel uses
lz4hc      ``lz4.block`` ``high_compression`` level 9, raw block
zstd       ``zstandard`` level 3, frame format, no checksum; one compressor
           and one decompressor object per codec instance, reused
deflate    ``zlib`` raw deflate: level 6, window bits -11, memLevel 9 (the
           kernel crypto API's ``deflate`` parameters)
lzo        ``python-lzo`` LZO1X-1 without header (optional extra)
=========  ===============================================================

``lzo-rle`` (zram's default), ``842`` and other crypto names have no Python
binding and are not offered.  Compressed sizes come from these bindings, so
they are realistic but not byte-identical to the kernel's.

Why the default is ``lz4`` and not ``lzo``: zswap's Kconfig default
(``CONFIG_ZSWAP_COMPRESSOR_DEFAULT``) is ``lzo``, but here ``lzo`` needs an
optional C extension (``python-lzo``, sdist only, built against
``liblzo2-dev``), and a default must work on a plain install.  ``lz4`` is the
fast compressor commonly chosen for zswap/zram in practice (it is a Kconfig
choice and a frequent distribution/Android pick; we do not claim it is
*the* most common); its cost and ratio are close to ``lzo``'s (docs/kernel.md §4:
lz4 4.8-7.2 µs compress, ratio ~1.8; lzo 5.7-8.8 µs, ratio ~1.9).  Pass
``"lzo"`` explicitly to model the kernel default.

Contract of a codec:

* ``compress(page)`` takes any bytes-like object of any length (4 KiB pages,
  large folios up to 2 MiB, even empty) and returns ``bytes``.
* ``decompress(data, size)`` returns the original bytes; ``size`` is the
  expected uncompressed length (the kernel's ``dlen``).  For lz4/lz4hc/lzo it
  is the output buffer size; zstd frames carry their own size.  Callers that
  need the kernel's ``dlen == PAGE_SIZE`` check compare ``len()``
  themselves.  Corrupt input raises the binding's own exception
  (``lz4.block.LZ4BlockError``, ``zstandard.ZstdError``, ``zlib.error``,
  ``lzo.error``).
* An instance is not thread-safe (zstd contexts are stateful), like the
  kernel's per-CPU ``acomp`` contexts: use one codec per thread.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Protocol

import lz4.block
import zstandard

from swapops.errors import ConfigError

__all__ = [
    "AVAILABLE_COMPRESSORS",
    "COMPRESSOR_COST_NS",
    "DEFAULT_COMPRESSOR",
    "Compressor",
    "get_compressor",
]

#: Every name :func:`get_compressor` knows.  ``lzo`` additionally needs the
#: optional ``python-lzo`` extension.
AVAILABLE_COMPRESSORS: tuple[str, ...] = ("lz4", "lz4hc", "zstd", "deflate", "lzo")

#: See the module docstring for why this is not the kernel's ``lzo``.
DEFAULT_COMPRESSOR = "lz4"

#: Modeled compressor cost per 4 KiB page, ``(compress_ns, decompress_ns)``.
#:
#: What it models: the time the named compressor takes for one page, as
#: measured through its Python binding on the reference machine (mean of the
#: ELF and text columns of ``docs/kernel.md`` §4). It is a per-call constant,
#: not a function of the data, and not a kernel (C, in-kernel) speed. A
#: compressed module (zswap, zram) counts compress and decompress calls and
#: multiplies for its ``modeled_time_ns``. Wall time is never used in any decision.
COMPRESSOR_COST_NS: dict[str, tuple[int, int]] = {
    "lz4": (6_000, 1_500),
    "lz4hc": (40_000, 1_500),
    "zstd": (16_000, 5_350),
    "lzo": (7_250, 6_000),
    "deflate": (106_000, 16_000),
}

LZO_INSTALL_HINT = (
    "compressor 'lzo' needs the optional python-lzo extension: install the optional extra "
    "`pip install 'swapops[lzo]'` (needs liblzo2-dev, e.g. `apt-get install liblzo2-dev`)"
)


class Compressor(Protocol):
    """What a codec offers; both calls are on the per-page hot path."""

    name: str

    def compress(self, page: bytes) -> bytes:
        """Compress ``page`` (any length) and return the compressed bytes."""
        ...

    def decompress(self, data: bytes, size: int) -> bytes:
        """Decompress ``data`` whose original length was ``size``."""
        ...


class _Codec:
    """A named pair of pre-bound callables (no per-call dispatch or checks)."""

    __slots__ = ("name", "compress", "decompress")

    name: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes, int], bytes]

    def __init__(
        self,
        name: str,
        compress: Callable[[bytes], bytes],
        decompress: Callable[[bytes, int], bytes],
    ) -> None:
        self.name = name
        self.compress = compress
        self.decompress = decompress

    def __repr__(self) -> str:
        return f"<Compressor {self.name}>"


# --- one factory per codec -------------------------------------------------
# lz4.block.compress's positional order is (source, mode, store_size,
# acceleration, compression); positional arguments skip keyword parsing.


def _lz4() -> _Codec:
    c = lz4.block.compress

    def compress(page: bytes) -> bytes:
        return c(page, "default", False)

    return _Codec("lz4", compress, lz4.block.decompress)


def _lz4hc() -> _Codec:
    c = lz4.block.compress

    def compress(page: bytes) -> bytes:
        return c(page, "high_compression", False, 1, 9)

    return _Codec("lz4hc", compress, lz4.block.decompress)


def _zstd() -> _Codec:
    cctx = zstandard.ZstdCompressor(level=3, write_checksum=False)
    dctx = zstandard.ZstdDecompressor()
    # Bound C methods: decompress(data, max_output_size); the frame header
    # carries the content size, so the second argument is only a bound.
    return _Codec("zstd", cctx.compress, dctx.decompress)


def _deflate() -> _Codec:
    # A fresh compressobj per call is cheaper than copy() of a prototype
    # (measured ~37 vs ~43 µs on a zero page) and zlib.compress() cannot set
    # memLevel 9.
    co = zlib.compressobj
    d = zlib.decompress

    def compress(page: bytes) -> bytes:
        z = co(6, 8, -11, 9)  # level 6, Z_DEFLATED, raw window 2^11, memLevel 9
        return z.compress(page) + z.flush()

    def decompress(data: bytes, size: int) -> bytes:
        return d(data, -11, size)

    return _Codec("deflate", compress, decompress)


def _lzo() -> _Codec:
    try:
        import lzo
    except ImportError as exc:
        raise ConfigError(LZO_INSTALL_HINT) from exc
    c = lzo.compress
    d = lzo.decompress

    # python-lzo takes only read-only buffers: a bytearray or memoryview page is
    # copied first (the other bindings accept any buffer).
    def compress(page: bytes) -> bytes:
        return c(page if type(page) is bytes else bytes(page), 1, False)  # LZO1X-1, no header

    def decompress(data: bytes, size: int) -> bytes:
        return d(data if type(data) is bytes else bytes(data), False, size)

    return _Codec("lzo", compress, decompress)


_FACTORIES: dict[str, Callable[[], _Codec]] = {
    "lz4": _lz4,
    "lz4hc": _lz4hc,
    "zstd": _zstd,
    "deflate": _deflate,
    "lzo": _lzo,
}
assert tuple(_FACTORIES) == AVAILABLE_COMPRESSORS


def get_compressor(name: str = DEFAULT_COMPRESSOR) -> Compressor:
    """Return a new codec for the kernel compressor ``name``.

    Each call builds a fresh instance (own zstd contexts), so two devices or
    threads never share state.  Resolve the codec once (at swapon) and call
    its ``compress``/``decompress`` attributes directly per page.

    :raises ConfigError: unknown name (the message lists the available ones),
        or ``lzo`` without the optional ``python-lzo`` extension.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ConfigError(
            f"unknown compressor {name!r}; available: {', '.join(AVAILABLE_COMPRESSORS)}"
        )
    return factory()
