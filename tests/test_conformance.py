"""The conformance machine on every valid chain of the built-in modules, side by
side with priorities, in lockstep (differential) and with fault injection.

Budget (CI profile ``ci``: 25 examples x 30 steps): every chain runs
``CHAIN_EXAMPLES`` x ``CHAIN_STEPS`` of the profile; ``--hypothesis-profile=deep``
scales them all up. The machine itself is checked too: modules with planted
bugs must fail it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pathlib
import re
import shutil
import site
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pytest
from hypothesis import Phase

import swapops
from swapops import Folio, Option, SwapDevice
from swapops.registry import ModuleRegistry
from swapops.stack import valid_chains
from swapops.testing import BUILTIN_MODULES, faulty, small_stack
from swapops.testing.model import ModelError
from swapops.testing.stateful import conformance_settings, run_conformance

# Share of the active profile each machine run gets (ci: 25 examples x 30 steps).
CHAIN_EXAMPLES, CHAIN_STEPS = 0.6, 2.0  # ci: 15 examples x 60 steps per chain
VARIANT_EXAMPLES, VARIANT_STEPS = 0.5, 2.0  # ci: 12 x 60 for side-by-side, differential, faults

# The placement rules agreed for the built-in modules (notes: core contract),
# used only to name the chains of a module that is not installed yet.
AGREED_PLACEMENT: dict[str, tuple[str, frozenset[str], bool, int]] = {
    "swapfile": ("physical", frozenset(), False, 1),
    "zswap": ("cache", frozenset({"physical", "buffer", "cache"}), False, 2),
    "flashbuf": ("buffer", frozenset({"physical", "cache"}), True, 1),
    "vswap": ("virtual", frozenset({"cache", "buffer", "physical"}), False, 1),
    "zram": ("physical", frozenset({"physical"}), False, 1),
    "ghost": ("physical", frozenset(), False, 1),
}

# Module bugs the machine found are listed, with their fixes, in docs/conformance.md.


def _chain_params() -> list[Any]:
    registry = swapops.SwapSystem().registry
    missing = [m for m in BUILTIN_MODULES if m not in registry]
    if missing:  # stand-ins with the agreed declarations, to list the chains to skip
        full = ModuleRegistry()
        for name in registry:
            full.add(registry.get(name))
        for name in missing:
            kind, lower, needs, most = AGREED_PLACEMENT[name]
            full.add(type(f"Missing_{name}", (SwapDevice,), {
                "NAME": name, "KIND": kind, "LOWER_KINDS": lower, "NEEDS_LOWER": needs, "MAX_IN_STACK": most,
            }))
        registry = full
    params = []
    for chain in valid_chains(registry, BUILTIN_MODULES):
        absent = [m for m in chain.split(">") if m in missing]
        # Chains of three layers or more take seconds each: the quick loop (-m "not slow") runs the short ones.
        marks: list[Any] = [pytest.mark.slow] if chain.count(">") >= 2 else []
        if absent:
            marks.append(pytest.mark.skip(reason=f"module {absent[0]} is not installed"))
        params.append(pytest.param(chain, id=chain, marks=marks))
    return params


CHAINS = _chain_params()


# The chains of the debate's newer modules (zram, ghost) are many (39 of 65):
# every one runs, but on a share of the budget, so the suite stays fast. Two
# layers at most (the modules alone, on a swapfile, under zswap, vswap or
# flashbuf): a third of the old share; longer chains, which put zram or ghost
# below chains the full budget already covers, a smoke share (ci: 2 examples).
NEW_MODULES = ("zram", "ghost")
NEW_SHORT_EXAMPLES, NEW_LONG_EXAMPLES = 0.3, 0.08


def _settings(chain: str, examples: float, steps: float) -> Any:
    layers = chain.split(">")
    if any(m in layers for m in NEW_MODULES):
        examples = NEW_SHORT_EXAMPLES if len(layers) <= 2 else NEW_LONG_EXAMPLES
    return conformance_settings(examples, steps)


def test_at_least_sixteen_chains() -> None:
    assert len(CHAINS) >= 16
    ids = [p.id for p in CHAINS]
    assert len(set(ids)) == len(ids)
    assert "vswap>zswap>swapfile" in ids and "flashbuf>swapfile" in ids
    assert {"zram", "zram>swapfile", "zswap>zram", "ghost", "zswap>ghost"} <= set(ids)
    assert "zram>ghost" not in ids  # zram's backing device must store pages (LOWER_HOLDS)


@pytest.mark.parametrize("chain", CHAINS)
def test_chain(chain: str, swapops_conformance: Callable[..., None]) -> None:
    swapops_conformance(chain, settings=_settings(chain, CHAIN_EXAMPLES, CHAIN_STEPS))


SIDE_BY_SIDE = [
    pytest.param((("zswap>swapfile", 10), ("vswap>swapfile", 5)), id="zswap>swapfile@10+vswap>swapfile@5"),
    pytest.param((("swapfile", 0), ("flashbuf>swapfile", 0)), id="swapfile@0+flashbuf>swapfile@0"),
    pytest.param(
        (("vswap>zswap>swapfile", -1), ("zswap>flashbuf>swapfile", 3)),
        id="vswap>zswap>swapfile@-1+zswap>flashbuf>swapfile@3", marks=pytest.mark.slow,
    ),
    pytest.param((("zram", 10), ("zswap>ghost", 5), ("swapfile", 0)), id="zram@10+zswap>ghost@5+swapfile@0"),
]


def _variant_settings(stacks: tuple[Any, ...]) -> Any:
    """The variants' share; half of it when a stack holds one of the new modules."""
    names = [s if isinstance(s, str) else s[0] for s in stacks]
    new = any(m in n.replace(":", ">").split(">") for n in names for m in NEW_MODULES)
    return conformance_settings(VARIANT_EXAMPLES / 2 if new else VARIANT_EXAMPLES, VARIANT_STEPS)


