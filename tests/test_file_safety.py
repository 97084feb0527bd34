"""Files are safe: ``swapops format``, ``inspect`` and ``swapfile:path=`` against hostile paths.

Each case of issue 18 (a non-swap file, another signature, a symbolic link,
a dangling one, a FIFO, a full file system) ends with exit 2 and a one-line
reason at the command line, a :class:`~swapops.errors.SwapOpsError` in
Python, and no file changed or left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import swapops
from swapops import files
from swapops.cli import main
from swapops.errors import ConfigError, DeviceIOError, SwapOpsError
from swapops.header import SwapHeaderWarning, format_swapfile, pack_header, read_header

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def one_line_error(res: Result, needle: str) -> None:
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stdout + res.stderr
    assert res.stderr.startswith("swapops: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert needle in res.stderr, res.stderr


def snapshot(directory: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every entry of ``directory``: its mode and content (a link: its target)."""
    out: dict[str, tuple[int, bytes | str]] = {}
    for entry in sorted(directory.iterdir()):
        st = entry.lstat()
        if stat.S_ISLNK(st.st_mode):
            out[entry.name] = (st.st_mode, os.readlink(entry))
        elif stat.S_ISREG(st.st_mode):
            out[entry.name] = (st.st_mode, entry.read_bytes())
        else:
            out[entry.name] = (st.st_mode, "")
    return out


def swap_image(path: Path, pages: int = 16) -> None:
    import uuid

    path.write_bytes(pack_header(page_size=4096, last_page=pages - 1, uuid=uuid.uuid4()) + bytes(4096 * (pages - 1)))
    path.chmod(0o600)


# --------------------------------------------------------------------------- format: refused


def test_format_refuses_a_file_that_is_not_swap(tmp_path: Path) -> None:
    victim = tmp_path / "p"
    shutil.copyfile("/etc/passwd", victim)
    before = snapshot(tmp_path)
    res = invoke("format", str(victim), "--size", "1M")
    one_line_error(res, "is not a swap area")
    assert "--force" in res.stderr and "force=True" not in res.stderr
    assert snapshot(tmp_path) == before


