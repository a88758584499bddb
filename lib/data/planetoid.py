"""Planetoid citation graphs (Cora, CiteSeer, PubMed) in the format published with the
Planetoid and GCN papers: ind.<name>.{x,y,tx,ty,allx,ally,graph} pickles and the text file
ind.<name>.test.index. Split: the standard public one (train = the first 20 per class
= x/y rows, val = the next 500, test = the rows listed in test.index)."""
from __future__ import annotations

import os
import pathlib
import pickle
import sys

import numpy as np

from lib.data.common import DataError
from lib.graph.graph import Graph, GraphError, make_graph, to_undirected

SOURCE = "https://github.com/kimiyoung/planetoid (data/), as used by tkipf/gcn"
NAMES = ("cora", "citeseer", "pubmed")
_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph")


class PlanetoidError(GraphError, DataError):
    """Missing or malformed Planetoid file (names the file and what was expected)."""


def default_root() -> pathlib.Path:
    return pathlib.Path(os.environ.get("TESSERA_DATA_DIR", "./data")) / "planetoid"


def _path(root, name, part):
    p = pathlib.Path(root) / f"ind.{name}.{part}"
    if not p.is_file():
        raise PlanetoidError(
            f"missing Planetoid file {p}: expected ind.{name}.{part} (pickle of scipy sparse / numpy / "
            f"dict-of-lists, or a text index for test.index); published at {SOURCE}")
    return p


def _load_pickle(path):
    try:
        with open(path, "rb") as f:
            if sys.version_info > (3, 0):
                return pickle.load(f, encoding="latin1")
            return pickle.load(f)
    except Exception as e:  # truncated / not a pickle
        raise PlanetoidError(f"malformed Planetoid file {path}: cannot unpickle ({type(e).__name__}: {e})") from e


def _dense(a, path):
    if hasattr(a, "toarray"):
        a = a.toarray()
    a = np.asarray(a)
    if a.ndim != 2:
        raise PlanetoidError(f"malformed Planetoid file {path}: expected a 2-D matrix, got shape {a.shape}")
    return a


def load_raw(name: str, root=None):
    """(x [N,F] float32 unnormalised, y [N] int, senders, receivers, train, val, test masks)."""
    name = name.lower()
    if name not in NAMES:
        raise PlanetoidError(f"dataset name {name!r} is not one of {NAMES}")
    root = default_root() if root is None else pathlib.Path(root)
    objs = {p: _load_pickle(_path(root, name, p)) for p in _PARTS}
    ipath = _path(root, name, "test.index")
    try:
        test_idx = np.array([int(line) for line in open(ipath).read().split()], np.int64)
    except ValueError as e:
        raise PlanetoidError(f"malformed Planetoid file {ipath}: expected one integer per line ({e})") from e
    x, tx, allx = (_dense(objs[p], _path(root, name, p)) for p in ("x", "tx", "allx"))
    y, ty, ally = (_dense(objs[p], _path(root, name, p)) for p in ("y", "ty", "ally"))
    for a, b, pa in ((x, y, "x/y"), (tx, ty, "tx/ty"), (allx, ally, "allx/ally")):
        if a.shape[0] != b.shape[0]:
            raise PlanetoidError(f"{name}: feature/label count mismatch in {pa}: {a.shape[0]} vs {b.shape[0]}")
    if tx.shape[0] != test_idx.size:
        raise PlanetoidError(f"{name}: {tx.shape[0]} test feature rows vs {test_idx.size} lines in test.index")
    graph = objs["graph"]
    if not isinstance(graph, dict):
        raise PlanetoidError(f"malformed Planetoid file {_path(root, name, 'graph')}: expected dict-of-lists, "
                             f"got {type(graph).__name__}")
    # CiteSeer has test indices with no test row (isolated nodes missing from tx): like the GCN
    # reference code, extend the test block to the full index range with zero features/labels.
    lo, hi = test_idx.min(), test_idx.max()
    full = hi - lo + 1
    tx_ext = np.zeros((full, tx.shape[1]), tx.dtype); ty_ext = np.zeros((full, ty.shape[1]), ty.dtype)
    tx_ext[np.sort(test_idx) - lo] = tx; ty_ext[np.sort(test_idx) - lo] = ty
    feats = np.concatenate([allx, tx_ext]).astype(np.float32)
    labels_1h = np.concatenate([ally, ty_ext])
    # the reference reorders: row test_idx[i] holds the i-th test example
    sorted_idx = np.sort(test_idx)
    feats[test_idx] = feats[sorted_idx]; labels_1h[test_idx] = labels_1h[sorted_idx]
    n = feats.shape[0]
    s = np.fromiter((u for u, vs in graph.items() for _ in vs), np.int64)
    r = np.fromiter((v for vs in graph.values() for v in vs), np.int64)
    if s.size and (min(s.min(), r.min()) < 0 or max(s.max(), r.max()) >= n):
        bad = np.concatenate([s, r]); bad = bad[(bad < 0) | (bad >= n)][0]
        raise PlanetoidError(f"{name}: edge index out of range in ind.{name}.graph: {int(bad)} "
                             f"(allowed 0..{n - 1} for {n} nodes)")
    s, r = to_undirected(s, r, n)
    y_all = labels_1h.argmax(1)
    train = np.zeros(n, bool); train[:y.shape[0]] = True
    val = np.zeros(n, bool); val[y.shape[0]:y.shape[0] + 500] = True
    test = np.zeros(n, bool); test[test_idx] = True
    for split, m in (("train", train), ("val", val), ("test", test)):
        if not m.any():
            raise PlanetoidError(f"{name}: empty {split} split")
    return feats, y_all, s, r, train, val, test


def row_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to sum 1 (Kipf & Welling's preprocessing); zero rows stay zero."""
    s = x.sum(1, keepdims=True)
    return (x / np.where(s == 0, 1, s)).astype(np.float32)


def load(name: str, root=None, normalize_features: bool = True, **pad) -> Graph:
    x, y, s, r, train, val, test = load_raw(name, root)
    if normalize_features:
        x = row_normalize(x)
    return make_graph(x, y, s, r, train_mask=train, val_mask=val, test_mask=test, name=name, **pad)


def num_classes(g: Graph) -> int:
    return int(np.asarray(g.y)[np.asarray(g.node_mask)].max()) + 1
