"""Federated tasks from config: data set -> client partition -> ClientData, model, eval.

Shared by the FL projects so that each project's train.py holds only its method.
Config keys read: dataset (synthetic | mnist | femnist), num_clients, partition
(natural | iid | dirichlet | shards), dirichlet_alpha, shards_per_client, synthetic_alpha,
synthetic_beta, synthetic_dim (default 60), seed, data_dir, model.name (mlp | small_cnn | leaf_cnn), model.hidden,
model.features, local.batch_size, eval_batch_size.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ml_collections import ConfigDict, config_dict

from lib import config as config_lib
from lib import precision
from lib.config import ConfigError
from lib.data import partition as partition_lib
from lib.fl import client as client_lib

DATASETS = ("synthetic", "mnist", "fashion_mnist", "femnist")
PARTITIONS = ("natural", "iid", "dirichlet", "shards")
MODELS = ("mlp", "small_cnn", "leaf_cnn")


def sample_shape(config) -> tuple:
    """One sample's shape as a model input, known before loading (image data sets: 28 x 28)."""
    return (28, 28) if config.dataset != "synthetic" else (int(config.get("synthetic_dim", 60)),)


def num_classes(config) -> int:
    """The task's number of classes, known before loading."""
    return 62 if config.dataset == "femnist" else 10


class Task(NamedTuple):
    data: client_lib.ClientData
    x_test: np.ndarray
    y_test: np.ndarray
    label_counts: np.ndarray  # [N, C]
    num_classes: int
    model: Any  # flax module
    params: Any  # initial params
    loss_fn: Callable  # per-sample loss(params, x, y)


def default_config(project: str) -> ConfigDict:
    """Every key of a federated run on the engine (lib.fl.runner reads them), at a tiny size that
    runs anywhere: FedProx Synthetic(1, 1) (generated), 24 clients, 6 sampled per round, MLP 32,
    5 local SGD steps, FedAvg, 20 rounds. A project's config starts here and sets its own keys."""
    c = ConfigDict()
    c.project = project
    c.seed = 0
    c.dataset = "synthetic"  # synthetic | mnist | fashion_mnist | femnist
    c.data_dir = config_dict.placeholder(str)
    c.num_clients = 24
    c.partition = "natural"  # natural | iid | dirichlet | shards
    c.dirichlet_alpha = 0.1
    c.shards_per_client = 2
    c.synthetic_alpha, c.synthetic_beta = 1.0, 1.0
    c.model = ConfigDict({"name": "mlp", "hidden": (32,)})
    c.participation = "uniform"  # uniform | bernoulli | markov | cyclic
    c.clients_per_round = 6
    c.participation_prob = 0.5
    c.participation_alpha = 0.1
    c.participation_floor = 0.02
    c.capacity = 0  # client slots per round; 0: from the participation model
    c.local = ConfigDict({"batch_size": 16, "mode": "steps", "num_steps": 5, "num_epochs": 1,
                          "optimizer": "sgd", "momentum": 0.0, "lr": 0.05, "prox_mu": 0.0})
    c.server = ConfigDict({"optimizer": "sgd", "lr": 1.0})
    c.aggregator = "fedavg"
    c.mesh = (("clients", -1),)
    c.param_dtype = "float32"  # master weights and optimizer state
    c.compute_dtype = "float32"  # float32 | bfloat16 (activations and matmuls; losses stay float32)
    c.total = 20  # rounds
    c.eval_batch_size = 1000
    c.log_every = 5
    c.eval_every = 10
    c.checkpoint_every = 10
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c


def validate(config) -> None:
    """Checks every task key (named errors) before any data is read or anything compiled."""
    config_lib.choice(config, "dataset", DATASETS)
    config_lib.choice(config, "partition", PARTITIONS)
    config_lib.choice(config, "model.name", MODELS)
    if config.dataset != "synthetic" and config.partition == "natural" and config.dataset != "femnist":
        raise ConfigError(f"config.partition='natural' needs writers: only for femnist/synthetic, not {config.dataset!r}")
    if config.dataset == "femnist" and config.partition != "natural":
        raise ConfigError("config.dataset='femnist' is partitioned by writer: use config.partition='natural'")
    precision.policy(config)  # dtype names
    config_lib.positive(config, "num_clients")
    config_lib.positive(config, "local.batch_size")
    config_lib.positive(config, "eval_batch_size")
    if config.get("capacity") is not None:  # client slots of the engine; 0: from the participation model
        config_lib.positive(config, "capacity", allow_zero=True)
    if config.partition == "dirichlet":
        config_lib.positive(config, "dirichlet_alpha")
    for key in ("participation_floor", "participation_prob"):  # probabilities (0: unset for participation_prob)
        v = config.get(key)
        if v is not None and not (key == "participation_prob" and v == 0) and not (
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1):
            raise ConfigError(f"config.{key}={v!r} is a probability: it must be in (0, 1]")


