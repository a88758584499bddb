"""What Adaptive SGD introduces, and the virtual-time schedules of the three methods (host NumPy,
pure functions of the config).

- `speed_batches`: batch sizes proportional to each worker's speed (samples per second), summing
  to the global batch, so that every worker finishes a step at the same time (largest remainder
  rounding, at least one sample each).
- `merge_weights`: normalised model merging, worker g's model weighted by its share of the samples
  processed since the last merge, b_g / sum b.
- `sync_round_time`: a merge round is `local_steps` steps of the slowest (b_g x seconds per sample)
  plus a download and an upload of the model (per-worker latency + bytes / bandwidth).
- `async_arrivals`: plain asynchronous training; each worker loops download, `local_steps` steps,
  upload at its own pace; the arrivals in time order (ties: lower worker id first).
"""

from __future__ import annotations

import numpy as np

from lib.config import ConfigError


def speed_batches(sec_per_sample: np.ndarray, total: int) -> np.ndarray:
    """[k] ints >= 1 summing to `total`, proportional to 1 / seconds per sample."""
    k = len(sec_per_sample)
    if total < k:
        raise ConfigError(f"config.global_batch={total} is smaller than num_workers={k}: every worker needs >= 1 sample")
    share = (1.0 / sec_per_sample) / np.sum(1.0 / sec_per_sample) * total
    b = np.maximum(np.floor(share).astype(np.int64), 1)
    while b.sum() > total:  # the minimum of 1 pushed it over: take from the largest
        b[np.argmax(b)] -= 1
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    for i in order[: total - b.sum()]:
        b[i] += 1
    return b


def equal_batches(k: int, total: int) -> np.ndarray:
    if total % k:
        raise ConfigError(f"config.global_batch={total} must be divisible by num_workers={k} for equal batches")
    return np.full(k, total // k, np.int64)


def merge_weights(batches: np.ndarray) -> np.ndarray:
    return batches / batches.sum()


def sync_round_time(batches, sec_per_sample, comm_s, local_steps: int) -> float:
    return float(local_steps * np.max(batches * sec_per_sample) + 2.0 * np.max(comm_s))


def async_arrivals(batches, sec_per_sample, comm_s, local_steps: int, budget: float):
    """(times [N], workers [N]) of every upload at or before `budget`."""
    dur = local_steps * batches * sec_per_sample + 2.0 * comm_s
    times, workers = [], []
    for g, d in enumerate(dur):
        n = int(np.floor(budget / d + 1e-9))
        times.append(d * np.arange(1, n + 1))
        workers.append(np.full(n, g))
    t, w = np.concatenate(times), np.concatenate(workers)
    order = np.lexsort((w, t))
    return t[order], w[order]
