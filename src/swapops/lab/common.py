"""What every part of the lab shares: the pinned kernel, the cache, the error type."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import SwapOpsError


class LabError(SwapOpsError):
    """The lab cannot do what was asked (missing tool, download failed, guest failed)."""


@dataclass(frozen=True)
class KernelPin:
    """A Debian kernel package: what ``apt-get download`` fetches."""

    package: str  # the binary package name
    version: str  # its Debian version
    release: str  # uname -r, the directory under lib/modules

    @property
    def spec(self) -> str:
        return f"{self.package}={self.version}"


#: The kernel the lab validates against (bookworm-security, generic amd64 flavour:
#: zswap built in, zsmalloc built in, lz4/zstd/virtio_blk modules). Its source is
#: Debian's linux-source-6.12 of the same version.
PINNED = KernelPin(
    package="linux-image-6.12.118+deb12-amd64-unsigned",
    version="6.12.118-1~deb12u1",
    release="6.12.118+deb12-amd64",
)

#: Debian packages the lab needs on the host (installed with apt where missing):
#: qemu for the guest, a static busybox for its userland, kmod's depmod for the
#: module dependencies, gcc and the static C library for the workload program;
#: cpio and xz-utils are what a person rebuilding the initramfs by hand uses
#: (the lab writes the archive and decompresses modules in Python).
APT_PACKAGES = ("qemu-system-x86", "busybox-static", "cpio", "kmod", "xz-utils", "gcc", "libc6-dev")


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/swapops/lab`` (default ``~/.cache/swapops/lab``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "swapops" / "lab"


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def lab_source(name: str) -> Path:
    """A file shipped in this package (``workload.c``, ``content.h``, ``init.sh``)."""
    return Path(__file__).with_name(name)


__all__ = ["LabError", "KernelPin", "PINNED", "APT_PACKAGES", "cache_dir", "sha256_file", "lab_source"]
