"""Real multivariate time series as [T, F] arrays, from CSV files.

Two sources:
- `statsmodels:<name>`: a data set that ships inside the statsmodels package (a dependency), read
  from its CSV file without importing statsmodels (whose import pulls in pandas). Used here:
  `macrodata` (US quarterly macro data 1959Q1-2009Q3, 203 rows, 12 series; FRED and BLS, public
  domain) and `sunspots` (yearly sunspot numbers 1700-2008, 309 rows).
- a path: any CSV with a header row and numeric cells, one row per time step (relative paths are
  taken under the data root).

Every cell of a selected column must be a finite number (`NonNumericError` names the file, row and
column); an unknown column is a `DataError` that lists the columns there are.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Sequence

import numpy as np

from lib.data.common import DataError, MissingDataError, numeric_columns, read_csv_rows, require_file

FORMAT = "CSV with a header row and one row per time step; the selected columns numeric"


def statsmodels_csv(name: str) -> str:
    """The path of statsmodels' bundled `<name>.csv` (statsmodels/datasets/<name>/<name>.csv)."""
    spec = importlib.util.find_spec("statsmodels")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(f"statsmodels:{name}: the statsmodels package is not installed "
                               "(pip install statsmodels); it ships this data set")
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", name, f"{name}.csv")
    if not os.path.isfile(path):
        raise MissingDataError(f"statsmodels:{name}: no such data set in the installed statsmodels ({path} not found)")
    return path


def resolve(source: str, data_dir: str | None = None) -> str:
    if source.startswith("statsmodels:"):
        return statsmodels_csv(source.split(":", 1)[1])
    path = source if os.path.isabs(source) or data_dir is None else os.path.join(data_dir, source)
    return require_file(path, source, FORMAT, "your own series (any CSV in this format)")


def load(source: str, columns: Sequence[str] | None = None, data_dir: str | None = None) -> tuple[np.ndarray, tuple]:
    """([T, F] float64 in file order, column names). `columns=None`: every column."""
    path = resolve(source, data_dir)
    header, body = read_csv_rows(path, FORMAT)
    names = list(header) if columns is None else list(columns)
    missing = [c for c in names if c not in header]
    if missing:
        raise DataError(f"{path}: no column(s) {missing}; the file has {header}")
    x = numeric_columns(path, header, body, [header.index(c) for c in names])
    return x, tuple(names)
