"""lib.fl.scaffold: SCAFFOLD's local steps, client control variate and server state against a
NumPy transcription (Karimireddy et al. 2020, option II); named errors for unusable local configs."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.fl import client as client_lib, engine, scaffold


def _loss(p, x, y):
    return 0.5 * (x @ p["w"] - y) ** 2


def test_scaffold_round_matches_numpy():
    rng = np.random.default_rng(1)
    n, dim, k_steps, lr, num_clients = 8, 3, 4, 0.1, 5
    x, y = rng.normal(size=(n, dim)).astype(np.float32), rng.normal(size=n).astype(np.float32)
    w0, c, ci = (rng.normal(size=dim).astype(np.float32) for _ in range(3))
    local = client_lib.LocalConfig(batch_size=n, mode="steps", num_steps=k_steps)
    upd = scaffold.local_update(_loss, local, engine.clients_mesh(1))
    delta, cs, _ = upd({"w": jnp.asarray(w0)}, {"x": jnp.asarray(x), "y": jnp.asarray(y)},
                       {"index": jnp.arange(n), "num_samples": jnp.asarray(n)}, {"c": {"w": jnp.asarray(ci)}},
                       jax.random.PRNGKey(0), {"lr": jnp.float32(lr), "broadcast": {"g": {"w": jnp.zeros(dim)},
                                                                                     "c": {"w": jnp.asarray(c)}}})
    w, grads = w0.astype(np.float64), []
    for _ in range(k_steps):
        grads.append(x.T @ (x @ w - y) / n)
        w = w - lr * (grads[-1] - ci + c)
    np.testing.assert_allclose(np.asarray(delta["model"]["w"]), w - w0, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(cs["c"]["w"]), np.mean(grads, 0), rtol=1e-3, atol=1e-4)
    # server: uniform mean over valid slots; c <- c + (1/N) sum_S (c_i' - c_i)
    strat = scaffold.strategy(num_clients, k_steps)
    deltas = jax.tree.map(lambda a: jnp.stack([a, 3 * a]), delta)
    st = {"g": {"w": jnp.zeros(dim)}, "c": {"w": jnp.asarray(c)}}
    ctx = {"valid": jnp.asarray([True, False]), "hparams": {"lr": jnp.float32(lr)}}
    _, wts, _, st = strat.prepare(st, deltas, ctx)
    np.testing.assert_array_equal(np.asarray(wts), [1, 0])
    _, st = strat.finish(st, delta["model"], deltas, ctx)
    np.testing.assert_allclose(np.asarray(st["c"]["w"]), c + (np.mean(grads, 0) - ci) / num_clients, rtol=1e-3,
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(strat.broadcast(st)["c"]["w"]), np.asarray(st["c"]["w"]))


@pytest.mark.parametrize("over", [dict(mode="epochs"), dict(optimizer="adam"), dict(momentum=0.9)])
def test_check_local_named_errors(over):
    with pytest.raises(ConfigError, match="config.local"):
        scaffold.check_local(client_lib.LocalConfig(batch_size=4, **over))
