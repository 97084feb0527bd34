from __future__ import annotations

import pytest

import swapops
from swapops.errors import ConfigError, DeviceBusyError, InvalidStackError
from swapops.stack import parse_stack


def test_parse_stack() -> None:
    spec = parse_stack("vswap>zswap:compressor=lz4>swapfile:size=1G,path=swap.img")
    assert spec.modules == ("vswap", "zswap", "swapfile")
    assert spec.layers[2].option_dict() == {"size": "1G", "path": "swap.img"}
    assert str(spec) == "vswap>zswap:compressor=lz4>swapfile:size=1G,path=swap.img"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty stack"),
        ("a>>b", "layer 2 has no module name"),
        ("a:", "nothing after ':'"),
        ("a:k", "not key=value"),
        ("a:k=1,k=2", "given twice"),
        ("a b", "not a module name"),
        (">".join(["a"] * 9), "at most 8"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidStackError, match=message):
        parse_stack(text)


def test_placement_rules(toy_system: swapops.SwapSystem) -> None:
    assert swapops.valid_chains(toy_system.registry, ["toyram", "toycache"]) == [
        "toyram",
        "toycache>toyram",
    ]
    with pytest.raises(InvalidStackError, match="toyram must be the bottom"):
        toy_system.swapon("toyram>toyram")
    with pytest.raises(InvalidStackError, match="toycache cannot sit on toycache|at most once"):
        toy_system.swapon("toycache>toycache>toyram")


def test_bad_choice_names_the_choices() -> None:
    from swapops.errors import ConfigError
    from swapops.options import Option

    with pytest.raises(ConfigError, match="expected one of lz4, zstd"):
        Option("choice", "lz4", choices=("lz4", "zstd")).parse("zswap", "compressor", "gzip")


def test_python_composition_with_lower() -> None:
    """swapon(module, lower=dev) builds the same stack as the stack string, in steps."""
    system = swapops.SwapSystem()
    swapfile = system.swapon("swapfile", size="4M")
    zswap = system.swapon("zswap", lower=swapfile)
    top = system.swapon("vswap", lower=zswap, priority=7)
    assert top.stack_name == "vswap>zswap>swapfile"
    assert system.devices == [top] and top.priority == 7
    assert swapfile.type == -1 and zswap.type == -1 and top.type == 0
    data = [bytes(4096), b"ab" * 2048, bytes(range(256)) * 16]
    entries = [system.swap_out(swapops.Folio(d)) for d in data]
    assert [system.swap_in(e).data for e in entries] == data
    for e in entries:
        system.swap_free(e)
    assert top.used == 0
    system.swapoff(top)
    assert system.devices == []


def test_lower_must_be_an_unused_area_top() -> None:
    system = swapops.SwapSystem()
    swapfile = system.swapon("swapfile", size="1M")
    entry = system.swap_out(swapops.Folio(b"x" * 4096))
    with pytest.raises(DeviceBusyError, match="1 live entries"):
        system.swapon("vswap", lower=swapfile)
    other = system.swapon("swapfile", size="1M")
    with pytest.raises(InvalidStackError, match="swapfile must be the bottom"):
        system.swapon("swapfile", size="1M", lower=other)
    with pytest.raises(InvalidStackError, match="flashbuf"):
        system.swapon("vswap>flashbuf", lower=system.swapon("vswap"))
    with pytest.raises(ConfigError, match="lower= takes a device"):
        system.swapon("vswap", lower="swapfile")  # type: ignore[arg-type]
    assert system.swap_in(entry).data == b"x" * 4096  # the refused compositions left it alone
    assert swapfile.upper is None and other.upper is None
