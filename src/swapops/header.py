"""The Linux swap header (``union swap_header``): reader, writer and formatter.

The first page of a swap area holds (offsets for any page size; all integers
are u32 in the byte order of the machine that wrote them)::

    0x000  bootbits[1024]   zeroed by mkswap (disk label / boot loader space)
    0x400  version          must be 1
    0x404  last_page        index of the last page of the area
    0x408  nr_badpages      number of entries in badpages[]
    0x40C  uuid[16]         raw RFC 4122 bytes, in text order
    0x41C  volume[16]       label, NUL-padded (util-linux writes at most 15 bytes)
    0x42C  padding[117]     zero
    0x600  badpages[]       page indices, at most max_badpages(page_size)
    page_size - 10          magic "SWAPSPACE2"

:func:`pack_header` writes one page byte-identical to ``mkswap -p P -L L -U U``
on a zero-filled file; :func:`parse_header` validates a page the way the
kernel's ``read_swap_header()`` and swapon's bad-page setup do, and raises
only :class:`~swapops.errors.InvalidSwapHeaderError` whatever bytes it is fed.
:func:`format_swapfile` is mkswap for plain files; :func:`read_header` reads a
file's header and checks it against the file size.

Nothing here calls swapon(2): swapops simulates swap.
"""

from __future__ import annotations

import errno
import os
import struct
import sys
import uuid as uuidlib
import warnings
from collections.abc import Sequence
from typing import Final, Literal

import attrs

from .errors import (
    ConfigError,
    DeviceIOError,
    InvalidSizeError,
    InvalidSwapHeaderError,
    SignatureExistsError,
)
from .files import (
    Opened,
    blkid_probe,
    check_path,
    first_data,
    insecure_mode,
    open_file,
    remove_created,
)
from .sizes import parse_size

__all__ = [
    "HIBERNATION_MAGICS",
    "MAX_BADPAGES",
    "MIN_PAGES",
    "PAGE_SIZES",
    "SWAP_MAGIC",
    "SWAP_MAGIC_V0",
    "ForeignSignature",
    "SwapHeader",
    "SwapHeaderWarning",
    "describe",
    "foreign_signatures",
    "format_and_open",
    "format_swapfile",
    "max_badpages",
    "pack_header",
    "parse_header",
    "read_header",
    "read_header_fd",
]

SWAP_MAGIC: Final = b"SWAPSPACE2"
SWAP_MAGIC_V0: Final = b"SWAP-SPACE"
#: Signatures a hibernation image leaves where the swap magic was (libblkid's
#: swsuspend prober: swsusp, uswsusp, and the LINHIB0001 of newer kernels).
HIBERNATION_MAGICS: Final = (b"S1SUSPEND", b"S2SUSPEND", b"ULSUSPEND", b"LINHIB0001")
#: Page sizes util-linux (blkid, swaplabel, file) recognises.
PAGE_SIZES: Final = (4096, 8192, 16384, 32768, 65536)
#: mkswap's MIN_GOODPAGES: an area needs 10 pages (40 KiB at 4 KiB pages).
MIN_PAGES: Final = 10
#: util-linux keeps at most 15 label bytes (xstrncpy into the 16-byte field).
LABEL_MAX_BYTES: Final = 15

MAGIC_LEN: Final = 10
OFF_VERSION: Final = 0x400
OFF_UUID: Final = 0x40C
OFF_LABEL: Final = 0x41C
OFF_PADDING: Final = 0x42C
OFF_BADPAGES: Final = 0x600
LABEL_FIELD: Final = 16
_U32_MAX: Final = 0xFFFFFFFF
# libblkid treats UUID and label as garbage when padding[32] or padding[33] is set.
_BLKID_PADDING_CHECK: Final = slice(OFF_PADDING + 32 * 4, OFF_PADDING + 34 * 4)
_NATIVE: Final[Literal["little", "big"]] = "little" if sys.byteorder == "little" else "big"


class SwapHeaderWarning(UserWarning):
    """Something mkswap would warn about: a truncated label, holes, loose permissions."""


def _check_page_size(page_size: object) -> int:
    if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size not in PAGE_SIZES:
        raise ConfigError(
            f"unsupported page size {page_size!r}: expected a power of two from 4096 to 65536"
        )
    return page_size