@pytest.mark.parametrize("stacks", SIDE_BY_SIDE)
def test_side_by_side(stacks: tuple[tuple[str, int], ...], swapops_conformance: Callable[..., None]) -> None:
    """Two stacks in one system: priorities (highest first; equal ones take turns per cluster)."""
    swapops_conformance(*stacks, settings=_variant_settings(stacks))


DIFFERENTIAL = [
    pytest.param(
        ("swapfile", "zswap>swapfile", "vswap>zswap>swapfile", "flashbuf>swapfile", "vswap>flashbuf>zswap>swapfile"),
        id="five-designs", marks=pytest.mark.slow,
    ),
    pytest.param(("swapfile:size=8M", "vswap>swapfile:size=8M", "zswap>zswap>swapfile:size=8M"), id="roomy"),
    pytest.param(
        ("swapfile", "zswap>ghost", "vswap:edition=ste>zswap>swapfile", "zram", "zram>swapfile"),
        id="debate-designs",
    ),
]


@pytest.mark.parametrize("stacks", DIFFERENTIAL)
def test_differential(stacks: tuple[str, ...], swapops_differential: Callable[..., None]) -> None:
    """The same operations on several systems in lockstep give the same contents."""
    swapops_differential(*stacks, settings=_variant_settings(stacks))


FAULT_CHAINS = [
    "faulty>swapfile",
    "zswap>faulty>swapfile",
    "faulty>vswap>zswap>swapfile",
    "vswap>faulty>zswap>swapfile",
    "vswap>zswap>faulty>swapfile",
    "flashbuf>faulty>swapfile",
    "zswap>flashbuf>faulty>swapfile",
    "vswap>faulty>flashbuf>faulty>swapfile",
    "zram>faulty>swapfile",
    "zswap>faulty>zram",
]


@pytest.mark.parametrize(
    "chain", [pytest.param(c, id=c, marks=[pytest.mark.slow] if c.count(">") >= 3 else []) for c in FAULT_CHAINS]
)
def test_faults(chain: str, swapops_conformance: Callable[..., None], swapops_faulty: Any) -> None:
    """Fault rules armed at run time: failed writes, reads and allocations lose nothing."""
    swapops_conformance(chain, plugins=[swapops_faulty], settings=_variant_settings((chain,)))


