"""pytest plugin (entry point ``pytest11``): hypothesis profiles and fixtures.

Profiles: ``ci`` (default, fast), ``dev`` and ``deep`` (on demand:
``pytest --hypothesis-profile=deep`` or ``SWAPOPS_HYPOTHESIS_PROFILE=deep``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    settings = None  # type: ignore[assignment,misc]

if settings is not None:
    _common: dict[str, Any] = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
    settings.register_profile("ci", max_examples=25, stateful_step_count=30, derandomize=True, **_common)
    settings.register_profile("dev", max_examples=100, stateful_step_count=50, **_common)
    settings.register_profile("deep", max_examples=1000, stateful_step_count=200, **_common)
    settings.load_profile(os.environ.get("SWAPOPS_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def swapops_system() -> Iterator[object]:
    """A fresh :class:`swapops.SwapSystem` with every installed module."""
    import swapops

    system = swapops.SwapSystem()
    yield system
    for dev in list(system.devices):
        system.swapoff(dev)
