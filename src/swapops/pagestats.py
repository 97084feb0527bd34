"""Statistics of real page contents: the mix a trace header carries.

A page is classified as the kernel's swap paths see it:

* ``zero``: 4096 zero bytes (6.12 keeps these out of swap I/O,
  ``mm/page_io.c: swap_writepage()`` -> ``is_folio_zero_filled()``);
* ``same``: one 8-byte word repeated, not zero (what zram's
  ``drivers/block/zram/zram_drv.c: page_same_filled()`` detects);
* ``lz4_N``: compresses with lz4 (swapops' default zswap compressor,
  :mod:`swapops.compress` says why it is not Kconfig's lzo) to fewer than N
  bytes and at least N - 512 (N = 512 ... 4096);
* ``random``: lz4 output of 4096 bytes or more: incompressible (zswap's
  ``mm/zswap.c: zswap_compress()`` asks for at most ``PAGE_SIZE`` bytes of
  output, so the compression fails and the page goes to the swap device).

:func:`mix_of` turns counts into a mix for :class:`swapops.content.ContentMix`
(``lz4_N`` parts are its compressibility histogram). Sources of pages:
:func:`dump_stats` (a raw dump, or the writable ``PT_LOAD`` segments of an ELF
core file) and :func:`sample_command` (a command run natively, its anonymous
memory read from ``/proc/PID/mem`` while it runs and when it exits).

:func:`build_recipes` makes the table of :mod:`swapops._lz4_recipes` (rebuild
with ``python -m swapops.pagestats``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .content import BODY, LZ4_EDGES, LZ4_PARTS, TAG, random_pool
from .corpus import corpus_pages
from .errors import ConfigError
from .files import check_path, open_binary
from .sizes import PAGE_SIZE

CLASSES = ("zero", "same", *LZ4_PARTS, "random")
_ZERO = bytes(PAGE_SIZE)


def _lz4_size() -> Callable[[bytes], int]:
    from .compress import get_compressor

    compress = get_compressor("lz4").compress
    return lambda page: len(compress(page))


def classifier() -> Callable[[bytes], str]:
    """``page -> class`` (one of :data:`CLASSES`)."""
    size = _lz4_size()
    edges = LZ4_EDGES

    def classify(page: bytes) -> str:
        if page == _ZERO:
            return "zero"
        if page == page[:8] * 512:
            return "same"
        n = size(page)
        if n >= PAGE_SIZE:
            return "random"
        return LZ4_PARTS[n // 512] if n // 512 < len(edges) else "random"

    return classify


def mix_of(counts: Mapping[str, int]) -> dict[str, float]:
    """A content mix (``zero``, ``same``, ``random`` and the ``lz4_N`` histogram; no corpus
    share left) from class counts; rounded to 6 places, so it reads well in a header."""
    total = sum(counts.get(c, 0) for c in CLASSES)
    if total == 0:
        raise ConfigError("content statistics: no pages")
    out = {c: round(counts.get(c, 0) / total, 6) for c in CLASSES}
    # rounding must not push the sum over 1 (ContentMix refuses that)
    excess = sum(out.values()) - 1.0
    if excess > 0:
        biggest = max(out, key=lambda c: out[c])
        out[biggest] = round(out[biggest] - excess, 9)
    return {c: v for c, v in out.items() if v or c in ("zero", "same", "random")}


# --------------------------------------------------------------------------- dumps


def _elf_segments(f: Any, name: str) -> list[tuple[int, int]] | None:
    """``(offset, size)`` of the writable ``PT_LOAD`` segments of an ELF64 core file, or
    None if ``f`` is not one (then the whole file is a raw dump)."""
    head = f.read(64)
    f.seek(0)
    if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        return None
    e_type = struct.unpack_from("<H", head, 16)[0]
    if e_type != 4:  # ET_CORE
        return None
    phoff, = struct.unpack_from("<Q", head, 32)
    phentsize, phnum = struct.unpack_from("<HH", head, 54)
    f.seek(phoff)
    table = f.read(phentsize * phnum)
    f.seek(0)
    if len(table) < phentsize * phnum or phentsize < 56:
        raise ConfigError(f"dump {name}: ELF core file with a cut program header table")
    segs = []
    for i in range(phnum):
        p_type, p_flags, p_offset, _va, _pa, p_filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if p_type == 1 and p_flags & 2 and p_filesz:  # PT_LOAD, PF_W
            segs.append((p_offset, p_filesz))
    return segs


def _dump_pages(path: str) -> Iterator[bytes]:
    with open_binary(path, what="dump") as f:
        segs = _elf_segments(f, path)
        if segs is None:
            while True:
                page = f.read(PAGE_SIZE)
                if len(page) < PAGE_SIZE:
                    return  # a partial last page is not a page
                yield page
        for offset, size in segs or ():
            f.seek(offset)
            for _ in range(size // PAGE_SIZE):
                page = f.read(PAGE_SIZE)
                if len(page) < PAGE_SIZE:
                    raise ConfigError(f"dump {path}: ELF core file cut inside a segment at {offset}")
                yield page


def dump_stats(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Class counts of a raw page dump: every whole 4 KiB page of the file, or of an
    ELF core file's writable ``PT_LOAD`` segments (the process's data, not its code)."""
    name = check_path(path, "dump")
    classify = classifier()
    counts: Counter[str] = Counter()
    try:
        for page in _dump_pages(name):
            counts[classify(page)] += 1
    except OSError as exc:
        raise ConfigError(f"dump {name}: {exc.strerror or exc}") from None
    if not counts:
        raise ConfigError(f"dump {name}: no whole 4 KiB page to classify")
    with open_binary(name, what="dump") as f:
        kind = "ELF core file (writable PT_LOAD segments)" if _elf_segments(f, name) is not None else "raw pages"
    return {"source": f"dump {os.path.basename(name)}", "format": kind, "pages": sum(counts.values()),
            "counts": {c: counts[c] for c in CLASSES if counts[c]}}


