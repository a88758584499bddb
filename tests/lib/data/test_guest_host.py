"""Guest/host CSV loader: join on id, labels on the guest, named errors for malformed files."""

import os

import numpy as np
import pytest

from lib.data import guest_host as gh
from lib.data.common import DataError, MissingDataError


def _write(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(c) for c in r) + "\n")
    return str(path)


def _pair(tmp_path, guest_rows=None, host_rows=None, guest_header=("id", "y", "a", "b"), host_header=("id", "c")):
    g = _write(tmp_path / "g.csv", guest_header, guest_rows or [(3, 1, 0.5, 1.0), (1, 0, -1, 2), (2, 1, 0, 0)])
    h = _write(tmp_path / "h.csv", host_header, host_rows or [(1, 10.0), (2, 20.0), (3, 30.0)])
    return g, h


def test_join_aligns_hosts_to_guest_order(tmp_path):
    d = gh.load_files(*_pair(tmp_path)[:1], [_pair(tmp_path)[1]])
    assert d.ids.tolist() == [3, 1, 2]
    assert d.y.tolist() == [1, 0, 1]
    assert d.x[0].tolist() == [[0.5, 1.0], [-1, 2], [0, 0]]
    assert d.x[1][:, 0].tolist() == [30.0, 10.0, 20.0]  # host rows follow the guest's ids
    assert d.columns == (("a", "b"), ("c",)) and d.feature_dims == (2, 1)


@pytest.mark.parametrize("host_rows, match", [
    ([(1, 10.0), (2, 20.0), (4, 40.0)], r"1 id\(s\) only in the guest .*\(e\.g\. 3\).*only in the host .*\(e\.g\. 4\)"),
    ([(1, 10.0), (2, 20.0)], r"only in the guest"),
    ([(1, 1.0), (2, 2.0), (3, 3.0), (1, 4.0)], r"id 1 appears 2 times"),
])
def test_mismatched_ids(tmp_path, host_rows, match):
    g, h = _pair(tmp_path, host_rows=host_rows)
    with pytest.raises(gh.MismatchedIdsError, match=match):
        gh.load_files(g, [h])


def test_missing_label_column(tmp_path):
    g, h = _pair(tmp_path, guest_header=("id", "label", "a", "b"))
    with pytest.raises(gh.MissingLabelError, match=r"g\.csv: the guest file has no label column 'y'"):
        gh.load_files(g, [h])


@pytest.mark.parametrize("guest_rows, match", [
    ([(3, 1, "abc", 1.0), (1, 0, -1, 2), (2, 1, 0, 0)], r"row 2, column 'a': 'abc' is not a finite number"),
    ([(3, 1, 0.5, 1.0), (1, 0, -1, "nan"), (2, 1, 0, 0)], r"row 3, column 'b': 'nan'"),
    ([(3, 1, 0.5, 1.0), (1, 2, -1, 2), (2, 1, 0, 0)], r"row 3, column 'y': '2' is not a binary label"),
    ([(3, 1, 0.5, 1.0), (1.5, 0, -1, 2), (2, 1, 0, 0)], r"column 'id': '1.5' is not an integer id"),
])
def test_non_numeric_cells(tmp_path, guest_rows, match):
    g, h = _pair(tmp_path, guest_rows=guest_rows)
    with pytest.raises(gh.NonNumericError, match=match):
        gh.load_files(g, [h])


def test_party_without_features(tmp_path):
    g, _ = _pair(tmp_path)
    h = _write(tmp_path / "h0.csv", ("id",), [(1,), (2,), (3,)])
    with pytest.raises(gh.NoFeaturesError, match=r"h0\.csv: the party has no feature column"):
        gh.load_files(g, [h])
    g2 = _write(tmp_path / "g0.csv", ("id", "y"), [(1, 0), (2, 1), (3, 0)])
    with pytest.raises(gh.NoFeaturesError, match="besides the id and label"):
        gh.load_files(g2, [_pair(tmp_path)[1]])


def test_ragged_row_and_missing_file(tmp_path):
    g = tmp_path / "g.csv"
    g.write_text("id,y,a\n1,0,1\n2,1\n")
    with pytest.raises(DataError, match="row 3 has 2 cells, the header has 3"):
        gh.read_party(str(g), label="y")
    with pytest.raises(MissingDataError, match="nope.csv"):
        gh.read_party(str(tmp_path / "nope.csv"))
    for cls in (gh.MissingLabelError, gh.MismatchedIdsError, gh.NonNumericError, gh.NoFeaturesError):
        assert issubclass(cls, DataError)


def test_split_is_stratified_and_deterministic(tmp_path):
    rows = [(i, i % 4 == 0, i, -i) for i in range(200)]
    g = _write(tmp_path / "g.csv", ("id", "y", "a", "b"), [(i, int(y), a, b) for i, y, a, b in rows])
    h = _write(tmp_path / "h.csv", ("id", "c"), [(i, 2 * i) for i in reversed(range(200))])
    d = gh.load_files(g, [h])
    tr, te = gh.split(d, 0.25, seed=1)
    tr2, te2 = gh.split(d, 0.25, seed=1)
    assert np.array_equal(te.ids, te2.ids) and len(te.ids) == 50 and len(tr.ids) == 150
    assert int(te.y.sum()) in (12, 13)  # stratified: a quarter of the 50 positives
    assert np.array_equal(tr.x[1][:, 0], 2 * tr.ids)  # still aligned after the split
    assert not set(tr.ids) & set(te.ids)


@pytest.mark.data
def test_real_credit_default_split():
    d = gh.load(os.environ.get("TESSERA_DATA_DIR", "../shared/data"), "default_credit")
    assert d.num_parties == 2 and d.feature_dims == (13, 10) and len(d.y) == 30000
    assert 0.2 < d.y.mean() < 0.25  # 22.1 % defaults in the UCI data
