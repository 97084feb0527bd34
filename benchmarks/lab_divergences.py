"""Regenerate the measured table of docs/divergences.md from recorded kernel runs.

For every shipped lab scenario (``lab/scenarios/*.toml``) with a recorded
kernel run (``RESULTS/<name>.json``, what ``swapops lab validate`` keeps),
run the mm model on the recorded machine (``swapops.lab.compare.compare``,
no boot) and write the whole-run figures, kernel against swapops, between
the table markers of docs/divergences.md. The reasons around the table are
written by hand from these figures. About two to four minutes on one core::

    python benchmarks/lab_divergences.py --results lab/results --write

``--scenario NAME=FILE`` uses another scenario file for one record (a record
made from a scenario file that has changed since).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "divergences.md"
START = "<!-- divergences-table: start (benchmarks/lab_divergences.py --write) -->"
END = "<!-- divergences-table: end -->"

#: The counters issue 17 names, then the large-folio ones.
COLUMNS = ("pswpout", "pswpin", "swpout_zero", "pgmajfault", "swap_ra_hit", "zswpout", "zswpin", "zswpwb",
           "pool_limit_hit", "reject_compress_fail", "thp_swpout")


def cell(row: dict[str, Any] | None) -> str:
    """One figure: the relative difference, or 'kernel vs swapops' for small counts; ✗ outside tolerance."""
    if row is None or row["swapops"] is None:
        return "n/a"
    k, s = row["kernel"], int(row["swapops"])
    if k == 0 and s == 0:
        return "–"
    text = f"{k:,} vs {s:,}" if k < 1000 else f"{k:,} vs {s:,} ({row['relative'] * 100:+.1f}%)"
    return text + ("" if row["pass"] else " ✗")


def table(results: pathlib.Path, overrides: dict[str, str]) -> str:
    from swapops.lab.compare import compare
    from swapops.lab.scenario import load_lab_scenario

    lines = ["| scenario | " + " | ".join(f"`{c}`" for c in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for path in sorted((ROOT / "lab" / "scenarios").glob("*.toml")):
        rec = results / f"{path.stem}.json"
        if not rec.exists():
            continue
        scn = load_lab_scenario(overrides.get(path.stem, str(path)))
        record = json.loads(rec.read_text())
        result = compare(scn, record.get("kernel_record", record))
        total = {r["counter"]: r for r in result["total"]}
        lines.append(f"| {path.stem} | " + " | ".join(cell(total.get(c)) for c in COLUMNS) + " |")
        print(lines[-1], file=sys.stderr)
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(ROOT / "lab" / "results"), help="the recorded kernel runs")
    ap.add_argument("--scenario", action="append", default=[], metavar="NAME=FILE")
    ap.add_argument("--write", action="store_true", help="rewrite docs/divergences.md's table")
    args = ap.parse_args()
    overrides = dict(s.split("=", 1) for s in args.scenario)
    body = table(pathlib.Path(args.results), overrides)
    if not args.write:
        print(body)
        return 0
    text = DOC.read_text()
    head, rest = text.split(START + "\n", 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(head + START + "\n" + body + END + tail)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
