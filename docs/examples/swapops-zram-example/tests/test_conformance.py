"""zramdemo passes the swapops conformance suite, alone and stacked with the built-in modules."""

import pytest

import swapops
from swapops.testing import chains_with

SMALL = {"zramdemo": "size=1M"}  # a small disk fills up within a run
CHAINS = chains_with("zramdemo", swapops.SwapSystem().registry)


@pytest.mark.parametrize("chain", CHAINS)
def test_conformance(chain, swapops_conformance):
    swapops_conformance(chain, options=SMALL)


@pytest.mark.parametrize("chain", ["zramdemo", "zswap>zramdemo", "vswap>zramdemo"])
def test_conformance_at_mem_limit(chain, swapops_conformance):
    """A mem_limit that random pages reach: refused writes leave nothing behind."""
    swapops_conformance(chain, options={"zramdemo": "size=1M,mem_limit=96K"})


def test_same_contents_as_swapfile(swapops_differential):
    swapops_differential("zswap>zramdemo", "zswap>swapfile", "zramdemo:compressor=zstd", options=SMALL)
