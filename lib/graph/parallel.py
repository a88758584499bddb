"""Data-parallel minibatches: stack per-device subgraphs and shard the leading axis over `data`."""
from __future__ import annotations

from typing import Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P


def stack(trees: Sequence):
    """Stack same-shaped pytrees (e.g. padded Graph / Adjacency batches) along a new axis 0."""
    return jax.tree.map(lambda *xs: np.stack(xs), *trees)


def shard_batch(tree, mesh: jax.sharding.Mesh, axis: str = "data"):
    """Put a stacked batch on `mesh`, leading axis split over `axis` (size must divide)."""
    size = mesh.shape[axis]

    def put(x):
        if x.shape[0] % size:
            raise ValueError(f"leading dim {x.shape[0]} not divisible by mesh axis {axis!r}={size}")
        spec = P(axis, *([None] * (x.ndim - 1)))
        return jax.device_put(x, NamedSharding(mesh, spec))

    return jax.tree.map(put, tree)
