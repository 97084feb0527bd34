from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from toydevices import ToyPlugin  # noqa: E402

import swapops  # noqa: E402


@pytest.fixture
def toy_system() -> swapops.SwapSystem:
    """A system with only the toy modules (no entry points)."""
    return swapops.SwapSystem(autoload=False, plugins=[ToyPlugin()])
