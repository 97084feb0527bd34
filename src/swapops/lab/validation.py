"""``docs/validation.md``, generated from the recorded kernel runs and the current model.

``swapops lab validate`` boots every shipped scenario (``lab/scenarios``),
keeps each kernel record in ``lab/results/<name>.json`` and writes the
document; ``--model-only`` boots nothing and re-runs only the model against
the records (what to run after a change to the model). The document is a pure
function of the records, the scenario files and the model, so
``tests/test_lab_validation.py`` can regenerate it and fail when the file is
not current.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .common import PINNED, LabError
from .compare import compare
from .counters import COUNTERS, kernel_named
from .report import markdown
from .scenario import LabScenario, load_lab_scenario
from .slots import SIMILARITY

SCENARIO_DIR = "lab/scenarios"
RESULTS_DIR = "lab/results"
DOC = "docs/validation.md"
SUMMARY = ("pswpout", "pswpin", "swpout_zero", "pgmajfault", "swap_ra_hit", "zswpout", "zswpin", "zswpwb",
           "pool_limit_hit", "reject_compress_fail")
VARIATION = ("pswpout", "pswpin", "swpout_zero", "pgmajfault", "swap_ra", "zswpout", "zswpwb", "pool_limit_hit",
             "reject_compress_fail", "pgscan_anon")

Log = Callable[[str], None]


def save_record(root: Path, scn: LabScenario, record: Mapping[str, Any]) -> Path:
    """Keep ``record`` as ``lab/results/<name>.json`` (with the scenario file's hash)."""
    out = root / RESULTS_DIR / f"{scn.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        rel = str(Path(scn.path).resolve().relative_to(root.resolve()))
    except ValueError:
        rel = scn.path
    out.write_text(json.dumps({"scenario": scn.name, "file": rel, "sha256": scn.sha256,
                               "kernel_record": record}, indent=None, sort_keys=True) + "\n")
    return out


def load_results(root: Path) -> list[tuple[LabScenario, dict[str, Any]]]:
    """Every shipped scenario with its record; refuses a missing or stale one."""
    scenarios = sorted((root / SCENARIO_DIR).glob("*.toml"))
    if not scenarios:
        raise LabError(f"no scenarios in {root / SCENARIO_DIR}")
    out = []
    for path in scenarios:
        scn = load_lab_scenario(path)
        rec_path = root / RESULTS_DIR / f"{scn.name}.json"
        if not rec_path.is_file():
            raise LabError(f"{rec_path} missing: run 'swapops lab validate {path.relative_to(root)}'")
        saved = json.loads(rec_path.read_text())
        if saved.get("sha256") != scn.sha256:
            raise LabError(f"{rec_path} was recorded for another version of {path.relative_to(root)}: "
                           f"run 'swapops lab validate {path.relative_to(root)}'")
        record = saved["kernel_record"]
        if record.get("release") != PINNED.release:
            raise LabError(f"{rec_path}: recorded on {record.get('release')}, not the pinned {PINNED.release}")
        out.append((scn, record))
    return out


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1%}"


def _cell(row: Mapping[str, Any]) -> str:
    """The relative difference (absolute counts below 1,000); ✗ outside tolerance, bold if claimed."""
    if row["swapops"] is None:
        return "n/a"
    if row["kernel"] is None:
        return "–"
    if row["relative"] is None or max(abs(row["kernel"]), abs(row["swapops"])) < 1000:
        text = f"{row['kernel']:,.0f} vs {row['swapops']:,.0f}"
    else:
        text = _pct(row["relative"])
    text += "" if row["pass"] else " ✗"
    return f"**{text}**" if row["claimed"] else text


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|---" + "|---:" * (len(headers) - 1) + "|",
            *["| " + " | ".join(r) + " |" for r in rows]]


