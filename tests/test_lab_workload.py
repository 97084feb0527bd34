"""The lab's C workload program and the model's event stream are the same workload:
same events in the same order, and every store writes the bytes the mm model
will swap for that page (its content key)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from swapops import SwapSystem
from swapops.content import ContentMix
from swapops.corpus import corpus_path
from swapops.errors import ConfigError
from swapops.lab.workload import c_phase_arg, parse_phases, phase_events, trace_lines
from swapops.mm import MM
from swapops.workloads import WRITE

LAB = Path(__file__).resolve().parents[1] / "src" / "swapops" / "lab"

PHASES = [
    ["fill", "read", "read:rev", "rewrite:0.3", "read", "munmap"],
    ["fill", "read", "fork", "read", "rewrite:0.5", "rewrite:0.5", "exit", "rewrite:0.25", "read:rev", "munmap"],
    ["fill", "rewrite:1", "rewrite:1", "read"],
]


@pytest.fixture(scope="module")
def workload_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is needed to build the lab's workload program (apt-get install gcc libc6-dev)")
    out = tmp_path_factory.mktemp("workload") / "swapops-workload"
    subprocess.run([gcc, "-O2", "-Wall", "-Werror", "-o", str(out), str(LAB / "workload.c")], check=True)
    return out


def c_trace(binary: Path, mix: ContentMix, pages: int, phases: list[str]) -> list[str]:
    zero, same, rand = mix.thresholds
    args = [str(binary), "run", f"seed={mix.seed}", f"pages={pages}", f"zero={zero}", f"same={same}",
            f"random={rand}", f"corpus={corpus_path()}", f"phases={c_phase_arg(parse_phases(phases))}", "trace=1"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr  # 3 would be a page read back wrong
    return proc.stdout.splitlines()


def model_cks(mix: ContentMix, pages: int, phases: list[str], ram_pages: int) -> list[int]:
    """Replay the phases event by event; after each store, the content key the
    model's frame holds (what it would swap out)."""
    system = SwapSystem(seed=1)
    system.swapon("swapfile", size=8 << 20)
    mm = MM(system, ram_pages, mix.page, page_cluster=3)
    system.owner = mm
    cks = []
    for _phase, chunks in phase_events(parse_phases(phases), pages, mix.seed):
        for ops, a, b in chunks:
            for op, pid, vp in zip(ops, a, b, strict=True):
                mm.replay([op], [pid], [vp])
                if op == WRITE:
                    cks.append(mm.f_ck[mm.pts[pid][vp]])
    mm.check()
    return cks


@pytest.mark.parametrize("phases", PHASES, ids=lambda p: ",".join(p))
def test_c_program_and_model_agree(workload_binary: Path, phases: list[str]) -> None:
    mix = ContentMix(0.2, 0.2, same=0.1, seed=5)
    pages = 700
    lines = c_trace(workload_binary, mix, pages, phases)
    assert [" ".join(ln.split()[:3]) for ln in lines] == trace_lines(parse_phases(phases), pages, mix.seed)
    c_cks = [int(ln.split()[3]) for ln in lines if ln.startswith("W ")]
    # The same keys with RAM for everything and with a RAM that swaps most pages out.
    assert model_cks(mix, pages, phases, ram_pages=4096) == c_cks
    assert model_cks(mix, pages, phases, ram_pages=200) == c_cks


def test_phase_list_is_checked() -> None:
    for bad, match in [
        (["read"], "before fill"),
        (["fill", "fill"], "only one fill"),
        (["fill", "fork"], "fork without exit"),
        (["fill", "exit"], "exit without fork"),
        (["fill", "fork", "fork", "exit"], "cannot fork"),
        (["fill", "munmap", "read"], "after munmap"),
        (["fill", "rewrite:2"], "share"),
        (["fill", "rewrite:x"], "rewrite:SHARE"),
        (["fill", "jump"], "unknown phase"),
    ]:
        with pytest.raises(ConfigError, match=match):
            parse_phases(bad)