def _load(config):
    """(x, y, parts, x_test, y_test, num_classes)."""
    rng = np.random.default_rng(config.seed)
    n = config.num_clients
    if config.dataset == "synthetic":
        from lib.data.synthetic_fl import synthetic

        d = synthetic(config.synthetic_alpha, config.synthetic_beta, num_clients=n, seed=config.seed,
                      dim=int(config.get("synthetic_dim", 60)))
        parts = d.parts if config.partition == "natural" else partition_lib.make(
            config.partition, d.y, n, rng, alpha=config.get("dirichlet_alpha", 0.1),
            shards_per_client=config.get("shards_per_client", 2))
        return d.x, d.y, parts, d.x_test, d.y_test, num_classes(config)
    if config.dataset in ("mnist", "fashion_mnist"):
        from lib.data.mnist import load_fashion_mnist, load_mnist

        load = load_mnist if config.dataset == "mnist" else load_fashion_mnist
        x, y, xt, yt = load(config_lib.data_dir(config))
        parts = partition_lib.make(config.partition, y, n, rng, alpha=config.get("dirichlet_alpha", 0.1),
                                   shards_per_client=config.get("shards_per_client", 2), min_size=1)
        return x, y, parts, xt, yt, num_classes(config)
    from lib.data.leaf import load_femnist

    train, test = load_femnist(config_lib.data_dir(config))
    parts, names = partition_lib.natural(train.owner)
    if n > len(parts):
        raise ConfigError(f"config.num_clients={n} but FEMNIST here has {len(parts)} writers")
    parts, keep = parts[:n], names[:n]
    tmask = np.isin(test.owner, keep)
    # LEAF stores white background = 1; flip to ink = 1 like MNIST (helps MLPs; CNNs don't care)
    return 1.0 - train.x, train.y, parts, 1.0 - test.x[tmask], test.y[tmask], num_classes(config)


def build_model(config, num_classes: int):
    """The client model; `config.compute_dtype` / `param_dtype` set its precision (lib/precision.py)."""
    from lib.models import cnn
    from lib.models.mlp import MLP

    m = config.model
    prec = precision.policy(config)
    kw = {"dtype": prec.compute_dtype, "param_dtype": prec.param_dtype}
    if m.name == "mlp":
        return MLP(hidden=tuple(m.hidden), num_classes=num_classes, **kw)
    if m.name == "small_cnn":
        return cnn.SmallCNN(num_classes=num_classes, features=tuple(m.get("features", (16, 32))),
                            hidden=int(m.get("hidden_cnn", 64)), **kw)
    return cnn.LeafCNN(num_classes=num_classes, **kw)


def load_task(config) -> Task:
    validate(config)
    x, y, parts, xt, yt, c = _load(config)
    data = client_lib.pack_clients(x, y, parts, config.local.batch_size)
    model = build_model(config, c)
    params = model.init(jax.random.fold_in(jax.random.PRNGKey(config.seed), 17), jnp.asarray(x[:1]))["params"]

    def loss_fn(p, xb, yb):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, xb), yb)

    counts = partition_lib.label_counts(y, parts, c)
    return Task(data, np.asarray(xt), np.asarray(yt), counts, c, model, params, loss_fn)


