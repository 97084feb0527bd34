"""Interop with util-linux, both directions, on plain files (never swapon).

our writer -> blkid / swaplabel / file; our bytes == mkswap's bytes;
mkswap / swaplabel -> our reader; a big-endian header -> blkid and us.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
import warnings
from pathlib import Path

import pytest

from swapops.errors import InvalidSizeError, InvalidSwapHeaderError, SignatureExistsError
from swapops.header import format_swapfile, pack_header, read_header

pytestmark = pytest.mark.skipif(shutil.which("mkswap") is None, reason="util-linux mkswap missing")

U = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")
U2 = uuid.UUID("99999999-8888-7777-6666-555555555555")


def run(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(str(args[0]))
    if tool is None:
        pytest.skip(f"{args[0]} not installed")
    proc = subprocess.run(
        [tool, *map(str, args[1:])], capture_output=True, text=True, timeout=30, check=False
    )
    if ok:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def blkid(path: Path) -> dict[str, str]:
    proc = run("blkid", "-p", "-o", "export", path, ok=False)
    if proc.returncode != 0:
        return {}
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def zero_file(path: Path, size: int) -> Path:
    """A non-sparse, zero-filled, 0600 file (what `head -c N /dev/zero` gives)."""
    with open(path, "wb") as fh:
        fh.write(bytes(size))
    path.chmod(0o600)
    return path


# --------------------------------------------------------------------------- ours -> util-linux


@pytest.mark.parametrize(
    ("page_size", "label", "badpages"),
    [(4096, "mylabel", ()), (8192, "", (2, 9)), (65536, "x" * 15, (15,))],
)
def test_blkid_swaplabel_file_read_ours(
    tmp_path: Path, page_size: int, label: str, badpages: tuple[int, ...]
) -> None:
    path = tmp_path / "ours.img"
    header = format_swapfile(
        path, size=16 * page_size, page_size=page_size, label=label, uuid=U, badpages=badpages
    )
    info = blkid(path)
    assert info["TYPE"] == "swap"
    assert info["VERSION"] == "1"
    assert info["UUID"] == str(U)
    assert info.get("LABEL", "") == label

    out = run("swaplabel", path).stdout
    assert f"UUID:  {U}" in out
    assert (f"LABEL: {label}" in out) == bool(label)

    desc = run("file", "-b", path).stdout.strip()
    assert desc == (
        f"Linux swap file, {page_size // 1024}k page size, little endian, version 1, "
        f"size {header.last_page} pages, {len(badpages)} bad pages, "
        f"{'LABEL=' + label if label else 'no label'}, UUID={U}"
    )


@pytest.mark.parametrize(
    ("page_size", "size", "label"),
    [
        (4096, 1 << 20, "mylabel"),
        (4096, 40960, ""),  # the 10-page minimum
        (4096, 300 * 1024 + 123, "odd-size"),  # not a page multiple
        (16384, 1 << 20, "sixteen"),
        (65536, 1 << 20, "big-pages"),
        (65536, 655360, "abcdefghijklmnopqrs"),  # both truncate to 15 bytes
    ],
)
def test_byte_identical_to_mkswap(tmp_path: Path, page_size: int, size: int, label: str) -> None:
    ref = zero_file(tmp_path / "ref.img", size)
    ours = zero_file(tmp_path / "ours.img", size)
    args: list[str | Path] = ["mkswap", "-q", "-p", str(page_size), "-U", str(U)]
    if label:
        args += ["-L", label]
    run(*args, ref)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        format_swapfile(ours, page_size=page_size, label=label, uuid=U)
    assert [str(w.message).startswith("Label was truncated") for w in caught] == (
        [True] if len(label) > 15 else []
    )
    assert run("cmp", ref, ours, ok=False).returncode == 0
    assert ref.read_bytes() == ours.read_bytes()


def test_created_file_satisfies_mkswap(tmp_path: Path) -> None:
    """A file we create is 0600 and hole-free: mkswap raises no warning on it."""
    path = tmp_path / "created.img"
    format_swapfile(path, size="2M", uuid=U)
    assert path.stat().st_mode & 0o777 == 0o600
    proc = run("mkswap", "-U", str(U2), path)
    assert "insecure permissions" not in proc.stderr
    assert "holes" not in proc.stderr
    assert read_header(path).uuid == U2


def test_mkswap_warns_where_we_warn(tmp_path: Path) -> None:
    path = zero_file(tmp_path / "perm.img", 40960)
    path.chmod(0o644)
    assert "insecure permissions 0644" in run("mkswap", path).stderr
    with pytest.warns(UserWarning, match="insecure permissions 0644"):
        format_swapfile(path)


# --------------------------------------------------------------------------- util-linux -> ours


@pytest.mark.parametrize("page_size", [4096, 65536])
def test_we_read_mkswap(tmp_path: Path, page_size: int) -> None:
    path = zero_file(tmp_path / "mk.img", 2 << 20)
    run("mkswap", "-q", "-p", str(page_size), "-L", "mylabel", "-U", str(U), path)
    header = read_header(path)
    assert header.page_size == page_size
    assert (header.label, header.uuid, header.version) == ("mylabel", U, 1)
    assert header.last_page == (2 << 20) // page_size - 1
    assert header.badpages == () and not header.byteswapped
    assert header.usable_pages == header.last_page


def test_we_read_mkswap_explicit_size_in_kib(tmp_path: Path) -> None:
    path = zero_file(tmp_path / "kib.img", 1 << 20)
    run("mkswap", "-q", "-U", str(U), path, "512")  # 512 KiB of a 1 MiB file
    header = read_header(path)
    assert header.last_page == 512 * 1024 // 4096 - 1 == 127
    assert header.size_bytes == 512 * 1024
    # and our formatter agrees on what "size" means
    ours = zero_file(tmp_path / "ours.img", 1 << 20)
    format_swapfile(ours, size="512K", uuid=U)
    assert ours.read_bytes() == path.read_bytes()


def test_we_see_swaplabel_edits(tmp_path: Path) -> None:
    path = zero_file(tmp_path / "edit.img", 1 << 20)
    run("mkswap", "-q", "-L", "mylabel", "-U", str(U), path)
    run("swaplabel", "-L", "newlab", "-U", str(U2), path)
    header = read_header(path)
    assert (header.label, header.uuid) == ("newlab", U2)
    # and on a file we wrote
    ours = tmp_path / "ours.img"
    format_swapfile(ours, size="1M", label="before", uuid=U)
    run("swaplabel", "-L", "after", ours)
    assert read_header(ours).label == "after"
    assert read_header(ours).uuid == U


def test_truncated_mkswap_file_refused(tmp_path: Path) -> None:
    """blkid does not check last_page against the size; the kernel and we do."""
    path = zero_file(tmp_path / "cut.img", 1 << 20)
    run("mkswap", "-q", path)
    with open(path, "r+b") as fh:
        fh.truncate(512 * 1024)
    assert blkid(path)["TYPE"] == "swap"
    with pytest.raises(InvalidSwapHeaderError, match="shorter than the header says"):
        read_header(path)


# --------------------------------------------------------------------------- crafted headers


def test_big_endian_header(tmp_path: Path) -> None:
    path = tmp_path / "be.img"
    page = pack_header(
        page_size=4096, last_page=255, uuid=U, label="be", badpages=(3,), byteorder="big"
    )
    path.write_bytes(page + bytes(255 * 4096))
    info = blkid(path)
    assert (info["TYPE"], info["UUID"], info["LABEL"]) == ("swap", str(U), "be")
    assert "LABEL: be" in run("swaplabel", path).stdout
    assert "big endian" in run("file", "-b", path).stdout
    header = read_header(path)
    assert header.byteswapped and header.byteorder == "big"
    assert (header.last_page, header.badpages, header.label, header.uuid) == (255, (3,), "be", U)


def test_padding_garbage_hides_ids_in_blkid_and_us(tmp_path: Path) -> None:
    path = tmp_path / "pad.img"
    page = bytearray(pack_header(page_size=4096, last_page=255, uuid=U, label="pad"))
    page[0x42C + 32 * 4] = 1  # padding[32]
    path.write_bytes(bytes(page) + bytes(255 * 4096))
    info = blkid(path)
    assert info["TYPE"] == "swap" and "UUID" not in info and "LABEL" not in info
    header = read_header(path)
    assert header.uuid.int == 0 and header.label == ""


@pytest.mark.parametrize(("offset", "value"), [(0x400, 2), (0x404, 0)])
def test_blkid_and_we_reject_bad_version_or_empty(tmp_path: Path, offset: int, value: int) -> None:
    path = tmp_path / "bad.img"
    page = bytearray(pack_header(page_size=4096, last_page=255, uuid=U))
    page[offset : offset + 4] = value.to_bytes(4, "little")
    path.write_bytes(bytes(page) + bytes(255 * 4096))
    assert blkid(path).get("TYPE") != "swap"
    assert run("swaplabel", path, ok=False).returncode != 0
    with pytest.raises(InvalidSwapHeaderError):
        read_header(path)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(("page_size", "minimum"), [(4096, 40960), (65536, 655360)])
def test_minimum_size_same_as_mkswap(tmp_path: Path, page_size: int, minimum: int) -> None:
    small = zero_file(tmp_path / "small.img", minimum - 1)
    proc = run("mkswap", "-q", "-p", str(page_size), small, ok=False)
    assert proc.returncode != 0 and f"at least {minimum // 1024} KiB" in proc.stderr
    with pytest.raises(InvalidSizeError, match=f"at least {minimum // 1024} KiB"):
        format_swapfile(small, page_size=page_size)
    exact = zero_file(tmp_path / "exact.img", minimum)
    run("mkswap", "-q", "-p", str(page_size), exact)
    assert read_header(exact).last_page == 9
    assert format_swapfile(exact, page_size=page_size).last_page == 9


def test_refuse_real_ext4_then_force(tmp_path: Path) -> None:
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 not installed")
    path = zero_file(tmp_path / "ext4.img", 4 << 20)
    run("mkfs.ext4", "-q", "-F", path)
    assert blkid(path)["TYPE"] == "ext4"
    with pytest.raises(SignatureExistsError, match="ext2/3/4"):
        format_swapfile(path)
    assert blkid(path)["TYPE"] == "ext4"
    format_swapfile(path, force=True, uuid=U)
    info = blkid(path)
    assert (info["TYPE"], info["UUID"]) == ("swap", str(U))
