import numpy as np
import pytest

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
    with pytest.raises(ValueError, match="larger than the data set"):
        iterators.EpochBatcher(10, 32, seed=0)
    idx, mask = zip(*iterators.padded_batches(10, 4))
    assert mask[-1].tolist() == [True, True, False, False]
