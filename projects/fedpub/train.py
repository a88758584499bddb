"""FED-PUB (Baek et al., ICML 2023): personalized subgraph FL, and its FedAvg / local baselines.

One step of lib.train.run is one communication round (all clients take part, as in the paper's
scripts, frac 1.0):

1. client k starts from the model the server sent it (its personalized aggregate; the common
   initial model in round 0) with its own masks, and runs `local_epochs` full-batch Adam steps on
   its subgraph: cross-entropy on its train nodes + l1 * sum |masks| + loc_l2 * sum over weight
   tensors of ||theta - theta_received||_2 (from round 1 on);
2. it uploads its weights and its functional embedding: the mean second-layer output of its
   model (eval mode, pruned masks) on the server's fixed proxy random graph;
3. the server computes S = cos(embeddings), W = row-normalised exp(tau S), and sends client k
   sum_j W_kj theta_j (masks are not aggregated: they stay on the client).

method='fedavg' replaces W by the train-size-weighted average (every client gets the same global
model, plain GCN, no masks); method='local' by the identity (no communication).

Why a project round and not lib.fl.engine: the engine keeps one global model and aggregates
client deltas into it; FED-PUB keeps K server-side models (one per client), decides their mixing
from the clients' outputs on a proxy graph, and its clients are graphs with per-client adjacency.
The round here is one jitted function with the clients vmapped; all per-client state
(received models, trained models with masks, Adam states, the last similarity matrix) is in the
checkpointed state, so a resumed run continues bit for bit. Dropout keys are fold_in(seed,
round, client, epoch).

Evaluation (as in the reference code's logs): every client's own model after the round's local
training, on the test nodes of its own subgraph; the headline is the unweighted mean over
clients. The model each client received from the server (before training) is evaluated too.
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
from projects.fedpub import clients as clients_lib
from projects.fedpub import model as model_lib
from projects.fedpub import server as server_lib

DATASETS = ("csbm", "cora", "citeseer")
METHODS = ("fedpub", "fedavg", "local")


# ----------------------------------------------------------------------------- config


def validate(config) -> None:
    config_lib.choice(config, "dataset", DATASETS)
    config_lib.choice(config, "method", METHODS)
    config_lib.choice(config, "mode", clients_lib.MODES)
    for key in ("num_clients", "num_rounds", "local_epochs", "hidden", "num_proxy_blocks", "clients_per_community"):
        v = config_lib.get(config, key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise config_lib.ConfigError(f"config.{key}={v!r} must be a positive integer")
    config_lib.positive(config, "learning_rate")
    for key in ("weight_decay", "l1", "loc_l2", "tau"):
        config_lib.positive(config, key, allow_zero=True)
    for key in ("prune_threshold", "dropout"):
        v = config_lib.get(config, key)
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v < 1.0):
            raise config_lib.ConfigError(f"config.{key}={v!r} must be in [0, 1)")
    r = config_lib.get(config, "ratio_train")
    if not (isinstance(r, (int, float)) and 0.0 < r < 1.0):
        raise config_lib.ConfigError(f"config.ratio_train={r!r} must be in (0, 1)")


# ----------------------------------------------------------------------------- round


def _weights_only(p):
    """The leaves the server aggregates (everything but the masks)."""
    return {n: {k: v for k, v in layer.items() if k != "mask"} for n, layer in p.items()}


def _with_masks(weights, masks_from):
    return {n: {**weights[n], **({"mask": masks_from[n]["mask"]} if "mask" in masks_from[n] else {})}
            for n in weights}


@functools.lru_cache(maxsize=8)
def round_functions(method: str, local_epochs: int, learning_rate: float, weight_decay: float, l1: float,
                    loc_l2: float, tau: float, dropout: float, prune_threshold: float):
    """(init_opt, round_fn, evaluate_fn) for one configuration; jitted, clients vmapped."""
    # torch.optim.Adam(weight_decay=wd) adds wd * theta to the gradient before Adam (coupled L2)
    tx = optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate))

    def loss_fn(p, received, d, key, first_round):
        out = model_lib.logits(p, d["adj"], d["x"], train=True, key=key, dropout=dropout,
                               prune_threshold=prune_threshold)
        ce = model_lib.masked_ce(out, d["y"], d["train"])
        loss = ce
        if l1 > 0:
            loss = loss + l1 * sum(jnp.sum(jnp.abs(p[n]["mask"])) for n in p if "mask" in p[n])
        if loc_l2 > 0:
            prox = sum(model_lib.safe_norm(a - b) for a, b in
                       zip(jax.tree.leaves(_weights_only(p)), jax.tree.leaves(_weights_only(received))))
            loss = loss + jnp.where(first_round, 0.0, loc_l2 * prox)
        return loss, ce

    def local_train(p, opt, d, key, first_round):
        received = p

        def epoch(carry, e):
            p, opt = carry
            (_, ce), g = jax.value_and_grad(loss_fn, has_aux=True)(p, received, d, jax.random.fold_in(key, e),
                                                                  first_round)
            upd, opt = tx.update(g, opt, p)
            return (optax.apply_updates(p, upd), opt), ce

        (p, opt), ce = jax.lax.scan(epoch, (p, opt), jnp.arange(local_epochs))
        return p, opt, ce[-1]

    def embed(p, proxy):
        return model_lib.functional_embedding(p, proxy["adj"], proxy["x"], proxy["mask"], prune_threshold)

    @jax.jit
    def round_fn(state, data, proxy, seed):
        t = state["step"]
        k = data["x"].shape[0]
        keys = jax.vmap(lambda c: jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), t), c))(jnp.arange(k))
        local, opt, ce = jax.vmap(local_train, in_axes=(0, 0, 0, 0, None))(
            state["received"], state["opt_state"], data, keys, t == 0)
        sim = state["sim"]
        if method == "local":
            received = local
        else:
            if method == "fedpub":
                sim = server_lib.cosine_similarity(jax.vmap(embed, in_axes=(0, None))(local, proxy))
                w = server_lib.personalized_weights(sim, tau)
            else:
                w = server_lib.fedavg_weights(data["train"].sum(-1))
            received = _with_masks(server_lib.mix(w, _weights_only(local)), local)
        n_train = data["train"].sum(-1).astype(jnp.float32)
        new = {"step": t + 1, "received": received, "local": local, "opt_state": opt, "sim": sim}
        return new, {"loss": jnp.sum(ce * n_train) / jnp.sum(n_train)}

    def eval_one(p, d):
        out = model_lib.logits(p, d["adj"], d["x"], train=False, prune_threshold=prune_threshold)
        ok = (jnp.argmax(out, -1) == d["y"])
        return {s: jnp.sum(ok & d[s]) for s in ("train", "val", "test")}, model_lib.sparsity(p, prune_threshold)

    @jax.jit
    def evaluate_fn(state, data):
        own, sp = jax.vmap(eval_one)(state["local"], data)
        recv, _ = jax.vmap(eval_one)(state["received"], data)
        return own, recv, sp

    def init_opt(stacked_params):
        return jax.vmap(tx.init)(stacked_params)

    return init_opt, round_fn, evaluate_fn


def summarize(correct: dict, counts: dict, prefix: str = "") -> dict:
    """Per-client accuracies -> the mean over clients (the paper's metric), pooled, min, max."""
    out = {}
    for s in ("train", "val", "test"):
        c, n = np.asarray(correct[s], np.float64), np.asarray(counts[s], np.float64)
        has = n > 0
        acc = c[has] / n[has]
        out[f"{prefix}{s}_accuracy"] = float(acc.mean())
        if s == "test":
            out[f"{prefix}test_accuracy_pooled"] = float(c.sum() / n.sum())
            out[f"{prefix}test_accuracy_min"] = float(acc.min())
            out[f"{prefix}test_accuracy_max"] = float(acc.max())
    return out


# ----------------------------------------------------------------------------- runs


def prepare(config):
    """Validated config -> client graphs, proxy graph, initial state pieces (no compile)."""
    validate(config)
    g = graphs.load(config)
    cl = clients_lib.build(g, num_clients=config.num_clients, mode=config.mode,
                           clients_per_community=config.clients_per_community, ratio_train=config.ratio_train,
                           seed=config.data_seed)
    px, pmask, padj = clients_lib.proxy_graph(config.num_proxy_blocks, cl.info["num_features"], config.seed)
    data = {"x": jnp.asarray(cl.x), "y": jnp.asarray(cl.y), "train": jnp.asarray(cl.train),
            "val": jnp.asarray(cl.val), "test": jnp.asarray(cl.test), "adj": jax.tree.map(jnp.asarray, cl.adj)}
    proxy = {"x": jnp.asarray(px), "mask": jnp.asarray(pmask), "adj": jax.tree.map(jnp.asarray, padj)}
    return cl, data, proxy


def init_state(config, cl, init_opt):
    """Every client starts from the same model (the server's initial broadcast), masks of ones."""
    p0 = model_lib.init(jax.random.key(config.seed), cl.info["num_features"], config.hidden, cl.num_classes,
                        masked=config.method == "fedpub")
    k = config.num_clients
    stacked = jax.tree.map(lambda a: jnp.broadcast_to(a, (k,) + a.shape), p0)
    return {"step": jnp.int32(0), "received": stacked, "local": stacked, "opt_state": init_opt(stacked),
            "sim": jnp.eye(k, dtype=jnp.float32)}


def train_and_evaluate(config, workdir: str) -> dict:
    cl, data, proxy = prepare(config)
    fns = round_functions(config.method, int(config.local_epochs), float(config.learning_rate),
                          float(config.weight_decay), float(config.l1) if config.method == "fedpub" else 0.0,
                          float(config.loc_l2) if config.method == "fedpub" else 0.0, float(config.tau),
                          float(config.dropout), float(config.prune_threshold))
    init_opt, round_fn, evaluate_fn = fns
    state = init_state(config, cl, init_opt)
    counts = {s: np.asarray(data[s].sum(-1)) for s in ("train", "val", "test")}
    last = {}

    def eval_fn(s):
        own, recv, sp = jax.device_get(evaluate_fn(s, data))
        m = summarize(own, counts)
        m.update(summarize(recv, counts, prefix="received_"))
        m["mask_sparsity"] = float(np.mean(sp))
        last.update(per_client_test=[float(c / n) if n else float("nan")
                                     for c, n in zip(own["test"], counts["test"])],
                    similarity=np.asarray(s["sim"]).round(4).tolist())
        return m

    seed = int(config.seed)
    final = train_lib.run(config, workdir, state=state, step_fn=lambda s, _: round_fn(s, data, proxy, seed),
                          num_steps=int(config.num_rounds), eval_fn=eval_fn,
                          desc=f"fedpub/{config.dataset}/{config.mode}{config.num_clients}/{config.method}")
    final.update({k: v for k, v in cl.info.items()}, **last)
    return final
