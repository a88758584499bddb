"""Simulated asynchronous FL: a 1,000-client FedBuff run on a virtual clock, lib.fl.clock vs
APPFL's own virtual-time simulator (appfl.vsim.AsyncSimDriver, APPFL 1.12), same inputs.

Setting: FedProx Synthetic(1, 1) (generated; 60 features, 10 classes) split over 1,000 clients,
MLP 60-32-10, 5 local SGD steps of batch 16 at lr 0.05, FedBuff with buffer K = 10 (APPFL's
FedBuffAggregator + AsyncScheduler; ours: schedule 'fedbuff', buffer_size 10, server lr 1), all
1,000 clients in flight. Speeds: one recorded trace (log-normal step times, sigma 0.5, median
1 s; written as the CSV both read: ours as `clock.speed='trace'`, APPFL as each client's
ClientProfile.compute_factor with base_step_time 1 s), 1 GB/s links both ways.

Both simulate the same events (same arrivals: the trace decides them) until `--updates` client
updates are aggregated; timed from the first dispatch (APPFL: driver.run(); ours: the host
schedule + batched jitted updates + server steps, compile included in a separate number).
Reported: aggregated client updates per real second, local trainings per real second, ratio.
APPFL is timed with its defaults (optimize_memory=True: gc.collect() after each update) and
with optimize_memory=False. Results: benchmarks/results/async_fl[_<platform>].json and .md.

    python benchmarks/async_fl.py [--clients 1000] [--updates 2000]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from lib import autotune  # noqa: E402
from lib.fl import engine, runner, tasks  # noqa: E402
from lib.fl.clock import run as crun  # noqa: E402

HIDDEN, STEPS, BATCH, LR, K = 32, 5, 16, 0.05, 10

MODEL_PY = """
import torch.nn as nn
class MLP(nn.Module):
    def __init__(self, d_in, hidden, classes):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, classes))
    def forward(self, x):
        return self.net(x)
"""
METRIC_PY = """
import numpy as np
def accuracy(y_true, y_pred):
    y_pred = np.asarray(y_pred)
    return float(np.mean(np.asarray(y_true) == (y_pred.argmax(1) if y_pred.ndim > 1 else y_pred)))
"""
DATA_PY = """
import numpy as np, torch
from torch.utils.data import TensorDataset
def get_data(client_id, path):
    d = np.load(path.format(client_id))  # one small file per client: APPFL loads the data once per agent
    return TensorDataset(torch.from_numpy(d["x"]), torch.from_numpy(d["y"]).long()), None
