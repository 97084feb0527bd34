"""One exception hierarchy for everything swapops reports.

Every error a user can provoke (bad input, full device, corrupt header, failed
I/O) is a :class:`SwapOpsError`, so a script or the CLI can catch one type and
print one line. Each subclass is named for what went wrong, in kernel terms.
"""

from __future__ import annotations


class SwapOpsError(Exception):
    """Base of every error swapops raises on purpose."""


class ConfigError(SwapOpsError, ValueError):
    """A bad option, size, stack string or parameter (the kernel's -EINVAL)."""


class InvalidSizeError(ConfigError):
    """A size string such as ``64M`` that cannot be parsed."""


class InvalidStackError(ConfigError):
    """A stack that breaks a module's placement rule, or an unknown module."""


class UnknownModuleError(InvalidStackError):
    """No installed module has this name."""


class MissingOperationError(SwapOpsError):
    """A module lacks a mandatory swap operation; swapon fails (-EINVAL)."""


class UnknownOperationError(MissingOperationError):
    """A module defines a ``swapops_*`` method that is no operation (a
    misspelling such as ``swapops_unplg``, which would never be called), or an
    operation not marked ``@swapops.hookimpl``; swapon fails."""


class OutOfSwapSpaceError(SwapOpsError):
    """No active swap area has room for the folio (the kernel's -ENOMEM)."""


class WriteActivateError(OutOfSwapSpaceError):
    """A device refuses to store this folio, and only this one: the kernel's
    ``swap_writepage`` returning ``AOP_WRITEPAGE_ACTIVATE`` (a ghost swap area,
    a store zswap rejects with writeback off; vswap v5 for a large folio whose
    physical slots cannot be allocated at its order after its virtual slots
    were, ``docs/kernel.md`` §5, where splitting would not help). The folio
    comes back untouched, stays in memory and is activated; unlike a full
    swap, reclaim goes on with other pages."""


class FolioSplitRequired(OutOfSwapSpaceError):
    """No contiguous, aligned run for a large folio: split it and retry.

    The kernel returns -EAGAIN from ``folio_alloc_swap`` and reclaim splits the
    folio; here the caller gets this error with the folio untouched.
    """


class InvalidSwapHeaderError(SwapOpsError):
    """A swap header that is missing, foreign, corrupt or inconsistent."""


class SignatureExistsError(SwapOpsError):
    """A file holds another signature; it is not overwritten without force."""


class DeviceIOError(SwapOpsError, OSError):
    """A read or write failed on a device (the kernel's -EIO).

    A failed write leaves the folio with the caller and nothing allocated; a
    failed read leaves the entry intact so it can be retried. Raised as
    ``DeviceIOError(errno, text, filename)`` it prints as ``filename: text``.
    """

    def __str__(self) -> str:  # "path: what failed", not OSError's "[Errno 28] ...: 'path'"
        if self.filename is not None and self.strerror:
            return f"{self.filename}: {self.strerror}"
        return super().__str__()


class DeviceBusyError(SwapOpsError):
    """The device cannot be taken away now (-EBUSY), e.g. swapoff of a device
    that another layer sits on, or with nowhere to put its entries."""


class ExecutorError(SwapOpsError):
    """A sweep executor cannot go on: its workers are gone or unreachable."""


class InvalidEntryError(SwapOpsError, KeyError):
    """An entry that is not live: never handed out, or already freed."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
