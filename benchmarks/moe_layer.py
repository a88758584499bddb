"""MoE layer forward+backward vs its floors, every dispatch implementation, ratios from one run.

Setting (issue 4, section 6): tokens 4096, d_model 512, d_ff 2048, 8 experts, top-2, capacity factor
1.25, one routing group. Timed, interleaved round-robin, median of repeats:
- each dispatch implementation of the full layer (router + dispatch + experts + combine), fwd+bwd;
- capacity floor: the expert matmuls alone on the [E, C, d] buffers the capacity layer computes;
- dropless floor: dense matmuls doing exactly the routed work (T*k rows, no padding);
- dense FFN with d_ff 2048 (the unit every ratio is also given in).
Targets: capacity mode <= 1.05x its floor, dropless <= 1.15x the dropless floor.

The slow references (one-hot einsum ~7x dense, ragged_dot ~10x+ dense on CPU) run in fewer repeats
(--einsum-repeats, --ragged-repeats) so the whole run takes a few minutes on an idle 2-core machine.
The load average before and after is recorded: on a shared machine seconds are only indicative and
the paired ratios (same repeat, back to back) are the numbers to read.

    python benchmarks/moe_layer.py             # full size, writes benchmarks/results/moe_layer.{json,md}
    python benchmarks/moe_layer.py --quick     # small shapes, no files (smoke)
    python benchmarks/moe_layer.py --cases dense_ffn,dropless_floor,dropless_tiles   # a subset, no files
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import platform
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from lib import autotune  # noqa: E402
from lib.moe import dispatch as D  # noqa: E402
from lib.moe import layer as L  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent / "results"


def build(tokens, d, f, e, k, cf, tile):
    ks = jax.random.split(jax.random.PRNGKey(0), 6)
    x = jax.random.normal(ks[0], (tokens, d), jnp.float32)
    moe = {"router": jax.random.normal(ks[1], (d, e)) * 0.02,
           "w1": jax.random.normal(ks[2], (e, d, f)) / math.sqrt(d),
           "w2": jax.random.normal(ks[3], (e, f, d)) / math.sqrt(f)}
    dense = {"w1": moe["w1"][0], "w2": moe["w2"][0]}
    cap = math.ceil(cf * tokens * k / e)

    def grad_of(fn, params, x):
        g = jax.jit(jax.grad(lambda p, x: jnp.sum(fn(p, x) ** 2), argnums=(0, 1)))
        return lambda: jax.block_until_ready(g(params, x))

    def layer(impl):
        spec = L.make_moe_spec("topk", e, f, router_kwargs={"k": k}, dispatch=impl, capacity_factor=cf,
                               tile=tile)
        return grad_of(lambda p, x: L.moe_ffn(spec, p, {}, x)[0], moe, x)

    def ffn(p, x):
        return jax.nn.gelu(x @ p["w1"]) @ p["w2"]

    xbuf = jax.random.normal(ks[4], (e, cap, d))
    xrows = jax.random.normal(ks[5], (tokens * k, d))
    cases = {
        "dense_ffn": grad_of(ffn, dense, x),
        "capacity_floor": grad_of(lambda p, xb: D.expert_ffn(p, xb), {"w1": moe["w1"], "w2": moe["w2"]}, xbuf),
        "dropless_floor": grad_of(ffn, dense, xrows),
        "capacity": layer("capacity"),
        "dropless_tiles": layer("dropless_tiles"),
        "einsum": layer("einsum"),
        "dropless_ragged": layer("dropless_ragged"),
    }
    return cases, cap


def run(args):
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    tuned = None
    if args.tile == "auto":  # what a run on this machine uses: measured once and cached (lib.autotune)
        args.tile = D.choose_tile(args.tokens * args.k, args.d, args.f, args.experts)
        tuned = autotune.recorded("moe.dropless_tile",
                                  f"rows={args.tokens * args.k},d={args.d},d_ff={args.f},experts={args.experts},float32")
    args.tile = int(args.tile)
    cases, cap = build(args.tokens, args.d, args.f, args.experts, args.k, args.cf, args.tile)
    if args.cases:
        keep = args.cases.split(",")
        unknown = sorted(set(keep) - set(cases))
        if unknown:
            raise SystemExit(f"--cases: unknown {unknown}; choose from {sorted(cases)}")
        cases = {n: cases[n] for n in keep}
    for name, fn in cases.items():  # compile + warm up
        t0 = time.perf_counter()
        fn()
        print(f"compiled+warm {name}: {time.perf_counter() - t0:.2f}s", flush=True)
    times = {n: [] for n in cases}
    for rep in range(args.repeats):
        for name, fn in cases.items():
            if name == "dropless_ragged" and rep >= args.ragged_repeats:
                continue  # ~10-16x dense on CPU: fewer repeats
            if name == "einsum" and rep >= args.einsum_repeats:
                continue  # ~7x dense: fewer repeats
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        print(f"repeat {rep}: " + ", ".join(f"{n} {v[-1]:.3f}s" for n, v in times.items() if v), flush=True)
    med = {n: statistics.median(v) for n, v in times.items()}
    floor_of = {"capacity": "capacity_floor", "einsum": "capacity_floor",
                "dropless_tiles": "dropless_floor", "dropless_ragged": "dropless_floor"}
    target = {"capacity": 1.05, "einsum": 1.05, "dropless_tiles": 1.15, "dropless_ragged": 1.15}

    def paired(n, ref):
        """Median over repeats of the ratio within a repeat (cases of one repeat ran back to back)."""
        return statistics.median(a / b for a, b in zip(times[n], times[ref]))

    rows = []
    for n in cases:
        row = {"case": n, "median_s": med[n], "repeats": len(times[n]),
               "x_dense": paired(n, "dense_ffn") if "dense_ffn" in times else float("nan"), "times_s": times[n]}
        if n in floor_of and floor_of[n] in times:
            row["floor"] = floor_of[n]
            row["x_floor"] = paired(n, floor_of[n])
            row["target_x_floor"] = target[n]
            row["meets_target"] = row["x_floor"] <= target[n]
        rows.append(row)
    return {
        "setting": {"tokens": args.tokens, "d_model": args.d, "d_ff": args.f, "experts": args.experts,
                    "k": args.k, "capacity_factor": args.cf, "capacity": cap, "tile": args.tile,
                    "tile_tuning_s": tuned["seconds"] if tuned else None,
                    "tile_levels": list(D.tile_sizes(args.tile, args.tokens * args.k)),
                    "pass": "forward+backward (grad wrt params and input)", "dtype": "float32"},
        "device": str(jax.devices()[0].device_kind), "backend": jax.default_backend(),
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "cpu_model": autotune.cpu_model(),
        "jax": jax.__version__,
        "load_average_1_5_15_before": load_before, "load_average_1_5_15_after": os.getloadavg(),
        "wall_s": time.perf_counter() - t_start,
        "note": ("CPU possibly shared with other jobs (see the load average): cases interleaved round-robin; ratios are the median over "
                 "repeats of the ratio within one repeat; seconds are medians and only indicative. "
                 "No GPU was available in this session."),
        "rows": rows,
    }


def to_markdown(res: dict) -> str:
    s = res["setting"]
    lines = [
        "### MoE layer (benchmarks/moe_layer.py)",
        "",
        f"tokens {s['tokens']}, d_model {s['d_model']}, d_ff {s['d_ff']}, {s['experts']} experts, top-{s['k']}, "
        f"capacity factor {s['capacity_factor']} (C = {s['capacity']}), {s['pass']}, {s['dtype']}; "
        f"device {res['device']} ({res['backend']}; host CPU {res.get('cpu_model', res['machine'])}, {res['cpu_count']} cores), "
        f"jax {res['jax']}. {res['note']} "
        f"Load average (1 min) {res['load_average_1_5_15_before'][0]:.1f} before, "
        f"{res['load_average_1_5_15_after'][0]:.1f} after; wall time {res['wall_s']:.0f} s. "
        f"Dropless tiles: {res['setting']['tile']} rows, then {'/'.join(map(str, res['setting']['tile_levels'][1:]))} "
        "for each expert's remainder"
        + (" (tile chosen on this machine from fwd+bwd seconds per candidate: "
           + ", ".join(f"{k}: {v:.3f}" for k, v in sorted(s['tile_tuning_s'].items(), key=lambda kv: int(kv[0])))
           + ")." if s.get("tile_tuning_s") else "."),
        "",
        "| case | median s | repeats | x dense FFN | floor | x floor | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        fl = (f"{r['floor']} | {r['x_floor']:.3f} | {r['target_x_floor']} | {'yes' if r['meets_target'] else 'no'}"
              if "floor" in r else "- | - | - | -")
        lines.append(f"| {r['case']} | {r['median_s']:.3f} | {r['repeats']} | {r['x_dense']:.2f} | {fl} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--f", type=int, default=2048)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--cf", type=float, default=1.25)
    ap.add_argument("--tile", default="auto", help="dropless bulk tile rows, or auto (measured, cached)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ragged-repeats", type=int, default=1)
    ap.add_argument("--einsum-repeats", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="small shapes, print only")
    ap.add_argument("--cases", default="", help="comma-separated subset of cases to run (print only, no files), "
                    "e.g. dense_ffn,dropless_floor,dropless_tiles")
    args = ap.parse_args()
    if args.quick:
        args.tokens, args.d, args.f, args.repeats, args.tile = 256, 32, 64, 2, 32
    res = run(args)
    md = to_markdown(res)
    print(md)
    if not args.quick and not args.cases:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "moe_layer.json").write_text(json.dumps(res, indent=1))
        (OUT / "moe_layer.md").write_text(md)


if __name__ == "__main__":
    main()
