"""Random-walk throughput (walk steps per second): lib.graph.walks vs PecanPy (numba, the
fastest node2vec walk library that installs here), same generated graph, one walk of
`length` steps from every node.

Rows: first-order uniform walks (ours `uniform_walks` vs PecanPy `FirstOrderUnweighted`) and
node2vec p=0.5, q=2 (ours `node2vec_walks`, rejection sampling, vs PecanPy `SparseOTF`, its
on-the-fly mode, and `PreComp`, which precomputes an alias table per (previous, current) edge
when those fit in memory: its preprocessing is timed separately and left out of its walk
time). On CPU ours runs the native kernel lib/native/walks.cc (the JSON records the path;
TESSERA_NATIVE=0 times the pure-JAX twin). PecanPy is timed on its walk kernel
(`_random_walks`, numba-parallel over `--workers` threads) without its final conversion of
node indices to string ids, which would only add to its time. Each timing is the median of
`--repeats` interleaved runs after one warm-up run (numba and XLA compile outside the timing).

PecanPy 2.0.9 imports nptyping, which uses NumPy aliases removed in NumPy 2 (np.bool8, ...);
`_numpy2_aliases` adds them back before the import. The machine is shared (2 cores); the
1-minute load average before/after is recorded.

    PYTHONPATH=. python benchmarks/walks.py [--nodes 100000 --edges 2000000 --length 80]
Writes benchmarks/results/walks.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import tempfile
import time

import jax
import numpy as np

from lib import autotune
from lib.graph import walks
from lib.graph.synthetic import random_graph

OUT = pathlib.Path(__file__).resolve().parent / "results"


def _numpy2_aliases():
    for a, b in [("bool8", "bool_"), ("object0", "object_"), ("int0", "intp"), ("uint0", "uintp"),
                 ("void0", "void"), ("bytes0", "bytes_"), ("str0", "str_"), ("float_", "float64"),
                 ("complex_", "complex128"), ("string_", "bytes_"), ("unicode_", "str_"),
                 ("longfloat", "longdouble"), ("singlecomplex", "complex64"), ("cfloat", "complex128"),
                 ("longcomplex", "clongdouble"), ("clongfloat", "clongdouble")]:
        if not hasattr(np, a):
            setattr(np, a, getattr(np, b))


def pecanpy_runner(mode, edg_path, p, q, length, workers):
    _numpy2_aliases()
    from pecanpy import pecanpy as pp
    g = getattr(pp, mode)(p=p, q=q, workers=workers, verbose=False, random_state=0)
    g.read_edg(edg_path, weighted=False, directed=False)
    t0 = time.perf_counter()
    g._preprocess_transition_probs()
    setup = time.perf_counter() - t0
    mf, hn = g.get_move_forward(), g.get_has_nbrs()
    from numba_progress import ProgressBar
    starts = np.arange(g.num_nodes, dtype=np.uint32)

    def run():
        with ProgressBar(total=starts.size, disable=True) as prog:
            return g._random_walks(starts.size, length, 0, starts, hn, mf, prog)
    return run, g.num_nodes, setup


def precomp_bytes(csr) -> int:
    """PreComp's alias tables: one entry (uint32 + float64) per (edge u->v, neighbour of v)."""
    deg = np.asarray(csr.degree, np.int64)
    return int(12 * (deg.astype(np.float64) ** 2).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--edges", type=int, default=2_000_000)
    ap.add_argument("--length", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    load0 = os.getloadavg()[0]
    g = random_graph(a.nodes, a.edges, 1, seed=0)
    csr = walks.csr_from_graph(g)
    n = csr.num_nodes
    starts = np.arange(n)
    s, r = (np.asarray(x)[np.asarray(g.edge_mask)] for x in (g.senders, g.receivers))
    tmp = tempfile.mkdtemp()
    edg = os.path.join(tmp, "g.edg")
    keep = s < r  # each undirected edge once (PecanPy symmetrises); random_graph stores both directions
    # self loops and duplicate pairs: PecanPy (read_edg) merges duplicates, so build ours from the same
    # deduplicated undirected edge list to walk the identical graph
    pairs = np.unique(np.stack([s[keep], r[keep]], 1), axis=0)
    np.savetxt(edg, pairs, fmt="%d", delimiter="\t")
    csr = walks.csr_from_edges(np.concatenate([pairs[:, 0], pairs[:, 1]]),
                               np.concatenate([pairs[:, 1], pairs[:, 0]]), n)
    starts = np.nonzero(np.asarray(csr.degree) > 0)[0]
    key = jax.random.key(0)
    rows = []
    settings = [("uniform", 1.0, 1.0, "FirstOrderUnweighted",
                 lambda: walks.uniform_walks(csr, starts, key, a.length)),
                ("node2vec p=0.5 q=2", 0.5, 2.0, "SparseOTF",
                 lambda: walks.node2vec_walks(csr, starts, key, a.length, p=0.5, q=2.0))]
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    if precomp_bytes(csr) < mem // 4:
        settings.append(settings[1][:3] + ("PreComp", settings[1][4]))
    else:
        print(f"PreComp skipped: {precomp_bytes(csr) / 1e9:.1f} GB of tables, {mem / 1e9:.1f} GB free")
    for name, p, q, mode, ours in settings:
        peer, peer_n, setup = pecanpy_runner(mode, edg, p, q, a.length, a.workers)
        jax.block_until_ready(ours())
        peer()
        t_ours, t_peer = [], []
        for i in range(a.repeats):
            for which in ((0, 1) if i % 2 == 0 else (1, 0)):
                t0 = time.perf_counter()
                if which == 0:
                    jax.block_until_ready(ours())
                    t_ours.append(time.perf_counter() - t0)
                else:
                    peer()
                    t_peer.append(time.perf_counter() - t0)
        steps_ours = starts.size * a.length
        steps_peer = peer_n * a.length
        ro, rp = steps_ours / np.median(t_ours), steps_peer / np.median(t_peer)
        rows.append({"setting": name, "peer": f"pecanpy.{mode}", "walkers": int(starts.size),
                     "length": a.length, "ours_s": float(np.median(t_ours)), "peer_s": float(np.median(t_peer)),
                     "ours_steps_per_s": ro, "peer_steps_per_s": rp, "ours/peer (throughput)": ro / rp,
                     "peer_setup_s": setup})
        print(json.dumps(rows[-1]))
    res = {"machine": f"{autotune.cpu_model()}, {os.cpu_count()} cores (shared with other jobs), "
                      f"jax {jax.__version__}, pecanpy workers={a.workers}",
           "ours_path": "native kernel (lib/native/walks.cc)" if walks.uses_native() else "pure JAX",
           "graph": f"random_graph({a.nodes}, {a.edges}) deduplicated: {n} nodes, {2 * len(pairs)} directed edges",
           "repeats": a.repeats, "load_avg_1min": [load0, os.getloadavg()[0]], "rows": rows}
    if not a.no_write:
        OUT.mkdir(exist_ok=True)
        (OUT / "walks.json").write_text(json.dumps(res, indent=1))
        md = ["# Random-walk benchmark (CPU)", "", f"Machine: {res['machine']}. Graph: {res['graph']}. "
              f"Ours: {res['ours_path']}. "
              f"One walk of {a.length} steps per node; medians of {a.repeats} interleaved runs; 1-minute load "
              f"{load0:.1f} before / {res['load_avg_1min'][1]:.1f} after (2 cores).", "",
              "| walks | peer | ours (s) | peer (s) | peer setup (s) | ours steps/s | peer steps/s | ours / peer |",
              "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            md.append(f"| {r['setting']} | {r['peer']} | {r['ours_s']:.2f} | {r['peer_s']:.2f} | "
                      f"{r['peer_setup_s']:.2f} | {r['ours_steps_per_s']:.3g} | {r['peer_steps_per_s']:.3g} | "
                      f"{r['ours/peer (throughput)']:.2f}x |")
        md += ["", "Peer setup: PecanPy's `_preprocess_transition_probs` (PreComp's alias tables), not in its walk "
               "time. Ours needs none (the CSR is built once for both).",
               "", "Target (issue 16): ours >= 1x the fastest installable walk library on CPU."]
        (OUT / "walks.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
