"""Fuzz the Python API's arguments: only documented errors escape, nothing is corrupted.

Every public entry point (``SwapSystem`` and its methods, ``Folio``,
``parse_size``, ``parse_stack``, ``format_swapfile``, ``read_header``,
``runner.run``) gets arbitrary objects (wrong types, huge and negative
numbers, NaN, bytes, NUL in strings, containers) and must either accept them
or raise a :class:`~swapops.errors.SwapOpsError`. After every refused call the
system still swaps a page out and back byte for byte, so a bad argument never
leaves half-done state behind.

Examples follow the Hypothesis profile (``ci`` by default: a few seconds;
``SWAPOPS_HYPOTHESIS_PROFILE=deep`` for more).
"""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import swapops
from swapops.errors import ConfigError, InvalidEntryError, SwapOpsError
from swapops.header import format_swapfile, read_header

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(-(2**70), 2**70), st.sampled_from([0, 1, -1, 2**31, 2**32, 2**63, 2**64, 2**40, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.nan, math.inf, -0.0, 1.5, 1e300]),
    st.text(max_size=10), st.sampled_from(["", "a\0b", "1M", "64K", "-1", "1e999", "12Q", "nan", "swapfile",
                                           "zswap>swapfile", ">", "swapfile:", "swapfile:size", "\udcff"]),
    st.binary(max_size=10), st.sampled_from([b"\0" * 4096, bytearray(4096), memoryview(b"x" * 4096)]),
)
ODD = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner, inner), st.dictionaries(st.text(max_size=4), inner, max_size=2),
    st.frozensets(st.integers(-2, 2), max_size=2)), max_leaves=5) | st.sampled_from([object(), Path("/"), ...])


def _documented(exc: BaseException) -> None:
    assert isinstance(exc, SwapOpsError), f"{type(exc).__name__}: {exc}"
    assert str(exc)


def _still_works(system: swapops.SwapSystem) -> None:
    """A refused call left the system whole: a page goes out and back, and is freed."""
    page = swapops.Folio(bytes(range(256)) * 16)
    entry = system.swap_out(page)
    assert system.swap_in(entry).data == page.data
    system.swap_free(entry)


def _system() -> tuple[swapops.SwapSystem, tuple[int, int]]:
    system = swapops.SwapSystem(seed=1)
    system.swapon("zswap>swapfile", size="1M")
    entry = system.swap_out(swapops.Folio(b"\x17" * 4096))
    system.swap_in(entry, cache=True)  # something in the swap cache: lookups hash their argument
    return system, entry


ENTRY_OPS = ("swap_in", "swap_free", "swap_dup", "swap_count", "swap_cache_drop")


@FUZZ
@given(op=st.sampled_from(ENTRY_OPS + ("area", "swapoff", "advance", "swap_out")), arg=ODD,
       cache=st.one_of(st.booleans(), ODD))
def test_system_methods(op: str, arg: Any, cache: Any) -> None:
    system, entry = _system()
    kwargs = {"cache": cache} if op == "swap_in" else {}
    try:
        getattr(system, op)(arg, **kwargs)
    except Exception as exc:
        _documented(exc)
        event(f"{op}: refused")
    else:
        event(f"{op}: accepted")
    _still_works(system)
    assert system.swap_in(entry).data == b"\x17" * 4096 or system.swap_cache_size() == 0


OPTION_NAMES = ("size", "priority", "path", "device", "op", "pages_per_block", "compressor", "max_pool_percent",
                "label", "uuid", "gc", "discard", "bogus", "buffer", "writeback")


@FUZZ
@given(spec=st.one_of(st.sampled_from(["swapfile", "zswap>swapfile", "vswap>swapfile", "flashbuf>swapfile",
                                       "swapfile:device=flash"]), ODD),
       options=st.dictionaries(st.sampled_from(OPTION_NAMES), ODD, max_size=3))
