"""Partitions of a labelled data set over N federated clients.

Each function returns a list of N int64 index arrays into the data set; together they
hold every sample exactly once (natural partitions: every sample of the kept writers).
All are deterministic given a numpy Generator.

- `iid`: a random permutation cut into N near-equal parts.
- `dirichlet`: per class, the class's samples are split over clients in proportions
  ~ Dirichlet(alpha 1_N) (Hsu et al. 2019; FedAU/FedLab style). Small alpha = few classes
  per client. Redrawn until every client has >= min_size samples.
- `shards`: the FedAvg paper's pathological split: sort by label, cut into
  N * shards_per_client shards, give each client `shards_per_client` random shards.
- `natural`: one client per writer/user given a per-sample owner array.
"""

from __future__ import annotations

import numpy as np

from lib.config import ConfigError

NAMES = ("iid", "dirichlet", "shards", "natural")


def _check_n(num_samples: int, num_clients: int):
    if num_clients < 1 or num_clients > num_samples:
        raise ConfigError(f"num_clients={num_clients} must be in [1, num_samples={num_samples}]")


def iid(num_samples: int, num_clients: int, rng: np.random.Generator) -> list[np.ndarray]:
    _check_n(num_samples, num_clients)
    return [np.sort(p) for p in np.array_split(rng.permutation(num_samples), num_clients)]


def dirichlet(labels, num_clients: int, alpha: float, rng: np.random.Generator, min_size: int = 1,
              max_tries: int = 1000) -> list[np.ndarray]:
    labels = np.asarray(labels)
    _check_n(len(labels), num_clients)
    if alpha <= 0:
        raise ConfigError(f"dirichlet alpha={alpha} must be > 0")
    if min_size * num_clients > len(labels):
        raise ConfigError(f"min_size={min_size} x num_clients={num_clients} exceeds {len(labels)} samples")
    classes = np.unique(labels)
    for _ in range(max_tries):
        parts = [[] for _ in range(num_clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            props = rng.dirichlet(alpha * np.ones(num_clients))
            cuts = (np.cumsum(props)[:-1] * len(idx)).astype(int)
            for k, chunk in enumerate(np.split(idx, cuts)):
                parts[k].append(chunk)
        out = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(p) for p in out) >= min_size:
            return out
    raise ConfigError(f"dirichlet(alpha={alpha}) left a client below min_size={min_size} in {max_tries} draws")


def shards(labels, num_clients: int, rng: np.random.Generator, shards_per_client: int = 2) -> list[np.ndarray]:
    labels = np.asarray(labels)
    num_shards = num_clients * shards_per_client
    _check_n(len(labels), num_shards)
    order = np.argsort(labels, kind="stable")
    pieces = np.array_split(order, num_shards)
    assign = rng.permutation(num_shards).reshape(num_clients, shards_per_client)
    return [np.sort(np.concatenate([pieces[s] for s in row])) for row in assign]


def natural(owners) -> tuple[list[np.ndarray], np.ndarray]:
    """One client per distinct owner (in sorted owner order). Returns (parts, owner names)."""
    owners = np.asarray(owners)
    names, inv = np.unique(owners, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    cuts = np.cumsum(np.bincount(inv, minlength=len(names)))[:-1]
    return [np.sort(p) for p in np.split(order, cuts)], names


def label_counts(labels, parts, num_classes: int) -> np.ndarray:
    """[N, C] class histogram of each client."""
    labels = np.asarray(labels)
    return np.stack([np.bincount(labels[p], minlength=num_classes) for p in parts])


def make(name: str, labels, num_clients: int, rng: np.random.Generator, *, alpha: float = 0.1,
         shards_per_client: int = 2, min_size: int = 1) -> list[np.ndarray]:
    if name not in NAMES[:3]:
        raise ConfigError(f"partition={name!r} is unknown; choose one of {list(NAMES[:3])} "
                          "('natural' needs per-sample owners: use natural())")
    if name == "iid":
        return iid(len(labels), num_clients, rng)
    if name == "dirichlet":
        return dirichlet(labels, num_clients, alpha, rng, min_size=min_size)
    return shards(labels, num_clients, rng, shards_per_client)
