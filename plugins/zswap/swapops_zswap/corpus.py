"""Pages to compress: sampled at run time from files on this machine, or synthetic.

Real pages come from ELF binaries (``/usr/bin``, ``/usr/lib``) and text files
(``/usr/share``): a seeded :class:`random.Random` picks files from a sorted
listing and a page-aligned 4 KiB page in each, so a run is reproducible on
one machine (other machines have other files). Synthetic pages cover the
shapes a compressor must round-trip: zero, text-like, binary-like and random.
"""

from __future__ import annotations

import functools
import os
import random
import struct

from swapops.sizes import PAGE_SIZE

ELF_ROOTS = ("/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu")
TEXT_ROOTS = ("/usr/share",)
TEXT_SUFFIXES = (
    ".txt", ".py", ".html", ".md", ".rst", ".h", ".c", ".xml", ".css", ".js", ".json",
    ".pl", ".pm", ".sh", ".el", ".tcl", ".vim", ".cmake", ".conf", ".csv", ".tex",
)
TEXT_NAMES = ("copyright", "README", "NEWS", "changelog", "ChangeLog", "AUTHORS", "COPYING")
_PRINTABLE = bytes(range(32, 127)) + b"\t\n\r"
_MAX_FILES = 40_000  # listing cap per kind, so a huge /usr/share stays cheap


@functools.lru_cache(maxsize=4)
def _listing(kind: str) -> tuple[str, ...]:
    """Sorted candidate files (at least one page long) for ``"elf"`` or ``"text"``."""
    roots = ELF_ROOTS if kind == "elf" else TEXT_ROOTS
    found: list[str] = []
    for root in roots:
        if not os.path.isdir(root):
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if kind == "text" and not (name.endswith(TEXT_SUFFIXES) or name in TEXT_NAMES):
                    continue
                if kind == "elf" and root != "/usr/bin" and root != "/usr/sbin" and ".so" not in name:
                    continue
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if os.path.isfile(path) and st.st_size >= PAGE_SIZE:
                    found.append(path)
            if len(found) >= _MAX_FILES:
                break
    return tuple(found)


def _is_text(page: bytes) -> bool:
    return len(page.translate(None, _PRINTABLE)) <= PAGE_SIZE // 50  # >= 98 % printable


def file_pages(kind: str, count: int, rng: random.Random, max_tries: int | None = None) -> list[bytes]:
    """``count`` pages from ELF (``kind="elf"``) or text (``kind="text"``) files.

    Returns fewer when the machine does not have enough such files (the
    caller decides whether that is a skip).
    """
    if kind not in ("elf", "text"):
        raise ValueError(f"kind must be 'elf' or 'text', not {kind!r}")
    files = _listing(kind)
    pages: list[bytes] = []
    if not files:
        return pages
    tries = max_tries if max_tries is not None else count * 20
    for _ in range(tries):
        if len(pages) >= count:
            break
        path = files[rng.randrange(len(files))]
        try:
            with open(path, "rb") as fh:
                if kind == "elf" and fh.read(4) != b"\x7fELF":
                    continue
                size = os.fstat(fh.fileno()).st_size
                fh.seek(rng.randrange(size // PAGE_SIZE) * PAGE_SIZE)
                page = fh.read(PAGE_SIZE)
        except OSError:
            continue
        if len(page) != PAGE_SIZE or page == bytes(PAGE_SIZE):
            continue
        if kind == "text" and not _is_text(page):
            continue
        pages.append(page)
    return pages


# --------------------------------------------------------------------------- synthetic

_WORDS = [
    "the", "swap", "page", "folio", "cluster", "slot", "zswap", "pool", "entry", "kernel",
    "memory", "compress", "writeback", "of", "and", "to", "in", "is", "that", "for", "it",
    "with", "as", "was", "on", "be", "at", "by", "this", "from", "or", "an", "are", "not",
    "have", "struct", "int", "return", "if", "else", "static", "void", "unsigned", "long",
    "const", "char", "while", "break", "case",
]


def zero_page() -> bytes:
    return bytes(PAGE_SIZE)


def text_page(rng: random.Random) -> bytes:
    """English/C-like words and punctuation, like a page of a text file."""
    out = bytearray()
    while len(out) < PAGE_SIZE:
        out += _WORDS[rng.randrange(len(_WORDS))].encode()
        r = rng.random()
        out += b"\n" if r < 0.08 else b", " if r < 0.15 else b" "
    return bytes(out[:PAGE_SIZE])


def binary_page(rng: random.Random) -> bytes:
    """Structured binary: small little-endian ints, pointer-like values and zero runs."""
    out = bytearray()
    base = rng.getrandbits(32) << 12 | 0x7F0000000000
    while len(out) < PAGE_SIZE:
        r = rng.random()
        if r < 0.4:
            out += struct.pack("<I", rng.randrange(256))
        elif r < 0.7:
            out += struct.pack("<Q", base + rng.randrange(1 << 16) * 8)
        elif r < 0.85:
            out += bytes(rng.randrange(4, 64))
        else:
            out += rng.randbytes(rng.randrange(1, 16))
    return bytes(out[:PAGE_SIZE])


def random_page(rng: random.Random) -> bytes:
    """Incompressible: every compressor's output is larger than the page."""
    return rng.randbytes(PAGE_SIZE)


def synthetic_pages(rng: random.Random, each: int = 4) -> dict[str, list[bytes]]:
    """``each`` pages per shape: ``zero``, ``text``, ``binary``, ``random``."""
    return {
        "zero": [zero_page() for _ in range(each)],
        "text": [text_page(rng) for _ in range(each)],
        "binary": [binary_page(rng) for _ in range(each)],
        "random": [random_page(rng) for _ in range(each)],
    }


__all__ = [
    "binary_page",
    "file_pages",
    "random_page",
    "synthetic_pages",
    "text_page",
    "zero_page",
]
