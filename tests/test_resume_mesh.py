"""Resume on any mesh: an interrupted run resumed on the same mesh equals the uninterrupted run bit
for bit (expert parallelism with flat and hierarchical all_to_all); a checkpoint restores onto a
different mesh with identical state values (elastic restarts); incompatible meshes and foreign
checkpoints are named errors.

The interruption is a run truncated to its step-k checkpoint (later checkpoints and the final
metrics deleted), which is what a kill after that checkpoint leaves; tests/projects/test_lamb.py
and the subprocess test below kill for real.
"""
import json
import os
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from tests.helpers import REPO, assert_trees_equal, load_checkpoint, metric_rows, xla_flags


def _truncate(workdir, keep_step: int):
    """Leave `workdir` as a run killed right after its step-`keep_step` checkpoint."""
    ckpts = os.path.join(str(workdir), "checkpoints")
    for name in os.listdir(ckpts):
        if name.isdigit() and int(name) > keep_step:
            shutil.rmtree(os.path.join(ckpts, name))
    os.remove(os.path.join(str(workdir), "final_metrics.json"))


def _hetumoe(a2a: str):
    from tests.projects.test_hetumoe import tiny

    c = tiny("gshard", a2a)
    c.total, c.checkpoint_every, c.log_every, c.eval_every = 4, 2, 1, 0
    return c


@pytest.mark.parametrize("a2a", ["flat", "hierarchical"])
def test_expert_parallel_resume_is_bit_exact(tmp_path, a2a):
    """hetumoe on the 2 x 4 (host x local) expert-parallel mesh: resumed from step 2 == uninterrupted,
    and the restored expert weights come back split over the expert axes, not on one device."""
    from projects.hetumoe import train

    train.train_and_evaluate(_hetumoe(a2a), str(tmp_path))
    full, rows = load_checkpoint(tmp_path, 4), metric_rows(tmp_path)
    _truncate(tmp_path, 2)
    final = train.train_and_evaluate(_hetumoe(a2a), str(tmp_path))
    assert final["resumed_from"] == 2 and final["step"] == 4
    assert_trees_equal(load_checkpoint(tmp_path, 4), full)
    assert metric_rows(tmp_path) == rows


def test_cluster_gcn_data_parallel_resume_is_bit_exact(tmp_path):
    """Cluster-GCN with its cluster batches sharded over the 8-device 'data' axis (state replicated):
    resumed from step 4 == uninterrupted. (Unsharded resume: tests/projects/test_cluster_gcn.py.)"""
    from projects.cluster_gcn import train
    from tests.projects.test_cluster_gcn import _config

    def config():
        return _config(**{"cluster.clusters_per_batch": 1, "cluster.batches_per_step": 8, "model.dropout": 0.0,
                          "mesh": (("data", -1),), "epochs": 8.0, "checkpoint_every": 2, "eval_every": 0})

    final = train.train_and_evaluate(config(), str(tmp_path))
    steps = final["step"]
    full, rows = load_checkpoint(tmp_path, steps), metric_rows(tmp_path)
    _truncate(tmp_path, 4)  # (keep_checkpoints = 3: steps 4, 6, 8 are on disk)
    assert train.train_and_evaluate(config(), str(tmp_path))["resumed_from"] == 4
    assert_trees_equal(load_checkpoint(tmp_path, steps), full)
    assert metric_rows(tmp_path) == rows


def test_place_state_lays_out_experts_and_restores_onto_a_smaller_mesh(tmp_path):
    """Elastic restart at the checkpoint level: a state saved from an 8-device expert mesh restores onto
    a 4-device mesh (2 experts per device instead of 1) with every value identical, each leaf in the
    new template's sharding (expert weights and their Adam moments split, the rest replicated)."""
    import optax
    from jax.sharding import PartitionSpec as P

    from lib import checkpoint as ck
    from lib import mesh as mesh_lib

    params = {"block1": {"moe": {"w1": np.arange(8 * 3 * 5, dtype=np.float32).reshape(8, 3, 5),
                                 "router": np.ones((3, 8), np.float32)}}, "head": np.ones((3, 2), np.float32)}
    state = {"step": np.int32(7), "params": params, "opt_state": optax.adam(0.1).init(params)}
    rules = [(("moe", "w1"), P("expert"))]
    mesh8 = mesh_lib.make_mesh([("expert", 8)])
    mesh4 = mesh_lib.make_mesh([("expert", 4)], devices=jax.devices()[:4])
    placed = mesh_lib.place_state(state, mesh8, rules)
    w1 = placed["params"]["block1"]["moe"]["w1"]
    assert w1.sharding.spec == P("expert") and len(w1.addressable_shards) == 8
    assert w1.addressable_shards[0].data.shape == (1, 3, 5)
    mu = placed["opt_state"][0].mu["block1"]["moe"]["w1"]
    assert mu.sharding.spec == P("expert")  # the optimizer's moments follow their parameter
    assert placed["params"]["head"].sharding.spec == P()

    saver = ck.Checkpointer(str(tmp_path), every=1, keep=2)
    saver.save(7, placed)
    saver.close()
    template = mesh_lib.place_state(jax.tree.map(np.zeros_like, state), mesh4, rules)
    reader = ck.Checkpointer(str(tmp_path), every=1, keep=2)
    restored, source = reader.restore(template)
    reader.close()
    assert source == "workdir"
    assert_trees_equal(restored, state)
    for r, t in zip(jax.tree.leaves(restored), jax.tree.leaves(template)):
        assert r.sharding == t.sharding
    assert restored["params"]["block1"]["moe"]["w1"].addressable_shards[0].data.shape == (2, 3, 5)