def test_faults_side_by_side(swapops_conformance: Callable[..., None]) -> None:
    swapops_conformance(
        ("faulty>swapfile", 5), ("zswap>faulty>swapfile", 5), plugins=[faulty],
        settings=conformance_settings(VARIANT_EXAMPLES, VARIANT_STEPS),
    )


def test_small_stack_options() -> None:
    registry = swapops.SwapSystem().registry
    assert small_stack("swapfile") == "swapfile:size=4M"
    assert small_stack("swapfile:size=4M") == "swapfile:size=4M"  # the string wins
    assert small_stack("vswap>zswap>swapfile") == "vswap>zswap:ram=512K>swapfile:size=4M"
    custom = small_stack("zswap>swapfile", options={"zswap": "ram=1M,compressor=zstd", "swapfile": {"size": "2M"}})
    assert custom == "zswap:ram=1M,compressor=zstd>swapfile:size=2M"
    assert small_stack("mine>swapfile", options={"mine": {"depth": 3}}) == "mine:depth=3>swapfile:size=4M"
    # with a registry, options the module does not declare are dropped
    assert small_stack("swapfile", options={"swapfile": "colour=red"}, registry=registry) == "swapfile:size=4M"


# ---------------------------------------------------------------- the machine finds bugs


class _Ram(SwapDevice):
    """A tiny correct RAM device (bitmap allocator): the machine must pass it."""

    NAME = "testram"
    KIND = "physical"
    OPTIONS: ClassVar[Mapping[str, Option]] = {"size": Option("size", 256 << 10)}

    def __init__(self, options: Mapping[str, Any], lower: SwapDevice | None = None) -> None:
        super().__init__(options, lower)
        self.nr = options["size"] // 4096
        self.slots: dict[int, bytes] = {}
        self.busy = bytearray(self.nr)
        self.count = 0
        self.frees = 0

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        n = 1 << order
        for start in range(0, self.nr - n + 1, n):
            if not any(self.busy[start : start + n]):
                self.busy[start : start + n] = b"\x01" * n
                self.count += n
                return start
        return -1

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        self.frees += 1
        self.busy[offset : offset + nr] = bytes(nr)
        self.count -= nr
        for slot in range(offset, offset + nr):
            self.slots.pop(slot, None)

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        self.slots[offset] = folio.data

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        folio.data = self.slots[offset]

    @property
    def size(self) -> int:
        return self.nr

    @property
    def used(self) -> int:
        return self.count

    def stats(self) -> dict[str, int | float]:
        return {"size": self.nr, "used": self.count, "frees": self.frees}


class _Corrupting(_Ram):
    NAME = "testram"

    @swapops.hookimpl
    def swapops_read_folio(self, offset: int, folio: Folio) -> None:
        data = self.slots[offset]
        folio.data = data if offset % 5 != 3 else bytes([data[0] ^ 1]) + data[1:]


class _Leaking(_Ram):
    NAME = "testram"

    calls = 0

    @swapops.hookimpl
    def swapops_cluster_free(self, offset: int, nr: int) -> None:
        self.calls += 1
        if self.calls % 7:  # every 7th free forgets to release its slots
            super().swapops_cluster_free(offset, nr)


class _Reusing(_Ram):
    NAME = "testram"

    @swapops.hookimpl
    def swapops_cluster_alloc(self, order: int) -> int:
        if not order and self.count >= 3:  # hands out slot 1 again, live or not
            self.count += 1
            return 1
        return super().swapops_cluster_alloc(order)


class _NegativeCounter(_Ram):
    NAME = "testram"

    def stats(self) -> dict[str, int | float]:
        out = super().stats()
        out["frees"] = 2 - self.frees
        return out


class _Zombie(_Ram):
    """Lies about ``used``: still counts freed order-0 runs after the 4th free."""

    NAME = "testram"

    @property
    def used(self) -> int:
        return self.count + (1 if self.frees > 4 else 0)


class _WrongError(_Ram):
    """A failed write raises something other than the two allowed errors."""

    NAME = "testram"

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        if offset % 4 == 3:
            raise ValueError("testram: no")
        super().swapops_write_folio(offset, folio)


