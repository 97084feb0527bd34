from __future__ import annotations

import pytest

import swapops
from swapops.errors import InvalidStackError
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
