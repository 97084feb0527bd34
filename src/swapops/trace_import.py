"""Real programs' memory accesses as swapops traces (``docs/traces.md``).

Two sources, each read as a stream (a real program's lackey log is tens of
millions of lines; it is read twice, never held in memory):

* **lackey**: valgrind's ``--tool=lackey --trace-mem=yes`` log, one file per
  process (``--trace-children=yes --log-file=DIR/lackey.%p``). Lines
  ``I  ADDR,SIZE`` (an instruction fetch), `` L ADDR,SIZE`` (load),
  `` S ADDR,SIZE`` (store), `` M ADDR,SIZE`` (modify: a load and a store)
  and valgrind's own ``==PID==`` lines (``Command:``, ``Parent PID:``).
* **perf**: ``perf script -F pid,addr`` of ``perf record -e page-faults -c 1 -d``
  (or the ``perf.data`` file itself, converted with ``perf script``): the data
  address of every page fault. Faults are first touches and refaults, not every
  access: the trace has no re-references of resident pages, so it shows a
  program's footprint and fault order, not its reuse. perf does not say whether
  a fault was a read or a write, so a process's first fault on a page is
  imported as a store (``w``: the fault that gave it memory) and later faults
  on it as loads (``r``). Loads only (``perf_first_store=False``) would map
  every page to the shared zero page in the model (a read of an untouched
  anonymous page takes no frame, ``mm/memory.c: do_anonymous_page()``), and
  nothing would ever be swapped.

The rules (recorded in the header's ``import``):

* A byte access touches every 4 KiB page from ``ADDR`` to ``ADDR + SIZE - 1``
  (one crossing a page boundary touches both); ``M`` is a load then a store.
* Instruction fetches are left out by default (``with_code``): code pages are
  file-backed, and the kernel reclaims them by dropping them, never by swapping
  (``mm/vmscan.c: shrink_folio_list()`` swaps anonymous folios only).
* Within a process, immediately repeated accesses to one page are one
  reference (``collapse``): ``w`` if any of them stores, else ``r``. Reclaim
  sees a page's accessed bit once per scan, not once per access, so a run of
  accesses to one page is one reference to it.
* Page numbers are remapped per process to dense numbers from 0, in address
  order: pages adjacent in the address space stay adjacent (swap readahead,
  ``mm/swap_state.c: swap_vma_readahead()``, depends on it), holes of up to
  :data:`GAP` pages are kept, larger holes (between the heap, mmap areas and
  the stack, 47-bit addresses apart) are squashed to :data:`GAP` pages.
* Processes: each lackey file is one process (``n``), replayed one after
  another in pid order; a process exits (``x``) after its own stream and its
  children's (a parent waits for its children). lackey does not say when a
  process forked, so a fork child without exec is a separate process, not an
  ``f`` of its parent's memory; the parent is recorded in the header. With
  perf, events keep the file's (time) order; a process spawns at its first
  fault and exits after its last.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from .errors import ConfigError
from .files import check_path, open_binary
from .sizes import PAGE_SHIFT
from .trace import TraceWriter
from .workloads import EXIT, READ, SPAWN, WRITE

#: Holes in a process's address space longer than this many pages become this long.
GAP = 16
#: User addresses are below 2**47 (x86-64 4-level paging); perf's kernel addresses are dropped.
USER_LIMIT = 1 << 47
SOURCES = ("lackey", "perf")


@dataclass(frozen=True)
class Rules:
    """How byte accesses become page references (docstring of this module)."""

    with_code: bool = False
    collapse: bool = True
    gap: int = GAP
    perf_first_store: bool = True

    def describe(self, source: str) -> dict[str, Any]:
        text = [
            "an access touches every 4 KiB page of its bytes; M is a load then a store",
            "instruction fetches included" if self.with_code else
            "instruction fetches left out (code pages are file-backed, not swapped)",
            "immediately repeated accesses to one page within a process are one reference (w if any store)"
            if self.collapse else "every access is an event (not collapsed)",
            f"pages renumbered per process from 0 in address order; holes over {self.gap} pages squashed "
            f"to {self.gap}",
        ]
        out: dict[str, Any] = {"collapse": self.collapse, "gap_pages": self.gap}
        if source == "perf":
            text[0] = ("a page fault's data address is a reference to its page (faults only: first touches and "
                       "refaults, no re-references of resident pages)")
            text[1] = ("a process's first fault on a page is a store (the fault that gave it memory), later ones loads"
                       if self.perf_first_store else "every fault is a load")
            out["perf_first_store"] = self.perf_first_store
        else:
            out["with_code"] = self.with_code
        return {**out, "rules": text}


#: The rules ``swapops trace import`` and ``record`` use without options.
DEFAULT_RULES = Rules()


@dataclass
class Process:
    """One process of an imported trace: what pass 1 learnt of it."""

    os_pid: int
    command: str = ""
    parent_os_pid: int | None = None
    source: str = ""
    pages: set[int] = field(default_factory=set)
    loads: int = 0
    stores: int = 0
    first: int = -1  # perf: the first and last line index of its events
    last: int = -1

    def remap(self, gap: int) -> dict[int, int]:
        """Raw page number -> dense page number (adjacent stays adjacent, big holes squashed)."""
        out: dict[int, int] = {}
        dense = -1
        prev: int | None = None
        for p in sorted(self.pages):
            dense += 1 if prev is None else min(p - prev, gap + 1)
            out[p] = dense
            prev = p
        return out


class _Progress:
    """``swapops: reading FILE: 37 %`` on stderr, rewritten in place, only on a terminal."""

    def __init__(self, label: str, raw: IO[bytes], size: int) -> None:
        self.enabled = sys.stderr.isatty() and size > 0
        self.label, self.raw, self.size = label, raw, size
        self.last = 0.0

    def tick(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.5:
            return
        self.last = now
        try:
            pct = 100.0 * self.raw.tell() / self.size
        except (OSError, ValueError):
            return
        sys.stderr.write(f"\rswapops: {self.label}: {pct:5.1f} %")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.last:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _lines(path: str, label: str) -> Iterator[tuple[int, bytes, _Progress]]:
    """``(lineno, line)`` of a text file (gunzipped if it ends in ``.gz``), with progress."""
    with open_binary(path, what=label.split()[0]) as raw:
        size = os.fstat(raw.fileno()).st_size
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if path.endswith(".gz") else raw  # type: ignore[assignment]
        progress = _Progress(f"{label} {os.path.basename(path)}", raw, size)
        lineno = 0
        try:
            for lineno, line in enumerate(stream, 1):
                if not lineno & 0xFFFF:
                    progress.tick()
                yield lineno, line, progress
        except (OSError, EOFError) as exc:
            raise ConfigError(f"{label} {path}: cannot read past line {lineno}: {exc}") from None
        finally:
            progress.done()


# --------------------------------------------------------------------------- lackey


def _bad_lackey(path: str, lineno: int, line: bytes) -> ConfigError:
    text = line.decode("ascii", "replace").rstrip("\n")[:60]
    return ConfigError(
        f"lackey {path}:{lineno}: bad line {text!r} (expected 'I  ADDR,SIZE', ' L|S|M ADDR,SIZE' or a valgrind"
        " '==PID==' line)"
    )


def _lackey_refs(path: str, proc: Process | None, rules: Rules) -> Iterator[tuple[int, bool]]:
    """The page references of one lackey file: ``(raw page, is_store)``, collapsed per the rules.
    With ``proc``, its valgrind lines fill in pid, command and parent."""
    with_code, collapse = rules.with_code, rules.collapse
    cur = -1  # the pending run's page
    cur_w = False
    any_line = False
    for lineno, line, _ in _lines(path, "lackey"):
        c0 = line[:1]
        if c0 == b" ":
            kind = line[1:2]
            if kind == b"L":
                write = False
            elif kind in (b"S", b"M"):
                write = True
            else:
                raise _bad_lackey(path, lineno, line)
            body = line[3:]
        elif c0 == b"I":
            if not with_code:
                any_line = True
                continue
            kind = b"I"
            write = False
            body = line[3:]
        elif c0 in (b"=", b"-", b"*"):  # valgrind's own lines: ==PID==, --PID--, **PID**
            any_line = True
            if proc is not None and c0 == b"=":
                _lackey_meta(line, proc)
            continue
        elif not line.strip():
            continue
        else:
            raise _bad_lackey(path, lineno, line)
        addr_s, sep, size_s = body.partition(b",")
        try:
            addr = int(addr_s, 16)
            size = int(size_s)
        except ValueError:
            raise _bad_lackey(path, lineno, line) from None
        if not sep or size <= 0 or addr < 0 or addr + size > 1 << 64:
            raise _bad_lackey(path, lineno, line)
        any_line = True
        first = addr >> PAGE_SHIFT
        last = (addr + size - 1) >> PAGE_SHIFT
        for page in range(first, last + 1) if last != first else (first,):
            if kind == b"M" and not collapse:
                yield page, False  # M is a load, then the store below
            if page == cur and collapse:
                cur_w = cur_w or write
                continue
            if cur >= 0:
                yield cur, cur_w
            cur, cur_w = page, write
            if not collapse:
                yield cur, cur_w
                cur = -1
    if cur >= 0:
        yield cur, cur_w
    if not any_line:
        raise ConfigError(f"lackey {path}: empty: not a valgrind lackey log")


def _lackey_meta(line: bytes, proc: Process) -> None:
    text = line.decode("utf-8", "replace").rstrip("\n")
    head, _, rest = text[2:].partition("== ")
    if head.isdigit() and not proc.os_pid:
        proc.os_pid = int(head)
    if rest.startswith("Command: ") and not proc.command:
        proc.command = rest[len("Command: "):].replace("\\ ", " ")
    elif rest.startswith("Parent PID: "):
        value = rest[len("Parent PID: "):].strip()
        if value.isdigit():
            proc.parent_os_pid = int(value)


def import_lackey(paths: Sequence[str], out: str, *, rules: Rules = DEFAULT_RULES, header: dict[str, Any] | None = None,
                  seed: int = 0) -> dict[str, Any]:
    """Write the trace of lackey logs ``paths`` (one file per process) to ``out``; return its header."""
    names = [check_path(p, "lackey log") for p in paths]
    if not names:
        raise ConfigError("trace import: no lackey log given")
    procs: list[Process] = []
    for name in names:  # pass 1: pages, counts, pid and parent of each process
        proc = Process(os_pid=0, source=os.path.basename(name))
        for page, write in _lackey_refs(name, proc, rules):
            proc.pages.add(page)
            if write:
                proc.stores += 1
            else:
                proc.loads += 1
        procs.append(proc)
    order = sorted(range(len(procs)), key=lambda i: (procs[i].os_pid, names[i]))
    seen: dict[int, int] = {}
    for i in order:
        if procs[i].os_pid and procs[i].os_pid in seen:
            raise ConfigError(f"trace import: {names[i]} and {names[seen[procs[i].os_pid]]} are both process "
                              f"{procs[i].os_pid}: give each process's lackey log once")
        seen[procs[i].os_pid] = i
    tpid = {i: n + 1 for n, i in enumerate(order)}  # trace pids 1.. in pid order
    by_os = {procs[i].os_pid: i for i in order if procs[i].os_pid}
    parent = {i: by_os.get(procs[i].parent_os_pid or -1) for i in order}
    # a process exits after its stream and its descendants' (the last of them in replay order)
    position = {i: n for n, i in enumerate(order)}
    done_at = dict(position)
    for i in sorted(order, key=lambda j: -position[j]):
        p = parent[i]
        if p is not None and p != i:
            done_at[p] = max(done_at[p], done_at[i])
    exits: dict[int, list[int]] = {}
    for i in sorted(order, key=lambda j: -position[j]):  # children (later pids) exit first
        exits.setdefault(done_at[i], []).append(i)
    full = _header("lackey", procs, order, tpid, parent, rules, header, seed)
    with TraceWriter(out, full) as w:
        buf = _Buffer(w)
        for n, i in enumerate(order):  # pass 2: the events
            pid = tpid[i]
            buf.add(SPAWN, pid, 0)
            dense = procs[i].remap(rules.gap)
            for page, write in _lackey_refs(names[i], None, rules):
                buf.add(WRITE if write else READ, pid, dense[page])
            for j in exits.get(n, ()):
                buf.add(EXIT, tpid[j], 0)
        buf.flush()
    full["events"] = w.events
    return full


class _Buffer:
    """Events for a :class:`TraceWriter`, written 16 Ki at a time."""

    def __init__(self, writer: TraceWriter) -> None:
        self.w = writer
        self.ops: list[int] = []
        self.a: list[int] = []
        self.b: list[int] = []

    def add(self, op: int, x: int, y: int) -> None:
        self.ops.append(op)
        self.a.append(x)
        self.b.append(y)
        if len(self.ops) >= 16384:
            self.flush()

    def flush(self) -> None:
        if self.ops:
            self.w.write(self.ops, self.a, self.b)
            self.ops, self.a, self.b = [], [], []


def _header(source: str, procs: list[Process], order: list[int], tpid: dict[int, int],
            parent: dict[int, int | None], rules: Rules, extra: dict[str, Any] | None, seed: int) -> dict[str, Any]:
    rows = []
    for i in order:
        p = procs[i]
        par = parent.get(i)
        rows.append({"pid": tpid[i], "os_pid": p.os_pid, "parent": tpid[par] if par is not None else None,
                     "command": p.command, "log": p.source, "pages": len(p.pages), "loads": p.loads,
                     "stores": p.stores})
    extra = dict(extra or {})
    workload = {"name": source, "command": extra.pop("command", None) or (rows[0]["command"] if rows else "")}
    head: dict[str, Any] = {
        "seed": seed,
        "workload": workload,
        "source": source,
        "date": extra.pop("date", None) or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "import": rules.describe(source),
        "footprint": sum(r["pages"] for r in rows),
        "processes": rows,
    }
    head.update(extra)
    return head


# --------------------------------------------------------------------------- perf

_PERF_MAGIC = b"PERFILE2"


def _perf_text(path: str, tmp: str) -> str:
    """``path`` itself if it is ``perf script`` text, else (a ``perf.data``) its ``perf script -F pid,addr``."""
    with open_binary(path, what="perf file") as f:
        magic = f.read(8)
    if magic != _PERF_MAGIC:
        return path
    perf = shutil.which("perf")
    if perf is None:
        raise ConfigError(f"perf file {path}: a perf.data file, and perf is not installed to read it "
                          "(give 'perf script -F pid,addr' output instead)")
    out = os.path.join(tmp, "perf-script.txt")
    with open(out, "wb") as f:
        proc = subprocess.run([perf, "script", "-i", path, "-F", "pid,addr"], stdout=f,
                              stderr=subprocess.PIPE, timeout=3600, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
        raise ConfigError(f"perf file {path}: perf script failed: {last}")
    return out


def _perf_faults(path: str, label: str) -> Iterator[tuple[int, int, int]]:
    """``(index, os pid, raw page)`` of each user-space fault of ``perf script -F pid,addr`` text."""
    n = 0
    for lineno, line, _ in _lines(path, "perf"):
        fields = line.split()
        if not fields or fields[0].startswith(b"#"):
            continue
        try:
            if len(fields) != 2:
                raise ValueError
            pid = int(fields[0].split(b"/")[0])
            addr = int(fields[1], 16)
            if pid < 0 or addr < 0:
                raise ValueError
        except ValueError:
            text = line.decode("ascii", "replace").strip()[:60]
            raise ConfigError(f"perf {label}:{lineno}: bad line {text!r} (expected 'PID ADDR' as "
                              "'perf script -F pid,addr' prints)") from None
        if addr >= USER_LIMIT:
            continue
        yield n, pid, addr >> PAGE_SHIFT
        n += 1


def import_perf(paths: Sequence[str], out: str, *, rules: Rules = DEFAULT_RULES, header: dict[str, Any] | None = None,
                seed: int = 0) -> dict[str, Any]:
    """Write the trace of ``perf script -F pid,addr`` files (or perf.data files) to ``out``."""
    names = [check_path(p, "perf file") for p in paths]
    if not names:
        raise ConfigError("trace import: no perf file given")
    with tempfile.TemporaryDirectory(prefix="swapops-perf-") as tmp:
        texts = [_perf_text(n, tmp) if n else n for n in names]
        streams = list(zip(texts, names, strict=True))

        def faults() -> Iterator[tuple[int, int, int]]:
            base = 0
            for text, name in streams:
                n = -1
                for n, pid, page in _perf_faults(text, name):
                    yield base + n, pid, page
                base += n + 1

        procs: dict[int, Process] = {}
        last: dict[int, int] = {}  # collapse state: pid -> last page
        for idx, pid, page in _refs(faults(), rules, last):  # pass 1
            proc = procs.get(pid)
            if proc is None:
                proc = procs[pid] = Process(os_pid=pid, source=os.path.basename(names[0]), first=idx)
            if rules.perf_first_store and page not in proc.pages:
                proc.stores += 1
            else:
                proc.loads += 1
            proc.pages.add(page)
            proc.last = idx
        if not procs:
            raise ConfigError(f"perf {', '.join(names)}: no user-space page faults")
        order_pids = sorted(procs, key=lambda p: procs[p].first)
        plist = [procs[p] for p in order_pids]
        order = list(range(len(plist)))
        tpid = {i: i + 1 for i in order}
        full = _header("perf", plist, order, tpid, {}, rules, header, seed)
        dense = {p: procs[p].remap(rules.gap) for p in order_pids}
        trace_pid = {p: n + 1 for n, p in enumerate(order_pids)}
        with TraceWriter(out, full) as w:
            buf = _Buffer(w)
            last.clear()
            touched: dict[int, set[int]] = {p: set() for p in procs}
            for idx, pid, page in _refs(faults(), rules, last):  # pass 2
                proc = procs[pid]
                if idx == proc.first:
                    buf.add(SPAWN, trace_pid[pid], 0)
                seen = touched[pid]
                op = WRITE if rules.perf_first_store and page not in seen else READ
                seen.add(page)
                buf.add(op, trace_pid[pid], dense[pid][page])
                if idx == proc.last:
                    buf.add(EXIT, trace_pid[pid], 0)
            buf.flush()
    full["events"] = w.events
    return full


def _refs(faults: Iterable[tuple[int, int, int]], rules: Rules, last: dict[int, int]) -> Iterator[tuple[int, int, int]]:
    """Faults collapsed per process: a fault on the page of the same process's previous one is dropped."""
    for idx, pid, page in faults:
        if rules.collapse:
            if last.get(pid) == page:
                continue
            last[pid] = page
        yield idx, pid, page


IMPORTERS: dict[str, Callable[..., dict[str, Any]]] = {"lackey": import_lackey, "perf": import_perf}


def import_trace(source: str, paths: Sequence[str], out: str, **kwargs: Any) -> dict[str, Any]:
    """:func:`import_lackey` or :func:`import_perf` by ``source``."""
    try:
        importer = IMPORTERS[source]
    except KeyError:
        raise ConfigError(f"trace import: unknown source {source!r} (sources: {', '.join(SOURCES)})") from None
    return importer(paths, out, **kwargs)


__all__ = ["DEFAULT_RULES", "GAP", "Rules", "SOURCES", "import_lackey", "import_perf", "import_trace"]
