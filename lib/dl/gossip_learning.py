"""Gossip learning (Ormándi et al.), in synchronous rounds.

In gossip learning every node, on its own clock, sends its model to one peer drawn uniformly;
the receiver merges the model with its own (by averaging) and takes local steps. Here the clocks
tick together: in round t every node i sends its model to a peer p_i != i (uniform, from
fold_in(fold_in(key, t), i)); a node j that received m_j >= 1 models merges them all with its
own in one step (x_j <- (x_j + sum of received) / (1 + m_j), i.e. x <- M x with M row-stochastic)
and then runs the local steps of lib.fl.client; a node that received nothing keeps its model
(it neither merges nor trains, as in gossip learning where an update follows a receipt).
Approximation to state: a node receiving several models merges them at once instead of one
merge-and-train per model.

The merge is a parameter: `average` (plain gossip learning) or any
merge(tree [n, ...], M [n, n], received [n] bool) -> tree, e.g. a variance-corrected average.
Nodes may start from one shared initialisation or from independent ones (`init` with
`independent=True`): the latter is where plain averaging shrinks the weights' variance.

State: `step`, `nodes` (params, every leaf [n, ...]), `key`, `messages` (n per round).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from lib import loop_jit
from lib.dl import local_train
from lib.fl import client as client_lib


def init(params_fn: Callable, num_nodes: int, seed: int, independent: bool) -> dict:
    """params_fn(key) -> one model. independent: node i from fold_in(key, i); else all from key."""
    key = jax.random.PRNGKey(seed)
    if independent:
        nodes = jax.vmap(lambda i: params_fn(jax.random.fold_in(key, i)))(jnp.arange(num_nodes))
    else:
        p = params_fn(key)
        nodes = jax.tree.map(lambda a: jnp.broadcast_to(a, (num_nodes,) + a.shape), p)
    return {"step": jnp.asarray(0, jnp.int32), "nodes": nodes, "key": jax.random.fold_in(key, 1 << 20),
            "messages": jnp.asarray(0, jnp.int32)}


def receive_matrix(key_r, n: int):
    """(M [n, n] row-stochastic merge weights, received [n] counts): node i sends to a uniform
    peer != i drawn from fold_in(key_r, i)."""
    off = jax.vmap(lambda i: jax.random.randint(jax.random.fold_in(key_r, i), (), 1, n))(jnp.arange(n))
    target = (jnp.arange(n) + off) % n
    r = jnp.zeros((n, n), jnp.float32).at[target, jnp.arange(n)].add(1.0)  # r[j, i]: j got i's model
    count = jnp.sum(r, 1)
    m = (jnp.eye(n, dtype=jnp.float32) + r) / (1.0 + count)[:, None]
    return m, count


def _mix(leaf, m):
    n = leaf.shape[0]
    out = jnp.dot(m, leaf.reshape(n, -1).astype(jnp.float32), precision=jax.lax.Precision.HIGHEST)
    return out.reshape(leaf.shape)


def average(tree, m, received):
    """Plain gossip-learning merge: x <- M x (row j: own model and the received ones, equal weights)."""
    return jax.tree.map(lambda l: _mix(l, m).astype(l.dtype), tree)


def round_fn(loss_fn, local: client_lib.LocalConfig, merge: Callable, sequential: bool):
    """round(state, data, hparams) -> (state, metrics); jit it."""
    local_update = local_train.make_local_update(loss_fn, local)

    def one_round(state, data: client_lib.ClientData, hparams):
        rnd, x = state["step"], state["nodes"]
        n = data.num_samples.shape[0]
        key_r = jax.random.fold_in(state["key"], rnd)
        m, count = receive_matrix(key_r, n)
        got = count > 0
        merged = merge(x, m, got)
        merged = jax.tree.map(lambda a, b: jnp.where(got.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), merged, x)
        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.fold_in(key_r, 1 << 20), i))(jnp.arange(n))
        out, loss = local_train.train_slots(local_update, merged, {"x": data.x, "y": data.y}, data.index,
                                            data.num_samples, keys, got, hparams, sequential)
        k = jnp.sum(got)
        metrics = {"loss": jnp.sum(loss) / jnp.maximum(k, 1), "receivers": k}
        return {**state, "step": rnd + 1, "nodes": out, "messages": state["messages"] + n}, metrics

    return one_round


def make_step(loss_fn, local: client_lib.LocalConfig, data: client_lib.ClientData, params, hparams_fn,
              merge: Callable = average, node_batch="auto"):
    """step_fn(state, _) for lib.train.run, with message and byte counts."""
    from lib.dl.sampled import model_bytes

    platform = jax.devices()[0].platform
    fn = loop_jit.jit(round_fn(loss_fn, local, merge, local_train.is_sequential(node_batch, platform)), platform)
    data = client_lib.ClientData(*(jnp.asarray(a) for a in data))
    mb = model_bytes(params) / 2**20

    def step_fn(state, _):
        rnd = int(jax.device_get(state["step"]))
        hp = {k: jnp.float32(v) for k, v in hparams_fn(rnd).items()}
        new, m = fn(state, data, hp)
        m = {**m, "mb_sent_total": int(jax.device_get(new["messages"])) * mb, "lr": float(hp["lr"])}
        return new, m

    return step_fn
