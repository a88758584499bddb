"""FRL: ranking, vote and the reversed-ranking attack against a NumPy transcription of the
authors' algorithm; edge-popup mask and its straight-through gradient; smoke of default.py
(FRL and a baseline under attack); bit-exact resume; named config errors."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.fl import aggregate
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows, run_killed_after_checkpoint, run_main


CONFIG = "configs/frl/default.py"
RUN_OVERRIDES = ("--config.total=6", "--config.log_every=1", "--config.eval_every=3", "--config.checkpoint_every=3")


def _config(**kw):
    from configs.frl import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 6, 1, 3, 3
    for k, v in kw.items():
        if "." in k:
            a, b = k.split(".")
            c[a][b] = v
        else:
            c[k] = v
    return c


def _np_vote(rankings, init_values):
    """The authors' FRL_Vote as plain NumPy: each client's ranking is the edge indices in
    ascending score order; position[c, e] = where edge e sits in client c's ranking; the edges
    ordered by summed positions receive the sorted initial values (most votes: largest)."""
    m, n = rankings.shape
    pos = np.zeros((m, n), np.int64)
    for c in range(m):
        pos[c, rankings[c]] = np.arange(n)
    votes = pos.sum(0)
    out = np.empty(n, np.float32)
    out[np.argsort(votes, kind="stable")] = np.sort(init_values)
    return out, pos


def test_vote_and_reversed_attack_match_numpy():
    from projects.frl import ranking

    rng = np.random.default_rng(0)
    m, shape = 7, (6, 5)
    n = int(np.prod(shape))
    trained = rng.normal(size=(m,) + shape).astype(np.float32)
    init = rng.uniform(-1, 1, size=shape).astype(np.float32)
    byz = np.array([0, 1, 0, 0, 1, 1, 0], bool)
    valid = np.array([1, 1, 1, 1, 1, 1, 0], bool)  # the last slot is padding
    # NumPy: honest rankings, the malicious clients' collective ranking reversed
    rankings = np.argsort(trained.reshape(m, n), axis=1, kind="stable")
    _, pos = _np_vote(rankings, init.reshape(-1))
    mal = np.argsort(pos[byz & valid].sum(0), kind="stable")  # collective ranking (ascending)
    rankings[byz & valid] = mal[::-1]
    expected, _ = _np_vote(rankings[valid], init.reshape(-1))
    # ours: positions per client, the attack in the strategy, the vote in finish
    jpos = jax.vmap(ranking.positions)(jnp.asarray(trained))
    np.testing.assert_array_equal(np.asarray(jpos).reshape(m, n), pos)
    strat = ranking.strategy({"w": jnp.asarray(init)}, byz)
    st = strat.init({"w": jnp.asarray(init)})
    ctx = {"idx": jnp.arange(m), "valid": jnp.asarray(valid), "hparams": {"lr": 1.0}}
    deltas = {"rank": {"w": jpos}}
    upd, w, _, st = strat.prepare(st, deltas, ctx)
    np.testing.assert_array_equal(np.asarray(w), valid.astype(np.float32))
    mean, _ = aggregate.get_rule("fedavg")(upd, w, (), jax.random.PRNGKey(0))
    direction, st2 = strat.finish(st, mean, deltas, ctx)
    np.testing.assert_array_equal(np.asarray(st2["scores"]["w"]).reshape(-1), expected)
    np.testing.assert_allclose(np.asarray(direction["w"]), np.asarray(st2["scores"]["w"]) - init, atol=0)
    # the new global model is a permutation of the initial scores
    np.testing.assert_array_equal(np.sort(expected), np.sort(init.reshape(-1)))


@pytest.mark.parametrize("mask", ["abs", "value"])
def test_edge_mask_keeps_the_top_fraction_with_straight_through_gradient(mask):
    from projects.frl import ranking

    s = jax.random.normal(jax.random.PRNGKey(1), (40, 25))
    m = ranking.edge_mask(s, 0.3, mask)
    key = np.abs(np.asarray(s)) if mask == "abs" else np.asarray(s)
    k = 1000 - 300
    np.testing.assert_array_equal(np.asarray(m), (key >= np.sort(key.reshape(-1))[-k]).astype(np.float32))
    assert int(np.asarray(m).sum()) == k
    g = jax.grad(lambda s_: jnp.sum(ranking.edge_mask(s_, 0.3, mask) * jnp.arange(1000.0).reshape(40, 25)))(s)
    want = np.arange(1000.0).reshape(40, 25) * (np.sign(np.asarray(s)) if mask == "abs" else 1.0)
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-6)


def test_upload_bits():
    from projects.frl import ranking

    assert ranking.upload_bits({"a": jnp.zeros((784, 200)), "b": jnp.zeros((200, 10))}) == \
        784 * 200 * 18 + 2000 * 11


def test_smoke_attack_and_bit_exact_resume(tmp_path):
    from projects.frl import train

    kw = dict(byzantine_fraction=0.2)
    full = train.train_and_evaluate(_config(**kw), str(tmp_path / "a"))
    assert full["step"] == 6 and np.isfinite(full["test_loss"]) and full["malicious_clients"] == 2
    # the same run killed (SIGKILL) right after its step-3 checkpoint, then resumed
    over = [*RUN_OVERRIDES, "--config.byzantine_fraction=0.2"]
    proc = run_killed_after_checkpoint("frl", CONFIG, tmp_path / "b", 3, *over)
    assert proc.returncode == -9, proc.stderr[-2000:]
    run_main("frl", CONFIG, tmp_path / "b", *over)
    assert json.load(open(tmp_path / "b" / "final_metrics.json"))["resumed_from"] == 3
    sa, sb = load_checkpoint(tmp_path / "a", 6), load_checkpoint(tmp_path / "b", 6)
    assert_trees_equal(sa, sb)
    after = [[r for r in metric_rows(tmp_path / w) if r["step"] > 3] for w in "ab"]
    assert after[0] and after[0] == after[1]
    # the global scores stay a permutation of the initial ones
    init = load_checkpoint(tmp_path / "a", 3)["strategy"]["scores"]
    for a, b in zip(jax.tree.leaves(init), jax.tree.leaves(sa["strategy"]["scores"])):
        np.testing.assert_array_equal(np.sort(a.reshape(-1)), np.sort(b.reshape(-1)))
        assert not np.array_equal(a, b)


def test_baseline_smoke(tmp_path):
    from projects.frl import train

    out = train.train_and_evaluate(_config(method="multi_krum", byzantine_fraction=0.2, total=2), str(tmp_path))
    assert out["step"] == 2 and out["upload_bits_per_client_round"] == 32 * out["weights"]


@pytest.mark.parametrize("over,err,match", [
    ({"frl.sparsity": 0.0}, ConfigError, "sparsity=0.0"), ({"frl.sparsity": 1.0}, ConfigError, "sparsity=1.0"),
    ({"frl.sparsity": -0.2}, ConfigError, r"\(0, 1\)"), ({"frl.mask": "top"}, ConfigError, "mask='top'"),
    ({"method": "fedsgd"}, ConfigError, "fedsgd"), ({"byzantine_fraction": 0.5}, ConfigError, "byzantine_fraction"),
    ({"server.lr": 0.5}, ConfigError, "lr 1"),
    ({"method": "trimmed_mean", "byzantine_fraction": 0.3, "rule_params": {"beta": 0.1}},
     aggregate.AggregatorConfigError, "trimmed_mean"),
])
def test_named_errors_before_compile(over, err, match):
    from projects.frl import train

    c = _config()
    for k, v in over.items():
        if "." in k:
            a, b = k.split(".")
            c[a][b] = v
        elif k == "rule_params":
            c.rule_params.update(v)
        else:
            c[k] = v
    with pytest.raises(err, match=match):
        train.validate(c)