def test_swapon_arguments(spec: Any, options: dict[str, Any]) -> None:
    system, _entry = _system()
    options.setdefault("size", "1M")  # the default area would be large; an odd size still comes in
    with tempfile.TemporaryDirectory() as where, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(options.get("path"), str) and "\0" not in options["path"]:
            options["path"] = str(Path(where) / (options["path"].replace("/", "_") or "x"))
        try:
            dev = system.swapon(spec, **options)
        except Exception as exc:
            _documented(exc)
            event("refused")
        else:
            event("accepted")
            system.swapoff(dev)
        _still_works(system)


@FUZZ
@given(seed=ODD)
def test_system_seed(seed: Any) -> None:
    try:
        system = swapops.SwapSystem(seed=seed)
    except Exception as exc:
        _documented(exc)
        return
    system.swapon("swapfile", size="1M")
    _still_works(system)


@FUZZ
@given(data=ODD, order=st.one_of(st.none(), ODD))
def test_folio(data: Any, order: Any) -> None:
    try:
        folio = swapops.Folio(data, order)
    except Exception as exc:
        _documented(exc)
        return
    assert len(folio.data) == 4096 << folio.order


@FUZZ
@given(value=ODD)
def test_parse_size_and_stack(value: Any) -> None:
    for fn in (swapops.parse_size, swapops.parse_stack):
        try:
            fn(value)
        except Exception as exc:
            _documented(exc)


@FUZZ
@given(path=st.one_of(ODD, st.sampled_from(["new.img", "", "a\0b"])),
       kwargs=st.dictionaries(st.sampled_from(["size", "page_size", "label", "uuid", "badpages", "force"]), ODD,
                              max_size=3))
def test_format_and_read_header_arguments(path: Any, kwargs: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as where, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(path, str) and path and "\0" not in path:
            path = str(Path(where) / path.replace("/", "_"))
        elif isinstance(path, Path):
            path = Path(where) / "p.img"
        kwargs.setdefault("size", "64K")
        try:
            format_swapfile(path, **kwargs)
        except Exception as exc:
            _documented(exc)
            assert list(Path(where).iterdir()) == [], "a refused format left a file behind"
            return
        read_header(path)


@FUZZ
@given(name=st.sampled_from(["ram", "swap", "events", "pages", "processes", "write_fraction", "page_cluster",
                             "seed", "mix", "workload_params", "verify", "memory"]), value=ODD)
def test_runner_arguments(name: str, value: Any) -> None:
    from swapops.runner import run

    kwargs: dict[str, Any] = {"ram": "1M", "swap": "2M", "events": 200, "swapoff": False}
    kwargs[name] = value
    if name in ("ram", "swap", "events", "pages") and isinstance(value, int) and not isinstance(value, bool):
        kwargs[name] = min(value, {"ram": 2 << 20, "swap": 4 << 20, "events": 500, "pages": 2000}[name])
    try:
        run("swapfile", "uniform", **kwargs)
    except Exception as exc:
        _documented(exc)
        event("refused")
    else:
        event("ran")


# What the fuzz found, kept as plain regression tests (fixed with it).

def test_a_set_or_string_entry_is_invalid() -> None:
    """frozenset({0, 1}) and "01" unpack as (0, 1): they reached entry[1] and raised TypeError."""
    system, entry = _system()
    for bad in (frozenset(entry), "01"):
        for op in ("swap_dup", "swap_free", "swap_count"):
            with pytest.raises(InvalidEntryError, match="a swap entry is a"):
                getattr(system, op)(bad)
    assert system.swap_count(entry) == 1
    _still_works(system)


def test_runner_refuses_non_numbers() -> None:
    """events/pages/processes/write_fraction/page_cluster/seed/mix/params of the wrong type were TypeErrors."""
    from swapops.runner import run

    for name, value in (("events", "200"), ("pages", 1.5), ("processes", object()), ("write_fraction", "0.4"),
                        ("page_cluster", 1.5), ("seed", math.nan), ("seed", math.inf), ("mix", [0.1]),
                        ("workload_params", 3)):
        with pytest.raises(ConfigError, match=name.split("_")[0] if name != "workload_params" else "parameters"):
            run("swapfile", "uniform", **{"ram": "1M", "swap": "2M", "events": 200, "swapoff": False, name: value})