def test_format_says_which_signature(tmp_path: Path) -> None:
    image = tmp_path / "fs.img"
    data = bytearray(1 << 20)
    data[1080:1082] = b"\x53\xef"  # ext2/3/4 superblock magic
    image.write_bytes(bytes(data))
    before = snapshot(tmp_path)
    one_line_error(invoke("format", str(image)), "ext2/3/4 at offset 1080")
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(shutil.which("mkfs.ext4") is None, reason="needs e2fsprogs")
def test_format_refuses_a_real_ext4_image(tmp_path: Path) -> None:
    image = tmp_path / "ext4.img"
    with open(image, "wb") as f:
        f.truncate(4 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    before = snapshot(tmp_path)
    one_line_error(invoke("format", str(image)), "ext2/3/4")
    assert snapshot(tmp_path) == before


def test_force_overwrites_a_non_swap_file(tmp_path: Path) -> None:
    victim = tmp_path / "p"
    victim.write_bytes(b"data" * 20000)
    victim.chmod(0o600)
    res = invoke("format", str(victim), "--force")
    assert res.exit_code == 0, res.stderr
    assert read_header(victim).nr_pages == 80000 // 4096


def test_format_of_a_swap_area_or_zeros_needs_no_force(tmp_path: Path) -> None:
    area = tmp_path / "swap.img"
    swap_image(area)
    assert invoke("format", str(area)).exit_code == 0
    zeros = tmp_path / "zeros.img"
    zeros.write_bytes(bytes(1 << 20))
    zeros.chmod(0o600)
    assert invoke("format", str(zeros)).exit_code == 0
    assert read_header(zeros).nr_pages == 256


@pytest.mark.parametrize("target_exists", [True, False], ids=["link", "dangling-link"])
def test_format_refuses_symlinks(tmp_path: Path, target_exists: bool) -> None:
    target = tmp_path / "victim.txt"
    if target_exists:
        target.write_text("precious\n")
    (tmp_path / "link").symlink_to("victim.txt")
    before = snapshot(tmp_path)
    for args in (["--size", "1M"], [], ["--size", "1M", "--force"]):
        one_line_error(invoke("format", str(tmp_path / "link"), *args), "is a symbolic link")
    assert snapshot(tmp_path) == before  # the target is neither written nor created


def test_format_refuses_a_fifo_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    before = snapshot(tmp_path)
    for args in ([], ["--size", "1M"], ["--force"]):
        one_line_error(invoke("format", str(fifo), *args), "is a FIFO")
    assert snapshot(tmp_path) == before


def test_format_refuses_a_directory_and_a_device(tmp_path: Path) -> None:
    one_line_error(invoke("format", "/dev/null", "--size", "1M"), "character device")
    with pytest.raises(ConfigError, match="directory"):
        format_swapfile(tmp_path, size="1M")


# --------------------------------------------------------------------------- format: out of space


def _fake_enospc(fd: int, offset: int, length: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_new_file_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "posix_fallocate", _fake_enospc)
    res = invoke("format", str(tmp_path / "new.img"), "--size", "1M")
    one_line_error(res, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_full_disk_existing_file_keeps_size_and_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    area = tmp_path / "swap.img"
    swap_image(area, pages=16)
    before = snapshot(tmp_path)
    real = os.posix_fallocate

    def partial(fd: int, offset: int, length: int) -> None:
        real(fd, offset, length // 2)  # a reservation that got halfway: the file grew
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", partial)
    one_line_error(invoke("format", str(area), "--size", "1M"), "No space left on device")
    assert snapshot(tmp_path) == before


@contextlib.contextmanager
def small_tmpfs(tmp_path: Path, size: str) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a tmpfs needs root")
def test_full_disk_for_real_on_a_small_tmpfs(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path, "1M") as mnt:
        one_line_error(invoke("format", str(mnt / "big.img"), "--size", "4M"), "No space left on device")
        assert list(mnt.iterdir()) == []
        area = mnt / "small.img"  # an existing swap area asked to grow past the room
        swap_image(area, pages=16)
        before = snapshot(mnt)
        one_line_error(invoke("format", str(area), "--size", "4M"), "No space left on device")
        assert snapshot(mnt) == before
        # swapfile:path= creating a file too large: nothing left either
        with pytest.raises(DeviceIOError, match="No space left"):
            swapops.SwapSystem().swapon("swapfile", path=mnt / "new.img", size="4M")
        assert sorted(p.name for p in mnt.iterdir()) == ["small.img"]


# --------------------------------------------------------------------------- inspect


def test_inspect_a_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    # In a subprocess with a timeout: a regression would block in open(2) forever.
    proc = subprocess.run([sys.executable, "-m", "swapops.cli", "inspect", str(fifo)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"swapops: error: {fifo}: is a FIFO (named pipe), not a regular file or a block device"


def test_read_header_refuses_a_fifo_with_a_writer(tmp_path: Path) -> None:
    """Even a FIFO someone is writing to is refused before any read."""
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    holder = threading.Thread(target=lambda: open(fifo, "wb").close(), daemon=True)
    holder.start()
    with pytest.raises(ConfigError, match="FIFO"):
        read_header(fifo)
    with open(fifo, "rb"):  # release the writer thread
        pass
    holder.join(10)


def test_inspect_follows_a_link_to_a_swap_area(tmp_path: Path) -> None:
    """inspect only reads: a link to a swap file is fine (as blkid reads through one)."""
    swap_image(tmp_path / "swap.img")
    (tmp_path / "link").symlink_to("swap.img")
    assert invoke("inspect", str(tmp_path / "link")).exit_code == 0


# --------------------------------------------------------------------------- swapfile:path=


def test_path_refuses_a_link_and_does_not_create_through_a_dangling_one(tmp_path: Path) -> None:
    swap_image(tmp_path / "swap.img")
    (tmp_path / "link").symlink_to("swap.img")
    (tmp_path / "dangling").symlink_to("elsewhere.img")
    before = snapshot(tmp_path)
    system = swapops.SwapSystem()
    with pytest.raises(ConfigError, match="is a symbolic link"):
        system.swapon("swapfile", path=tmp_path / "link")
    with pytest.raises(ConfigError, match="which does not exist"):
        system.swapon("swapfile", path=tmp_path / "dangling", size="1M")
    assert snapshot(tmp_path) == before
    one_line_error(invoke("run", f"swapfile:path={tmp_path / 'dangling'},size=1M", "--events", "10"),
                   "is a symbolic link")
    assert snapshot(tmp_path) == before


def test_path_refuses_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f")
    with pytest.raises(ConfigError, match="FIFO"):
        swapops.SwapSystem().swapon("swapfile", path=tmp_path / "f")


def test_path_creates_0600_exclusively(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        swapops.SwapSystem().swapon("swapfile", path=tmp_path / "new.img", size="1M")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.img").stat().st_mode) == 0o600


def test_path_warns_on_loose_permissions_like_swapon(tmp_path: Path) -> None:
    area = tmp_path / "swap.img"
    swap_image(area)
    area.chmod(0o644)
    with pytest.warns(SwapHeaderWarning, match="insecure permissions 0644, 0600 suggested"):
        swapops.SwapSystem().swapon("swapfile", path=area)
    area.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SwapHeaderWarning)
        swapops.SwapSystem().swapon("swapfile", path=area)
    area.chmod(0o644)
    res = invoke("run", f"swapfile:path={area}", "--swap", "64K", "--ram", "1M", "--events", "200", "--json", "-q")
    assert res.exit_code == 0, res.stderr
    assert "swapops: warning: swapfile: " in res.stderr and "insecure permissions 0644" in res.stderr


def test_a_file_created_by_a_failed_swapon_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from swapops_swapfile import backing

    def broken(fd: int, name: str, **_: object) -> object:
        raise DeviceIOError(errno.EIO, "cannot read swap header: Input/output error", name)

    monkeypatch.setattr(backing, "read_header_fd", broken)
    with pytest.raises(DeviceIOError, match="Input/output error"):
        swapops.SwapSystem().swapon("swapfile", path=tmp_path / "new.img", size="1M")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_kept_when_swapon_fails(tmp_path: Path) -> None:
    area = tmp_path / "swap.img"
    swap_image(area)
    before = snapshot(tmp_path)
    with pytest.raises(SwapOpsError):
        swapops.SwapSystem().swapon("swapfile", path=area, size="1M")  # conflicts with the header
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- swapops.files


@pytest.mark.parametrize("bad", [123, b"name", "", "a\0b", None, 1.5, ["x"]])
def test_check_path_refuses(bad: object) -> None:
    with pytest.raises(ConfigError):
        files.check_path(bad)


def test_remove_created_leaves_a_replaced_file(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"mine")
    st = path.stat()
    path.rename(tmp_path / "moved")  # still alive: its inode cannot be reused
    path.write_bytes(b"someone else's")  # another file at the same name
    files.remove_created(str(path), st)
    assert path.read_bytes() == b"someone else's"
    files.remove_created(str(tmp_path / "moved"), st)
    assert not (tmp_path / "moved").exists()


def test_open_file_exclusive_create_never_takes_an_existing_file(tmp_path: Path) -> None:
    opened = files.open_file(tmp_path / "new", write=True, create=True, follow=False)
    try:
        assert opened.created and stat.S_IMODE(opened.st.st_mode) == 0o600
    finally:
        opened.close()
    again = files.open_file(tmp_path / "new", write=True, create=True, follow=False)
    try:
        assert not again.created
    finally:
        again.close()