# --------------------------------------------------------------------------- a running command

_PTRACE_TRACEME = 0
_PTRACE_CONT = 7
_PTRACE_GETREGS = 12
_PTRACE_SYSCALL = 24
_PTRACE_O_TRACESYSGOOD = 0x1
_PTRACE_SETOPTIONS = 0x4200
_PTRACE_O_TRACEEXEC = 0x10
_PTRACE_O_TRACEEXIT = 0x40
_PTRACE_O_EXITKILL = 0x100000
_PTRACE_EVENT_EXIT = 6


def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long
    return libc


def anon_ranges(pid: int) -> list[tuple[int, int]]:
    """``[start, end)`` of the process's private writable mappings (heap, stack, anonymous
    mmaps, and the written (copied-on-write, so anonymous) pages of a file's data segment);
    :func:`sample_pages` keeps only their anonymous pages."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            perms = fields[1]
            path = fields[5].strip() if len(fields) > 5 else ""
            if perms[3] != "p" or "w" not in perms or path in ("[vvar]", "[vdso]", "[vsyscall]"):
                continue
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            out.append((lo, hi))
    return out


def sample_pages(pid: int, classify: Callable[[bytes], str], into: dict[int, str],
                 window: tuple[int, int] | None = None) -> int:
    """Classify every anonymous page of the process's private writable mappings into ``into``
    (address -> class, the latest sample wins); the pages read. Anonymous: swapped
    (pagemap bit 62), or present (bit 63) and not a page-cache page (bit 61,
    ``Documentation/admin-guide/mm/pagemap.rst``); untouched pages are neither. With
    ``window`` (``[start, end)``), only the pages in it."""
    seen = 0
    try:
        ranges = anon_ranges(pid)
        pm = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
        mem = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    except OSError:
        return 0  # the process is gone
    try:
        for lo, hi in ranges:
            if window is not None:
                lo, hi = max(lo, window[0] & ~(PAGE_SIZE - 1)), min(hi, window[1])
                if lo >= hi:
                    continue
            n = (hi - lo + PAGE_SIZE - 1) // PAGE_SIZE
            try:
                entries = os.pread(pm, 8 * n, (lo // PAGE_SIZE) * 8)
            except OSError:
                continue
            for i, (entry,) in enumerate(struct.iter_unpack("<Q", entries)):
                if not (entry >> 62 & 1 or (entry >> 63 and not entry >> 61 & 1)):
                    continue
                addr = lo + i * PAGE_SIZE
                try:
                    page = os.pread(mem, PAGE_SIZE, addr)
                except OSError:
                    continue
                if len(page) == PAGE_SIZE:
                    into[addr] = classify(page)
                    seen += 1
    finally:
        os.close(pm)
        os.close(mem)
    return seen


class _Regs(ctypes.Structure):
    """x86-64 ``struct user_regs_struct`` (``arch/x86/include/asm/user_64.h``)."""

    _fields_ = [(name, ctypes.c_ulonglong) for name in (
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi", "rdi",
        "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs")]


_NR_MUNMAP, _NR_BRK, _NR_MADVISE = 11, 12, 28  # x86-64 (arch/x86/entry/syscalls/syscall_64.tbl)
_MADV_FREEING = (4, 8, 9)  # MADV_DONTNEED, MADV_FREE, MADV_REMOVE
_ENOSYS = 38


def _heap_end(pid: int) -> int | None:
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            if line.rstrip().endswith("[heap]"):
                return int(line.split("-")[1].split()[0], 16)
    return None


def _freed(pid: int, regs: _Regs) -> tuple[int, int] | None:
    """The range a syscall at its entry is about to free (munmap, a shrinking brk, madvise
    DONTNEED/FREE/REMOVE), or None."""
    nr = regs.orig_rax
    if nr == _NR_MUNMAP or (nr == _NR_MADVISE and regs.rdx in _MADV_FREEING):
        return regs.rdi, regs.rdi + regs.rsi
    if nr == _NR_BRK and regs.rdi:
        try:
            end = _heap_end(pid)
        except OSError:
            return None
        if end is not None and regs.rdi < end:
            return regs.rdi, end
    return None


def sample_command(argv: Sequence[str], *, interval: float = 0.01, timeout: float = 600.0) -> dict[str, Any]:
    """Run ``argv`` natively (stdout discarded) and classify its anonymous pages: every
    ``interval`` seconds, the pages a ``munmap``/``brk``/``madvise`` is about to free (at
    the syscall's entry stop, x86-64), and all of them at its exit (a
    ``PTRACE_O_TRACEEXIT`` stop, when its memory is still mapped). Each page address
    counts once, with its last content. Only the process's first thread is traced, not
    threads or children it starts."""
    import platform

    libc = _libc()
    syscalls = platform.machine() == "x86_64"
    resume = _PTRACE_SYSCALL if syscalls else _PTRACE_CONT

    def traceme() -> None:
        libc.ptrace(_PTRACE_TRACEME, 0, None, None)

    try:
        proc = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=traceme)  # noqa: PLW1509 - ptrace needs it, no threads here
    except OSError as exc:
        raise ConfigError(f"trace record: cannot run {argv[0]!r}: {exc.strerror or exc}") from None
    pid = proc.pid
    classify = classifier()
    pages: dict[int, str] = {}
    samples = freed = 0
    status = 0
    regs = _Regs()
    deadline = time.monotonic() + timeout
    try:
        _, status = os.waitpid(pid, 0)  # the stop at exec
        running = os.WIFSTOPPED(status)
        if running:
            opts = _PTRACE_O_TRACEEXIT | _PTRACE_O_TRACEEXEC | _PTRACE_O_EXITKILL | _PTRACE_O_TRACESYSGOOD
            libc.ptrace(_PTRACE_SETOPTIONS, pid, None, ctypes.c_void_p(opts))
            libc.ptrace(resume, pid, None, None)
        next_sample = time.monotonic() + interval
        while running:
            wpid, status = os.waitpid(pid, os.WNOHANG)
            now = time.monotonic()
            if now > deadline:
                os.kill(pid, signal.SIGKILL)
                raise ConfigError(f"trace record: {argv[0]} ran over {timeout:.0f} s while sampled")
            if wpid == 0:
                if now >= next_sample:
                    if sample_pages(pid, classify, pages):
                        samples += 1
                    next_sample = time.monotonic() + interval
                time.sleep(0.0005)
                continue
            if not os.WIFSTOPPED(status):
                running = False  # exited or killed
                continue
            sig = os.WSTOPSIG(status)
            event = status >> 16
            if sig == signal.SIGTRAP | 0x80:  # a syscall stop
                if libc.ptrace(_PTRACE_GETREGS, pid, None, ctypes.byref(regs)) == 0 and \
                        regs.rax == (-_ENOSYS) & 0xFFFFFFFFFFFFFFFF:  # entry, not exit
                    window = _freed(pid, regs)
                    if window is not None:
                        freed += sample_pages(pid, classify, pages, window)
                libc.ptrace(resume, pid, None, None)
            elif sig == signal.SIGTRAP and event == _PTRACE_EVENT_EXIT:
                if sample_pages(pid, classify, pages):
                    samples += 1
                libc.ptrace(resume, pid, None, None)
            elif sig == signal.SIGTRAP and event:
                libc.ptrace(resume, pid, None, None)  # exec: go on
            else:
                libc.ptrace(resume, pid, None, ctypes.c_void_p(sig))  # deliver the signal
    finally:
        if proc.returncode is None:
            if os.WIFEXITED(status):
                proc.returncode = os.WEXITSTATUS(status)
            elif os.WIFSIGNALED(status):
                proc.returncode = -os.WTERMSIG(status)
            else:  # an exception above: do not leave it behind
                proc.kill()
                proc.wait()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    if proc.returncode != 0:
        last = (err.strip().splitlines() or [""])[-1]
        raise ConfigError(f"trace record: {' '.join(argv)} exited with status {proc.returncode}"
                          + (f": {last}" if last else ""))
    counts = Counter(pages.values())
    return {"source": "sampled /proc/PID/mem of a native run (anonymous pages of private writable mappings)",
            "samples": samples, "interval_s": interval, "pages_at_free": freed, "pages": len(pages),
            "counts": {c: counts[c] for c in CLASSES if counts[c]}}


# --------------------------------------------------------------------------- recipes


def _tag0() -> bytes:
    return bytes(range(0x41, 0x41 + TAG))  # a fixed 16-byte stand-in for a page's tag


def _fit(src: bytes, lo: int, hi: int, size: Callable[[bytes], int]) -> int | None:
    """The length of ``src`` (from its start, zeros after it) whose page compresses to the
    middle of ``[lo, hi)``, or None if none lands in it."""
    tag = _tag0()
    target = (lo + hi) // 2
    a, b = 0, BODY
    while a < b:  # the smallest length compressing to >= target
        m = (a + b) // 2
        if size(tag + src[:m] + bytes(BODY - m)) < target:
            a = m + 1
        else:
            b = m
    got = size(tag + src[:a] + bytes(BODY - a))
    return a if lo <= got < hi and hi - got >= 64 and got - lo >= 64 else None


def build_recipes() -> dict[int, tuple[tuple[int, int], ...]]:
    """Per bucket edge: ``(corpus page, length)`` recipes that compress into the bucket
    (with a 64-byte margin each side), and ``(-1, length)`` of random bytes where the corpus
    gives fewer than 4 (its pages compress to 1.2-3.9 KiB whole)."""
    size = _lz4_size()
    pool = random_pool(0)[:BODY]
    out: dict[int, tuple[tuple[int, int], ...]] = {}
    for edge in LZ4_EDGES:
        lo = edge - 512
        recipes = [(i, n) for i, src in enumerate(corpus_pages()) if (n := _fit(src, lo, edge, size)) is not None]
        if len(recipes) < 4:
            n = _fit(pool, lo, edge, size)
            if n is not None:
                recipes.append((-1, n))
        if not recipes:  # pragma: no cover - lz4 would have to change
            raise RuntimeError(f"no recipe compresses to [{lo}, {edge})")
        out[edge] = tuple(recipes)
    return out


def write_recipes(path: str | os.PathLike[str]) -> None:
    table = build_recipes()
    lines = [
        '"""Generated by ``python -m swapops.pagestats``: the compressibility histogram\'s recipes',
        "(:mod:`swapops.content`): per bucket edge, ``(corpus page or -1 for random bytes, length)``. Do not edit.",
        "",
        "Shipped rather than computed at run time so that page contents do not depend on the lz4",
        'library\'s version; ``tests/test_content.py`` checks each recipe still lands in its bucket."""',
        "",
        "RECIPES: dict[int, tuple[tuple[int, int], ...]] = {",
        *[f"    {edge}: {recipes!r}," for edge, recipes in table.items()],
        "}",
        "",
    ]
    Path(path).write_text("\n".join(lines))


def counts_of(classes: Iterable[str]) -> dict[str, int]:
    got = Counter(classes)
    return {c: got[c] for c in CLASSES if got[c]}


if __name__ == "__main__":  # pragma: no cover - maintenance command
    target = Path(__file__).with_name("_lz4_recipes.py")
    write_recipes(target)
    print(f"wrote {target}")
