"""Time-series CSV loader: statsmodels' bundled sets, own CSVs, named errors."""

import numpy as np
import pytest

from lib.data import timeseries
from lib.data.common import DataError, MissingDataError, NonNumericError


def test_statsmodels_macrodata_and_sunspots():
    pytest.importorskip("statsmodels")
    x, names = timeseries.load("statsmodels:macrodata", ("realgdp", "infl"))
    assert x.shape == (203, 2) and names == ("realgdp", "infl")
    np.testing.assert_allclose(x[0], [2710.349, 0.0])  # 1959Q1
    x, _ = timeseries.load("statsmodels:sunspots", ("SUNACTIVITY",))
    assert x.shape == (309, 1) and x[0, 0] == 5.0  # 1700
    with pytest.raises(MissingDataError, match="statsmodels:no_such_set: no such data set"):
        timeseries.load("statsmodels:no_such_set")


def test_own_csv_under_the_data_root(tmp_path):
    (tmp_path / "s.csv").write_text("t,a,b\n0,1.5,2\n1,2.5,3\n")
    x, names = timeseries.load("s.csv", data_dir=str(tmp_path))
    assert names == ("t", "a", "b") and x.tolist() == [[0, 1.5, 2], [1, 2.5, 3]]


@pytest.mark.parametrize("text, cls, match", [
    ("t,a\n0,1\n1,x\n", NonNumericError, r"row 3, column 'a': 'x' is not a finite number"),
    ("t,a\n0,1\n1,\n", NonNumericError, r"row 3, column 'a': '' is not a finite number"),
    ("t,a\n0,1\n1,2,3\n", DataError, r"row 3 has 3 cells, the header has 2"),
    ("t,a\n", DataError, r"has a header but no rows"),
])
def test_malformed_csv_is_a_named_error(tmp_path, text, cls, match):
    (tmp_path / "s.csv").write_text(text)
    with pytest.raises(cls, match=match):
        timeseries.load(str(tmp_path / "s.csv"))


def test_missing_file_and_unknown_column(tmp_path):
    with pytest.raises(MissingDataError, match="file not found"):
        timeseries.load(str(tmp_path / "nope.csv"))
    (tmp_path / "s.csv").write_text("t,a\n0,1\n")
    with pytest.raises(DataError, match=r"no column\(s\) \['b'\]; the file has \['t', 'a'\]"):
        timeseries.load(str(tmp_path / "s.csv"), ("b",))