def max_badpages(page_size: int) -> int:
    """The kernel's MAX_SWAP_BADPAGES: how many u32 fit between badpages[] and the magic.

    ``(offset(magic) - offset(badpages)) // 4`` = 637 at 4 KiB, 15997 at 64 KiB
    (the same as mkswap's ``(pagesize - 1024 - 128*4 - 10) / 4``).
    """
    return (_check_page_size(page_size) - MAGIC_LEN - OFF_BADPAGES) // 4


#: Alias kept for callers that spell it like the kernel constant.
MAX_BADPAGES: Final = max_badpages


@attrs.frozen
class SwapHeader:
    """A parsed (or freshly written) swap header.

    ``byteswapped`` is True when the header was written on a machine of the
    other byte order; its fields are given here already swabbed, as the kernel
    does (``swab32s``) before using them.
    """

    page_size: int
    version: int
    last_page: int
    nr_badpages: int
    uuid: uuidlib.UUID
    label: str
    badpages: tuple[int, ...]
    byteswapped: bool

    @property
    def nr_pages(self) -> int:
        """The kernel's ``maxpages`` (becomes ``si->max``): ``last_page + 1``, page 0 included.

        read_swap_header() keeps ``si->max`` in an unsigned int, so a header
        with ``last_page = 2**32 - 1`` gives ``UINT_MAX``, not 2**32.
        """
        return min(self.last_page + 1, _U32_MAX)

    @property
    def usable_pages(self) -> int:
        """The kernel's ``si->pages`` = ``max - 1 - bad``: slots swap can hand out.

        Page 0 (this header) and every listed bad page below ``max`` are marked
        Bad. A bad page listed twice is counted once here (it is one slot); the
        legacy swap_map code decremented ``si->pages`` once per list entry.
        """
        maxpages = self.nr_pages
        bad = {page for page in self.badpages if page < maxpages}
        return maxpages - 1 - len(bad)

    @property
    def size_bytes(self) -> int:
        """Bytes the area spans according to the header: ``nr_pages * page_size``."""
        return self.nr_pages * self.page_size

    @property
    def byteorder(self) -> Literal["little", "big"]:
        """The byte order the header is written in."""
        if not self.byteswapped:
            return _NATIVE
        return "big" if _NATIVE == "little" else "little"


# --------------------------------------------------------------------------- writer


def _encode_label(label: object) -> bytes:
    """Label bytes as util-linux stores them: UTF-8, at most 15 bytes, NUL-free.

    Like mkswap (``xstrncpy`` + "Label was truncated"), a longer label is cut
    to 15 bytes with a :class:`SwapHeaderWarning`; the cut falls on a character
    boundary so a valid UTF-8 label never becomes invalid (for ASCII this is
    byte-identical to mkswap).
    """
    if not isinstance(label, str):
        raise ConfigError(f"label must be a str, not {type(label).__name__}")
    if "\0" in label:
        raise ConfigError(f"label {label!r} contains a NUL character")
    try:
        raw = label.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(f"label {label!r} cannot be encoded as UTF-8: {exc}") from None
    if len(raw) > LABEL_MAX_BYTES:
        raw = raw[:LABEL_MAX_BYTES].decode("utf-8", "ignore").encode("utf-8")
        warnings.warn(
            f"Label was truncated: {label!r} -> {raw.decode('utf-8')!r} "
            f"(a swap label holds at most {LABEL_MAX_BYTES} bytes)",
            SwapHeaderWarning,
            stacklevel=3,
        )
    return raw


