"""Lab scenario files (``lab/scenarios/*.toml``): one workload, one guest, its settings.

::

    name = "zswap-lz4"
    description = "zswap with lz4, pool limit 20 % of RAM"
    seed = 1

    [guest]
    memory = "256M"          # qemu -m
    swap_size = "512M"       # the swap disk (virtio, /dev/vda)
    swap_format = "swapops"  # the host formats it with `swapops format`; "mkswap": the guest's mkswap
    rotational = false       # /sys/block/vda/queue/rotational (false: SSD paths)
    mglru = false            # /sys/kernel/mm/lru_gen/enabled
    page_cluster = 3         # vm.page-cluster
    swappiness = 60          # vm.swappiness
    thp = false              # true: the region may use THP (MADV_HUGEPAGE), else MADV_NOHUGEPAGE
    mthp = []                # with thp: mTHP sizes enabled, e.g. ["64kB"] (hugepages-64kB/enabled)
    timeout = 300            # seconds before the guest is killed

    [zswap]
    enabled = true
    compressor = "lz4"
    zpool = "zsmalloc"
    max_pool_percent = 20
    accept_threshold_percent = 90
    shrinker_enabled = false

    [workload]
    size = "384M"            # the region
    mix = { zero = 0.15, same = 0.02, random = 0.10 }   # corpus: the rest
    phases = ["fill", "read", "read", "rewrite:0.25", "read", "munmap"]

Unknown keys are errors. Every key but ``name`` has the default shown.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..content import DEFAULT_MIX, ContentMix, parse_mix
from ..errors import ConfigError
from ..sizes import PAGE_SIZE, parse_size
from .workload import Phase, parse_phases

COMPRESSORS = ("lzo", "lz4", "lz4hc", "zstd", "deflate", "842")
ZPOOLS = ("zsmalloc", "zbud")
MTHP_SIZES = ("16kB", "32kB", "64kB", "128kB", "256kB", "512kB", "1024kB", "2048kB")
DEFAULT_PHASES = ("fill", "read", "read", "rewrite:0.25", "read", "munmap")


@dataclass(frozen=True)
class Guest:
    memory: int = 256 << 20
    swap_size: int = 512 << 20
    swap_format: str = "swapops"
    rotational: bool = False
    mglru: bool = False
    page_cluster: int = 3
    swappiness: int = 60
    thp: bool = False
    mthp: tuple[str, ...] = ()
    timeout: int = 300


@dataclass(frozen=True)
class Zswap:
    enabled: bool = False
    compressor: str = "lzo"
    zpool: str = "zsmalloc"
    max_pool_percent: int = 20
    accept_threshold_percent: int = 90
    shrinker_enabled: bool = False


@dataclass(frozen=True)
class LabScenario:
    name: str
    path: str
    sha256: str  # of the file's bytes: results record it
    description: str = ""
    seed: int = 1
    guest: Guest = field(default_factory=Guest)
    zswap: Zswap = field(default_factory=Zswap)
    size: int = 384 << 20
    mix: tuple[tuple[str, float], ...] = tuple(DEFAULT_MIX.items())
    phases: tuple[Phase, ...] = ()

    @property
    def pages(self) -> int:
        return self.size // PAGE_SIZE

    def content(self) -> ContentMix:
        return ContentMix.from_parts(dict(self.mix), seed=self.seed)


def _check(where: str, table: Any, allowed: Mapping[str, type | tuple[type, ...]]) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"lab scenario: {where} must be a table")
    out = dict(table)
    for key, value in out.items():
        if key not in allowed:
            raise ConfigError(f"lab scenario: unknown key {key!r} in {where} (keys: {', '.join(sorted(allowed))})")
        kind = allowed[key]
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise ConfigError(f"lab scenario: {where}.{key} = {value!r} has the wrong type")
    return out


def _range(where: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ConfigError(f"lab scenario: {where} = {value} out of range ({low}..{high})")
    return value


def _size(where: str, value: Any, low: int) -> int:
    nbytes = parse_size(value)
    if nbytes < low or nbytes % PAGE_SIZE:
        raise ConfigError(f"lab scenario: {where} = {value!r}: at least {low >> 20} MiB, whole pages")
    return nbytes


def load_lab_scenario(path: str | os.PathLike[str]) -> LabScenario:
    """Read and check a lab scenario file."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"lab scenario {name}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"lab scenario {name}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"lab scenario {name}: not valid TOML: {exc}") from None
    return parse_lab_scenario(data, path=name, sha256=hashlib.sha256(raw).hexdigest())


