"""The character-level MoE language-model task from config: defaults, data, model, optimizer, loss, eval.

Shared by the MoE projects (lossfree_balance, dts_gate, hetumoe) the way lib/fl/tasks.py serves the
FL ones. A project's train.py holds its trainer: the train state, the jitted step with what its
method adds (router-state updates, a temperature, ...) and the call of lib.train.run; it builds
them from these pieces:

    task = tasks.load_task(config)                    # validated MoE spec, corpus, model, initial variables
    tx, schedule = tasks.optimizer(config)            # AdamW, warmup + cosine decay, clipping
    params, opt_state, out = tasks.optimizer_step(task.model, tx, params, opt_state, moe_state, batch,
                                                  step, key)     # one update; out has loss, ce, aux, intermediates
    metrics = tasks.train_metrics(out, schedule(step))
    eval_fn = tasks.make_eval(task, config)           # val bits/char, loads, routing consistency at the end

Config keys: `default_config(project)` holds every key with neutral values (top-2 softmax router,
no balancing); a project's config sets what its method needs.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec as P
from ml_collections import ConfigDict, config_dict

from lib import config as config_lib
from lib import precision
from lib import perf
from lib import mesh as mesh_lib
from lib.data import text as text_data
from lib.moe import dispatch as D
from lib.moe import layer as moe_layer
from lib.moe import metrics as moe_metrics
from lib.moe import parallel as moe_parallel
from lib.models.transformer import REMAT
from lib.moe.model import MoETransformerLM
from lib.moe.routers import MoEConfigError

LN2 = math.log(2.0)


def default_config(project: str) -> ConfigDict:
    """Every key of an MoE LM run: a tiny char LM on Python's pydoc_data topics (ships with Python),
    2 layers (1 MoE layer of 8 experts, top-2 softmax router, no balancing), 40 steps."""
    c = ConfigDict()
    c.project = project
    c.seed = 0
    c.data = ConfigDict({"source": "pydoc_topics", "val_fraction": 0.1, "max_chars": 0})
    c.data_dir = config_dict.placeholder(str)
    c.mesh = (("data", -1),)
    c.model = ConfigDict({"d_model": 64, "num_heads": 4, "num_layers": 2, "d_ff": 128, "seq_len": 64,
                          "moe_every": 2,
                          "remat": "none"})  # none | block | dots: jax.checkpoint policy of every block
    c.param_dtype = "float32"  # master weights and AdamW state
    c.compute_dtype = "float32"  # float32 | bfloat16 (router softmax, loss, optimizer stay float32)
    c.moe = ConfigDict({
        "router": "topk",  # a name in lib.moe.routers.ROUTERS
        "num_experts": 8, "k": 2,
        "router_kwargs": ConfigDict({}),  # RouterSpec fields (bias_rate, tau_schedule, group_size, ...)
        "dispatch": "capacity", "capacity_factor": 1.25, "num_groups": 1,
        "tile": "auto",  # dropless_tiles bulk tile rows, or 'auto': the fastest on this machine (lib.autotune)
        "aux_weight": 0.0, "z_weight": 0.0,
        "align_weight": 0.0,  # SAM's alignment loss (router=sam only)
        "expert_parallel": False, "expert_axes": ("expert",), "hierarchical_a2a": False,
    })
    c.batch_size = 16
    c.lr = 3e-3
    c.weight_decay = 0.01
    c.warmup = 10
    c.total = 40
    c.eval_batches = 4
    c.log_every = 10
    c.eval_every = 20
    c.checkpoint_every = 20
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c


def _tile(value) -> int:
    """moe.tile: 'auto' (512 until measured) or a positive row count (flags give it as a string)."""
    if value == "auto":
        return 512
    try:
        tile = int(value)
    except (TypeError, ValueError):
        tile = 0
    if tile < 1:
        raise MoEConfigError("moe.tile", value, "'auto' or a positive number of rows")
    return tile


def moe_spec(config) -> moe_layer.MoESpec:
    m = config.moe
    kw = dict(m.router_kwargs) if m.get("router_kwargs") else {}
    kw.setdefault("k", m.k)  # aliases (switch, gshard) fix their own k
    d_ff = m.get("d_ff") or config.model.d_ff  # expert width (hetumoe: active params held equal)
    spec = moe_layer.make_moe_spec(m.router, m.num_experts, d_ff, router_kwargs=kw,
                                   dispatch=m.dispatch, capacity_factor=m.capacity_factor,
                                   num_groups=m.num_groups, aux_weight=m.aux_weight, z_weight=m.z_weight,
                                   align_weight=m.get("align_weight", 0.0),
                                   tile=_tile(m.get("tile", 512)))
    return _tuned(config, spec)


def _tuned(config, spec: moe_layer.MoESpec) -> moe_layer.MoESpec:
    """moe.tile='auto': the dropless path measured on this machine for this shape (lib.autotune).
    'dropless_tiles' picks its tile; 'dropless' (the platform's choice) on GPU/TPU also weighs
    the ragged_dot path against the tiles, so the faster one runs; explicit modes stay as given."""
    m = config.moe
    if m.get("tile") != "auto" or m.dispatch not in ("dropless", "dropless_tiles"):
        return spec
    rows = config.batch_size * config.model.seq_len // m.num_groups * spec.router.k
    allow_ragged = m.dispatch == "dropless" and jax.default_backend() != "cpu"
    default = D.RAGGED if allow_ragged else spec.tile
    choice = D.choose_dropless(rows, config.model.d_model, spec.d_ff, m.num_experts,
                               precision.policy(config).compute_dtype, allow_ragged=allow_ragged, default=default)
    if choice == D.RAGGED:
        return dataclasses.replace(spec, dispatch="dropless_ragged")
    return dataclasses.replace(spec, dispatch="dropless_tiles", tile=choice)


def validate(config, *, router_state: bool = True):
    """Every check that can fail on bad input, before data is loaded or anything compiled.
    Returns (MoESpec, ExpertParallel or None). `router_state=False`: the caller's trainer does not
    update router state, so a stateful router (loss-free bias) is a named error, not a frozen bias."""
    config_lib.choice(config, "data.source", text_data.SOURCES)
    for key in ("batch_size", "model.seq_len", "model.d_model", "model.num_layers", "model.num_heads",
                "model.d_ff", "lr", "eval_batches"):
        config_lib.positive(config, key)
    config_lib.divisible(config, "model.d_model", config.model.num_heads, "model.num_heads must divide it")
    prec = precision.policy(config)
    if prec.param_dtype != jnp.float32:
        raise config_lib.ConfigError(f"config.param_dtype={config.param_dtype!r}: the MoE LM keeps float32 master "
                                     "weights (set compute_dtype for bf16 math)")
    config_lib.choice(config, "model.remat", REMAT)
    config_lib.positive(config, "total")
    config_lib.positive(config, "warmup", allow_zero=True)
    if config.warmup >= max(2, config.total):  # the cosine decay needs steps after the warmup
        raise config_lib.ConfigError(f"config.warmup={config.warmup} must be below config.total={config.total}")
    spec = moe_spec(config)
    if spec.router.has_state and not router_state:
        raise MoEConfigError("moe.router", config.moe.router,
                             f"a router without state: the {config.project} trainer does not update router state")
    tokens = config.batch_size * config.model.seq_len
    spec.validate(tokens)
    par = None
    mesh_lib.make_mesh(config.mesh)  # a malformed mesh is named even when it is not used
    if not config.moe.expert_parallel and tuple(map(tuple, config.mesh)) != (("data", -1),):
        raise config_lib.ConfigError(
            f"config.mesh={config.mesh!r} is used only with config.moe.expert_parallel=True; without it the "
            "model runs on one device")
    if config.moe.expert_parallel:
        mesh = mesh_lib.make_mesh(config.mesh)
        axes = tuple(config.moe.expert_axes)
        data_axes = tuple(a for a in mesh.axis_names if a not in axes)
        par = moe_parallel.ExpertParallel(mesh, expert_axes=axes, data_axes=data_axes,
                                          hierarchical=bool(config.moe.hierarchical_a2a))
        par.validate(spec, tokens)
    return spec, par


def make_model(config, vocab_size: int, spec, par) -> MoETransformerLM:
    m = config.model
    return MoETransformerLM(vocab_size=vocab_size, d_model=m.d_model, num_heads=m.num_heads,
                            num_layers=m.num_layers, d_ff=m.d_ff, max_len=m.seq_len, moe=spec,
                            moe_every=m.moe_every, parallel=par, dtype=precision.policy(config).compute_dtype,
                            remat=m.get("remat", "none"))


def flops_per_token(config, vocab_size: int) -> float:
    """Training FLOPs per token counted from the model: 3 x the forward matmul FLOPs (backward = 2
    forward). Forward per token and layer: attention projections 2 * 4 d^2, scores and weighted
    sum 2 * 2 * L * d (full L x L, the usual convention, though half is masked); a dense FFN
    2 * 2 d d_ff; an MoE FFN 2 * d E (router) + k * 2 * 2 d d_e (the k experts a token visits,
    d_e the expert width). Plus the output head 2 d V. Embedding lookups and norms are not
    counted; recomputation (remat) is not useful work and is not counted either."""
    m, e = config.model, config.moe
    d, seq = m.d_model, m.seq_len
    spec = moe_spec(config)
    d_e = spec.d_ff
    fwd = 2 * d * vocab_size
    for i in range(m.num_layers):
        fwd += 2 * 4 * d * d + 2 * 2 * seq * d
        if i % m.moe_every == m.moe_every - 1:
            fwd += 2 * d * e.num_experts + spec.router.k * 2 * 2 * d * d_e
        else:
            fwd += 2 * 2 * d * m.d_ff
    return 3.0 * fwd


def throughput_summary(config, vocab_size: int) -> Callable[[dict], dict]:
    """lib.train.run's summary_fn for the MoE LMs: tokens/s of the last log interval, the model
    TFLOP/s it means (flops_per_token) and MFU where the device's peak is known (lib/perf.py)."""
    fpt = flops_per_token(config, vocab_size)

    def summary(final: dict) -> dict:
        if "examples_per_sec" not in final:  # nothing ran (a finished run resumed)
            return {}
        tokens = final["examples_per_sec"]
        return {"tokens_per_s": tokens, "flops_per_token": fpt,
                **perf.utilisation(fpt, tokens, str(config.compute_dtype))}
    return summary


class Task(NamedTuple):
    spec: moe_layer.MoESpec
    parallel: Any  # lib.moe.parallel.ExpertParallel or None
    corpus: text_data.CharCorpus
    model: MoETransformerLM
    params: Any  # initial parameters
    moe_state: Any  # initial router state (the 'moe_state' collection; empty leaves for stateless routers)
    rng: jax.Array  # base key of the run's routing randomness: step s routes with fold_in(rng, s)
    batch_fn: Callable  # step -> {'inputs', 'targets'} [batch_size, seq_len], a pure function of (seed, step)


def load_task(config, *, router_state: bool = True) -> Task:
    spec, par = validate(config, router_state=router_state)
    corpus = text_data.make_corpus(config.data.source, config_lib.data_dir(config),
                                   config.data.val_fraction, config.data.get("max_chars") or None,
                                   seq_len=config.model.seq_len, batch_size=config.batch_size)
    model = make_model(config, corpus.vocab_size, spec, par)
    b, l = config.batch_size, config.model.seq_len
    root = jax.random.PRNGKey(config.seed)
    init = functools.partial(model.init, train=False)
    if par is not None:  # eagerly, an expert-parallel init runs its shard_map op by op (~6x slower).
        init = jax.jit(init)  # (Not always: jitted init rounds differently, and results were made eagerly.)
    variables = init({"params": jax.random.fold_in(root, 0), "route": jax.random.fold_in(root, 1)},
                     jnp.zeros((b, l), jnp.int32))

    def batch_fn(step):
        return text_data.batch(corpus.train, seed=config.seed, step=step, batch_size=b, seq_len=l)

    return Task(spec, par, corpus, model, variables["params"], variables.get("moe_state", {}),
                jax.random.fold_in(root, 2), batch_fn)


def place_state(task: Task, state: dict) -> dict:
    """The train state laid out on the expert-parallel mesh (expert weights and their optimizer
    moments split over the expert axes, the rest replicated), so that a checkpoint restores into
    the layout the step uses; unchanged without expert parallelism (one device)."""
    if task.parallel is None:
        return state
    ex = P(task.parallel.expert_axes)
    return mesh_lib.place_state(state, task.parallel.mesh, [(("moe", "w1"), ex), (("moe", "w2"), ex)])


def optimizer(config):
    """(AdamW with global-norm clipping 1.0, its learning-rate schedule): linear warmup, cosine to lr/10."""
    sched = optax.warmup_cosine_decay_schedule(0.0, config.lr, max(1, config.warmup), max(2, config.total),
                                               config.lr * 0.1)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=config.weight_decay))
    return tx, sched


