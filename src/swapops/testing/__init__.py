"""The swapops conformance kit (imported lazily: the core does not need hypothesis).

* :func:`small_stack` and the chain helpers (:mod:`swapops.testing.stacks`,
  no hypothesis needed);
* the reference model (:mod:`swapops.testing.model`);
* hypothesis strategies (:mod:`swapops.testing.strategies`);
* the state machine and its runners (:mod:`swapops.testing.stateful`):
  :func:`run_conformance`, :func:`run_differential`, :class:`SwapStackMachine`;
* the fault-injection module (:mod:`swapops.testing.faulty`);
* the pytest plugin with the ``swapops_conformance`` fixture
  (:mod:`swapops.testing.pytest_plugin`, entry point ``pytest11``).

See ``docs/conformance.md``.
"""

from __future__ import annotations

from typing import Any

from .stacks import (
    BUILTIN_MODULES,
    SMALL_OPTIONS,
    SMALL_OPTIONS_OVER,
    backend_of,
    chains_with,
    conformance_chains,
    small_stack,
)

_STATEFUL = (
    "MachineConfig",
    "StackPlan",
    "LanePlan",
    "SwapStackMachine",
    "conformance_settings",
    "lockstep",
    "machine_class",
    "run_conformance",
    "run_differential",
    "run_machine",
    "side_by_side",
)


def __getattr__(name: str) -> Any:
    """The hypothesis-based names, imported on first use."""
    if name in _STATEFUL:
        from . import stateful

        return getattr(stateful, name)
    raise AttributeError(f"module 'swapops.testing' has no attribute {name!r}")


__all__ = [
    "BUILTIN_MODULES",
    "SMALL_OPTIONS",
    "SMALL_OPTIONS_OVER",
    "backend_of",
    "chains_with",
    "conformance_chains",
    "small_stack",
    *_STATEFUL,
]
