"""Content by reference (swapops.contentref): the same run gives the same metrics in
byte mode and in reference mode, layers that hold keys store no page bytes, and a
module that does not declare reference support gets bytes."""

from __future__ import annotations

from typing import Any

import pytest
from toydevices import ToyPlugin

import swapops
from swapops.contentref import ContentCache
from swapops.folio import Folio
from swapops.runner import run
from swapops.workloads import ContentMix

STACKS = [
    "swapfile",
    "zswap>swapfile",
    "vswap>swapfile",
    "vswap>zswap>swapfile",
    "flashbuf>swapfile",
    "vswap>flashbuf>swapfile",
    "zswap:incompressible=raw>swapfile",
]


def _metrics(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("totals", "mm", "areas", "swapoff", "series")}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("thp", [(), (4,)])
def test_both_modes_give_identical_metrics(stack: str, thp: tuple[int, ...]) -> None:
    kw: dict[str, Any] = dict(events=40_000, ram="2M", swap="8M", thp_orders=thp, points=8)
    by_bytes = run(stack, "zipf", content="bytes", **kw)
    by_ref = run(stack, "zipf", content="ref", **kw)
    assert by_bytes["totals"]["pswpout"] > 0
    assert by_bytes["config"]["content"] == "bytes" and by_ref["config"]["content"] == "ref"
    assert _metrics(by_ref) == _metrics(by_bytes)


def test_reference_mode_stores_no_bytes_in_a_swapfile() -> None:
    mix = ContentMix(seed=3)
    system = swapops.SwapSystem(seed=0)
    dev = system.swapon("swapfile", size="4M")
    system.set_content(ContentCache(mix.page, mix.is_zero))
    cks = [(p << 32) | 1 for p in range(1, 200)]
    entries = [system.swap_out(Folio.ref(ck)) for ck in cks]
    store = dev.backing._store  # type: ignore[attr-defined]
    held = [v for block in store.values() for v in block if v is not None]
    assert held and all(isinstance(v, int) for v in held)
    for ck, entry in zip(cks, entries, strict=True):
        folio = system.swap_in(entry)
        if mix.is_zero(ck):
            assert folio.data == mix.page(ck)  # a zero entry: no I/O, the zero page
        else:
            assert folio.ck == ck and folio.data == b""
        system.swap_free(entry)


def test_a_module_without_reference_support_gets_bytes() -> None:
    """A third-party module (tests/toydevices.py's toyram) declares nothing: it is
    handed bytes, made by the core from the key, and works unchanged."""
    mix = ContentMix(seed=1)
    system = swapops.SwapSystem(seed=0, plugins=[ToyPlugin()], autoload=False)
    dev = system.swapon("toyram")
    system.set_content(ContentCache(mix.page, mix.is_zero))
    cks = [ck for ck in ((p << 32) | 1 for p in range(1, 40)) if not mix.is_zero(ck)][:10]
    for ck in cks:
        entry = system.swap_out(Folio.ref(ck))
        assert system.swap_in(entry).data == mix.page(ck)
    slots = dev.slots  # type: ignore[attr-defined]
    assert len(slots) == len(cks) and all(isinstance(v, bytes) and len(v) == 4096 for v in slots.values())


def test_a_reference_folio_without_a_cache_is_a_config_error() -> None:
    system = swapops.SwapSystem(seed=0)
    system.swapon("swapfile", size="1M")
    with pytest.raises(swapops.ConfigError, match="set_content"):
        system.swap_out(Folio.ref(5 << 32 | 1))
    assert system.nr_entries() == 0
