"""Partitions: every sample exactly once; Dirichlet skew; 2-label shards; natural."""
import numpy as np
import pytest

from lib.config import ConfigError
from lib.data import partition

LABELS = np.repeat(np.arange(10), 100)[np.random.default_rng(0).permutation(1000)]


def _exactly_once(parts, n):
    allidx = np.concatenate(parts)
    assert len(allidx) == n
    np.testing.assert_array_equal(np.sort(allidx), np.arange(n))


def test_iid():
    parts = partition.iid(1000, 7, np.random.default_rng(1))
    _exactly_once(parts, 1000)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_dirichlet_skew_depends_on_alpha():
    def mean_classes(alpha):
        parts = partition.dirichlet(LABELS, 20, alpha, np.random.default_rng(2), min_size=2)
        _exactly_once(parts, 1000)
        counts = partition.label_counts(LABELS, parts, 10)
        frac = counts.max(1) / counts.sum(1)  # share of the dominant class
        return frac.mean()

    skewed, flat = mean_classes(0.1), mean_classes(100.0)
    assert skewed > 0.6 and flat < 0.3


def test_shards_two_labels_each():
    parts = partition.shards(LABELS, 50, np.random.default_rng(3))
    _exactly_once(parts, 1000)
    assert all(len(p) == 20 for p in parts)
    # 100 shards of 10 sorted samples: each shard is one label, so <= 2 labels per client
    assert max(len(np.unique(LABELS[p])) for p in parts) <= 2
    assert np.mean([len(np.unique(LABELS[p])) for p in parts]) > 1.5


def test_natural():
    owners = np.array(["b", "a", "b", "c", "a", "b"])
    parts, names = partition.natural(owners)
    assert list(names) == ["a", "b", "c"]
    assert [list(p) for p in parts] == [[1, 4], [0, 2, 5], [3]]


def test_deterministic_and_errors():
    a = partition.make("dirichlet", LABELS, 10, np.random.default_rng(5), alpha=0.5)
    b = partition.make("dirichlet", LABELS, 10, np.random.default_rng(5), alpha=0.5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ConfigError, match="partition='pathological'"):
        partition.make("pathological", LABELS, 10, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="alpha=0"):
        partition.dirichlet(LABELS, 10, 0.0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="num_clients=2000"):
        partition.iid(1000, 2000, np.random.default_rng(0))
