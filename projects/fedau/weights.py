"""Aggregation weights compared in the FedAU paper, as lib.fl.engine Strategies.

All four aim at the objective (1/N) sum_n f_n (every client counts equally) and feed the
plain weighted mean (`fedavg` rule); `direction = scale * sum_S w_n Delta_n / sum_S w_n`:

| name          | w_n                     | direction                          | knows p_n? |
|---------------|-------------------------|------------------------------------|------------|
| fedau         | omega_n (mean interval) | (1/N) sum_S omega_n Delta_n        | no         |
| participating | 1                       | (1/|S|) sum_S Delta_n (biased to p)| no         |
| all           | 1                       | (1/N) sum_S Delta_n                | no         |
| known_prob    | 1/p_n                   | (1/N) sum_S Delta_n / p_n          | yes (oracle)|

FedAU (Wang & Ji, ICLR 2024; the authors' code github.com/IBM/fedau, main.py 'adaptive'): omega_n is the mean of client n's
observed participation intervals, each capped at K (`cutoff`), 1 before any interval is
recorded; it is computed before this round's interval is appended.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from lib.config import ConfigError
from lib.fl import engine
from lib.fl import state as state_lib

METHODS = ("fedau", "participating", "all", "known_prob")


def strategy(method: str, num_clients: int, probs=None, cutoff: int = 100000) -> engine.Strategy:
    if method not in METHODS:
        raise ConfigError(f"config.weighting={method!r} is unknown; choose one of {list(METHODS)}")
    if cutoff < 1:
        raise ConfigError(f"config.fedau_cutoff={cutoff} must be >= 1")
    n = num_clients
    inv_p = jnp.asarray(1.0 / np.asarray(probs, np.float32)) if probs is not None else None

    def init(params):
        return state_lib.intervals_init(n) if method == "fedau" else ()

    def prepare(sstate, deltas, ctx):
        valid, safe = ctx["valid"], jnp.minimum(ctx["idx"], n - 1)
        one = valid.astype(jnp.float32)
        if method == "fedau":
            w = one * state_lib.interval_weights(sstate)[safe]
            sstate = state_lib.intervals_update(sstate, ctx["participating"], cutoff)
            return deltas, w, w.sum() / n, sstate
        if method == "participating":
            return deltas, one, jnp.float32(1.0), sstate
        if method == "all":
            return deltas, one, one.sum() / n, sstate
        w = one * inv_p[safe]
        return deltas, w, w.sum() / n, sstate

    return engine.Strategy(method, init, prepare, lambda s, d, deltas, ctx: (d, s))
