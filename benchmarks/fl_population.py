"""Cohort rounds over a 1,000,000-client population vs a 10,000-client one (issue 10).

Both populations are FedProx's Synthetic(1, 1) with 2-8 samples per client, memory-mapped
from the cache folder (generated on first use: ~1.2 GB for 1M clients). Each round draws a
cohort of 1,000 clients, gathers their samples on the host (prefetched one round ahead),
gathers / scatters a per-client state [N] held on the host, and runs the jitted cohort round
(MLP 60-32-10, 1 local epoch, batch 4, FedAvg). Reported per population: median round time,
the compiled round's device memory (arguments + outputs + temporaries, from XLA's memory
analysis), bytes of live device arrays after the run, and the process's peak host RSS.
The two populations run interleaved in one process.

    python benchmarks/fl_population.py [--rounds 10] [--cohort 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from lib.autotune import cpu_model  # noqa: E402
from lib.fl import client as client_lib  # noqa: E402
from lib.fl import engine, participation, population, runner, server  # noqa: E402
from lib.models.mlp import MLP  # noqa: E402

BATCH = 4


def make_run(n: int, cohort: int):
    pop = population.synthetic_cached(num_clients=n, seed=0, alpha=1.0, beta=1.0, dim=60, num_classes=10,
                                      min_samples=2, max_samples=8, spread=0.5)
    model = MLP(hidden=(32,), num_classes=10)
    params = model.init(jax.random.PRNGKey(0), jnp.asarray(pop.x[:1]))["params"]

    def loss_fn(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x), y)

    sim = engine.build(loss_fn=loss_fn, local=client_lib.LocalConfig(BATCH, "epochs"),
                       participation=participation.uniform(n, cohort), server_opt=server.make("sgd", 1.0),
                       capacity=cohort, mesh=engine.clients_mesh(),
                       client_state_init=lambda p: {"selected": jnp.int32(0)})
    feeder = population.CohortFeeder(pop, cohort=cohort, capacity=sim.capacity, batch_size=BATCH, seed=0,
                                     place=lambda d: engine.put_data(sim, d))
    step = runner.population_step(sim, {"lr": 0.05})
    state = {"st": engine.init(sim, params, 0, host_clients=True)}

    def run_round():
        st = state["st"]
        new, _ = step(st, feeder.get(int(st["step"])))
        jax.block_until_ready(new["params"])
        state["st"] = new

    def memory():
        st = state["st"]
        ids = population.cohort_ids(0, 0, n, cohort)
        cohort_in = {"data": feeder._prepare(0)["data"], "ids": jnp.asarray(ids, jnp.int32),
                     "valid": jnp.ones(sim.capacity, bool), "byzantine": jnp.zeros(sim.capacity, bool),
                     "clients": population.gather_states(st["clients"], feeder._prepare(0)["ids"])}
        dev = {k: v for k, v in st.items() if k != "clients"}
        ma = engine.jit(sim, engine.cohort_round_fn(sim)).lower(dev, cohort_in, {"lr": 0.05}).compile().memory_analysis()
        return {"argument_bytes": ma.argument_size_in_bytes, "output_bytes": ma.output_size_in_bytes,
                "temp_bytes": ma.temp_size_in_bytes}

    return pop, run_round, memory, feeder


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--cohort", type=int, default=1000)
    ap.add_argument("--sizes", default="10000,1000000")
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = {}
    for n in sizes:
        t = time.perf_counter()
        runs[n] = make_run(n, args.cohort)
        print(f"population {n}: ready in {time.perf_counter() - t:.1f} s", flush=True)
    load_before = os.getloadavg()[0]
    for n, (_, run_round, _, _) in runs.items():  # warm-up: compile
        run_round()
    times = {n: [] for n in runs}
    for _ in range(args.rounds):
        for n, (_, run_round, _, _) in runs.items():
            t = time.perf_counter()
            run_round()
            times[n].append(time.perf_counter() - t)
    res = {"cohort": args.cohort, "rounds": args.rounds, "device": jax.devices()[0].device_kind,
           "devices": jax.device_count(), "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
           "load_avg_1m_before": load_before, "load_avg_1m_after": os.getloadavg()[0], "populations": {}}
    for n, (pop, _, memory, feeder) in runs.items():
        res["populations"][str(n)] = {"num_samples": int(pop.offsets[-1]), "median_round_s": statistics.median(times[n]),
                                      "round_times_s": times[n], **memory()}
        feeder.close()
    live = sum(a.nbytes for a in jax.live_arrays())
    res["live_device_bytes_end"] = live
    res["peak_host_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    small, big = (res["populations"][str(n)] for n in (min(sizes), max(sizes)))
    res["round_time_ratio_big_over_small"] = big["median_round_s"] / small["median_round_s"]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "fl_population.json"), "w") as f:
        json.dump(res, f, indent=2)
    md = markdown(res)
    with open(os.path.join(args.out, "fl_population.md"), "w") as f:
        f.write(md)
    print(md)


def markdown(res) -> str:
    rows = ["## FL populations far larger than memory: 1M vs 10k clients, same cohort", "",
            f"Generated by `benchmarks/fl_population.py` from `fl_population.json`. Cohort {res['cohort']} clients "
            f"per round (1 local epoch, batch {BATCH}, MLP 60-32-10, FedAvg), {res['rounds']} interleaved rounds "
            f"per population after a warm-up. Device: {res['device']} ({res['devices']}); host CPU "
            f"{res['cpu_model']}, {res['cpu_count']} cores, load {res['load_avg_1m_before']:.2f} before, "
            f"{res['load_avg_1m_after']:.2f} after.", "",
            "| population | samples | round (s, median) | device memory of the round: args / outputs / temps (bytes) |",
            "|---|---|---|---|"]
    for n, p in res["populations"].items():
        rows.append(f"| {int(n):,} | {p['num_samples']:,} | {p['median_round_s']:.3f} | "
                    f"{p['argument_bytes']:,} / {p['output_bytes']:,} / {p['temp_bytes']:,} |")
    rows += ["", f"Round time 1M / 10k: **{res['round_time_ratio_big_over_small']:.3f}x** (target: within 1.10x). "
             f"Live device arrays at the end: {res['live_device_bytes_end']:,} bytes; peak host RSS "
             f"{res['peak_host_rss_mb']:.0f} MB (the 1M population's samples are memory-mapped; per-client "
             "states [N] live on the host)."]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    main()
