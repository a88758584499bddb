"""Collectives over a WAN on the virtual clock: ring all-reduce cost and the round timeline of
synchronous, periodic (DiLoCo) and one-step-delayed (overlapped) data-parallel training.

A ring all-reduce of `num_bytes` over k workers sends 2 (k-1)/k num_bytes per worker in 2 (k-1)
messages, so with the slowest link's bandwidth b and the largest latency l it takes

    2 (k-1) l + 2 (k-1)/k num_bytes / b     virtual seconds (0 for k = 1).

Round r (r = 0..R-1) computes for `compute` seconds and then all-reduces. Synchronous: round r+1
starts when round r's all-reduce ends. Delayed by one (the all-reduce of round r overlaps round
r+1's compute; one link, so all-reduces run one after another): round r+1 starts once round r's
compute and round r-1's all-reduce are done. `start[r]` is when the model after r rounds exists
(start[0] = 0), so a curve "loss after r rounds" is plotted at start[r]. Host NumPy, a pure
function of its inputs."""

from __future__ import annotations

import numpy as np

from lib.config import ConfigError


def ring_allreduce(num_bytes: float, k: int, bandwidth: float, latency: float) -> tuple[float, float]:
    """(virtual seconds, bytes sent per worker) of one ring all-reduce."""
    if k < 1:
        raise ConfigError(f"all-reduce over k={k!r} workers: need k >= 1")
    if not bandwidth > 0 or not np.isfinite(bandwidth):
        raise ConfigError(f"bandwidth={bandwidth!r} bytes/s must be finite and > 0")
    if not latency >= 0:
        raise ConfigError(f"latency={latency!r} s must be >= 0")
    if k == 1:
        return 0.0, 0.0
    sent = 2.0 * (k - 1) / k * float(num_bytes)
    return 2.0 * (k - 1) * float(latency) + sent / float(bandwidth), sent


def round_starts(num_rounds: int, compute: float, comm: float, delay: int = 0) -> np.ndarray:
    """[R + 1] float64: the virtual time at which the model after r rounds exists."""
    if delay not in (0, 1):
        raise ConfigError(f"delay={delay!r}: 0 (synchronous) or 1 (one-step delayed)")
    start = np.zeros(num_rounds + 1)
    comm_end_prev = 0.0  # end of the previous round's all-reduce
    for r in range(num_rounds):
        done = start[r] + compute
        comm_end = max(done, comm_end_prev) + comm
        start[r + 1] = comm_end if delay == 0 else max(done, comm_end_prev)
        comm_end_prev = comm_end
    return start
