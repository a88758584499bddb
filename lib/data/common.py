"""Errors and file checks shared by the data loaders."""

from __future__ import annotations

import csv
import os

import numpy as np

from lib.errors import TesseraError


class DataError(TesseraError, ValueError):
    """A data file is malformed; the message names the file and what was expected."""


class MissingDataError(DataError, FileNotFoundError):
    """A data file is missing; the message names it, its format and where it is published."""


class NonNumericError(DataError):
    """A cell that must be a finite number is not (or a label is not 0/1)."""


def require_file(path: str, dataset: str, fmt: str, source: str) -> str:
    if not os.path.isfile(path):
        raise MissingDataError(
            f"{dataset}: file not found: {path}; expected format: {fmt}; published at: {source}; "
            "set --config.data_dir or $TESSERA_DATA_DIR to the folder holding it (see README 'Data')"
        )
    return path


def read_csv_rows(path: str, fmt: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV file with a header row; blank lines are skipped. Unreadable, empty,
    header-only files and rows whose cell count differs from the header's are `DataError`s."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot be read as CSV ({type(e).__name__}: {e}); expected {fmt}") from None
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{path} is empty; expected {fmt}")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    if not body:
        raise DataError(f"{path} has a header but no rows; expected {fmt}")
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise DataError(f"{path}: row {i + 2} has {len(r)} cells, the header has {len(header)}")
    return header, body


def numeric_columns(path: str, header: list[str], body: list[list[str]], cols: list[int]) -> np.ndarray:
    """[N, len(cols)] float64; the first cell that is not a finite number raises NonNumericError."""
    if not cols:
        return np.zeros((len(body), 0), np.float64)
    try:
        out = np.array([[r[c] for c in cols] for r in body], dtype=np.float64)
        if np.isfinite(out).all():
            return out
    except ValueError:
        pass
    for i, r in enumerate(body):
        for c in cols:
            try:
                v = float(r[c])
            except ValueError:
                v = None
            if v is None or not np.isfinite(v):
                raise NonNumericError(f"{path}: row {i + 2}, column {header[c]!r}: {r[c]!r} is not a finite number")
    raise AssertionError("unreachable")  # pragma: no cover
