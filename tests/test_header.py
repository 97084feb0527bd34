"""Unit tests for swapops.header: layout, validation, formatting."""

from __future__ import annotations

import os
import stat
import struct
import sys
import uuid
from pathlib import Path

import pytest

from swapops.errors import (
    ConfigError,
    DeviceIOError,
    InvalidSizeError,
    InvalidSwapHeaderError,
    SignatureExistsError,
    SwapOpsError,
)
from swapops.header import (
    HIBERNATION_MAGICS,
    MAX_BADPAGES,
    PAGE_SIZES,
    SWAP_MAGIC,
    SwapHeader,
    SwapHeaderWarning,
    describe,
    foreign_signatures,
    format_swapfile,
    max_badpages,
    pack_header,
    parse_header,
    read_header,
)

U = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")
NATIVE = "<" if sys.byteorder == "little" else ">"
FOREIGN = ">" if NATIVE == "<" else "<"


def raw_page(
    page_size: int = 4096,
    *,
    version: int = 1,
    last_page: int = 255,
    badpages: tuple[int, ...] = (),
    nr_badpages: int | None = None,
    magic: bytes = SWAP_MAGIC,
    order: str = NATIVE,
    label: bytes = b"",
) -> bytearray:
    """A header page built field by field, independently of pack_header."""
    page = bytearray(page_size)
    nr = len(badpages) if nr_badpages is None else nr_badpages
    page[1024:1036] = struct.pack(f"{order}III", version, last_page, nr)
    page[1036:1052] = U.bytes
    page[1052 : 1052 + len(label)] = label
    for i, bad in enumerate(badpages):
        page[1536 + 4 * i : 1540 + 4 * i] = struct.pack(f"{order}I", bad)
    page[page_size - 10 : page_size - 10 + len(magic)] = magic
    return page


# --------------------------------------------------------------------------- limits


def test_max_badpages_matches_kernel_formula() -> None:
    assert max_badpages(4096) == 637
    assert MAX_BADPAGES(4096) == 637
    assert max_badpages(65536) == (65536 - 10 - 1536) // 4 == 15997
    for size in PAGE_SIZES:
        # the last slot ends at or before the magic, one more would overlap it
        assert 1536 + 4 * max_badpages(size) <= size - 10 < 1536 + 4 * (max_badpages(size) + 1)


@pytest.mark.parametrize("bad", [0, 2048, 4095, 6000, 131072, True, "4096"])
def test_unsupported_page_size(bad: object) -> None:
    with pytest.raises(ConfigError):
        max_badpages(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        pack_header(page_size=bad, last_page=20, uuid=U)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- writer


@pytest.mark.parametrize("page_size", PAGE_SIZES)
def test_pack_layout_field_by_field(page_size: int) -> None:
    page = pack_header(
        page_size=page_size, last_page=999, uuid=U, label="swap-a", badpages=(5, 17, 999)
    )
    assert len(page) == page_size
    expected = raw_page(page_size, last_page=999, badpages=(5, 17, 999), label=b"swap-a")
    assert page == expected
    assert page[:1024] == bytes(1024)
    assert page[page_size - 10 :] == b"SWAPSPACE2"
    assert struct.unpack_from(f"{NATIVE}III", page, 0x400) == (1, 999, 3)
    assert page[0x40C:0x41C] == U.bytes
    assert page[0x41C:0x42C] == b"swap-a" + bytes(10)
    assert page[0x42C:0x600] == bytes(468)  # padding zero


def test_pack_foreign_byte_order() -> None:
    page = pack_header(page_size=4096, last_page=300, uuid=U, badpages=(9,), byteorder="big")
    assert struct.unpack_from(">IIII", page, 0x400) == (
        1,
        300,
        1,
        struct.unpack(">I", U.bytes[:4])[0],
    )
    assert struct.unpack_from(">I", page, 0x600) == (9,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"last_page": 0},
        {"last_page": -1},
        {"last_page": 2**32},
        {"uuid": str(U)},
        {"badpages": (0,)},
        {"badpages": (256,)},
        {"badpages": tuple(range(1, 639))},  # 638 > 637
        {"label": "a\0b"},
        {"label": "\ud800"},
        {"label": 5},
        {"byteorder": "middle"},
    ],
)
def test_pack_rejects(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"page_size": 4096, "last_page": 255, "uuid": U}
    args.update(kwargs)
    with pytest.raises(ConfigError):
        pack_header(**args)  # type: ignore[arg-type]


