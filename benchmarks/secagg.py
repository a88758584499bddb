"""Cost of secure aggregation: a FedAvg round with zero-sum masked aggregation vs the plain round.

Same inputs, timed interleaved in one process after a warm-up (compile excluded):

- round: one lib.fl.engine round (20 clients x 64 samples, batch 16, 1 local epoch; the MLP
  784-200-200-10 and the small EMNIST CNN of benchmarks/fl_round.py) with `fedavg` and with
  `secure_fedavg` flat (1 group), hierarchical (4 groups) and with 2 dropouts recovered;
- aggregation alone: the rule on K x D float32 updates (K = 100, D = 1M by default).

Target (Citadel reproduction): a masked round <= 1.2x the plain round.

    python benchmarks/secagg.py [--repeats 5] [--models mlp,small_cnn] [--agg 100x1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import fl_round as fr  # noqa: E402
from lib.autotune import cpu_model  # noqa: E402
from lib.fl import aggregate  # noqa: E402

VARIANTS = {"plain": ("fedavg", {}),
            "secure_flat": ("secure_fedavg", {}),
            "secure_4_groups": ("secure_fedavg", {"groups": 4}),
            "secure_2_dropouts": ("secure_fedavg", {"dropouts": 2})}


def interleaved(runners: dict, repeats: int) -> dict:
    times = {k: [] for k in runners}
    names = list(runners)
    for r in range(repeats):
        for k in names[r % len(names):] + names[:r % len(names)]:  # rotate the order
            t = time.perf_counter()
            runners[k]()
            times[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {k: {"median_s": med[k], "times_s": times[k], "vs_plain": med[k] / med["plain"]} for k in names}


def aggregation(k: int, d: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    upd = {"w": jnp.asarray(rng.standard_normal((k, d), dtype=np.float32) * 1e-2)}
    w = jnp.ones(k, jnp.float32)
    key = jax.random.PRNGKey(0)
    runners = {}
    for name, (rule, params) in VARIANTS.items():
        fn = aggregate.get_rule(rule)
        runners[name] = (lambda fn=fn, params=params: jax.block_until_ready(fn(upd, w, None, key, **params)))
        runners[name]()
    return interleaved(runners, repeats)


def markdown(res: dict) -> str:
    lines = ["# Secure aggregation overhead (CPU)", "",
             f"Host CPU: {res['cpu_model']}, {res['cpu_count']} cores, jax {res['jax']}; load average "
             f"{res['load_before']:.1f} before / {res['load_after']:.1f} after (2 cores: above 2 the machine was "
             "shared; the times are interleaved, so compare the ratios). Medians of "
             f"{res['repeats']} repeats.", "",
             "| workload | plain (ms) | secure flat | secure, 4 groups | secure, 2 dropouts |", "|---|---|---|---|---|"]
    for name, row in res["rows"].items():
        cells = [f"{1e3 * row['plain']['median_s']:.1f}"]
        cells += [f"{1e3 * row[v]['median_s']:.1f} ({row[v]['vs_plain']:.2f}x)" for v in list(VARIANTS)[1:]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Target: a masked round <= 1.2x the plain round. The aggregation-alone row shows the masking "
              "work itself against a plain weighted mean: fixed-point encoding plus 2 x neighbours mask streams "
              "of D words per client (default neighbours = 2)."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", default="mlp,small_cnn")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--agg", default="100x1000000", help="KxD of the aggregation-alone row ('' to skip)")
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    a = ap.parse_args(argv)
    res = {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "jax": jax.__version__, "repeats": a.repeats,
           "load_before": os.getloadavg()[0], "rows": {}}
    for m in filter(None, a.models.split(",")):
        x, y, parts, params, loss_fn = fr.setup(m, a.clients)
        runners = {k: fr.ours(x, y, parts, params, loss_fn, "auto", aggregator=rule, rule_params=p)[0]
                   for k, (rule, p) in VARIANTS.items()}
        for run in runners.values():  # first execution outside the timings
            run()
        res["rows"][f"round: {m}, {a.clients} clients"] = interleaved(runners, a.repeats)
        print(m, {k: round(v["vs_plain"], 3) for k, v in res["rows"][f"round: {m}, {a.clients} clients"].items()},
              flush=True)
    if a.agg:
        k, d = map(int, a.agg.split("x"))
        res["rows"][f"aggregation alone: K={k} x D={d}"] = aggregation(k, d, a.repeats)
    res["load_after"] = os.getloadavg()[0]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "secagg.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(a.out, "secagg.md"), "w") as f:
        f.write(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
