"""Quasi-global momentum (QG-DSGDm, QG-DSGDm-N): what Lin, Karimireddy, Stich & Jaggi (ICML 2021) introduce.

Node i, round t (H local steps, then gossip):

    local step:   g = grad f_i(x) + wd x
                  m_hat = mu m_i + g                       (m_i is fixed during the round)
                  d = g + mu m_hat   (Nesterov, "-N")   or   d = m_hat
                  x <- x - lr d
    gossip:       x_i^{t+1} = sum_j W_ij x_j                (lib.dl.gossip)
    momentum:     m_i <- mu m_i + (1 - mu) (x_i^t - x_i^{t+1}) / (lr H)

The buffer m_i tracks the displacement the node actually made *after* gossip, an estimate of
the global direction, instead of its own local gradients (what makes DSGDm drift apart on
heterogeneous data). beta = 1 - mu by default, as in the paper. With H = 1 this is the
paper's algorithm step for step; with H > 1 the buffer is refreshed once per round from the
round's average displacement (the authors' code does the same with its `local_step`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lib.config import ConfigError
from lib.dl import engine


def qg_dsgdm(momentum: float = 0.9, nesterov: bool = True, weight_decay: float = 0.0,
             beta: float | None = None) -> engine.Method:
    if not 0 < momentum < 1:
        raise ConfigError(f"momentum={momentum!r} must be in (0, 1) for QG-DSGDm")
    beta = 1.0 - momentum if beta is None else beta
    if not 0 < beta <= 1:
        raise ConfigError(f"qg beta={beta!r} must be in (0, 1]")
    mu = momentum

    def init(params):
        return {"m": jax.tree.map(jnp.zeros_like, params)}

    def update(grads, state, params=None):
        if weight_decay:
            grads = jax.tree.map(lambda g, p: g + weight_decay * p, grads, params)
        m_hat = jax.tree.map(lambda m, g: mu * m + g, state["m"], grads)
        d = jax.tree.map(lambda g, mh: g + mu * mh, grads, m_hat) if nesterov else m_hat
        return d, state

    def post_gossip(state, x_start, x_end, lr, local_steps):
        m = jax.tree.map(lambda m, a, b: ((1 - beta) * m + beta * (a - b) / (lr * local_steps)).astype(m.dtype),
                         state["m"], x_start, x_end)
        return {"m": m}

    name = "qg_dsgdm_n" if nesterov else "qg_dsgdm"
    return engine.Method(name, optax.GradientTransformation(init, update), post_gossip)


METHODS = ("qg_dsgdm_n", "qg_dsgdm", "dsgdm_n", "dsgd")


def method(name: str, momentum: float, weight_decay: float) -> engine.Method:
    if name not in METHODS:
        raise ConfigError(f"config.method={name!r} is unknown; choose one of {list(METHODS)}")
    if name.startswith("qg_"):
        return qg_dsgdm(momentum, nesterov=name.endswith("_n"), weight_decay=weight_decay)
    if name == "dsgdm_n":
        return engine.dsgd(momentum, nesterov=True, weight_decay=weight_decay)
    return engine.dsgd(0.0, weight_decay=weight_decay)
