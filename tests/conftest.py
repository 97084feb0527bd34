from __future__ import annotations

import os
import sys

import pytest
from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

from toydevices import ToyPlugin  # noqa: E402

import swapops  # noqa: E402

# This project's own hypothesis tests run on the conformance profile (the
# swapops pytest plugin registers it; --hypothesis-profile overrides this).
settings.load_profile(os.environ.get("SWAPOPS_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def toy_system() -> swapops.SwapSystem:
    """A system with only the toy modules (no entry points)."""
    return swapops.SwapSystem(autoload=False, plugins=[ToyPlugin()])
