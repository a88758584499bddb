"""Client populations far larger than device memory: data on the host, one cohort per round.

Cross-device simulators (pfl-research, FedJAX) sample a cohort of a few hundred or thousand
clients per round from a population of millions. Here the population's samples stay in
host memory or in a memory-mapped file; each round only the cohort's samples are gathered
into a cohort-sized `ClientData` and sent to the devices (prefetched one round ahead by
`lib.fl.runner`), and per-client state lives in host arrays [N, ...] that are gathered for
the cohort and scattered back after the round. Nothing on a device grows with N.

A population on disk is a folder:

    meta.json     {"format": "tessera-population-1", "num_clients": N, "num_samples": T,
                   "num_classes": C, "sample_shape": [...], "dtype": "float32"}
    x.npy         [T, *sample_shape] samples, client by client
    y.npy         [T] int32 labels in [0, C)
    offsets.npy   [N + 1] int64: client k owns rows offsets[k]:offsets[k+1] (at least one)

`synthetic_population` writes FedProx's Synthetic(alpha, beta) generator (see
lib/data/synthetic_fl.py) for any N, vectorised and in chunks, so a million clients take a
few minutes and about 1 GB of disk. The cohort of round r is a pure function of
(seed, r), so a resumed run draws the same cohorts.
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple

import numpy as np

from lib.config import ConfigError
from lib.data.common import DataError, MissingDataError
from lib.fl import client as client_lib

FORMAT = "tessera-population-1"


class Population(NamedTuple):
    x: np.ndarray  # [T, ...] (np.memmap when loaded from disk)
    y: np.ndarray  # [T] int32
    offsets: np.ndarray  # [N + 1] int64
    num_classes: int

    @property
    def num_clients(self) -> int:
        return len(self.offsets) - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)


def check(pop: Population, where: str = "population") -> Population:
    """Named errors for a malformed population (before anything is compiled)."""
    off = np.asarray(pop.offsets)
    if off.ndim != 1 or len(off) < 2 or off[0] != 0:
        raise DataError(f"{where}: offsets must be a 1-D array [N+1] starting at 0 (got shape {off.shape})")
    sizes = np.diff(off)
    if (sizes < 1).any():
        bad = np.flatnonzero(sizes < 1)[:5].tolist()
        raise DataError(f"{where}: every client needs at least one sample; empty clients (first 5): {bad}")
    t = int(off[-1])
    if len(pop.y) != t or len(pop.x) != t:
        raise DataError(f"{where}: offsets end at {t} but x has {len(pop.x)} rows and y {len(pop.y)}")
    y = np.asarray(pop.y)
    if y.dtype.kind not in "iu":
        raise DataError(f"{where}: labels y must be integers, got {y.dtype}")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= pop.num_classes:
        raise DataError(f"{where}: labels must lie in [0, {pop.num_classes}); found [{lo}, {hi}]")
    return pop


def save(path: str, pop: Population) -> None:
    check(pop, path)
    os.makedirs(path, exist_ok=True)
    np.save(os.path.join(path, "x.npy"), np.asarray(pop.x))
    np.save(os.path.join(path, "y.npy"), np.asarray(pop.y, np.int32))
    np.save(os.path.join(path, "offsets.npy"), np.asarray(pop.offsets, np.int64))
    _write_meta(path, pop.num_clients, len(pop.y), pop.num_classes, pop.x.shape[1:], pop.x.dtype)


def _write_meta(path, n, t, c, shape, dtype):
    meta = {"format": FORMAT, "num_clients": int(n), "num_samples": int(t), "num_classes": int(c),
            "sample_shape": [int(s) for s in shape], "dtype": str(np.dtype(dtype))}
    tmp = os.path.join(path, "meta.json.tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, os.path.join(path, "meta.json"))  # written last: a folder with meta.json is complete


def load(path: str) -> Population:
    """Memory-maps a population folder; every file and field is checked with a named error."""
    meta_path = os.path.join(path, "meta.json")
    if not os.path.isfile(meta_path):
        raise MissingDataError(
            f"population: {meta_path} not found\n  expected format: a folder with meta.json, x.npy, y.npy, "
            "offsets.npy (see lib/fl/population.py)\n  create one with lib.fl.population.synthetic_population")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"population: {meta_path} is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"population: {meta_path} has format {meta.get('format') if isinstance(meta, dict) else meta!r}, "
                        f"expected {FORMAT!r}")
    for key in ("num_clients", "num_samples", "num_classes", "sample_shape"):
        if key not in meta:
            raise DataError(f"population: {meta_path} lacks the field {key!r}")
    arrays = {}
    for name in ("x", "y", "offsets"):
        p = os.path.join(path, f"{name}.npy")
        if not os.path.isfile(p):
            raise MissingDataError(f"population: {p} not found (the folder {path} is incomplete)")
        try:
            arrays[name] = np.load(p, mmap_mode="r")
        except ValueError as e:
            raise DataError(f"population: {p} is not a readable .npy file ({e})") from None
    x, y, off = arrays["x"], arrays["y"], np.asarray(arrays["offsets"])
    n, t = int(meta["num_clients"]), int(meta["num_samples"])
    if off.shape != (n + 1,):
        raise DataError(f"population: offsets.npy has shape {off.shape}, meta.json says {n} clients")
    if x.shape != (t, *meta["sample_shape"]) or y.shape != (t,):
        raise DataError(f"population: x.npy {x.shape} / y.npy {y.shape} do not match meta.json "
                        f"({t} samples of shape {tuple(meta['sample_shape'])})")
    return check(Population(x, y, off, int(meta["num_classes"])), path)


# ----------------------------------------------------------------------------- cohorts


def cohort_ids(seed: int, rnd: int, num_clients: int, cohort: int) -> np.ndarray:
    """The clients of round `rnd`: `cohort` distinct ids, sorted (a function of seed and round)."""
    if not 0 < cohort <= num_clients:
        raise ConfigError(f"cohort size {cohort} must be in [1, population size {num_clients}]")
    rng = np.random.default_rng([int(seed), 0x5EED, int(rnd)])
    return np.sort(rng.choice(num_clients, size=cohort, replace=False))


def gather(pop: Population, ids: np.ndarray, batch_size: int, n_pad: int) -> client_lib.ClientData:
    """The cohort's samples as a cohort-local ClientData ([M * n_pad] pool rows, padding rows 0).

    A client with more than n_pad samples keeps its first n_pad (see `pad_size`)."""
    starts = pop.offsets[ids]
    sizes = np.minimum(pop.offsets[ids + 1] - starts, n_pad)
    cols = np.arange(n_pad)
    real = cols[None, :] < sizes[:, None]
    rows = np.where(real, starts[:, None] + cols[None, :], 0).reshape(-1)
    x = np.asarray(pop.x[rows]).reshape((len(ids) * n_pad,) + pop.x.shape[1:])
    y = np.asarray(pop.y[rows]).astype(np.int32)
    x[~real.reshape(-1)] = 0
    index = np.where(real, np.arange(len(ids))[:, None] * n_pad + cols[None, :], 0).astype(np.int32)
    return client_lib.ClientData(x, y, index, sizes.astype(np.int32))


def pad_size(pop: Population, batch_size: int, cap: int | None = None) -> int:
    """The static per-client size: the bucket of the largest client (or of `cap`)."""
    biggest = int(pop.sizes.max())
    return client_lib.bucket_size(min(biggest, cap) if cap else biggest, batch_size)


# ----------------------------------------------------------------------------- synthetic


def synthetic_population(path: str, num_clients: int, *, seed: int = 0, alpha: float = 1.0, beta: float = 1.0,
                         dim: int = 60, num_classes: int = 10, min_samples: int = 2, max_samples: int = 8,
                         spread: float = 0.0, chunk: int = 10_000) -> Population:
    """Writes FedProx's Synthetic(alpha, beta) for `num_clients` clients to `path` and loads it.

    Per client k: u_k ~ N(0, alpha), B_k ~ N(0, beta), W_k ~ N(u_k, 1) [dim x C],
    b_k ~ N(u_k, 1), v_k ~ N(B_k, 1) [dim], x ~ N(v_k, diag(j^-1.2)), y = argmax(W_k^T x + b_k).
    In that recipe the clients share no labelling rule, so a global model cannot predict
    clients it has not seen (fine for 30 clients evaluated on their own data, not for a
    population evaluated on held-out clients). spread > 0 adds one: W_k ~ N(W_0 + u_k, spread^2),
    b_k ~ N(b_0 + u_k, spread^2) with W_0, b_0 ~ N(0, 1) drawn once; spread = 0 is FedProx's.
    Sizes are uniform in [min_samples, max_samples] (cross-device clients hold a few samples).
    Chunk c of clients uses its own generator (seed, c), so the file is the same for any chunk
    order; the folder is written under a temporary name and renamed when complete."""
    if num_clients < 1 or not 1 <= min_samples <= max_samples:
        raise ConfigError(f"synthetic population: need num_clients >= 1 and 1 <= min_samples <= max_samples; "
                          f"got {num_clients}, {min_samples}, {max_samples}")
    tmp = f"{path.rstrip('/')}.partial-{os.getpid()}"  # concurrent writers never share a folder
    os.makedirs(tmp, exist_ok=True)
    size_rng = np.random.default_rng([seed, 1])
    sizes = size_rng.integers(min_samples, max_samples + 1, num_clients)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    t = int(offsets[-1])
    x = np.lib.format.open_memmap(os.path.join(tmp, "x.npy"), "w+", np.float32, (t, dim))
    y = np.lib.format.open_memmap(os.path.join(tmp, "y.npy"), "w+", np.int32, (t,))
    sd = np.sqrt(np.arange(1, dim + 1) ** -1.2)
    shared = np.random.default_rng([seed, 3])
    w0 = shared.normal(0, 1, (dim, num_classes)) if spread else 0.0
    b0 = shared.normal(0, 1, num_classes) if spread else 0.0
    scale = spread or 1.0
    for c0 in range(0, num_clients, chunk):
        c1 = min(num_clients, c0 + chunk)
        rng = np.random.default_rng([seed, 2, c0])
        m = c1 - c0
        u = rng.normal(0, np.sqrt(alpha), m)
        bk = rng.normal(0, np.sqrt(beta), m)
        w = (w0 + rng.normal(u[:, None, None], scale, (m, dim, num_classes))).astype(np.float32)
        b = (b0 + rng.normal(u[:, None], scale, (m, num_classes))).astype(np.float32)
        v = rng.normal(bk[:, None], 1, (m, dim))
        owner = np.repeat(np.arange(m), sizes[c0:c1])
        xs = (v[owner] + rng.normal(0, 1, (len(owner), dim)) * sd).astype(np.float32)
        logits = np.einsum("td,tdc->tc", xs, w[owner]) + b[owner]
        lo, hi = offsets[c0], offsets[c1]
        x[lo:hi] = xs
        y[lo:hi] = np.argmax(logits, axis=1)
    x.flush(), y.flush()
    del x, y
    np.save(os.path.join(tmp, "offsets.npy"), offsets)
    _write_meta(tmp, num_clients, t, num_classes, (dim,), np.float32)
    try:
        os.replace(tmp, path)
    except OSError:  # another process finished the same population first: keep theirs
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return load(path)


# ----------------------------------------------------------------------------- feeding rounds


class CohortFeeder:
    """Round r's cohort (ids, padded to `capacity`, and its data on the devices), prepared one
    round ahead on a background thread while round r - 1 computes.

    Round r's cohort is drawn from clients [0, num_train) by `cohort_ids(seed, r, ...)`;
    `get(r)` returns {"ids", "valid", "data"} with "data" already placed (device_put is
    asynchronous) and starts preparing round r + 1."""

    def __init__(self, pop: Population, *, cohort: int, capacity: int, batch_size: int, seed: int,
                 num_train: int | None = None, n_pad: int | None = None, place=None):
        from concurrent.futures import ThreadPoolExecutor

        self.pop, self.cohort, self.capacity, self.seed = pop, int(cohort), int(capacity), int(seed)
        self.batch_size = int(batch_size)
        self.num_train = int(num_train or pop.num_clients)
        if not 0 < self.cohort <= self.num_train:
            raise ConfigError(f"cohort={cohort} must be in [1, number of training clients={self.num_train}] "
                              f"(population of {pop.num_clients})")
        if self.capacity < self.cohort:
            raise ConfigError(f"capacity={capacity} is smaller than the cohort ({cohort})")
        self.n_pad = n_pad or pad_size(pop, batch_size)
        self.place = place or (lambda tree: tree)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cohort")
        self._pending: dict[int, object] = {}

    def _prepare(self, rnd: int) -> dict:
        ids = cohort_ids(self.seed, rnd, self.num_train, self.cohort)
        padded = np.concatenate([ids, np.full(self.capacity - len(ids), ids[0], ids.dtype)])
        valid = np.arange(self.capacity) < len(ids)
        data = gather(self.pop, padded, self.batch_size, self.n_pad)
        return {"ids": padded.astype(np.int64), "valid": valid, "data": self.place(data)}

    def get(self, rnd: int) -> dict:
        fut = self._pending.pop(rnd, None)
        out = fut.result() if fut is not None else self._prepare(rnd)
        for stale in [r for r in self._pending if r < rnd]:
            self._pending.pop(stale).cancel()
        self._pending[rnd + 1] = self._pool.submit(self._prepare, rnd + 1)
        return out

    def close(self) -> None:
        for f in self._pending.values():
            f.cancel()
        self._pool.shutdown(wait=True)


def gather_states(states, ids):
    """Host per-client states [N, ...] -> the cohort's rows [M, ...]."""
    import jax

    return jax.tree.map(lambda a: np.asarray(a)[ids], states)


def scatter_states(states, ids, valid, values):
    """A new host state tree with rows ids[valid] replaced by values[valid] (inputs untouched)."""
    import jax

    def one(a, v):
        out = np.array(a, copy=True)
        out[ids[valid]] = np.asarray(v)[valid]
        return out

    return jax.tree.map(one, states, values)


def synthetic_cached(*, num_clients: int, seed: int = 0, root: str | None = None, **kw) -> Population:
    """`synthetic_population` generated once into the cache folder ($TESSERA_CACHE_DIR, else
    ~/.cache/tessera) under a name made of its arguments, loaded from there afterwards."""
    root = root or os.environ.get("TESSERA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tessera")
    args = {"num_clients": int(num_clients), "seed": int(seed), **kw}
    name = "population-synthetic-" + "-".join(f"{k}{args[k]}" for k in sorted(args))
    path = os.path.join(root, "populations", name)
    if os.path.isfile(os.path.join(path, "meta.json")):
        return load(path)
    return synthetic_population(path, num_clients, seed=seed, **kw)
