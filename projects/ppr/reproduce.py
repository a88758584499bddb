"""PowerWalk accuracy and query-time tables: configs/ppr/cora.py for cora, citeseer and random.
Each dataset's result (lib.autotune.cpu_model, load average, wall time added) is appended to
projects/ppr/results/accuracy.json; `python -m projects.ppr.report` renders the README table.

    TESSERA_DATA_DIR=/work/shared/data nice python -m projects.ppr.reproduce [--datasets cora,citeseer,random]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

from configs.ppr import cora as cfg
from lib import autotune
from projects.ppr import train

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="cora,citeseer,random")
    a = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "accuracy.json"
    for ds in a.datasets.split(","):
        rows = json.loads(path.read_text()) if path.exists() else []
        c = cfg.get_config(ds)
        load0, t0 = os.getloadavg()[0], time.perf_counter()
        res = train.evaluate(c)
        res.update(config=f"configs/ppr/cora.py:{ds}", wall_time_s=time.perf_counter() - t0,
                   machine=f"{autotune.cpu_model()}, {os.cpu_count()} cores, shared with other jobs",
                   load_avg_1min=[load0, os.getloadavg()[0]], walks_per_node=list(c.walks_per_node),
                   max_steps=c.max_steps)
        rows = [r for r in rows if r["dataset"] != ds] + [res]
        path.write_text(json.dumps(rows, indent=1))
        print(ds, f"{res['wall_time_s']:.0f}s", flush=True)


if __name__ == "__main__":
    main()
