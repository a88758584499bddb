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
from absl import logging

from lib.data.common import DataError, MissingDataError

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
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except UnicodeDecodeError as e:
        raise LeafError(f"{path}: not UTF-8 (byte offset {e.start}); expected {FORMAT}") from None
    except json.JSONDecodeError as e:
        raise LeafError(f"{path}: not valid JSON ({e}); expected {FORMAT}") from None
    if not isinstance(d, dict):
        raise LeafError(f"{path}: holds a JSON {type(d).__name__}, expected an object; {FORMAT}")
    for k in ("users", "num_samples", "user_data"):
        if k not in d:
            raise LeafError(f"{path}: missing key {k!r}; expected {FORMAT}")
    if not isinstance(d["users"], list) or not isinstance(d["num_samples"], list) or not isinstance(d["user_data"], dict):
        raise LeafError(f"{path}: users and num_samples must be lists and user_data an object; expected {FORMAT}")
    if len(d["users"]) != len(d["num_samples"]):
        raise LeafError(f"{path}: {len(d['users'])} users but {len(d['num_samples'])} num_samples")
    return d


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _locate_bad_x(path, u, xs, size):
    """The first sample / value of user u that is not a list of `size` numbers (slow path)."""
    for i, sample in enumerate(xs):
        if not isinstance(sample, list):
            raise LeafError(f"{path}: user {u!r} sample {i}: x is a {type(sample).__name__}, expected a list of "
                            f"{size} numbers")
        if len(sample) != size:
            raise LeafError(f"{path}: user {u!r} sample {i}: x has {len(sample)} values, expected {size} "
                            "(samples of different lengths)")
        for j, v in enumerate(sample):
            if not _is_number(v):
                raise LeafError(f"{path}: user {u!r} sample {i}: x[{j}] = {v!r} is not a number")
    raise LeafError(f"{path}: user {u!r}: x is not a list of equal-length lists of numbers")


def _user(path, u, n, ud, x_shape, num_classes, x_range):
    """(x [n, ...] float32, y [n] int32) of one user, every field checked."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise LeafError(f"{path}: user {u!r}: num_samples={n!r} is not a count")
    if not isinstance(ud, dict) or "x" not in ud or "y" not in ud:
        raise LeafError(f"{path}: user {u!r} has no user_data x/y")
    xs, ys = ud["x"], ud["y"]
    if not isinstance(xs, list) or not isinstance(ys, list):
        raise LeafError(f"{path}: user {u!r}: x and y must be lists")
    if len(xs) != n or len(ys) != n:
        raise LeafError(f"{path}: user {u!r} has {len(xs)} x / {len(ys)} y, num_samples says {n}")
    size = int(np.prod(x_shape)) if x_shape is not None else (len(xs[0]) if isinstance(xs[0], list) else -1)
    try:
        x = np.asarray(xs)  # numbers give a numeric array; strings, None or ragged lists do not
    except (ValueError, TypeError):
        x = None
    if x is None or x.ndim != 2 or x.shape[1] != size or x.dtype.kind not in "fiu":
        _locate_bad_x(path, u, xs, size)
    x = x.astype(np.float32)
    bad = ~np.isfinite(x)
    if x_range is not None:
        bad |= (x < x_range[0]) | (x > x_range[1])
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        allowed = f"a finite value in [{x_range[0]}, {x_range[1]}]" if x_range else "a finite value"
        raise LeafError(f"{path}: user {u!r} sample {i}: x[{j}] = {x[i, j].item()!r}, expected {allowed}")
    for i, v in enumerate(ys):
        if not (isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer()):
            raise LeafError(f"{path}: user {u!r} sample {i}: y = {v!r} is not an integer label")
        if v < 0 or (num_classes is not None and v >= num_classes):
            allowed = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
            raise LeafError(f"{path}: user {u!r} sample {i}: label y = {v!r} is outside {allowed}")
    if x_shape is not None:
        x = x.reshape((n,) + tuple(x_shape))
    return x, np.asarray(ys, np.int64).astype(np.int32)


def load_split(folder: str, x_shape=None, num_classes: int | None = None, x_range=None) -> LeafSplit:
    """All `*.json` files of a LEAF split folder, merged. Every record is checked (LeafError
    names the file, the user, the sample and the field): x a list of equal-length lists of
    finite numbers (of `x_shape` values, within `x_range` when given), y integer labels in
    0..num_classes-1. Users with no samples are skipped (LEAF writes such users)."""
    files = sorted(glob.glob(os.path.join(folder, "*.json")))
    if not os.path.isdir(folder) or not files:
        raise MissingDataError(f"no LEAF *.json files in {folder!r}; expected {FORMAT}")
    xs, ys, owners, users, empty = [], [], [], [], []
    for path in files:
        d = _read(path)
        for u, n in zip(d["users"], d["num_samples"]):
            if n == 0 and not (d["user_data"].get(u) or {}).get("x"):
                empty.append(u)
                continue
            x, y = _user(path, u, n, d["user_data"].get(u), x_shape, num_classes, x_range)
            xs.append(x)
            ys.append(y)
            owners.append(np.full(n, u, dtype=object))
            users.append(u)
    if empty:
        logging.warning("LEAF %s: skipped %d user(s) with no samples (%s)", folder, len(empty),
                        ", ".join(map(str, empty[:5])) + (" ..." if len(empty) > 5 else ""))
    if not xs:
        raise LeafError(f"{folder}: no user has any sample")
    return LeafSplit(np.concatenate(xs), np.concatenate(ys), np.concatenate(owners).astype(str), users)


def load_femnist(data_dir: str, only_train_writers: bool = True) -> tuple[LeafSplit, LeafSplit]:
    """(train, test) FEMNIST splits as [n, 28, 28] float32 (LEAF stores 1 - ink in [0, 1]), 62 classes.

    With only_train_writers, the test split is restricted to writers that have train data
    (the natural partition evaluates on the same clients' held-out samples).
    """
    root = os.path.join(data_dir, "femnist")
    if not os.path.isdir(root):
        raise MissingDataError(f"FEMNIST folder {root!r} not found (needs train/ and test/ with {FORMAT})")
    train = load_split(os.path.join(root, "train"), (28, 28), num_classes=62, x_range=(0.0, 1.0))
    test = load_split(os.path.join(root, "test"), (28, 28), num_classes=62, x_range=(0.0, 1.0))
    if only_train_writers:
        keep = np.isin(test.owner, np.unique(train.owner))
        test = LeafSplit(test.x[keep], test.y[keep], test.owner[keep], [u for u in test.users if u in set(train.users)])
    return train, test