def _check_u32(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= _U32_MAX:
        raise ConfigError(f"{name} {value} does not fit a u32")
    return value


def _check_badpages(badpages: Sequence[int], last_page: int, page_size: int) -> tuple[int, ...]:
    pages = tuple(_check_u32("bad page index", page) for page in badpages)
    limit = max_badpages(page_size)
    if len(pages) > limit:
        raise ConfigError(
            f"{len(pages)} bad pages: a {page_size}-byte header holds at most {limit}"
        )
    for page in pages:
        if not 0 < page <= last_page:
            raise ConfigError(
                f"bad page {page} out of range: must be within 1..last_page ({last_page}); "
                "page 0 is the header"
            )
    return pages


def pack_header(
    *,
    page_size: int,
    last_page: int,
    uuid: uuidlib.UUID,
    label: str = "",
    badpages: Sequence[int] = (),
    byteorder: Literal["little", "big"] | None = None,
) -> bytes:
    """One header page: zeroed bootbits, the v1 fields, the bad-page list, the magic.

    Byte-identical to what ``mkswap -p page_size -L label -U uuid`` leaves in
    the first page of a zero-filled file. ``byteorder`` None writes the host's
    order, as mkswap does; "big"/"little" force one (a foreign-endian header).
    Raises :class:`ConfigError` for values a header cannot hold.
    """
    _check_page_size(page_size)
    _check_u32("last_page", last_page)
    if last_page == 0:
        raise ConfigError("last_page 0 describes an empty swap area (the kernel refuses it)")
    if not isinstance(uuid, uuidlib.UUID):
        raise ConfigError(f"uuid must be a uuid.UUID, not {type(uuid).__name__}")
    raw_label = _encode_label(label)
    pages = _check_badpages(badpages, last_page, page_size)
    if byteorder is None:
        byteorder = _NATIVE
    if byteorder not in ("little", "big"):
        raise ConfigError(f"byteorder must be 'little' or 'big', not {byteorder!r}")
    order = "<" if byteorder == "little" else ">"

    page = bytearray(page_size)
    struct.pack_into(
        f"{order}III16s16s", page, OFF_VERSION, 1, last_page, len(pages), uuid.bytes, raw_label
    )
    if pages:
        struct.pack_into(f"{order}{len(pages)}I", page, OFF_BADPAGES, *pages)
    page[page_size - MAGIC_LEN :] = SWAP_MAGIC
    return bytes(page)


# --------------------------------------------------------------------------- reader


def _fail(name: str, problem: str) -> InvalidSwapHeaderError:
    return InvalidSwapHeaderError(f"{name}: {problem}")


def _foreign_magic(data: bytes, sizes: Sequence[int]) -> tuple[int, bytes] | None:
    """The first v0 or hibernation signature at a candidate magic offset."""
    for size in sizes:
        if len(data) < size:
            break
        field = data[size - MAGIC_LEN : size]
        if field == SWAP_MAGIC_V0:
            return size, field
        for magic in HIBERNATION_MAGICS:
            if field.startswith(magic):
                return size, magic
    return None


def _no_magic(data: bytes, name: str, sizes: Sequence[int]) -> InvalidSwapHeaderError:
    found = _foreign_magic(data, sizes)
    if found is not None:
        size, magic = found
        if magic == SWAP_MAGIC_V0:
            return _fail(
                name,
                f"old v0 swap signature 'SWAP-SPACE' (page size {size}): swap v0 is "
                "unsupported since Linux 2.5; re-create the area with mkswap",
            )
        return _fail(
            name,
            f"holds a hibernation image (signature {magic.decode('ascii')!r}, page size {size}), "
            "not a usable swap area; resume from it or re-create it with mkswap",
        )
    if len(data) < sizes[0]:
        return _fail(
            name,
            f"too small: {len(data)} bytes, a swap header fills a whole page "
            f"({sizes[0]} bytes or more)",
        )
    tried = ", ".join(str(size) for size in sizes if size <= len(data))
    return _fail(name, f"no swap signature 'SWAPSPACE2' (page size tried: {tried})")


def parse_header(
    page: bytes | bytearray | memoryview,
    *,
    page_size: int | None = None,
    file_size: int | None = None,
    name: str = "<swap header>",
) -> SwapHeader:
    """Parse and validate a swap header from the first bytes of an area.

    ``page`` holds at least one page (more is ignored). ``page_size`` None
    detects it: the first of 4096..65536 with "SWAPSPACE2" at
    ``page_size - 10`` (as libblkid probes). ``file_size``, when given, is the
    size of the whole area; the header must not claim more pages than it has.
    ``name`` (a path) is put in error messages.

    Checks, as read_swap_header() and swapon's bad-page setup: magic (with a
    clear message for a v0 or hibernation signature); a byte-swapped header is
    accepted and swabbed; version 1; ``last_page != 0``; area not shorter than
    the header says; ``nr_badpages <= max_badpages``; every bad page within
    ``1..last_page``; at least one usable page. Padding is not checked (the
    kernel ignores it), but like libblkid the UUID and label are treated as
    absent (nil UUID, empty label) when ``padding[32]`` or ``padding[33]`` is
    non-zero.

    Bad pages are accepted whatever the area is; the kernel additionally
    refuses a *regular file* whose header lists bad pages (an S_ISREG check
    at swapon), which is for the caller that models swapon to enforce.

    Raises :class:`InvalidSwapHeaderError` for any bad input bytes; a
    ``page_size`` argument outside 4096..65536 is a :class:`ConfigError`, a
    ``page`` that is not bytes-like a :class:`TypeError`.
    """
    if not isinstance(page, bytes | bytearray | memoryview):
        raise TypeError(f"parse_header needs bytes, not {type(page).__name__}")
    sizes: tuple[int, ...] = PAGE_SIZES if page_size is None else (_check_page_size(page_size),)
    try:
        return _parse(bytes(page), sizes, file_size, name)
    except InvalidSwapHeaderError:
        raise
    except (struct.error, ValueError, IndexError, TypeError, OverflowError) as exc:
        # Defensive: _parse checks lengths first, so this is a bug net, not a path.
        raise _fail(name, f"malformed swap header ({type(exc).__name__}: {exc})") from exc


def _parse(data: bytes, sizes: Sequence[int], file_size: int | None, name: str) -> SwapHeader:
    page_size = 0
    for size in sizes:
        if len(data) >= size and data[size - MAGIC_LEN : size] == SWAP_MAGIC:
            page_size = size
            break
    if not page_size:
        if len(sizes) == 1 and len(data) < sizes[0]:
            raise _fail(
                name, f"too small: {len(data)} bytes, a {sizes[0]}-byte page holds the header"
            )
        raise _no_magic(data, name, sizes)
    if file_size is not None and file_size < page_size:
        raise _fail(name, f"too small: {file_size} bytes, less than one {page_size}-byte page")

    order = "<" if _NATIVE == "little" else ">"
    version, last_page, nr_badpages = struct.unpack_from(f"{order}III", data, OFF_VERSION)
    byteswapped = False
    if version != 1 and int.from_bytes(version.to_bytes(4, "little"), "big") == 1:
        # The kernel's "swap partition endianness hack": swab the fields.
        byteswapped = True
        order = ">" if _NATIVE == "little" else "<"
        version, last_page, nr_badpages = struct.unpack_from(f"{order}III", data, OFF_VERSION)
    if version != 1:
        raise _fail(name, f"unsupported swap header version {version} (only version 1 exists)")
    if last_page == 0:
        raise _fail(name, "last_page is 0: empty swap area")
    maxpages = min(last_page + 1, _U32_MAX)
    if file_size is not None:
        file_pages = file_size // page_size
        if maxpages > file_pages:
            raise _fail(
                name,
                f"swap area shorter than the header says: header claims {maxpages} pages "
                f"of {page_size} bytes, the area has {file_pages} ({file_size} bytes)",
            )
    limit = (page_size - MAGIC_LEN - OFF_BADPAGES) // 4
    if nr_badpages > limit:
        raise _fail(
            name, f"nr_badpages {nr_badpages} exceeds the limit {limit} for {page_size}-byte pages"
        )
    badpages: tuple[int, ...] = struct.unpack_from(f"{order}{nr_badpages}I", data, OFF_BADPAGES)
    bad: set[int] = set()
    for index in badpages:
        if index == 0 or index > last_page:
            raise _fail(name, f"bad page {index} out of range (must be within 1..{last_page})")
        if index < maxpages:
            bad.add(index)
    if maxpages - 1 - len(bad) <= 0:
        raise _fail(name, "no usable pages: every page after the header is listed as bad")

    if any(data[_BLKID_PADDING_CHECK]):
        uuid = uuidlib.UUID(int=0)
        label = ""
    else:
        uuid = uuidlib.UUID(bytes=data[OFF_UUID : OFF_UUID + 16])
        raw_label = data[OFF_LABEL : OFF_LABEL + LABEL_FIELD].split(b"\0", 1)[0]
        label = raw_label.decode("utf-8", "replace")
    return SwapHeader(
        page_size=page_size,
        version=version,
        last_page=last_page,
        nr_badpages=nr_badpages,
        uuid=uuid,
        label=label,
        badpages=badpages,
        byteswapped=byteswapped,
    )


def read_header(path: str | os.PathLike[str], *, page_size: int | None = None) -> SwapHeader:
    """Read and validate the swap header of ``path`` against the file's size.

    ``path`` must be a regular file or a block device (read-only); anything
    else (a FIFO, a socket, a directory) is refused before it is opened, and
    the open is non-blocking, so nothing can hang here. Header problems raise
    :class:`InvalidSwapHeaderError` naming the file; a file that cannot be
    opened or read raises :class:`DeviceIOError` (a SwapOpsError that is also
    an OSError with the original errno); a bad path or file type
    :class:`ConfigError`.
    """
    want = PAGE_SIZES[-1] if page_size is None else _check_page_size(page_size)
    opened = open_file(path, block_device=True, what="swapops")
    try:
        return read_header_fd(opened.fd, opened.name, page_size=page_size, want=want)
    finally:
        opened.close()


def read_header_fd(
    fd: int, name: str, *, page_size: int | None = None, want: int = PAGE_SIZES[-1]
) -> SwapHeader:
    """:func:`read_header` of an open descriptor (its size from ``lseek(SEEK_END)``)."""
    try:
        file_size = os.lseek(fd, 0, os.SEEK_END)
        data = os.pread(fd, want, 0)
    except OSError as exc:
        raise DeviceIOError(exc.errno, f"cannot read swap header: {exc.strerror}", name) from exc
    return parse_header(data, page_size=page_size, file_size=file_size, name=name)


# --------------------------------------------------------------------------- formatter


@attrs.frozen
class ForeignSignature:
    """Another format's signature found in a file: what, and which bytes hold it."""

    kind: str
    offset: int
    length: int


# (kind, offset, magic). Offsets as libblkid probes them.
_FIXED_SIGNATURES: Final = (
    ("xfs", 0, b"XFSB"),
    ("crypto_LUKS", 0, b"LUKS\xba\xbe"),
    ("squashfs", 0, b"hsqs"),
    ("ntfs", 3, b"NTFS    "),
    ("exfat", 3, b"EXFAT   "),
    ("LVM2_member", 536, b"LVM2 001"),
    ("gpt", 512, b"EFI PART"),
    ("ext2/3/4", 1080, b"\x53\xef"),
    ("iso9660", 32769, b"CD001"),
    ("btrfs", 65600, b"_BHRfS_M"),
)
_SIGNATURE_SPAN: Final = 65600 + 8


def _mbr_partition_table(data: bytes) -> bool:
    """A DOS MBR: 0x55AA at 510 and at least one sane, non-empty partition entry."""
    if len(data) < 512 or data[510:512] != b"\x55\xaa":
        return False
    for entry in range(446, 510, 16):
        boot, ptype = data[entry], data[entry + 4]
        sectors = int.from_bytes(data[entry + 12 : entry + 16], "little")
        if boot in (0x00, 0x80) and ptype != 0 and sectors != 0:
            return True
    return False


def foreign_signatures(data: bytes) -> tuple[ForeignSignature, ...]:
    """Signatures of other formats in the first 64 KiB (+72 B) of a file.

    Detects ext2/3/4, XFS, btrfs, LUKS, LVM2, squashfs, iso9660, NTFS, exFAT,
    FAT, a GPT or DOS partition table, and hibernation images (S1SUSPEND,
    S2SUSPEND, ULSUSPEND, LINHIB0001 at any page size). A swap signature (v1 or
    v0) is not foreign: re-formatting swap is fine.
    """
    found: list[ForeignSignature] = []
    for kind, offset, magic in _FIXED_SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            found.append(ForeignSignature(kind, offset, len(magic)))
    if _mbr_partition_table(data):
        found.append(ForeignSignature("dos partition table", 510, 2))
    elif data[510:512] == b"\x55\xaa" and (data[54:57] == b"FAT" or data[82:87] == b"FAT32"):
        found.append(ForeignSignature("vfat", 510, 2))
    for size in PAGE_SIZES:
        field = data[size - MAGIC_LEN : size]
        for magic in HIBERNATION_MAGICS:
            if len(field) == MAGIC_LEN and field.startswith(magic):
                found.append(
                    ForeignSignature(
                        f"swsuspend ({magic.decode('ascii')})", size - MAGIC_LEN, len(magic)
                    )
                )
    return tuple(found)


def _parse_uuid(value: uuidlib.UUID | str | None) -> uuidlib.UUID:
    if value is None or value == "random":
        return uuidlib.uuid4()
    if isinstance(value, uuidlib.UUID):
        return value
    if value == "clear":
        return uuidlib.UUID(int=0)
    if isinstance(value, str):
        try:
            return uuidlib.UUID(value)
        except ValueError:
            raise ConfigError(f"invalid UUID {value!r}") from None
    raise ConfigError(f"uuid must be a uuid.UUID or a str, not {type(value).__name__}")


def format_swapfile(
    path: str | os.PathLike[str],
    *,
    size: int | str | None = None,
    page_size: int = 4096,
    label: str = "",
    uuid: uuidlib.UUID | str | None = None,
    badpages: Sequence[int] = (),
    force: bool = False,
) -> SwapHeader:
    """mkswap for a plain file: write a swap header and return it.

    :func:`format_and_open` with the descriptor closed; see there.
    """
    opened, header = format_and_open(
        path, size=size, page_size=page_size, label=label, uuid=uuid, badpages=badpages, force=force
    )
    opened.close()
    return header


def format_and_open(
    path: str | os.PathLike[str],
    *,
    size: int | str | None = None,
    page_size: int = 4096,
    label: str = "",
    uuid: uuidlib.UUID | str | None = None,
    badpages: Sequence[int] = (),
    force: bool = False,
) -> tuple[Opened, SwapHeader]:
    """mkswap for a plain file; returns the descriptor it wrote through (read-write) and the header.

    The caller owns the descriptor; :attr:`Opened.created` says whether this
    call created the file, which the caller then removes if a later step fails
    (:func:`swapops.files.remove_created`). Using this descriptor rather than
    opening the path again means what was formatted is what is used.

    - A missing file is created with ``O_CREAT | O_EXCL`` and mode 0600. An
      existing one is reused (its mode is kept; group or other permissions
      draw a :class:`SwapHeaderWarning`, as mkswap warns). A symbolic link,
      dangling or not, is refused (``O_NOFOLLOW``), as is anything but a
      regular file; the checks are made on the opened descriptor.
    - ``size`` (bytes or "64M"): the area; None = the existing file's size. A
      smaller file is extended without holes (``posix_fallocate``, reads as
      zeros); a larger one keeps its tail, as ``mkswap FILE SIZE`` does.
      ``last_page = size // page_size - 1``. Fewer than 10 pages raises
      :class:`InvalidSizeError` (mkswap's "at least 40 KiB" at 4 KiB pages).
    - ``uuid`` None or "random" = uuid4, "clear" = nil UUID, else a UUID or its
      string. ``label`` longer than 15 bytes is truncated with a warning
      (mkswap's behaviour). ``badpages`` as for :func:`pack_header`, at most
      ``size_pages - 10`` of them like mkswap (the kernel refuses bad pages in
      a regular file at swapon; swapops' simulated devices may use them).
    - An existing file is only overwritten when it is a swap area already or
      holds nothing (empty, or only zero bytes). Any other content, and any
      other format's signature (:func:`foreign_signatures`, and what
      ``blkid -p`` finds where util-linux is installed) raises
      :class:`SignatureExistsError` saying what was found, unless ``force``;
      with ``force`` those signatures are wiped (like mkswap's wipefs step),
      as are stale swap magics at larger page sizes.
    - The whole area is reserved (``posix_fallocate``) before anything is
      written: a file system without room gives :class:`DeviceIOError`
      (ENOSPC) and no change. On any failure a file this call created is
      removed; an existing one keeps its size.
    - Writes the whole first page: zeroed bootbits + header, then fsyncs.
    Everything is validated before the file is touched.
    """
    name = check_path(path)
    _check_page_size(page_size)
    if not isinstance(force, bool):
        raise ConfigError(f"force must be a bool, not {type(force).__name__}")
    new_uuid = _parse_uuid(uuid)
    raw_label = _encode_label(label)  # warns once here; pack_header gets the cut label
    label = raw_label.decode("utf-8")
    if not isinstance(badpages, Sequence) or isinstance(badpages, str | bytes):
        raise ConfigError(f"badpages must be a sequence of page indices, not {type(badpages).__name__}")
    plan = None if size is None else _plan(name, parse_size(size), page_size, badpages, new_uuid, label)

    try:
        opened = open_file(
            name, write=True, create=size is not None, follow=False, what="swapops format"
        )
    except DeviceIOError as exc:
        if exc.errno == errno.ENOENT and size is None:
            raise ConfigError(f"{name}: no such file; give a size to create it") from None
        raise
    try:
        if plan is None:
            plan = _plan(name, opened.st.st_size, page_size, badpages, new_uuid, label)
        _format_fd(opened, plan, page_size, force)
    except BaseException:
        opened.close()
        if opened.created:
            remove_created(name, opened.st)
        raise
    nbytes, last_page, bad, _page = plan
    return opened, SwapHeader(
        page_size=page_size,
        version=1,
        last_page=last_page,
        nr_badpages=len(bad),
        uuid=new_uuid,
        label=label,
        badpages=bad,
        byteswapped=False,
    )


_Plan = tuple[int, int, tuple[int, ...], bytes]  # nbytes, last_page, bad pages, header page


def _plan(
    name: str,
    nbytes: int,
    page_size: int,
    badpages: Sequence[int],
    new_uuid: uuidlib.UUID,
    label: str,
) -> _Plan:
    pages = nbytes // page_size
    if pages < MIN_PAGES:
        raise InvalidSizeError(
            f"{name}: swap area needs to be at least {MIN_PAGES * page_size // 1024} KiB "
            f"({MIN_PAGES} pages of {page_size} bytes); got {nbytes} bytes"
        )
    if pages - 1 > _U32_MAX:
        raise InvalidSizeError(
            f"{name}: {pages} pages of {page_size} bytes: a swap header describes at most 2**32"
        )
    last_page = pages - 1
    bad = _check_badpages(badpages, last_page, page_size)
    if len(bad) > pages - MIN_PAGES:
        raise ConfigError(f"{name}: {len(bad)} bad pages leave fewer than {MIN_PAGES} good pages")
    header_page = pack_header(
        page_size=page_size, last_page=last_page, uuid=new_uuid, label=label, badpages=bad
    )
    return nbytes, last_page, bad, header_page


def _format_fd(opened: Opened, plan: _Plan, page_size: int, force: bool) -> None:
    fd, name = opened.fd, opened.name
    nbytes, _last_page, _bad, header_page = plan
    old_size = opened.st.st_size
    head = b""
    foreign: tuple[ForeignSignature, ...] = ()
    probed: dict[str, str] | None = None
    try:
        if not opened.created:
            mode = insecure_mode(opened.st)
            if mode is not None:
                warnings.warn(
                    f"{name}: insecure permissions {mode:04o}, fix with: chmod 0600 {name}",
                    SwapHeaderWarning,
                    stacklevel=3,
                )
            head = os.pread(fd, _SIGNATURE_SPAN, 0)
            foreign = foreign_signatures(head)
            probed = blkid_probe(fd)
            found = _what_is_there(fd, old_size, head, foreign, probed)
            if found is not None and not force:
                raise SignatureExistsError(f"{name}: {found}; use force=True to overwrite it")
        try:
            _allocate(fd, old_size, nbytes)
        except OSError as exc:
            if not opened.created and os.fstat(fd).st_size != old_size:
                os.ftruncate(fd, old_size)  # a partial reservation must not grow the file
            raise DeviceIOError(
                exc.errno,
                f"cannot reserve {nbytes} bytes for the swap area: {exc.strerror}; nothing written",
                name,
            ) from exc
        if probed and _blkid_foreign(probed):
            _wipefs(fd)  # signatures blkid knows of and foreign_signatures() does not
        for sig in foreign:
            if sig.offset >= page_size:
                os.pwrite(fd, bytes(sig.length), sig.offset)
        for size_ in PAGE_SIZES:
            off = size_ - MAGIC_LEN
            if size_ > page_size and head[off : off + MAGIC_LEN] in (SWAP_MAGIC, SWAP_MAGIC_V0):
                os.pwrite(fd, bytes(MAGIC_LEN), off)
        _pwrite_all(fd, header_page, 0)
        if _has_holes(fd, nbytes):
            warnings.warn(
                f"{name}: contains holes; the kernel rejects such a swap file at swapon",
                SwapHeaderWarning,
                stacklevel=3,
            )
        os.fsync(fd)
    except OSError as exc:
        if isinstance(exc, DeviceIOError):
            raise
        raise DeviceIOError(exc.errno, f"cannot write swap header: {exc.strerror}", name) from exc


def _blkid_foreign(probed: dict[str, str]) -> list[str]:
    """What blkid found that is not swap: ``TYPE=ext4 (filesystem)``, ``PTTYPE=gpt``."""
    found = []
    kind = probed.get("TYPE")
    if kind is not None and kind != "swap":
        usage = probed.get("USAGE")
        found.append(f"TYPE={kind}" + (f" ({usage})" if usage else ""))
    if "PTTYPE" in probed:
        found.append(f"PTTYPE={probed['PTTYPE']} (partition table)")
    return found


def _what_is_there(
    fd: int,
    size: int,
    head: bytes,
    foreign: Sequence[ForeignSignature],
    probed: dict[str, str] | None,
) -> str | None:
    """Why an existing file must not be overwritten without force, or None.

    None for a swap area (a v1 or v0 magic at some page size, or blkid's
    TYPE=swap) and for a file with nothing to lose (empty or all zeros).
    """
    parts = [f"{sig.kind} at offset {sig.offset}" for sig in foreign]
    parts += [f"blkid: {what}" for what in _blkid_foreign(probed or {})]
    if parts:
        return f"holds another signature ({'; '.join(parts)})"
    is_swap = any(
        head[size_ - MAGIC_LEN : size_] in (SWAP_MAGIC, SWAP_MAGIC_V0) for size_ in PAGE_SIZES
    )
    if is_swap or (probed or {}).get("TYPE") == "swap":
        return None
    offset = first_data(fd, size)
    if offset is None:
        return None
    sample = os.pread(fd, 32, offset)
    shown = "".join(chr(b) if 32 <= b < 127 else "." for b in sample)
    return (
        f"is not a swap area: it holds {size} bytes of data and no swap signature "
        f"(first data at offset {offset}: {shown!r})"
    )


def _wipefs(fd: int) -> None:
    """``wipefs --all`` on the open file, where util-linux is installed (force only)."""
    import contextlib
    import shutil
    import subprocess

    wipefs = shutil.which("wipefs")
    if wipefs is None:
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [wipefs, "--all", "--force", "--quiet", f"/dev/fd/{fd}"],
            pass_fds=(fd,),
            capture_output=True,
            timeout=30,
            check=False,
        )


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _allocate(fd: int, old_size: int, new_size: int) -> None:
    """Make ``[0, new_size)`` allocated: fill holes and grow the file with zeros.

    ``posix_fallocate`` leaves existing data alone and allocates zero blocks
    for holes and the extension (no holes, as the kernel needs for a swap
    file). Where it is unsupported the extension is written with zeros.
    A file system without room raises (ENOSPC) before any data is written.
    """
    try:
        os.posix_fallocate(fd, 0, new_size)
        return
    except AttributeError:  # not on this platform
        pass
    except OSError as exc:
        # Only "cannot fallocate here" falls back; ENOSPC, EFBIG, EIO are answers.
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    chunk = bytes(1 << 20)
    offset = old_size
    while offset < new_size:
        step = min(len(chunk), new_size - offset)
        _pwrite_all(fd, chunk[:step], offset)
        offset += step


def _has_holes(fd: int, nbytes: int) -> bool:
    """Heuristic: fewer blocks allocated than the area spans (SEEK_HOLE would
    also report fallocated, unwritten extents as holes on ext4)."""
    st = os.fstat(fd)
    block = getattr(st, "st_blksize", 4096) or 4096
    return st.st_blocks * 512 < min(nbytes, st.st_size) // block * block


# --------------------------------------------------------------------------- inspect


def describe(header: SwapHeader) -> dict[str, object]:
    """The fields ``swapops inspect`` prints, in order.

    "Size" is the area the header describes (``nr_pages * page_size``);
    "Usable pages" is the kernel's ``si->pages`` (page 0 and bad pages excluded).
    """
    return {
        "Version": header.version,
        "Page size": header.page_size,
        "Last page": header.last_page,
        "Size": header.size_bytes,
        "Usable pages": header.usable_pages,
        "Bad pages": header.nr_badpages,
        "Bad page list": list(header.badpages),
        "UUID": str(header.uuid),
        "LABEL": header.label,
        "Byte order": f"{header.byteorder} endian"
        + (" (byte-swapped)" if header.byteswapped else ""),
    }
