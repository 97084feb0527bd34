"""Result documents for Python users: JSON Schemas, validation and a flat reader.

``swapops run --json`` writes a ``swapops.run/1`` document, ``swapops compare
--json`` a ``swapops.compare/1`` one, ``swapops sweep`` rows (``.jsonl``,
``.csv``, ``.parquet``). :func:`load` reads any of them into flat records, one
per run, per design or per sweep point, with the names a sweep uses for its
metrics (``totals.pswpout``, ``mm.pgscan_anon``,
``areas.0.layers.1.stats.cleaning_copies``: :func:`swapops.sweep.flatten`), so
a sweep's rows and a compare's runs line up column by column; :func:`to_frame`
makes a pandas DataFrame of them. The schemas (draft 2020-12) ship in
``swapops/schemas/``; :func:`validate` checks a document against one (it needs
the ``jsonschema`` package). docs/results.md has examples.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

from .errors import ConfigError
from .files import check_path, read_text

#: Schema names (``swapops schema NAME``) and the file of each.
SCHEMAS: dict[str, str] = {"run": "run.schema.json", "compare": "compare.schema.json",
                           "sweep-row": "sweep-row.schema.json"}
#: The versions of each document kind this swapops reads.
VERSIONS: dict[str, tuple[int, ...]] = {"swapops.run": (1,), "swapops.compare": (1,)}
SWEEP_SUFFIXES = (".jsonl", ".csv", ".parquet")

# The identifying columns every record starts with.
ID_COLUMNS = ("source", "schema", "stack", "workload", "seed")


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``name`` (``run``, ``compare`` or ``sweep-row``) as a dict."""
    if name not in SCHEMAS:
        raise ConfigError(f"unknown schema {name!r}: choose from {', '.join(SCHEMAS)}")
    text = resources.files("swapops").joinpath("schemas", SCHEMAS[name]).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def schema_text(name: str) -> str:
    """The schema file ``name`` as shipped (``swapops schema NAME`` prints it)."""
    schema(name)  # the name check
    return resources.files("swapops").joinpath("schemas", SCHEMAS[name]).read_text(encoding="utf-8")


def _validator(name: str) -> Any:
    try:
        import jsonschema
        from referencing import Registry, Resource
    except ImportError:
        raise ConfigError("validating needs jsonschema: pip install jsonschema "
                          "(or pip install 'swapops[test]')") from None
    registry: Any = Registry()
    for other in SCHEMAS:
        doc = schema(other)
        registry = registry.with_resource(doc["$id"], Resource.from_contents(doc))
    cls = jsonschema.validators.validator_for(schema(name))
    return cls(schema(name), registry=registry, format_checker=cls.FORMAT_CHECKER)


