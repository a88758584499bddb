"""MNIST from `mnist.npz` (keys x_train, y_train, x_test, y_test), Fashion-MNIST from its original
gzipped IDX files, and sklearn's 8x8 digits.

The digits set (1,797 real handwritten digits, UCI) ships inside scikit-learn, so
defaults and the demo run anywhere with no download.
"""

from __future__ import annotations

import gzip
import os
import zipfile

import numpy as np

from lib.data.common import DataError, require_file

MNIST_FORMAT = ("mnist.npz with x_train uint8 [60000,28,28], y_train uint8 [60000], x_test uint8 [10000,28,28], "
                "y_test uint8 [10000] (pixels may also be floats in [0, 1]; labels any integers 0..9)")
MNIST_SOURCE = "http://yann.lecun.com/exdb/mnist/ (npz layout as served by keras: mnist.npz)"


def _first_bad(mask) -> str:
    return str(tuple(int(i) for i in np.argwhere(mask)[0]))


def pixels_to_unit(x: np.ndarray, where: str) -> np.ndarray:
    """Images as float32 in [0, 1], from uint8/integer pixels 0..255, floats in [0, 1] (taken
    as they are) or floats in [0, 255] (divided by 255); anything else is a DataError that
    names `where`, the dtype and the range found."""
    if x.size == 0:
        raise DataError(f"{where} is empty; expected {MNIST_FORMAT}")
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{where} has dtype {x.dtype}; expected uint8 pixels or floats ({MNIST_FORMAT})")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DataError(f"{where} has a NaN/inf value at index {_first_bad(~np.isfinite(x))}")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise DataError(f"{where} ({x.dtype}) has values in [{lo:g}, {hi:g}]; expected pixels 0..255 or floats in [0, 1]")
    if np.issubdtype(x.dtype, np.floating) and hi <= 1.0:
        return x.astype(np.float32)
    return x.astype(np.float32) / 255.0


def labels_0_to_9(y: np.ndarray, where: str) -> np.ndarray:
    if y.size and not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise DataError(f"{where} has dtype {y.dtype}; expected integer labels 0..9")
    if np.issubdtype(y.dtype, np.floating):
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise DataError(f"{where} has a non-integer label {y[bad][0].item()!r} at index {_first_bad(bad)}")
    bad = (y < 0) | (y > 9)
    if bad.any():
        raise DataError(f"{where} has label {y[bad][0].item()!r} at index {_first_bad(bad)}, outside 0..9")
    return y.astype(np.int32)


def load_mnist(data_dir: str, flatten: bool = False):
    """(x_train, y_train, x_test, y_test): float32 in [0,1] ([N,28,28] or [N,784]), int32 labels."""
    path = os.path.join(data_dir, "mnist", "mnist.npz")
    if not os.path.isfile(path) and os.path.isfile(os.path.join(data_dir, "mnist.npz")):
        path = os.path.join(data_dir, "mnist.npz")
    require_file(path, "MNIST", MNIST_FORMAT, MNIST_SOURCE)
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as d:
            missing = [k for k in keys if k not in d.files]
            if missing:
                raise DataError(f"MNIST: {path} lacks key(s) {missing}; expected {MNIST_FORMAT}")
            arrays = {k: d[k] for k in keys}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"MNIST: {path} is not a readable .npz ({type(e).__name__}: {e}); expected {MNIST_FORMAT}") from None
    out = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
            raise DataError(f"MNIST: {path}: x_{split} {x.shape} / y_{split} {y.shape} do not match {MNIST_FORMAT}")
        x = pixels_to_unit(x, f"MNIST: {path}: x_{split}")
        y = labels_0_to_9(y, f"MNIST: {path}: y_{split}")
        out += [x.reshape(len(x), -1) if flatten else x, y]
    return tuple(out)


FASHION_FORMAT = ("fashion_mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz: the original gzipped IDX files "
                  "(images uint8 [N,28,28], labels uint8 0..9; 60,000 train, 10,000 test)")
FASHION_SOURCE = "https://github.com/zalandoresearch/fashion-mnist (also Debian's dataset-fashion-mnist)"


def read_idx(path: str, ndim: int) -> np.ndarray:
    """One IDX file (optionally gzipped): magic 0x00 0x00 0x08 (uint8) ndim, big-endian int32 dims, data."""
    require_file(path, "Fashion-MNIST", FASHION_FORMAT, FASHION_SOURCE)
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path} is not a readable IDX file ({type(e).__name__}: {e}); expected {FASHION_FORMAT}") from None
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or raw[3] != ndim:
        raise DataError(f"{path}: header {raw[:4].hex()} is not an IDX uint8 file of {ndim} dims; expected {FASHION_FORMAT}")
    dims = tuple(int(d) for d in np.frombuffer(raw[4:4 + 4 * ndim], ">i4"))
    body = np.frombuffer(raw[4 + 4 * ndim:], np.uint8)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path}: {body.size} bytes of data for dims {dims} (truncated or padded file)")
    return body.reshape(dims)


def load_fashion_mnist(data_dir: str, flatten: bool = False):
    """(x_train, y_train, x_test, y_test) of Fashion-MNIST like `load_mnist`."""
    root = os.path.join(data_dir, "fashion_mnist")
    out = []
    for split in ("train", "t10k"):
        x = read_idx(os.path.join(root, f"{split}-images-idx3-ubyte.gz"), 3)
        y = read_idx(os.path.join(root, f"{split}-labels-idx1-ubyte.gz"), 1)
        where = f"Fashion-MNIST: {root}/{split}"
        if x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
            raise DataError(f"{where}: images {x.shape} / labels {y.shape} do not match {FASHION_FORMAT}")
        x = pixels_to_unit(x, f"{where} images")
        out += [x.reshape(len(x), -1) if flatten else x, labels_0_to_9(y, f"{where} labels")]
    return tuple(out)


def load_digits(test_fraction: float = 0.25, seed: int = 0, flatten: bool = True):
    """sklearn's 8x8 digits (real data, shipped with scikit-learn), split deterministically."""
    from sklearn.datasets import load_digits as _load

    d = _load()
    x = (d.images / 16.0).astype(np.float32)
    y = d.target.astype(np.int32)
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    te, tr = perm[:n_test], perm[n_test:]
    if flatten:
        x = x.reshape(len(x), -1)
    return x[tr], y[tr], x[te], y[te]


FLAT_DATASETS = ("digits", "mnist", "fashion_mnist")


def load_flat(name: str, data_dir: str, seed: int = 0):
    """(x_train, y_train, x_test, y_test) with flattened images for `name` in FLAT_DATASETS;
    'digits' (scikit-learn's 8x8 digits, split with `seed`) needs no data root."""
    if name == "digits":
        return load_digits(seed=seed)
    return (load_mnist if name == "mnist" else load_fashion_mnist)(data_dir, flatten=True)
