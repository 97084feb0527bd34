"""Sizes as the kernel and util-linux write them: ``4096``, ``64K``, ``1G``, ``2T``."""

from __future__ import annotations

import math

from .constants import PAGE_SHIFT as PAGE_SHIFT  # re-exported
from .constants import PAGE_SIZE
from .errors import InvalidSizeError

_SUFFIX = {"": 0, "B": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50}


def parse_size(value: int | str) -> int:
    """Return a byte count from an int or a string with an optional K/M/G/T/P suffix.

    ``KiB``/``KB``/``k`` spellings are accepted; fractions are allowed
    (``1.5G``) when they come out to a whole number of bytes.
    """
    if isinstance(value, bool):
        raise InvalidSizeError(f"invalid size {value!r}: expected a number of bytes")
    if isinstance(value, int):
        if value < 0:
            raise InvalidSizeError(f"invalid size {value}: must not be negative")
        return value
    if not isinstance(value, str):
        raise InvalidSizeError(f"invalid size {value!r}: expected e.g. 4096, 64K, 1G")
    text = value.strip().upper()
    for tail in ("IB", "B"):
        if len(text) > len(tail) and text.endswith(tail) and text[-len(tail) - 1] in "KMGTP":
            text = text[: -len(tail)]
            break
    suffix = text[-1:] if text[-1:] in "KMGTP" else ""
    number = text[: len(text) - len(suffix)].strip()
    try:
        amount = float(number) if "." in number else int(number, 10)
    except ValueError:
        raise InvalidSizeError(
            f"invalid size {value!r}: expected a number with an optional K/M/G/T suffix"
        ) from None
    nbytes = amount * (1 << _SUFFIX[suffix])
    if isinstance(nbytes, float) and not math.isfinite(nbytes):  # 1.5e999 parses as inf
        raise InvalidSizeError(f"invalid size {value!r}: not a finite number of bytes")
    if nbytes < 0 or nbytes != int(nbytes):
        raise InvalidSizeError(f"invalid size {value!r}: must be a whole, non-negative number of bytes")
    return int(nbytes)


def size_to_pages(value: int | str, page_size: int = PAGE_SIZE) -> int:
    """Bytes (or a size string) rounded down to whole pages."""
    return parse_size(value) // page_size


def format_size(nbytes: int) -> str:
    """The shortest exact K/M/G/T spelling of ``nbytes`` (``65536`` -> ``64K``)."""
    for suffix in "TGMK":
        unit = 1 << _SUFFIX[suffix]
        if nbytes and nbytes % unit == 0:
            return f"{nbytes // unit}{suffix}"
    return str(nbytes)
