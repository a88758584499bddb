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
    with pytest.raises(FileNotFoundError, match="no LEAF"):  # a MissingDataError
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


def test_users_with_no_samples_are_skipped(tmp_path):
    """Issue 11 item 6: a user with num_samples 0 used to crash (IndexError, no file named)."""
    _write(tmp_path / "a.json", ["u1", "empty", "u2"],
           {"u1": ([[0.0, 1.0]] * 2, [1, 2]), "empty": ([], []), "u2": ([[2.0, 2.0]], [4])})
    s = leaf.load_split(str(tmp_path))
    assert s.users == ["u1", "u2"] and s.x.shape == (3, 2)


@pytest.mark.parametrize("x,y,match", [
    ([[0.0, 1.0], [0.5]], [1, 2], r"a.json: user 'u1' sample 1: x has 1 values, expected 2"),
    ([[0.0, 1.0], [0.5, "dark"]], [1, 2], r"a.json: user 'u1' sample 1: x\[1\] = 'dark' is not a number"),
    ([[0.0, 1.0], None], [1, 2], r"a.json: user 'u1' sample 1: x is a NoneType"),
    ([[0.0, 1.0], [0.5, float("nan")]], [1, 2], r"a.json: user 'u1' sample 1: x\[1\] = nan, expected a finite"),
    ([[0.0, 1.0], [0.5, 0.5]], [1, 62], r"a.json: user 'u1' sample 1: label y = 62 is outside 0..61"),
    ([[0.0, 1.0], [0.5, 0.5]], [-1, 2], r"a.json: user 'u1' sample 0: label y = -1 is outside 0..61"),
    ([[0.0, 1.0], [0.5, 0.5]], [1, "b"], r"a.json: user 'u1' sample 1: y = 'b' is not an integer label"),
    ([[0.0, 1.0], [0.5, 2.0]], [1, 2], r"a.json: user 'u1' sample 1: x\[1\] = 2.0, expected a finite value in \[0.0, 1.0\]"),
])
def test_every_record_is_checked_and_named(tmp_path, x, y, match):
    """Issue 11 item 6: ragged or non-numeric pixels and labels out of range crashed in numpy
    or passed silently, naming no file or user."""
    _write(tmp_path / "a.json", ["u0", "u1"], {"u0": ([[0.0, 0.0]], [0]), "u1": (x, y)})
    with pytest.raises(leaf.LeafError, match=match):
        leaf.load_split(str(tmp_path), num_classes=62, x_range=(0.0, 1.0))


def test_non_utf8_file_is_named(tmp_path):
    (tmp_path / "a.json").write_bytes(b'{"users": ["\xff"]}')
    with pytest.raises(leaf.LeafError, match=r"a.json: not UTF-8 \(byte offset 12\)"):
        leaf.load_split(str(tmp_path))
