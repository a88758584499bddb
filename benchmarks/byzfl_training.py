"""End-to-end Byzantine training, lib.fl (projects/byzantine_bench) vs ByzFL's federated framework.

    python benchmarks/byzfl_training.py [--rounds 200] [--seeds 0,1] [--cases all]
        [--out benchmarks/results/byzfl_training.json]

The same run on both sides: MNIST (lib.data.mnist, pixels in [0, 1], no normalisation, on both
sides), our Dirichlet(0.5) split of the 60k training images over 20 clients (lib.fl.tasks, data
seed 0), 4 of them Byzantine (projects/byzantine_bench's choice from seed 0), the 784-100-10 ReLU
MLP (ByzFL's `fc_mnist`; ours lib.models.MLP hidden (100,)) started from the SAME weights (our
flax init of run seed s copied into the torch model, kernels transposed), batch 32, one local SGD
step per round, lr 0.1, all clients every round.

ByzFL side: its documented framework as its own `byzfl/benchmark/train.py` wires a "DSGD" run:
one `Client` per honest client (its samples = the same pool rows as ours, in a
`DataLoader(TensorDataset, batch_size, shuffle=True)`, as ByzFL's DataDistributor builds), one
`ByzantineClient` (attack applied to the honest clients' (momentum) gradients), a `Server`
(pre-aggregators + rule, torch SGD step with the lr). The 16 honest clients are our 16 honest
clients in order; the 4 Byzantine vectors come last. The Byzantine clients' data is unused on both
sides (ours train and are then replaced by the attack).

Ours: projects/byzantine_bench `train.build` through lib.fl.engine (one jitted round), local
num_steps = 1, server SGD lr 1, every client weighted equally (a strategy here: ByzFL's rules
are unweighted; our default FedAvg strategy weighs by sample counts).

The mapping (lr = eta, n = 20, f = 4, h = n - f = 16 honest): a client's delta is
-eta g, and rule(-eta g) = -eta rule(g) for every rule below, so the server steps agree:
  Average              = fedavg (equal weights)
  Median               = median (even n: mean of the two middle values on both sides)
  TrMean(f)            = trimmed_mean(beta = f / n): floor(beta n) = f cut per side
  Krum(f + 1)          = krum(f): ByzFL scores with the n - f' - 1 nearest neighbours, ours
                         (Blanchard et al.) with n - f - 2; f' = f + 1 gives both n - f - 2
  GeometricMedian(nu, T) ~ geometric_median(nu = eta nu, to tol 1e-6, cap 100): ByzFL runs T
                         smoothed-Weiszfeld steps from 0, ours from the mean to convergence;
                         nu is a distance, so it scales with eta. Not exact at finite T.
  NNM(f) pre-agg       = nnm defense (n - f nearest incl. itself; f from the Byzantine count)
  CenteredClipping(tau, L) = centered_clipping(tau = eta tau, iterations = L): both start from
                         the previous round's aggregate (0 at first); tau is a distance
  client momentum beta = `momentum:beta=beta` defense: ByzFL m <- beta m + (1 - beta) g, ours
                         m <- beta m + (1 - beta) delta = -eta (that m), both from m = 0
  SignFlipping         = ipm(epsilon = 1): ByzFL sends -mean(honest); our `sign_flip` is each
                         attacker's own update negated (a different attack), so IPM(1) is used
  InnerProductManipulation(tau) = ipm(epsilon = tau)
  ALittleIsEnough(tau) = alie(z = tau sqrt(h / (h - 1))): ByzFL mean + tau std (ddof 1) of the
                         gradients, ours mu - z std (ddof 0) of the deltas (sign: delta = -eta g)
Not paired: Mimic (ByzFL copies the fixed honest vector `epsilon`; ours picks the honest update
along the top principal direction every round).

What differs, by construction: the mini-batch draws (ByzFL cycles a shuffled DataLoader, last
batch of an epoch smaller; ours draws B distinct samples per step from the run key) and float
rounding; so trajectories diverge, and the final accuracies are compared against the spread
over seeds. A second ByzFL run per (case, seed) replays our engine's batches (`our_batches`, a
torch batch_sampler): there only float rounding and the rule definitions can differ, and the final
weights are compared. tests/test_byzfl_training.py checks the mapping one round at a time
(full-batch clients, and replayed mini-batches: the server steps agree to 1e-5).

Found on the way (lib.fl, not fixed here): when a round has padded client slots (capacity above
the participants, e.g. 10 clients on 8 devices -> 16 slots), the engine hands the attack
`byz & valid` only, so omniscient attacks (ALIE, IPM, ...) count the padded slots as honest
clients in their statistics; the benchmark and the test use no padded slot.

Timing per round: ours = the jitted engine round plus engine.run's per-round host checks
(compiled beforehand; our Byzantine clients train too: 20 local steps vs ByzFL's 16); ByzFL = its
loop body (gradients, momentum, attack, aggregation, SGD step, model broadcast). Both sides run
back to back per (case, seed) in one process; CPU model and load recorded.

ByzFL's package __init__ imports torchvision and seaborn (its training benchmark and plots);
benchmarks.byz_aggregate's importer stubs torchvision when the CPU torch here has no matching
torchvision, and seaborn is stubbed here when it is not installed (the framework never uses either).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import statistics
import sys
import time

REPO = str(pathlib.Path(__file__).resolve().parents[1])
sys.path.insert(0, REPO)
# torch's OpenMP threads spin while waiting by default; on this shared 2-core machine that made
# ByzFL's round ~9x slower (median / sign flip: 372 ms vs 43 ms passive, 39 ms with 1 thread,
# measured at load ~5). Passive waiting (read when torch loads) measures the library, not the
# oversubscription; it only helps the peer (XLA's CPU thread pool is not OpenMP).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import byz_aggregate  # noqa: E402
from benchmarks.byz_aggregate import _cpu_model, _uptime  # noqa: E402
from configs.byzantine_bench import mnist as mnist_config  # noqa: E402
from lib.fl import client as client_lib, engine, tasks  # noqa: E402
from projects.byzantine_bench import train as byz_train  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results"


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    aggregator: str  # ours
    rule_params: dict
    defenses: str
    attack: str
    attack_params: dict
    byz_agg: tuple  # ByzFL (name, parameters)
    byz_pre: tuple  # ByzFL pre-aggregators ((name, parameters), ...)
    byz_attack: tuple  # ByzFL (name, parameters)
    momentum: float = 0.0
    byzantine: bool = True
    exact: str = "exact"  # how the rule maps (see the module docstring)


def cases(lr: float, n: int = 20, f: int = 4, cc_tau: float = 0.3) -> dict[str, Case]:
    """The configurations both libraries have, as (ours, ByzFL) pairs in the same units."""
    h = n - f
    alie_tau = 1.5  # ByzFL's default
    out = [
        Case("fedavg / none", "fedavg", {}, "", "none", {}, ("Average", {}), (), ("NoAttack", {}),
             byzantine=False),
        Case("trimmed_mean / alie", "trimmed_mean", {"beta": f / n}, "", "alie",
             {"z": alie_tau * float(np.sqrt(h / (h - 1)))}, ("TrMean", {"f": f}), (),
             ("ALittleIsEnough", {"tau": alie_tau})),
        Case("median / sign_flip", "median", {}, "", "ipm", {"epsilon": 1.0}, ("Median", {}), (),
             ("SignFlipping", {}), exact="exact (ByzFL's sign flip = -mean = ours ipm(1))"),
        Case("geometric_median / ipm 2", "geometric_median", {"nu": lr * 0.1, "iterations": 100, "tol": 1e-6},
             "", "ipm", {"epsilon": 2.0}, ("GeometricMedian", {"nu": 0.1, "T": 10}), (),
             ("InnerProductManipulation", {"tau": 2.0}),
             exact="approximate: ByzFL T=10 Weiszfeld steps from 0, ours to tol 1e-6 from the mean"),
        Case("krum / ipm 0.1", "krum", {}, "", "ipm", {"epsilon": 0.1}, ("Krum", {"f": f + 1}), (),
             ("InnerProductManipulation", {"tau": 0.1}),
             exact=f"exact with ByzFL Krum(f={f + 1}) = ours krum(f={f}): both n-f-2 neighbours"),
        Case("momentum 0.9 + nnm + cclip / alie", "centered_clipping", {"tau": lr * cc_tau, "iterations": 3},
             "momentum:beta=0.9+nnm", "alie", {"z": alie_tau * float(np.sqrt(h / (h - 1)))},
             ("CenteredClipping", {"tau": cc_tau, "L": 3}), (("NNM", {"f": f}),),
             ("ALittleIsEnough", {"tau": alie_tau}), momentum=0.9,
             exact=f"exact: tau {cc_tau} (gradient units) = {lr * cc_tau:g} (delta units)"),
    ]
    return {c.name: c for c in out}


def _import_byzfl():
    """(byzfl, torch) through byz_aggregate's importer; seaborn (imported by ByzFL's result plots,
    never by the framework) is stubbed as well when it is not installed."""
    import importlib.util
    import types

    if "seaborn" not in sys.modules and importlib.util.find_spec("seaborn") is None:
        sys.modules["seaborn"] = types.ModuleType("seaborn")
    return byz_aggregate._import_byzfl()


def base_config(rounds: int, lr: float, batch: int, data_dir: str | None = None):
    c = mnist_config.get_config()
    c.model.hidden = (100,)
    c.local.batch_size, c.local.lr, c.local.num_steps, c.local.mode = batch, lr, 1, "steps"
    c.server.optimizer, c.server.lr = "sgd", 1.0
    c.total = rounds
    c.seed = 0  # data split and Byzantine clients; the run seed is separate
    if data_dir:
        c.data_dir = data_dir
    return c


def case_config(base, case: Case):
    c = base.copy_and_resolve_references()
    c.aggregator, c.defenses, c.attack = case.aggregator, case.defenses, case.attack
    c.rule_params = dict(case.rule_params)
    c.attack_params = dict(case.attack_params)
    c.byzantine_fraction = base.byzantine_fraction if case.byzantine else 0.0
    return c


def equal_weights():
    """ByzFL's rules weigh every vector equally (ours: FedAvg by sample counts by default)."""

    def prepare(sstate, deltas, ctx):
        return deltas, ctx["valid"].astype(jnp.float32), jnp.float32(1.0), sstate

    return engine.Strategy("equal", lambda params: (), prepare, lambda s, d, deltas, ctx: (d, s))