def test_pack_max_badpages_fit() -> None:
    bad = tuple(range(1, 638))
    header = parse_header(pack_header(page_size=4096, last_page=10_000, uuid=U, badpages=bad))
    assert header.badpages == bad
    assert header.usable_pages == 10_000 - 637


def test_label_truncated_like_mkswap() -> None:
    with pytest.warns(SwapHeaderWarning, match="truncated"):
        page = pack_header(page_size=4096, last_page=20, uuid=U, label="abcdefghijklmnopqrs")
    assert page[0x41C:0x42C] == b"abcdefghijklmno\0"
    # a multi-byte character is not split: 14 ASCII bytes + 'é' (2 bytes) -> 14 bytes kept
    with pytest.warns(SwapHeaderWarning):
        page = pack_header(page_size=4096, last_page=20, uuid=U, label="x" * 14 + "é")
    assert parse_header(page).label == "x" * 14
    exact = "é" * 7 + "x"  # 15 bytes: kept whole, no warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (
            parse_header(pack_header(page_size=4096, last_page=20, uuid=U, label=exact)).label
            == exact
        )


# --------------------------------------------------------------------------- reader


@pytest.mark.parametrize("page_size", PAGE_SIZES)
def test_round_trip_and_detection(page_size: int) -> None:
    page = pack_header(page_size=page_size, last_page=77, uuid=U, label="lbl", badpages=(3, 77))
    # detection also works when more than one page is handed in
    data = page + b"\xff" * 70000
    for header in (parse_header(data), parse_header(page, page_size=page_size)):
        assert header == SwapHeader(
            page_size=page_size,
            version=1,
            last_page=77,
            nr_badpages=2,
            uuid=U,
            label="lbl",
            badpages=(3, 77),
            byteswapped=False,
        )
        assert header.nr_pages == 78
        assert header.usable_pages == 78 - 1 - 2
        assert header.size_bytes == 78 * page_size


def test_explicit_page_size_mismatch() -> None:
    page = pack_header(page_size=8192, last_page=40, uuid=U)
    with pytest.raises(InvalidSwapHeaderError, match="SWAPSPACE2"):
        parse_header(page, page_size=4096)
    with pytest.raises(InvalidSwapHeaderError, match="too small"):
        parse_header(page, page_size=16384)


def test_byteswapped_header_is_swabbed() -> None:
    page = raw_page(order=FOREIGN, last_page=0x01020304, badpages=(7, 0x01020304))
    header = parse_header(page)
    assert header.byteswapped
    assert header.last_page == 0x01020304
    assert header.badpages == (7, 0x01020304)
    assert header.byteorder == ("big" if NATIVE == "<" else "little")
    assert str(describe(header)["Byte order"]).startswith(header.byteorder)


@pytest.mark.parametrize(
    ("page", "match"),
    [
        (raw_page(magic=b"SWAP-SPACE"), "v0"),
        (raw_page(version=2), "version 2"),
        (raw_page(version=0), "version 0"),
        (raw_page(last_page=0), "last_page is 0"),
        (raw_page(nr_badpages=638), "nr_badpages 638"),
        (raw_page(order=FOREIGN, nr_badpages=638), "nr_badpages 638"),
        (raw_page(badpages=(0,)), "bad page 0"),
        (raw_page(badpages=(256,)), "bad page 256"),
        (raw_page(last_page=2, badpages=(1, 2)), "no usable pages"),
        (raw_page(magic=b"SWAPSPACE3"), "no swap signature"),
        (bytearray(4096), "no swap signature"),
        (bytearray(100), "too small"),
        (bytearray(), "too small"),
    ],
)
def test_invalid_headers(page: bytearray, match: str) -> None:
    with pytest.raises(InvalidSwapHeaderError, match=match) as info:
        parse_header(bytes(page), name="/dev/fake")
    assert str(info.value).startswith("/dev/fake: ")
    assert isinstance(info.value, SwapOpsError)