class StepOut(NamedTuple):
    loss: jax.Array  # cross-entropy + the MoE layers' weighted auxiliary losses
    ce: jax.Array
    aux: dict  # the model's aux: moe_loss, aux_loss, z_loss, load [n_moe, E], dropped_fraction
    intermediates: dict  # what the MoE layers sowed: per block 'moe': load, index, mask


def lm_loss(model, params, moe_state, batch, step, key):
    """(loss, (ce, aux, intermediates)) of one training batch; `key` seeds random routing."""
    (logits, aux), inter = model.apply({"params": params, "moe_state": moe_state}, batch["inputs"],
                                       step=step, train=True, rngs={"route": key}, mutable=["intermediates"])
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["targets"]).mean()
    return ce + aux["moe_loss"], (ce, aux, inter["intermediates"])


def optimizer_step(model, tx, params, opt_state, moe_state, batch, step, key):
    """One optimizer update of the parameters (router state is the caller's): (params, opt_state, StepOut)."""
    (loss, (ce, aux, inter)), grads = jax.value_and_grad(functools.partial(lm_loss, model), has_aux=True)(
        params, moe_state, batch, step, key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, StepOut(loss, ce, aux, inter)


def train_metrics(out: StepOut, lr) -> dict:
    """Scalars of a step: loss, bits/char, the layers' balance terms, and load balance over experts
    (max/mean and coefficient of variation, averaged over MoE layers)."""
    load = out.aux["load"]  # [n_moe, E]
    mean = jnp.maximum(load.mean(-1), 1e-9)
    return {"loss": out.loss, "ce": out.ce, "bits_per_char": out.ce / LN2, "aux_loss": out.aux["aux_loss"],
            "z_loss": out.aux["z_loss"], "dropped_fraction": out.aux["dropped_fraction"],
            "load_max_over_mean": jnp.mean(load.max(-1) / mean), "load_cv": jnp.mean(load.std(-1) / mean),
            "lr": lr}


def make_eval(task: Task, config) -> Callable[[dict], dict]:
    """eval(state) -> val loss, bits/char and expert-load balance on the held-out tail (`eval_batches`
    batches); at the last step (single device) also the routing consistency SRP/SCH."""
    model, spec = task.model, task.spec

    @jax.jit
    def eval_step(params, moe_state, batch):
        (logits, aux), inter = model.apply({"params": params, "moe_state": moe_state}, batch["inputs"],
                                           train=False, mutable=["intermediates"])
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["targets"]).mean()
        return ce, aux["load"], inter["intermediates"]

    eval_set = text_data.eval_batches(task.corpus.val, batch_size=config.batch_size, seq_len=config.model.seq_len,
                                      max_batches=config.eval_batches)

    def eval_fn(state):
        ces, loads, inters = [], [], []
        for batch in eval_set:
            ce, load, inter = eval_step(state["params"], state["moe_state"], batch)
            ces.append(float(ce))
            loads.append(np.asarray(load))
            inters.append(inter)
        load = np.sum(loads, 0)
        extra = {}
        if task.parallel is None and int(state["step"]) == config.total:  # routing consistency at the end
            extra = consistency(spec, inters)
        return {**extra, "val_bits_per_char": float(np.mean(ces)) / LN2, "val_loss": float(np.mean(ces)),
                "val_load_cv": float(np.mean([moe_metrics.cv(x) for x in load])),
                "val_load_max_over_mean": float(np.mean([moe_metrics.max_over_mean(x) for x in load]))}

    return eval_fn


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
