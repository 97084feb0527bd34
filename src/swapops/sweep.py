"""Sweeps: grids of designs × workloads × parameters, run by a pluggable executor.

A sweep file (TOML) names stacks, workloads, parameter grids and seeds::

    [sweep]
    name = "waf-vs-op"
    stacks = ["swapfile:device=flash,op={op}", "flashbuf>swapfile:device=flash,op={op}"]
    workloads = ["uniform"]
    seeds = [1, 2]
    metrics = ["totals.waf", "totals.nand_writes"]   # default: every totals.* and mm.* figure

    [sweep.base]          # fixed arguments of swapops.runner.run
    ram = "8M"
    events = 40000

    [sweep.grid]          # cartesian product
    op = [0.07, 0.15, 0.28]

    [[sweep.points]]      # explicit extra points (merged over base)
    op = 0.5

A grid parameter that :func:`swapops.runner.run` accepts (``ram``, ``events``,
``swap``, ``pages``, ...) is passed to it; every parameter also fills
``{name}`` placeholders in the stack strings. Each point is reproducible from
its row: the row stores the full configuration (``config``), its hash
(``point_id``) and the stack template it came from (``design``: one line per
design in ``swapops plot``). Unknown keys, parameters used nowhere, ``seed``
outside ``seeds`` and unknown ``totals.*``/``mm.*`` metrics are refused
(``docs/sweep.md`` is the reference and a worked sweep). Executors: ``serial`` (in process), ``process`` (a local
process pool, the default) and ``dask`` (``swapops[dask]``: a running scheduler
address, or a LocalCluster). Results go to ``.jsonl``, ``.csv`` or
``.parquet`` (``swapops[parquet]``); a journal beside the output makes an interrupted sweep
resume without redoing finished points. A failing point is recorded with its
error and the sweep goes on.
"""

from __future__ import annotations

import csv
import difflib
import functools
import hashlib
import inspect
import io
import itertools
import json
import os
import pathlib
import string
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from .errors import ConfigError, ExecutorError
from .files import check_output, check_path, decode_error, open_binary, read_text

EXECUTORS = ("serial", "process", "dask")
WALL_FIELDS = ("wall_s",)
DEFAULT_METRIC_PREFIXES = ("totals.", "mm.")


# ----------------------------------------------------------------------------- spec


