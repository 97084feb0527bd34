"""Load the scripts under docs/examples/ and benchmarks/ as modules, by path.

They are not packages and are not on ``sys.path``; tests import them through
here (the module is registered in ``sys.modules`` under ``name``).
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from types import ModuleType

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load(relative: str, name: str) -> ModuleType:
    """The module at ``ROOT/relative`` (e.g. ``docs/examples/vswap_demo.py``)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
