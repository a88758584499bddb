"""Metric logging (JSONL + TensorBoard, process 0 only), progress bar, result plots."""

from __future__ import annotations

import json
import math
import os
import time
from typing import Iterable, Mapping

import jax
import numpy as np


def _to_py(v):
    v = np.asarray(v)
    if v.ndim == 0:
        x = v.item()
        return x if not isinstance(x, float) or math.isfinite(x) else str(x)
    return v.tolist()


class MetricWriter:
    """Appends `{"step": s, **metrics}` lines to `<workdir>/metrics.jsonl` and TensorBoard.

    On resume from step `resume_step`, lines logged after that step by the interrupted
    run are dropped, so the log of a resumed run equals the log of an uninterrupted one.
    """

    def __init__(self, workdir: str, resume_step: int | None = None, tensorboard: bool = True):
        self.active = jax.process_index() == 0
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._tb = None
        if not self.active:
            return
        os.makedirs(workdir, exist_ok=True)
        if os.path.exists(self.path):  # rewritten in full, so a half-written last line goes too
            keep = [l for l in read_jsonl(self.path) if resume_step is not None and l["step"] <= resume_step]
            with open(self.path + ".tmp", "w") as f:
                f.writelines(json.dumps(l) + "\n" for l in keep)
            os.replace(self.path + ".tmp", self.path)
        if tensorboard:
            from tensorboardX import SummaryWriter
            self._tb = SummaryWriter(os.path.join(workdir, "tb"))

    def write(self, step: int, metrics: Mapping[str, object]) -> None:
        if not self.active:
            return
        row = {"step": int(step), **{k: _to_py(v) for k, v in metrics.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_jsonl(path: str) -> list[dict]:
    """The rows of a metrics.jsonl. A last line that is not valid JSON (a run killed while
    writing it) is dropped with a warning; an invalid line before it is a DataError naming
    the file and the line (it was not written by MetricWriter)."""
    from absl import logging

    from lib.data.common import DataError

    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    rows = []
    last = max((i for i, l in enumerate(lines) if l.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            if i == last:
                logging.warning("%s: dropping the half-written last line %d (%r...)", path, i + 1, line[:60])
                break
            raise DataError(f"{path}: line {i + 1} is not a metrics row ({line[:80]!r}); remove that line to resume")
        rows.append(row)
    return rows


class Progress:
    """tqdm bar with steps/s and ETA (process 0; disabled when not a terminal and in CI)."""

    def __init__(self, total: int, initial: int = 0, desc: str = "train", unit: str = "step"):
        from tqdm import tqdm

        self.enabled = jax.process_index() == 0
        self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True,
                         disable=not self.enabled, mininterval=0.5, smoothing=0.1)
        self._start = time.perf_counter()
        self._initial = initial

    def update(self, n: int = 1, **postfix) -> None:
        self._bar.update(n)
        if postfix:
            self._bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in postfix.items()},
                                  refresh=False)

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def close(self) -> None:
        self._bar.close()


def plot_curves(jsonl_paths: Mapping[str, str] | Iterable[str], keys: Iterable[str], out_png: str,
                title: str | None = None, logy: bool = False) -> str:
    """One panel per metric key, one line per run. Returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not isinstance(jsonl_paths, Mapping):
        jsonl_paths = {os.path.basename(os.path.dirname(p)) or p: p for p in jsonl_paths}
    keys = list(keys)
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.4), squeeze=False)
    for label, path in jsonl_paths.items():
        rows = read_jsonl(path)
        for ax, key in zip(axes[0], keys):
            pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
            if pts:
                ax.plot(*zip(*pts), label=label)
    for ax, key in zip(axes[0], keys):
        ax.set_xlabel("step")
        ax.set_title(key)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(out_png) or ".", exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