def eval_batches(x, y, batch_size: int):
    """x [n, ...], y [n] -> (xb [nb, bs, ...], yb [nb, bs], mask [nb, bs]) on the device: fixed-size
    batches for a scanned evaluation, the last one zero-padded and masked out."""
    n = len(y)
    bs = min(batch_size, n)
    nb = -(-n // bs)
    pad = nb * bs - n
    xt = np.concatenate([np.asarray(x), np.zeros((pad,) + np.shape(x)[1:], np.asarray(x).dtype)])
    yt = np.concatenate([np.asarray(y), np.zeros(pad, np.asarray(y).dtype)])
    mask = np.arange(nb * bs) < n
    return tuple(jnp.asarray(a.reshape((nb, bs) + a.shape[1:])) for a in (xt, yt, mask))


def _masked_sums(model, params, x, y, mask):
    """(summed cross-entropy, number correct) of one evaluation batch over its real rows."""
    logits = model.apply({"params": params}, x)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return jnp.sum(jnp.where(mask, ce, 0.0)), jnp.sum((jnp.argmax(logits, -1) == y) & mask)


def make_eval(task: Task, batch_size: int = 1000, backdoor=None):
    """eval(params) -> {'test_accuracy', 'test_loss'} over the whole test set (padded batches).

    backdoor: a lib.fl.backdoor.Spec: the result also holds 'backdoor_asr', the attack success
    rate on the triggered test set (samples whose label is not the target)."""
    n = len(task.y_test)
    xb, yb, mb = eval_batches(task.x_test, task.y_test, batch_size)

    @jax.jit
    def sums(params):
        def body(acc, b):
            loss, correct = _masked_sums(task.model, params, *b)
            return (acc[0] + loss, acc[1] + correct), None

        (loss, correct), _ = jax.lax.scan(body, (jnp.float32(0), jnp.float32(0)), (xb, yb, mb))
        return loss / n, correct / n

    asr = None
    if backdoor is not None:
        from lib.fl import backdoor as backdoor_lib

        asr = backdoor_lib.make_asr_eval(lambda p, x: task.model.apply({"params": p}, x), task.x_test,
                                         task.y_test, backdoor, batch_size)

    def evaluate(params):
        loss, acc = jax.device_get(sums(params))
        out = {"test_loss": float(loss), "test_accuracy": float(acc)}
        if asr is not None:
            out["backdoor_asr"] = float(jax.device_get(asr(params)))
        return out

    return evaluate


# ----------------------------------------------------------------------------- personalized evaluation


def split_test_by_labels(y_test, label_counts, seed: int = 0) -> list[np.ndarray]:
    """Per-client test splits that follow each client's training label distribution: the test
    samples of class c are shuffled (seeded) and dealt to the clients in proportion to their
    training counts of c (label_counts [N, C]); a class no client trains on is left out.
    Used when the data set has no per-client test split of its own (Dirichlet / shard splits)."""
    y_test = np.asarray(y_test)
    counts = np.asarray(label_counts, np.float64)
    n = counts.shape[0]
    rng = np.random.default_rng(seed)
    out = [[] for _ in range(n)]
    for c in range(counts.shape[1]):
        idx = np.flatnonzero(y_test == c)
        tot = counts[:, c].sum()
        if tot == 0 or not len(idx):
            continue
        idx = rng.permutation(idx)
        cuts = np.floor(np.cumsum(counts[:, c]) / tot * len(idx) + 1e-9).astype(int)
        for k, (a, b) in enumerate(zip(np.concatenate([[0], cuts[:-1]]), cuts)):
            out[k].append(idx[a:b])
    return [np.sort(np.concatenate(o)).astype(np.int32) if o else np.zeros(0, np.int32) for o in out]


def make_personalized_eval(task: Task, test_parts, batch_size: int = 256):
    """eval(client_params) for methods that keep one model per client: client_params is a pytree
    with a leading client axis [N, ...]; client k is evaluated with its own model on its own test
    split x_test[test_parts[k]] (see `split_test_by_labels`). Returns

      personal_accuracy       test-count-weighted mean over clients (= pooled accuracy)
      personal_loss           test-count-weighted mean loss
      personal_accuracy_mean  unweighted mean over clients with test samples
      personal_accuracy_{min, p10, p50, p90, max}  the distribution over those clients
      personal_accuracy_per_client  [N] list (NaN for a client without test samples)

    Clients run one after another (lax.map), each over its padded split in batches."""
    n = len(test_parts)
    sizes = np.array([len(p) for p in test_parts], np.int64)
    if sizes.sum() == 0:
        raise ConfigError("personalized eval: every client's test split is empty")
    bs = int(max(1, min(batch_size, sizes.max())))
    m_pad = int(-(-sizes.max() // bs) * bs)
    index = np.zeros((n, m_pad), np.int32)
    for k, p in enumerate(test_parts):
        index[k, : len(p)] = p
    mask = np.arange(m_pad)[None, :] < sizes[:, None]
    xt, yt = jnp.asarray(task.x_test), jnp.asarray(task.y_test)
    ib = jnp.asarray(index.reshape(n, m_pad // bs, bs))
    mb = jnp.asarray(mask.reshape(n, m_pad // bs, bs))

    @jax.jit
    def per_client(client_params):
        def one(args):
            p, idx, msk = args

            def body(acc, b):
                loss, correct = _masked_sums(task.model, p, xt[b[0]], yt[b[0]], b[1])
                return (acc[0] + loss, acc[1] + correct), None

            (loss, correct), _ = jax.lax.scan(body, (jnp.float32(0), jnp.int32(0)), (idx, msk))
            return loss, correct

        return jax.lax.map(one, (client_params, ib, mb))

    def evaluate(client_params):
        loss, correct = (np.asarray(a, np.float64) for a in jax.device_get(per_client(client_params)))
        has = sizes > 0
        acc = np.where(has, correct / np.maximum(sizes, 1), np.nan)
        a = acc[has]
        return {"personal_accuracy": float(correct.sum() / sizes.sum()),
                "personal_loss": float(loss.sum() / sizes.sum()),
                "personal_accuracy_mean": float(a.mean()),
                "personal_accuracy_min": float(a.min()), "personal_accuracy_p10": float(np.percentile(a, 10)),
                "personal_accuracy_p50": float(np.percentile(a, 50)),
                "personal_accuracy_p90": float(np.percentile(a, 90)), "personal_accuracy_max": float(a.max()),
                "personal_accuracy_per_client": [float(v) for v in acc]}

    return evaluate
