"""ROD: Reception-aware Online Distillation for sparse graphs (Zhang et al., KDD 2021), and the
single-depth baselines it is compared against, on graphs with thinned edges and labels.

method='rod': K students, student k an MLP on Â^k X (k = 1..K, computed once by
`lib.graph.propagation.propagation_powers`); an ensemble teacher built every step from the students
with per-node reception-aware weights; each student learns from the labels, from its own
k-hop structure (random-walk pairs) and from the teacher (KL distillation); predictions come from
the teacher. The formulas are in projects/rod/model.py.
method='sgc': one linear layer on Â^K X (Wu et al. 2019), K = config.sgc.hops.
method='appnp': MLP then K steps of personalised-PageRank propagation (Klicpera et al. 2019).

The graph is first thinned (projects/rod/sparsify.py): `sparsity.edge_keep` of the undirected
edges and `sparsity.labels_per_class` of the training labels survive, drawn with `config.seed`.
Full-batch training, one Adam update per epoch, under lib.train.run (checkpoints, bit-exact
resume: dropout and pair sampling keys are fold_in(seed, step)). The reported accuracy is the
final state's (no early stopping) for every method.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib import train as train_lib
from lib.data import graphs
from lib.graph.propagation import KINDS, normalized_adjacency, propagation_powers
from projects.rod import model, sparsify

DATASETS = ("csbm", "cora", "citeseer")
METHODS = ("rod", "sgc", "appnp")
SPLITS = ("train", "val", "test")
GATES = ("learned", "confidence")


# ----------------------------------------------------------------------------- config


def validate(config) -> None:
    config_lib.choice(config, "dataset", DATASETS)
    config_lib.choice(config, "method", METHODS)
    config_lib.choice(config, "model.norm", KINDS)
    config_lib.choice(config, "rod.gate", GATES)
    config_lib.positive(config, "rod.gate_tau")
    sparsify.check_edge_keep(config.sparsity.edge_keep)
    sparsify.check_labels_per_class(config.sparsity.labels_per_class)
    for key in ("model.hidden", "epochs", "rod.num_hops", "rod.graph_batch", "rod.walks_per_node", "sgc.hops",
                "appnp.hops"):
        config_lib.integer(config, key, 1)
    config_lib.positive(config, "learning_rate")
    config_lib.positive(config, "weight_decay", allow_zero=True)
    config_lib.in_range(config, "model.dropout", 0.0, 0.99)
    config_lib.positive(config, "rod.temperature")
    config_lib.positive(config, "rod.tau")
    config_lib.positive(config, "rod.kd_weight", allow_zero=True)
    config_lib.positive(config, "rod.graph_weight", allow_zero=True)
    config_lib.in_range(config, "appnp.alpha", 1e-6, 1.0)


# ----------------------------------------------------------------------------- data


def prepare(config) -> dict:
    """Validated config -> the thinned graph, its propagated features and the device arrays."""
    validate(config)
    g0 = graphs.load(config)
    g = sparsify.sparsify(g0, config.sparsity.edge_keep, config.sparsity.labels_per_class, int(config.seed))
    real = np.asarray(g.node_mask)
    num_classes = int(np.asarray(g.y)[real].max()) + 1
    adj = normalized_adjacency(g, config.model.norm)
    d = {"y": jnp.asarray(g.y, jnp.int32), "real": jnp.asarray(real, jnp.float32),
         **{s: jnp.asarray(np.asarray(getattr(g, f"{s}_mask")) & real, jnp.float32) for s in SPLITS}}
    x = jnp.asarray(g.x, jnp.float32)
    if config.method == "rod":
        k = int(config.rod.num_hops)
        d["xs"] = propagation_powers(adj, x, k)[1:]
        src, dst, mask = sparsify.walk_pairs(g, k, int(config.rod.walks_per_node), int(config.seed))
        d.update(pair_src=jnp.asarray(src), pair_dst=jnp.asarray(dst), pair_mask=jnp.asarray(mask))
    elif config.method == "sgc":
        d["xk"] = propagation_powers(adj, x, int(config.sgc.hops))[-1]
    else:
        d.update(adj=adj, x=x)
    u, _ = sparsify.undirected_pairs(g0)
    info = {"num_nodes": int(real.sum()), "num_classes": num_classes,
            "undirected_edges_full": int(u.size), "undirected_edges_kept": int(sparsify.undirected_pairs(g)[0].size),
            "num_train": int(np.asarray(d["train"]).sum()),
            "isolated_nodes": int((np.bincount(np.asarray(adj.receivers)[np.asarray(adj.mask)],
                                               minlength=g.num_nodes)[real] <= 1).sum())}
    return {"graph": g, "data": d, "info": info, "num_features": int(x.shape[1])}


def hyper(config, info) -> dict:
    hp = {"weight_decay": float(config.weight_decay), "dropout": float(config.model.dropout)}
    if config.method == "rod":
        hp.update(kd_weight=float(config.rod.kd_weight), temperature=float(config.rod.temperature),
                  graph_weight=float(config.rod.graph_weight), tau=float(config.rod.tau),
                  graph_batch=int(config.rod.graph_batch), num_real=info["num_nodes"], gate=str(config.rod.gate),
                  gate_tau=float(config.rod.gate_tau))
    elif config.method == "appnp":
        hp.update(alpha=float(config.appnp.alpha), hops=int(config.appnp.hops))
    return hp


# ----------------------------------------------------------------------------- functions


_LOSS = {"rod": model.rod_loss, "sgc": model.sgc_loss, "appnp": model.appnp_loss}


@functools.lru_cache(maxsize=16)
def functions(method: str, hp_items: tuple, learning_rate: float):
    """(step, evaluate) jitted once per (method, hyper-parameters); data are arguments."""
    hp = dict(hp_items)
    tx = optax.adam(learning_rate)
    loss_fn = _LOSS[method]

    @jax.jit
    def step(state, d):
        key = jax.random.fold_in(jax.random.wrap_key_data(state["key"]), state["step"])
        (loss, parts), g = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], d, key, hp)
        upd, opt = tx.update(g, state["opt_state"], state["params"])
        new = {"step": state["step"] + 1, "key": state["key"], "params": optax.apply_updates(state["params"], upd),
               "opt_state": opt}
        return new, {"loss": loss, **parts}

    @jax.jit
    def evaluate(params, d):
        out = {}

        def acc(logits, prefix=""):
            ok = (jnp.argmax(logits, -1) == d["y"]).astype(jnp.float32)
            for s in SPLITS:
                out[f"{prefix}{s}_accuracy"] = jnp.sum(ok * d[s]) / jnp.maximum(d[s].sum(), 1.0)
        if method == "rod":
            zt, logits, alpha = model.rod_predict(params, d["xs"], hp["gate"], hp["gate_tau"])
            acc(zt)
            for k in range(logits.shape[0]):
                acc(logits[k], f"student{k + 1}_")
            mean_alpha = jnp.sum(alpha * d["real"][:, None], 0) / d["real"].sum()
            for k in range(logits.shape[0]):
                out[f"alpha{k + 1}"] = mean_alpha[k]
        elif method == "sgc":
            acc(model.sgc_logits(params, d["xk"]))
        else:
            acc(model.appnp_logits(params, d["adj"], d["x"], hp["alpha"], hp["hops"]))
        return out
    return tx, step, evaluate


def init_state(config, run, tx) -> dict:
    key = jax.random.key(int(config.seed))
    k_init, k_run = jax.random.split(key)
    f, c, h = run["num_features"], run["info"]["num_classes"], int(config.model.hidden)
    if config.method == "rod":
        params = model.init_rod(k_init, int(config.rod.num_hops), f, h, c)
    elif config.method == "sgc":
        params = model.init_sgc(k_init, f, c)
    else:
        params = model.init_appnp(k_init, f, h, c)
    return {"step": jnp.int32(0), "key": jax.random.key_data(k_run), "params": params, "opt_state": tx.init(params)}


def train_and_evaluate(config, workdir: str) -> dict:
    run = prepare(config)
    d, info = run["data"], run["info"]
    hp = hyper(config, info)
    tx, step, evaluate = functions(config.method, tuple(sorted(hp.items())), float(config.learning_rate))
    state = init_state(config, run, tx)

    final = train_lib.run(config, workdir, state=state, step_fn=lambda s, _: step(s, d), num_steps=int(config.epochs),
                          eval_fn=lambda s: evaluate(s["params"], d),
                          desc=f"rod/{config.dataset}/{config.method}", summary_fn=lambda _: info)
    return final
