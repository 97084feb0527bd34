"""pytest plugin (entry point ``pytest11``): hypothesis profiles and fixtures.

Profiles: ``ci`` (default, fast), ``dev`` and ``deep`` (on demand:
``pytest --hypothesis-profile=deep`` or ``SWAPOPS_HYPOTHESIS_PROFILE=deep``),
and ``smoke`` (a few short runs, to check that a suite is wired up). They are
registered, not loaded: the conformance machine uses the active one when it
is one of these, else ``SWAPOPS_HYPOTHESIS_PROFILE`` (default ``ci``); other
hypothesis tests keep the defaults their project chose.

Fixtures:

``swapops_system``
    a fresh :class:`swapops.SwapSystem` with every installed module.
``swapops_conformance``
    ``swapops_conformance(*stacks, **config)`` runs the conformance state
    machine on one system with ``stacks`` side by side (``(stack, priority)``
    pairs give priorities); each stack goes through
    :func:`swapops.testing.small_stack` unless ``small=False``.
``swapops_differential``
    the same, one system per stack, driven in lockstep.
``swapops_faulty``
    the :mod:`swapops.testing.faulty` plugin module, for ``plugins=[...]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
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
    # a few short runs: checks that a suite is wired up (e.g. after installing a module)
    settings.register_profile("smoke", max_examples=4, stateful_step_count=20, derandomize=True, **_common)
    # Registered, not loaded: the plugin is active in every pytest run of the
    # environment and must not change other projects' hypothesis defaults. The
    # conformance machine picks its profile itself (stateful.conformance_settings);
    # a project that wants one for all its tests loads it in its conftest.py.


@pytest.fixture
def swapops_system() -> Iterator[object]:
    """A fresh :class:`swapops.SwapSystem` with every installed module."""
    import swapops

    system = swapops.SwapSystem()
    yield system
    for dev in list(system.devices):
        system.swapoff(dev)


def _runner(lockstep: bool) -> Callable[..., None]:
    from swapops import SwapSystem
    from swapops.testing import stateful
    from swapops.testing.stacks import small_stack

    def run(
        *stacks: Any,
        small: bool = True,
        options: Mapping[str, Mapping[str, object] | str] | None = None,
        settings: Any = None,
        **config: Any,
    ) -> None:
        plans = []
        registry = None
        if small:
            probe = SwapSystem(plugins=list(config.get("plugins", ())), autoload=config.get("autoload"))
            registry = probe.registry
        for stack in stacks:
            spec, priority = (stack, -1) if isinstance(stack, str) else stack
            if small:
                spec = small_stack(spec, options, registry)
            plans.append(stateful.StackPlan(spec, priority))
        if lockstep:
            stateful.run_differential(*plans, settings=settings, **config)
        else:
            stateful.run_conformance(*plans, settings=settings, **config)

    return run


@pytest.fixture
def swapops_conformance() -> Callable[..., None]:
    """Run the conformance machine: ``swapops_conformance("mymodule>swapfile")``."""
    return _runner(lockstep=False)


@pytest.fixture
def swapops_differential() -> Callable[..., None]:
    """Run the differential machine: ``swapops_differential("zswap>swapfile", "swapfile")``."""
    return _runner(lockstep=True)


@pytest.fixture
def swapops_faulty() -> ModuleType:
    """The fault-injection plugin module (``plugins=[swapops_faulty]``)."""
    from swapops.testing import faulty

    return faulty
