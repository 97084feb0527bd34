"""Where a swapfile's pages live: RAM (lazy) or a real file with a swap header."""

from __future__ import annotations

import os

from swapops.constants import CLUSTER_MASK, CLUSTER_SHIFT, PAGE_SIZE
from swapops.errors import DeviceIOError


class RamBacking:
    """Page contents by slot, one list of 512 references per touched cluster.

    A huge device costs nothing until used: clusters get their list on first
    write. A large folio's bytes object is referenced from each of its slots,
    so a write costs no copy and a read of the whole folio none either.
    """

    __slots__ = ("_store",)

    def __init__(self) -> None:
        self._store: dict[int, list[bytes | None]] = {}

    def write(self, offset: int, data: bytes, nr: int) -> None:
        ci = offset >> CLUSTER_SHIFT
        block = self._store.get(ci)
        if block is None:
            block = self._store[ci] = [None] * (1 << CLUSTER_SHIFT)
        i = offset & CLUSTER_MASK
        if nr == 1:
            block[i] = data
        else:
            block[i : i + nr] = [data] * nr

    def read(self, offset: int, nr: int) -> bytes:
        block = self._store.get(offset >> CLUSTER_SHIFT)
        i = offset & CLUSTER_MASK
        obj = block[i] if block is not None else None
        if obj is None:
            raise DeviceIOError(f"read of slot {offset} that holds no data")
        size = nr * PAGE_SIZE
        if len(obj) == size and (nr == 1 or block[i + nr - 1] is obj):  # type: ignore[index]
            return obj
        # A page of a larger folio, or a folio assembled from separate writes.
        parts = []
        for k in range(nr):
            parts.append(self._page(offset + k))
        return b"".join(parts)

    def _page(self, offset: int) -> bytes:
        block = self._store.get(offset >> CLUSTER_SHIFT)
        obj = block[offset & CLUSTER_MASK] if block is not None else None
        if obj is None:
            raise DeviceIOError(f"read of slot {offset} that holds no data")
        pages = len(obj) // PAGE_SIZE
        if pages == 1:
            return obj
        k = offset & (pages - 1)  # large folios are naturally aligned
        return obj[k * PAGE_SIZE : (k + 1) * PAGE_SIZE]

    def free(self, offset: int, nr: int) -> None:
        block = self._store.get(offset >> CLUSTER_SHIFT)
        if block is None:
            return
        i = offset & CLUSTER_MASK
        if nr == 1:
            block[i] = None
        else:
            block[i : i + nr] = [None] * nr

    def forget_cluster(self, ci: int) -> None:
        self._store.pop(ci, None)

    def close(self) -> None:
        self._store.clear()


class FileBacking:
    """Pages in a real file at ``offset * page_size`` (pread/pwrite)."""

    __slots__ = ("path", "fd", "page_size")

    def __init__(self, path: str, page_size: int = PAGE_SIZE) -> None:
        self.path = path
        self.page_size = page_size
        try:
            self.fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise DeviceIOError(f"cannot open swap file {path}: {exc.strerror}") from None

    def write(self, offset: int, data: bytes, nr: int) -> None:
        try:
            written = os.pwrite(self.fd, data, offset * self.page_size)
        except OSError as exc:
            raise DeviceIOError(f"{self.path}: write of slot {offset} failed: {exc.strerror}") from None
        if written != len(data):
            raise DeviceIOError(f"{self.path}: short write at slot {offset}")

    def read(self, offset: int, nr: int) -> bytes:
        size = nr * self.page_size
        try:
            data = os.pread(self.fd, size, offset * self.page_size)
        except OSError as exc:
            raise DeviceIOError(f"{self.path}: read of slot {offset} failed: {exc.strerror}") from None
        if len(data) != size:
            raise DeviceIOError(f"{self.path}: short read at slot {offset}")
        return data

    def free(self, offset: int, nr: int) -> None:
        return None

    def forget_cluster(self, ci: int) -> None:
        return None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
