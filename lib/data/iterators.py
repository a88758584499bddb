"""Deterministic, checkpointable batching: a batch is a pure function of (seed, step).

The iterator's whole state is the step, which the train state already holds, so a
resumed run draws exactly the batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

import numpy as np

from lib.config import ConfigError


class EpochBatcher:
    """Shuffles once per epoch (permutation from (seed, epoch)); drops the last partial batch."""

    def __init__(self, num_examples: int, batch_size: int, seed: int):
        if batch_size <= 0:
            raise ConfigError(f"config.batch_size={batch_size} must be > 0")
        if batch_size > num_examples:
            raise ConfigError(f"config.batch_size={batch_size} is larger than the training set ({num_examples} "
                              "examples): an epoch would hold no batch")
        self.n, self.batch_size, self.seed = num_examples, batch_size, seed
        self.steps_per_epoch = num_examples // batch_size
        self._cached = (None, None)

    def permutation(self, epoch: int) -> np.ndarray:
        if self._cached[0] != epoch:
            self._cached = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
        return self._cached[1]

    def indices(self, step: int) -> np.ndarray:
        epoch, i = divmod(step, self.steps_per_epoch)
        return self.permutation(epoch)[i * self.batch_size:(i + 1) * self.batch_size]


def padded_batches(num_examples: int, batch_size: int):
    """(indices, mask) pairs covering 0..n-1 in order, the last padded, for static-shape eval."""
    for start in range(0, num_examples, batch_size):
        idx = np.arange(start, start + batch_size)
        mask = idx < num_examples
        yield np.where(mask, idx, 0), mask