def load_sweep(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a sweep file; return its ``[sweep]`` table."""
    name = check_path(path, "sweep file")
    try:
        with open_binary(name, what="sweep file") as f:  # a FIFO or a device is refused, no hang
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"sweep file {name}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8
        raise decode_error("sweep file", name, exc) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from None
    spec = data.get("sweep")
    if not isinstance(spec, dict):
        raise ConfigError(f"{name}: no [sweep] table")
    return check_spec(spec)


SPEC_KEYS = ("name", "description", "stacks", "workloads", "workload", "seeds", "metrics", "base",
             "grid", "points")


def _refuse_unknown(where: str, keys: Iterable[str], allowed: Iterable[str]) -> None:
    allowed = sorted(set(allowed))
    for key in keys:
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(
                f"sweep: unknown key {key!r} in {where}{also} (keys: {', '.join(allowed)})"
            )


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders of a stack template."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"sweep: stack {template!r}: {exc}") from None
    return {f.split(".")[0].split("[")[0] for f in fields if f}


def check_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check a ``[sweep]`` table; raise :class:`ConfigError` naming the first mistake.

    Unknown keys, parameters that reach neither :func:`swapops.runner.run`
    nor a stack placeholder, ``seed`` outside ``seeds`` and unknown
    ``totals.*``/``mm.*`` metrics are refused: each would give a sweep that
    runs and measures something else than the file says.
    """
    spec = dict(spec)
    _refuse_unknown("[sweep]", spec, SPEC_KEYS)
    stacks = spec.get("stacks")
    if isinstance(stacks, str):
        stacks = [stacks]
    if not isinstance(stacks, list) or not stacks or not all(isinstance(s, str) for s in stacks):
        raise ConfigError("sweep: 'stacks' must be a non-empty list of stack strings")
    spec["stacks"] = list(stacks)
    if "workload" in spec and "workloads" in spec:
        raise ConfigError("sweep: give 'workloads' or 'workload', not both")
    workloads = spec.pop("workload", spec.get("workloads", ["uniform"]))
    workloads = [workloads] if isinstance(workloads, str) else workloads
    if not isinstance(workloads, list) or not workloads or not all(
        isinstance(w, str) for w in workloads
    ):
        raise ConfigError("sweep: 'workloads' must be a non-empty list of workload names")
    spec["workloads"] = list(workloads)
    seeds = spec.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError("sweep: 'seeds' as a count must be at least 1")
        seeds = list(range(seeds))
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise ConfigError("sweep: 'seeds' must be a list of integers >= 0 (or a count)")
    if len(set(seeds)) != len(seeds):
        raise ConfigError("sweep: 'seeds' lists a seed twice")
    spec["seeds"] = list(seeds)
    for key in ("base", "grid"):
        if not isinstance(spec.get(key, {}), dict):
            raise ConfigError(f"sweep: [sweep.{key}] must be a table")
    for name, values in spec.get("grid", {}).items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep: grid parameter {name!r} must be a non-empty list")
    points = spec.get("points", [])
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise ConfigError("sweep: [[sweep.points]] must be a list of tables")
    used = set(_run_parameters()).union(*(placeholders(t) for t in spec["stacks"]))
    wheres = [("[sweep.base]", spec.get("base", {})), ("[sweep.grid]", spec.get("grid", {}))]
    wheres += [(f"[[sweep.points]] #{i}", p) for i, p in enumerate(points)]
    for where, table in wheres:
        if "seed" in table:
            raise ConfigError(
                f"sweep: 'seed' in {where}: seeds are given by 'seeds = [...]' in [sweep]"
            )
        for name in table:
            if name not in used:
                hint = difflib.get_close_matches(name, sorted(used), n=1)
                also = f"; did you mean {hint[0]!r}?" if hint else ""
                raise ConfigError(
                    f"sweep: parameter {name!r} in {where} is neither an argument of a run "
                    f"nor a {{placeholder}} of a stack{also} "
                    f"(run arguments: {', '.join(sorted(_run_parameters() - {'seed'}))})"
                )
    metrics = spec.get("metrics")
    if metrics is not None:
        if not (isinstance(metrics, list) and metrics and all(isinstance(m, str) for m in metrics)):
            raise ConfigError(
                "sweep: 'metrics' must be a non-empty list of dotted names such as 'totals.waf'"
            )
        known = known_metrics()
        for name in metrics:
            if name.startswith(DEFAULT_METRIC_PREFIXES) and name not in known:
                hint = difflib.get_close_matches(name, sorted(known), n=1)
                also = f"; did you mean {hint[0]!r}?" if hint else ""
                raise ConfigError(f"sweep: unknown metric {name!r}{also}")
    return spec


@functools.cache
def known_metrics() -> frozenset[str]:
    """Every ``totals.*`` and ``mm.*`` name a run reports (from a tiny run)."""
    from .runner import run

    result = run("swapfile", "uniform", ram="1M", swap="1M", events=64, swapoff=True, verify=False)
    return frozenset(k for k in flatten(result) if k.startswith(DEFAULT_METRIC_PREFIXES))


def expand(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every point of the sweep, as a configuration dict, in a stable order.

    A point whose run is the same as an earlier one's (same stack, workload,
    seed and run arguments: a parameter only other stacks' placeholders use)
    is listed once, with the earlier point's parameters.
    """
    base = dict(spec.get("base", {}))
    grid: Mapping[str, list[Any]] = spec.get("grid", {})
    names = sorted(grid)
    params_list: list[dict[str, Any]] = [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(grid[n] for n in names))
    ]
    params_list += [dict(p) for p in spec.get("points", [])]
    if not params_list:
        params_list = [{}]
    run_args = _run_parameters()
    configs = []
    seen: set[str] = set()
    for params in params_list:
        merged = {**base, **params}
        for template in spec["stacks"]:
            try:
                stack = template.format(**merged)
            except (KeyError, IndexError, ValueError) as exc:
                raise ConfigError(
                    f"sweep: stack {template!r} has a placeholder with no value: {exc}"
                ) from None
            for workload in spec["workloads"]:
                for seed in spec["seeds"]:
                    args = {k: v for k, v in merged.items() if k in run_args}
                    config = {
                        "stack": stack,
                        "workload": workload,
                        "seed": seed,
                        "run": args,
                    }
                    pid = point_id(config)
                    if pid in seen:
                        continue  # the same run again (a parameter its stack does not use)
                    seen.add(pid)
                    configs.append(
                        {
                            "stack": stack,
                            "stack_template": template,
                            "workload": workload,
                            "seed": seed,
                            "params": merged,
                            "run": args,
                        }
                    )
    return configs


def point_id(config: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {k: config[k] for k in ("stack", "workload", "seed", "run")}, sort_keys=True, default=str
    )
    return hashlib.sha1(canonical.encode()).hexdigest()[:16]


@functools.cache
def _run_parameters() -> frozenset[str]:
    from .runner import run

    return frozenset({
        name
        for name, p in inspect.signature(run).parameters.items()
        if p.kind == inspect.Parameter.KEYWORD_ONLY and name not in {"progress", "trace_out"}
    })


# ----------------------------------------------------------------------------- one point


def flatten(result: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Scalar leaves of a run result as ``{"totals.waf": 1.2, ...}``.

    A list of tables is indexed (``areas.0.layers.1.stats.cleaning_copies``,
    ``swapoff.0.pte_visits``); other lists (time series) are skipped.
    """
    flat: dict[str, Any] = {}
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (list, tuple)):
            if value and all(isinstance(v, Mapping) for v in value):
                for i, item in enumerate(value):
                    flat.update(flatten(item, f"{name}.{i}."))
        else:
            flat[name] = value
    return flat


def _row(config: Mapping[str, Any]) -> dict[str, Any]:
    """The identifying columns of a point's row (no metrics yet, no error)."""
    return {
        "point_id": point_id(config),
        "stack": config["stack"],
        "design": config.get("stack_template", config["stack"]),
        "workload": config["workload"],
        "seed": config["seed"],
        **{f"param.{k}": v for k, v in sorted(config["params"].items())},
        "config": json.dumps(config, sort_keys=True, default=str),
        "error": None,
    }


def failed_row(config: Mapping[str, Any], error: str) -> dict[str, Any]:
    """The row of a point that produced no result of its own (its worker died)."""
    return {**_row(config), "error": error, "wall_s": None}


def run_point(config: Mapping[str, Any], metrics: Sequence[str] | None = None) -> dict[str, Any]:
    """Run one point; return its row. Never raises: an error becomes the row's ``error``."""
    from .runner import run

    row = _row(config)
    start = time.perf_counter()
    try:
        result = run(config["stack"], config["workload"], seed=config["seed"], **config["run"])
    except Exception as exc:  # a failing point is recorded, the sweep goes on
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["wall_s"] = time.perf_counter() - start
        return row
    flat = flatten(result)
    if metrics:
        for name in metrics:
            row[name] = flat.get(name)
    else:
        for name, value in flat.items():
            if name.startswith(DEFAULT_METRIC_PREFIXES):
                row[name] = value
    row["wall_s"] = time.perf_counter() - start
    return row


PointFn = Callable[[Mapping[str, Any], Sequence[str] | None], dict[str, Any]]


# ----------------------------------------------------------------------------- executors
#
# An executor starts the points at once and is then iterated for rows as they
# finish. On an interruption the driver calls stop(): queued points are not
# run, running ones are abandoned (their workers killed, not left computing),
# and the rows that finished but were not yet taken are handed back so that
# none is lost. close() releases everything after a normal end.


class _Serial:
    def __init__(self, points: Sequence[Mapping[str, Any]], metrics: Sequence[str] | None,
                 point: PointFn, **_: Any) -> None:
        self._rows = (point(config, metrics) for config in points)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._rows

    def stop(self) -> list[dict[str, Any]]:
        return []  # the interrupted point was running here: nothing else finished

    def close(self) -> None:
        self._rows.close()


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the parent, which stops them (kills them) at once:
    a terminal sends SIGINT to the whole process group."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Process:
    """A local pool of spawned processes (``concurrent.futures``)."""

    def __init__(self, points: Sequence[Mapping[str, Any]], metrics: Sequence[str] | None,
                 point: PointFn, *, workers: int | None = None, **_: Any) -> None:
        import concurrent.futures
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # no state inherited from the parent
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers or os.cpu_count(), mp_context=context, initializer=_ignore_sigint
        )
        self._futures = [self._pool.submit(point, config, metrics) for config in points]
        self._taken: set[Any] = set()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        import concurrent.futures
        from concurrent.futures.process import BrokenProcessPool

        for future in concurrent.futures.as_completed(self._futures):
            self._taken.add(future)
            try:
                yield future.result()
            except BrokenProcessPool:
                left = len(self._futures) - len(self._taken) + 1
                raise ExecutorError(
                    f"sweep: a worker process died (killed by a signal, out of memory, or a crash); "
                    f"{left} points not run, the finished rows are kept: run again to resume, "
                    "or use --executor serial or dask, which record such a point as a failed row"
                ) from None

    def stop(self) -> list[dict[str, Any]]:
        for future in self._futures:
            future.cancel()
        rows = [
            f.result()
            for f in self._futures
            if f not in self._taken and f.done() and not f.cancelled() and f.exception() is None
        ]
        # concurrent.futures cannot stop a running call; its workers ignore SIGINT
        # (_ignore_sigint) and would finish their points before the interpreter
        # exits. Python 3.14 has kill_workers(); before it, the pool's processes.
        kill = getattr(self._pool, "kill_workers", None)
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        if kill is not None:
            kill()
        for proc in processes:
            proc.kill()
        for proc in processes:
            proc.join(5)
        return rows

    def close(self) -> None:
        self._pool.shutdown()


