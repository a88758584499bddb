"""Synthetic graphs that ship with the code: contextual SBM and large random graphs."""
from __future__ import annotations

import numpy as np

from .graph import Graph, GraphError, make_graph, to_undirected


def planetoid_style_split(y: np.ndarray, num_classes: int, train_per_class: int, num_val: int,
                          num_test: int, rng: np.random.Generator):
    """train_per_class labelled nodes per class, then num_val / num_test from the rest."""
    n = y.shape[0]
    train = np.zeros(n, bool)
    for c in range(num_classes):
        idx = np.nonzero(y == c)[0]
        if idx.size < train_per_class:
            raise GraphError(f"class {c} has {idx.size} nodes < train_per_class={train_per_class}")
        train[rng.choice(idx, train_per_class, replace=False)] = True
    rest = rng.permutation(np.nonzero(~train)[0])
    if rest.size < num_val + num_test:
        raise GraphError(f"{rest.size} unlabelled nodes < num_val+num_test={num_val + num_test}")
    val = np.zeros(n, bool); val[rest[:num_val]] = True
    test = np.zeros(n, bool); test[rest[num_val:num_val + num_test]] = True
    return train, val, test


def csbm(num_nodes: int = 600, num_classes: int = 3, num_features: int = 32, avg_degree: float = 6.0,
         homophily: float = 0.8, feature_snr: float = 1.0, train_per_class: int = 20,
         num_val: int = 100, num_test: int = 200, seed: int = 0, **pad) -> Graph:
    """Contextual stochastic block model (Deshpande et al. 2018, multi-class form).

    Labels uniform over classes; features = class mean (Gaussian, scaled by feature_snr /
    sqrt(F)) + N(0, 1/F) noise; each undirected edge joins a uniform node to a node of the
    same class with probability `homophily`, else to a uniform node of another class.
    """
    if not 0.0 <= homophily <= 1.0:
        raise GraphError(f"homophily={homophily} must be in [0, 1]")
    if num_classes < 2 or num_nodes < num_classes:
        raise GraphError(f"need num_classes >= 2 and num_nodes >= num_classes, got {num_classes}, {num_nodes}")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, num_nodes)
    means = rng.standard_normal((num_classes, num_features)) * feature_snr
    x = (means[y] + rng.standard_normal((num_nodes, num_features))) / np.sqrt(num_features)
    m = int(num_nodes * avg_degree / 2)
    src = rng.integers(0, num_nodes, m)
    by_class = [np.nonzero(y == c)[0] for c in range(num_classes)]
    same = rng.random(m) < homophily
    shift = rng.integers(1, num_classes, m)
    cls = np.where(same, y[src], (y[src] + shift) % num_classes)
    dst = np.empty(m, np.int64)
    for c in range(num_classes):
        sel = cls == c
        dst[sel] = rng.choice(by_class[c], sel.sum())
    s, r = to_undirected(src, dst, num_nodes)
    train, val, test = planetoid_style_split(y, num_classes, train_per_class, num_val, num_test, rng)
    return make_graph(x.astype(np.float32), y, s, r, train_mask=train, val_mask=val, test_mask=test,
                      name="csbm", **pad)


def random_graph(num_nodes: int, num_edges: int, num_features: int, num_classes: int = 16,
                 seed: int = 0, **pad) -> Graph:
    """Uniform random undirected graph with `num_edges` directed edges (both directions
    counted), Gaussian features, random labels; all nodes in train. For benchmarks."""
    rng = np.random.default_rng(seed)
    half = num_edges // 2
    a = rng.integers(0, num_nodes, half)
    b = rng.integers(0, num_nodes, half)
    s = np.concatenate([a, b]); r = np.concatenate([b, a])
    x = rng.standard_normal((num_nodes, num_features), dtype=np.float32)
    y = rng.integers(0, num_classes, num_nodes)
    ones = np.ones(num_nodes, bool)
    return make_graph(x, y, s, r, train_mask=ones, val_mask=ones, test_mask=ones,
                      name="random_graph", **pad)
