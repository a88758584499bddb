"""Training a character-level MoE transformer LM: the run shared by the MoE projects.

`train_and_evaluate(config, workdir)` builds data (lib.data.text), the model
(lib.models.transformer with lib.moe layers), AdamW, and hands a jitted step to lib.train.run.

State (all checkpointed, so resume is bit-exact): step, params, opt_state, moe_state (loss-free
router biases, updated after the optimizer step and never seen by it), rng (the base key; the
routing key of step s is fold_in(rng, s)), tau (the DTS temperature used at the last step).

Config keys: see configs/lossfree_balance/default.py.
"""
from __future__ import annotations

import functools
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib import mesh as mesh_lib
from lib import train as train_lib
from lib.data import text as text_data
from lib.models.transformer import TransformerLM
from lib.moe import layer as moe_layer
from lib.moe import metrics as moe_metrics
from lib.moe import parallel as moe_parallel
from lib.moe import routers as R
from lib.moe.routers import MoEConfigError

LN2 = math.log(2.0)


def moe_spec(config) -> moe_layer.MoESpec:
    m = config.moe
    kw = dict(m.router_kwargs) if m.get("router_kwargs") else {}
    if m.router not in ("switch", "gshard") and "k" not in kw:
        kw["k"] = m.k
    d_ff = m.get("d_ff") or config.model.d_ff  # expert width (hetumoe: active params held equal)
    return moe_layer.make_moe_spec(m.router, m.num_experts, d_ff, router_kwargs=kw,
                                   dispatch=m.dispatch, capacity_factor=m.capacity_factor,
                                   num_groups=m.num_groups, aux_weight=m.aux_weight, z_weight=m.z_weight,
                                   align_weight=m.get("align_weight", 0.0))


def validate(config):
    """Every check that can fail on bad input, before data is loaded or anything compiled."""
    config_lib.choice(config, "data.source", text_data.SOURCES)
    for key in ("batch_size", "model.seq_len", "model.d_model", "model.num_layers", "model.num_heads",
                "model.d_ff", "lr", "eval_batches"):
        config_lib.positive(config, key)
    config_lib.divisible(config, "model.d_model", config.model.num_heads, "model.num_heads must divide it")
    config_lib.positive(config, "total")
    config_lib.positive(config, "warmup", allow_zero=True)
    if config.warmup > config.total:
        raise config_lib.ConfigError(f"config.warmup={config.warmup} must be <= config.total={config.total}")
    mesh_lib.make_mesh(config.mesh)  # a malformed mesh is named even when it is not used
    if not config.moe.expert_parallel and tuple(map(tuple, config.mesh)) != (("data", -1),):
        raise config_lib.ConfigError(
            f"config.mesh={config.mesh!r} is used only with config.moe.expert_parallel=True; without it the "
            "model runs on one device")
    spec = moe_spec(config)
    tokens = config.batch_size * config.model.seq_len
    spec.validate(tokens)
    par = None
    if config.moe.expert_parallel:
        mesh = mesh_lib.make_mesh(config.mesh)
        axes = tuple(config.moe.expert_axes)
        data_axes = tuple(a for a in mesh.axis_names if a not in axes)
        par = moe_parallel.ExpertParallel(mesh, expert_axes=axes, data_axes=data_axes,
                                          hierarchical=bool(config.moe.hierarchical_a2a))
        par.validate(spec, tokens)
    return spec, par


def make_model(config, vocab_size, spec, par):
    m = config.model
    return TransformerLM(vocab_size=vocab_size, d_model=m.d_model, num_heads=m.num_heads,
                         num_layers=m.num_layers, d_ff=m.d_ff, max_len=m.seq_len, moe=spec,
                         moe_every=m.moe_every, parallel=par)


