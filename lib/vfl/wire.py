"""The wire between parties: bytes per message, bandwidth and latency -> virtual seconds.

One machine simulates the parties, so the time a run would take over a real network is
computed, not measured: a message of `n` bytes takes `latency_s + 8 n / bandwidth_bps`
seconds, and a party's compute takes `compute_s` per model update (a config value; measure
it for the model and batch at hand). A vanilla VFL step is sequential: the hosts' activations
go forward, the guest updates, the derivatives come back, the hosts update. Local updates
(CELU-VFL) run while the parties wait on the wire, so a round of one communicated step and
`local` local updates takes

    max(wire_fwd + wire_bwd + compute_s, (1 + local) * compute_s)

Presets (our choice, stated wherever results use them): LAN 10 Gbit/s, 0.1 ms one way;
WAN 100 Mbit/s, 25 ms one way (a cross-region link between two data centres).
"""

from __future__ import annotations

import dataclasses
import math

from lib.config import ConfigError


class WireConfigError(ConfigError):
    """A wire setting is invalid (names the key, the value and what is allowed)."""


@dataclasses.dataclass(frozen=True)
class Wire:
    bandwidth_bps: float
    latency_s: float
    compute_s: float = 0.0

    def __post_init__(self):
        for k in ("bandwidth_bps", "latency_s", "compute_s"):
            v = getattr(self, k)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
            if not ok or (k == "bandwidth_bps" and v == 0):
                raise WireConfigError(f"wire.{k}={v!r} must be a finite number " + ("> 0" if k == "bandwidth_bps"
                                                                                      else ">= 0"))

    def message_s(self, num_bytes: int) -> float:
        """Seconds for one message (0 bytes: no message, no latency)."""
        return 0.0 if num_bytes <= 0 else self.latency_s + 8.0 * num_bytes / self.bandwidth_bps

    def round_s(self, fwd_bytes: int, bwd_bytes: int, local_updates: int = 0) -> float:
        """Virtual seconds of one communicated step plus `local_updates` overlapped local updates."""
        comm = self.message_s(fwd_bytes) + self.message_s(bwd_bytes) + self.compute_s
        return max(comm, (1 + local_updates) * self.compute_s)


PRESETS = {
    "lan": dict(bandwidth_bps=10e9, latency_s=0.1e-3),
    "wan": dict(bandwidth_bps=100e6, latency_s=25e-3),
}


def make(preset: str = "wan", *, bandwidth_bps: float | None = None, latency_s: float | None = None,
         compute_s: float = 0.0) -> Wire:
    """A preset ('lan' | 'wan'), with any field overridden."""
    if preset not in PRESETS:
        raise WireConfigError(f"wire.preset={preset!r} is not allowed; choose one of {sorted(PRESETS)}")
    kw = dict(PRESETS[preset])
    if bandwidth_bps is not None:
        kw["bandwidth_bps"] = bandwidth_bps
    if latency_s is not None:
        kw["latency_s"] = latency_s
    return Wire(**kw, compute_s=compute_s)