def build_ours(config, task):
    """(sim, byzantine mask [N]) for `config` on `task` (projects/byzantine_bench's build)."""
    byz_train.validate(config)
    byz = byz_train.byzantine_mask(config) if config.byzantine_fraction > 0 else np.zeros(config.num_clients, bool)
    return byz_train.build(config, task, byz, strategy=equal_weights()), byz


def init_params(task, seed: int):
    return task.model.init(jax.random.PRNGKey(seed), jnp.zeros((1, 784), jnp.float32))["params"]


def torch_state(params, torch):
    """Our MLP(hidden=(100,)) params as fc_mnist's state_dict (torch Linear weight = kernel.T)."""
    t = lambda a: torch.from_numpy(np.array(a, np.float32))
    return {"_f1.weight": t(params["dense_0"]["kernel"]).T.contiguous(), "_f1.bias": t(params["dense_0"]["bias"]),
            "_f2.weight": t(params["head"]["kernel"]).T.contiguous(), "_f2.bias": t(params["head"]["bias"])}


def client_arrays(data, k: int):
    """Client k's samples (pool rows in its order) as numpy (x [n_k, 784] float32, y [n_k] int64)."""
    rows = np.asarray(data.index)[k, : int(np.asarray(data.num_samples)[k])]
    x = np.asarray(data.x)[rows].reshape(len(rows), -1).astype(np.float32)
    return x, np.asarray(data.y)[rows].astype(np.int64)


