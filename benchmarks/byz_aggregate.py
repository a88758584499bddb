"""Byzantine defenses: overhead per aggregation vs the undefended rule, and lib.fl.aggregate vs ByzFL.

    python benchmarks/byz_aggregate.py [--overhead 1000x100000] [--byzfl 100x1000000]
        [--nnm-d 50000] [--round 1000] [--repeats 3] [--merge] [--out benchmarks/results/byz_aggregate.json]

(--overhead '' / --byzfl '' / --round 0 skip a part; --merge keeps the other parts already in
--out, so the benchmark can be run part by part.)

1. Overhead: for each rule R (fedavg, median, krum, centered_clipping with tau="median"),
   time of `aggregate.defended(R, defenses=[D])` over time of R alone on the same
   [K, D] float32 updates (f = K // 5), for D in bucketing (s=2), NNM, DnC (1 iteration,
   10k coordinates), FLTrust (root update = a fixed random vector). Worker momentum runs on the
   clients (m <- beta m + (1 - beta) delta, one fused multiply-add over the [K, D] updates):
   its row is that op's time over R's.
   Per round: a round is the cohort's local training plus the aggregation. `--round K` times one
   lib.fl.engine round (fedavg, K = 1000 clients of synthetic 784-dim 10-class data, the MLP
   784-128-10 = 101,770 parameters, 5 local SGD steps of batch 32, all K clients per round); its
   local-training part is that round's time minus fedavg's aggregation time at the same K x D,
   and a defended round is that plus the defended aggregation (so the round ratio is
   (local + defended) / (local + rule alone)). The overhead matrix uses D = 100,000 (the MLP's
   101,770 rounded) random normal updates.
2. ByzFL (`byzfl`, PyTorch, CPU): the same [K, D] float32 matrix handed to ByzFL's documented
   callables (`byzfl.Median()(x)`, `byzfl.TrMean(f)(x)`, ...) as a torch tensor and to ours
   (jitted, compiled beforehand) as a jax array; outputs compared (max |difference| relative to
   the output's max |value|) and time per aggregation. Where the definitions differ the row says so:
   ByzFL's Krum scores with the n - f - 1 nearest neighbours (ours, as Blanchard et al.: n - f - 2),
   its GeometricMedian runs T Weiszfeld steps from 0 (ours from the mean, to tolerance; compared at
   ours' convergence). ByzFL's NNM gathers a [K, K - f, D] tensor (36 GB at 100 x 1M), so NNM is
   compared at D = --nnm-d. Bucketing permutes randomly (different generators): timed, not compared.
   A peer call that takes over 20 s is timed once (ByzFL's geometric median: ~2 min a call).
   Floors at the same size, for reading the ratios: one read pass over X (X^T c, a gemv), the
   Gram matrix X X^T alone (the floor of every distance rule: K^2 D multiply-adds), torch's
   X X^T and torch.cdist (what ByzFL's Krum calls), and a jitted op writing a fresh [K/2, D]
   array (the floor of bucketing's output on XLA:CPU, which page-faults every fresh buffer), and
   the same op in torch.

Timing: median of `repeats` calls, ours and the peer interleaved in one process; the machine
(2 cores) was shared with other jobs: ratios from the same run are what to read. CPU model and
load average are recorded.

ByzFL's package __init__ imports its training benchmark, which imports torchvision; the CPU build
of torch here has no matching torchvision wheel, so a stub torchvision module is put in
sys.modules before importing byzfl (the aggregators never touch it).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
import types

import jax
import jax.numpy as jnp
import numpy as np

from lib.fl import aggregate as agg

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results"
KEY = jax.random.PRNGKey(0)


def _time(fn, repeats):
    fn()  # compile / warm up
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def _cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return str(os.getloadavg())


OVERHEAD_RULES = {"fedavg": {}, "median": {}, "krum": "f", "centered_clipping": {"tau": "median"}}
DEFENSES = {"bucketing": ("bucketing", {"s": 2}), "nnm": ("nnm", {}),
            "dnc": ("dnc", {"iterations": 1, "sub_dim": 10000}), "fltrust": ("fltrust", {})}


def _time_peer(fn, repeats, slow=20.0):
    t = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t
    if first > slow:
        return first, out
    return _time(fn, repeats)


def round_time(k, repeats, log, steps=5, batch=32):
    """One lib.fl.engine round (fedavg, all k clients), MLP 784-128-10: seconds per round."""
    import optax  # noqa: F401  (the engine's client uses it)

    from lib.data.synthetic_fl import synthetic
    from lib.fl import client, engine, participation, server

    d = synthetic(num_clients=k, dim=784, num_classes=10, seed=0, min_size=32, max_size=64)
    data = client.pack_clients(d.x, d.y, d.parts, batch)

    def apply(p, x):
        return jax.nn.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    rng = np.random.default_rng(0)
    params = {"w1": jnp.asarray(0.05 * rng.standard_normal((784, 128)), jnp.float32), "b1": jnp.zeros(128),
              "w2": jnp.asarray(0.05 * rng.standard_normal((128, 10)), jnp.float32), "b2": jnp.zeros(10)}
    nparams = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params))
    sim = engine.build(loss_fn=client.xent_loss(apply), local=client.LocalConfig(batch_size=batch, num_steps=steps),
                       participation=participation.uniform(k, k), server_opt=server.make("sgd", 1.0),
                       mesh=engine.clients_mesh(1))
    step = jax.jit(engine.round_fn(sim))
    dd = engine.put_data(sim, data)
    st = [engine.put_state(sim, engine.init(sim, params, seed=0))]

    def one():
        st[0], m = step(st[0], dd, {"lr": 0.05})
        jax.block_until_ready(st[0]["params"])
        return m

    t, _ = _time(one, repeats)
    log(f"engine round, {k} clients x {nparams} params, {steps} steps of batch {batch}: {t:.3f} s")
    return {"K": k, "params": nparams, "local_steps": steps, "batch": batch, "round_s": t}


def overhead(k, d, repeats, log):
    f = k // 5
    rng = np.random.default_rng(0)
    x = {"w": jnp.asarray(rng.standard_normal((k, d), np.float32))}
    w = jnp.ones((k,), jnp.float32)
    root = {"w": jnp.asarray(rng.standard_normal((d,), np.float32))}
    rows = []
    for rule, rp in OVERHEAD_RULES.items():
        rp = {"f": f} if rp == "f" else rp
        base_fn = agg.get_rule(rule)
        t0, _ = _time(lambda: jax.block_until_ready(base_fn(x, w, None, KEY, **rp)[0]), repeats)
        log(f"{k}x{d} {rule}: {t0:.3f} s")
        for name, (dn, dp) in DEFENSES.items():
            fn = agg.defended(rule, rp, [(dn, dp)], f=f)
            kw = {"root": root} if dn == "fltrust" else {}
            t1, _ = _time(lambda: jax.block_until_ready(fn(x, w, None, KEY, **kw)[0]), repeats)
            rows.append({"rule": rule, "defense": name, "K": k, "D": d, "rule_s": t0, "defended_s": t1,
                         "ratio": t1 / t0})
            log(f"  +{name}: {t1:.3f} s ({t1 / t0:.2f}x)")
        mom = jax.jit(lambda m, g: jax.tree.map(lambda a, b: 0.9 * a + 0.1 * b, m, g))
        tm, _ = _time(lambda: jax.block_until_ready(mom(x, x)), repeats)
        rows.append({"rule": rule, "defense": "momentum (client side)", "K": k, "D": d, "rule_s": t0,
                     "defended_s": t0 + tm, "ratio": (t0 + tm) / t0})
        log(f"  +momentum: {t0 + tm:.3f} s ({(t0 + tm) / t0:.2f}x)")
    return rows


def _import_byzfl():
    class _Stub(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return lambda *a, **kw: None

    if "torchvision" not in sys.modules:
        try:
            import torchvision  # noqa: F401
        except Exception:  # no torchvision matching the CPU torch: stub it (aggregators do not use it)
            tv = _Stub("torchvision")
            tv.datasets, tv.transforms = _Stub("torchvision.datasets"), _Stub("torchvision.transforms")
            sys.modules.update({"torchvision": tv, "torchvision.datasets": tv.datasets,
                                "torchvision.transforms": tv.transforms})
    # byzfl/__init__ also imports its benchmark/plotting subpackage (matplotlib, seaborn, torchvision
    # datasets): stand in an empty module for it when those are missing (the aggregators never use it)
    try:
        import byzfl.benchmark  # noqa: F401
    except ImportError:
        for m in [m for m in sys.modules if m == "byzfl" or m.startswith("byzfl.")]:
            del sys.modules[m]
        sys.modules["byzfl.benchmark"] = types.ModuleType("byzfl.benchmark")
    import byzfl
    import torch
    return byzfl, torch


def versus_byzfl(k, d, nnm_d, repeats, log):
    byzfl, torch = _import_byzfl()
    f = k // 10
    rng = np.random.default_rng(1)
    xn = rng.standard_normal((k, d), np.float32)
    xt = torch.from_numpy(xn)
    xj = {"w": jnp.asarray(xn)}
    w = jnp.ones((k,), jnp.float32)
    rows = []

    def ours(rule, **p):
        fn = agg.get_rule(rule)
        return lambda: np.asarray(jax.block_until_ready(fn(xj, w, None, KEY, **p)[0]["w"]))

    cases = [
        ("median", ours("median"), lambda: byzfl.Median()(xt), ""),
        ("trimmed_mean", ours("trimmed_mean", beta=f / k), lambda: byzfl.TrMean(f=f)(xt), f"f={f} per side"),
        ("krum", ours("krum", f=f), lambda: byzfl.Krum(f=f)(xt),
         "different neighbour count (ByzFL n-f-1, ours n-f-2); rel diff 0 = same client selected"),
        ("multi_krum", ours("multi_krum", f=f), lambda: byzfl.MultiKrum(f=f)(xt),
         "ByzFL averages the n-f best by its Krum score; ours m = n - f"),
        ("geometric_median", ours("geometric_median", iterations=100, nu=0.1, tol=1e-6),
         lambda: byzfl.GeometricMedian(nu=0.1, T=100)(xt), "T=100 from 0 vs ours to tol 1e-6 from the mean"),
        ("centered_clipping", ours("centered_clipping", tau=10.0, iterations=3),
         lambda: byzfl.CenteredClipping(tau=10.0, L=3)(xt), "tau=10, 3 iterations from 0: same definition"),
    ]
    for name, o, p, note in cases:
        to, yo = _time(o, repeats)
        tp, yp = _time_peer(p, repeats)
        yp = np.asarray(yp)
        diff = float(np.max(np.abs(yo - yp)) / max(np.max(np.abs(yp)), 1e-30))
        rows.append({"rule": name, "K": k, "D": d, "ours_s": to, "byzfl_s": tp, "speedup": tp / to,
                     "max_rel_diff": diff, "note": note})
        log(f"{name} {k}x{d}: ours {to:.3f} s, ByzFL {tp:.3f} s ({tp / to:.1f}x), rel diff {diff:.2e}")

    # pre-aggregation: NNM at a smaller D (ByzFL materialises [K, K - f, D]); bucketing timed only
    xs = xn[:, :nnm_d]
    xst, xsj = torch.from_numpy(xs), {"w": jnp.asarray(xs)}
    nn = jax.jit(lambda u, w: agg.nnm(u, w, KEY, f=f)[0])
    to, yo = _time(lambda: np.asarray(jax.block_until_ready(nn(xsj, w)["w"])), repeats)
    tp, yp = _time(lambda: byzfl.NNM(f=f)(xst), repeats)
    yp = np.asarray(yp)
    diff = float(np.max(np.abs(yo - yp)) / max(np.max(np.abs(yp)), 1e-30))
    rows.append({"rule": "nnm", "K": k, "D": nnm_d, "ours_s": to, "byzfl_s": tp, "speedup": tp / to,
                 "max_rel_diff": diff, "note": f"D={nnm_d}: ByzFL gathers [K, K-f, D]"})
    log(f"nnm {k}x{nnm_d}: ours {to:.3f} s, ByzFL {tp:.3f} s ({tp / to:.1f}x), rel diff {diff:.2e}")
    bk = jax.jit(lambda u, w: agg.bucketing(u, w, KEY, s=2)[0])
    to, _ = _time(lambda: jax.block_until_ready(bk(xj, w)), repeats)
    tp, _ = _time(lambda: byzfl.Bucketing(s=2)(xt), repeats)
    rows.append({"rule": "bucketing", "K": k, "D": d, "ours_s": to, "byzfl_s": tp, "speedup": tp / to,
                 "max_rel_diff": None, "note": "random permutation: timed only"})
    log(f"bucketing {k}x{d}: ours {to:.3f} s, ByzFL {tp:.3f} s ({tp / to:.1f}x)")

    c = jnp.full((k,), 1.0 / k, jnp.float32)
    read = jax.jit(lambda x, c: jnp.dot(c, x, precision=jax.lax.Precision.HIGHEST))
    gram = jax.jit(agg._gram_full)
    half = jax.jit(lambda x: x[: k // 2] + x[k // 2:])
    floors = {"K": k, "D": d,
              "read_pass_s": _time(lambda: jax.block_until_ready(read(xj["w"], c)), repeats)[0],
              "gram_s": _time(lambda: jax.block_until_ready(gram(xj["w"])), repeats)[0],
              "torch_gram_s": _time(lambda: xt @ xt.T, repeats)[0],
              "torch_cdist_s": _time(lambda: torch.cdist(xt, xt), repeats)[0],
              "write_half_s": _time(lambda: jax.block_until_ready(half(xj["w"])), repeats)[0],
              "torch_write_half_s": _time(lambda: xt[: k // 2] + xt[k // 2:], repeats)[0]}
    log(f"floors {k}x{d}: {floors}")
    return rows, floors, {"byzfl": getattr(byzfl, "__version__", "0.0.11"), "torch": torch.__version__,
                  "torch_threads": torch.get_num_threads()}


def write_md(res, path):
    L = ["# Byzantine defenses: overhead and ByzFL side by side", "",
         f"CPU: {res['cpu']} ({res['cores']} cores), jax {res['jax']}, "
         f"{res.get('byzfl_versions', {})}. Run part by part; `uptime` at each part's start and end:", ""]
    for part, u in res.get("uptime", {}).items():
        L.append(f"- {part}: `{u['start']}` / `{u['end']}`")
    L += ["", "The lead's background grid runs were paused (SIGSTOP) during each part; other jobs on "
          "the 2-core machine were not: read the ratios, which come from the same run.", ""]
    if res.get("note"):
        L += [res["note"], ""]
    if res.get("overhead"):
        r0 = res["overhead"][0]
        rnd = res.get("round")
        L += [f"## Overhead per aggregation{' and per round' if rnd else ''}, K = {r0['K']} x D = {r0['D']} "
              f"(f = K/5), median of {res['repeats']}", ""]
        if rnd:
            fa = next(r["rule_s"] for r in res["overhead"] if r["rule"] == "fedavg")
            local = rnd["round_s"] - fa
            L += [f"Per round: one lib.fl.engine round (fedavg) of K = {rnd['K']} clients, MLP with "
                  f"{rnd['params']} parameters, {rnd['local_steps']} local SGD steps of batch {rnd['batch']}, took "
                  f"{rnd['round_s']:.3f} s; its local training ({local:.3f} s = round minus fedavg's aggregation) "
                  "plus each aggregation time gives the round columns.", "",
                  "| rule | defense | rule alone (s) | defended (s) | aggregation ratio | round (s) | "
                  "defended round (s) | round ratio |", "|---|---|---|---|---|---|---|---|"]
        else:
            L += ["| rule | defense | rule alone (s) | defended (s) | ratio |", "|---|---|---|---|---|"]
        for r in res["overhead"]:
            row = (f"| {r['rule']} | {r['defense']} | {r['rule_s']:.3f} | {r['defended_s']:.3f} | "
                   f"{r['ratio']:.2f}x |")
            if rnd:
                r0, r1 = local + r["rule_s"], local + r["defended_s"]
                row += f" {r0:.3f} | {r1:.3f} | {r1 / r0:.3f}x |"
            L.append(row)
    if res.get("byzfl"):
        L += ["", f"## lib.fl.aggregate vs ByzFL (torch, CPU), same float32 inputs, median of {res['repeats']}", "",
              "| rule | K x D | ours (s) | ByzFL (s) | ByzFL / ours | max rel diff | note |",
              "|---|---|---|---|---|---|---|"]
        for r in res["byzfl"]:
            d = "-" if r["max_rel_diff"] is None else f"{r['max_rel_diff']:.1e}"
            L.append(f"| {r['rule']} | {r['K']} x {r['D']} | {r['ours_s']:.3f} | {r['byzfl_s']:.3f} | "
                     f"{r['speedup']:.1f}x | {d} | {r['note']} |")
        fl = res.get("floors")
        if fl:
            L += ["", f"Floors at {fl['K']} x {fl['D']} float32 (same run): one read pass (X^T c) "
                  f"{fl['read_pass_s']:.3f} s; our Gram matrix X X^T {fl['gram_s']:.3f} s; torch X X^T "
                  f"{fl['torch_gram_s']:.3f} s, torch.cdist {fl['torch_cdist_s']:.3f} s; a jitted op writing a fresh "
                  f"[K/2, D] array (x[:K/2] + x[K/2:]) {fl['write_half_s']:.3f} s, the same in torch "
                  f"{fl.get('torch_write_half_s', float('nan')):.3f} s."]
    path.write_text("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--overhead", default="1000x100000", help="KxD, or '' to skip")
    ap.add_argument("--byzfl", default="100x1000000", help="KxD, or '' to skip")
    ap.add_argument("--nnm-d", type=int, default=50000)
    ap.add_argument("--round", type=int, default=1000, help="clients of the engine round to time; 0 skips")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--merge", action="store_true", help="keep the parts of --out that this run skips")
    ap.add_argument("--out", default=str(RESULTS / "byz_aggregate.json"))
    ap.add_argument("--note", default=None, help="a line on the run's conditions, kept in the JSON")
    a = ap.parse_args()
    log = lambda s: print(s, flush=True)  # noqa: E731
    out = pathlib.Path(a.out)
    res = json.loads(out.read_text()) if a.merge and out.exists() else {}
    loads = res.get("uptime", {})
    res.update({"cpu": _cpu_model(), "cores": os.cpu_count(), "jax": jax.__version__, "repeats": a.repeats})
    start = _uptime()
    if a.overhead:
        k, d = map(int, a.overhead.split("x"))
        res["overhead"] = overhead(k, d, a.repeats, log)
    if a.round:
        res["round"] = round_time(a.round, a.repeats, log)
    if a.byzfl:
        k, d = map(int, a.byzfl.split("x"))
        res["byzfl"], res["floors"], res["byzfl_versions"] = versus_byzfl(k, d, a.nnm_d, a.repeats, log)
    parts = [p for p, on in [("overhead", a.overhead), ("round", a.round), ("byzfl", a.byzfl)] if on]
    loads = {k: v for k, v in loads.items() if not set(k.split("+")) & set(parts)}  # superseded parts
    loads["+".join(parts)] = {"start": start, "end": _uptime()}
    res["uptime"] = loads
    if a.note is not None:
        res["note"] = a.note
    res.pop("uptime_start", None), res.pop("uptime_end", None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    write_md(res, out.with_suffix(".md"))
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