@pytest.mark.parametrize("magic", HIBERNATION_MAGICS)
@pytest.mark.parametrize("page_size", [4096, 65536])
def test_hibernation_image(magic: bytes, page_size: int) -> None:
    with pytest.raises(InvalidSwapHeaderError, match="hibernation image"):
        parse_header(bytes(raw_page(page_size, magic=magic)))


def test_file_size_validation() -> None:
    page = bytes(raw_page(last_page=255))
    assert parse_header(page, file_size=256 * 4096).nr_pages == 256
    assert parse_header(page, file_size=300 * 4096 + 5).nr_pages == 256  # longer is fine
    with pytest.raises(InvalidSwapHeaderError, match="shorter than the header says"):
        parse_header(page, file_size=256 * 4096 - 1)
    with pytest.raises(InvalidSwapHeaderError, match="too small"):
        parse_header(page, file_size=4095)


def test_label_decoding_never_raises() -> None:
    assert parse_header(bytes(raw_page(label=b"\xff\xfeab"))).label == "\ufffd\ufffdab"
    # 16 bytes with no NUL: read all 16, as libblkid does
    assert parse_header(bytes(raw_page(label=b"0123456789abcdef"))).label == "0123456789abcdef"
    assert parse_header(bytes(raw_page(label=b"ab\0cd"))).label == "ab"


def test_padding_garbage_hides_uuid_and_label_like_blkid() -> None:
    page = raw_page(label=b"lab")
    page[0x42C + 5] = 1  # padding[1]: libblkid does not look there
    assert parse_header(bytes(page)).uuid == U
    page[0x42C + 33 * 4 + 3] = 0x80  # padding[33]
    header = parse_header(bytes(page))
    assert header.uuid == uuid.UUID(int=0)
    assert header.label == ""
    assert header.last_page == 255  # the kernel ignores padding: still a valid header


def test_kernel_page_accounting() -> None:
    # max = last_page + 1, capped at UINT_MAX (si->max is an unsigned int)
    huge = parse_header(bytes(raw_page(last_page=0xFFFFFFFF, badpages=(5, 0xFFFFFFFF))))
    assert huge.nr_pages == 0xFFFFFFFF
    assert huge.usable_pages == 0xFFFFFFFF - 1 - 1  # page 2**32-1 is beyond max: not counted
    dup = parse_header(bytes(raw_page(badpages=(9, 9, 10))))
    assert dup.nr_badpages == 3
    assert dup.usable_pages == 256 - 1 - 2


def test_parse_rejects_non_bytes() -> None:
    with pytest.raises(TypeError):
        parse_header("SWAPSPACE2")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        parse_header(bytes(4096), page_size=1000)
    assert parse_header(memoryview(raw_page())).last_page == 255
    assert parse_header(raw_page()).last_page == 255


def test_describe() -> None:
    header = parse_header(
        pack_header(page_size=4096, last_page=255, uuid=U, label="x", badpages=(4,))
    )
    assert describe(header) == {
        "Version": 1,
        "Page size": 4096,
        "Last page": 255,
        "Size": 256 * 4096,
        "Usable pages": 254,
        "Bad pages": 1,
        "Bad page list": [4],
        "UUID": str(U),
        "LABEL": "x",
        "Byte order": f"{sys.byteorder} endian",
    }


# --------------------------------------------------------------------------- files


