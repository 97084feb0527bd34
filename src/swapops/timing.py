"""Device timing profiles for modeled latency.

The figures are typical orders of magnitude for 4 KiB random I/O at queue
depth 1 on each class of device, taken from public datasheet-level numbers;
they are a *model* for comparing designs in simulated time, not measurements
of any particular device. A rotational profile adds a seek unless the access
continues the previous one.
"""

from __future__ import annotations

import attrs

from .errors import ConfigError


@attrs.frozen
class DeviceTiming:
    """Per-page service times in simulated nanoseconds."""

    name: str
    read_ns: int
    write_ns: int
    seek_ns: int = 0  # added to a non-sequential access (rotational media)
    transfer_ns: int = 0  # per additional page of a multi-page request
    rotational: bool = False

    def io_ns(self, nr_pages: int, sequential: bool, write: bool) -> int:
        base = self.write_ns if write else self.read_ns
        seek = 0 if sequential else self.seek_ns
        return seek + base + (nr_pages - 1) * self.transfer_ns


PROFILES: dict[str, DeviceTiming] = {
    "ram": DeviceTiming("ram", read_ns=0, write_ns=0),
    "nvme": DeviceTiming("nvme", read_ns=20_000, write_ns=15_000, transfer_ns=1_000),
    "sata-ssd": DeviceTiming("sata-ssd", read_ns=90_000, write_ns=60_000, transfer_ns=8_000),
    "emmc": DeviceTiming("emmc", read_ns=150_000, write_ns=300_000, transfer_ns=20_000),
    "hdd": DeviceTiming(
        "hdd", read_ns=30_000, write_ns=30_000, seek_ns=8_000_000, transfer_ns=30_000, rotational=True
    ),
}


def get_profile(name: str) -> DeviceTiming:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown device profile {name!r} (profiles: {', '.join(PROFILES)})") from None