#: A Dask sweep with no worker for this long gives up with an ExecutorError.
DASK_WORKER_TIMEOUT_S = 60.0


class _Dask:
    """A Dask cluster: a running scheduler's address, or a LocalCluster.

    Points are handed to the scheduler as workers can take them (as many in
    flight as the cluster has threads), not all at once: a worker then holds
    the one point it runs, so when a point kills its worker (a crash, the
    out-of-memory killer) the scheduler suspects that point alone. It retries
    it on another worker (``distributed.scheduler.allowed-failures`` times)
    and then gives up with ``KilledWorker``, which becomes the point's failed
    row; the sweep goes on. A taken result is released at once, so it is not
    recomputed when the worker that held it dies later.
    """

    _POLL_S = 0.5

    def __init__(self, points: Sequence[Mapping[str, Any]], metrics: Sequence[str] | None,
                 point: PointFn, *, workers: int | None = None, scheduler: str | None = None,
                 worker_timeout: float | None = None, **_: Any) -> None:
        import collections

        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(
                "the dask executor needs the optional extra: pip install 'swapops[dask]'"
            ) from None
        self._timeout = DASK_WORKER_TIMEOUT_S if worker_timeout is None else float(worker_timeout)
        self._where = f"the scheduler at {scheduler}" if scheduler else "the local cluster"
        self._point, self._metrics = point, metrics
        self._todo = collections.deque(points)
        self._pending: dict[Any, Mapping[str, Any]] = {}  # in flight: future -> its point
        self._cluster = None
        if scheduler:
            try:
                self._client = Client(scheduler, timeout=self._timeout)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ExecutorError(f"dask: cannot reach {self._where}: {exc or type(exc).__name__}") from None
        else:
            self._cluster = LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            self._client = Client(self._cluster)

    def _threads(self) -> int:
        """Worker threads connected now (0: no worker)."""
        try:
            return sum(self._client.nthreads().values())
        except (OSError, TimeoutError) as exc:
            raise self._lost(exc) from None

    def _fill(self, threads: int) -> None:
        # At least one in flight, so that a cluster without workers is noticed and timed.
        while self._todo and len(self._pending) < max(threads, 1):
            config = self._todo.popleft()
            self._pending[self._client.submit(self._point, config, self._metrics, pure=False)] = config

    def _left(self) -> int:
        return len(self._pending) + len(self._todo)

    def _lost(self, exc: BaseException) -> ExecutorError:
        return ExecutorError(
            f"dask: lost {self._where} ({type(exc).__name__}: {exc}); {self._left()} points not run, "
            "the finished rows are kept: run again to resume"
        )

    def _take(self, future: Any) -> dict[str, Any]:
        from distributed import KilledWorker

        config = self._pending.pop(future)
        try:
            row: dict[str, Any] = future.result()
        except KilledWorker as exc:  # the point kills whichever worker runs it
            row = failed_row(
                config,
                f"KilledWorker: the point's worker died each time it ran it "
                f"(a crash or the out-of-memory killer): {exc}",
            )
        future.release()
        return row

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from distributed import wait

        idle_since: float | None = None
        threads = self._threads()
        self._fill(threads)
        while self._pending:
            try:
                done = wait(list(self._pending), timeout=self._POLL_S, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            except Exception as exc:  # futures cancelled: the scheduler went away
                raise self._lost(exc) from None
            for future in done:
                yield self._take(future)
            threads = self._threads()
            self._fill(threads)
            if done or threads:
                idle_since = None
                continue
            now = time.monotonic()
            idle_since = now if idle_since is None else idle_since
            if now - idle_since >= self._timeout:
                raise ExecutorError(
                    f"dask: no worker connected to {self._where} for {self._timeout:g} s; "
                    f"{self._left()} points not run, the finished rows are kept: start workers "
                    "and run again to resume"
                )

    def stop(self) -> list[dict[str, Any]]:
        import contextlib

        self._todo.clear()  # queued points are not run
        rows = []
        for future in [f for f in self._pending if f.status in ("finished", "error")]:
            with contextlib.suppress(Exception):  # a result that cannot be fetched is rerun later
                rows.append(self._take(future))
        with contextlib.suppress(Exception):
            self._client.cancel(list(self._pending))
        self.close()
        return rows

    def close(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self._client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()
            self._cluster = None


_EXECUTORS: dict[str, Callable[..., Any]] = {
    "serial": _Serial,
    "process": _Process,
    "dask": _Dask,
}


# ----------------------------------------------------------------------------- storage


class ResultStore:
    """Rows on disk, appended as they finish; resumable.

    Every row goes to a JSON-lines journal at once (``results.jsonl`` itself,
    or ``<out>.journal.jsonl`` for CSV/Parquet, which are written from it when
    the sweep completes).
    """

    def __init__(self, out: str | os.PathLike[str]) -> None:
        # An existing FIFO or device would block or take the appends: refused.
        self.out = pathlib.Path(check_output(out, "output"))
        suffix = self.out.suffix.lower()
        if suffix not in (".jsonl", ".csv", ".parquet"):
            raise ConfigError(f"output {self.out}: use a .jsonl, .csv or .parquet file")
        self.format = suffix[1:]
        if self.format == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise ConfigError(
                    "parquet output needs pyarrow: pip install 'swapops[parquet]' (or use .jsonl/.csv)"
                ) from None
        self.journal = (
            self.out
            if self.format == "jsonl"
            else self.out.with_name(self.out.name + ".journal.jsonl")
        )
        check_output(self.journal, "journal")

    def load(self) -> list[dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        if self.format != "jsonl" and self.out.exists():
            for row in read_results(self.out):
                if isinstance(row.get("point_id"), str):
                    rows[row["point_id"]] = row
        if self.journal.exists():
            self._drop_cut_line()
            for row in _read_jsonl(self.journal):
                if isinstance(row.get("point_id"), str):
                    rows[row["point_id"]] = row
        return list(rows.values())

    def repair(self) -> None:
        """Drop a journal line an interruption cut (its point is not counted done)."""
        if self.journal.exists():
            self._drop_cut_line()

    def _drop_cut_line(self) -> None:
        """Cut a last line left without its newline by an interruption, so the
        rows appended next start on a line of their own (its point reruns)."""
        with open(self.journal, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def append(self, row: Mapping[str, Any]) -> None:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with open(self.journal, "a") as f:
            f.write(json.dumps(row, sort_keys=True, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def finish(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.format == "jsonl":
            return
        write_results(self.out, rows)
        self.journal.unlink(missing_ok=True)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def write_results(path: pathlib.Path, rows: Sequence[Mapping[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    columns = _columns(rows)
    if path.suffix.lower() == ".csv":
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([{k: row.get(k) for k in columns} for row in rows])
        pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a results file (.jsonl, .csv or .parquet)."""
    path = pathlib.Path(check_path(path, "results file"))
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix == ".csv":
        text = read_text(path, what="results file")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = []
        try:
            for row in reader:
                if None in row or None in row.values():  # DictReader's marks of a ragged line
                    raise ConfigError(
                        f"results file {os.fspath(path)}, line {reader.line_num}: "
                        f"{'more' if None in row else 'fewer'} fields than the header"
                    )
                rows.append({k: _number(v) for k, v in row.items()})
        except csv.Error as exc:
            raise ConfigError(f"results file {os.fspath(path)}: not a readable CSV file: {exc}") from None
        return rows
    if suffix == ".parquet":
        open_binary(path, what="results file").close()  # exists, a regular file: no hang
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError(
                "reading parquet needs pyarrow: pip install 'swapops[parquet]'"
            ) from None
        try:
            return list(pq.read_table(path).to_pylist())
        except Exception as exc:  # pyarrow.ArrowInvalid and friends: a damaged file
            raise ConfigError(f"results file {os.fspath(path)}: not a readable Parquet file: {exc}") from None
    raise ConfigError(f"results file {os.fspath(path)}: use .jsonl, .csv or .parquet")


def _read_jsonl(path: pathlib.Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file. A last line cut short (an interrupted sweep)
    is skipped, as the journal loader does; a damaged line before it is refused."""
    text = read_text(path, what="results file")  # JSON lines are UTF-8
    lines = [(n, line) for n, line in enumerate(io.StringIO(text, newline=None), 1) if line.strip()]
    rows = []
    for i, (n, line) in enumerate(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1 and not line.endswith("\n"):
                break  # cut short by an interruption: the sweep reruns that point
            raise ConfigError(
                f"results file {os.fspath(path)}, line {n}: not valid JSON ({exc.msg})"
            ) from None
        if not isinstance(row, dict):
            raise ConfigError(f"results file {os.fspath(path)}, line {n}: not a JSON object")
        rows.append(row)
    return rows


def _number(text: str) -> Any:
    if text == "":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text in ("True", "False"):
        return text == "True"
    return text


# ----------------------------------------------------------------------------- driver


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep; every row finished before it is in the output."""

    def __init__(self, out: str, kept: int, total: int) -> None:
        super().__init__(f"{kept} of {total} points in {out}; run again to resume")
        self.out, self.kept, self.total = out, kept, total


def run_sweep(
    spec: Mapping[str, Any],
    out: str | os.PathLike[str],
    *,
    executor: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    limit: int | None = None,
    worker_timeout: float | None = None,
    point: PointFn = run_point,
) -> list[dict[str, Any]]:
    """Run every point not already in ``out``; return all rows (old and new).

    An interruption (Ctrl-C) stops at once: queued points are not run,
    running ones are abandoned (a pool's workers killed), every finished row
    is written, and :class:`SweepInterrupted` (a ``KeyboardInterrupt``) says
    how many. An executor that cannot go on (a dead pool, no Dask worker for
    ``worker_timeout`` seconds, a lost scheduler) raises
    :class:`~swapops.errors.ExecutorError`, the finished rows kept the same way.

    :param limit: stop after this many new points (for tests of resumption).
    :param worker_timeout: Dask only: seconds without any worker before giving
        up (default :data:`DASK_WORKER_TIMEOUT_S`).
    :param point: the function that runs one point (:func:`run_point`; tests
        give one that crashes its worker).
    """
    if executor not in _EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r} (executors: {', '.join(EXECUTORS)})")
    if scheduler and executor != "dask":
        raise ConfigError("--scheduler needs --executor dask")
    if worker_timeout is not None and not (
        isinstance(worker_timeout, (int, float)) and not isinstance(worker_timeout, bool)
        and 0 < worker_timeout < float("inf")
    ):
        raise ConfigError(f"worker_timeout must be a positive number of seconds, not {worker_timeout!r}")
    spec = check_spec(spec)
    store = ResultStore(out)
    points = expand(spec)
    done = {row["point_id"]: row for row in store.load()}
    todo = [p for p in points if point_id(p) not in done]
    if limit is not None:
        todo = todo[:limit]
    total = len(points)
    finished = total - len([p for p in points if point_id(p) not in done])
    if progress:
        progress(finished, total)
    rows = dict(done)

    def record(row: dict[str, Any]) -> None:
        store.append(row)
        rows[row["point_id"]] = row

    execution = _EXECUTORS[executor](
        todo, spec.get("metrics"), point, workers=workers, scheduler=scheduler,
        worker_timeout=worker_timeout,
    )
    try:
        for row in execution:
            record(row)
            finished += 1
            if progress:
                progress(finished, total)
    except BaseException as exc:
        # Stop first (no point runs on), then write what finished meanwhile.
        store.repair()  # an append cut by the interruption
        for row in execution.stop():
            record(row)
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, SweepInterrupted):
            kept = len({row.get("point_id") for row in store.load()})  # what is on disk
            raise SweepInterrupted(os.fspath(out), kept, total) from exc
        raise
    execution.close()
    ordered = [rows[point_id(p)] for p in points if point_id(p) in rows]
    if len(ordered) == total:
        store.finish(ordered)
    return ordered


def empty_metrics(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] | None) -> list[str]:
    """Asked-for metrics with no value in any successful row (e.g. a layer's
    counter on stacks without that layer, or ``areas.9.*`` of a one-area run)."""
    ok = [row for row in rows if not row.get("error")]
    if not ok or not metrics:
        return []
    return [name for name in metrics if all(row.get(name) is None for row in ok)]


def metric_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows without their wall-time fields: what must agree between executors."""
    return [{k: v for k, v in row.items() if k not in WALL_FIELDS} for row in rows]