def validation_errors(document: Any, name: str) -> list[str]:
    """Every way ``document`` breaks schema ``name``, as ``path: message`` lines (empty: valid)."""
    out = []
    for err in sorted(_validator(name).iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(map(str, err.absolute_path)) or "(document)"
        out.append(f"{where}: {err.message}")
    return out


def validate(document: Any, name: str | None = None, *, where: str = "document") -> str:
    """Check ``document`` against schema ``name`` (default: the one its ``schema`` key names);
    return the name. A document that breaks it is a one-line ConfigError naming the first place."""
    name = name or _schema_name(document, where)
    errors = validation_errors(document, name)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{where}: not a valid {name} document: {errors[0]}{more}")
    return name


def _schema_name(document: Any, where: str) -> str:
    tag = document.get("schema") if isinstance(document, Mapping) else None
    if not isinstance(tag, str):
        raise ConfigError(f"{where}: no \"schema\" key: not a swapops result document")
    kind, _, version = tag.partition("/")
    if kind not in VERSIONS:
        raise ConfigError(f"{where}: unknown schema {tag!r} (this swapops reads "
                          f"{', '.join(f'{k}/{v[-1]}' for k, v in VERSIONS.items())})")
    if not version.isdigit() or int(version) not in VERSIONS[kind]:
        known = ", ".join(map(str, VERSIONS[kind]))
        raise ConfigError(f"{where}: {tag!r} is a version of {kind} this swapops does not read "
                          f"(it reads version {known}); upgrade swapops")
    return kind.removeprefix("swapops.")


# ----------------------------------------------------------------------------- reading


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``swapops.run/1`` or ``swapops.compare/1`` JSON file, its tag and version checked."""
    name = check_path(path, "result file")
    text = read_text(name, what="result file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"result file {name}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"result file {name}: not a JSON object")
    _schema_name(data, f"result file {name}")
    return data


def _run_record(run: Mapping[str, Any], source: str, tag: str, where: str) -> dict[str, Any]:
    from .sweep import flatten

    for key, kind in (("stack", str), ("seed", int), ("totals", Mapping), ("workload", Mapping)):
        if not isinstance(run.get(key), kind):
            raise ConfigError(f"{where}: no {key!r} of the right type: not a swapops.run/1 result")
    record: dict[str, Any] = {"source": source, "schema": tag, "stack": run["stack"],
                              "workload": run["workload"].get("name"), "seed": run["seed"]}
    record.update(flatten({k: v for k, v in run.items() if k not in ("schema", "stack", "seed", "series")}))
    return record


def _sweep_records(path: str) -> list[dict[str, Any]]:
    from .sweep import read_results

    out = []
    for i, row in enumerate(read_results(path), 1):
        missing = [k for k in ("point_id", "stack", "workload", "seed") if k not in row]
        if missing:
            raise ConfigError(f"results file {path}, row {i}: no {', '.join(missing)}: not a swapops sweep row")
        # a CSV cell of 16 decimal digits reads back as a number: the id is a string
        row = {**row, "point_id": str(row["point_id"])}
        out.append({"source": path, "schema": "swapops.sweep-row", **row})
    return out


def load(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Flat records of a result file: one per run (``swapops.run/1``), per design
    (``swapops.compare/1``) or per sweep point (``.jsonl``/``.csv``/``.parquet``).

    Every record has ``source``, ``schema``, ``stack``, ``workload`` (its name)
    and ``seed``, then each figure under its dotted name (``totals.pswpout``,
    ``config.ram``, ``areas.0.proc_swaps.used``); time series and lists of
    plain values (``stacks``, ``config.swap_sizes``) are left out. Bad input
    (not JSON, not a result, an unknown version) is a one-line ConfigError.
    """
    name = check_path(path, "result file")
    if pathlib.Path(name).suffix.lower() in SWEEP_SUFFIXES:
        return _sweep_records(name)
    doc = read_document(name)
    tag = doc["schema"]
    if tag.startswith("swapops.compare/"):
        runs = doc.get("runs")
        if not isinstance(runs, list) or not runs:
            raise ConfigError(f"result file {name}: a {tag} document without runs")
        return [_run_record(run if isinstance(run, Mapping) else {}, name, tag, f"result file {name}: run {i}")
                for i, run in enumerate(runs)]
    return [_run_record(doc, name, tag, f"result file {name}")]


def to_frame(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Iterable[Mapping[str, Any]]) -> Any:
    """A pandas DataFrame of :func:`load`'s records: of one file, of several
    files (rows in order, columns the union), or of records already loaded."""
    try:
        import pandas as pd
    except ImportError:
        raise ConfigError("to_frame needs pandas: pip install pandas (or pip install 'swapops[pandas]')") from None
    records: list[Mapping[str, Any]] = []
    if isinstance(source, (str, os.PathLike)):
        records = list(load(source))
    else:
        for item in source:
            if isinstance(item, (str, os.PathLike)):
                records.extend(load(item))
            elif isinstance(item, Mapping):
                records.append(item)
            else:
                raise ConfigError(f"to_frame takes paths or records, not {type(item).__name__}")
    columns: dict[str, None] = dict.fromkeys(ID_COLUMNS)
    for rec in records:
        for key in rec:
            columns.setdefault(key, None)
    return pd.DataFrame.from_records([dict(r) for r in records], columns=list(columns))


__all__ = ["SCHEMAS", "VERSIONS", "load", "read_document", "schema", "schema_text", "to_frame", "validate",
           "validation_errors"]
