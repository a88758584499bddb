"""Vertically split tabular data: a guest CSV (ids, the label, some features) and one or more
host CSVs (ids and other features of the same samples), joined on the id column.

This is the layout of the FATE "hetero" splits in the data root's `vfl/` folder
(`default_credit_hetero_{guest,host}.csv`: 30,000 UCI credit-card clients, 13 guest + 10 host
features; `breast_hetero_{guest,host}.csv`: 569 Wisconsin breast-cancer cases, 10 + 20).

Every check runs here, on the host, before anything is compiled; each failure is a named
`DataError` subclass that names the file, the row and the column:

- `MissingLabelError`: the guest file has no label column;
- `MismatchedIdsError`: an id is in one party's file and not in another's, or repeats;
- `NonNumericError`: a cell that is not a finite number (labels must be 0/1 for `binary`);
- `NoFeaturesError`: a party's file has an id column (and label) but no feature column.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from lib.data.common import DataError, NonNumericError, numeric_columns, read_csv_rows, require_file

FORMAT = ("CSV with a header row: guest `id,y,<features...>`, host `id,<features...>`; one row per sample, "
          "ids matching across the files, numeric cells")
SOURCE = ("FATE examples/data (default_credit_hetero_*.csv, breast_hetero_*.csv); UCI default of credit card "
          "clients and Wisconsin diagnostic breast cancer")
DATASETS = {
    "default_credit": ("default_credit_hetero_guest.csv", ("default_credit_hetero_host.csv",)),
    "breast": ("breast_hetero_guest.csv", ("breast_hetero_host.csv",)),
}


class MissingLabelError(DataError):
    """The guest file lacks the label column."""


class MismatchedIdsError(DataError):
    """The parties' id columns do not hold the same set of unique ids."""


class NoFeaturesError(DataError):
    """A party's file holds no feature column."""


@dataclasses.dataclass(frozen=True)
class Party:
    path: str
    ids: np.ndarray  # [N] int64, file order
    columns: tuple[str, ...]
    x: np.ndarray  # [N, d] float32
    y: np.ndarray | None = None  # [N] float32 (guest only)


@dataclasses.dataclass(frozen=True)
class VerticalData:
    """Samples aligned across parties (guest order). `x[0]` is the guest's features, `x[1:]` the hosts'."""
    ids: np.ndarray  # [N] int64
    y: np.ndarray  # [N] float32
    x: tuple[np.ndarray, ...]  # per party [N, d_p] float32
    columns: tuple[tuple[str, ...], ...]
    paths: tuple[str, ...]

    @property
    def num_parties(self) -> int:
        return len(self.x)

    @property
    def feature_dims(self) -> tuple[int, ...]:
        return tuple(int(a.shape[1]) for a in self.x)

    def take(self, idx: np.ndarray) -> "VerticalData":
        return dataclasses.replace(self, ids=self.ids[idx], y=self.y[idx], x=tuple(a[idx] for a in self.x))