def _counter_map() -> list[str]:
    rows = []
    for c in COUNTERS:
        claim = ", ".join(c.claim) if c.claim else "–"
        rows.append([f"`{c.name}`", c.source, f"`{c.swapops}`" if c.swapops else "n/a",
                     f"`{c.swapops_17}`" if c.swapops_17 else "n/a", "level" if c.gauge else "per phase",
                     f"±{c.rel:.0%} (or {c.slack:,})", claim])
    lines = ["| kernel counter | source | swapops metric | after issue 17 | compared | tolerance | claimed in |",
             "|---|---|---|---|---|---|---|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


REASONS: dict[str, str] = {
    "issue 17's counters, whole run":
        "Every remaining whole-run difference on pswpout, pswpin, swpout_zero, pgmajfault, swap_ra_hit, "
        "the zswap counters and thp_swpout is listed with its size and reason in `docs/divergences.md` "
        "(generated from these records by `benchmarks/lab_divergences.py`): without zswap every one agrees "
        "within 5 % except with `vm.page-cluster` 0; with zswap pool_limit_hit, the zswpin/zswpwb split "
        "and how many of zswap's writeback folios the readers find in the swap cache (readahead and "
        "major faults) do not.",
    "pgscan_anon":
        "The kernel scans more inactive-list pages per page reclaimed than the model (`pgsteal_anon` "
        "agrees in the fill and the first read where `pgscan_anon` does not). The cause is not established "
        "yet.",
    "SwapCached":
        "The kernel keeps a page in the swap cache until its write completes and reclaim meets it again "
        "(`mm/vmscan.c: shrink_folio_list()`, a folio under writeback is kept, later `__remove_mapping()`); "
        "the model's writes complete at once, so after the fill it has none without zswap; with zswap it "
        "keeps the folios zswap's writebacks leave in the swap cache (`mm/zswap.c: "
        "zswap_writeback_entry()`) until reclaim frees them.",
    "swap_used, swap_ptes":
        "Follow the page-outs (each swapped page holds a slot).",
    "mglru":
        "The model has the classic two-list LRU only; with MGLRU on, the kernel's fill and first pass stay "
        "as close to the model as without it, the later passes diverge as in `no-zswap`.",
    "swap offsets":
        "6.12 hands out free clusters interleaved, 32 apart (`mm/swapfile.c: setup_clusters()`, "
        "`SWAP_CLUSTER_COLS`: 0, 32, 64, ... then 1, 33, ...), and per CPU in batches of 64 slots from the "
        "swap slots cache (`mm/swap_slots.c`, `SWAP_BATCH`); the model's allocator (`swapops.cluster`, the "
        "swap-table era of linux-mm) takes free clusters in index order, one slot at a time. So both fill "
        "the clusters they use about as fully, but the absolute offsets differ (same_offset near 0), the "
        "order of swap-out is only weakly correlated, and the kernel's sequential runs are short where the "
        "model's fill is one long run (table above).",
}


def _claims(results: list[tuple[LabScenario, dict[str, Any]]]) -> list[str]:
    rows = []
    for scn, res in results:
        claimed = [(p["name"], r) for p in res["phases"] for r in p["counters"] if r["claimed"]]
        claimed += [("total", r) for r in res["total"] if r["claimed"]]
        if not claimed:
            continue
        worst = max((abs(r["relative"] or 0.0), ph, r["counter"]) for ph, r in claimed)
        fails = sum(1 for _ph, r in claimed if r["pass"] is False)
        rows.append([scn.name, str(len(claimed)), str(fails), f"{worst[0]:.1%} ({worst[2]}, {worst[1]})"])
    return _table(["scenario", "claimed rows", "outside tolerance", "largest difference"], rows)


def _summary(results: list[tuple[LabScenario, dict[str, Any]]]) -> list[str]:
    rows = []
    for scn, res in results:
        by = {r["counter"]: r for r in res["total"]}
        rows.append([scn.name, *(_cell(by[k]) for k in SUMMARY)])
    return _table(["whole run: swapops vs kernel", *SUMMARY], rows)


def _first_phases(results: list[tuple[LabScenario, dict[str, Any]]]) -> list[str]:
    keys = ("pswpout", "swpout_zero", "pswpin", "pgmajfault", "swap_ra_hit")
    rows = []
    for scn, res in results:
        for p in res["phases"]:
            if p["name"] == "fill" or p["name"] == _first_read(scn):
                by = {r["counter"]: r for r in p["counters"]}
                rows.append([scn.name, p["name"], *(_cell(by[k]) for k in keys)])
    return _table(["scenario", "phase", *keys], rows)


def _first_read(scn: LabScenario) -> str | None:
    from .compare import phase_roles

    for phase, roles in zip(scn.phases, phase_roles(scn), strict=True):
        if "first-read" in roles:
            return phase.name
    return None


def _variation(results: list[tuple[LabScenario, dict[str, Any]]]) -> list[str]:
    lines: list[str] = []
    for scn, res in results:
        runs = res["kernel"].get("runs") or 1
        if runs < 2:
            continue
        lines += [f"`{scn.name}`, {runs} boots: the spread (largest minus smallest, over the median) of each "
                  "phase's increase in the kernel's counters:", ""]
        rows = []
        for p in res["phases"]:
            by = {r["counter"]: r for r in p["counters"]}
            rows.append([p["name"], *("–" if by[k].get("kernel_spread") is None else f"{by[k]['kernel_spread']:.1%}"
                                     for k in VARIATION)])
        lines += _table(["phase", *VARIATION], rows) + [""]
    return lines


def _variation_summary(results: list[tuple[LabScenario, dict[str, Any]]]) -> list[str]:
    claimed: list[tuple[float, str]] = []
    other: list[tuple[float, str]] = []
    for scn, res in results:
        for p in res["phases"]:
            for r in p["counters"]:
                spread = r.get("kernel_spread")
                if spread is None or (r["kernel"] or 0) < 1000:  # small counts: noise in relative terms
                    continue
                where = f"{scn.name} {p['name']} {r['counter']}"
                (claimed if r["claimed"] else other).append((spread, where))
    if not claimed and not other:
        return []
    out = []
    if claimed:
        worst = max(claimed)
        out.append(f"Over the claimed rows the largest spread is {worst[0]:.1%} ({worst[1]}).")
    if other:
        worst = max(other)
        out.append(f" Elsewhere (counts of at least 1,000) it reaches {worst[0]:.1%} ({worst[1]}).")
    return ["".join(out)]


def _slots(results: list[tuple[LabScenario, dict[str, Any]]]) -> list[str]:
    rows = []
    for scn, res in results:
        for p in res["phases"][:1]:
            s = p["slots"]
            if s is None:
                continue
            sim = s["similarity"]
            rows.append([scn.name, p["name"], f"{s['kernel']['cluster_fill']:.3f} / {s['swapops']['cluster_fill']:.3f}",
                         f"{s['kernel']['sequential']:.3f} / {s['swapops']['sequential']:.3f}",
                         f"{s['kernel']['mean_run']:.1f} / {s['swapops']['mean_run']:.1f}",
                         *("–" if sim[m] is None else f"{sim[m]:.3f}" for m in SIMILARITY)])
    return _table(["scenario", "phase", "cluster fill k / s", "sequential k / s", "mean run k / s",
                   *SIMILARITY], rows)


def _wall_range(results: list[tuple[LabScenario, dict[str, Any]]]) -> str:
    walls: list[float] = []
    for _scn, res in results:
        w = res["kernel"]["wall_s"]
        walls += w if isinstance(w, list) else [w]
    return f"{min(walls):.0f}-{max(walls):.0f} s"


def _compare_one(item: tuple[LabScenario, dict[str, Any]]) -> dict[str, Any]:
    scn, record = item
    try:
        return compare(scn, record)
    except ConfigError as exc:
        raise LabError(f"{scn.name}: {exc}") from None


def _compare_all(loaded: list[tuple[LabScenario, dict[str, Any]]], jobs: int | None) -> list[dict[str, Any]]:
    """The model side of every scenario, ``jobs`` at a time (each in a fresh forked process;
    the results do not depend on ``jobs``: the model is deterministic)."""
    jobs = max(1, min(jobs or min(2, os.cpu_count() or 1), len(loaded)))
    if jobs == 1:
        return [_compare_one(item) for item in loaded]
    ctx = mp.get_context("fork")
    with ctx.Pool(jobs, maxtasksperchild=1) as pool:
        return pool.map(_compare_one, loaded, chunksize=1)


def render_doc(root: Path = Path("."), *, log: Log | None = None, jobs: int | None = None) -> str:
    """The text of ``docs/validation.md`` for the records under ``root``."""
    say: Log = log or (lambda _m: None)
    loaded = load_results(root)
    say(f"model runs for {len(loaded)} scenarios")
    results = list(zip([scn for scn, _ in loaded], _compare_all(loaded, jobs), strict=True))
    base = next(r for s, r in results if s.name == "no-zswap") if any(s.name == "no-zswap" for s, _ in results) \
        else results[0][1]
    machine = base["kernel"]["machine"]
    release = base["kernel"]["release"]
    names = ", ".join(f"`{s.name}`" for s, _ in results)
    gen = "the kernel names of issue 17" if kernel_named() else "today's names (before issue 17's renames)"
    lines = [
        "# Validation: swapops against a real Linux kernel",
        "",
        "<!-- Generated by `swapops lab validate` (boots every scenario) or `swapops lab validate --model-only`",
        "     (re-runs the model against the recorded kernel runs in lab/results); do not edit.",
        "     tests/test_lab_validation.py fails when this file is not what they give. -->",
        "",
        f"Every figure here was measured: the kernel column on Linux **{release}** (Debian package "
        f"`{PINNED.spec}`, the generic amd64 flavour) booted under QEMU, the swapops column by the mm "
        "model running the same scenario. The kernel's source is Debian's `linux-source-6.12` of the same "
        "version; functions cited below are from it.",
        "",
        "## How it works",
        "",
        "* `swapops lab setup` installs the host packages it needs where missing (`qemu-system-x86`, "
        "`busybox-static`, `cpio`, `kmod`, `xz-utils`, `gcc`, `libc6-dev`), fetches the pinned kernel package "
        "with `apt-get download` and unpacks it with `dpkg-deb -x` into `~/.cache/swapops/lab` (never "
        "installing it), and builds the workload program (`gcc -static`) and an initramfs: a static busybox, "
        "`/init`, the modules the kernel has as modules (virtio_blk, lz4, lz4hc, zstd, deflate; virtio_pci, "
        "zsmalloc and lzo are built in) and the corpus. Everything is cached by a hash of its inputs: a "
        "second run costs nothing.",
        f"* The guest: QEMU with software emulation (TCG, never KVM), 1 CPU, 256 MiB (MemTotal "
        f"{machine['mem_total'] // 1024:,} kB), the root file system in ramfs (nothing of it can be swapped), "
        "a 512 MiB virtio swap disk the host formatted with `swapops format` (the `no-zswap-mkswap` control "
        "run uses the guest's mkswap), marked non-rotational, and a second disk for the dumps. `swapon` runs "
        "only inside the guest.",
        "* The workload program (`src/swapops/lab/workload.c`) fills an anonymous region page by page "
        "(`MADV_NOHUGEPAGE`, or `MADV_HUGEPAGE` where large folios are allowed), runs the scenario's phases "
        "(read passes forward or in reverse, a partial rewrite, fork with a child that reads and rewrites, "
        "munmap) and verifies every byte it reads back. Page contents come from `swapops.content` (splitmix64 "
        "over seed, page and version; zero, same-filled, real corpus pages and incompressible pages), the "
        "same generator the model uses: the kernel and the model swap the very same bytes "
        "(`tests/test_content.py`, `tests/test_lab_workload.py`). After each phase the program writes "
        "`/proc/vmstat`, `/sys/kernel/debug/zswap/*`, the mTHP stats, `/proc/swaps`, `/proc/meminfo`, "
        "`/proc/zoneinfo` and its own `/proc/self/pagemap` with O_DIRECT to the dump disk.",
        f"* The model (`swapops.lab.model`): `runner.Run` with RAM = the pages the guest had free when the "
        f"workload started ({machine['ram_pages']:,} in `no-zswap`), watermarks = the zones' min/low/high plus "
        f"their lowmem reserve, summed ({machine['wmark_min']:,}/{machine['wmark_low']:,}/"
        f"{machine['wmark_high']:,}), a swapfile of the disk's size (SSD paths, large folios allowed), with "
        "zswap the scenario's compressor and limits (the pool limit a share of MemTotal), the scenario's "
        "`page_cluster`, seed and mix, and the same accesses in the same order.",
        "",
        f"Run one scenario (the kernel runs took {_wall_range(results)} each here, booting in "
        f"{base['kernel']['boot_s']:.1f} s; the model takes seconds):",
        "",
        "```sh",
        "swapops lab setup",
        "swapops lab compare lab/scenarios/zswap-lz4.toml          # --json for scripts, --runs N to repeat",
        "```",
        "",
        "CI (`.ci/run`, the README's commands) boots `no-zswap`, `fork` and `mglru` afresh under the "
        "host-side guard of `tests/lab_guard.py`, and `tests/test_lab.py` asserts the claimed rows below on "
        "those boots. The zswap scenarios are not among them: in one of about six CI boots of `zswap-lz4` "
        "the guest kernel hung (`kswapd0` and a kworker blocked for more than 120 s under TCG, the "
        "300 s guest timeout killed it), which would fail CI at random and cost 5 minutes; they are "
        "booted by `swapops lab validate` and `swapops lab compare`, where a hang is reported as such.",
        "",
        "## Regenerating this page",
        "",
        "This page is generated from the stored kernel records (`lab/results/*.json`, one per scenario, "
        "with the scenario file's hash), the scenario files and the model as it is now; "
        "`tests/test_lab_validation.py` regenerates it and fails when the file differs. After a change to "
        "the model (nothing to boot):",
        "",
        "```sh",
        "swapops lab validate --model-only",
        "```",
        "",
        "After a change to a scenario file (its record is then refused as stale), boot it again and keep the "
        "record: `swapops lab validate lab/scenarios/NAME.toml` (`--runs 3` for the variation study). "
        "`swapops lab validate` alone boots every scenario.",
        "",
        "## Reading the tables",
        "",
        "Each phase has a table: *counter* (the kernel's name), *kernel* and *swapops* values, their "
        "*difference* (swapops minus kernel, and relative to the kernel), the *tolerance* and *pass/fail* "
        "(within `max(slack, tolerance × kernel)`). Event counters are the phase's increase; `(level)` rows "
        "are values at the phase's end. `n/a`: swapops has no such counter yet (never stood in for by "
        "another). `*`: a counter the model claims to reproduce in that phase; `tests/test_lab.py` asserts "
        "these in CI. After each table with a page map, the swap offsets (below). `whole run`: from the "
        "start to the last phase.",
        "",
        f"## The counter map (`src/swapops/lab/counters.py`; this swapops uses {gen})",
        "",
        *_counter_map(),
        "",
        "## What the model claims",
        "",
        "Claimed, in every scenario without zswap and without large folios: `pswpout` and `swpout_zero` in "
        "the fill phase, and `pswpin`, `pgmajfault`, `swap_ra` and `swap_ra_hit` in the first read pass after "
        "the fill (either direction), each within ±5 % (50 pages of slack for small counts). These are the "
        "rows every such shipped scenario passes with room for the kernel's run-to-run variation (below); the "
        "tolerance is issue 17's 5 % aim. Nothing is claimed with zswap or large folios yet.",
        "",
        *_claims(results),
        "",
        "The fill and the first read pass of every scenario, swapops relative to the kernel (**bold**: "
        "claimed; ✗: outside ±5 %; counts under 1,000 as kernel vs swapops):",
        "",
        *_first_phases(results),
        "",
        "## Known divergences",
        "",
        "The whole run, swapops relative to the kernel (✗: outside ±5 %; counts under 1,000 as kernel vs "
        "swapops; every phase is in the scenario tables below):",
        "",
        *_summary(results),
        "",
        "Why, as far as measured:",
        "",
        *[f"* **{k}.** {v}" for k, v in REASONS.items()],
        "",
        "## Run-to-run variation of the kernel",
        "",
        "The kernel is not deterministic (timers, kswapd against the faulting task, the host's load under "
        "TCG); the same scenario booted again gives other counts. The model is deterministic.",
        "",
        *_variation(results),
        *_variation_summary(results),
        "",
        "## Swap offsets",
        "",
        "From each side's page map after a phase (the kernel's `/proc/self/pagemap`, the model's page "
        "table), per page of the region its swap offset. Per side: *swap_ptes* (pages with a swap entry), "
        "*clusters* (512-slot clusters holding them), *cluster_fill* (swap_ptes / (clusters × 512)), "
        "*sequential* (of the neighbouring page pairs both swapped, the share with consecutive offsets) and "
        "*mean_run* (the mean length of the runs of such pairs, in pages). Similarity (1 = the same): "
        "*cluster_overlap* (Σ min(kernel, swapops) pages per cluster number, over the larger total: the same "
        "per-cluster fill, cluster by cluster), *same_offset* (of the pages swapped on both sides, the share "
        "at the very same offset) and *order* (Spearman's rank correlation of the two sides' offsets over "
        "those pages: the same order of swap-out). After the fill, k = kernel, s = swapops:",
        "",
        *_slots(results),
        "",
        "## The scenarios",
        "",
        f"Shipped in `lab/scenarios`: {names}. The kernel side of each is recorded in `lab/results` "
        "(`swapops lab compare SCENARIO --from-record lab/results/NAME.json` prints it again without a boot).",
        "",
    ]
    for _scn, res in results:
        lines.append(markdown(res, level=3))
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["render_doc", "save_record", "load_results", "SCENARIO_DIR", "RESULTS_DIR", "DOC", "REASONS"]
