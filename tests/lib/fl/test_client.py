"""Local training: padded + vmapped == unpadded per-client reference; FedProx; errors."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lib.config import ConfigError
from lib.fl import client


def _apply(p, x):
    return jnp.tanh(x @ p["w1"]) @ p["w2"] + p["b"]


LOSS = client.xent_loss(_apply)


def _params(key, d=5, h=7, c=3):
    k1, k2 = jax.random.split(key)
    return {"w1": 0.5 * jax.random.normal(k1, (d, h)), "w2": 0.5 * jax.random.normal(k2, (h, c)), "b": jnp.zeros(c)}


@functools.partial(jax.jit, static_argnames="momentum")
def _ref_step(p, o, params, xb, yb, lr, mu, momentum):
    opt = optax.sgd(lr, momentum=momentum or None)

    def loss(q):
        sq = sum(jnp.sum((a - g) ** 2) for a, g in zip(jax.tree.leaves(q), jax.tree.leaves(params)))
        return jnp.mean(LOSS(q, xb, yb)) + 0.5 * mu * sq

    u, o = opt.update(jax.grad(loss)(p), o, p)
    return optax.apply_updates(p, u), o


def _reference(params, x, y, key, cfg, lr, mu=0.0):
    """Unpadded, one client, plain Python loop over steps on exactly its n samples."""
    n, b = len(x), cfg.batch_size
    p, o = params, optax.sgd(lr, momentum=cfg.momentum or None).init(params)
    steps = cfg.num_steps if cfg.mode == "steps" else cfg.num_epochs * -(-n // b)
    for s in range(steps):
        if cfg.mode == "steps":
            sc = client.sample_scores(jax.random.fold_in(key, s), n)
            sel = np.asarray(jax.lax.top_k(sc, min(b, n))[1])
        else:
            spe = -(-n // b)
            perm = np.argsort(np.asarray(client.sample_scores(jax.random.fold_in(key, s // spe), n)))
            sel = perm[(s % spe) * b:(s % spe + 1) * b]
        p, o = _ref_step(p, o, params, x[sel], y[sel], lr, mu, cfg.momentum)
    return jax.tree.map(lambda a, g: a - g, p, params)


@pytest.mark.parametrize("mode,momentum,mu", [("epochs", 0.0, 0.0), ("steps", 0.9, 0.0), ("epochs", 0.0, 0.3)])
def test_padded_vmapped_equals_unpadded_reference(mode, momentum, mu):
    rng = np.random.default_rng(0)
    sizes = [3, 8, 13, 21]  # below, at, and above multiples of the batch size 8
    xs = [rng.normal(size=(s, 5)).astype(np.float32) for s in sizes]
    ys = [rng.integers(0, 3, s).astype(np.int32) for s in sizes]
    parts, off = [], 0
    for s in sizes:
        parts.append(np.arange(off, off + s))
        off += s
    data = client.pack_clients(np.concatenate(xs), np.concatenate(ys), parts, 8)
    assert data.index.shape[1] % 8 == 0 and data.index.shape[1] >= 21
    cfg = client.LocalConfig(batch_size=8, mode=mode, num_steps=4, num_epochs=2, momentum=momentum)
    upd = client.make_local_update(LOSS, cfg)
    params = _params(jax.random.PRNGKey(1))
    keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.PRNGKey(7), k))(jnp.arange(len(sizes)))
    hp = {"lr": 0.3, "prox_mu": mu} if mu else {"lr": 0.3}
    clients = {"index": jnp.asarray(data.index), "num_samples": jnp.asarray(data.num_samples)}
    deltas, _, metrics = jax.jit(jax.vmap(upd, in_axes=(None, None, 0, 0, 0, None)))(
        params, {"x": data.x, "y": data.y}, clients, jnp.zeros(len(sizes)), keys, hp)
    want_steps = [4] * 4 if mode == "steps" else [2 * -(-s // 8) for s in sizes]
    np.testing.assert_array_equal(metrics["local_steps"], want_steps)
    for k, s in enumerate(sizes):
        ref = _reference(params, xs[k], ys[k], keys[k], cfg, 0.3, mu)
        for a, r in zip(jax.tree.leaves(deltas), jax.tree.leaves(ref)):
            np.testing.assert_allclose(a[k], r, rtol=2e-5, atol=2e-6)


def test_padding_samples_never_touch_gradients():
    """Poison the padding rows' pool entry: results must not change."""
    x = np.random.default_rng(1).normal(size=(10, 5)).astype(np.float32)
    y = np.zeros(10, np.int32)
    data = client.pack_clients(x, y, [np.arange(3), np.arange(3, 10)], 4)
    cfg = client.LocalConfig(batch_size=4, mode="epochs", num_epochs=3)
    upd = jax.jit(client.make_local_update(LOSS, cfg))
    params = _params(jax.random.PRNGKey(0))
    c0 = {"index": jnp.asarray(data.index[0]), "num_samples": jnp.asarray(data.num_samples[0])}
    d1, _, _ = upd(params, {"x": data.x, "y": data.y}, c0, (), jax.random.PRNGKey(3), {"lr": 0.1})
    # padding rows of client 0 point at pool row 0 — which is a real row of client 0, so instead
    # re-point them at a NaN row appended to the pool.
    xp = np.concatenate([data.x, np.full((1, 5), np.nan, np.float32)])
    idx = np.where(np.arange(data.index.shape[1]) < 3, data.index[0], 10)
    c1 = {"index": jnp.asarray(idx), "num_samples": jnp.asarray(3)}
    d2, _, _ = upd(params, {"x": xp, "y": np.concatenate([data.y, [0]])}, c1, (), jax.random.PRNGKey(3), {"lr": 0.1})
    for a, b in zip(jax.tree.leaves(d1), jax.tree.leaves(d2)):
        np.testing.assert_array_equal(a, b)
        assert np.all(np.isfinite(b))


def test_fedprox_pulls_towards_global():
    x = np.random.default_rng(2).normal(size=(32, 5)).astype(np.float32)
    y = np.random.default_rng(3).integers(0, 3, 32).astype(np.int32)
    data = client.pack_clients(x, y, [np.arange(32)], 8)
    upd = jax.jit(client.make_local_update(LOSS, client.LocalConfig(8, "epochs", num_epochs=5)))
    c = {"index": jnp.asarray(data.index[0]), "num_samples": jnp.asarray(32)}
    params = _params(jax.random.PRNGKey(0))
    norms = []
    for mu in (0.0, 10.0):
        d, _, _ = upd(params, {"x": data.x, "y": data.y}, c, (), jax.random.PRNGKey(0), {"lr": 0.05, "prox_mu": mu})
        norms.append(float(sum(jnp.sum(l ** 2) for l in jax.tree.leaves(d))))
    assert norms[1] < 0.5 * norms[0]


def test_bucket_ladder_and_errors():
    assert client.bucket_size(1, 16) == 16
    assert client.bucket_size(17, 16) == 32
    assert client.bucket_size(33, 16) == 48
    assert client.bucket_size(100, 16) == 128
    with pytest.raises(ConfigError, match="empty clients"):
        client.pack_clients(np.zeros((3, 2)), np.zeros(3), [np.arange(3), np.arange(0)], 4)
    with pytest.raises(ConfigError, match="local optimizer"):
        client.make_local_update(LOSS, client.LocalConfig(4, optimizer="lbfgs"))
    with pytest.raises(ConfigError, match="mode"):
        client.make_local_update(LOSS, client.LocalConfig(4, mode="minutes"))
