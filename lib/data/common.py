"""Errors and file checks shared by the data loaders."""

from __future__ import annotations

import os

from lib.errors import TesseraError


class DataError(TesseraError, ValueError):
    """A data file is malformed; the message names the file and what was expected."""


class MissingDataError(DataError, FileNotFoundError):
    """A data file is missing; the message names it, its format and where it is published."""


def require_file(path: str, dataset: str, fmt: str, source: str) -> str:
    if not os.path.isfile(path):
        raise MissingDataError(
            f"{dataset}: file not found: {path}; expected format: {fmt}; published at: {source}; "
            "set --config.data_dir or $TESSERA_DATA_DIR to the folder holding it (see README 'Data')"
        )
    return path
