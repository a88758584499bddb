"""Sampled training rounds (MoDeST / Plexus; with `uniform_plan`, FL with a fixed server).

    round k:  the host draws the plan (lib.dl.sampling): s trainers (padded index array), which
              of them answer and count, the aggregators. Every counted trainer starts from the
              model the previous round's aggregators forwarded, runs the local steps of
              lib.fl.client, and sends its model; the aggregators FedAvg the counted models
              (weights = the trainers' sample counts) and forward the result to round k + 1's
              sample. No counted update: the model stays.

With a > 1 aggregators, every aggregator here receives the same counted updates (arrival order
is one draw per round), so they hold the same model and one copy is kept; the a-fold traffic
is still counted. State (a dict pytree, checkpointed as is): `step`, `model`, `online` [n] bool
(the churn state), `key`, `messages` (model-sized messages so far). Trainer i's minibatches at
round k come from fold_in(fold_in(key, k), i), so a resumed run replays the same round.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lib import loop_jit
from lib.dl import local_train, sampling
from lib.fl import client as client_lib


class Sampler(NamedTuple):
    """Host-side description of the sampling (everything static)."""

    num_nodes: int
    sample_size: int
    num_aggregators: int
    success_fraction: float
    churn: sampling.Churn
    unresponsive: np.ndarray  # [n] bool
    seed: int
    fixed_server: bool = False  # FL reference: uniform sample, one server, nobody unresponsive


def build_sampler(*, num_nodes: int, sample_size: int, num_aggregators: int = 1, success_fraction: float = 1.0,
                  churn: sampling.Churn | None = None, unresponsive_fraction: float = 0.0, seed: int = 0,
                  fixed_server: bool = False) -> Sampler:
    """Named errors (sample larger than the nodes, sf outside (0, 1], bad churn) before any compile."""
    sampling.check_sampling(num_nodes, sample_size, num_aggregators, success_fraction)
    churn = churn or sampling.Churn("none")
    if churn.kind not in sampling.CHURN_KINDS:
        raise sampling.UnknownChurnError(f"churn kind={churn.kind!r} is unknown; choose one of "
                                         f"{list(sampling.CHURN_KINDS)}")
    online0 = sampling.initial_online(churn, num_nodes, seed)
    if sample_size > online0.sum():
        raise sampling.SampleSizeError(f"config.sampling.sample_size={sample_size} is larger than the "
                                       f"{int(online0.sum())} nodes online at round 0")
    bad = sampling.unresponsive_mask(num_nodes, unresponsive_fraction, seed)
    if fixed_server and (bad.any() or churn.kind != "none"):
        raise sampling.UnknownChurnError("the fixed-server (FL) reference runs without churn and unresponsive nodes")
    return Sampler(num_nodes, sample_size, num_aggregators, float(success_fraction), churn, bad, seed, fixed_server)


def init(sampler: Sampler, params) -> dict:
    return {"step": jnp.asarray(0, jnp.int32), "model": params,
            "online": jnp.asarray(sampling.initial_online(sampler.churn, sampler.num_nodes, sampler.seed)),
            "key": jax.random.PRNGKey(sampler.seed), "messages": jnp.asarray(0, jnp.int32)}


def plan(sampler: Sampler, rnd: int, online_prev: np.ndarray) -> tuple[np.ndarray, sampling.RoundPlan]:
    """(round rnd's online mask, its plan); round 0 starts from the initial membership."""
    if sampler.fixed_server:
        return online_prev, sampling.uniform_plan(rnd, sampler.num_nodes, sampler.sample_size, sampler.seed)
    online = sampling.step_churn(online_prev, sampler.churn, rnd, sampler.seed)
    p = sampling.plan_round(rnd, online, sampler.unresponsive, sampler.sample_size, sampler.num_aggregators,
                            sampler.success_fraction, prev_aggregators=sampler.num_aggregators if rnd else None)
    return online, p


def round_fn(loss_fn, local: client_lib.LocalConfig, sequential: bool):
    """round(model, key, rnd, data, trainers [s], counted [s], hparams) -> (model, metrics); jit it."""
    local_update = local_train.make_local_update(loss_fn, local)

    def one_round(model, key, rnd, data: client_lib.ClientData, trainers, counted, hparams):
        s = trainers.shape[0]
        key_r = jax.random.fold_in(key, rnd)
        keys = jax.vmap(lambda i: jax.random.fold_in(key_r, i))(trainers)
        start = jax.tree.map(lambda a: jnp.broadcast_to(a, (s,) + a.shape), model)
        ns = data.num_samples[trainers]
        out, loss = local_train.train_slots(local_update, start, {"x": data.x, "y": data.y}, data.index[trainers],
                                            ns, keys, counted, hparams, sequential)
        w = jnp.where(counted, ns, 0).astype(jnp.float32)
        tot = jnp.sum(w)
        wn = w / jnp.maximum(tot, 1.0)

        def avg(old, new):  # FedAvg of the counted models as a [1, s] @ [s, D] product (fast on XLA:CPU)
            flat = new.reshape(s, -1).astype(jnp.float32)
            m = jnp.dot(wn[None], flat, precision=jax.lax.Precision.HIGHEST).reshape(old.shape)
            return jnp.where(tot > 0, m, old.astype(jnp.float32)).astype(old.dtype)

        new_model = jax.tree.map(avg, model, out)
        k = jnp.sum(counted)
        metrics = {"loss": jnp.sum(loss) / jnp.maximum(k, 1), "counted_updates": k}
        return new_model, metrics

    return one_round


def model_bytes(params) -> int:
    return sum(int(np.prod(l.shape, dtype=np.int64)) * np.dtype(l.dtype).itemsize for l in jax.tree.leaves(params))


def make_step(sampler: Sampler, loss_fn, local: client_lib.LocalConfig, data: client_lib.ClientData, params,
              hparams_fn, node_batch="auto"):
    """step_fn(state, _) -> (state, metrics) for lib.train.run: host plan (churn, sample,
    arrivals), the jitted round, message and byte counts."""
    platform = jax.devices()[0].platform
    fn = loop_jit.jit(round_fn(loss_fn, local, local_train.is_sequential(node_batch, platform)), platform)
    data = client_lib.ClientData(*(jnp.asarray(a) for a in data))
    mb = model_bytes(params) / 2**20

    def step_fn(state, _):
        rnd = int(jax.device_get(state["step"]))
        online, p = plan(sampler, rnd, np.asarray(jax.device_get(state["online"])))
        hp = {k: jnp.float32(v) for k, v in hparams_fn(rnd).items()}
        model, m = fn(state["model"], state["key"], jnp.int32(rnd), data, jnp.asarray(p.trainers),
                      jnp.asarray(p.counted), hp)
        msgs = state["messages"] + p.messages
        new = {**state, "step": state["step"] + 1, "model": model, "online": jnp.asarray(online), "messages": msgs}
        m = {**m, "online_nodes": int(online.sum()), "responsive_in_sample": int(p.responsive.sum()),
             "timed_out": int(p.timed_out), "mb_sent_total": int(msgs) * mb, "lr": float(hp["lr"])}
        return new, m

    return step_fn
