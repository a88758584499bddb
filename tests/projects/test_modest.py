"""MoDeST project: smoke of every method, bit-exact resume with churn and unresponsive nodes (the
online mask is checkpointed and replayed), named errors before compile."""
import pytest

from lib.config import ConfigError
from lib.dl import sampling
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(arg=None, **kw):
    from configs.modest import default

    c = default.get_config(arg)
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 6, 1, 3, 3
    for k, v in kw.items():
        c[k] = v
    return c


def test_resume_with_churn_and_unresponsive_nodes_is_bit_exact(tmp_path):
    """Random churn (online mask changes every round) and 25 % unresponsive nodes; the uninterrupted
    run is the smoke test of configs/modest/default.py."""
    from projects.modest import train

    def cfg(**kw):
        c = _config("unresponsive=0.25", **kw)
        c.churn.kind, c.churn.leave_prob, c.churn.join_prob = "random", 0.2, 0.5
        return c

    a, b = tmp_path / "a", tmp_path / "b"
    full = train.train_and_evaluate(cfg(), str(a))
    assert full["step"] == 6 and 0 < full["accuracy"] <= 1 and full["train_mb_sent_total"] > 0
    train.train_and_evaluate(cfg(total=3), str(b))
    final = train.train_and_evaluate(cfg(), str(b))
    assert final["resumed_from"] == 3
    sa, sb = load_checkpoint(a, 6), load_checkpoint(b, 6)
    assert not sa["online"].all()  # churn took some nodes offline
    assert_trees_equal(sa, sb)
    rows = metric_rows(a)
    assert rows[3:] == metric_rows(b)[3:]
    assert len({r["train_online_nodes"] for r in rows if "train_online_nodes" in r}) > 1


@pytest.mark.parametrize("method", ["fl", "dpsgd", "gossip"])
def test_baselines_run_and_count_bytes(tmp_path, method):
    from projects.modest import train

    c = _config(f"method={method}", total=4, eval_every=4, checkpoint_every=4, num_nodes=8)
    out = train.train_and_evaluate(c, str(tmp_path))
    assert out["step"] == 4 and 0 < out["accuracy"] <= 1
    mb = out.get("train_mb_sent_total", out.get("train_sent_mb_per_node", 0) * 8)
    # model bytes x messages: FL 2 s per round, gossip n per round, D-PSGD n k per round
    size = (60 * 32 + 32 + 32 * 10 + 10) * 4 / 2**20
    want = {"fl": 2 * 4 * 4, "gossip": 8 * 4, "dpsgd": 8 * 4 * 4}[method] * size
    assert mb == pytest.approx(want, rel=1e-6)


def test_named_errors_before_compile():
    from projects.modest import train

    def with_(**kw):
        c = _config()
        for k, v in kw.items():
            node, *rest = k.split("__")
            if rest:
                c[node][rest[0]] = v
            else:
                c[k] = v
        return c

    cases = [(with_(sampling__sample_size=17), sampling.SampleSizeError),
             (with_(sampling__success_fraction=0.0), sampling.SuccessFractionError),
             (with_(sampling__success_fraction=1.5), sampling.SuccessFractionError),
             (with_(churn__kind="sometimes"), sampling.UnknownChurnError),
             (with_(method="dpsgd", unresponsive_fraction=0.5), ConfigError),
             (with_(method="sgd"), ConfigError),
             (with_(method="dpsgd", topology_degree=16), ConfigError)]
    c = _config()
    c.churn.initial_online = 0.2  # 3 of 16 online < s = 4
    cases.append((c, sampling.SampleSizeError))
    for cfg, err in cases:
        with pytest.raises(err):
            train.validate(cfg)


@pytest.mark.slow
def test_resume_after_sigkill_with_churn_is_bit_exact(tmp_path):
    """kill -9 right after the round-4 checkpoint, rerun the same command: same state (online mask
    included) and metrics as an uninterrupted run, under random churn and unresponsive nodes."""
    import json
    import signal

    from tests.helpers import run_killed_after_checkpoint, run_main

    cfg = "configs/modest/default.py:unresponsive=0.25"
    args = ["--config.total=8", "--config.checkpoint_every=4", "--config.log_every=2", "--config.eval_every=4",
            "--config.churn.kind=random", "--config.churn.leave_prob=0.2", "--config.churn.join_prob=0.5"]
    a, b = tmp_path / "a", tmp_path / "b"
    run_main("modest", cfg, a, *args)
    killed = run_killed_after_checkpoint("modest", cfg, b, 4, *args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run_main("modest", cfg, b, *args)
    assert json.load(open(b / "final_metrics.json"))["resumed_from"] == 4
    assert_trees_equal(load_checkpoint(a, 8), load_checkpoint(b, 8))
    after = lambda rows: [r for r in rows if r["step"] > 4]  # noqa: E731
    assert after(metric_rows(a)) == after(metric_rows(b)) and after(metric_rows(a))
