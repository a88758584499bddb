"""FedProx's Synthetic(alpha, beta) federated data set (Li et al. 2020, "Federated
Optimization in Heterogeneous Networks", section 5.1), generated with numpy.

Client k: u_k ~ N(0, alpha), B_k ~ N(0, beta); W_k ~ N(u_k, 1) [d x c], b_k ~ N(u_k, 1) [c];
v_k ~ N(B_k, 1) [d]; x ~ N(v_k, Sigma), Sigma = diag(j^-1.2); y = argmax(W_k^T x + b_k).
alpha controls how much the local models differ, beta how much the local inputs differ.
Sizes follow a lognormal(4, 2) + 50 law, capped (the original is uncapped and heavy-tailed).
Each client's samples are split train/test (default 80/20).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class FederatedArrays(NamedTuple):
    x: np.ndarray  # [T, d] float32, all train samples
    y: np.ndarray  # [T] int32
    parts: list  # per client: int64 indices into x/y
    x_test: np.ndarray
    y_test: np.ndarray
    test_parts: list


def synthetic(alpha: float = 1.0, beta: float = 1.0, num_clients: int = 30, dim: int = 60,
              num_classes: int = 10, seed: int = 0, min_size: int = 50, max_size: int = 400,
              test_fraction: float = 0.2) -> FederatedArrays:
    if num_clients < 1 or dim < 1 or num_classes < 2:
        raise ValueError(f"synthetic: need num_clients>=1, dim>=1, num_classes>=2; got {num_clients}, {dim}, {num_classes}")
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.lognormal(4, 2, num_clients).astype(int) + min_size, max_size)
    sigma = np.arange(1, dim + 1) ** -1.2
    xs, ys, xts, yts = [], [], [], []
    for k in range(num_clients):
        u, bk = rng.normal(0, np.sqrt(alpha)), rng.normal(0, np.sqrt(beta))
        w = rng.normal(u, 1, (dim, num_classes))
        b = rng.normal(u, 1, num_classes)
        v = rng.normal(bk, 1, dim)
        x = rng.normal(v, np.sqrt(sigma), (sizes[k], dim))
        y = np.argmax(x @ w + b, axis=1)
        nt = max(1, int(round(test_fraction * sizes[k])))
        xs.append(x[nt:]), ys.append(y[nt:]), xts.append(x[:nt]), yts.append(y[:nt])

    def cat(arrs):
        lens = [len(a) for a in arrs]
        offs = np.concatenate([[0], np.cumsum(lens)[:-1]])
        return [np.arange(o, o + l) for o, l in zip(offs, lens)]

    return FederatedArrays(
        np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int32), cat(xs),
        np.concatenate(xts).astype(np.float32), np.concatenate(yts).astype(np.int32), cat(xts))
