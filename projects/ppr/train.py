"""PowerWalk (Liu, Gao, Chen, Yu; CIKM 2016): personalized PageRank from Monte-Carlo walk
fingerprints combined online, and all-source PPR by walks, against exact PPR.

Offline, every node w gets a fingerprint: the end nodes of R alpha-terminated random walks
from w (`lib.graph.ppr.fingerprint_ends`; the Fogaras et al. estimator, which is also the
all-source PPR by walks of Lin's distributed fully-personalized PageRank without its
stitching). Online, a query s applies PowerWalk's vertex-centric decomposition
pi_s = alpha e_s + (1-alpha) mean_{w in N(s)} pi_w `hops` times and finishes with the
fingerprints of the nodes it reached (`lib.graph.ppr.powerwalk_ppr`): hops = 0 is the single
fingerprint of s; every hop shrinks the Monte-Carlo part of the estimate to (1-alpha) of
itself and spreads it over more fingerprints. Queries run as columns of one [N, B] block.

For each R and hops this reports the L1 error against exact PPR (dense solve for all
sources, or float64 power iteration for sampled sources on large graphs), the online time
for all sources, the offline walk time, and the time the per-query power iteration needs to
reach the same L1 error ((1-alpha)^(t+1) after t iterations: the exact bound), both one
source per call (the per-query baseline of the claim) and batched like ours.

There is no training loop (nothing to checkpoint): the run writes `results.json` and returns
its summary.
"""
from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from lib import config as config_lib
from lib.data import graphs
from lib.graph import ppr, walks

DATASETS = ("csbm", "cora", "citeseer", "random")


def _int_tuple(config, key, minimum):
    v = config_lib.get(config, key)
    v = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    if not v or not all(isinstance(x, int) and not isinstance(x, bool) and x >= minimum for x in v):
        raise config_lib.ConfigError(f"config.{key}={v!r} must be a non-empty tuple of integers >= {minimum}")
    return v


def validate(config) -> None:
    """Everything checkable without the graph; ConfigError before any compile."""
    config_lib.choice(config, "dataset", DATASETS)
    alpha = config_lib.get(config, "alpha")
    if not isinstance(alpha, (int, float)) or not 0.0 < alpha < 1.0:
        raise config_lib.ConfigError(f"config.alpha={alpha!r} must be in the open interval (0, 1) "
                                     "(the walk's stop probability)")
    _int_tuple(config, "walks_per_node", 1)
    _int_tuple(config, "hops", 0)
    for key, lo in (("max_steps", 1), ("num_sources", 0), ("timing_queries", 1), ("batch", 1)):
        v = config_lib.get(config, key)
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise config_lib.ConfigError(f"config.{key}={v!r} must be an integer >= {lo}")


def choose_sources(config, csr) -> np.ndarray:
    ok = np.nonzero(np.asarray(csr.degree) > 0)[0]  # isolated nodes: PPR is e_s, walks cannot start
    if ok.size == 0:
        raise config_lib.ConfigError(f"dataset {config.dataset!r} has no edges: nothing to walk on")
    if config.num_sources == 0:
        return ok
    if config.num_sources > ok.size:
        raise config_lib.ConfigError(f"config.num_sources={config.num_sources} > {ok.size} non-isolated nodes")
    return np.sort(np.random.default_rng(config.seed).choice(ok, config.num_sources, replace=False))


def _blocks(sources, batch):
    """Static-shape blocks of `batch` sources (the last padded by repeating its first source)."""
    out = []
    for i in range(0, sources.size, batch):
        b = sources[i:i + batch]
        out.append((np.concatenate([b, np.full(batch - b.size, b[0])]) if b.size < batch else b, b.size))
    return out


def _run_blocks(fn, blocks):
    """[B_total, N] rows of fn(block)[:, :valid]; first call compiles (excluded by the caller)."""
    return np.concatenate([np.asarray(fn(b))[:, :k].T for b, k in blocks])


def _timed(fn, blocks):
    jax.block_until_ready(fn(blocks[0][0]))  # compile
    t0 = time.perf_counter()
    for b, _ in blocks:
        jax.block_until_ready(fn(b))
    return time.perf_counter() - t0