def test_read_header_checks_file(tmp_path: Path) -> None:
    path = tmp_path / "swap.img"
    path.write_bytes(pack_header(page_size=4096, last_page=15, uuid=U) + bytes(15 * 4096))
    assert read_header(path).last_page == 15
    assert read_header(str(path), page_size=4096).uuid == U
    with open(path, "r+b") as fh:
        fh.truncate(15 * 4096)
    with pytest.raises(InvalidSwapHeaderError, match=f"{path}: swap area shorter"):
        read_header(path)
    short = tmp_path / "short.img"
    short.write_bytes(b"\0" * 100)
    with pytest.raises(InvalidSwapHeaderError, match=f"{short}: too small"):
        read_header(short)
    with pytest.raises(DeviceIOError) as info:
        read_header(tmp_path / "missing.img")
    assert isinstance(info.value, OSError) and info.value.errno == 2


def test_format_new_file(tmp_path: Path) -> None:
    path = tmp_path / "new.img"
    old = os.umask(0)
    try:
        header = format_swapfile(path, size="1M", label="new", uuid=str(U), badpages=(3,))
    finally:
        os.umask(old)
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_size == 1 << 20
    assert st.st_blocks * 512 >= st.st_size  # allocated, no holes
    assert header == read_header(path)
    assert (header.last_page, header.label, header.uuid, header.badpages) == (255, "new", U, (3,))
    data = path.read_bytes()
    assert data[:4096] == pack_header(
        page_size=4096, last_page=255, uuid=U, label="new", badpages=(3,)
    )
    assert data[4096:] == bytes((1 << 20) - 4096)


def test_format_uuid_choices(tmp_path: Path) -> None:
    path = tmp_path / "u.img"
    a = format_swapfile(path, size=40960)
    b = format_swapfile(path, uuid="random")
    assert a.uuid.version == 4 and b.uuid.version == 4 and a.uuid != b.uuid
    assert format_swapfile(path, uuid="clear").uuid.int == 0
    assert format_swapfile(path, uuid=U).uuid == U
    with pytest.raises(ConfigError, match="invalid UUID"):
        format_swapfile(path, uuid="not-a-uuid")
    assert read_header(path).uuid == U  # the failed call touched nothing


def test_format_reuses_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "old.img"
    path.write_bytes(b"\xaa" * (64 * 4096))
    path.chmod(0o600)
    with pytest.raises(SignatureExistsError, match=r"not a swap area: .*first data at offset 0: '\.\.\.\."):
        format_swapfile(path)  # data that is not swap: refused without force
    assert path.read_bytes() == b"\xaa" * (64 * 4096)
    header = format_swapfile(path, force=True)  # size None = file size
    assert header.last_page == 63
    data = path.read_bytes()
    assert data[:4096] == pack_header(page_size=4096, last_page=63, uuid=header.uuid)
    assert data[4096:] == b"\xaa" * (63 * 4096)  # like mkswap: only the first page is written
    # explicit smaller size: the tail stays, the header describes the smaller area
    assert format_swapfile(path, size="128K").last_page == 31
    assert path.stat().st_size == 64 * 4096
    # larger size: the file grows with zeros
    assert format_swapfile(path, size="512K").last_page == 127
    assert path.read_bytes()[64 * 4096 :] == bytes(64 * 4096)


def test_format_fills_holes(tmp_path: Path) -> None:
    path = tmp_path / "sparse.img"
    with open(path, "wb") as fh:
        fh.truncate(1 << 20)
    path.chmod(0o600)
    format_swapfile(path)
    st = path.stat()
    assert st.st_blocks * 512 >= st.st_size


