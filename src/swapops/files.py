"""Opening the files users name: paths checked, links refused, never a hang.

Every file swapops reads or writes on a user's behalf (swap files, scenario,
sweep and trace files, results) is opened here, so the same rules hold
everywhere:

* a path is a ``str`` (or ``os.PathLike`` giving one) without NUL bytes,
  else :class:`~swapops.errors.ConfigError` (:func:`check_path`);
* a file is opened first and checked after (``fstat`` of the descriptor, not
  a ``stat`` of the path), so a file swapped in between cannot be used; it is
  opened ``O_NONBLOCK`` so a FIFO never blocks the open, and anything but a
  regular file (a block device too, where asked for reading) is refused;
* a swap file is opened ``O_NOFOLLOW`` (a symbolic link is refused, like a
  dangling one), and created ``O_CREAT | O_EXCL`` with mode 0600, so swapops
  never writes through a link or into a file that appeared meanwhile;
* a file swapops created is removed again on failure (:func:`remove_created`),
  but only while the path still names the file it created.
"""

from __future__ import annotations

import errno
import operator
import os
import shutil
import stat
import subprocess
from typing import IO, Final

import attrs

from .errors import ConfigError, DeviceIOError

__all__ = [
    "Opened",
    "blkid_probe",
    "check_path",
    "check_seed",
    "decode_error",
    "file_kind",
    "insecure_mode",
    "first_data",
    "check_output",
    "open_binary",
    "open_file",
    "open_text",
    "read_text",
    "remove_created",
]

_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)


def check_path(value: object, what: str = "path") -> str:
    """``value`` as a ``str`` path, or :class:`ConfigError` naming the problem.

    Refuses what ``open(2)`` cannot take or would take differently: a
    non-string (an int would be taken as a file descriptor), bytes (swapops
    paths are text), an empty string and a NUL byte (the C string would end
    there and name another file).
    """
    if isinstance(value, os.PathLike):
        try:
            value = os.fspath(value)
        except TypeError as exc:
            raise ConfigError(f"{what}: {exc}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a string (a file name), not {type(value).__name__}")
    if not value:
        raise ConfigError(f"{what} is empty: give a file name")
    if "\0" in value:
        raise ConfigError(f"{what} {value!r} contains a NUL byte")
    return value