class _SpuriousIOError(_Ram):
    """Reports an I/O error though its storage (RAM) cannot fail and no fault was injected."""

    NAME = "testram"

    @swapops.hookimpl
    def swapops_write_folio(self, offset: int, folio: Folio) -> None:
        if offset % 4 == 3:
            raise swapops.DeviceIOError("testram: EIO")
        super().swapops_write_folio(offset, folio)


def _plugin(cls: type[SwapDevice]) -> object:
    class Plugin:
        @swapops.hookimpl
        def swapops_register_modules(self, registry: ModuleRegistry) -> None:
            registry.add(cls)

    return Plugin()


FIND = conformance_settings(phases=[Phase.explicit, Phase.generate], max_examples=60, stateful_step_count=40)


def test_machine_passes_a_correct_module() -> None:
    run_conformance("testram", plugins=[_plugin(_Ram)], autoload=False, settings=FIND)


@pytest.mark.parametrize(
    ("cls", "finds"),
    [
        (_Corrupting, "read back wrong"),
        (_Leaking, "used"),
        (_Reusing, "reuses slot"),
        (_NegativeCounter, "counter"),
        (_Zombie, "used"),
        (_WrongError, r"rule write-errors broken .*ValueError: testram: no"),
        (_SpuriousIOError, r"rule io-errors-only-from-storage broken .*DeviceIOError: testram: EIO"),
    ],
    ids=["corrupting", "leaking", "reusing", "negative-counter", "wrong-used", "wrong-error", "spurious-eio"],
)
def test_machine_finds_planted_bugs(cls: type[SwapDevice], finds: str) -> None:
    with pytest.raises(ModelError, match=finds):
        run_conformance("testram", plugins=[_plugin(cls)], autoload=False, settings=FIND)


# ------------------------------------------- the defaults exercise large runs


def _first_slot_only(base: type[SwapDevice]) -> type[SwapDevice]:
    """``base`` with a planted bug: freeing a run frees only its first slot."""

    class FirstSlotOnly(base):  # type: ignore[misc,valid-type]
        @swapops.hookimpl
        def swapops_cluster_free(self, offset: int, nr: int) -> None:
            super().swapops_cluster_free(offset, 1)

    return FirstSlotOnly


@pytest.mark.parametrize("chain", ["swapfile", "vswap>swapfile", "zswap>swapfile"])
def test_the_defaults_catch_a_run_freed_by_its_first_slot(chain: str) -> None:
    """With the kit's default sizes a large folio gets a run on the swapfile, so a
    swapfile that frees only the first slot of a run fails (it passed with the
    old 1 MiB default, where no run of more than one slot could be allocated)."""
    from swapops_swapfile import SwapfileDevice
    from swapops_vswap import plugin as vswap_plugin
    from swapops_zswap import plugin as zswap_plugin

    plugins = [vswap_plugin, zswap_plugin, _plugin(_first_slot_only(SwapfileDevice))]
    with pytest.raises(ModelError, match="used|slots"):
        run_conformance(small_stack(chain), plugins=plugins, autoload=False,
                        settings=conformance_settings(CHAIN_EXAMPLES, CHAIN_STEPS))


@pytest.mark.parametrize("chain", [p.id for p in CHAINS if not any(m.name == "skip" for m in p.marks)])
def test_the_defaults_give_every_order_a_run(chain: str) -> None:
    """On a fresh stack of every chain with the kit's defaults, a folio of every
    order 1..9 is taken as one entry (no split), so every order is exercised."""
    from swapops.errors import FolioSplitRequired, OutOfSwapSpaceError
    from swapops.testing.strategies import folio_bytes

    for order in range(1, 10):
        system = swapops.SwapSystem()
        system.swapon(small_stack(chain))
        try:
            entry = system.swap_out(Folio(folio_bytes("random", order, order)))
        except FolioSplitRequired:
            pytest.fail(f"{small_stack(chain)}: no run for an order-{order} folio")
        except OutOfSwapSpaceError:
            continue  # a chain that cannot hold random pages (no device for them) refuses it whole
        system.swap_free(entry)