def update_router_state(spec, moe_state, inter, step):
    """Loss-free bias update per MoE layer from the loads the layers sowed this step."""
    if not spec.router.has_state:
        return moe_state
    new = {}
    for block, sub in moe_state.items():
        load = inter[block]["moe"]["load"][0]
        new[block] = {"moe": {"router": R.update_state(spec.router, sub["moe"]["router"], load, step)}}
    return new


def train_and_evaluate(config, workdir: str) -> dict:
    spec, par = validate(config)
    corpus = text_data.make_corpus(config.data.source, config_lib.data_dir(config),
                                   config.data.val_fraction, config.data.get("max_chars") or None,
                                   seq_len=config.model.seq_len, batch_size=config.batch_size)
    model = make_model(config, corpus.vocab_size, spec, par)
    b, l = config.batch_size, config.model.seq_len
    root = jax.random.PRNGKey(config.seed)
    variables = model.init({"params": jax.random.fold_in(root, 0), "route": jax.random.fold_in(root, 1)},
                           jnp.zeros((b, l), jnp.int32), train=False)
    params, moe_state = variables["params"], variables.get("moe_state", {})
    sched = optax.warmup_cosine_decay_schedule(0.0, config.lr, max(1, config.warmup), max(2, config.total),
                                               config.lr * 0.1)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=config.weight_decay))
    state = {"step": jnp.int32(0), "params": params, "opt_state": tx.init(params), "moe_state": moe_state,
             "rng": jax.random.fold_in(root, 2), "tau": jnp.float32(spec.router.tau_max)}

    def loss_fn(params, moe_state, batch, step, key):
        (logits, aux), inter = model.apply({"params": params, "moe_state": moe_state}, batch["inputs"],
                                           step=step, train=True, rngs={"route": key},
                                           mutable=["intermediates"])
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["targets"]).mean()
        return ce + aux["moe_loss"], (ce, aux, inter["intermediates"])

    @jax.jit
    def train_step(state, batch):
        step = state["step"]
        key = jax.random.fold_in(state["rng"], step)
        (loss, (ce, aux, inter)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state["params"], state["moe_state"], batch, step, key)
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        load = aux["load"]  # [n_moe, E]
        mean = jnp.maximum(load.mean(-1), 1e-9)
        metrics = {"loss": loss, "ce": ce, "bits_per_char": ce / LN2, "aux_loss": aux["aux_loss"],
                   "z_loss": aux["z_loss"], "dropped_fraction": aux["dropped_fraction"],
                   "load_max_over_mean": jnp.mean(load.max(-1) / mean),
                   "load_cv": jnp.mean(load.std(-1) / mean), "lr": sched(step),
                   "tau": R.dts_temperature(spec.router, step)}
        new = {"step": step + 1, "params": optax.apply_updates(state["params"], updates), "opt_state": opt_state,
               "moe_state": update_router_state(spec, state["moe_state"], inter, step), "rng": state["rng"],
               "tau": R.dts_temperature(spec.router, step).astype(jnp.float32)}
        if new["moe_state"]:
            metrics["bias_norm"] = optax.global_norm(new["moe_state"])
        return new, metrics

    @jax.jit
    def eval_step(params, moe_state, batch):
        (logits, aux), inter = model.apply({"params": params, "moe_state": moe_state}, batch["inputs"],
                                           train=False, mutable=["intermediates"])
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["targets"]).mean()
        return ce, aux["load"], inter["intermediates"]

    eval_set = text_data.eval_batches(corpus.val, batch_size=b, seq_len=l, max_batches=config.eval_batches)

    def batch_fn(step):
        return text_data.batch(corpus.train, seed=config.seed, step=step, batch_size=b, seq_len=l)

    def eval_fn(state):
        ces, loads, inters = [], [], []
        for batch in eval_set:
            ce, load, inter = eval_step(state["params"], state["moe_state"], batch)
            ces.append(float(ce))
            loads.append(np.asarray(load))
            inters.append(inter)
        load = np.sum(loads, 0)
        extra = {}
        if par is None and int(state["step"]) == config.total:  # routing consistency at the end
            extra = consistency(spec, inters)
        return {**extra, "val_bits_per_char": float(np.mean(ces)) / LN2, "val_loss": float(np.mean(ces)),
                "val_load_cv": float(np.mean([moe_metrics.cv(x) for x in load])),
                "val_load_max_over_mean": float(np.mean([moe_metrics.max_over_mean(x) for x in load]))}

    return train_lib.run(config, workdir, state=state, step_fn=train_step, batch_fn=batch_fn,
                         num_steps=config.total, eval_fn=eval_fn, examples_per_step=b * l,
                         desc=f"{config.project}/{config.moe.router}")


