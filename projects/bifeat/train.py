"""GCN / GraphSAGE (and Degree-Quant int8/int4 GCN/GIN) trained from a compressed feature store.

The feature store holds only BiFeat codes (scalar: bit-packed sign + log-magnitude; vector:
product-quantization codes); the jitted step decodes them on device every step, so float32
features never exist outside the step. Full-batch training on the Planetoid public split
(Kipf & Welling setup: 2 layers, hidden 16, dropout 0.5 on input and hidden, Adam 0.01,
L2 5e-4 on the first layer, 200 epochs).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib import precision
from lib import train as train_lib
from lib.data import graphs
from lib.graph import GCNConv, GINConv, SAGEConv, build_adjacency, layer_norm_kind
from lib.graph.dropout import dropout
from lib.quant import QuantConfigError, check_bits, compression_ratio, make_codec
from lib.quant.gnn import QGCNConv, QGINConv, protect_mask

DATASETS = ("csbm", "cora", "citeseer")
LAYERS = ("gcn", "sage", "gin")
MODES = ("none", "scalar", "vector")
QUANT = ("none", "int8", "int4")


def validate(config) -> None:
    config_lib.choice(config, "dataset", DATASETS)
    config_lib.choice(config, "model.layer", LAYERS)
    config_lib.choice(config, "model.quant", QUANT)
    config_lib.choice(config, "compression.mode", MODES)
    precision.require_float32(config, "bifeat (integer codecs and int8/int4 layers)")
    c = config.compression
    try:
        check_bits(c.bits, "compression.bits")
    except QuantConfigError as e:
        raise config_lib.ConfigError(str(e)) from None
    for key in ("compression.width", "compression.num_codewords", "model.hidden", "epochs"):
        config_lib.positive(config, key)
    if c.num_codewords < 2:
        raise config_lib.ConfigError(f"config.compression.num_codewords={c.num_codewords} must be >= 2")
    if config.model.quant != "none" and config.model.layer == "sage":
        raise config_lib.ConfigError("config.model.quant='%s' is implemented for layer gcn or gin, not sage"
                                     % config.model.quant)
    config_lib.in_range(config, "model.dropout", 0.0, 0.99)
    if config.model.get("input_dropout") is not None:
        config_lib.in_range(config, "model.input_dropout", 0.0, 0.99)


class Net(nn.Module):
    layer: str
    hidden: int
    num_classes: int
    rate: float
    quant: str = "none"
    input_rate: float | None = None  # dropout on the input features; None: same as `rate`

    def _conv(self, features, name):
        bits = {"int8": 8, "int4": 4}.get(self.quant)
        if self.layer == "gcn":
            return QGCNConv(features, bits_w=bits, bits_a=8, name=name) if bits else GCNConv(features, name=name)
        if self.layer == "gin":
            return (QGINConv((features, features), bits_w=bits, bits_a=8, name=name) if bits
                    else GINConv((features, features), name=name))
        return SAGEConv(features, name=name)

    @nn.compact
    def __call__(self, adj, x, train: bool, protect=None):
        def drop(h, rate):
            return dropout(self.make_rng("dropout"), h, rate) if train and rate > 0 else h

        def conv(i, f, h):
            mod = self._conv(f, f"l{i}")
            return mod(adj, h, protect, train) if self.quant != "none" else mod(adj, h)
        in_rate = self.rate if self.input_rate is None else self.input_rate
        h = nn.relu(conv(0, self.hidden, drop(x, in_rate)))
        return conv(1, self.num_classes, drop(h, self.rate))


def prepare(config):
    """Host side, before any compile: graph, codec + compressed store, adjacency."""
    validate(config)
    g = graphs.load(config)
    real = np.asarray(g.node_mask)
    x = np.asarray(g.x)
    c = config.compression
    codec = make_codec(x[real], c.mode, bits=c.bits, width=c.width, num_codewords=c.num_codewords,
                       seed=config.seed)
    store = x if codec is None else codec.encode(x)
    norm, loops = layer_norm_kind(config.model.layer)
    adj = build_adjacency(g, norm, self_loops=loops)
    deg = np.bincount(np.asarray(adj.receivers)[np.asarray(adj.mask)], minlength=adj.num_nodes)
    data = {"store": store, "adj": adj, "y": np.asarray(g.y), "node_mask": real,
            "train": np.asarray(g.train_mask), "val": np.asarray(g.val_mask), "test": np.asarray(g.test_mask),
            "deg": deg.astype(np.float32)}
    if codec is not None and hasattr(codec, "codebooks"):
        data["codebooks"] = codec.codebooks
    info = {"compression_ratio": compression_ratio(codec, x.shape[1]),
            "compression_ratio_with_codebook": compression_ratio(codec, x.shape[1], True, int(real.sum())),
            "store_bytes": int(np.asarray(store).nbytes), "float32_bytes": int(real.sum() * x.shape[1] * 4)}
    num_classes = int(np.asarray(g.y)[real].max()) + 1
    return codec, jax.tree.map(jnp.asarray, data), info, num_classes


def make_functions(config, codec, num_classes):
    model = Net(config.model.layer, config.model.hidden, num_classes, config.model.dropout, config.model.quant,
                config.model.get("input_dropout"))
    tx = optax.adam(config.learning_rate)
    dq = config.model.get("dq", None)

    def features(data):
        if codec is None:
            return data["store"]
        return codec.decode(data["store"], data["codebooks"]) if "codebooks" in data else codec.decode(data["store"])

    def init(seed, data):
        params = model.init(jax.random.split(jax.random.key(seed))[0], data["adj"], features(data), False)["params"]
        return {"step": jnp.int32(0), "params": params, "opt_state": tx.init(params)}

    def loss_fn(params, data, key):
        k_drop, k_prot = jax.random.split(key)
        protect = None
        if config.model.quant != "none":
            protect = protect_mask(k_prot, data["deg"], data["node_mask"], dq.p_low, dq.p_high)
        logits = model.apply({"params": params}, data["adj"], features(data), True, protect,
                             rngs={"dropout": k_drop})
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, data["y"])
        m = data["train"]
        loss = jnp.sum(ce * m) / jnp.maximum(m.sum(), 1)
        l2 = sum(jnp.sum(w ** 2) for w in jax.tree.leaves(params["l0"]))
        return loss + config.weight_decay / 2 * l2, loss

    def train_step(seed, state, data):
        key = jax.random.fold_in(jax.random.split(jax.random.key(seed))[1], state["step"])
        (total, loss), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], data, key)
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        return ({"step": state["step"] + 1, "params": optax.apply_updates(state["params"], updates),
                 "opt_state": opt_state}, {"loss": loss, "total_loss": total})

    def evaluate(params, data):
        logits = model.apply({"params": params}, data["adj"], features(data), False)
        ok = jnp.argmax(logits, -1) == data["y"]
        acc = {f"{s}_accuracy": jnp.sum(ok * data[s]) / jnp.maximum(data[s].sum(), 1) for s in ("train", "val", "test")}
        return acc

    return init, train_step, evaluate


def train_and_evaluate(config, workdir: str) -> dict:
    codec, data, info, num_classes = prepare(config)
    init, train_step, evaluate = make_functions(config, codec, num_classes)
    state = jax.jit(init, static_argnums=0)(config.seed, data)
    step = jax.jit(lambda s, d: train_step(config.seed, s, d))
    ev = jax.jit(lambda p, d: evaluate(p, d))
    final = train_lib.run(config, workdir, state=state, step_fn=step, batch_fn=lambda i: data,
                          num_steps=int(config.epochs), eval_fn=lambda s: ev(s["params"], data),
                          desc=f"bifeat/{config.dataset}/{config.compression.mode}")
    final.update(info)
    return final


def run_seeds(config, seeds, prepared=None, seed_batch: int = 1):
    """All seeds of one setting in one jitted program, for the reproduction tables: the whole
    `config.epochs` loop is a lax.scan of the same init / train_step / evaluate functions as
    train_and_evaluate (no checkpoints, no logging), and the seeds are a lax.map over that,
    `seed_batch` seeds vmapped at a time. seed_batch=1 (seeds one after the other) is the
    cheapest on CPU: a vmapped step materialises seed_batch copies of the dropped-out
    [N, F] input features, which are memory-bound there. Returns ({metric: [per seed]}, info)."""
    if seed_batch < 1:
        raise config_lib.ConfigError(f"seed_batch={seed_batch} must be >= 1")
    codec, data, info, num_classes = prepared or prepare(config)
    init, train_step, evaluate = make_functions(config, codec, num_classes)

    def run(seed, data):
        def body(s, _):
            return train_step(seed, s, data)[0], None
        st, _ = jax.lax.scan(body, init(seed, data), None, length=int(config.epochs))
        return evaluate(st["params"], data)

    seeds = jnp.asarray(seeds, jnp.int32)
    program = jax.jit(lambda s, d: jax.lax.map(lambda q: run(q, d), s, batch_size=min(seed_batch, len(seeds))))
    out = program(seeds, data)
    return {k: np.asarray(v).tolist() for k, v in out.items()}, info
