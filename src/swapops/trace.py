"""Record a run's event stream and replay it.

The format (``docs/cli.md`` documents it for other tools) is text, one event
per line, gzip-compressed when the file name ends in ``.gz``::

    swapops-trace 1
    {"workload": {"name": "zipf", ...}, "seed": 1, "mix": {"zero": 0.15, "same": 0.02, "random": 0.1}}
    n 1            # spawn process 1 (an empty mm)
    w 1 4096       # process 1 stores to virtual page 4096
    r 1 17         # process 1 loads from virtual page 17
    f 1 2          # process 1 forks process 2
    u 1 100 50     # process 1 unmaps 50 pages from page 100
    x 2            # process 2 exits

Line 1 is the magic and version; line 2 one JSON object (the header: at
least ``seed``, an integer; ``mix``, fractions as in ``--mix``, and
``workload`` describe what was recorded). Blank lines and text after ``#``
are ignored. Process ids, pages and counts are integers >= 0, and every event
names a live process: spawned (``n``) or forked (``f``) before, not exited. Page contents are not in the trace:
they are regenerated from (seed, page, version) on replay, so a replay with
the header's seed and mix swaps exactly the bytes of the recorded run.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from collections.abc import Iterator
from typing import IO, Any

from .errors import ConfigError
from .files import check_output, check_path, decode_error, open_binary
from .workloads import EXIT, FORK, MUNMAP, OP_MASK, OP_SHIFT, READ, SPAWN, WRITE, Chunk, parse_mix

MAGIC = "swapops-trace 1"
_LETTER = {READ: "r", WRITE: "w", FORK: "f", EXIT: "x", SPAWN: "n"}
_OP = {"r": READ, "w": WRITE, "f": FORK, "x": EXIT, "n": SPAWN}
_FIELDS = {"r": 3, "w": 3, "f": 3, "x": 2, "n": 2, "u": 4}


#: What reading a damaged trace can raise past its first buffer: bytes that are
#: not ASCII, a corrupt or cut gzip stream, a read error.
_READ_ERRORS = (UnicodeDecodeError, OSError, EOFError, zlib.error)


def _open(path: str | os.PathLike[str], mode: str) -> IO[str]:
    """The trace as ASCII text (gunzipped for ``.gz``); FIFOs and devices refused."""
    if mode == "w":
        name = check_output(path, "trace")
        try:
            if name.endswith(".gz"):
                return gzip.open(name, "wt", encoding="ascii")
            return open(name, "w", encoding="ascii")
        except OSError as exc:
            raise ConfigError(f"trace {name}: {exc.strerror or exc}") from None
    name = check_path(path, "trace")
    raw: IO[bytes] = open_binary(name, what="trace")
    if name.endswith(".gz"):
        raw = gzip.GzipFile(filename=name, fileobj=raw, mode="rb")  # type: ignore[assignment]
    return io.TextIOWrapper(raw, encoding="ascii", newline=None)


def _read_error(name: str, exc: BaseException, lineno: int) -> ConfigError:
    if isinstance(exc, UnicodeDecodeError):
        return decode_error("trace", name, exc, want="ASCII", at=f"line {lineno} or the buffer after it")
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return ConfigError(f"trace {name}: cannot read past line {lineno}: {detail}")


class TraceWriter:
    """Write a trace: the header, then :meth:`write` for each chunk replayed."""

    def __init__(self, path: str | os.PathLike[str], header: dict[str, Any]) -> None:
        self.path = check_path(path, "trace")
        self._f = _open(path, "w")
        self._f.write(MAGIC + "\n")
        self._f.write(json.dumps(header, sort_keys=True) + "\n")
        self.events = 0

    def write(self, ops: list[int], a: list[int], b: list[int]) -> None:
        lines = []
        for op, x, y in zip(ops, a, b, strict=True):
            if op == READ:
                lines.append(f"r {x} {y}\n")
            elif op == WRITE:
                lines.append(f"w {x} {y}\n")
            elif op & OP_MASK == MUNMAP:
                lines.append(f"u {x} {y} {op >> OP_SHIFT}\n")
            elif op in (EXIT, SPAWN):
                lines.append(f"{_LETTER[op]} {x}\n")
            else:
                lines.append(f"{_LETTER[op & OP_MASK]} {x} {y}\n")
        self._f.write("".join(lines))
        self.events += len(ops)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON header of a trace (raises :class:`ConfigError` if it is not one)."""
    with _open(path, "r") as f:
        return _header(f, os.fspath(path))


