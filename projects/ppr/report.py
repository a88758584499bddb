"""Renders the README table from projects/ppr/results/accuracy.json.

    python -m projects.ppr.report
"""
from __future__ import annotations

import json
import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "results", "accuracy.json")
PAPER = "not reported for these graphs (paper: Twitter, UK-2007 etc., accuracy vs Monte Carlo and power iteration)"


def rows():
    out = []
    for res in json.load(open(PATH)) if os.path.exists(PATH) else []:
        n = res["num_sources"]
        for r in res["rows"]:
            single = next(x for x in res["rows"] if x["walks_per_node"] == r["walks_per_node"] and x["hops"] == 0)
            out.append({
                "graph": f"{res['dataset']} ({res['num_nodes']:,} nodes, {res['num_edges']:,} edges)",
                "src": f"{n:,} ({'all' if res['exact'] == 'dense solve' else 'sampled'})",
                "R": r["walks_per_node"], "hops": r["hops"] if r["hops"] else "0 (single fingerprint)",
                "l1": f"{r['l1_mean']:.4f}", "rel": f"{r['l1_mean'] / single['l1_mean']:.3f}",
                "online": f"{r['online_s']:.3f}", "offline": f"{r['offline_s']:.1f}",
                "t": r["power_iters_equal_error"], "pq": f"{r['power_per_query_s']:.2f}",
                "pb": f"{r['power_batched_s']:.3f}",
                "x_pq": f"{r['speedup_vs_per_query_power']:.0f}x", "x_pb": f"{r['speedup_vs_batched_power']:.2f}x",
                "cfg": f"`{res['config']}`"})
    return out


def main():
    cols = [("graph", "graph"), ("sources", "src"), ("R walks/node", "R"), ("hops", "hops"),
            ("mean L1 vs exact", "l1"), ("L1 / single fingerprint", "rel"), ("online s (all sources)", "online"),
            ("offline walks s", "offline"), ("power iters at equal L1", "t"),
            ("per-query power s", "pq"), ("batched power s", "pb"), ("speed-up vs per-query", "x_pq"),
            ("vs batched power", "x_pb"), ("config", "cfg")]
    report.replace_section(os.path.join(HERE, "README.md"), "accuracy", report.markdown_table(rows(), cols))
    meta = json.load(open(PATH)) if os.path.exists(PATH) else []
    lines = [f"- {m['dataset']}: {m['machine']}; 1-minute load {m['load_avg_1min'][0]:.1f} / "
             f"{m['load_avg_1min'][1]:.1f} (before / after); wall {m['wall_time_s']:.0f} s; exact PPR by "
             f"{m['exact']} ({m['exact_s']:.1f} s); per-query power iteration timed on {m['timing_queries']} "
             f"sources and scaled to all; alpha {m['alpha']}, walk budget {m['max_steps']} steps." for m in meta]
    report.replace_section(os.path.join(HERE, "README.md"), "machine", "\n".join(lines))


if __name__ == "__main__":
    main()