"""


def config(clients: int, trace: str):
    c = tasks.default_config("bench")
    c.total = None
    c.num_clients = clients
    c.model.hidden = (HIDDEN,)
    c.local.batch_size, c.local.num_steps, c.local.lr = BATCH, STEPS, LR
    c.clock = crun.default_clock()
    c.clock.update({"schedule": "fedbuff", "buffer_size": K, "speed": "trace", "trace_path": trace,
                    "bandwidth": 1e9, "max_batch": 64, "time_budget": 1e9})
    c.mesh = (("clients", 1),)
    return c


def write_trace(path: str, clients: int, seed: int = 0) -> np.ndarray:
    st = np.exp(0.5 * np.random.default_rng(seed).standard_normal(clients))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["client", "step_time", "bandwidth", "latency"])
        for k, s in enumerate(st):
            w.writerow([k, repr(float(s)), 1e9, 0.0])
    return st


def ours(c, task, updates: int) -> dict:
    clock, ex = crun.build(c, task)
    data = engine.put_data(ex.sim, task.data)
    hp = runner.hparams(c)
    state = engine.put_state(ex.sim, ex.init(task.params, 0))
    st = clock.init()
    t0 = time.perf_counter()
    done = trained = 0
    first = None
    while done < updates:
        st, plan = clock.advance(st)
        state, m = ex.apply(state, plan, data, hp)
        if first is None:
            jax.block_until_ready(state["params"])
            first = time.perf_counter() - t0  # includes compiling the first buckets
        done += plan.agg_slots.size
        trained += plan.close_slots.size
    jax.block_until_ready(state["params"])
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "first_aggregation_s": first, "updates": done, "trained": trained,
            "virtual_time": float(st["time"]), "updates_per_s": done / wall, "trained_per_s": trained / wall}


def appfl(task, step_times, updates: int, tmp: str, optimize_memory: bool) -> dict:
    import torch
    from omegaconf import OmegaConf

    from appfl.agent import ClientAgent, ServerAgent
    from appfl.config import ClientAgentConfig, ServerAgentConfig
    from appfl.vsim import AsyncSimDriver, ClientProfile

    torch.set_num_threads(os.cpu_count() or 1)
    n = len(step_times)
    idx, ns = np.asarray(task.data.index), np.asarray(task.data.num_samples)
    xs = [np.asarray(task.data.x)[idx[k, : ns[k]]] for k in range(n)]
    ys = [np.asarray(task.data.y)[idx[k, : ns[k]]] for k in range(n)]
    npz = os.path.join(tmp, "data_{}.npz")
    for k in range(n):
        np.savez(npz.format(k), x=xs[k].astype(np.float32), y=ys[k].astype(np.int64))
    for name, src in (("model.py", MODEL_PY), ("data.py", DATA_PY), ("metric.py", METRIC_PY)):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(src)
    d_in = xs[0].shape[1]
    train = {"trainer": "VanillaTrainer", "mode": "step", "num_local_steps": STEPS, "optim": "SGD",
             "optim_args": {"lr": LR}, "loss_fn": "CrossEntropyLoss", "train_batch_size": BATCH,
             "device": "cpu", "do_validation": False, "optimize_memory": optimize_memory,
             "metric_path": os.path.join(tmp, "metric.py"), "metric_name": "accuracy"}
    model = {"model_path": os.path.join(tmp, "model.py"), "model_name": "MLP",
             "model_kwargs": {"d_in": d_in, "hidden": HIDDEN, "classes": 10}}
    model_kwargs = dict(model)  # the server's copy loses model_path (it ships the source instead)
    server_cfg = ServerAgentConfig(
        client_configs=OmegaConf.create({"train_configs": train, "model_configs": model}),
        server_configs=OmegaConf.create({
            "num_clients": n, "aggregator": "FedBuffAggregator",
            "aggregator_kwargs": {"K": K, "num_clients": n, "client_weights_mode": "equal",
                                  "staleness_fn": "constant", "alpha": 1.0, "optimize_memory": optimize_memory},
            "scheduler": "AsyncScheduler", "scheduler_kwargs": {"num_clients": n, "optimize_memory": optimize_memory},
            "num_global_epochs": updates, "device": "cpu", "optimize_memory": optimize_memory,
            "logging_output_dirname": os.path.join(tmp, "logs"), "logging_output_filename": "server"}))
    quiet = logging.getLogger("appfl_bench")
    quiet.setLevel(logging.ERROR)
    t_setup = time.perf_counter()
    server = ServerAgent(server_cfg)
    clients = []
    for k in range(n):
        cc = ClientAgentConfig(
            train_configs=OmegaConf.create({**train, "logging_output_dirname": os.path.join(tmp, "logs"),
                                            "logging_output_filename": f"c{k}"}),
            model_configs=OmegaConf.create(model_kwargs),
            data_configs=OmegaConf.create({"dataset_path": os.path.join(tmp, "data.py"), "dataset_name": "get_data",
                                           "dataset_kwargs": {"client_id": k, "path": npz}}))
        cc.client_id = str(k)
        cc.optimize_memory = optimize_memory  # ClientAgent reads it from the top level of its config
        clients.append(ClientAgent(cc))
    profiles = {str(k): ClientProfile(compute_factor=float(step_times[k]), bandwidth=8000.0) for k in range(n)}
    driver = AsyncSimDriver(server, clients, profiles, max_in_flight=n, logger=quiet, seed=0, base_step_time=1.0)
    setup = time.perf_counter() - t_setup
    t0 = time.perf_counter()
    driver.run()
    wall = time.perf_counter() - t0
    done = len(driver.history)
    trained = done + len(driver._pending)
    return {"wall_s": wall, "setup_s": setup, "updates": done, "trained": trained,
            "virtual_time": float(driver.virtual_time), "updates_per_s": done / wall, "trained_per_s": trained / wall,
            "optimize_memory": optimize_memory}


def markdown(res: dict) -> str:
    rows = ["| implementation | client updates aggregated | local trainings | real s | updates / real s | "
            "trainings / real s | ours faster by |", "|---|---|---|---|---|---|---|"]
    o = res["ours"]
    for name, r in [("lib.fl.clock (ours)", o)] + [(f"APPFL vsim, optimize_memory={p['optimize_memory']}", p)
                                                  for p in res["appfl"]]:
        ratio = "–" if r is o else f"{o['updates_per_s'] / r['updates_per_s']:.1f}x"
        rows.append(f"| {name} | {r['updates']} | {r['trained']} | {r['wall_s']:.1f} | {r['updates_per_s']:.3g} | "
                    f"{r['trained_per_s']:.3g} | {ratio} |")
    after = (o["updates"] - K) / (o["wall_s"] - o["first_aggregation_s"])
    extra = (f" After the first aggregation (most buckets compiled) ours runs "
             f"{after:.0f} updates / real s, {after / res['appfl'][0]['updates_per_s']:.0f}x APPFL's rate.")
    return ("## Asynchronous FL simulation: lib.fl.clock vs APPFL vsim (benchmarks/async_fl.py)\n\n"
            f"Asynchronous FL simulation, {res['clients']} clients, FedBuff K={K}, {res['updates']} aggregated "
            f"updates, same speed trace (virtual time simulated: ours {o['virtual_time']:.1f} s, APPFL "
            f"{res['appfl'][0]['virtual_time']:.1f} s). Host: {res['cpu_model']}, {res['cpu_count']} cores, load average "
            f"{res['load_avg_1m_before']:.2f} before / {res['load_avg_1m_after']:.2f} after (shared machine). "
            f"Each implementation runs in its own process. Ours includes compiling ({o['first_aggregation_s']:.1f} s to the first aggregation); APPFL's agent "
            f"setup ({res['appfl'][0]['setup_s']:.1f} s) is not counted. Ratio = our aggregated updates per real second / "
            f"APPFL's (the runs share the trace; APPFL's default mode, when run, is timed over fewer updates).{extra}\n\n" + "\n".join(rows) + "\n")


def _child(which: str, args, trace: str, out_json: str) -> dict:
    """Runs one implementation in a fresh process (APPFL's gc.collect() calls scale with the
    process's live objects, so ours must not share its heap)."""
    import subprocess

    cmd = [sys.executable, os.path.abspath(__file__), "--only", which, "--clients", str(args.clients),
           "--updates", str(args.updates if which == "ours" or which == "appfl" else args.default_updates),
           "--trace", trace, "--json", out_json]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{which} failed:\n{proc.stderr[-3000:]}")
    with open(out_json) as f:
        return json.load(f)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--updates", type=int, default=2000)
    ap.add_argument("--default-updates", type=int, default=100,
                    help="updates for APPFL with its default optimize_memory=True (slow: gc per update)")
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--skip-default", action="store_true", help="leave out APPFL with optimize_memory=True")
    ap.add_argument("--only", choices=["ours", "appfl", "appfl-default"])
    ap.add_argument("--trace")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if args.only:  # child process
        c = config(args.clients, args.trace)
        task = tasks.load_task(c)
        if args.only == "ours":
            r = ours(c, task, args.updates)
        else:
            st = np.array([float(row["step_time"]) for row in csv.DictReader(open(args.trace))])
            r = appfl(task, st, args.updates, tempfile.mkdtemp(prefix="async_fl_"), args.only == "appfl-default")
        with open(args.json, "w") as f:
            json.dump(r, f)
        return
    tmp = tempfile.mkdtemp(prefix="async_fl_")
    trace = os.path.join(tmp, "trace.csv")
    write_trace(trace, args.clients)
    res = {"clients": args.clients, "updates": args.updates, "cpu_model": autotune.cpu_model(),
           "cpu_count": os.cpu_count(), "load_avg_1m_before": os.getloadavg()[0], "jax": jax.__version__,
           "device_kind": jax.devices()[0].device_kind, "platform": jax.devices()[0].platform}
    res["ours"] = _child("ours", args, trace, os.path.join(tmp, "ours.json"))
    print("ours", res["ours"], flush=True)
    res["appfl"] = []
    for which in ("appfl",) if args.skip_default else ("appfl", "appfl-default"):
        r = _child(which, args, trace, os.path.join(tmp, f"{which}.json"))
        print(which, r, flush=True)
        res["appfl"].append(r)
    res["load_avg_1m_after"] = os.getloadavg()[0]
    tag = res["platform"]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"async_fl_{tag}.json"), "w") as f:
        json.dump(res, f, indent=2)
    with open(os.path.join(args.out, f"async_fl_{tag}.md"), "w") as f:
        f.write(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
