"""The FedStale aggregation (Rodio & Neglia, arXiv 2405.04171; the authors' code github.com/arodio/FedStale,
aggregator.py `mix`).

With q_k = n_k / sum n, p_k the participation probability (known, or estimated online
with FedAU's interval statistics), delta_k = local - global, h_k the last delta_k the
server stored (0 at start):

    d_t = sum_{k in S_t} (q_k / p_k) (delta_k - beta h_k) + beta sum_{k=1..N} q_k h_k
    x  <- x + eta_g d_t  (through the server optimizer);  then h_k <- delta_k for k in S_t.

beta = 0 is unbiased FedAvg, beta = 1 is FedVARP, 0 < beta < 1 is FedStale. The memory
h is a flat [N, P] array (lib.fl.state.Memory), in `memory_dtype` (float32 or bfloat16).
As an engine Strategy: the rule sees u_k = delta_k - beta h_k with weights q_k / p_k and
scale sum(weights) (so scale * weighted mean = the weighted sum), and `finish` adds the
beta-weighted mean of all stored updates, then stores the fresh ones.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lib.config import ConfigError
from lib.fl import engine
from lib.fl import state as state_lib

PROBS = ("known", "estimated")


def strategy(beta: float, num_samples, probs=None, prob_source: str = "known", memory_dtype=jnp.float32,
             cutoff: int = 100000) -> engine.Strategy:
    if not 0.0 <= beta <= 1.0:
        raise ConfigError(f"config.beta={beta} must be in [0, 1] (0 FedAvg, 1 FedVARP)")
    if prob_source not in PROBS:
        raise ConfigError(f"config.probs={prob_source!r} is unknown; choose one of {list(PROBS)}")
    if prob_source == "known" and probs is None:
        raise ConfigError("config.probs='known' needs the participation probabilities")
    counts = np.asarray(num_samples, np.float64)
    n = len(counts)
    q = jnp.asarray(counts / counts.sum(), jnp.float32)
    inv_p = jnp.asarray(1.0 / np.asarray(probs, np.float32)) if probs is not None else None

    def init(params):
        st = {"h": state_lib.memory_init(n, params, memory_dtype)}
        if prob_source == "estimated":
            st["intervals"] = state_lib.intervals_init(n)
        return st

    def prepare(s, deltas, ctx):
        valid, safe = ctx["valid"], jnp.minimum(ctx["idx"], n - 1)
        if prob_source == "estimated":  # 1/p_k estimated by the mean participation interval
            w_p = state_lib.interval_weights(s["intervals"])[safe]
            s = {**s, "intervals": state_lib.intervals_update(s["intervals"], ctx["participating"], cutoff)}
        else:
            w_p = inv_p[safe]
        w = jnp.where(valid, q[safe] * w_p, 0.0)
        if beta == 0.0:
            return deltas, w, w.sum(), s
        fresh = state_lib.flatten_clients(deltas)
        mixed = fresh - beta * state_lib.memory_gather(s["h"], ctx["idx"])
        return state_lib.unflatten_clients(mixed, deltas), w, w.sum(), s

    def finish(s, direction, deltas, ctx):
        fresh = state_lib.flatten_clients(deltas)
        if beta != 0.0:
            stale = beta * (q @ s["h"].astype(jnp.float32))  # beta sum_k q_k h_k, old memory
            one = jax.tree.map(lambda a: a[:1], deltas)
            direction = jax.tree.map(lambda d, m: d + m[0], direction, state_lib.unflatten_clients(stale[None], one))
        h = state_lib.memory_scatter(s["h"], ctx["idx"], ctx["valid"], fresh)
        return direction, {**s, "h": h}

    return engine.Strategy(f"fedstale(beta={beta})", init, prepare, finish)
