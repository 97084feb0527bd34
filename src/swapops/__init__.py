"""swapops: Linux swap designs as stackable, swapon-able plugins.

Quick start::

    import swapops
    system = swapops.SwapSystem()
    dev = system.swapon("vswap>zswap:compressor=lz4>swapfile", size="64M")
    entry = system.swap_out(swapops.Folio(b"x" * 4096))
    assert system.swap_in(entry).data == b"x" * 4096
    system.swap_free(entry)
"""

from .clock import SimClock
from .device import SwapContext, SwapDevice
from .errors import (
    ConfigError,
    DeviceBusyError,
    DeviceIOError,
    ExecutorError,
    FolioSplitRequired,
    InvalidEntryError,
    InvalidSizeError,
    InvalidStackError,
    InvalidSwapHeaderError,
    MissingOperationError,
    OutOfSwapSpaceError,
    SignatureExistsError,
    SwapOpsError,
    UnknownModuleError,
    UnknownOperationError,
    WriteActivateError,
)
from .folio import MAX_ORDER, Folio
from .options import Option
from .registry import ModuleRegistry, hookimpl
from .sizes import PAGE_SIZE, parse_size
from .stack import parse_stack, valid_chains
from .system import SwapoffReport, SwapsRow, SwapSystem

__version__ = "0.1.0"

__all__ = [
    "MAX_ORDER",
    "PAGE_SIZE",
    "ConfigError",
    "DeviceBusyError",
    "DeviceIOError",
    "ExecutorError",
    "Folio",
    "FolioSplitRequired",
    "InvalidEntryError",
    "InvalidSizeError",
    "InvalidStackError",
    "InvalidSwapHeaderError",
    "MissingOperationError",
    "UnknownOperationError",
    "ModuleRegistry",
    "Option",
    "OutOfSwapSpaceError",
    "SignatureExistsError",
    "SimClock",
    "SwapContext",
    "SwapDevice",
    "SwapOpsError",
    "SwapSystem",
    "SwapoffReport",
    "SwapsRow",
    "UnknownModuleError",
    "WriteActivateError",
    "hookimpl",
    "parse_size",
    "parse_stack",
    "valid_chains",
]
