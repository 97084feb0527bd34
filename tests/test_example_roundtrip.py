"""docs/examples/roundtrip.py: 10,000 random folios out and back, RAM and file backing (issue 2)."""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
import subprocess

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "examples" / "roundtrip.py"
_spec = importlib.util.spec_from_file_location("roundtrip_example", SCRIPT)
assert _spec is not None and _spec.loader is not None
roundtrip = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(roundtrip)


def test_ten_thousand_folios_ram() -> None:
    result = roundtrip.run("swapfile", 10_000, seed=1, path=None, size="512M")
    assert result["mismatches"] == 0 and result["used_after_free"] == 0
    assert result["dups"] > 1000 and result["pages"] > 10_000  # orders above 0 really went out
    assert result["split_folios"] == 0  # a RAM-backed area takes large folios


def test_ten_thousand_folios_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "swap.img"
    result = roundtrip.run("swapfile", 10_000, seed=2, path=str(path), size="512M")
    assert result["mismatches"] == 0 and result["used_after_free"] == 0
    assert result["split_folios"] > 0  # a swap file takes order 0 only: large folios were split
    if shutil.which("blkid"):
        out = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", str(path)], capture_output=True, text=True)
        assert out.stdout.strip() == "swap"


@pytest.mark.parametrize("stack", ["vswap>swapfile", "vswap>zswap>swapfile", "flashbuf>swapfile"])
def test_stacks(stack: str) -> None:
    result = roundtrip.run(stack, 1000, seed=3, path=None, size="64M")
    assert result["mismatches"] == 0 and result["used_after_free"] == 0


def test_command_line_exit_status() -> None:
    assert roundtrip.main(["--count", "200", "--size", "16M"]) == 0
