"""LEAF JSON loader (FEMNIST, Shakespeare, ... from the LEAF benchmark, Caldas et al. 2018).

A LEAF split folder holds files `*.json`, each
`{"users": [u, ...], "num_samples": [n, ...], "user_data": {u: {"x": [...], "y": [...]}}}`.
`load_split(folder)` merges all files into flat arrays plus the owner (user) of each sample,
which `lib.data.partition.natural` turns into the natural partition by writer.
`load_femnist(data_dir)` reads `<data_dir>/femnist/{train,test}` as 28x28 float32 images.

Published at https://github.com/TalwalkarLab/leaf (data/femnist, preprocess.sh).
"""

from __future__ import annotations

import glob
import json
import os
from typing import NamedTuple

import numpy as np

from lib.data.common import DataError

FORMAT = ('LEAF JSON: {"users": [...], "num_samples": [...], '
          '"user_data": {user: {"x": [...], "y": [...]}}} (https://github.com/TalwalkarLab/leaf)')


class LeafError(DataError):
    """A LEAF file is missing or malformed; the message names the file."""


class LeafSplit(NamedTuple):
    x: np.ndarray
    y: np.ndarray  # int32
    owner: np.ndarray  # user id (str) of each sample
    users: list  # users in file order


def _read(path: str) -> dict:
    try:
        with open(path) as f:
            d = json.load(f)
    except json.JSONDecodeError as e:
        raise LeafError(f"{path}: not valid JSON ({e}); expected {FORMAT}") from None
    for k in ("users", "num_samples", "user_data"):
        if k not in d:
            raise LeafError(f"{path}: missing key {k!r}; expected {FORMAT}")
    if len(d["users"]) != len(d["num_samples"]):
        raise LeafError(f"{path}: {len(d['users'])} users but {len(d['num_samples'])} num_samples")
    return d


def load_split(folder: str, x_shape=None) -> LeafSplit:
    files = sorted(glob.glob(os.path.join(folder, "*.json")))
    if not os.path.isdir(folder) or not files:
        raise FileNotFoundError(f"no LEAF *.json files in {folder!r}; expected {FORMAT}")
    xs, ys, owners, users = [], [], [], []
    for path in files:
        d = _read(path)
        for u, n in zip(d["users"], d["num_samples"]):
            ud = d["user_data"].get(u)
            if ud is None or "x" not in ud or "y" not in ud:
                raise LeafError(f"{path}: user {u!r} has no user_data x/y")
            if len(ud["x"]) != n or len(ud["y"]) != n:
                raise LeafError(f"{path}: user {u!r} has {len(ud['x'])} x / {len(ud['y'])} y, num_samples says {n}")
            x = np.asarray(ud["x"], np.float32)
            if x_shape is not None:
                if x[0].size != int(np.prod(x_shape)):
                    raise LeafError(f"{path}: user {u!r} samples have {x[0].size} values, expected {x_shape}")
                x = x.reshape((n,) + tuple(x_shape))
            xs.append(x)
            ys.append(np.asarray(ud["y"], np.int32))
            owners.append(np.full(n, u, dtype=object))
            users.append(u)
    return LeafSplit(np.concatenate(xs), np.concatenate(ys), np.concatenate(owners).astype(str), users)


def load_femnist(data_dir: str, only_train_writers: bool = True) -> tuple[LeafSplit, LeafSplit]:
    """(train, test) FEMNIST splits as [n, 28, 28] float32 (LEAF stores 1 - ink in [0, 1]).

    With only_train_writers, the test split is restricted to writers that have train data
    (the natural partition evaluates on the same clients' held-out samples).
    """
    root = os.path.join(data_dir, "femnist")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"FEMNIST folder {root!r} not found (needs train/ and test/ with {FORMAT})")
    train = load_split(os.path.join(root, "train"), (28, 28))
    test = load_split(os.path.join(root, "test"), (28, 28))
    if only_train_writers:
        keep = np.isin(test.owner, np.unique(train.owner))
        test = LeafSplit(test.x[keep], test.y[keep], test.owner[keep], [u for u in test.users if u in set(train.users)])
    return train, test