# ---------------------------------------------------------------- a third-party module

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "examples" / "swapops-zram-example"


def _offline_build_tools() -> str | None:
    """Why a --no-build-isolation install cannot work here, or None."""
    if importlib.util.find_spec("setuptools") is None:
        return "setuptools is not installed"
    version = importlib.metadata.version("setuptools")
    major, minor = (int(x) for x in version.split(".")[:2])
    if (major, minor) < (70, 1) and importlib.util.find_spec("wheel") is None:
        return f"setuptools {version} needs the wheel package to build without isolation"
    if importlib.util.find_spec("pip") is None or importlib.util.find_spec("venv") is None:
        return "pip or venv is missing"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_offline_build_tools() is not None, reason=f"offline build tools: {_offline_build_tools()}")
def test_example_package_installs_and_conforms(tmp_path: pathlib.Path) -> None:
    """pip-install the example module into a throwaway venv; its own conformance test passes there."""
    src = tmp_path / "pkg"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    # `python -m venv` bases the new venv on the base interpreter, whatever venv runs
    # this test: --system-site-packages alone would show it the system's packages, not
    # this environment's (no swapops, no wheel: "invalid command 'bdist_wheel'"). A .pth
    # file adds this environment's site directories (their .pth files too, so the
    # editable swapops), behind the new venv's own: it sees what this test sees, the
    # tools _offline_build_tools() checked included, and installs into itself.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    outer = [d for d in (*site.getsitepackages(), site.getusersitepackages()) if os.path.isdir(d)]
    pathlib.Path(purelib, "_outer_env.pth").write_text(
        "".join(f"import site; site.addsitedir({d!r})\n" for d in outer)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("PYTHONPATH", None)
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(src)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    where = subprocess.run(
        [python, "-c", "import swapops, swapops_zramdemo; print(swapops_zramdemo.__file__); "
         "print(sorted(swapops.SwapSystem().registry))"],
        capture_output=True, text=True, env=env, check=True, cwd=tmp_path,
    ).stdout.splitlines()
    assert where[0].startswith(str(venv)), where  # the installed copy, not the source
    assert "zramdemo" in where[1] and "zswap" in where[1]
    # not visible outside the venv: the install was isolated
    outside = subprocess.run([sys.executable, "-c", "import swapops_zramdemo"], capture_output=True, cwd=tmp_path)
    assert outside.returncode != 0
    run = subprocess.run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", "--hypothesis-profile=smoke", "tests"],
        capture_output=True, text=True, env=env, cwd=src, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed", summary) and "failed" not in summary and "skipped" not in summary, summary


# ---------------------------------------------------------------- the kit's pieces


def test_folio_contents() -> None:
    from swapops.compress import get_compressor
    from swapops.testing.strategies import folio_bytes

    lz4 = get_compressor("lz4")
    assert folio_bytes("zero", 2, 5) == bytes(4 * 4096)
    compressible = folio_bytes("compressible", 0, 1)
    assert len(compressible) == 4096 and len(lz4.compress(compressible)) < 3072  # about 2:1, like real data
    noise = folio_bytes("random", 0, 1)
    assert len(lz4.compress(noise)) >= 4096 and noise != folio_bytes("random", 0, 2)
    assert folio_bytes("random", 3, 9) == folio_bytes("random", 3, 9)  # deterministic
    mixed = [folio_bytes("mixed", 4, seed) for seed in range(8)]
    pages = [m[k * 4096 : (k + 1) * 4096] for m in mixed for k in range(16)]
    assert any(p == bytes(4096) for p in pages) and any(p != bytes(4096) for p in pages)


def test_model_slot_claims() -> None:
    from swapops.testing.model import Lane

    lane = Lane("t")
    lane.claim((0, 8), 3)  # slots 8..15
    with pytest.raises(ModelError, match="reuses slot 12"):
        lane.claim((0, 12), 0)
    lane.claim((1, 12), 0)  # another swap type: its own slot space
    assert lane.slots(0) == 8 and lane.slots(1) == 1
    lane.release((0, 8), 3)
    lane.claim((0, 12), 0)
    with pytest.raises(ModelError):
        lane.release((0, 8), 3)
