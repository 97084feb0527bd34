from __future__ import annotations

import os

import pytest
from hypothesis import settings
from toydevices import ToyPlugin  # tests/ is on sys.path: pytest's rootdir conftest import

import swapops

# This project's own hypothesis tests run on the conformance profile (the
# swapops pytest plugin registers it; --hypothesis-profile overrides this).
settings.load_profile(os.environ.get("SWAPOPS_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def toy_system() -> swapops.SwapSystem:
    """A system with only the toy modules (no entry points)."""
    return swapops.SwapSystem(autoload=False, plugins=[ToyPlugin()])
