"""SCAFFOLD (Karimireddy et al., ICML 2020) as an engine strategy plus local update, with an
optional server-momentum term (SCAFFOLD-M / FedAvg-M, Cheng et al., ICLR 2024).

Every local step of client i in round r moves along

    d = beta (grad F_i(x) - c_i + c) + (1 - beta) g_r          (control=True)
    d = beta grad F_i(x) + (1 - beta) g_r                      (control=False)

beta = 1: plain SCAFFOLD (or plain FedAvg without control). g_r is the server momentum (the
mean local direction of the previous round), c and c_i the server and client control
variates (option II of the paper, both start at 0); g and c are sent with the model
(`Strategy.broadcast`). After K local steps of size eta the server applies its optimizer to
the uniform mean delta of the participants (server lr 1: x + mean delta), sets
g_{r+1} = -(mean delta) / (eta K), and SCAFFOLD refreshes c_i <- mean_k grad F_i(x_i^k) and
c <- c + (1/N) sum_{i in S} (c_i' - c_i).

Implementation: d = a (grad F_i + v / a) with a = beta (momentum) or 1 and v the broadcast
part, so a local step is plain SGD with lr a eta on the loss F_i(x) + <v, x - stop_grad(x)> / a:
the extra term is 0 in value (reported losses are F_i's) and v / a in gradient. The mean
local gradient SCAFFOLD keeps is recovered exactly from the delta:
sum_k d_k = -delta / eta, so mean_k grad F_i = (-delta / (eta K) - v) / a.

Use (a project's train.py):

    engine.build(..., aggregator="fedavg", strategy=scaffold.strategy(N, local.num_steps),
                 local_update=scaffold.local_update(task.loss_fn, local, mesh),
                 client_state_init=scaffold.client_state_init)

`local.mode` must be 'steps' (K is in the server's normalisation) and the local optimizer
plain SGD: `check_local(local)`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lib.config import ConfigError
from lib.fl import engine


def check_local(local, method: str = "scaffold") -> None:
    """SCAFFOLD's direction is the local SGD step and K is fixed: named errors otherwise."""
    if local.mode != "steps":
        raise ConfigError(f"config.local.mode={local.mode!r}: {method} needs 'steps' (K local steps per "
                          "client, the K in the server's normalisation)")
    if local.optimizer != "sgd" or local.momentum:
        raise ConfigError("config.local.optimizer must be 'sgd' without local momentum: the method's direction "
                          "is the local step")


def _vdot(a, b):
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def local_update(loss_fn, local_cfg, mesh, *, beta: float = 1.0, control: bool = True):
    """The engine's local update. Deltas are {'model': x_i - x} plus, with control variates,
    {'control': c_i' - c_i}; client state {'c': c_i} (control) or whatever the engine keeps."""
    momentum = beta < 1.0
    a = beta if momentum else 1.0
    if not momentum and not control:  # FedAvg: nothing added to the gradient
        plain = engine.default_local_update(loss_fn, local_cfg, mesh)

        def fedavg(params, pool, client, cstate, key, hparams):
            delta, cstate, m = plain(params, pool, client, cstate, key, hparams)
            return {"model": delta}, cstate, m

        return fedavg

    def update(params, pool, client, cstate, key, hparams):
        sent = hparams["broadcast"]
        v = jax.tree.map(jnp.zeros_like, params)
        if control:
            v = jax.tree.map(lambda v_, c, ci: v_ + a * (c - ci), v, sent["c"], cstate["c"])
        if momentum:
            v = jax.tree.map(lambda v_, g: v_ + (1.0 - a) * g, v, sent["g"])

        def loss(p, x, y):  # F_i + <v, p - sg(p)> / a: same value, gradient + v / a
            return loss_fn(p, x, y) + _vdot(v, jax.tree.map(lambda q: q - jax.lax.stop_gradient(q), p)) / a

        inner = engine.default_local_update(loss, local_cfg, mesh)
        lr = hparams["lr"]
        delta, _, m = inner(params, pool, client, cstate, key, {**hparams, "lr": a * lr})
        if not control:
            return {"model": delta}, cstate, m
        k = jnp.maximum(m["local_steps"], 1).astype(jnp.float32)
        c_new = jax.tree.map(lambda d, v_: (-d / (lr * k) - v_) / a, delta, v)
        return ({"model": delta, "control": jax.tree.map(jnp.subtract, c_new, cstate["c"])}, {"c": c_new}, m)

    return update


def client_state_init(params):
    """c_i = 0 for every client (checkpointed with the engine state)."""
    return {"c": jax.tree.map(jnp.zeros_like, params)}


def strategy(num_clients: int, local_steps: int, *, control: bool = True, name: str = "scaffold") -> engine.Strategy:
    """Uniform mean over the round's participants; server state {'g': mean local direction,
    'c': server control variate}, both broadcast. `local_steps` is K."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return {"g": zeros, "c": zeros}

    def prepare(sstate, deltas, ctx):
        w = ctx["valid"].astype(jnp.float32)
        return deltas["model"], w, jnp.float32(1.0), sstate

    def finish(sstate, direction, deltas, ctx):
        hp = ctx["hparams"]
        valid = ctx["valid"].astype(jnp.float32)
        g = jax.tree.map(lambda d: -d / (hp["lr"] * jnp.float32(local_steps)), direction)
        c = sstate["c"]
        if control:
            c = jax.tree.map(lambda c_, dc: c_ + jnp.tensordot(valid, dc, axes=1) / num_clients, c, deltas["control"])
        return direction, {"g": g, "c": c}

    return engine.Strategy(name, init, prepare, finish, broadcast=lambda s: {"g": s["g"], "c": s["c"]})
