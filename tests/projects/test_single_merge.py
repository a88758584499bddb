"""single_merge: smoke of the default config (late gossip + final merge), bytes only for gossip rounds,
bit-exact resume across the merge step on the 8-device `nodes` mesh, named errors before compile."""
import numpy as np
import pytest

from lib.config import ConfigError
from lib.dl import schedule as S, topology as T
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.single_merge import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 8, 1, 4, 4
    c.schedule.budget = 3
    for k, v in kw.items():
        if k.startswith("schedule_"):
            c.schedule[k[len("schedule_"):]] = v
        else:
            c[k] = v
    return c


def test_smoke_and_resume_across_the_merge(tmp_path):
    from projects.single_merge import train

    a, b = tmp_path / "a", tmp_path / "b"
    full = train.train_and_evaluate(_config(), str(a))
    assert full["step"] == 9 and full["devices"] == 8  # 8 rounds + the merge
    assert full["node_accuracy_min"] == full["node_accuracy_max"] == pytest.approx(full["test_accuracy"])
    assert full["train_consensus_distance"] < 1e-10
    rows = metric_rows(a)
    gossip = [r["train_gossip"] for r in rows if "train_gossip" in r]
    assert gossip == [0, 0, 0, 0, 0, 1, 1, 1, 0]  # late: last 3 of 8 rounds, then the merge step
    mb = [r["train_sent_mb_per_node"] for r in rows if "train_sent_mb_per_node" in r]
    assert mb[4] == 0 and mb[5] > 0 and mb[8] > mb[7] and mb[7] == pytest.approx(3 * mb[5])
    before = [r for r in rows if r["step"] == 8 and "node_accuracy_mean" in r]
    assert before and before[0]["node_accuracy_min"] < before[0]["node_accuracy_max"]  # pre-merge: nodes differ
    # interrupted: a crash right after the step-4 checkpoint (a shorter `total` would be another schedule)
    from lib import checkpoint as ck

    class Crash(Exception):
        pass

    save = ck.Checkpointer.maybe_save

    def save_then_crash(self, step, state):
        out = save(self, step, state)
        if step == 4:
            self.wait()
            raise Crash
        return out

    ck.Checkpointer.maybe_save = save_then_crash
    try:
        with pytest.raises(Crash):
            train.train_and_evaluate(_config(), str(b))
    finally:
        ck.Checkpointer.maybe_save = save
    final = train.train_and_evaluate(_config(), str(b))
    assert final["resumed_from"] == 4 and full["resumed_from"] == 0
    assert_trees_equal(load_checkpoint(a, 9), load_checkpoint(b, 9))
    assert metric_rows(a)[4:] == metric_rows(b)[4:]


def test_named_errors_before_compile():
    from projects.single_merge import train

    for kw, err in [
        (dict(schedule_kind="sometimes"), S.ScheduleError),
        (dict(schedule_budget=9), S.ScheduleError),  # 9 > 8 rounds
        (dict(schedule_kind="every_k", schedule_k=0), S.ScheduleError),
        (dict(topology="erdos_renyi", topology_p=0.001, num_nodes=40), T.DisconnectedTopologyError),
        (dict(num_nodes=12), ConfigError),  # 12 nodes on 8 devices
    ]:
        with pytest.raises(err):
            train.validate(_config(**kw))
