"""The content generator: one definition (swapops.content), two implementations
(Python for the mm model, C for the lab's workload program), byte-identical."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from swapops.content import ContentMix, content_key, mix64, random_pool, thresholds
from swapops.corpus import corpus_path
from swapops.errors import ConfigError

LAB = Path(__file__).resolve().parents[1] / "src" / "swapops" / "lab"


@pytest.fixture(scope="module")
def gen_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is needed to build the lab's workload program (apt-get install gcc libc6-dev)")
    out = tmp_path_factory.mktemp("workload") / "swapops-workload"
    subprocess.run([gcc, "-O2", "-Wall", "-Werror", "-o", str(out), str(LAB / "workload.c")], check=True)
    return out


def c_pages(binary: Path, seed: int, thr: tuple[int, int, int], cks: list[int]) -> list[bytes]:
    out = subprocess.run([str(binary), "gen", str(seed), *map(str, thr), str(corpus_path()), *map(str, cks)],
                         check=True, capture_output=True).stdout
    assert len(out) == 4096 * len(cks)
    return [out[i * 4096 : (i + 1) * 4096] for i in range(len(cks))]


MIXES = [
    {"zero": 0.15, "same": 0.02, "random": 0.10},  # the default
    {"zero": 0.1, "same": 0.1, "random": 0.4},
    {"zero": 1.0, "same": 0.0, "random": 0.0},
    {"zero": 0.0, "same": 1.0, "random": 0.0},
    {"zero": 0.0, "same": 0.0, "random": 1.0},
    {"zero": 0.0, "same": 0.0, "random": 0.0},  # corpus only
]


@pytest.mark.parametrize("parts", MIXES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
def test_python_and_c_pages_are_byte_identical(gen_binary: Path, parts: dict[str, float]) -> None:
    seen_kinds = set()
    for seed in (0, 1, 7, 2**40 + 3, 2**64 - 1):
        mix = ContentMix(parts["zero"], parts["random"], same=parts["same"], seed=seed)
        cks = [content_key(page, version) for page in (1, 2, 3, 511, 512, 99_999, 2**31 + 5, 2**32 - 1)
               for version in (1, 2, 3, 1000)]
        cks += [content_key(page, 1) for page in range(1000, 1200)]
        want = [mix.page(ck) for ck in cks]
        got = c_pages(gen_binary, seed, mix.thresholds, cks)
        for ck, w, g in zip(cks, want, got, strict=True):
            assert w == g, f"seed {seed} ck {ck:#x} ({mix.kind(ck)}): C and Python differ"
        seen_kinds |= {mix.kind(ck) for ck in cks}
    fractions = dict(parts, corpus=1 - sum(parts.values()))
    assert seen_kinds == {k for k, v in fractions.items() if v > 0}


def test_generator_definition() -> None:
    """The documented formulas, spelled out once more."""
    assert mix64(0) == 0
    assert mix64(1) == 0x5692161D100B05E5  # splitmix64 finaliser of 1
    pool = random_pool(3)
    assert len(pool) == 65536 + 4096
    assert random_pool(3) == pool and random_pool(4) != pool
    mix = ContentMix(0.0, 1.0, same=0.0, seed=3)
    data = mix.page(content_key(5, 2))
    assert int.from_bytes(data[:8], "little") == content_key(5, 2)
    h = int.from_bytes(data[8:16], "little")
    assert data[16:] == pool[(h >> 32) & 0xFFFF :][:4080]
    assert thresholds(0.25, 0.25, 0.5) == (1 << 30, 1 << 31, 1 << 32)
    with pytest.raises(ConfigError):
        thresholds(0.5, 0.5, 0.5)