def read_party(path: str, *, id_column: str = "id", label: str | None = None, dataset: str = "vfl") -> Party:
    """One party's file: ids, feature columns (all but id and label) and, for the guest, labels."""
    require_file(path, dataset, FORMAT, SOURCE)
    header, body = read_csv_rows(path, FORMAT)
    if id_column not in header:
        raise DataError(f"{path}: no id column {id_column!r} in header {header}; expected {FORMAT}")
    if label is not None and label not in header:
        raise MissingLabelError(f"{path}: the guest file has no label column {label!r} (header: {header}); "
                                "the guest party must hold the labels")
    id_col = header.index(id_column)
    label_col = header.index(label) if label is not None else None
    feat_cols = [i for i in range(len(header)) if i not in (id_col, label_col)]
    if not feat_cols:
        raise NoFeaturesError(f"{path}: the party has no feature column (header: {header}); every party "
                              "needs at least one feature besides the id" + (" and label" if label else ""))
    ids = numeric_columns(path, header, body, [id_col])[:, 0]
    if (ids != np.round(ids)).any():
        i = int(np.argmax(ids != np.round(ids)))
        raise NonNumericError(f"{path}: row {i + 2}, column {id_column!r}: {body[i][id_col]!r} is not an integer id")
    ids = ids.astype(np.int64)
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise MismatchedIdsError(f"{path}: id {int(uniq[counts > 1][0])} appears {int(counts.max())} times; "
                                 "ids must be unique within a party")
    x = numeric_columns(path, header, body, feat_cols).astype(np.float32)
    y = None
    if label_col is not None:
        y = numeric_columns(path, header, body, [label_col])[:, 0]
        bad = (y != 0) & (y != 1)
        if bad.any():
            i = int(np.argmax(bad))
            raise NonNumericError(f"{path}: row {i + 2}, column {label!r}: {body[i][label_col]!r} is not a binary "
                                  "label (0 or 1)")
        y = y.astype(np.float32)
    return Party(path=path, ids=ids, columns=tuple(header[c] for c in feat_cols), x=x, y=y)


def join(guest: Party, hosts: Sequence[Party]) -> VerticalData:
    """Aligns every host to the guest's row order by id; the id sets must be equal."""
    if not hosts:
        raise DataError(f"{guest.path}: vertical data needs at least one host file besides the guest")
    xs = [guest.x]
    for h in hosts:
        only_g = np.setdiff1d(guest.ids, h.ids)
        only_h = np.setdiff1d(h.ids, guest.ids)
        if only_g.size or only_h.size:
            parts = []
            if only_g.size:
                parts.append(f"{only_g.size} id(s) only in the guest {guest.path} (e.g. {int(only_g[0])})")
            if only_h.size:
                parts.append(f"{only_h.size} id(s) only in the host {h.path} (e.g. {int(only_h[0])})")
            raise MismatchedIdsError("mismatched ids between parties: " + "; ".join(parts)
                                     + "; every sample must be in every party's file")
        order = np.argsort(h.ids)
        pos = order[np.searchsorted(h.ids[order], guest.ids)]
        xs.append(h.x[pos])
    return VerticalData(ids=guest.ids, y=guest.y, x=tuple(xs),
                        columns=(guest.columns,) + tuple(h.columns for h in hosts),
                        paths=(guest.path,) + tuple(h.path for h in hosts))


def load_files(guest_path: str, host_paths: Sequence[str], *, label: str = "y", id_column: str = "id",
               dataset: str = "vfl") -> VerticalData:
    guest = read_party(guest_path, id_column=id_column, label=label, dataset=dataset)
    hosts = [read_party(p, id_column=id_column, dataset=dataset) for p in host_paths]
    return join(guest, hosts)


def load(data_dir: str, name: str) -> VerticalData:
    """A named split from `<data_dir>/vfl/`: 'default_credit' or 'breast'."""
    if name not in DATASETS:
        raise DataError(f"vertical data set {name!r} is not known; choose one of {sorted(DATASETS)}")
    g, hs = DATASETS[name]
    folder = os.path.join(data_dir, "vfl")
    return load_files(os.path.join(folder, g), [os.path.join(folder, h) for h in hs], dataset=name)


def split(data: VerticalData, test_fraction: float, seed: int) -> tuple[VerticalData, VerticalData]:
    """Deterministic stratified train/test split (by label), a function of the seed."""
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction={test_fraction!r} must be in (0, 1)")
    rng = np.random.default_rng(seed)
    test = []
    for cls in (0.0, 1.0):
        idx = np.flatnonzero(data.y == cls)
        rng.shuffle(idx)
        test.append(idx[:int(round(len(idx) * test_fraction))])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(len(data.y)), test)
    if not len(train) or not len(test):
        raise DataError(f"{len(data.y)} samples are too few for test_fraction={test_fraction}")
    return data.take(train), data.take(test)
