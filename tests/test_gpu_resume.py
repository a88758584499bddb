"""On a GPU (skipped elsewhere): interrupted + resumed runs equal uninterrupted ones bit for bit, and
a run is repeatable. XLA's GPU reductions may use atomics whose order varies between runs; the
data-parallel and FL paths here are checked as they run by default, so a failure here is the
measurement that says whether --xla_gpu_deterministic_ops is needed (see README, checkpoint)."""
import numpy as np
import pytest

from tests.helpers import assert_trees_equal, load_checkpoint

pytestmark = pytest.mark.gpu


def _lamb(**kw):
    from configs.lamb import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = "12", 4, 6, 6
    c.mesh = (("data", -1),)
    for k, v in kw.items():
        c[k] = str(v) if k == "total" else v
    return c


def _fedavg(**kw):
    from configs.fedavg import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 6, 1, 3, 3
    for k, v in kw.items():
        c[k] = v
    return c


@pytest.mark.parametrize("project,make", [("lamb", _lamb), ("fedavg", _fedavg)])
def test_repeatable_and_resume_bit_exact_on_gpu(tmp_path, project, make):
    import importlib

    train = importlib.import_module(f"projects.{project}.train")
    a, a2, b = tmp_path / "a", tmp_path / "a2", tmp_path / "b"
    full = train.train_and_evaluate(make(), str(a))
    step = int(full["step"])
    train.train_and_evaluate(make(), str(a2))
    repeatable = True
    try:
        assert_trees_equal(load_checkpoint(a, step), load_checkpoint(a2, step))
    except AssertionError:
        repeatable = False
    train.train_and_evaluate(make(total=step // 2), str(b))
    train.train_and_evaluate(make(), str(b))
    sa, sb = load_checkpoint(a, step), load_checkpoint(b, step)
    print(f"{project}: repeatable={repeatable}")
    assert repeatable, f"{project}: two uninterrupted GPU runs differ (non-deterministic reductions)"
    assert_trees_equal(sa, sb)
    assert np.isfinite(full["test_loss"] if "test_loss" in full else full["train_loss"])