def test_format_warns_on_permissions(tmp_path: Path) -> None:
    path = tmp_path / "perm.img"
    path.write_bytes(bytes(40960))
    path.chmod(0o644)
    with pytest.warns(SwapHeaderWarning, match="insecure permissions 0644"):
        format_swapfile(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize(("page_size", "minimum"), [(4096, 40960), (65536, 655360)])
def test_format_minimum_ten_pages(tmp_path: Path, page_size: int, minimum: int) -> None:
    path = tmp_path / "small.img"
    with pytest.raises(InvalidSizeError, match=f"at least {minimum // 1024} KiB"):
        format_swapfile(path, size=minimum - 1, page_size=page_size)
    assert not path.exists()
    assert format_swapfile(path, size=minimum, page_size=page_size).last_page == 9


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, ConfigError),  # new file, no size
        ({"size": "17T"}, InvalidSizeError),  # 2**32 + pages at 4 KiB
        ({"size": "1M", "page_size": 3000}, ConfigError),
        ({"size": "1M", "badpages": (0,)}, ConfigError),
        ({"size": 40960, "badpages": (1,)}, ConfigError),  # would leave 9 good pages
        ({"size": "bogus"}, InvalidSizeError),
        ({"size": "1M", "label": "a\0"}, ConfigError),
    ],
)
def test_format_validates_before_touching(
    tmp_path: Path, kwargs: dict[str, object], error: type[Exception]
) -> None:
    path = tmp_path / "nope.img"
    with pytest.raises(error):
        format_swapfile(path, **kwargs)  # type: ignore[arg-type]
    assert not path.exists()


def test_format_rejects_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        format_swapfile(tmp_path, size="1M")


def _image(tmp_path: Path, writes: dict[int, bytes], size: int = 128 * 1024) -> Path:
    path = tmp_path / "img"
    data = bytearray(size)
    for offset, blob in writes.items():
        data[offset : offset + len(blob)] = blob
    path.write_bytes(bytes(data))
    path.chmod(0o600)
    return path


def _mbr() -> dict[int, bytes]:
    entry = (
        bytes([0x80, 0, 0, 0, 0x83, 0, 0, 0])
        + (2048).to_bytes(4, "little")
        + (100).to_bytes(4, "little")
    )
    return {446: entry, 510: b"\x55\xaa"}


@pytest.mark.parametrize(
    ("writes", "kind"),
    [
        ({1080: b"\x53\xef"}, "ext2/3/4"),
        ({0: b"XFSB"}, "xfs"),
        ({65600: b"_BHRfS_M"}, "btrfs"),
        ({0: b"LUKS\xba\xbe"}, "crypto_LUKS"),
        ({4086: b"S1SUSPEND"}, "S1SUSPEND"),
        ({65526: b"LINHIB0001"}, "LINHIB0001"),
        ({8182: b"ULSUSPEND"}, "ULSUSPEND"),
        ({32769: b"CD001"}, "iso9660"),
        ({0: b"hsqs"}, "squashfs"),
        ({536: b"LVM2 001"}, "LVM2"),
        ({512: b"EFI PART"}, "gpt"),
        (_mbr(), "dos partition table"),
    ],
)
def test_format_refuses_foreign_signature(
    tmp_path: Path, writes: dict[int, bytes], kind: str
) -> None:
    path = _image(tmp_path, writes)
    before = path.read_bytes()
    assert any(kind in sig.kind for sig in foreign_signatures(before))
    with pytest.raises(SignatureExistsError, match=kind):
        format_swapfile(path)
    assert path.read_bytes() == before
    header = format_swapfile(path, force=True)
    after = path.read_bytes()
    assert foreign_signatures(after) == ()
    assert read_header(path) == header


def test_mbr_boot_signature_alone_is_not_a_partition_table(tmp_path: Path) -> None:
    path = _image(tmp_path, {510: b"\x55\xaa"})
    assert foreign_signatures(path.read_bytes()) == ()
    # Not a partition table to our checks, but data that is not swap either
    # (blkid, where installed, even calls it an empty DOS table): refused.
    with pytest.raises(SignatureExistsError, match="not a swap area|blkid: PTTYPE=dos"):
        format_swapfile(path)
    format_swapfile(path, force=True)


def test_reformat_swap_is_fine_and_clears_stale_magic(tmp_path: Path) -> None:
    path = tmp_path / "swap.img"
    format_swapfile(path, size="1M", page_size=65536, label="big")
    format_swapfile(path, page_size=4096, label="small")  # no force needed
    data = path.read_bytes()
    assert data[65526:65536] == bytes(10)  # the 64 KiB magic is gone
    header = read_header(path)
    assert (header.page_size, header.label) == (4096, "small")
