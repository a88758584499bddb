"""DeepWalk embeddings: ours (whole graph, and partitioned + merged) vs gensim's Word2Vec on the
same walks, same skip-gram settings (dimension, window, negatives, epochs, linear learning-rate
decay from 0.025, no frequent-word downsampling).

- Quality (Cora, data root): node classification accuracy (logistic regression, 50/50 split) and
  link-prediction AUC (10 % of edges held out before the walks), all three from the same code.
- Speed (a generated graph with locality, default 1M nodes in 1,000 communities, average degree
  10, 98 % of edges inside a community: a contextual SBM from lib.graph.synthetic): wall time of the
  skip-gram training on the whole graph's walks, ours vs gensim (`Word2Vec(corpus_file=...)`, its
  fastest documented path, `workers` threads; writing the walk file is not timed); and of the
  partitioned run (walks + training of every subgraph at once + merge), on one device and with the
  subgraphs over the simulated devices. The critical path (the largest subgraph's SGD steps over
  all of them) is what k machines in parallel would take relative to one.

    XLA_FLAGS=--xla_force_host_platform_device_count=8 PYTHONPATH=. python benchmarks/network_embedding.py
Writes benchmarks/results/network_embedding.{json,md}. gensim is in the `bench` extra.
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
from projects.network_embedding import train as ne

OUT = pathlib.Path(__file__).resolve().parent / "results"


def config(dataset: str, method: str, args):
    from configs.network_embedding import default

    c = default.get_config(f"method={method},num_parts={args.parts}")
    c.dataset = dataset
    c.csbm.num_nodes, c.csbm.num_classes, c.csbm.avg_degree, c.csbm.homophily = args.nodes, args.communities, 10.0, 0.98
    c.walks_per_node, c.walk_length = (10, 40) if dataset == "cora" else (1, 20)
    c.sgns.dim, c.sgns.batch = 64, args.batch
    c.link_holdout = 0.1 if dataset == "cora" else 0.0
    return c


def ours(c, a, b, n, chunk=1000):
    """(embedding, seconds: walks, train (compile included), merge, critical path fraction)."""
    cfg = ne.validate(c)
    prep = ne.prepare(c, cfg, a, b, n)
    t = time.perf_counter()
    tables = prep.tables
    for first in range(0, int(prep.totals.max()), chunk):
        tables, _ = ne.run_chunk(prep, tables, first, chunk)
    jax.block_until_ready(tables)
    train_s = time.perf_counter() - t
    t = time.perf_counter()
    e, _ = ne.final_embedding(prep, tables, n)
    return e, {"walks_s": prep.walk_s, "train_s": train_s, "merge_s": time.perf_counter() - t,
               "critical_path": float(prep.totals.max() / prep.totals.sum()), "subgraphs": len(prep.sizes),
               "tokens": prep.tokens, "devices": 1 if ne.graph_sharding(len(prep.sizes)) is None else jax.device_count()}


def gensim_run(c, a, b, n, workers: int):
    """gensim skip-gram on our whole-graph walks: (embedding [N, D], train seconds)."""
    from gensim.models import Word2Vec

    cfg = ne.validate(c)
    _, us, ur, offsets = ne.subgraphs(c, a, b, n)
    nodes, mask, _ = ne.stacked_walks(c, us, ur, offsets, jax.random.fold_in(jax.random.key(c.seed), 0))
    path = os.path.join(tempfile.mkdtemp(), "walks.txt")
    with open(path, "w") as f:
        for w, m in zip(nodes[0], mask[0]):
            f.write(" ".join(map(str, w[m])) + "\n")
    t = time.perf_counter()
    model = Word2Vec(corpus_file=path, vector_size=cfg.dim, window=cfg.window, negative=cfg.negatives, sg=1, hs=0,
                     min_count=1, sample=0, epochs=cfg.epochs, alpha=cfg.lr, min_alpha=cfg.lr * 1e-4,
                     workers=workers, seed=c.seed)
    secs = time.perf_counter() - t
    e = np.zeros((n, cfg.dim), np.float32)
    for key in model.wv.index_to_key:
        e[int(key)] = model.wv[key]
    return e, secs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=1_000_000)
    p.add_argument("--communities", type=int, default=1000)
    p.add_argument("--parts", type=int, default=7)  # + the border graph: 8 subgraphs, one per simulated device
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    load0 = os.getloadavg()[0]
    rows = []
    if not args.skip_quality:
        for method in ("whole", "partitioned"):
            c = config("cora", method, args)
            a, b, n, y = ne.load_graph(c)
            (a, b), pos, neg = ne.hold_out(a, b, n, c.link_holdout, c.seed)
            e, t = ours(c, a, b, n)
            rows.append({"graph": "cora", "run": f"ours, {method}", **t, "link_auc": ne.link_auc(e, pos, neg),
                         **ne.classify(e, y, c.seed)})
            print(json.dumps(rows[-1]))
            if method == "whole":
                e, secs = gensim_run(c, a, b, n, args.workers)
                rows.append({"graph": "cora", "run": f"gensim {__import__('gensim').__version__}", "train_s": secs,
                             "link_auc": ne.link_auc(e, pos, neg), **ne.classify(e, y, c.seed)})
                print(json.dumps(rows[-1]))
    if not args.skip_speed:
        c = config("csbm", "whole", args)
        a, b, n, _ = ne.load_graph(c)
        _, t = ours(c, a, b, n)
        rows.append({"graph": f"generated {n} nodes", "run": "ours, whole", **t})
        print(json.dumps(rows[-1]))
        _, secs = gensim_run(c, a, b, n, args.workers)
        rows.append({"graph": f"generated {n} nodes", "run": f"gensim {__import__('gensim').__version__}", "train_s": secs})
        print(json.dumps(rows[-1]))
        _, t = ours(config("csbm", "partitioned", args), a, b, n)
        rows.append({"graph": f"generated {n} nodes", "run": f"ours, partitioned ({args.parts} parts + border)", **t})
        print(json.dumps(rows[-1]))
    res = {"machine": f"{autotune.cpu_model()}, {os.cpu_count()} cores, jax {jax.__version__}, "
                      f"{jax.device_count()} (simulated) devices, gensim workers={args.workers}",
           "load_avg_1min": [load0, os.getloadavg()[0]], "rows": rows}
    if args.no_write:
        return
    OUT.mkdir(exist_ok=True)
    (OUT / "network_embedding.json").write_text(json.dumps(res, indent=1))
    f = lambda v, s=".3f": "–" if v is None else format(v, s)
    md = ["# DeepWalk embeddings: ours vs gensim (CPU)", "", f"Machine: {res['machine']}; 1-minute load "
          f"{load0:.1f} before / {res['load_avg_1min'][1]:.1f} after. Same walks for ours (whole) and gensim; "
          "dimension 64, window 5, 5 negatives, 1 epoch, lr 0.025 decayed linearly.", "",
          "| graph | run | walks s | train s (ours: incl. compile) | merge s | subgraphs | critical path | "
          "node acc | macro-F1 | link AUC |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['graph']} | {r['run']} | {f(r.get('walks_s'), '.1f')} | {f(r.get('train_s'), '.1f')} | "
                  f"{f(r.get('merge_s'), '.2f')} | {r.get('subgraphs', '–')} | {f(r.get('critical_path'), '.2f')} | "
                  f"{f(r.get('node_accuracy'))} | {f(r.get('node_macro_f1'))} | {f(r.get('link_auc'))} |")
    (OUT / "network_embedding.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