def consistency(spec, inters) -> dict:
    """Model-level SRP(m) and SCH(m, C = 2k * layers) from the eval batches' routing traces.

    Segments longer than seq_len are cut at the sequence end (m = 256 on 64-token sequences
    equals m = 64)."""
    e = spec.router.num_experts
    blocks = sorted(inters[0])
    layers = []
    for blk in blocks:
        idx = np.concatenate([np.asarray(it[blk]["moe"]["index"][0]) for it in inters])
        mask = np.concatenate([np.asarray(it[blk]["moe"]["mask"][0]) for it in inters])
        layers.append(moe_metrics.trace_from_index(idx, mask, e))
    trace = np.stack(layers)  # [layers, N, L, E]
    k = max(1, int(round(trace.sum(-1).mean())))  # mean active experts per token
    out = {}
    for m in moe_metrics.SEGMENTS:
        out[f"srp_m{m}"] = moe_metrics.srp(trace, m)
        out[f"sch2k_m{m}"] = moe_metrics.sch(trace, m, min(trace.shape[0] * e, 2 * k * trace.shape[0]))
    return out


def collect_run(workdir: str, curve_keys=("train_load_cv", "train_load_max_over_mean", "train_dropped_fraction",
                                          "train_bits_per_char", "val_bits_per_char", "val_load_cv",
                                          "examples_per_sec")) -> dict:
    """final_metrics.json + selected curves from metrics.jsonl of one run, for a results JSON."""
    from lib.metrics import read_jsonl

    with open(os.path.join(workdir, "final_metrics.json")) as f:
        final = json.load(f)
    rows = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    curves = {k: [[r["step"], r[k]] for r in rows if k in r] for k in curve_keys}
    return {"final": final, "curves": {k: v for k, v in curves.items() if v}}


def steps_to_reach(curve, target: float):
    """First logged step whose value is <= target (None if never)."""
    for step, v in curve:
        if v <= target:
            return step
    return None


def run_sweep(config_path: str, config_args: dict, root: str, results_path: str, train_fn) -> dict:
    """Runs `train_fn(config, workdir)` for each name -> config-file argument (e.g. "gate=base") in its
    own workdir under `root` (finished runs are skipped, interrupted ones resume) and writes the
    results JSON after every run, so a cut-short sweep still leaves what finished."""
    import importlib.util
    import json
    import os
    import platform

    res = {}
    if os.path.exists(results_path):
        with open(results_path) as f:
            res = json.load(f)
    runs = res.get("runs", {})
    for name, arg in config_args.items():
        spec = importlib.util.spec_from_file_location("cfg", config_path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        cfg = mod.get_config(arg)
        wd = os.path.join(root, name)
        os.makedirs(wd, exist_ok=True)
        if not os.path.exists(os.path.join(wd, "final_metrics.json")):
            train_fn(cfg, wd)
        runs[name] = {**collect_run(wd), "config": cfg.to_dict()}
        res = {"config": config_path, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)",
               "device_kind": jax.devices()[0].device_kind, "runs": runs}
        os.makedirs(os.path.dirname(results_path), exist_ok=True)
        with open(results_path, "w") as f:
            json.dump(res, f, indent=1, default=str)
    return res