def parse_lab_scenario(data: Mapping[str, Any], *, path: str = "<scenario>", sha256: str = "") -> LabScenario:
    top = _check("the scenario", data, {"name": str, "description": str, "seed": int, "guest": dict,
                                        "zswap": dict, "workload": dict})
    if "name" not in top:
        raise ConfigError("lab scenario: name = \"...\" is required")
    g = _check("[guest]", top.get("guest", {}), {
        "memory": (str, int), "swap_size": (str, int), "swap_format": str, "rotational": bool, "mglru": bool,
        "page_cluster": int, "swappiness": int, "thp": bool, "mthp": list, "timeout": int})
    if g.get("swap_format", "swapops") not in ("swapops", "mkswap"):
        raise ConfigError("lab scenario: [guest] swap_format must be \"swapops\" or \"mkswap\"")
    mthp = tuple(g.get("mthp", ()))
    for size in mthp:
        if size not in MTHP_SIZES:
            raise ConfigError(f"lab scenario: [guest] mthp size {size!r} (sizes: {', '.join(MTHP_SIZES)})")
    if mthp and not g.get("thp", False):
        raise ConfigError("lab scenario: [guest] mthp needs thp = true")
    guest = Guest(
        memory=_size("[guest] memory", g.get("memory", "256M"), 128 << 20),
        swap_size=_size("[guest] swap_size", g.get("swap_size", "512M"), 1 << 20),
        swap_format=g.get("swap_format", "swapops"),
        rotational=g.get("rotational", False),
        mglru=g.get("mglru", False),
        page_cluster=_range("[guest] page_cluster", g.get("page_cluster", 3), 0, 10),
        swappiness=_range("[guest] swappiness", g.get("swappiness", 60), 0, 200),
        thp=g.get("thp", False),
        mthp=mthp,
        timeout=_range("[guest] timeout", g.get("timeout", 300), 10, 3600),
    )
    z = _check("[zswap]", top.get("zswap", {}), {
        "enabled": bool, "compressor": str, "zpool": str, "max_pool_percent": int,
        "accept_threshold_percent": int, "shrinker_enabled": bool})
    if z.get("compressor", "lzo") not in COMPRESSORS:
        raise ConfigError(f"lab scenario: [zswap] compressor {z['compressor']!r} (one of {', '.join(COMPRESSORS)})")
    if z.get("zpool", "zsmalloc") not in ZPOOLS:
        raise ConfigError(f"lab scenario: [zswap] zpool {z['zpool']!r} (one of {', '.join(ZPOOLS)})")
    zswap = Zswap(
        enabled=z.get("enabled", False),
        compressor=z.get("compressor", "lzo"),
        zpool=z.get("zpool", "zsmalloc"),
        max_pool_percent=_range("[zswap] max_pool_percent", z.get("max_pool_percent", 20), 1, 100),
        accept_threshold_percent=_range("[zswap] accept_threshold_percent",
                                        z.get("accept_threshold_percent", 90), 0, 100),
        shrinker_enabled=z.get("shrinker_enabled", False),
    )
    w = _check("[workload]", top.get("workload", {}), {"size": (str, int), "mix": (dict, str), "phases": list})
    size = _size("[workload] size", w.get("size", "384M"), 1 << 20)
    parts = {**DEFAULT_MIX, **parse_mix(w.get("mix"))}
    hist = sorted(k for k in parts if k.startswith("lz4_"))
    if hist:  # the guest's C program (content.h) makes zero/same/random/corpus pages only
        raise ConfigError(f"lab scenario: [workload] mix part {hist[0]} (a compressibility histogram) is not "
                          "supported by the lab's workload program; give zero, same, random and corpus only")
    ContentMix.from_parts(parts)  # checks the fractions
    phases = tuple(parse_phases(w.get("phases", list(DEFAULT_PHASES))))
    seed = top.get("seed", 1)
    if not 0 <= seed < 1 << 64:
        raise ConfigError(f"lab scenario: seed = {seed} out of range (0 .. 2**64 - 1)")
    return LabScenario(
        name=top["name"], path=path, sha256=sha256, description=top.get("description", ""),
        seed=seed, guest=guest, zswap=zswap, size=size,
        mix=tuple(sorted(parts.items())), phases=phases,
    )


__all__ = ["LabScenario", "Guest", "Zswap", "load_lab_scenario", "parse_lab_scenario", "COMPRESSORS", "ZPOOLS"]
