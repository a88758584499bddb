"""Hierarchical vs flat all_to_all in the expert-parallel MoE layer, on 8 simulated CPU devices (2 hosts x 4).

python -m projects.hetumoe.a2a_check [--tokens 2048 --d-model 64 --d-ff 256 --reps 3] [--out results/a2a.json]

On CPU the 8 "devices" are threads of one process sharing the same cores and memory: there is no
slow inter-host link for the hierarchical exchange to save, so the timings here are a functional
check only (both paths compile and run, and give the same outputs and gradients as each other and
as the single-device layer), not a measurement of HetuMoE's communication saving.
"""
from __future__ import annotations

import os

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from lib import mesh as mesh_lib  # noqa: E402
from lib.moe import layer as moe_layer  # noqa: E402
from lib.moe import parallel as moe_parallel  # noqa: E402
from lib.moe import routers as R  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def make_params(key, d, e, f):
    k1, k2, k3 = jax.random.split(key, 3)
    return {"router": 0.02 * jax.random.normal(k1, (d, e)),
            "w1": jax.random.normal(k2, (e, d, f)) / np.sqrt(d),
            "w2": jax.random.normal(k3, (e, f, d)) / np.sqrt(f)}


def check(tokens=4096, d_model=64, d_ff=256, experts=8, gate="switch", reps=5, seed=0) -> dict:
    if jax.device_count() < 8:
        raise RuntimeError(f"needs 8 devices, found {jax.device_count()} (set XLA_FLAGS before importing jax)")
    mesh = mesh_lib.make_mesh((("host", 2), ("local", 4)), devices=jax.devices()[:8])
    kw = {"k": 2, "group_size": 4} if gate == "sam" else {}
    spec = moe_layer.make_moe_spec(gate, experts, d_ff, router_kwargs=kw, dispatch="capacity",
                                   capacity_factor=1.25, num_groups=8, aux_weight=0.01)
    key = jax.random.PRNGKey(seed)
    params = make_params(jax.random.fold_in(key, 0), d_model, experts, d_ff)
    x = jax.random.normal(jax.random.fold_in(key, 1), (tokens, d_model))
    state = R.init_state(spec.router)

    def loss_of(ffn):
        def f(p, x):
            y, aux = ffn(spec, p, state, x)
            return jnp.mean(y ** 2) + aux["loss"], y
        return jax.jit(jax.value_and_grad(f, has_aux=True))

    fns = {"single_device": loss_of(moe_layer.moe_ffn)}
    for name, hier in (("flat", False), ("hierarchical", True)):
        par = moe_parallel.ExpertParallel(mesh, expert_axes=("host", "local"), data_axes=(), hierarchical=hier)
        fns[name] = loss_of(par.moe_ffn)
    out, res = {}, {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        (loss, y), g = jax.block_until_ready(fn(params, x))
        compile_s = time.perf_counter() - t0
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(params, x))
            times.append(time.perf_counter() - t0)
        out[name] = (np.asarray(y), jax.tree.map(np.asarray, g))
        res[name] = {"first_call_s": compile_s, "median_s": float(np.median(times)),
                     "tokens_per_s": tokens / float(np.median(times))}

    def maxdiff(a, b):
        ya, ga = out[a]
        yb, gb = out[b]
        dg = max(float(np.max(np.abs(u - v))) for u, v in zip(jax.tree.leaves(ga), jax.tree.leaves(gb)))
        return {"max_abs_diff_output": float(np.max(np.abs(ya - yb))), "max_abs_diff_grad": dg}

    return {"setting": {"tokens": tokens, "d_model": d_model, "d_ff": d_ff, "experts": experts, "gate": gate,
                        "mesh": "host 2 x local 4 (8 simulated CPU devices)", "capacity_factor": 1.25,
                        "reps": reps},
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)",
            "device_kind": jax.devices()[0].device_kind, "timing": res,
            "hierarchical_vs_flat": maxdiff("hierarchical", "flat"),
            "flat_vs_single_device": maxdiff("flat", "single_device")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--d-ff", type=int, default=256)
    ap.add_argument("--gate", default="switch")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "a2a.json"))
    a = ap.parse_args()
    res = check(a.tokens, a.d_model, a.d_ff, gate=a.gate, reps=a.reps)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
