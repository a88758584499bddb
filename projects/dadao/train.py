"""DADAO vs randomized gossip + local gradient steps on the same Poisson clocks: the loop.

One lib.train step = one chunk of `chunk` events (a jitted lax.scan); the state (all node
variables, the time of every node's last event, the event counters and the key) is checkpointed
by lib.train, so a run resumes bit for bit at any chunk boundary."""

from __future__ import annotations

import numpy as np

from lib import config as config_lib
from lib import train as train_lib
from lib.config import ConfigError
from lib.dl import topology as topo_lib
from projects.dadao import adom, dadao, problem as problem_lib


class RateError(ConfigError):
    """A Poisson rate that is not > 0."""


class ConstantsError(ConfigError):
    """mu <= 0, or L < mu."""


def validate(config) -> tuple:
    """Every key, named errors, before any compile. Returns (graph edges [E, 2], Spectral)."""
    config_lib.choice(config, "method", dadao.METHODS)
    for k in ("num_nodes", "samples_per_node", "dim", "chunk", "total"):
        config_lib.integer(config, k, 1)
    if not config.mu > 0:
        raise ConstantsError(f"config.mu={config.mu!r} must be > 0 (the strong convexity of every f_i)")
    if config.get("L") is not None and not config.L >= config.mu:
        raise ConstantsError(f"config.L={config.L!r} must be >= config.mu={config.mu!r}")
    for k in ("lambda_grad", "lambda_mix"):
        v = config.get(k)
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0):
            raise RateError(f"config.{k}={v!r} must be a rate > 0 (or None: the paper's choice)")
    config_lib.positive(config, "heterogeneity", allow_zero=True)
    topo = topo_lib.make(config.topology, config.num_nodes, seed=config.seed, p=config.get("topology_p", 0.3),
                         radius=config.get("topology_radius", 0.5))
    if not topo_lib.is_connected(topo):
        raise topo_lib.DisconnectedTopologyError(
            f"config.topology={config.topology!r} with {config.num_nodes} nodes is disconnected: the nodes cannot "
            "agree on x*")
    adj = topo.adj.any(0)
    edges = np.argwhere(np.triu(adj | adj.T, 1)).astype(np.int32)
    return edges, dadao.spectral(edges, config.num_nodes)


def setup(config):
    edges, sp = validate(config)
    p = problem_lib.generate(config.num_nodes, config.samples_per_node, config.dim, float(config.mu),
                             float(config.heterogeneity), config.seed)
    L = float(config.L) if config.get("L") is not None else p.L
    lam_g = float(config.lambda_grad or config.num_nodes)  # the paper's: one gradient per node per unit time
    lam_m = float(config.lambda_mix or dadao.recommended_lambda_mix(sp))
    clocks = dadao.Clocks(lam_g, lam_m, config.num_nodes, edges)
    c = dadao.constants(p.mu, L, sp.chi1 / lam_m) if config.method == "dadao" else None
    return p, L, clocks, c, sp


def train_and_evaluate(config, workdir: str) -> dict:
    import jax

    p, L, clocks, c, sp = setup(config)
    x0 = np.zeros((config.num_nodes, config.dim), np.float32)
    if config.method.startswith("adom_plus"):  # synchronous: iterations of n grads + q |E| edges per chunk
        pl = adom.plan(clocks.edges, config.num_nodes, multi_consensus=config.method == "adom_plus_mc")
        per_iter = config.num_nodes + pl.rounds * len(clocks.edges)
        step = jax.jit(adom.chunk_fn(problem_lib.grad_fn(p), p.mu, L, pl, len(clocks.edges), p.x_star,
                                     max(1, config.chunk // per_iter)))
        state = adom.init_state(x0, config.seed)
    else:
        step = jax.jit(dadao.chunk_fn(config.method, problem_lib.grad_fn(p), clocks, c, L, p.x_star, config.chunk))
        state = dadao.init_state(config.method, x0, config.num_nodes, config.seed)
    d0 = float(np.sum(p.x_star ** 2))  # mean_i ||x0_i - x*||^2 with x0 = 0

    def step_fn(st, _):
        new, m = step(st)
        m = jax.device_get(m)
        return new, {**m, "rel_dist2": float(m["dist2"]) / d0}

    info = {"mu": p.mu, "L": L, "kappa": L / p.mu, "lambda_grad": clocks.lambda_grad, "lambda_mix": clocks.lambda_mix,
            "chi1": sp.chi1, "chi2": sp.chi2, "num_edges": sp.num_edges}
    return train_lib.run(config, workdir, state=state, step_fn=step_fn, num_steps=config.total, desc=f"dadao/{config.method}",
                         summary_fn=lambda _: info)
