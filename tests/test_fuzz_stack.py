"""Fuzzing the stack-string parser, swapon with mutated stacks, and swapon of
mutated swap files: only the documented error types may escape.

* ``parse_stack``: :class:`InvalidStackError` (a :class:`ConfigError`) on any
  string, and what it accepts prints back to an equivalent stack;
* ``check_stack``: :class:`InvalidStackError` (``UnknownModuleError`` included);
* ``swapon`` of a mutated valid stack, or of a swap file with a mutated
  header: a :class:`SwapOpsError`, and a failed swapon leaves no layer behind;
  a successful one gives back what was swapped out.

(``tests/test_header_fuzz.py`` fuzzes ``parse_header`` on bytes; the swap-file
test here goes through ``read_header`` and the swapfile module on real files.)
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import struct
import tempfile
import uuid

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import swapops
from swapops import Folio, SwapDevice
from swapops.errors import (
    ConfigError,
    DeviceIOError,
    InvalidSizeError,
    InvalidStackError,
    OutOfSwapSpaceError,
    SwapOpsError,
)
from swapops.header import SWAP_MAGIC, pack_header
from swapops.sizes import parse_size
from swapops.stack import check_stack, parse_stack
from swapops.testing import BUILTIN_MODULES, conformance_chains, faulty, small_stack
from swapops.testing.strategies import mutated_stacks, stack_texts

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SWAPON = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                           HealthCheck.filter_too_much])

REGISTRY = swapops.SwapSystem(plugins=[faulty]).registry
NAMES = [*REGISTRY, "swap", "zram", "Swapfile", "v swap"]
VALID = [small_stack(c) for c in conformance_chains(REGISTRY)] + [
    "faulty:ops=wr,every=5>swapfile:size=1M",
    "vswap>faulty:probability=0.1>zswap:ram=512K>swapfile:size=1M",
    "swapfile:size=2M,discard=yes,cpus=4",
]
MAX_FUZZ_BYTES = 1 << 30  # sizes beyond this would only cost memory (a 1P swapfile's tables)


# -------------------------------------------------------------------- parse_stack


def _parse(text: object) -> swapops.stack.StackSpec | None:
    try:
        spec = parse_stack(text)  # type: ignore[arg-type]
    except InvalidStackError as exc:
        assert str(exc)  # a message saying what is wrong
        event("rejected")
        return None
    event("accepted")
    return spec


def _check_accepted(spec: swapops.stack.StackSpec) -> None:
    assert 1 <= len(spec.layers) <= 8
    for layer in spec.layers:
        assert layer.module and layer.module == layer.module.strip()
        keys = [k for k, _ in layer.options]
        assert len(keys) == len(set(keys)) and all(keys)
    assert parse_stack(str(spec)) == spec  # what it prints parses back the same


@FUZZ
@given(text=stack_texts(NAMES))
def test_parse_stack_arbitrary(text: str) -> None:
    spec = _parse(text)
    if spec is not None:
        _check_accepted(spec)
        try:
            check_stack(spec.modules, REGISTRY)
            event("valid chain")
        except InvalidStackError:
            event("placement refused")


@FUZZ
@given(text=mutated_stacks(VALID))
def test_parse_stack_mutated(text: str) -> None:
    spec = _parse(text)
    if spec is not None:
        _check_accepted(spec)
        with pytest.raises(InvalidStackError) if not _placeable(spec) else _nothing():
            check_stack(spec.modules, REGISTRY)


def _placeable(spec: swapops.stack.StackSpec) -> bool:
    try:
        check_stack(spec.modules, REGISTRY)
    except InvalidStackError:
        return False
    return True


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.parametrize("value", [None, 3, b"swapfile", ["swapfile"], 1.5])
def test_parse_stack_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidStackError):
        parse_stack(value)  # type: ignore[arg-type]


# -------------------------------------------------------------------- swapon


def _nonfinite_float(value: str) -> bool:
    try:
        return not math.isfinite(float(value))
    except ValueError:
        return False


def _safe_for_swapon(text: str) -> bool:
    """No file paths; no huge sizes; no non-finite floats (known bugs, tested below)."""
    if "path" in text.lower():
        return False
    try:
        spec = parse_stack(text)
    except InvalidStackError:
        return True
    for layer in spec.layers:
        for _key, value in layer.options:
            if _nonfinite_float(value):
                return False
            try:
                if parse_size(value) > MAX_FUZZ_BYTES:
                    return False
            except (InvalidSizeError, OverflowError):
                pass
    return True


def _swapon_or_reject(system: swapops.SwapSystem, text: str, **kwargs: object) -> SwapDevice | None:
    try:
        top = system.swapon(text, **kwargs)  # type: ignore[arg-type]
    except SwapOpsError as exc:
        event(f"swapon refused: {type(exc).__name__}")
        assert system.devices == []
        assert not [p for p in system.pm.get_plugins() if isinstance(p, SwapDevice)], "a layer stayed registered"
        return None
    event("swapon accepted")
    return top


def _round_trip(system: swapops.SwapSystem, top: SwapDevice) -> None:
    for folio in (Folio(bytes(4096)), Folio(random.Random(7).randbytes(4096)), Folio(b"swap" * 1024)):
        try:
            entry = system.swap_out(folio)
        except (OutOfSwapSpaceError, DeviceIOError) as exc:
            event(f"swap_out refused: {type(exc).__name__}")
            continue
        try:
            assert system.swap_in(entry) == folio
        except DeviceIOError:
            event("swap_in failed (faulty)")
        system.swap_free(entry)
    system.reclaim_swap_cache()
    with contextlib.suppress(DeviceIOError):
        system.unplug()
    report = system.swapoff(top)
    assert not report.restored
    assert system.devices == []


@SWAPON
@given(text=mutated_stacks(VALID))
def test_swapon_mutated_stacks(text: str) -> None:
    assume(_safe_for_swapon(text))
    system = swapops.SwapSystem(plugins=[faulty])
    top = _swapon_or_reject(system, text)
    if top is not None:
        assert set(top.stack_name.split(">")) <= set(REGISTRY)
        _round_trip(system, top)


ODD_VALUES = st.sampled_from(["0", "1", "-1", "4K", "3M", "0.5", "1.5", "yes", "nope", "", "lz4", "x", "4097",
                               "0x20", "1_000", "16", "256K"]) | st.text(max_size=5)


@st.composite
def chains_and_option(draw: st.DrawFn) -> tuple[str, str, str]:
    """A small valid chain and one option of one of its modules (or a bogus one), with an odd value."""
    chain = draw(st.sampled_from([*conformance_chains(REGISTRY, BUILTIN_MODULES, max_depth=2), "faulty>swapfile"]))
    keys = sorted({k for m in chain.split(">") for k in REGISTRY.get(m).OPTIONS} - {"path"})
    key = draw(st.sampled_from([*keys, "bogus"]))
    return chain, key, draw(ODD_VALUES)


@SWAPON
@given(case=chains_and_option())
def test_swapon_with_odd_option_values(case: tuple[str, str, str]) -> None:
    """One option with an odd value, given as a keyword: ConfigError or a working stack."""
    chain, key, value = case
    assume(not _nonfinite_float(value))
    system = swapops.SwapSystem(plugins=[faulty])
    options = {"size": "1M"} if key != "size" and chain.endswith("swapfile") else {}
    try:
        top = system.swapon(chain, **options, **{key: value})
    except SwapOpsError as exc:
        event(f"refused: {type(exc).__name__}")
        assert system.devices == []
        return
    event("accepted")
    _round_trip(system, top)


# Regressions the fuzzers found (fixed in sizes.py / options.py; see docs/conformance.md).


@pytest.mark.parametrize("text", ["1.5e999", "-1.5e999", "1e400K"])
def test_size_overflow_is_invalid_size(text: str) -> None:
    with pytest.raises(InvalidSizeError):
        parse_size(text)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_float_option_rejects_non_finite(value: str) -> None:
    system = swapops.SwapSystem()
    with pytest.raises(ConfigError, match="reserve"):
        system.swapon(f"flashbuf:reserve={value},segment=16>swapfile:size=1M")
    assert system.devices == []


# -------------------------------------------------------------------- swap files


@st.composite
def swap_files(draw: st.DrawFn) -> tuple[bytes, int]:
    """A mkswap-like header for a small file, a few fields or bytes changed, and a file size."""
    last_page = draw(st.integers(1, 80))
    badpages = draw(st.lists(st.integers(1, last_page), max_size=3, unique=True))
    page = bytearray(pack_header(
        page_size=4096, last_page=last_page, uuid=uuid.UUID(int=draw(st.integers(0, 2**128 - 1))),
        label=draw(st.sampled_from(("", "swap", "fuzz"))), badpages=badpages,
    ))
    fields = (0x400, 0x404, 0x408, 0x600, 0x604)
    for _ in range(draw(st.sampled_from((0, 0, 1, 2)))):
        offset = draw(st.sampled_from(fields))
        value = draw(st.sampled_from((0, 1, 2, last_page, last_page + 1, 637, 638, 0xFFFFFFFF)))
        page[offset : offset + 4] = struct.pack(draw(st.sampled_from(("<I", ">I"))), value)
    for _ in range(draw(st.sampled_from((0, 0, 1, 3)))):
        page[draw(st.integers(0x400, 0x700) | st.integers(4086, 4095))] = draw(st.integers(0, 255))
    if draw(st.integers(0, 5)) == 5:
        page[4086:] = draw(st.sampled_from((b"SWAP-SPACE", b"S1SUSPEND\0", b"\0" * 10, SWAP_MAGIC)))
    pages = draw(st.sampled_from((last_page + 1, last_page + 1, last_page, last_page + 2, 1)))
    size = pages * 4096 + draw(st.sampled_from((0, 0, 100)))
    return bytes(page), size


@SWAPON
@given(case=swap_files(), blockdev=st.sampled_from((None, True, False)))
def test_swapon_mutated_swap_files(case: tuple[bytes, int], blockdev: bool | None) -> None:
    header, size = case
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "swap.img")
        with open(path, "wb") as f:
            f.write(header[:size])
            if size > len(header):
                f.truncate(size)
        os.chmod(path, 0o600)  # as swapon(8) wants: no insecure-permissions warning
        system = swapops.SwapSystem()
        top = _swapon_or_reject(system, "swapfile", path=path, blockdev=blockdev)
        if top is not None:
            assert 0 < top.size < size // 4096
            _round_trip(system, top)
