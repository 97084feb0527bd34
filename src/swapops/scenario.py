"""Scenario files: ``swapops run SCENARIO.toml``.

A scenario lists swapon steps, a workload, swapoff steps and what to report
(``docs/cli.md`` has the full reference)::

    seed = 1
    ram = "16M"

    [[swapon]]
    stack = "vswap>zswap>swapfile:device=nvme"
    size = "40M"
    priority = 10

    [workload]
    name = "zipf"            # or: trace = "run.trace.gz"
    events = 200000
    mix = { zero = 0.2, random = 0.1 }
    params = { alpha = 0.9 }

    [[swapoff]]
    area = 0                 # index in the swapon list
    layer = "swapfile"       # optional: a layer below vswap, not the whole stack

    [report]
    totals = ["pswpout", "slots_used", "swapoff_pte_visits"]
    plot = "scenario.png"

    [tiers]                  # swap tiers: names for priority ranges
    fast = [100, 32767]
    slow = [-1, 99]

    [cgroup.batch]           # processes in a cgroup (swapops.memcg, docs/memcg.md)
    procs = [2]
    memory_max = "4M"        # or "max"
    swap_max = "16M"
    swap_tiers = ["slow"]

Unknown keys are errors (a typo must not be silently ignored). Relative
paths (trace, plot, swapfile ``path=`` options stay as written) are taken
relative to the scenario file's directory.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

from .content import mix_from_record
from .errors import ConfigError
from .files import check_path, decode_error, open_binary
from .memcg import CgroupConfig
from .metrics import TOTAL_KEYS
from .runner import DEFAULT_RAM, DEFAULT_SWAP, Progress, Run, build_workload
from .sizes import parse_size
from .trace import TraceWorkload
from .workloads import DEFAULT_WORKLOAD, Workload, parse_mix

TOP_KEYS = {"seed", "ram", "page_cluster", "cpus", "thp_orders", "page_cache", "swappiness", "verify", "event_ns", "points", "memory", "swapon", "workload",
            "swapoff", "report", "cgroup", "tiers"}
SWAPON_KEYS = {"stack", "size", "priority", "options"}
WORKLOAD_KEYS = {"name", "trace", "events", "pages", "processes", "write_fraction", "mix", "params"}
SWAPOFF_KEYS = {"area", "layer"}
REPORT_KEYS = {"totals", "plot", "series"}
EXTRA_TOTALS = ("swapoff_pte_visits", "swapoff_entries_moved")


def _check_keys(where: str, table: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"scenario: {where} must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"scenario: unknown key {unknown[0]!r} in {where} (keys: {', '.join(sorted(allowed))})")
    return dict(table)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _path(value: Any) -> bool:
    try:
        check_path(value)
    except ConfigError:
        return False
    return True


def _size(value: Any) -> bool:
    if _int(value):
        return bool(value >= 0)
    if isinstance(value, str):
        try:
            parse_size(value)
        except ConfigError:
            return False
        return True
    return False


#: Types of the scalar keys: a check and what the error says is expected.
_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (lambda v: _int(v) and v >= 0, "an integer >= 0"),
    "ram": (_size, 'a size such as "16M" or a number of bytes'),
    "page_cache": (_size, 'a size such as "4M" or a number of bytes'),
    "page_cluster": (lambda v: _int(v) and 0 <= v <= 10, "an integer from 0 to 10"),
    "cpus": (lambda v: _int(v) and 1 <= v <= 1024, "an integer from 1 to 1024"),
    "swappiness": (lambda v: _int(v) and 0 <= v <= 200, "an integer from 0 to 200"),
    "thp_orders": (lambda v: isinstance(v, list) and all(_int(o) and 1 <= o <= 9 for o in v),
                   "a list of orders from 1 to 9"),
    "verify": (lambda v: isinstance(v, bool), "true or false"),
    "event_ns": (lambda v: _int(v) and v > 0, "a positive integer (simulated ns per event)"),
    "points": (lambda v: _int(v) and v > 0, "a positive integer"),
    "memory": (lambda v: v in ("rss", "tracemalloc"), '"rss" or "tracemalloc"'),
    "stack": (lambda v: isinstance(v, str), "a stack string"),
    "size": (_size, 'a size such as "40M" or a number of bytes'),
    "priority": (lambda v: _int(v) and -1 <= v <= 32767, "an integer from -1 to 32767"),
    "options": (lambda v: isinstance(v, Mapping), "a table of module options"),
    "name": (lambda v: isinstance(v, str), "a workload name"),
    "trace": (_path, "a trace file path (a non-empty string without NUL)"),
    "events": (lambda v: _int(v) and v > 0, "a positive integer"),
    "pages": (lambda v: _int(v) and v > 0, "a positive integer"),
    "processes": (lambda v: _int(v) and v > 0, "a positive integer"),
    "write_fraction": (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0,
        "a number from 0 to 1",
    ),
    "mix": (lambda v: isinstance(v, (Mapping, str)), 'a table such as { zero = 0.2, random = 0.1 }'),
    "params": (lambda v: isinstance(v, Mapping), "a table such as { alpha = 0.9 }"),
    "area": (_int, "an index of the swapon list"),
    "layer": (lambda v: isinstance(v, str), "a module name"),
    "totals": (
        lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "a list of metric names",
    ),
    "plot": (_path, "a .png file name"),
}


def _check_types(where: str, table: Mapping[str, Any]) -> None:
    for key, value in table.items():
        check = _TYPES.get(key)
        if check is not None and not check[0](value):
            raise ConfigError(f"scenario: {key} = {value!r} in {where}: expected {check[1]}")


def load_scenario(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a scenario file; return it as a dict with ``base`` (its directory)."""
    name = check_path(path, "scenario")
    try:
        with open_binary(name, what="scenario") as f:  # a FIFO or a device is refused, no hang
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"scenario {name}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8
        raise decode_error("scenario", name, exc) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"scenario {name}: not valid TOML: {exc}") from None
    return parse_scenario(data, base=os.path.dirname(os.path.abspath(name)))