def our_batches(data, seed: int, clients, rounds: int, batch: int) -> np.ndarray:
    """[len(clients), rounds, batch] positions (into each client's rows) of the mini-batches our
    engine draws in a run with `seed` (one local step per round): the round key
    fold_in(PRNGKey(seed), round), the client's fold_in(fold_in(., engine._LOCAL), client id), and
    lib.fl.client.batch_positions at step 0. Fed to ByzFL as a batch_sampler, ByzFL's clients
    see exactly our batches (the `replay` runs)."""
    cfg = client_lib.LocalConfig(batch_size=batch, mode="steps", num_steps=1)
    n_pad = np.asarray(data.index).shape[1]
    ns = jnp.asarray(np.asarray(data.num_samples))
    key = jax.random.PRNGKey(seed)

    def one(r, c):
        kc = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, r), engine._LOCAL), c)
        return client_lib.batch_positions(kc, 0, ns[c], n_pad, cfg)[0]

    pos = jax.jit(jax.vmap(jax.vmap(one, (0, None)), (None, 0)))(jnp.arange(rounds), jnp.asarray(clients))
    if int(np.asarray(data.num_samples)[np.asarray(clients)].min()) < batch:
        raise ValueError("replay needs every client to hold at least one batch")
    return np.asarray(pos)


