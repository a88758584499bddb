"""LEAF JSON loader: format errors name the file; FEMNIST layout on the real data."""
import json

import numpy as np
import pytest

from lib.data import leaf, partition


def _write(path, users, per_user):
    d = {"users": users, "num_samples": [len(per_user[u][1]) for u in users],
         "user_data": {u: {"x": per_user[u][0], "y": per_user[u][1]} for u in users}}
    path.write_text(json.dumps(d))


def test_load_split_and_natural_partition(tmp_path):
    _write(tmp_path / "a.json", ["u1", "u2"], {"u1": ([[0.0, 1.0]] * 3, [1, 2, 3]), "u2": ([[2.0, 2.0]], [4])})
    _write(tmp_path / "b.json", ["u3"], {"u3": ([[5.0, 5.0]] * 2, [0, 0])})
    s = leaf.load_split(str(tmp_path))
    assert s.x.shape == (6, 2) and s.y.dtype == np.int32
    parts, names = partition.natural(s.owner)
    assert list(names) == ["u1", "u2", "u3"] and [len(p) for p in parts] == [3, 1, 2]


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no LEAF"):
        leaf.load_split(str(tmp_path / "missing"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(leaf.LeafError, match="bad.json"):
        leaf.load_split(str(tmp_path))
    (tmp_path / "bad.json").write_text(json.dumps({"users": ["u"], "num_samples": [1]}))
    with pytest.raises(leaf.LeafError, match="bad.json: missing key 'user_data'"):
        leaf.load_split(str(tmp_path))
    _write(tmp_path / "bad.json", ["u"], {"u": ([[1.0]] * 2, [1])})
    with pytest.raises(leaf.LeafError, match="has 2 x / 1 y"):
        leaf.load_split(str(tmp_path))


@pytest.mark.data
def test_femnist_real_layout(data_dir):
    train, test = leaf.load_femnist(str(data_dir))
    assert train.x.shape == (14708, 28, 28)
    assert len(np.unique(train.owner)) == 105
    assert test.x.shape[0] == 1685 and set(np.unique(test.owner)) <= set(np.unique(train.owner))
    assert 0 <= train.x.min() and train.x.max() <= 1 and train.y.max() <= 61
