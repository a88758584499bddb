"""FedAMD: miner steps, anchors and the server sum against a NumPy transcription of the algorithm;
smoke; bit-exact resume (the clients' large-batch gradients included); errors."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.fl import client as client_lib, engine
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows, run_killed_after_checkpoint, run_main


CONFIG = "configs/fedamd/default.py"
RUN_OVERRIDES = ("--config.total=6", "--config.log_every=1", "--config.eval_every=3", "--config.checkpoint_every=3")


def _config(**kw):
    from configs.fedamd import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 6, 1, 3, 3
    for k, v in kw.items():
        c[k] = v
    return c


def _loss(p, x, y):
    return 0.5 * (x @ p["w"] - y) ** 2


@pytest.mark.parametrize("anchor_prob", [0.0, 1.0])
def test_miner_and_anchor_match_the_paper(anchor_prob):
    from projects.fedamd import anchor

    rng = np.random.default_rng(0)
    n, dim, k_steps, lr = 6, 3, 4, 0.1
    x, y = rng.normal(size=(n, dim)).astype(np.float32), rng.normal(size=n).astype(np.float32)
    w0, v, b_old = (rng.normal(size=dim).astype(np.float32) for _ in range(3))
    # batch of 2 out of 6 rows: the two gradients of a VR step must use the same minibatch
    cfg = client_lib.LocalConfig(batch_size=2, mode="steps", num_steps=k_steps)
    upd = anchor.local_update(_loss, cfg, anchor_prob, engine.clients_mesh(1))
    client = {"index": jnp.arange(n), "num_samples": jnp.asarray(n)}
    key = jax.random.PRNGKey(5)
    d, cs, m = upd({"w": jnp.asarray(w0)}, {"x": jnp.asarray(x), "y": jnp.asarray(y)}, client,
                   {"b": {"w": jnp.asarray(b_old)}}, key, {"lr": jnp.float32(lr), "broadcast": {"v": {"w": jnp.asarray(v)}}})
    grad = lambda w, rows: x[rows].T @ (x[rows] @ w - y[rows]) / len(rows)  # noqa: E731
    if anchor_prob == 1.0:  # anchor: b_i = full gradient at x_t, no model change
        full = grad(w0.astype(np.float64), np.arange(n))
        np.testing.assert_allclose(np.asarray(cs["b"]["w"]), full, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(d["anchor_change"]["w"]), full - b_old, rtol=1e-5, atol=1e-6)
        assert float(d["miner"]) == 0.0 and not np.asarray(d["model"]["w"]).any()
        return
    w_prev, w, vk = w0.astype(np.float64), w0.astype(np.float64), v.astype(np.float64)
    for s in range(k_steps):
        pos, _ = client_lib.batch_positions(key, s, n, n, cfg)
        rows = np.asarray(pos)
        vk = vk + grad(w, rows) - grad(w_prev, rows)
        w_prev, w = w, w - lr * vk
    np.testing.assert_allclose(np.asarray(d["model"]["w"]), w - w0, rtol=1e-4, atol=1e-5)
    assert float(d["miner"]) == 1.0 and not np.asarray(d["anchor_change"]["w"]).any()
    np.testing.assert_array_equal(np.asarray(cs["b"]["w"]), b_old)


def test_server_averages_miners_only_and_sums_anchor_changes():
    from projects.fedamd import anchor

    strat = anchor.strategy(num_clients=4)
    st = {"b_sum": {"w": jnp.asarray([1.0, 2.0])}}
    deltas = {"model": {"w": jnp.asarray([[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]])},
              "anchor_change": {"w": jnp.asarray([[0.0, 0.0], [0.5, -1.0], [0.0, 0.0]])},
              "miner": jnp.asarray([1.0, 0.0, 1.0])}
    ctx = {"valid": jnp.asarray([True, True, False])}
    _, w, _, st = strat.prepare(st, deltas, ctx)
    np.testing.assert_array_equal(np.asarray(w), [1, 0, 0])  # the anchor and the padded slot carry no weight
    _, st = strat.finish(st, {"w": jnp.zeros(2)}, deltas, ctx)
    np.testing.assert_allclose(np.asarray(st["b_sum"]["w"]), [1.5, 1.0])
    np.testing.assert_allclose(np.asarray(strat.broadcast(st)["v"]["w"]), [1.5 / 4, 1.0 / 4])


def test_smoke_and_bit_exact_resume(tmp_path):
    from projects.fedamd import train

    full = train.train_and_evaluate(_config(), str(tmp_path / "a"))
    assert full["step"] == 6 and np.isfinite(full["test_loss"])
    # the same run killed (SIGKILL) right after its step-3 checkpoint, then resumed
    over = list(RUN_OVERRIDES)
    proc = run_killed_after_checkpoint("fedamd", CONFIG, tmp_path / "b", 3, *over)
    assert proc.returncode == -9, proc.stderr[-2000:]
    run_main("fedamd", CONFIG, tmp_path / "b", *over)
    assert json.load(open(tmp_path / "b" / "final_metrics.json"))["resumed_from"] == 3
    sa, sb = load_checkpoint(tmp_path / "a", 6), load_checkpoint(tmp_path / "b", 6)
    b = np.asarray(jax.tree.leaves(sa["clients"]["b"])[0])
    assert np.abs(b).sum() > 0  # the large-batch gradients (initialised at x_0) are checkpointed
    assert_trees_equal(sa, sb)
    after = [[r for r in metric_rows(tmp_path / w) if r["step"] > 3] for w in "ab"]
    assert after[0] and after[0] == after[1]


@pytest.mark.parametrize("over,match", [(dict(anchor_prob=1.5), "anchor_prob=1.5"),
                                        (dict(anchor_prob=-0.1), "anchor_prob=-0.1"),
                                        (dict(method="fedamdx"), "fedamdx")])
def test_named_errors(over, match):
    from projects.fedamd import train

    with pytest.raises(ConfigError, match=match):
        train.validate(_config(**over))


def test_scaffold_baseline_smoke(tmp_path):
    from projects.fedamd import train

    out = train.train_and_evaluate(_config(method="scaffold", total=3, checkpoint_every=3), str(tmp_path))
    assert out["step"] == 3 and np.isfinite(out["test_loss"])
    st = load_checkpoint(tmp_path, 3)
    assert np.abs(np.asarray(jax.tree.leaves(st["strategy"]["c"])[0])).sum() > 0  # the server control variate moved
    assert np.abs(np.asarray(jax.tree.leaves(st["clients"]["c"])[0])).sum() > 0  # client controls are checkpointed


def test_scaffold_needs_local_steps():
    from projects.fedamd import train

    c = _config(method="scaffold")
    c.local.mode = "epochs"
    with pytest.raises(ConfigError, match="local.mode='epochs'"):
        train.validate(c)
    c.method = "fedamd"
    train.validate(c)  # the same local config is fine for FedAMD


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "femnist"])
def test_reproduction_configs_validate_for_every_method(name):
    import importlib

    from projects.fedamd import train

    for method in train.METHODS:
        c = importlib.import_module(f"configs.fedamd.{name}").get_config()
        c.method, c.mesh = method, (("clients", -1),)  # the tests' 8 simulated devices
        train.validate(c)  # no data loaded: keys, values and the local config SCAFFOLD needs
