"""Shared test utilities: run a project's main in a subprocess, compare checkpoints."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import orbax.checkpoint as ocp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def xla_flags(devices: int) -> str:
    """The test session's XLA flags (conftest's) with another simulated device count."""
    kept = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    return " ".join(kept + [f"--xla_force_host_platform_device_count={devices}"])


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


def run_killed_after_checkpoint(project: str, config: str, workdir, step: int, *overrides: str, timeout=600):
    """Runs a project's main in a subprocess that SIGKILLs itself right after the checkpoint of
    `step` is on disk (a preemption without warning); returns the finished process."""
    script = f"""
import os, signal, sys
from lib import checkpoint as ck
_save = ck.Checkpointer.maybe_save
def save_then_die(self, step, state):
    saved = _save(self, step, state)
    if step == {int(step)}:
        self.wait()
        os.kill(os.getpid(), signal.SIGKILL)
    return saved
ck.Checkpointer.maybe_save = save_then_die
from lib import app
from projects.{project} import train
sys.argv = ["main"] + sys.argv[1:]
app.run(train.train_and_evaluate)
"""
    return subprocess.run([sys.executable, "-c", script, f"--config={config}", f"--workdir={workdir}", *overrides],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
