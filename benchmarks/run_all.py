"""Runs every benchmark (ours vs peers, one process each) and rebuilds benchmarks/README.md.

    python benchmarks/run_all.py              # run all, then rebuild the README
    python benchmarks/run_all.py --readme     # only rebuild the README from results/*.md
    python benchmarks/run_all.py gnn moe_layer

Each benchmark writes results/<name>.json (every number) and results/<name>.md (its table,
generated from the JSON); the README is those tables under a fixed header.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ORDER = ["aggregators", "aggregators_idle", "aggregators_select_idle", "fl_round_cpu", "fl_round_cpu_mlp", "fl_population", "gossip",
         "moe_layer", "gnn", "gnn_sage", "ppr", "walks", "sgns_native", "vfl", "secagg", "async_fl_cpu"]
HEADER = """# Benchmarks

Each benchmark runs our code and the peer's on the same inputs in one process, and reports
times as medians of repeated runs and as ratios (peer / ours, or ours / floor). Numbers
below are generated from `results/<name>.json` by the benchmark scripts; rerun with
`make bench` (installs the peers) or `python benchmarks/run_all.py NAME`.

Timings are never asserted in tests. Unless a section says otherwise they were taken on
the 2-core CPU development machine, which other jobs were sharing while they ran: ratios
(both sides measured interleaved in one run) are more trustworthy than absolute times.
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*")
    ap.add_argument("--readme", action="store_true", help="only rebuild README.md")
    ap.add_argument("--accelerator", action="store_true",
                    help="run benchmarks/accelerator.py (every benchmark at accelerator sizes), then the README")
    args = ap.parse_args(argv)
    if args.accelerator:
        status = subprocess.call([sys.executable, os.path.join(HERE, "accelerator.py")], cwd=REPO)
        main(["--readme"])
        return status
    names = args.names or [n for n in ORDER + ["fl_round"] if os.path.exists(os.path.join(HERE, f"{n}.py"))]
    status = 0
    if not args.readme:
        for name in names:
            print(f"== {name}", flush=True)
            status |= subprocess.call([sys.executable, os.path.join(HERE, f"{name}.py")], cwd=REPO)
    parts = [HEADER]
    tables = {os.path.basename(p)[:-3]: p for p in glob.glob(os.path.join(HERE, "results", "*.md"))}
    for name in ORDER + sorted(set(tables) - set(ORDER)):
        if name in tables:
            with open(tables[name]) as f:  # each table's own title becomes a section
                text = f.read().strip()
            if text.startswith("# "):
                text = "#" + text
            elif not text.startswith("#"):
                text = f"## {name} (benchmarks/{name}.py)\n\n{text}"
            parts.append(text + "\n")
    with open(os.path.join(HERE, "README.md"), "w") as f:
        f.write("\n".join(parts))
    return status


if __name__ == "__main__":
    sys.exit(main())
