"""FedAvg-M and SCAFFOLD-M (Cheng, Huang, Wu, Yuan, *Momentum Benefits Non-IID Federated Learning
Simply and Provably*, ICLR 2024), with FedAvg and SCAFFOLD (Karimireddy et al., ICML 2020) as
the same code with beta = 1 / without control variates.

Every local step of client i in round r moves along

    fedavg      d = grad F_i(x)
    fedavg_m    d = beta grad F_i(x) + (1 - beta) g_r
    scaffold    d = grad F_i(x) - c_i + c
    scaffold_m  d = beta (grad F_i(x) - c_i + c) + (1 - beta) g_r

with g_r the server momentum and c, c_i the server and client control variates, all sent
with the model (`Strategy.broadcast`). After K local steps of size eta the server sets
g_{r+1} = (1 / (eta K |S|)) sum_{i in S} (x_r - x_i) (the mean local direction), applies its
optimizer to the mean delta (lr 1 = plain FedAvg step), and SCAFFOLD refreshes
c_i <- mean_k grad F_i(x_i^k) and c <- c + (1/N) sum_{i in S} (c_i' - c_i).

Implementation: d = a (grad F_i + v / a) with a = beta (momentum) or 1 and v the broadcast
part, so a local step is plain SGD with lr a eta on the loss F_i(x) + <v, x - stop_grad(x)> / a:
the extra term is 0 in value (reported losses are F_i's) and v / a in gradient. The mean
local gradient that SCAFFOLD keeps is recovered exactly from the delta:
sum_k d_k = -delta / eta, so mean_k grad F_i = (-delta / (eta K) - v) / a.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lib.config import ConfigError
from lib.fl import engine

METHODS = ("fedavg", "fedavg_m", "scaffold", "scaffold_m")


def uses_momentum(method: str) -> bool:
    return method.endswith("_m")


def uses_control(method: str) -> bool:
    return method.startswith("scaffold")


def check(method: str, beta: float) -> None:
    if method not in METHODS:
        raise ConfigError(f"config.method={method!r} is unknown; choose one of {METHODS}")
    if not 0.0 < beta <= 1.0:
        raise ConfigError(f"config.beta={beta} must be in (0, 1] (the weight of the fresh gradient; 1: no momentum)")


def _vdot(a, b):
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def local_update(method: str, beta: float, loss_fn, local_cfg, mesh):
    """The engine's local update with the method's direction. Deltas are {'model': x_i - x}
    plus, for SCAFFOLD, {'control': c_i' - c_i}; client state {'c': c_i} (SCAFFOLD) or ()."""
    a = beta if uses_momentum(method) else 1.0
    if not uses_momentum(method) and not uses_control(method):  # FedAvg: nothing added to the gradient
        plain = engine.default_local_update(loss_fn, local_cfg, mesh)

        def fedavg(params, pool, client, cstate, key, hparams):
            delta, cstate, m = plain(params, pool, client, cstate, key, hparams)
            return {"model": delta}, cstate, m

        return fedavg

    def update(params, pool, client, cstate, key, hparams):
        sent = hparams["broadcast"]
        v = jax.tree.map(jnp.zeros_like, params)
        if uses_control(method):
            v = jax.tree.map(lambda v_, c, ci: v_ + a * (c - ci), v, sent["c"], cstate["c"])
        if uses_momentum(method):
            v = jax.tree.map(lambda v_, g: v_ + (1.0 - a) * g, v, sent["g"])

        def loss(p, x, y):  # F_i + <v, p - sg(p)> / a: same value, gradient + v / a
            return loss_fn(p, x, y) + _vdot(v, jax.tree.map(lambda q: q - jax.lax.stop_gradient(q), p)) / a

        inner = engine.default_local_update(loss, local_cfg, mesh)
        lr = hparams["lr"]
        delta, _, m = inner(params, pool, client, cstate, key, {**hparams, "lr": a * lr})
        if not uses_control(method):
            return {"model": delta}, cstate, m
        k = jnp.maximum(m["local_steps"], 1).astype(jnp.float32)
        c_new = jax.tree.map(lambda d, v_: (-d / (lr * k) - v_) / a, delta, v)
        return ({"model": delta, "control": jax.tree.map(jnp.subtract, c_new, cstate["c"])}, {"c": c_new}, m)

    return update


def client_state_init(method: str):
    if uses_control(method):
        return lambda params: {"c": jax.tree.map(jnp.zeros_like, params)}
    return None


def strategy(method: str, num_clients: int, local_steps: int) -> engine.Strategy:
    """Uniform mean over the round's participants; server momentum g (starts at 0) and control
    variate c. `local_steps` is K (every client runs K steps: local.mode='steps')."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return {"g": zeros, "c": zeros}

    def prepare(sstate, deltas, ctx):
        w = ctx["valid"].astype(jnp.float32)
        return deltas["model"], w, jnp.float32(1.0), sstate

    def finish(sstate, direction, deltas, ctx):
        hp = ctx["hparams"]
        valid = ctx["valid"]
        steps = jnp.float32(local_steps)
        g = jax.tree.map(lambda d: -d / (hp["lr"] * steps), direction)  # mean local direction
        c = sstate["c"]
        if uses_control(method):
            c = jax.tree.map(lambda c_, dc: c_ + jnp.tensordot(valid.astype(jnp.float32), dc, axes=1) / num_clients,
                             c, deltas["control"])
        return direction, {"g": g, "c": c}

    return engine.Strategy(method, init, prepare, finish, broadcast=lambda s: {"g": s["g"], "c": s["c"]})
