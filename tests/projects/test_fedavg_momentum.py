"""FedAvg-M / SCAFFOLD-M: local steps and server state against a NumPy transcription of the
paper's algorithm; smoke of default.py; bit-exact resume (control variates included); errors."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.fl import client as client_lib, engine
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows, run_killed_after_checkpoint, run_main


CONFIG = "configs/fedavg_momentum/default.py"
RUN_OVERRIDES = ("--config.total=6", "--config.log_every=1", "--config.eval_every=3", "--config.checkpoint_every=3")


def _config(**kw):
    from configs.fedavg_momentum import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 6, 1, 3, 3
    for k, v in kw.items():
        c[k] = v
    return c


def _loss(p, x, y):  # per-sample least squares: gradients are easy to write by hand
    return 0.5 * (x @ p["w"] - y) ** 2


@pytest.mark.parametrize("method", ["fedavg", "fedavg_m", "scaffold", "scaffold_m"])
def test_local_steps_and_server_state_match_the_paper(method):
    from projects.fedavg_momentum import momentum

    rng = np.random.default_rng(0)
    n, dim, k_steps, lr, beta = 8, 3, 3, 0.1, 0.3
    x, y = rng.normal(size=(n, dim)).astype(np.float32), rng.normal(size=n).astype(np.float32)
    w0, g, c, ci = (rng.normal(size=dim).astype(np.float32) for _ in range(4))
    local = client_lib.LocalConfig(batch_size=n, mode="steps", num_steps=k_steps)  # full batch: deterministic
    upd = momentum.local_update(method, beta, _loss, local, engine.clients_mesh(1))
    cstate = {"c": {"w": jnp.asarray(ci)}} if momentum.uses_control(method) else ()
    delta, new_cs, _ = upd({"w": jnp.asarray(w0)}, {"x": jnp.asarray(x), "y": jnp.asarray(y)},
                           {"index": jnp.arange(n), "num_samples": jnp.asarray(n)}, cstate, jax.random.PRNGKey(0),
                           {"lr": jnp.float32(lr), "broadcast": {"g": {"w": jnp.asarray(g)}, "c": {"w": jnp.asarray(c)}}})
    # NumPy: the algorithm as the paper writes it
    b = beta if method.endswith("_m") else 1.0
    w, grads = w0.astype(np.float64), []
    for _ in range(k_steps):
        grad = x.T @ (x @ w - y) / n
        grads.append(grad)
        d = grad - ci + c if method.startswith("scaffold") else grad
        w = w - lr * (b * d + (1 - b) * g if method.endswith("_m") else d)
    np.testing.assert_allclose(np.asarray(delta["model"]["w"]), w - w0, rtol=1e-4, atol=1e-5)
    if momentum.uses_control(method):
        np.testing.assert_allclose(np.asarray(new_cs["c"]["w"]), np.mean(grads, 0), rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(np.asarray(delta["control"]["w"]), np.mean(grads, 0) - ci, rtol=1e-3, atol=1e-4)
    # server: g' = mean local direction over the participants, c' = c + (1/N) sum (c_i' - c_i)
    strat = momentum.strategy(method, num_clients=4, local_steps=k_steps)
    deltas = jax.tree.map(lambda a: jnp.stack([a, 2 * a, a]), delta)
    st = {"g": {"w": jnp.asarray(g)}, "c": {"w": jnp.asarray(c)}}
    ctx = {"valid": jnp.asarray([True, True, False]), "hparams": {"lr": jnp.float32(lr)}}
    upd_, wts, _, st = strat.prepare(st, deltas, ctx)
    mean = (np.asarray(delta["model"]["w"]) * 1.5)
    direction, st = strat.finish(st, {"w": jnp.asarray(mean)}, deltas, ctx)
    np.testing.assert_allclose(np.asarray(st["g"]["w"]), -mean / (lr * k_steps), rtol=1e-5)
    if momentum.uses_control(method):
        np.testing.assert_allclose(np.asarray(st["c"]["w"]), c + 3 * np.asarray(delta["control"]["w"]) / 4, rtol=1e-5)
    else:
        np.testing.assert_array_equal(np.asarray(st["c"]["w"]), c)
    np.testing.assert_array_equal(np.asarray(wts), [1, 1, 0])


def test_smoke_and_bit_exact_resume_with_control_variates(tmp_path):
    from projects.fedavg_momentum import train

    full = train.train_and_evaluate(_config(method="scaffold_m"), str(tmp_path / "a"))
    assert full["step"] == 6 and np.isfinite(full["test_loss"])
    # the same run killed (SIGKILL) right after its step-3 checkpoint, then resumed
    over = [*RUN_OVERRIDES, "--config.method=scaffold_m"]
    proc = run_killed_after_checkpoint("fedavg_momentum", CONFIG, tmp_path / "b", 3, *over)
    assert proc.returncode == -9, proc.stderr[-2000:]
    run_main("fedavg_momentum", CONFIG, tmp_path / "b", *over)
    assert json.load(open(tmp_path / "b" / "final_metrics.json"))["resumed_from"] == 3
    sa, sb = load_checkpoint(tmp_path / "a", 6), load_checkpoint(tmp_path / "b", 6)
    assert np.abs(np.asarray(jax.tree.leaves(sa["clients"])[0])).sum() > 0  # client controls are checkpointed
    assert np.abs(np.asarray(jax.tree.leaves(sa["strategy"]["g"])[0])).sum() > 0
    assert_trees_equal(sa, sb)
    after = [[r for r in metric_rows(tmp_path / w) if r["step"] > 3] for w in "ab"]
    assert after[0] and after[0] == after[1]


@pytest.mark.parametrize("over,match", [
    (dict(beta=0.0), "beta=0.0"), (dict(beta=1.5), "beta=1.5"), (dict(method="fedmom"), "fedmom"),
])
def test_named_errors(over, match):
    from projects.fedavg_momentum import train

    with pytest.raises(ConfigError, match=match):
        train.validate(_config(**over))
    c = _config()
    c.local.mode = "epochs"
    with pytest.raises(ConfigError, match="steps"):
        train.validate(c)
