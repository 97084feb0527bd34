"""Tests for swapops.compress: kernel-named codecs over real Python bindings."""

from __future__ import annotations

import os
import random
import sys
import types
import zlib
from pathlib import Path

import lz4.block
import pytest
import zstandard

from swapops.compress import (
    AVAILABLE_COMPRESSORS,
    DEFAULT_COMPRESSOR,
    Compressor,
    get_compressor,
)
from swapops.errors import ConfigError

PAGE = 4096
SEED = 20260612
#: What a corrupt stream raises: each binding's own error type (not wrapped).
BINDING_ERRORS = (lz4.block.LZ4BlockError, zstandard.ZstdError, zlib.error)


def _lzo_installed() -> bool:
    try:
        import lzo  # noqa: F401
    except ImportError:
        return False
    return True


INSTALLED = [n for n in AVAILABLE_COMPRESSORS if n != "lzo" or _lzo_installed()]


# --------------------------------------------------------------------------- page samples


def _elf_pages(count: int, rng: random.Random) -> list[bytes]:
    """Whole 4 KiB pages cut from ELF executables on this machine."""
    candidates = sorted(p for p in Path("/usr/bin").iterdir() if p.is_file())
    if Path(sys.executable).is_file():
        candidates.insert(0, Path(sys.executable).resolve())
    pages: list[bytes] = []
    for path in candidates:
        try:
            with path.open("rb") as f:
                if f.read(4) != b"\x7fELF":
                    continue
                size = path.stat().st_size
                if size < 4 * PAGE:
                    continue
                for _ in range(3):
                    f.seek(rng.randrange(size // PAGE) * PAGE)
                    page = f.read(PAGE)
                    if len(page) == PAGE:
                        pages.append(page)
        except OSError:
            continue
        if len(pages) >= count:
            break
    return pages[:count]


def _text_pages(count: int, rng: random.Random) -> list[bytes]:
    """4 KiB pages of Python standard-library source text."""
    stdlib = Path(os.__file__).parent
    files = sorted(p for p in stdlib.glob("*.py") if p.stat().st_size >= 2 * PAGE)
    pages = []
    for path in rng.sample(files, min(count, len(files))):
        data = path.read_bytes()
        off = rng.randrange(len(data) - PAGE)
        pages.append(data[off : off + PAGE])
    return pages


@pytest.fixture(scope="module")
def pages() -> dict[str, list[bytes]]:
    rng = random.Random(SEED)
    elf = _elf_pages(12, rng)
    text = _text_pages(12, rng)
    assert len(elf) >= 4, "need ELF binaries under /usr/bin for realistic pages"
    assert len(text) >= 4
    return {
        "zero": [bytes(PAGE)],
        "same-filled": [b"\xa5" * PAGE],
        "text": text,
        "elf": elf,
        "random": [rng.randbytes(PAGE) for _ in range(4)],
    }


# --------------------------------------------------------------------------- names and errors


def test_available_and_default() -> None:
    assert AVAILABLE_COMPRESSORS == ("lz4", "lz4hc", "zstd", "deflate", "lzo")
    assert DEFAULT_COMPRESSOR == "lz4"
    assert DEFAULT_COMPRESSOR in AVAILABLE_COMPRESSORS
    assert get_compressor().name == DEFAULT_COMPRESSOR


@pytest.mark.parametrize("name", ["lzo-rle", "842", "LZ4", "gzip", ""])
def test_unknown_name_lists_available(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        get_compressor(name)
    msg = str(info.value)
    assert repr(name) in msg
    for known in AVAILABLE_COMPRESSORS:
        assert known in msg
    assert isinstance(info.value, ValueError)


def test_lzo_missing_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lzo", None)  # makes `import lzo` raise ImportError
    with pytest.raises(ConfigError) as info:
        get_compressor("lzo")
    msg = str(info.value)
    assert "pip install 'swapops[lzo]'" in msg
    assert "liblzo2-dev" in msg


def test_lzo_wiring_with_stub_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lzo codec calls python-lzo exactly as docs/kernel.md §4 says."""
    calls: list[tuple[object, ...]] = []
    stub = types.ModuleType("lzo")

    def compress(data: bytes, level: int, header: bool) -> bytes:
        calls.append(("c", level, header))
        return zlib.compress(data)

    def decompress(data: bytes, header: bool, size: int) -> bytes:
        calls.append(("d", header, size))
        return zlib.decompress(data)

    stub.compress = compress  # type: ignore[attr-defined]
    stub.decompress = decompress  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lzo", stub)
    codec = get_compressor("lzo")
    page = b"abc" * 1000
    assert codec.name == "lzo"
    assert codec.decompress(codec.compress(page), len(page)) == page
    assert calls == [("c", 1, False), ("d", False, len(page))]


@pytest.mark.skipif(not _lzo_installed(), reason="python-lzo not installed (optional extra)")
def test_lzo_real_binding(pages: dict[str, list[bytes]]) -> None:
    codec = get_compressor("lzo")
    for group in pages.values():
        for page in group:
            assert codec.decompress(codec.compress(page), PAGE) == page


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", INSTALLED)
def test_round_trip_4k_pages(name: str, pages: dict[str, list[bytes]]) -> None:
    codec: Compressor = get_compressor(name)
    assert codec.name == name
    for kind, group in pages.items():
        for page in group:
            data = codec.compress(page)
            assert isinstance(data, bytes)
            out = codec.decompress(data, PAGE)
            assert out == page, f"{name} {kind} round trip differs"


@pytest.mark.parametrize("name", INSTALLED)
def test_sizes_behave_like_compression(name: str, pages: dict[str, list[bytes]]) -> None:
    codec = get_compressor(name)
    assert len(codec.compress(pages["zero"][0])) < 64
    assert len(codec.compress(pages["same-filled"][0])) < 64
    for page in pages["random"]:
        assert len(codec.compress(page)) >= PAGE  # random data cannot shrink
    text = sum(len(codec.compress(p)) for p in pages["text"])
    assert text < 0.8 * PAGE * len(pages["text"])  # source text compresses well


@pytest.mark.parametrize("name", INSTALLED)
@pytest.mark.parametrize("length", [0, 1, 100, 4095, 4097, 8192, 65536, 2 << 20])
def test_round_trip_any_length(name: str, length: int, pages: dict[str, list[bytes]]) -> None:
    """Large folios (up to 2 MiB) and odd lengths work too."""
    rng = random.Random(SEED + length)
    pool = [p for group in pages.values() for p in group]
    buf = bytearray()
    while len(buf) < length:
        buf += rng.choice(pool)
    src = bytes(buf[:length])
    codec = get_compressor(name)
    assert codec.decompress(codec.compress(src), length) == src


@pytest.mark.parametrize("name", INSTALLED)
def test_accepts_bytes_like(name: str, pages: dict[str, list[bytes]]) -> None:
    codec = get_compressor(name)
    page = pages["text"][0]
    expected = codec.compress(page)
    assert codec.compress(bytearray(page)) == expected
    assert codec.compress(memoryview(page)) == expected


@pytest.mark.parametrize("name", [n for n in INSTALLED if n != "lzo"])
def test_corrupt_input_raises(name: str, pages: dict[str, list[bytes]]) -> None:
    codec = get_compressor(name)
    page = pages["text"][1]
    data = codec.compress(page)
    with pytest.raises(BINDING_ERRORS):
        codec.decompress(data[: len(data) // 2], PAGE)


# --------------------------------------------------------------------------- formats


def test_lz4_is_raw_block(pages: dict[str, list[bytes]]) -> None:
    codec = get_compressor("lz4")
    for page in pages["elf"][:4]:
        data = codec.compress(page)
        assert data == lz4.block.compress(page, store_size=False)
        assert data != lz4.block.compress(page)  # no 4-byte size prefix
        assert lz4.block.decompress(data, uncompressed_size=PAGE) == page


def test_lz4hc_is_level_9_raw_block(pages: dict[str, list[bytes]]) -> None:
    hc = get_compressor("lz4hc")
    fast = get_compressor("lz4")
    total_hc = total_fast = 0
    for page in pages["elf"] + pages["text"]:
        data = hc.compress(page)
        ref = lz4.block.compress(page, mode="high_compression", compression=9, store_size=False)
        assert data == ref
        assert fast.decompress(data, PAGE) == page  # same block format as lz4
        total_hc += len(data)
        total_fast += len(fast.compress(page))
    assert total_hc < total_fast


def test_zstd_frame_level3_no_checksum(pages: dict[str, list[bytes]]) -> None:
    codec = get_compressor("zstd")
    page = pages["text"][2]
    data = codec.compress(page)
    assert data[:4] == b"\x28\xb5\x2f\xfd"  # zstd frame magic
    params = zstandard.get_frame_parameters(data)
    assert not params.has_checksum
    assert params.content_size == PAGE
    ref = zstandard.ZstdCompressor(level=3, write_checksum=False).compress(page)
    assert data == ref
    # Reused contexts: many calls on one instance stay correct.
    for p in pages["elf"] + pages["text"]:
        assert codec.decompress(codec.compress(p), PAGE) == p


def test_zstd_instances_are_independent() -> None:
    a, b = get_compressor("zstd"), get_compressor("zstd")
    assert a is not b
    assert a.compress is not b.compress


def test_deflate_is_raw_with_kernel_parameters(pages: dict[str, list[bytes]]) -> None:
    codec = get_compressor("deflate")
    for page in pages["elf"][:3] + pages["text"][:3]:
        data = codec.compress(page)
        co = zlib.compressobj(6, zlib.DEFLATED, -11, 9)
        assert data == co.compress(page) + co.flush()
        assert zlib.decompress(data, -15) == page  # raw: no zlib header/trailer
        with pytest.raises(zlib.error):
            zlib.decompress(data)  # not zlib-wrapped
