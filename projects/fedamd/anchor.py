"""FedAMD: anchor sampling for federated learning with partial participation (Wu et al., ICML 2023).

Every client i keeps a large-batch gradient b_i (client state); the server keeps their sum and
sends v = (1/N) sum_i b_i with the model (`Strategy.broadcast`). Each sampled client is, with
probability p, an *anchor*: it recomputes b_i = grad f_i(x_t) on all its data and does not
move the model; otherwise a *miner*: starting from v_{-1} = v it runs K variance-reduced steps

    v_k = v_{k-1} + grad f_i(x_k; xi_k) - grad f_i(x_{k-1}; xi_k)     (x_{-1} = x_0 = x_t)
    x_{k+1} = x_k - eta v_k

(both gradients on the same minibatch xi_k) and returns x_K - x_t. The server moves by
eta_g times the mean miner delta (nothing when the round has no miner) and adds the anchors'
changes b_i' - b_i to its sum.

Choices where the paper or its code leave room: b_i start as every client's full gradient at
x_0 (as the reference code initialises them: one pass over all client data before training;
with b_i = 0 instead, v starts near 0 and the miners barely move for many rounds); anchors are
drawn per sampled client and round from the run's key (Bernoulli(p)); the anchor gradient uses
the client's whole local data.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lib import cpu_conv
from lib.config import ConfigError
from lib.fl import client as client_lib, engine


def check(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"config.anchor_prob={p} must be in [0, 1] (probability that a sampled client is an anchor)")


def _masked_mean_loss(loss_fn, p, xb, yb, mask):
    per = loss_fn(p, xb, yb)
    return jnp.sum(jnp.where(mask, per, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


def local_update(loss_fn, cfg: client_lib.LocalConfig, anchor_prob: float, mesh):
    """The engine's local update: anchor (refresh b_i) or miner (K variance-reduced steps).

    Deltas: {'model': x_K - x_t (0 for an anchor), 'anchor_change': b_i' - b_i (0 for a miner),
    'miner': 1.0 / 0.0}; client state {'b': b_i}."""
    if mesh.devices.flat[0].platform == "cpu":  # same speed choice as the engine's default update
        loss_fn = cpu_conv.canonical_conv_grads(loss_fn)

    def update(params, pool, client, cstate, key, hparams):
        index, n = client["index"], client["num_samples"]
        n_pad = index.shape[0]
        lr = hparams["lr"]
        anchor = jax.random.uniform(jax.random.fold_in(key, 0x41)) < anchor_prob
        zeros = jax.tree.map(jnp.zeros_like, params)

        def gather(pos, mask):
            rows = jnp.where(mask, index[pos], index[0])
            xb = jnp.where(mask.reshape((-1,) + (1,) * (pool["x"].ndim - 1)), pool["x"][rows], 0)
            return xb, pool["y"][rows]

        def as_anchor(_):
            loss, g = full_gradient(loss_fn, params, pool, index, n)  # the loss at x_t on all its data
            return zeros, jax.tree.map(jnp.subtract, g, cstate["b"]), g, loss

        def as_miner(_):
            total = client_lib.num_local_steps(n, cfg)

            def body(carry):
                s, x, x_prev, v, acc = carry
                pos, mask = client_lib.batch_positions(key, s, n, n_pad, cfg)
                xb, yb = gather(pos, mask)
                f = lambda p: _masked_mean_loss(loss_fn, p, xb, yb, mask)  # noqa: E731
                loss, g_now = jax.value_and_grad(f)(x)
                g_prev = jax.grad(f)(x_prev)
                v = jax.tree.map(lambda v_, a, c: v_ + a - c, v, g_now, g_prev)
                x_next = jax.tree.map(lambda a, d: a - lr * d, x, v)
                return s + 1, x_next, x, v, acc + loss

            init = (jnp.int32(0), params, params, hparams["broadcast"]["v"], jnp.float32(0.0))
            _, x, _, _, loss_sum = jax.lax.while_loop(lambda c: c[0] < total, body, init)
            delta = jax.tree.map(jnp.subtract, x, params)
            return delta, zeros, cstate["b"], loss_sum / jnp.maximum(total, 1)

        delta, change, b_new, loss = jax.lax.cond(anchor, as_anchor, as_miner, None)
        miner = jnp.where(anchor, 0.0, 1.0)
        metrics = {"train_loss": loss, "local_steps": jnp.where(anchor, 0, client_lib.num_local_steps(n, cfg))}
        return {"model": delta, "anchor_change": change, "miner": miner}, {"b": b_new}, metrics

    return update


def full_gradient(loss_fn, params, pool, index, n):
    """(f_i(params), grad f_i(params)) over all of client i's rows (index [n_pad], n real)."""
    real = jnp.arange(index.shape[0]) < n
    rows = jnp.where(real, index, index[0])
    xb = jnp.where(real.reshape((-1,) + (1,) * (pool["x"].ndim - 1)), pool["x"][rows], 0)
    return jax.value_and_grad(lambda p: _masked_mean_loss(loss_fn, p, xb, pool["y"][rows], real))(params)


def with_initial_gradients(state, loss_fn, data: client_lib.ClientData):
    """The engine state with b_i = grad f_i(x_0) for every client and the server's sum of them."""
    pool = {"x": jnp.asarray(data.x), "y": jnp.asarray(data.y)}
    grads = jax.jit(lambda p, idx, ns: jax.lax.map(lambda c: full_gradient(loss_fn, p, pool, c[0], c[1])[1], (idx, ns)))(
        state["params"], jnp.asarray(data.index), jnp.asarray(data.num_samples))
    return {**state, "clients": {**state["clients"], "b": grads},
            "strategy": {"b_sum": jax.tree.map(lambda g: g.sum(0), grads)}}


def client_state_init(params):
    return {"b": jax.tree.map(jnp.zeros_like, params)}


def strategy(num_clients: int) -> engine.Strategy:
    """Uniform mean over the round's miners; the server's sum of the b_i."""

    def init(params):
        return {"b_sum": jax.tree.map(jnp.zeros_like, params)}

    def prepare(sstate, deltas, ctx):
        w = ctx["valid"].astype(jnp.float32) * deltas["miner"]
        return deltas["model"], w, jnp.float32(1.0), sstate

    def finish(sstate, direction, deltas, ctx):
        valid = ctx["valid"].astype(jnp.float32)
        b_sum = jax.tree.map(lambda s, dc: s + jnp.tensordot(valid, dc, axes=1), sstate["b_sum"], deltas["anchor_change"])
        return direction, {"b_sum": b_sum}

    return engine.Strategy("fedamd", init, prepare, finish,
                           broadcast=lambda s: {"v": jax.tree.map(lambda a: a / num_clients, s["b_sum"])})
