"""Point functions for the sweep executor tests, importable by worker processes.

``run_sweep(point=...)`` runs these instead of :func:`swapops.sweep.run_point`;
they live in a module of their own (not a test file) so that a Dask or pool
worker can import them by name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from swapops.sweep import run_point

CRASH_SEED = 2


def crash_on_seed(config: Mapping[str, Any], metrics: Sequence[str] | None = None) -> dict[str, Any]:
    """Kill the worker process (as a segfault or the OOM killer would) on seed 2."""
    if config["seed"] == CRASH_SEED:
        os._exit(70)
    return run_point(config, metrics)
