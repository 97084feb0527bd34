"""Where a swapfile's pages live: RAM (lazy) or a real file with a swap header."""

from __future__ import annotations

import errno
import os
import warnings

from swapops.constants import CLUSTER_MASK, CLUSTER_SHIFT, PAGE_SIZE
from swapops.contentref import ContentCache
from swapops.errors import ConfigError, DeviceIOError
from swapops.files import check_path, insecure_mode, open_file, remove_created
from swapops.header import SwapHeaderWarning, format_and_open, read_header_fd


class RamBacking:
    """Page contents by slot, one list of 512 references per touched cluster.

    A huge device costs nothing until used: clusters get their list on first
    write. A large folio's bytes object is referenced from each of its slots,
    so a write costs no copy and a read of the whole folio none either.

    In reference mode (:mod:`swapops.contentref`) an order-0 slot holds the
    page's content key (an int) instead of its bytes; ``content`` makes the
    bytes when a large read spans such slots.
    """

    __slots__ = ("_store", "content")

    def __init__(self) -> None:
        self._store: dict[int, list[bytes | int | None]] = {}
        self.content: ContentCache | None = None

    def write(self, offset: int, data: bytes | int, nr: int) -> None:
        ci = offset >> CLUSTER_SHIFT
        block = self._store.get(ci)
        if block is None:
            block = self._store[ci] = [None] * (1 << CLUSTER_SHIFT)
        i = offset & CLUSTER_MASK
        if nr == 1:
            block[i] = data
        else:
            block[i : i + nr] = [data] * nr

    def read(self, offset: int, nr: int) -> bytes | int:
        block = self._store.get(offset >> CLUSTER_SHIFT)
        i = offset & CLUSTER_MASK
        obj = block[i] if block is not None else None
        if obj is None:
            raise DeviceIOError(f"read of slot {offset} that holds no data")
        if isinstance(obj, int):
            if nr == 1:
                return obj
            return b"".join([self._page(offset + k) for k in range(nr)])
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
        if isinstance(obj, int):  # a content key, in a read of a larger folio
            if self.content is None:
                raise DeviceIOError(f"slot {offset} holds a content key and no content cache is bound")
            return self.content.page(obj)
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
    """Pages in a real file at ``offset * page_size`` (pread/pwrite).

    Opening follows the rules of :mod:`swapops.files`: the last path
    component must not be a symbolic link (``O_NOFOLLOW``; a dangling link is
    not created through), the descriptor must be a regular file (``fstat``),
    and a missing file is created ``O_CREAT | O_EXCL`` at mode 0600 and
    formatted when ``size`` is given. An existing file with group or other
    permissions draws swapon(8)'s warning (:class:`SwapHeaderWarning`), as does
    a file not owned by root when swapops runs as root. :attr:`header` is the
    file's validated swap header, read from the descriptor.
    """

    __slots__ = ("path", "fd", "page_size", "created", "header", "file_size", "_st")

    def __init__(
        self,
        path: object,
        page_size: int = PAGE_SIZE,
        *,
        size: int | None = None,
        label: str = "",
        uuid: str | None = None,
    ) -> None:
        name = check_path(path, "swapfile: path")
        self.path = name
        self.page_size = page_size
        self.fd = -1
        self.created = False
        try:
            opened = open_file(name, write=True, follow=False, what="swapfile")
        except DeviceIOError as exc:
            if exc.errno != errno.ENOENT:
                raise
            if size is None:
                raise ConfigError(f"swapfile: {name} does not exist; give size= to create it") from None
            # Creates with O_EXCL (never through a link), removes the file on its own
            # failure, and hands back the descriptor it formatted: no second open by path.
            opened, _header = format_and_open(name, size=size, label=label, uuid=uuid)
            self.created = opened.created
        self.fd = opened.fd
        self._st = opened.st
        try:
            if not self.created:
                _warn_like_swapon(name, opened.st)
            self.header = read_header_fd(self.fd, name)
            self.file_size = os.fstat(self.fd).st_size
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Close; remove the file if this backing created it (a swapon that failed)."""
        self.close()
        if self.created:
            remove_created(self.path, self._st)
            self.created = False

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


def _warn_like_swapon(name: str, st: os.stat_result) -> None:
    """swapon(8)'s checks of an existing swap file (util-linux ``swapon_checks``)."""
    mode = insecure_mode(st)
    if mode is not None:
        warnings.warn(
            f"swapfile: {name}: insecure permissions {mode:04o}, 0600 suggested "
            f"(fix with: chmod 0600 {name})",
            SwapHeaderWarning,
            stacklevel=2,
        )
    if os.geteuid() == 0 and st.st_uid != 0:
        warnings.warn(
            f"swapfile: {name}: insecure file owner {st.st_uid}, 0 (root) suggested",
            SwapHeaderWarning,
            stacklevel=2,
        )