def evaluate(config) -> dict:
    validate(config)
    g = graphs.load(config)
    csr = walks.csr_from_graph(g)
    sources = choose_sources(config, csr)
    alpha = float(config.alpha)
    t0 = time.perf_counter()
    exact = (ppr.exact_ppr(csr, sources, alpha) if config.num_sources == 0
             else ppr.reference_ppr(csr, sources, alpha))
    exact_s = time.perf_counter() - t0
    to_dev = lambda a: jax.tree.map(lambda x: jnp.asarray(x) if isinstance(x, np.ndarray) else x, a)  # noqa: E731
    p_adj = to_dev(ppr.transition_adjacency(csr))
    batch = min(int(config.batch), sources.size)
    blocks = _blocks(sources, batch)
    rng = np.random.default_rng(config.seed + 1)
    timing = rng.choice(sources, min(config.timing_queries, sources.size), replace=False)
    power_cache: dict = {}

    def power_times(err):
        t = ppr.iterations_for(alpha, max(min(err, 0.999), 1e-12))
        if t not in power_cache:
            one = lambda s: ppr.power_iteration(p_adj, np.array([s]), alpha, t)  # noqa: E731
            jax.block_until_ready(one(timing[0]))
            t0 = time.perf_counter()
            for s in timing:
                jax.block_until_ready(one(s))
            per_query = (time.perf_counter() - t0) / timing.size * sources.size
            batched = _timed(lambda b: ppr.power_iteration(p_adj, b, alpha, t), blocks)
            power_cache[t] = (per_query, batched)
        return (t,) + power_cache[t]

    rows = []
    for r in config.walks_per_node:
        key = jax.random.fold_in(jax.random.key(config.seed), r)
        t0 = time.perf_counter()
        ends, cut = ppr.fingerprint_ends(csr, key, alpha, int(r), int(config.max_steps))
        ends = np.asarray(ends)
        offline_s = time.perf_counter() - t0
        f_adj = to_dev(ppr.fingerprint_adjacency(ends))
        for h in config.hops:
            fn = lambda b, h=h: ppr.powerwalk_ppr(p_adj, f_adj, b, alpha, int(h))  # noqa: E731
            est = _run_blocks(fn, blocks)
            err = ppr.l1_error(est, exact)
            online_s = _timed(fn, blocks)
            t, per_query_s, batched_s = power_times(float(err.mean()))
            rows.append({"walks_per_node": int(r), "hops": int(h), "l1_mean": float(err.mean()),
                         "l1_median": float(np.median(err)), "l1_max": float(err.max()),
                         "online_s": online_s, "offline_s": offline_s, "truncated_walks": cut,
                         "power_iters_equal_error": t, "power_per_query_s": per_query_s,
                         "power_batched_s": batched_s,
                         "speedup_vs_per_query_power": per_query_s / online_s,
                         "speedup_vs_batched_power": batched_s / online_s})
    n = int(np.asarray(g.node_mask).sum())
    return {"dataset": config.dataset, "num_nodes": n, "num_edges": csr.num_edges,
            "num_sources": int(sources.size), "alpha": alpha, "exact": "dense solve" if config.num_sources == 0
            else "float64 power iteration to L1 1e-10", "exact_s": exact_s, "batch": batch,
            "timing_queries": int(timing.size), "rows": rows}


def summary(res) -> dict:
    best = {}
    for row in res["rows"]:
        r = row["walks_per_node"]
        single = next(x for x in res["rows"] if x["walks_per_node"] == r and x["hops"] == 0) \
            if any(x["hops"] == 0 for x in res["rows"]) else None
        best[f"R{r}_h{row['hops']}_l1"] = row["l1_mean"]
        if single is not None:
            best[f"R{r}_h{row['hops']}_vs_single"] = row["l1_mean"] / single["l1_mean"]
    return best


def train_and_evaluate(config, workdir: str) -> dict:
    res = evaluate(config)
    os.makedirs(workdir, exist_ok=True)
    config_lib.write_config(config, workdir)  # no lib.train loop here to write it
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    out = {"num_nodes": res["num_nodes"], "num_sources": res["num_sources"], **summary(res)}
    with open(os.path.join(workdir, "final_metrics.json"), "w") as f:
        json.dump(out, f, indent=1)
    return out
