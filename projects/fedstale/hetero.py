"""FedStale's experimental setting (Rodio & Neglia, arXiv 2405.04171): label-swap heterogeneity and two
participation groups.

The reference `run.sh` passes `--swap_labels` with a heterogeneity level h in {0, .2, ..., 1},
but the generator is missing from its repository (github.com/arodio/FedStale), so the recipe here is an
assumption, stated as such: a fraction h of the clients (chosen from the seed) see every
label c replaced by its pair partner c XOR 1 (0<->1, 2<->3, ...; with an odd number of
classes the last one stays), so those clients pull towards a conflicting concept (concept
shift) while their inputs stay IID. The test set keeps the true labels.

Participation groups: the clients are split (seeded permutation) into len(groups) equal
groups, group g participating with probability groups[g] each round (Bernoulli; the
paper's p in {1.0, 0.5}).
"""

from __future__ import annotations

import numpy as np

from lib.config import ConfigError
from lib.fl import client as client_lib

_SWAP_STREAM, _GROUP_STREAM = 31, 37  # offsets of the seed for the two draws


def swap_pairs(y, num_classes: int):
    """c -> c XOR 1 for c < num_classes - (num_classes % 2); the odd last class stays."""
    y = np.asarray(y)
    last = num_classes - (num_classes % 2)
    return np.where(y < last, y ^ 1, y).astype(y.dtype)


def swapped_clients(num_clients: int, h: float, seed: int) -> np.ndarray:
    """[N] bool, round(h N) clients chosen from the seed."""
    if not 0.0 <= h <= 1.0:
        raise ConfigError(f"config.label_swap={h} must be in [0, 1]")
    k = int(round(h * num_clients))
    mask = np.zeros(num_clients, bool)
    mask[np.random.default_rng(seed + _SWAP_STREAM).permutation(num_clients)[:k]] = True
    return mask


def swap_client_labels(data: client_lib.ClientData, swapped: np.ndarray, num_classes: int) -> client_lib.ClientData:
    y = np.array(data.y)
    idx, ns = np.asarray(data.index), np.asarray(data.num_samples)
    for c in np.flatnonzero(swapped):
        rows = idx[c, : ns[c]]
        y[rows] = swap_pairs(y[rows], num_classes)
    return data._replace(y=y)


def group_probs(num_clients: int, groups, seed: int) -> np.ndarray:
    """[N] float32 participation probabilities: equal-size groups (seeded), group g -> groups[g]."""
    groups = [float(g) for g in groups]
    if not groups or any(not 0.0 < g <= 1.0 for g in groups):
        raise ConfigError(f"config.participation_groups={tuple(groups)} must be probabilities in (0, 1]")
    order = np.random.default_rng(seed + _GROUP_STREAM).permutation(num_clients)
    p = np.empty(num_clients, np.float32)
    for g, chunk in enumerate(np.array_split(order, len(groups))):
        p[chunk] = groups[g]
    return p