def parse_scenario(data: Mapping[str, Any], base: str = ".") -> dict[str, Any]:
    """Validate a scenario given as a mapping (the parsed TOML)."""
    scn = _check_keys("the scenario", data, TOP_KEYS)
    _check_types("the scenario", {k: v for k, v in scn.items() if k in _TYPES})
    swapons = scn.get("swapon", [])
    if not isinstance(swapons, list) or not swapons:
        raise ConfigError("scenario: at least one [[swapon]] step is needed (stack = \"...\")")
    steps = []
    for i, step in enumerate(swapons):
        step = _check_keys(f"[[swapon]] #{i}", step, SWAPON_KEYS)
        _check_types(f"[[swapon]] #{i}", step)
        if not isinstance(step.get("stack"), str):
            raise ConfigError(f"scenario: [[swapon]] #{i} needs stack = \"...\"")
        clash = sorted(set(step.get("options", {})) & {"size", "priority"})
        if clash:  # swapon() takes them as arguments of its own
            raise ConfigError(
                f"scenario: [[swapon]] #{i}: give {clash[0]} in the step ({clash[0]} = ...), not in its options"
            )
        steps.append(step)
    scn["swapon"] = steps
    wl = _check_keys("[workload]", scn.get("workload", {}), WORKLOAD_KEYS)
    _check_types("[workload]", wl)
    if "mix" in wl:
        parse_mix(wl["mix"])  # a bad mix is refused before the run
    if "trace" in wl and "name" in wl:
        raise ConfigError("scenario: [workload] takes either name or trace, not both")
    if "trace" in wl:
        wl["trace"] = os.path.join(base, wl["trace"])
    scn["workload"] = wl
    offs = scn.get("swapoff", [])
    if not isinstance(offs, list):
        raise ConfigError("scenario: swapoff must be a list of [[swapoff]] tables")
    checked = []
    for i, step in enumerate(offs):
        step = _check_keys(f"[[swapoff]] #{i}", step, SWAPOFF_KEYS)
        _check_types(f"[[swapoff]] #{i}", step)
        area = step.get("area", 0)
        if not isinstance(area, int) or not 0 <= area < len(steps):
            raise ConfigError(f"scenario: [[swapoff]] #{i}: area must be an index of the swapon list (0..{len(steps) - 1})")
        step["area"] = area
        checked.append(step)
    scn["swapoff"] = checked
    report = _check_keys("[report]", scn.get("report", {}), REPORT_KEYS)
    _check_types("[report]", report)
    for key in report.get("totals", []):
        if key not in TOTAL_KEYS and key not in EXTRA_TOTALS:
            raise ConfigError(f"scenario: [report] totals: unknown metric {key!r}")
    if "plot" in report:
        report["plot"] = os.path.join(base, report["plot"])
    scn["report"] = report
    if "cgroup" in scn or "tiers" in scn:
        try:
            CgroupConfig(scn.get("cgroup", {}), scn.get("tiers", {}))  # refused here, before the run
        except ConfigError as exc:
            raise ConfigError(f"scenario: {exc}") from None
    scn["base"] = base
    return scn