def _header(f: IO[str], name: str) -> dict[str, Any]:
    try:
        magic = f.readline().strip()
        line = f.readline()
    except _READ_ERRORS as exc:
        reason = "not ASCII" if isinstance(exc, UnicodeDecodeError) else str(exc) or type(exc).__name__
        raise ConfigError(f"trace {name}: not a swapops trace ({reason})") from None
    if magic != MAGIC:
        raise ConfigError(f"trace {name}: not a swapops trace (first line {magic[:40]!r}, expected {MAGIC!r})")
    try:
        header = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"trace {name}: line 2 is not a JSON header: {exc.msg}") from None
    if not isinstance(header, dict):
        raise ConfigError(f"trace {name}: line 2 must be a JSON object")
    seed = header.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"trace {name}: header seed must be an integer, not {seed!r}")
    if seed < 0:
        raise ConfigError(f"trace {name}: header seed must be an integer >= 0, not {seed!r}")
    mix = header.get("mix")
    if mix is not None:
        if not isinstance(mix, dict):
            raise ConfigError(f"trace {name}: header mix must be an object such as {{\"zero\": 0.15}}, not {mix!r}")
        try:
            parts = parse_mix(mix)
        except ConfigError as exc:
            raise ConfigError(f"trace {name}: header {exc}") from None
        if any(not 0.0 <= v <= 1.0 for v in parts.values()) or sum(parts.values()) > 1.0 + 1e-9:
            raise ConfigError(f"trace {name}: header mix {mix!r}: fractions must be between 0 and 1, summing to <= 1")
    return header


def _lines(f: IO[str], name: str, first: int) -> Iterator[tuple[int, str]]:
    """``enumerate(f, first)``, with a damaged stretch of the file (bytes that are not
    ASCII, a corrupt gzip member: found as the reader decodes each buffer) a
    :class:`ConfigError` naming where, not the decoder's exception."""
    lineno = first
    while True:
        try:
            raw = f.readline()
        except _READ_ERRORS as exc:
            raise _read_error(name, exc, lineno) from None
        if not raw:
            return
        yield lineno, raw
        lineno += 1


#: ``swapops run/compare --trace`` without ``--ram``: RAM is this share of an imported trace's footprint.
RAM_FRACTION = 0.5


def footprint_ram(header: dict[str, Any]) -> str | None:
    """The default RAM for replaying a trace whose header has a ``footprint`` (distinct pages,
    :mod:`swapops.trace_import`): :data:`RAM_FRACTION` of it, as a size (``"1234K"``); None without one."""
    pages = header.get("footprint")
    if isinstance(pages, bool) or not isinstance(pages, int) or pages <= 0:
        return None
    from .mm import SWAP_CLUSTER_MAX

    return f"{max(4 * SWAP_CLUSTER_MAX, int(pages * RAM_FRACTION)) * 4}K"  # the mm model's smallest RAM


class TraceWorkload:
    """A recorded trace as a workload (``events`` is read from the file on first use)."""

    NAME = "trace"

    def __init__(self, path: str | os.PathLike[str], *, events: int | None = None) -> None:
        self.path = check_path(path, "trace")
        self.header = read_header(self.path)
        self.limit = events
        self.seed = self.header.get("seed", 0)
        self._count: int | None = None

    @property
    def events(self) -> int:
        if self.limit is not None:
            return self.limit
        if self._count is None:
            self._count = sum(len(ops) for ops, _a, _b in self.chunks())
        return self._count

    def describe(self) -> dict[str, Any]:
        recorded = self.header.get("workload", {})
        return {"name": "trace", "path": self.path, "recorded": recorded, "seed": self.seed}

    def chunks(self, size: int = 16384) -> Iterator[Chunk]:
        left = self.limit if self.limit is not None else -1
        with _open(self.path, "r") as f:
            _header(f, self.path)
            ops: list[int] = []
            a: list[int] = []
            b: list[int] = []
            live: set[int] = set()  # processes spawned or forked, not exited
            for lineno, raw in _lines(f, self.path, 3):
                line = raw.partition("#")[0].split()
                if not line:
                    continue
                if left == 0:
                    break
                try:
                    kind = line[0]
                    if len(line) != _FIELDS[kind]:
                        raise ValueError
                    nums = [int(x) for x in line[1:]]
                    if min(nums) < 0:
                        raise ValueError
                except (ValueError, KeyError):
                    raise ConfigError(
                        f"trace {self.path}:{lineno}: bad event {raw.strip()!r}"
                        " (expected a letter r/w/f/x/n/u and integers >= 0)"
                    ) from None
                pid = nums[0]
                if kind == "n":
                    if pid in live:
                        raise ConfigError(f"trace {self.path}:{lineno}: process {pid} spawned while it exists")
                    live.add(pid)
                elif pid not in live:
                    raise ConfigError(
                        f"trace {self.path}:{lineno}: event {raw.strip()!r} for process {pid},"
                        " which was never spawned or has exited"
                    )
                elif kind == "f":
                    if nums[1] in live:
                        raise ConfigError(f"trace {self.path}:{lineno}: fork to process {nums[1]}, which exists")
                    live.add(nums[1])
                elif kind == "x":
                    live.discard(pid)
                if kind == "u":
                    ops.append(MUNMAP | (nums[2] << OP_SHIFT))
                else:
                    ops.append(_OP[kind])
                a.append(pid)
                b.append(nums[1] if len(nums) > 1 else 0)
                left -= 1
                if len(ops) >= size:
                    yield ops, a, b
                    ops, a, b = [], [], []
            if ops:
                yield ops, a, b


__all__ = ["MAGIC", "RAM_FRACTION", "TraceWriter", "TraceWorkload", "footprint_ram", "read_header"]
