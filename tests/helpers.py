"""Shared test utilities: run a project's main in a subprocess, compare checkpoints."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import orbax.checkpoint as ocp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_main(project: str, config: str, workdir, *overrides: str, env=None, timeout=600, check=True):
    cmd = [sys.executable, "-m", f"projects.{project}.main", f"--config={config}", f"--workdir={workdir}",
           *overrides]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def load_checkpoint(workdir, step: int):
    """The raw saved pytree (numpy leaves) of `<workdir>/checkpoints/<step>`."""
    import jax

    path = os.path.join(str(workdir), "checkpoints", str(step), "default")
    one_device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    with ocp.StandardCheckpointer() as ck:
        meta = ck.metadata(path).item_metadata
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=one_device), meta,
                              is_leaf=lambda m: hasattr(m, "shape"))
        return jax.device_get(ck.restore(path, target))


def assert_trees_equal(a, b):
    """Bit-for-bit equality of two pytrees of arrays."""
    import jax

    la, ta = jax.tree_util.tree_flatten_with_path(a)
    lb, tb = jax.tree_util.tree_flatten_with_path(b)
    assert ta == tb, f"tree structures differ:\n{ta}\n{tb}"
    for (path, x), (_, y) in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape, path
        assert np.array_equal(np.atleast_1d(x).view(np.uint8), np.atleast_1d(y).view(np.uint8)), f"{jax.tree_util.keystr(path)} differs"


def metric_rows(workdir, drop=("steps_per_sec", "examples_per_sec")):
    from lib.metrics import read_jsonl

    return [{k: v for k, v in r.items() if k not in drop} for r in read_jsonl(os.path.join(str(workdir), "metrics.jsonl"))]
