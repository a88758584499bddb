"""1,000 single-source personalized PageRank queries at equal L1 error: lib.graph.ppr vs the
CPU peers that install here (scikit-network 0.33 PageRank, solver 'piteration'; fast-pagerank 1.0:
SciPy power iteration). networkit 11.3 installs but has no personalized PageRank (its PageRank
has no restart vector), and scikit-network's Cython 'push' solver ignores the restart weights
(it returned the global PageRank for a one-hot `weights`, checked on a 2,000-node graph), so
neither is a peer.

Graph: `random_graph(100000, 2000000)` (uniform random, undirected, both directions stored,
duplicates kept as multi-edges by every method: P = D^-1 A with multiplicities), alpha = 0.15
(damping 0.85). Reference: float64 SciPy power iteration to L1 1e-10 on `--sample` of the query
sources. Every method is tuned on those sample queries to its cheapest setting whose mean L1
error is <= `--target` (peers: the loosest `tol` / fewest iterations from a ladder; ours:
`iterations_for(alpha, target)`, the exact truncation bound, and PowerWalk's number of
decomposition hops), then timed on the queries:

- ours `power`: `ppr.power_iteration`, sparse power iteration on the native spmm kernel, the
  queries as columns of one [N, B] block (`--batch` sources per call).
- ours `powerwalk`: `ppr.powerwalk_ppr` online phase (hops of propagation + one spmm with the
  fingerprint matrix); the offline fingerprint walks are timed separately and added in the
  `incl. offline` column.
- peers: one call per query, as their APIs take one restart vector at a time. Peers slower
  than `--full-peer-s` seconds per query are timed on the first `--peer-queries` queries and
  scaled to 1,000 (marked in the table).

The machine is shared (2 cores); the 1-minute load average before/after is recorded.

    PYTHONPATH=. python benchmarks/ppr.py [--nodes 100000 --edges 2000000 --queries 1000]
Writes benchmarks/results/ppr.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

import jax
import numpy as np
import scipy.sparse as sp

from lib import autotune
from lib.graph import ppr, walks
from lib.graph.ops import uses_native
from lib.graph.synthetic import random_graph

OUT = pathlib.Path(__file__).resolve().parent / "results"
ALPHA = 0.15


def reference(a_csr, sources, alpha, tol=1e-10):
    """float64 power iteration on all sources at once: X <- alpha E + (1-alpha) P^T X."""
    n = a_csr.shape[0]
    deg = np.asarray(a_csr.sum(1)).ravel()
    pt = (sp.diags(1.0 / deg) @ a_csr).T.tocsr()
    e = np.zeros((n, len(sources)))
    e[sources, np.arange(len(sources))] = 1.0
    x = alpha * e
    for _ in range(ppr.iterations_for(alpha, tol)):
        x = alpha * e + (1 - alpha) * (pt @ x)
    return x.T


def err(est, exact):
    return float(ppr.l1_error(est, exact).mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--edges", type=int, default=2_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--target", type=float, default=1e-2)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--walks-per-node", type=int, default=8)
    ap.add_argument("--peer-queries", type=int, default=100)
    ap.add_argument("--full-peer-s", type=float, default=0.05)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    load0 = os.getloadavg()[0]
    g = random_graph(a.nodes, a.edges, 1, seed=0)
    m = np.asarray(g.edge_mask)
    s, r = np.asarray(g.senders)[m], np.asarray(g.receivers)[m]
    n = a.nodes
    csr = walks.csr_from_edges(s, r, n)
    assert (np.asarray(csr.degree) > 0).all(), "isolated node in the benchmark graph"
    a_csr = sp.csr_matrix((np.ones(s.size), (s, r)), shape=(n, n))  # duplicates summed = multiplicity
    queries = np.random.default_rng(1).choice(n, a.queries, replace=False)
    sample = queries[:a.sample]
    t0 = time.perf_counter()
    exact = reference(a_csr, sample, ALPHA)
    ref_s = time.perf_counter() - t0
    rows = {}
    print(f"reference {ref_s:.1f}s", flush=True)

    # ---- ours: sparse power iteration, batched
    p_adj = jax.tree.map(lambda x: jax.numpy.asarray(x) if isinstance(x, np.ndarray) else x,
                         ppr.transition_adjacency(csr))
    iters = ppr.iterations_for(ALPHA, a.target)
    e_ours = err(np.asarray(ppr.power_iteration(p_adj, sample, ALPHA, iters)).T, exact)

    def ours_power():
        for i in range(0, a.queries, a.batch):
            jax.block_until_ready(ppr.power_iteration(p_adj, queries[i:i + a.batch], ALPHA, iters))
    ours_power()  # compile
    t0 = time.perf_counter(); ours_power(); rows["ours power iteration (batched)"] = {
        "setting": f"{iters} iterations, {a.batch} sources per block", "l1": e_ours,
        "s_1000": (time.perf_counter() - t0) * 1000 / a.queries}
    print(rows, flush=True)

    # ---- ours: PowerWalk (fingerprints offline, combination online)
    t0 = time.perf_counter()
    ends, cut = ppr.fingerprint_ends(csr, jax.random.key(0), ALPHA, a.walks_per_node, 64)
    jax.block_until_ready(ends)
    f_adj = jax.tree.map(lambda x: jax.numpy.asarray(x) if isinstance(x, np.ndarray) else x,
                         ppr.fingerprint_adjacency(ends))
    offline_s = time.perf_counter() - t0
    pw = None
    for hops in range(0, iters + 1):
        e = err(np.asarray(ppr.powerwalk_ppr(p_adj, f_adj, sample, ALPHA, hops)).T, exact)
        print("powerwalk hops", hops, e, f"offline {offline_s:.1f}s", flush=True)
        if e <= a.target:
            pw = (hops, e)
            break
    if pw is not None:
        hops = pw[0]

        def ours_pw():
            for i in range(0, a.queries, a.batch):
                jax.block_until_ready(ppr.powerwalk_ppr(p_adj, f_adj, queries[i:i + a.batch], ALPHA, hops))
        ours_pw()
        t0 = time.perf_counter(); ours_pw(); t = (time.perf_counter() - t0) * 1000 / a.queries
        rows["ours PowerWalk (batched)"] = {
            "setting": f"R={a.walks_per_node} walks/node, {hops} hops", "l1": pw[1], "s_1000": t,
            "offline_s": offline_s, "truncated_walks": cut}

    # ---- peers, one query per call
    def onehot(q):
        v = np.zeros(n); v[q] = 1.0
        return v

    peers = {}
    try:
        import fast_pagerank
        peers["fast-pagerank pagerank_power"] = (
            [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6],
            lambda tol: (lambda q: fast_pagerank.pagerank_power(a_csr, p=1 - ALPHA, personalize=onehot(q),
                                                                tol=tol, max_iter=1000)), "tol")
    except ImportError:
        pass
    try:
        from sknetwork.ranking import PageRank
        peers["scikit-network PageRank piteration"] = (
            list(range(5, 80, 3)),
            lambda k: (lambda q, pr=PageRank(1 - ALPHA, solver="piteration", n_iter=k, tol=0.0): pr.fit(a_csr, weights={int(q): 1.0}).scores_),
            "n_iter")
    except ImportError:
        pass
    for name, (ladder, make, knob) in peers.items():
        chosen = None
        for v in ladder:
            print(name, knob, v, flush=True)
            f = make(v)
            est = np.stack([f(q) for q in sample[:5]])
            if err(est, exact[:5]) <= a.target:
                est = np.stack([f(q) for q in sample])
                e = err(est, exact)
                if e <= a.target:
                    chosen = (v, e, f)
                    break
        if chosen is None:
            rows[name] = {"setting": f"no {knob} in {ladder[0]}..{ladder[-1]} reached the target", "l1": None}
            continue
        v, e, f = chosen
        t0 = time.perf_counter(); f(queries[0]); one = time.perf_counter() - t0
        k = a.queries if one < a.full_peer_s else min(a.peer_queries, a.queries)
        t0 = time.perf_counter()
        for q in queries[:k]:
            f(q)
        rows[name] = {"setting": f"{knob}={v}", "l1": e, "s_1000": (time.perf_counter() - t0) * 1000 / k,
                      "timed_queries": k}
        print(name, rows[name], flush=True)

    best_peer = min((v["s_1000"], k) for k, v in rows.items() if not k.startswith("ours") and "s_1000" in v)
    for k, v in rows.items():
        if "s_1000" in v:
            v["speedup_vs_best_peer"] = best_peer[0] / v["s_1000"]
    res = {"machine": f"{autotune.cpu_model()}, {os.cpu_count()} cores (shared with other jobs), jax {jax.__version__}, "
                      f"ours spmm path: {'native kernel' if uses_native() else 'pure JAX'}",
           "graph": f"random_graph({a.nodes}, {a.edges}): {n} nodes, {s.size} directed edges", "alpha": ALPHA,
           "target_l1": a.target, "queries": a.queries, "sample_for_error": a.sample, "reference_s": ref_s,
           "best_peer": best_peer[1], "load_avg_1min": [load0, os.getloadavg()[0]], "rows": rows}
    print(json.dumps(res, indent=1))
    if a.no_write:
        return
    OUT.mkdir(exist_ok=True)
    (OUT / "ppr.json").write_text(json.dumps(res, indent=1))
    md = ["# Personalized PageRank benchmark (CPU)", "",
          f"Machine: {res['machine']}. Graph: {res['graph']}. alpha = {ALPHA}. {a.queries} single-source queries; "
          f"each method tuned to its cheapest setting with mean L1 error <= {a.target} on {a.sample} of them "
          f"(reference: float64 power iteration to 1e-10). 1-minute load {load0:.1f} before / "
          f"{res['load_avg_1min'][1]:.1f} after (2 cores: the machine was shared).", "",
          "| method | setting | mean L1 | s per 1,000 queries | incl. offline | speed-up vs best peer |",
          "|---|---|---|---|---|---|"]
    for k, v in rows.items():
        if "s_1000" not in v:
            md.append(f"| {k} | {v['setting']} | - | - | - | - |")
            continue
        timed = "" if v.get("timed_queries", a.queries) == a.queries else f" (timed on {v['timed_queries']}, scaled)"
        off = f"{v['s_1000'] + v['offline_s']:.2f}" if "offline_s" in v else "-"
        md.append(f"| {k} | {v['setting']} | {v['l1']:.2e} | {v['s_1000']:.2f}{timed} | {off} | "
                  f"{v['speedup_vs_best_peer']:.2f}x |")
    md += ["", f"Best peer: {best_peer[1]}. Target (issue 16): >= 3x the fastest CPU peer at equal L1 error.", "",
           "Both peers rescale their truncated power series to sum 1 at the end; on this random expander that "
           "rescaling is what lets them reach the target in few iterations (scikit-network: 8; both report the same error, 7.11e-3), "
           "while ours stops at the iteration count whose error bound (1-alpha)^(t+1) meets the target "
           "without rescaling. Ours is faster because the sources are columns of one block (one pass over the "
           "edges serves 250 queries), not because it iterates less."]
    (OUT / "ppr.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