def test_expert_count_not_divisible_by_new_expert_axis_is_named():
    """Restarting on a mesh whose expert axis does not divide the experts fails before any compile."""
    from lib.moe import tasks
    from lib.moe.routers import MoEConfigError

    c = _hetumoe("flat")
    c.moe.num_experts = 6
    with pytest.raises(MoEConfigError, match="expert-axis size 8"):
        tasks.validate(c)


def test_foreign_checkpoint_is_a_named_mismatch(tmp_path):
    """A workdir holding another project's checkpoint: one named error saying what differs, no restart."""
    from lib import checkpoint as ck
    from lib.checkpoint import CheckpointMismatchError
    from projects.hetumoe import train

    other = {"step": np.int32(6), "params": {"dense": {"kernel": np.ones((64, 10), np.float32)}}}
    saver = ck.Checkpointer(str(tmp_path), every=1, keep=2)
    saver.save(6, other)
    saver.close()
    with pytest.raises(CheckpointMismatchError, match="does not fit this config"):
        train.train_and_evaluate(_hetumoe("flat"), str(tmp_path))
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["6"]


_KILL_AT_2 = """
import os, signal, sys
from lib import checkpoint as ck
_save = ck.Checkpointer.maybe_save
def save_then_die(self, step, state):
    saved = _save(self, step, state)
    if step == 2:
        self.wait()
        os.kill(os.getpid(), signal.SIGKILL)
    return saved
ck.Checkpointer.maybe_save = save_then_die
from lib import app
from projects.lossfree_balance import train
sys.argv = ["main"] + sys.argv[1:]
app.run(train.train_and_evaluate)
"""

# lossfree_balance with every device on one 'expert' axis (size = the device count), tiny model
_EP = ["--config=configs/lossfree_balance/default.py", "--config.moe.expert_parallel=True",
       "--config.model.d_model=32", "--config.model.d_ff=64", "--config.model.seq_len=16", "--config.batch_size=8",
       "--config.moe.num_groups=8", "--config.total=4", "--config.warmup=1", "--config.eval_batches=1", "--config.log_every=1",
       "--config.eval_every=0", "--config.checkpoint_every=2"]


def _run_ep(workdir, devices: int, kill: bool = False):
    env = {**os.environ, "XLA_FLAGS": xla_flags(devices), "JAX_PLATFORMS": "cpu"}
    args = ["-c", _KILL_AT_2] if kill else ["-m", "projects.lossfree_balance.main"]
    # the EP mesh is config.mesh = [('expert', -1)]: all devices of the process
    cmd = [sys.executable, *args, *_EP, "--config.mesh=(('expert', -1),)", "--config.moe.expert_axes=('expert',)",
           f"--workdir={workdir}"]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
def test_sigkill_resume_and_elastic_restart_of_expert_parallel_run(tmp_path):
    """lossfree_balance (router biases in the state) on 8 expert-parallel devices: SIGKILL after the
    step-2 checkpoint and resume == uninterrupted bit for bit; the same checkpoint resumed on 4 devices
    (2 experts per device) finishes with the same losses up to float reduction order."""
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    p = _run_ep(a, 8)
    assert p.returncode == 0, p.stderr[-3000:]
    killed = _run_ep(b, 8, kill=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    shutil.copytree(b, c)
    p = _run_ep(b, 8)
    assert p.returncode == 0, p.stderr[-3000:]
    assert_trees_equal(load_checkpoint(b, 4), load_checkpoint(a, 4))
    assert json.load(open(b / "final_metrics.json"))["resumed_from"] == 2

    p = _run_ep(c, 4)  # elastic: expert axis 8 -> 4
    assert p.returncode == 0, p.stderr[-3000:]
    fa, fc = (json.load(open(w / "final_metrics.json")) for w in (a, c))
    assert fc["devices"] == 4 and fc["resumed_from"] == 2
    np.testing.assert_allclose(fc["train_loss"], fa["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(fc["val_loss"], fa["val_loss"], rtol=1e-4)