class _Replay:
    """A torch batch_sampler yielding given index lists (one per round)."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter([list(map(int, b)) for b in self.batches])

    def __len__(self):
        return len(self.batches)


class ByzflRun:
    """ByzFL's DSGD run (as byzfl/benchmark/train.py wires it) through its documented classes."""

    def __init__(self, case: Case, data, honest_ids, test, lr: float, batch: int, f: int, state_dict, seed: int,
                 test_batch: int = 2000, replay=None):
        """replay: None (each client's DataLoader shuffles, as ByzFL's DataDistributor builds it) or
        [len(honest_ids), rounds, batch] positions (our batches, `our_batches`)."""
        byzfl, torch = _import_byzfl()
        from torch.utils.data import DataLoader, TensorDataset

        self.torch = torch
        torch.manual_seed(seed)
        np.random.seed(seed)
        loaders = []
        for i, k in enumerate(honest_ids):
            ds = TensorDataset(*map(torch.from_numpy, client_arrays(data, k)))
            loaders.append(DataLoader(ds, batch_size=batch, shuffle=True) if replay is None
                           else DataLoader(ds, batch_sampler=_Replay(replay[i])))
        common = {"model_name": "fc_mnist", "device": "cpu", "optimizer_name": "SGD", "learning_rate": float(lr),
                  "weight_decay": 0.0, "milestones": [], "learning_rate_decay": 1.0}
        self.clients = [byzfl.Client(dict(common, loss_name="NLLLoss", LabelFlipping=False, nb_labels=10,
                                          momentum=float(case.momentum), training_dataloader=dl,
                                          store_per_client_metrics=False)) for dl in loaders]
        xt, yt = test
        test_loader = DataLoader(TensorDataset(torch.from_numpy(np.asarray(xt, np.float32).reshape(len(yt), -1)),
                                               torch.from_numpy(np.asarray(yt, np.int64))), batch_size=test_batch)
        self.server = byzfl.Server(dict(
            common, test_loader=test_loader,
            aggregator_info={"name": case.byz_agg[0], "parameters": dict(case.byz_agg[1])},
            pre_agg_list=[{"name": n, "parameters": dict(p)} for n, p in case.byz_pre]))
        nb = f if case.byzantine else 0
        self.byz = byzfl.ByzantineClient({"name": case.byz_attack[0] if nb else "NoAttack", "f": nb,
                                          "parameters": dict(case.byz_attack[1])})
        self.server.set_model_state(state_dict)
        self._broadcast()

    def _broadcast(self):
        new = self.server.get_dict_parameters()
        for c in self.clients:
            c.set_model_state(new)

    def round(self):
        for c in self.clients:
            c.compute_gradients()
        honest = [c.get_flat_gradients_with_momentum() for c in self.clients]
        self.server.update_model_with_gradients(honest + self.byz.apply_attack(honest))
        self._broadcast()

    def accuracy(self) -> float:
        with self.torch.no_grad():
            return float(self.server.compute_test_accuracy())


def run_ours(sim, task, params, seed: int, rounds: int, lr: float, evaluate):
    state = engine.init(sim, params, seed=seed)
    data = engine.put_data(sim, task.data)
    step = engine.jit(sim, engine.round_fn(sim))
    hp = {"lr": jnp.float32(lr)}
    t0 = time.perf_counter()
    jax.block_until_ready(step(engine.put_state(sim, state), data, hp))  # compile (result discarded)
    compile_s = time.perf_counter() - t0
    stamps = [time.perf_counter()]  # after each round's host checks (its metrics fetched: the round is done)
    state = engine.run(sim, state, data, lambda r: hp, rounds, step=step,
                       on_round=lambda s, m: stamps.append(time.perf_counter()))
    jax.block_until_ready(state["params"])
    return float(evaluate(state["params"])["test_accuracy"]), _per_round(stamps), compile_s, state["params"]


