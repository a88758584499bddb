"""The network-embedding sweep (results/<dataset>.json) and the gensim benchmark -> README tables.

    python -m projects.network_embedding.report --run   # runs what is missing (resumable), then reports
    python -m projects.network_embedding.report         # tables from the committed results
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONFIG = os.path.join(ROOT, "configs", "network_embedding", "planetoid.py")
DATASETS = ("cora", "citeseer")
SEEDS = (0, 1)
RUNS = {"whole": ("whole graph", "method=whole"), "parts4": ("4 parts + border", "method=partitioned,num_parts=4"),
        "parts8": ("8 parts + border", "method=partitioned,num_parts=8"),
        "parts4_halo1": ("4 parts + border with a 1-hop halo", "method=partitioned,num_parts=4,halo=1")}


def run(root: str) -> None:
    from projects.network_embedding.train import train_and_evaluate

    for ds in DATASETS:
        args = {f"{name}_seed{s}": f"dataset={ds},{arg},seed={s}" for name, (_, arg) in RUNS.items() for s in SEEDS}
        report.run_sweep(CONFIG, args, os.path.join(root, ds), os.path.join(HERE, "results", f"{ds}.json"),
                         train_and_evaluate,
                         collect=report.collect_final)


def rows_for(ds: str, res: dict) -> list[dict]:
    rows = []
    for name, (label, _) in RUNS.items():
        finals = [r["final"] for k, r in res["runs"].items() if k.rsplit("_seed", 1)[0] == name]
        if not finals:
            continue
        ms = lambda key: (np.mean([f[key] for f in finals]), np.std([f[key] for f in finals]))
        acc, auc = ms("node_accuracy"), ms("link_auc")
        f0 = finals[0]
        rows.append({
            "dataset": ds, "run": label, "acc": f"{100 * acc[0]:.1f} ± {100 * acc[1]:.1f}",
            "f1": f"{100 * np.mean([f['node_macro_f1'] for f in finals]):.1f}", "auc": f"{auc[0]:.3f} ± {auc[1]:.3f}",
            "border": str(f0.get("border_nodes", "–")), "sub": str(f0["subgraphs"]),
            "cp": f"{f0['critical_path_fraction']:.2f}", "tokens": f"{f0['tokens'] / 1e6:.2f}M",
            "wall": f"{np.mean([f['wall_time_s'] for f in finals]):.0f}", "seeds": str(len(finals)),
        })
    return rows


def bench_section() -> str:
    path = os.path.join(ROOT, "benchmarks", "results", "network_embedding.json")
    if not os.path.exists(path):
        return ""
    res = json.load(open(path))
    f = lambda v, s: "–" if v is None else format(v, s)
    out = ["| graph | run | walks s | train s (ours: incl. compile) | subgraphs | critical path | node acc % | "
           "link AUC |", "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        acc = r.get("node_accuracy")
        out.append(f"| {r['graph']} | {r['run']} | {f(r.get('walks_s'), '.1f')} | {f(r.get('train_s'), '.1f')} | "
                   f"{r.get('subgraphs', '–')} | {f(r.get('critical_path'), '.2f')} | "
                   f"{'–' if acc is None else f'{100 * acc:.1f}'} | {f(r.get('link_auc'), '.3f')} |")
    return (f"`benchmarks/network_embedding.py` (machine: {res['machine']}; 1-minute load {res['load_avg_1min'][0]:.1f}"
            f" before / {res['load_avg_1min'][1]:.1f} after):\n\n" + "\n".join(out) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", action="store_true", help="run the missing runs first (resumable)")
    ap.add_argument("--root", default="runs/network_embedding")
    args = ap.parse_args()
    if args.run:
        run(args.root)
    rows, machine, cfg = [], None, None
    for ds in DATASETS:
        path = os.path.join(HERE, "results", f"{ds}.json")
        if os.path.exists(path):
            res = json.load(open(path))
            rows += rows_for(ds, res)
            machine, cfg = res["machine"], next(iter(res["runs"].values()))["config"]
    if not rows:
        return
    cols = [("dataset", "dataset"), ("run", "run"), ("node acc % (50/50 split)", "acc"), ("macro-F1 %", "f1"),
            ("link AUC (10 % edges held out)", "auc"), ("border nodes", "border"), ("subgraphs", "sub"),
            ("critical path", "cp"), ("walk tokens", "tokens"), ("wall s per run", "wall"), ("seeds", "seeds")]
    s = cfg["sgns"]
    text = (report.markdown_table(rows, cols) + "\n\n"
            f"DeepWalk: {cfg['walks_per_node']} walks of {cfg['walk_length']} steps per node (on each subgraph for "
            f"the partitioned runs), skip-gram dim {s['dim']}, window {s['window']}, {s['negatives']} negatives, "
            f"{s['epochs']} epoch, sparse SGD lr {s['lr']} decayed linearly, batch {s['batch']}; seeds "
            f"{', '.join(map(str, SEEDS))}; machine: {machine}; config `configs/network_embedding/planetoid.py`. "
            "Critical path: the largest subgraph's SGD steps over all subgraphs' (what the slowest of k + 1 "
            "parallel workers does, relative to one worker doing all of it).\n\n" + bench_section())
    report.replace_section(os.path.join(HERE, "README.md"), "results", text)
    print(text)


if __name__ == "__main__":
    main()