def check_seed(value: object, what: str = "seed") -> int:
    """A seed is an integer >= 0 (numpy's ``SeedSequence`` takes no negative one).

    Any integer type is taken (``operator.index``: a numpy integer too), not
    a bool, a float or a string.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be an integer >= 0, not {value!r}")
    try:
        seed = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(f"{what} must be an integer >= 0, not {value!r}") from None
    if seed < 0:
        raise ConfigError(f"{what} {seed} is negative: seeds are integers >= 0")
    return seed


def file_kind(mode: int) -> str:
    """What ``mode`` (``st_mode``) describes, in the words of ``stat(1)``."""
    for test, name in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISCHR, "a character device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


@attrs.define
class Opened:
    """A descriptor opened by :func:`open_file`, with what was found there."""

    fd: int
    name: str
    st: os.stat_result
    created: bool

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _link_error(name: str, what: str) -> ConfigError:
    try:
        target = os.readlink(name)
    except OSError:
        target = "?"
    dangling = "" if os.path.exists(name) else ", which does not exist"
    return ConfigError(
        f"{name}: is a symbolic link (to {target!r}{dangling}); {what} does not follow "
        "links: give the real file's path"
    )


def open_file(
    path: object,
    *,
    write: bool = False,
    create: bool = False,
    follow: bool = True,
    block_device: bool = False,
    what: str = "swapops",
) -> Opened:
    """Open ``path`` safely; raise a :class:`~swapops.errors.SwapOpsError` on anything else.

    - ``write``: read-write, else read-only.
    - ``create``: a missing file is created (``O_CREAT | O_EXCL``, mode 0600
      whatever the umask); :attr:`Opened.created` says so. Without it a
      missing file is a :class:`DeviceIOError` with errno ``ENOENT``.
    - ``follow`` False: a symbolic link as the last component is refused
      (``O_NOFOLLOW``), dangling or not.
    - ``block_device``: a block device is accepted (for read-only inspection).

    The file is looked at (``lstat``) before it is opened, so no device or
    FIFO is opened at all (opening a device can have effects), then checked
    again on the descriptor (``fstat``): what is used is what was checked.
    """
    name = check_path(path)
    try:
        pre: os.stat_result | None = os.stat(name, follow_symlinks=follow)
    except FileNotFoundError:
        pre = None
    except OSError as exc:
        raise DeviceIOError(exc.errno, f"cannot open: {exc.strerror}", name) from None
    if pre is not None:
        if stat.S_ISLNK(pre.st_mode):
            raise _link_error(name, what)
        _check_kind(name, pre.st_mode, block_device and not write)
    flags = (os.O_RDWR if write else os.O_RDONLY) | _CLOEXEC | _NONBLOCK
    if not follow:
        flags |= _NOFOLLOW
    created = False
    try:
        if pre is None and create:
            fd = os.open(name, flags | os.O_CREAT | os.O_EXCL, 0o600)
            created = True
        else:
            fd = os.open(name, flags)
    except FileNotFoundError:
        if create:  # the directory is missing
            raise DeviceIOError(errno.ENOENT, "cannot create: No such file or directory", name) from None
        raise DeviceIOError(errno.ENOENT, "No such file or directory", name) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise _link_error(name, what) from None
        if exc.errno == errno.EEXIST:
            raise ConfigError(f"{name}: appeared while swapops was creating it; not touched") from None
        if exc.errno == errno.EISDIR:
            raise ConfigError(f"{name}: is a directory, not a regular file") from None
        raise DeviceIOError(exc.errno, f"cannot open: {exc.strerror}", name) from None
    opened = Opened(fd, name, os.fstat(fd), created)
    try:
        _check_kind(name, opened.st.st_mode, block_device and not write)
        if created:
            os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by the umask
        # Blocking reads and writes from here (a regular file never blocks anyway).
        os.set_blocking(fd, True)
    except BaseException:
        opened.close()
        if created:
            remove_created(name, opened.st)
        raise
    return opened


def _check_kind(name: str, mode: int, block_ok: bool) -> None:
    if stat.S_ISREG(mode) or (block_ok and stat.S_ISBLK(mode)):
        return
    want = "a regular file or a block device" if block_ok else "a regular file"
    raise ConfigError(f"{name}: is {file_kind(mode)}, not {want}")


def remove_created(name: str, st: os.stat_result) -> None:
    """Unlink ``name`` if it still is the file described by ``st`` (one swapops created)."""
    try:
        now = os.stat(name, follow_symlinks=False)
        if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
            os.unlink(name)
    except OSError:
        pass


def open_text(path: object, *, what: str, encoding: str = "utf-8") -> IO[str]:
    """A regular file opened for reading as text (FIFOs and devices refused, no hang).

    Decoding errors surface when the text is read; callers turn
    ``UnicodeDecodeError`` into their own one-line error.
    """
    return os.fdopen(_input_fd(path, what), "r", encoding=encoding, newline=None)


def open_binary(path: object, *, what: str) -> IO[bytes]:
    """A regular file opened for reading as bytes (FIFOs and devices refused, no hang)."""
    return os.fdopen(_input_fd(path, what), "rb")


def _input_fd(path: object, what: str) -> int:
    name = check_path(path, what)
    try:
        opened = open_file(name, what=what)
    except ConfigError as exc:
        raise ConfigError(f"{what} {exc}") from None
    except DeviceIOError as exc:
        if exc.errno == errno.ENOENT:
            raise ConfigError(f"{what} {name} does not exist (no such file)") from None
        raise ConfigError(f"{what} {name}: {exc.strerror}") from None
    return opened.fd


def decode_error(what: str, name: str, exc: UnicodeDecodeError, *, want: str = "UTF-8",
                 at: str | None = None) -> ConfigError:
    """A one-line :class:`ConfigError` for text that is not ``want``, naming the byte.

    ``at`` says where (``"line 7"``); by default the offset in the decoded
    bytes, which is the file offset when the whole file was decoded at once.
    """
    byte = exc.object[exc.start : exc.start + 1].hex() or "?"
    where = at if at is not None else f"offset {exc.start}"
    return ConfigError(f"{what} {name}: not {want} text (byte 0x{byte} at {where})")


def read_text(path: object, *, what: str, encoding: str = "utf-8") -> str:
    """A whole regular file as text; bytes that do not decode are a one-line
    :class:`ConfigError` naming the line (no FIFO hang, no decoder traceback)."""
    name = check_path(path, what)
    with open_binary(name, what=what) as f:
        try:
            data = f.read()
        except OSError as exc:
            raise ConfigError(f"{what} {name}: {exc.strerror}") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise decode_error(what, name, exc, want=encoding.upper(), at=f"line {line}") from None


def insecure_mode(st: os.stat_result) -> int | None:
    """The permission bits of a swap file that util-linux calls insecure, or None.

    mkswap(8) and swapon(8) warn when a regular file has any group or other
    permission (``mode & 07077``; ``07007`` for a block device).
    """
    mask = 0o7007 if stat.S_ISBLK(st.st_mode) else 0o7077
    return st.st_mode & 0o7777 if st.st_mode & mask else None


def check_output(path: object, what: str) -> str:
    """A path to write: refuse an existing one that is not a regular file (a FIFO
    would block the write, a device would be written to)."""
    name = check_path(path, what)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        return name
    except OSError as exc:
        raise ConfigError(f"{what} {name}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{what} {name}: is {file_kind(st.st_mode)}, not a regular file")
    return name


def first_data(fd: int, size: int, *, chunk: int = 1 << 20) -> int | None:
    """Offset of the first non-zero byte in ``[0, size)``, or None when all are zero.

    Holes are skipped with ``SEEK_DATA`` where the file system supports it,
    so a sparse or freshly ``truncate``d file costs nothing to check.
    """
    zeros = bytes(chunk)
    offset = 0
    while offset < size:
        try:
            offset = os.lseek(fd, offset, getattr(os, "SEEK_DATA", os.SEEK_SET))
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after offset: the rest is a hole
                return None
            pass
        if offset >= size:
            return None
        data = os.pread(fd, min(chunk, size - offset), offset)
        if not data:
            return None
        if data != zeros[: len(data)]:
            return offset + next(i for i, b in enumerate(data) if b)
        offset += len(data)
    return None


def blkid_probe(fd: int) -> dict[str, str] | None:
    """What ``blkid -p -o export`` (util-linux's low-level probe) finds in the open file.

    The probe reads the descriptor swapops opened (``/dev/fd/N``), not the
    path again. Returns the NAME=value pairs (without ``DEVNAME``), ``{}`` when
    blkid finds nothing, and None when blkid is not installed or fails; callers
    then rely on their own magic checks alone.
    """
    blkid = shutil.which("blkid") or next(
        (p for p in ("/sbin/blkid", "/usr/sbin/blkid") if os.access(p, os.X_OK)), None
    )
    if blkid is None:
        return None
    try:
        proc = subprocess.run(
            [blkid, "-p", "-o", "export", f"/dev/fd/{fd}"],
            pass_fds=(fd,),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode == 2:  # nothing found
        return {}
    if proc.returncode != 0:
        return None
    found: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key != "DEVNAME":
            found[key] = value
    return found