def _per_round(stamps):
    """(median, mean) seconds per round from the time stamps around every round."""
    d = np.diff(stamps)
    return float(np.median(d)), float(np.mean(d))


def run_byzfl(case, task, honest_ids, params, seed, rounds, lr, batch, f, torch, replay=None):
    run = ByzflRun(case, task.data, honest_ids, (task.x_test, task.y_test), lr, batch, f,
                   torch_state(params, torch), seed, replay=replay)
    stamps = [time.perf_counter()]
    for _ in range(rounds):
        run.round()
        stamps.append(time.perf_counter())
    return run.accuracy(), _per_round(stamps), run.server.get_dict_parameters()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--cc-tau", type=float, default=0.3, help="centered clipping radius in gradient units")
    ap.add_argument("--cases", default="all", help="comma-separated case names (see `cases`), or all")
    ap.add_argument("--pause-note", default="", help="how the background load was handled (recorded)")
    ap.add_argument("--out", default=str(RESULTS / "byzfl_training.json"))
    ap.add_argument("--merge", action="store_true",
                    help="replace only these cases' rows in an existing --out (a benchmark run in parts)")
    ap.add_argument("--report", action="store_true", help="only regenerate the tables from --out's JSON")
    args = ap.parse_args(argv)
    if args.report:
        res = json.loads(pathlib.Path(args.out).read_text())
        return publish(res, pathlib.Path(args.out))

    byzfl, torch = _import_byzfl()
    uptime_start = _uptime()
    t_start = time.perf_counter()
    base = base_config(args.rounds, args.lr, args.batch, os.environ.get("TESSERA_DATA_DIR"))
    task = tasks.load_task(base)
    evaluate = tasks.make_eval(task, 2000)
    all_cases = cases(args.lr, base.num_clients, int(round(base.byzantine_fraction * base.num_clients)), args.cc_tau)
    names = list(all_cases) if args.cases == "all" else [s.strip() for s in args.cases.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    f = int(round(base.byzantine_fraction * base.num_clients))
    rows, batches = [], {}
    for name in names:
        case = all_cases[name]
        config = case_config(base, case)
        sim, byz = build_ours(config, task)
        honest_ids = [int(k) for k in np.flatnonzero(~byz)]
        for seed in seeds:
            t_case = time.perf_counter()
            params = init_params(task, seed)
            acc_o, t_o, comp, p_o = run_ours(sim, task, params, seed, args.rounds, args.lr, evaluate)
            acc_p, t_p, _ = run_byzfl(case, task, honest_ids, params, seed, args.rounds, args.lr, args.batch, f, torch)
            if seed not in batches:  # every client's draws of this seed, once
                batches[seed] = our_batches(task.data, seed, list(range(base.num_clients)), args.rounds, args.batch)
            replay = batches[seed][honest_ids]
            acc_r, _, p_r = run_byzfl(case, task, honest_ids, params, seed, args.rounds, args.lr, args.batch, f,
                                      torch, replay=replay)
            po, pr = torch_state(p_o, torch), p_r
            wdiff = max(float((po[k] - pr[k]).abs().max()) for k in po)
            (t_o, t_o_mean), (t_p, t_p_mean) = t_o, t_p
            row = {"case": name, "seed": seed, "ours_acc": acc_o, "byzfl_acc": acc_p, "ours_round_s": t_o,
                   "byzfl_round_s": t_p, "ours_round_mean_s": t_o_mean, "byzfl_round_mean_s": t_p_mean,
                   "ours_compile_s": comp, "mapping": case.exact,
                   "byzfl_replay_acc": acc_r, "replay_max_weight_diff": wdiff,
                   "wall_s": time.perf_counter() - t_case,
                   "ours": {"aggregator": case.aggregator, "rule_params": case.rule_params, "defenses": case.defenses,
                            "attack": case.attack, "attack_params": case.attack_params},
                   "byzfl": {"aggregator": case.byz_agg, "pre_aggregators": case.byz_pre, "attack": case.byz_attack,
                             "momentum": case.momentum}}
            rows.append(row)
            print(f"{name} seed {seed}: acc ours {acc_o:.4f} ByzFL {acc_p:.4f} (our batches: {acc_r:.4f}, max "
                  f"weight diff {wdiff:.1e}); per round ours {t_o * 1e3:.2f} ms "
                  f"ByzFL {t_p * 1e3:.2f} ms ({t_p / t_o:.1f}x); compile {comp:.1f} s", flush=True)
    part = {"cases": names, "uptime_start": uptime_start, "uptime_end": _uptime(), "load_note": args.pause_note,
            "wall_s": time.perf_counter() - t_start}
    out = pathlib.Path(args.out)
    parts = [part]
    if args.merge and out.exists():  # another part of the same benchmark (its own pause window)
        old = json.loads(out.read_text())
        for k, v in (("rounds", args.rounds), ("seeds", seeds), ("lr", args.lr), ("batch", args.batch),
                     ("cc_tau", args.cc_tau)):
            if old[k] != v:
                raise SystemExit(f"--merge: {out} has {k}={old[k]}, this run {v}")
        rows = [r for r in old["rows"] if r["case"] not in names] + rows
        parts = [p for p in old.get("parts", []) if set(p["cases"]) - set(names)] + parts
        order = list(all_cases)
        rows.sort(key=lambda r: (order.index(r["case"]) if r["case"] in order else len(order), r["seed"]))
    res = {"rows": rows, "summary": summarize(rows), "parts": parts, "rounds": args.rounds, "seeds": seeds, "lr": args.lr,
           "batch": args.batch, "num_clients": base.num_clients, "byzantine": f, "cc_tau": args.cc_tau,
           "dirichlet_alpha": base.dirichlet_alpha, "cpu": _cpu_model(), "cores": os.cpu_count(),
           "jax": jax.__version__, "byzfl": getattr(byzfl, "__version__", "0.0.11"), "torch": torch.__version__,
           "torch_threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=1, default=list))
    tmp.replace(out)
    return publish(res, out)


def publish(res, out: pathlib.Path) -> int:
    """results/<name>.md and the README subsection of projects/byzantine_bench, from the JSON."""
    md = write_md(res, out.with_suffix(".md"))
    readme = pathlib.Path(REPO) / "projects" / "byzantine_bench" / "README.md"
    if out.parent.resolve() == RESULTS.resolve() and "<!-- BEGIN byzfl -->" in readme.read_text():
        from lib import report

        report.replace_section(str(readme), "byzfl", readme_section(res))
    print(md)
    return 0


def summarize(rows):
    out = []
    for name in dict.fromkeys(r["case"] for r in rows):
        rs = [r for r in rows if r["case"] == name]
        o, p = [r["ours_acc"] for r in rs], [r["byzfl_acc"] for r in rs]
        spread = max(max(o) - min(o), max(p) - min(p)) if len(rs) > 1 else None
        to = statistics.median(r["ours_round_s"] for r in rs)
        tp = statistics.median(r["byzfl_round_s"] for r in rs)
        out.append({"case": name, "ours_acc": statistics.mean(o), "byzfl_acc": statistics.mean(p),
                    "diff": statistics.mean(o) - statistics.mean(p), "seed_spread": spread,
                    "replay_acc_diff": max(abs(r["ours_acc"] - r["byzfl_replay_acc"]) for r in rs),
                    "replay_weight_diff": max(r["replay_max_weight_diff"] for r in rs),
                    "ours_round_ms": to * 1e3, "byzfl_round_ms": tp * 1e3, "speedup": tp / to,
                    "mapping": rs[0]["mapping"]})
    return out


def _table(res):
    L = ["| rule / attack | ours acc | ByzFL acc | ours - ByzFL | seed spread | same batches: acc diff | "
         "same batches: weight diff | ours ms/round | ByzFL ms/round | ByzFL / ours | mapping |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in res["summary"]:
        sp = "–" if s["seed_spread"] is None else f"{s['seed_spread']:.4f}"
        L.append(f"| {s['case']} | {s['ours_acc']:.4f} | {s['byzfl_acc']:.4f} | {s['diff']:+.4f} | {sp} | "
                 f"{s['replay_acc_diff']:.4f} | {s['replay_weight_diff']:.1e} | {s['ours_round_ms']:.2f} | {s['byzfl_round_ms']:.2f} | {s['speedup']:.1f}x | {s['mapping']} |")
    return L


def _setting(res):
    return (f"MNIST, {res['num_clients']} clients (Dirichlet({res['dirichlet_alpha']}) split, the same pool rows on "
            f"both sides), {res['byzantine']} Byzantine, 784-100-10 ReLU MLP from the same initial weights, "
            f"batch {res['batch']}, one SGD step per round (lr {res['lr']}), {res['rounds']} rounds, "
            f"seeds {res['seeds']} (initial weights and batch draws; split and Byzantine set fixed). "
            f"Accuracy: final test accuracy (10k images), mean over seeds; seed spread = the larger of the two "
            f"sides' max - min over seeds. Same batches: ByzFL rerun with our engine's mini-batches replayed "
            f"(a torch batch_sampler), so only float rounding (and the rule's definition) can differ: the "
            f"largest |accuracy difference| and max |final weight difference| over seeds. Time per round: median "
            f"over seeds of the median round (ByzFL: its own shuffled run; the JSON has the means too).")


def _verdict(res) -> str:
    s = res["summary"]
    within = [x["case"] for x in s if x["seed_spread"] is not None and abs(x["diff"]) <= x["seed_spread"]]
    return (f"On our batches ByzFL's final accuracy differs from ours by at most "
            f"{max(x['replay_acc_diff'] for x in s):.4f} and its final weights by at most "
            f"{max(x['replay_weight_diff'] for x in s):.1e} (float rounding over {res['rounds']} rounds); with each "
            f"library's own batches the mean accuracies differ by less than the seed spread in {len(within)} of "
            f"{len(s)} configurations. Per round ours is {min(x['speedup'] for x in s):.1f}-"
            f"{max(x['speedup'] for x in s):.1f}x faster.")


def _parts(res):
    return [f"- part {i + 1} ({', '.join(p['cases'])}): {p['wall_s']:.0f} s; load at start `{p['uptime_start']}`, "
            f"at end `{p['uptime_end']}`. {p['load_note']}" for i, p in enumerate(res["parts"])]


def write_md(res, path) -> str:
    L = ["# End-to-end Byzantine training: lib.fl vs ByzFL", "",
         "Generated by `benchmarks/byzfl_training.py` from `byzfl_training.json`. " + _setting(res), "",
         f"CPU: {res['cpu']} ({res['cores']} cores), jax {res['jax']}, ByzFL {res['byzfl']}, torch {res['torch']} "
         f"({res['torch_threads']} threads, OMP_WAIT_POLICY={res.get('omp_wait_policy')}: torch's default active "
         "spin made ByzFL ~9x slower on this shared machine).", ""]
    L += _parts(res) + [""]
    L += _table(res)
    L += ["", _verdict(res), "", "Ours per round: the jitted engine round plus the host loop's per-round checks (compiled "
          "beforehand; our 4 Byzantine clients also train before the attack replaces their update). ByzFL per "
          "round: its loop body (16 honest gradients, momentum, attack, pre-aggregation + rule, SGD step, model "
          "broadcast). The mapping of rules, attacks and units is in the script's docstring."]
    text = "\n".join(L) + "\n"
    pathlib.Path(path).write_text(text)
    return text


def readme_section(res) -> str:
    L = ["### Side by side with ByzFL (end to end)", "",
         "The same federated run on both sides (`benchmarks/byzfl_training.py`, table and mapping in "
         "`benchmarks/results/byzfl_training.md`): " + _setting(res) + " ByzFL runs through its documented "
         "`Client` / `ByzantineClient` / `Server` classes as its own benchmark wires them; ours through `train.build` "
         "with equal client weights (ByzFL's rules are unweighted). Delta = -lr x gradient, so the rules agree in "
         "these units (Krum: ByzFL f + 1; ALIE: z = tau sqrt(h / (h - 1)); sign flip = ipm(1); radii x lr).", ""]
    L += _table(res)
    L += ["", _verdict(res) + " Ours per round includes training the 4 Byzantine clients (ByzFL trains 16).", "",
          f"CPU: {res['cpu']} ({res['cores']} cores). Load and wall time of each part of the run in "
          "`benchmarks/results/byzfl_training.md`."]
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
