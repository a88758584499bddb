import numpy as np
import pytest

from lib.config import ConfigError
from lib.data import iterators, mnist
from lib.data.common import DataError, MissingDataError


def test_missing_file_names_file_format_and_source(tmp_path):
    with pytest.raises(MissingDataError) as e:
        mnist.load_mnist(str(tmp_path))
    msg = str(e.value)
    assert "mnist.npz" in msg and "x_train uint8" in msg and "published at" in msg


def test_malformed_files(tmp_path):
    (tmp_path / "mnist").mkdir()
    path = tmp_path / "mnist" / "mnist.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        mnist.load_mnist(str(tmp_path))
    np.savez(path, x_train=np.zeros((5, 28, 28), np.uint8), y_train=np.zeros(5, np.uint8))
    with pytest.raises(DataError, match=r"lacks key\(s\) \['x_test', 'y_test'\]"):
        mnist.load_mnist(str(tmp_path))
    np.savez(path, x_train=np.zeros((5, 28, 27), np.uint8), y_train=np.zeros(5, np.uint8),
             x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.zeros(2, np.uint8))
    with pytest.raises(DataError, match="x_train"):
        mnist.load_mnist(str(tmp_path))


@pytest.mark.data
def test_real_mnist(data_dir):
    xtr, ytr, xte, yte = mnist.load_mnist(str(data_dir))
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    assert xtr.dtype == np.float32 and 0.0 <= xtr.min() and xtr.max() <= 1.0
    assert sorted(np.unique(ytr)) == list(range(10))


def test_digits_split_is_deterministic():
    a, b = mnist.load_digits(seed=3), mnist.load_digits(seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].shape[1] == 64 and len(a[0]) + len(a[2]) == 1797


def test_batcher_is_a_pure_function_of_step():
    b = iterators.EpochBatcher(100, 32, seed=1)
    assert b.steps_per_epoch == 3
    epoch0 = np.concatenate([b.indices(s) for s in range(3)])
    assert len(set(epoch0)) == 96  # no repeats within an epoch
    fresh = iterators.EpochBatcher(100, 32, seed=1)
    np.testing.assert_array_equal(fresh.indices(4), b.indices(4))  # no hidden state
    assert not np.array_equal(b.indices(0), b.indices(3))  # reshuffled next epoch
    with pytest.raises(ConfigError, match="config.batch_size=32 is larger than the training set"):
        iterators.EpochBatcher(10, 32, seed=0)
    idx, mask = zip(*iterators.padded_batches(10, 4))
    assert mask[-1].tolist() == [True, True, False, False]


def _npz(path, x_train, x_test, y_train=None, y_test=None):
    np.savez(path, x_train=x_train, x_test=x_test,
             y_train=np.arange(len(x_train)) % 10 if y_train is None else y_train,
             y_test=np.arange(len(x_test)) % 10 if y_test is None else y_test)


def test_float_pixels_in_unit_range_are_taken_as_they_are(tmp_path):
    """Issue 11 item 5: MNIST stored as float32 in [0, 1] used to be divided by 255 again
    (all images ~0; the LAMB MLP reached 0.49 instead of 0.99)."""
    rng = np.random.default_rng(0)
    x8 = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    (tmp_path / "u8").mkdir(), (tmp_path / "f32").mkdir(), (tmp_path / "f255").mkdir()
    _npz(tmp_path / "u8" / "mnist.npz", x8, x8[:5])
    _npz(tmp_path / "f32" / "mnist.npz", x8.astype(np.float32) / 255, x8[:5].astype(np.float32) / 255)
    _npz(tmp_path / "f255" / "mnist.npz", x8.astype(np.float64), x8[:5].astype(np.float64))
    ref = mnist.load_mnist(str(tmp_path / "u8"))
    assert ref[0].max() > 0.99
    for other in ("f32", "f255"):
        got = mnist.load_mnist(str(tmp_path / other))
        for a, b in zip(ref, got):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, atol=1e-7)


@pytest.mark.parametrize("x,y,match", [
    (np.full((4, 28, 28), -0.5, np.float32), None, r"x_train \(float32\) has values in \[-0.5, -0.5\]"),
    (np.full((4, 28, 28), 300, np.int32), None, r"x_train \(int32\) has values in \[300, 300\]"),
    (np.where(np.arange(4 * 784).reshape(4, 28, 28) == 800, np.nan, 0.5).astype(np.float32), None,
     r"x_train has a NaN/inf value at index \(1, 0, 16\)"),
    (np.zeros((4, 28, 28), "U1"), None, "x_train has dtype <U1"),
    (np.zeros((4, 28, 28), np.uint8), np.array([0, 1, 12, 3]), r"y_train has label 12 at index \(2,\), outside 0..9"),
    (np.zeros((4, 28, 28), np.uint8), np.array([0, 1.5, 2, 3]), r"y_train has a non-integer label 1.5 at index \(1,\)"),
])
def test_bad_pixels_and_labels_are_named(tmp_path, x, y, match):
    (tmp_path / "mnist").mkdir()
    _npz(tmp_path / "mnist" / "mnist.npz", x, np.zeros((2, 28, 28), np.uint8), y_train=y)
    with pytest.raises(DataError, match=match):
        mnist.load_mnist(str(tmp_path))


def _write_idx(path, arr, header=None):
    import gzip

    head = header if header is not None else bytes([0, 0, 8, arr.ndim]) + np.asarray(arr.shape, ">i4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(head + np.asarray(arr, np.uint8).tobytes())


def test_fashion_mnist_idx_files_and_their_errors(tmp_path):
    from lib.data.common import DataError
    from lib.data.mnist import load_fashion_mnist

    root = tmp_path / "fashion_mnist"
    root.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 5), ("t10k", 3)):
        _write_idx(root / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(root / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    x, y, xt, yt = load_fashion_mnist(str(tmp_path))
    assert x.shape == (5, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1 and yt.shape == (3,)
    _write_idx(root / "t10k-labels-idx1-ubyte.gz", np.array([1, 2, 12]))
    with pytest.raises(DataError, match="label 12"):
        load_fashion_mnist(str(tmp_path))
    _write_idx(root / "t10k-labels-idx1-ubyte.gz", np.array([1, 2, 3]), header=bytes([0, 0, 9, 1]) + np.asarray([3], ">i4").tobytes())
    with pytest.raises(DataError, match="not an IDX uint8"):
        load_fashion_mnist(str(tmp_path))
    _write_idx(root / "t10k-labels-idx1-ubyte.gz", np.array([1, 2]), header=bytes([0, 0, 8, 1]) + np.asarray([3], ">i4").tobytes())
    with pytest.raises(DataError, match="truncated"):
        load_fashion_mnist(str(tmp_path))
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="Fashion-MNIST"):
        load_fashion_mnist(str(tmp_path))


@pytest.mark.data
def test_real_fashion_mnist(data_dir):
    from lib.data.mnist import load_fashion_mnist

    x, y, xt, yt = load_fashion_mnist(data_dir)
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(yt).tolist() == [1000] * 10