def run_scenario(scn: Mapping[str, Any], *, progress: Progress | None = None) -> dict[str, Any]:
    """Run a validated scenario; return the result dict (with ``scenario`` added)."""
    seed = int(scn.get("seed", 0))
    ram = scn.get("ram", DEFAULT_RAM)
    wl = scn["workload"]
    workload: Workload | TraceWorkload
    mix: Mapping[str, float] | None = parse_mix(wl["mix"]) if "mix" in wl else None
    if "trace" in wl:
        workload = TraceWorkload(wl["trace"], events=wl.get("events"))
        if "seed" not in scn:  # replay with the seed and mix it was recorded with
            seed = workload.seed
        if mix is None:
            recorded = workload.header.get("mix", {})
            mix = mix_from_record(recorded)
    else:
        workload = build_workload(
            wl.get("name", DEFAULT_WORKLOAD),
            ram=ram,
            seed=seed,
            events=wl.get("events"),
            pages=wl.get("pages"),
            processes=wl.get("processes"),
            write_fraction=wl.get("write_fraction"),
            params=wl.get("params"),
        )
    r = Run(
        seed=seed,
        ram=ram,
        mix=mix,
        page_cluster=int(scn.get("page_cluster", 3)),
        cpus=int(scn.get("cpus", 1)),
        thp_orders=tuple(scn.get("thp_orders", ())),
        page_cache=scn.get("page_cache", 0),
        swappiness=int(scn.get("swappiness", 60)),
        verify=bool(scn.get("verify", True)),
        event_ns=int(scn.get("event_ns", 1000)),
        points=int(scn.get("points", 60)),
        memory=str(scn.get("memory", "rss")),
        cgroups=scn.get("cgroup"),
        tiers=scn.get("tiers"),
    )
    tops = []
    for step in scn["swapon"]:
        options = step.get("options", {})
        if not isinstance(options, Mapping):
            raise ConfigError("scenario: [[swapon]] options must be a table")
        tops.append(r.swapon(step["stack"], size=step.get("size", DEFAULT_SWAP),
                             priority=int(step.get("priority", -1)), **options))
    r.replay(workload, progress=progress)
    snap = r.snapshot()
    for step in scn["swapoff"]:
        top = tops[step["area"]]
        target = top
        layer = step.get("layer")
        if layer is not None:
            found = [d for d in top.layers() if layer == d.NAME]
            if not found:
                raise ConfigError(f"scenario: swapoff layer {layer!r} is not in {top.stack_name}")
            target = found[0]
        r.swapoff(target, label=f"area {step['area']}: {target.stack_name}")
    result = r.report(snap)
    result["scenario"] = {"report": {k: v for k, v in scn["report"].items() if k != "plot"}}
    return result


__all__ = ["load_scenario", "parse_scenario", "run_scenario"]
