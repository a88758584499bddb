"""CELU-VFL (cache-enabled local updates) vs vanilla VFL, on guest/host tabular data.

One training step of lib.train is one *round*: a communicated VFL step (hosts' activations
forward, derivatives back; lib.vfl.parties.comm_update), its (A, D) pair put into the workset,
then R - 1 local updates, each from a workset entry drawn uniformly (lib.vfl.workset) and
weighted per instance by cosine similarity (weighting.py). The whole round is one jitted
shard_map program over the mesh axis `party`.

Methods (config.method):
- `celu`: the above, with weights w_k = cos * 1[cos >= xi];
- `local`: the same local updates with every weight 1 (no instance weighting);
- `vanilla`: R = 1, no workset: plain VFL.

The wire model (lib.vfl.wire) turns each round into virtual seconds (local updates overlap the
wire); evaluation reports test AUC against virtual time and bytes sent.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from lib import config as config_lib
from lib import train as train_lib
from lib.config import ConfigError
from lib.data import guest_host
from lib.data.iterators import EpochBatcher
from lib.vfl import parties, wire as wire_lib, workset
from lib.vfl.parties import AXIS
from projects.celu_vfl.weighting import make_weight_fn

METHODS = ("celu", "local", "vanilla")
DATASETS = ("sklearn_breast", "breast", "default_credit")


class CELUConfigError(ConfigError):
    """A CELU-VFL setting (W, R, xi, method) is invalid."""


def _int_at_least(config, key, lo):
    v = config[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise CELUConfigError(f"config.{key}={v!r} must be an integer >= {lo}")
    return v


def validate(config) -> None:
    """Every check that can fail on bad input, before any data is loaded or anything compiled."""
    config_lib.choice(config, "method", METHODS)
    config_lib.choice(config, "dataset", DATASETS)
    _int_at_least(config, "W", 1)
    _int_at_least(config, "R", 1)
    xi = config.xi
    if isinstance(xi, bool) or not isinstance(xi, (int, float)) or not -1.0 <= xi <= 1.0:
        raise CELUConfigError(f"config.xi={xi!r} must be a number in [-1, 1] (the cosine threshold)")
    for key in ("batch_size", "eval_batch_size", "lr", "model.embed_dim"):
        config_lib.positive(config, key)
    config_lib.in_range(config, "test_fraction", 1e-6, 1 - 1e-6)
    if not all(isinstance(h, int) and h > 0 for h in tuple(config.model.bottom_hidden) + tuple(config.model.top_hidden)):
        raise ConfigError(f"config.model hidden sizes {config.model.bottom_hidden!r}, {config.model.top_hidden!r} "
                          "must be positive ints")
    parties.MessageSpec(**config.messages).check()
    make_wire(config)


def make_wire(config) -> wire_lib.Wire:
    w = config.wire
    return wire_lib.make(w.preset, bandwidth_bps=w.get("bandwidth_bps"), latency_s=w.get("latency_s"),
                         compute_s=w.compute_s)


def local_updates_per_round(config) -> int:
    return 0 if config.method == "vanilla" else config.R - 1


def load_data(config):
    """(train, test) VerticalData. `sklearn_breast` is scikit-learn's copy of the Wisconsin breast
    cancer data split like the FATE files (guest: the first 10 features and the label; host: the other
    20), standardized: it ships with scikit-learn, so the default config runs anywhere."""
    if config.dataset == "sklearn_breast":
        from sklearn.datasets import load_breast_cancer

        d = load_breast_cancer()
        x = ((d.data - d.data.mean(0)) / d.data.std(0)).astype(np.float32)
        data = guest_host.VerticalData(ids=np.arange(len(x)), y=d.target.astype(np.float32),
                                       x=(x[:, :10], x[:, 10:]), columns=(tuple(d.feature_names[:10]),
                                                                          tuple(d.feature_names[10:])),
                                       paths=("sklearn",) * 2)
    else:
        data = guest_host.load(config_lib.data_dir(config), config.dataset)
    return guest_host.split(data, config.test_fraction, config.seed)


def build(config, train_data):
    """The model (on its party mesh) and the jitted round function."""
    vm = parties.VerticalModel(
        train_data.feature_dims, embed_dim=config.model.embed_dim, bottom_hidden=tuple(config.model.bottom_hidden),
        top_hidden=tuple(config.model.top_hidden), tx_bottom=optax.adagrad(config.lr), tx_top=optax.adagrad(config.lr),
        batch_size=config.batch_size, messages=parties.MessageSpec(**config.messages),
        mesh=parties.party_mesh(train_data.num_parties, config.get("party_devices")))
    num_local, W, R = local_updates_per_round(config), config.W, config.R
    weight_fn = make_weight_fn(config.xi) if config.method == "celu" else None
    num_parties = vm.num_parties

    def round_body(model, cache, data, idx, key):
        model, loss, msg = vm.comm_update(model, data, idx, jax.random.fold_in(key, 0))
        metrics = {"loss": loss}
        if not num_local:
            return model, cache, metrics
        local = msg["a_own"].shape[0]
        gid = jax.lax.axis_index(AXIS) * local + jnp.arange(local)
        mine = (jnp.arange(num_parties)[None, :] == gid[:, None])[..., None, None]
        guest = (gid == 0)[:, None, None, None]
        # each party keeps its own view: the guest what it received and computed, a host its own slot only
        view_a = jnp.where(guest, msg["a"][None], mine * msg["a_own"][:, None])
        view_d = jnp.where(guest, msg["d"][None], mine * msg["d_own"][:, None])
        ws, count = cache["ws"], cache["count"]
        ws = workset.expire(ws, count["updates"], W * R)
        ws, slot = workset.insert(ws, count["updates"])
        cache = {**cache, "a": workset.write(cache["a"], slot, view_a, axis=1),
                 "d": workset.write(cache["d"], slot, view_d, axis=1),
                 "idx": workset.write(cache["idx"], slot, idx, axis=0)}
        count = {**count, "updates": count["updates"] + 1}

        def one(j, carry):
            model, ws, count, sums = carry
            ws = workset.expire(ws, count["updates"], W * R)
            s, ok = workset.sample(ws, jax.random.fold_in(key, 1 + j), count["local"], W - 1)
            cached = {"a": workset.read(cache["a"], s, axis=1), "d": workset.read(cache["d"], s, axis=1)}
            model, m = vm.local_update(model, data, workset.read(cache["idx"], s), cached, ok, weight_fn)
            ws = workset.mark_used(ws, s, ok, count["local"], R)
            n = ok.astype(jnp.int32)
            count = {"updates": count["updates"] + n, "local": count["local"] + n,
                     "skipped": count["skipped"] + 1 - n}
            sums = {k: sums[k] + jnp.where(ok, m[k], 0.0) for k in sums}
            return model, ws, count, sums

        zero = {k: jnp.zeros((), jnp.float32) for k in ("local_loss", "guest_weight", "guest_kept", "host_weight",
                                                        "host_kept")}
        model, ws, count, sums = jax.lax.fori_loop(0, num_local, one, (model, ws, count, zero))
        done = jnp.maximum(count["local"] - cache["count"]["local"], 1).astype(jnp.float32)
        metrics.update({k: v / done for k, v in sums.items()})
        metrics["local_updates"] = (count["local"] - cache["count"]["local"]).astype(jnp.float32)
        return model, {**cache, "ws": ws, "count": count}, metrics

    cache_specs = {"a": P(AXIS), "d": P(AXIS), "idx": P(), "ws": P(), "count": P()}
    if not num_local:
        cache_specs = {"count": P()}
    body = vm.shard(round_body, (P(AXIS), cache_specs, P(AXIS), P(), P()), (P(AXIS), cache_specs, P()))
    return vm, body


def init_cache(config, vm) -> dict:
    """The workset and its payload: per party its view of W cached steps ([P, W, P, B, E]), the
    sample indices of each cached batch, the metadata and the update counters."""
    W, B, E, Pn = config.W, config.batch_size, config.model.embed_dim, vm.num_parties
    count = {k: jnp.zeros((), jnp.int32) for k in ("updates", "local", "skipped")}
    if not local_updates_per_round(config):  # vanilla VFL keeps no workset
        return {"count": jax.device_put(count, vm.replicated)}
    zeros = jnp.zeros((Pn, W, Pn, B, E), jnp.float32)
    cache = {"a": jax.device_put(zeros, vm.sharded), "d": jax.device_put(zeros, vm.sharded),
             "idx": jnp.zeros((W, B), jnp.int32), "ws": workset.init(W),
             "count": count}
    return {**cache, **jax.device_put({k: cache[k] for k in ("idx", "ws", "count")}, vm.replicated)}


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    train_data, test_data = load_data(config)
    batcher = EpochBatcher(len(train_data.y), config.batch_size, seed=config.seed)
    total = config_lib.steps(config, "total", batcher.steps_per_epoch)
    vm, body = build(config, train_data)
    key = jax.random.PRNGKey(config.seed)
    state = {"step": jax.device_put(jnp.int32(0), vm.replicated), "model": vm.init(jax.random.fold_in(key, 0)), "cache": init_cache(config, vm)}
    arrays = vm.place_data(train_data.x, train_data.y)
    test_arrays = vm.place_data(test_data.x, test_data.y)
    data_key = jax.random.fold_in(key, 1)

    @jax.jit
    def step_fn(state, idx):
        model, cache, metrics = body(state["model"], state["cache"], arrays, idx,
                                     jax.random.fold_in(data_key, state["step"]))
        return {"step": state["step"] + 1, "model": model, "cache": cache}, metrics

    nbytes = vm.message_bytes()
    w = make_wire(config)
    round_s = w.round_s(nbytes["forward"], nbytes["backward"], local_updates_per_round(config))
    predict = vm.make_predict()
    n_test, eb = len(test_data.y), config.eval_batch_size
    n_pad = -(-n_test // eb) * eb

    def eval_fn(state):
        idx = np.minimum(np.arange(n_pad), n_test - 1)
        logits = np.concatenate([np.asarray(predict(state["model"], test_arrays, jnp.asarray(idx[i:i + eb])))
                                 for i in range(0, n_pad, eb)])[:n_test]
        y = test_data.y
        loss = float(np.mean(np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))))
        rounds = int(jax.device_get(state["step"]))
        count = jax.device_get(state["cache"]["count"])
        return {"test_auc": parties.auc(logits, y), "test_loss": loss, "virtual_time_s": rounds * round_s,
                "bytes_sent": float(rounds * nbytes["total"]), "updates": float(rounds + int(count["local"]))}

    def batch_fn(step):
        return jnp.asarray(batcher.indices(step), jnp.int32)

    def summary(final):
        return {"round_virtual_s": round_s, "bytes_per_round": nbytes["total"], "method": config.method,
                "local_updates_per_round": local_updates_per_round(config)}

    return train_lib.run(config, workdir, state=state, step_fn=step_fn, batch_fn=batch_fn, num_steps=total,
                         eval_fn=eval_fn, examples_per_step=config.batch_size, summary_fn=summary,
                         desc=f"celu_vfl/{config.method}")
