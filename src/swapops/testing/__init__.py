"""The swapops conformance kit (imported lazily: the core does not need hypothesis)."""
