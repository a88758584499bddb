"""Skip-gram with negative sampling on random walks (DeepWalk / node2vec embeddings).

`skipgram_pairs` turns walks [W, L] and their mask into (center, context) pairs within a
window (static shape W * sum_o 2 (L - o), with a validity mask). `train_skipgram` learns
input and output embeddings with the SGNS loss

    -log s(u_c . v_o) - sum_{k} log s(-u_c . v_nk),   n_k ~ unigram(walk counts)^0.75,

over shuffled minibatches of pairs: one jitted `lax.scan` per epoch, optax Adam. Keys are
`fold_in(key, epoch)`, so a run is a pure function of its inputs. `sgns_chunk` is the sparse-SGD
(word2vec) trainer for large graphs, and for several graphs at once.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from lib import loop_jit, native

from . import walks as walks_lib
from .walks import WalkError


def skipgram_pairs(nodes, mask, window: int):
    """(centers, contexts, valid), each [P]: all ordered pairs at distance 1..window."""
    if not isinstance(window, int) or window < 1:
        raise WalkError(f"window={window!r} must be an integer >= 1")
    nodes, mask = jnp.asarray(nodes), jnp.asarray(mask)
    cs, xs, vs = [], [], []
    for o in range(1, min(window, nodes.shape[1] - 1) + 1):
        a, b = nodes[:, :-o], nodes[:, o:]
        v = mask[:, :-o] & mask[:, o:]
        cs += [a.reshape(-1), b.reshape(-1)]
        xs += [b.reshape(-1), a.reshape(-1)]
        vs += [v.reshape(-1), v.reshape(-1)]
    return jnp.concatenate(cs), jnp.concatenate(xs), jnp.concatenate(vs)


def sgns_loss(params, centers, contexts, negatives, valid):
    u = params["in"][centers]                       # [B, D]
    v = params["out"][contexts]                     # [B, D]
    vn = params["out"][negatives]                   # [B, K, D]
    pos = jax.nn.log_sigmoid(jnp.sum(u * v, -1))
    neg = jnp.sum(jax.nn.log_sigmoid(-jnp.einsum("bd,bkd->bk", u, vn)), -1)
    w = valid.astype(jnp.float32)
    return -jnp.sum(w * (pos + neg)) / jnp.maximum(jnp.sum(w), 1.0)


@functools.partial(jax.jit, static_argnames=("batch", "negatives", "tx"))
def _epoch(params, opt_state, centers, contexts, valid, logits, key, batch: int, negatives: int, tx):
    p = centers.shape[0]
    steps = p // batch
    k_perm, k_neg = jax.random.split(key)
    perm = jax.random.permutation(k_perm, p)[:steps * batch].reshape(steps, batch)

    def step(c, i):
        params, opt_state = c
        idx = perm[i]
        neg = jax.random.categorical(jax.random.fold_in(k_neg, i), logits, shape=(batch, negatives))
        loss, g = jax.value_and_grad(sgns_loss)(params, centers[idx], contexts[idx], neg, valid[idx])
        upd, opt_state = tx.update(g, opt_state, params)
        return (optax.apply_updates(params, upd), opt_state), loss
    (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), jnp.arange(steps))
    return params, opt_state, jnp.mean(losses)


def train_skipgram(nodes, mask, num_nodes: int, key, dim: int = 64, window: int = 5, negatives: int = 5,
                   epochs: int = 1, batch: int = 1024, learning_rate: float = 0.01):
    """Returns ({'in': [N, D], 'out': [N, D]}, per-epoch mean losses)."""
    for name, v in (("dim", dim), ("negatives", negatives), ("epochs", epochs), ("batch", batch)):
        if not isinstance(v, int) or v < 1:
            raise WalkError(f"{name}={v!r} must be an integer >= 1")
    centers, contexts, valid = skipgram_pairs(nodes, mask, window)
    if centers.shape[0] < batch:
        raise WalkError(f"{centers.shape[0]} skip-gram pairs < batch={batch}: more or longer walks needed")
    counts = jnp.zeros(num_nodes).at[jnp.asarray(nodes).reshape(-1)].add(jnp.asarray(mask).reshape(-1))
    logits = jnp.where(counts > 0, 0.75 * jnp.log(jnp.maximum(counts, 1.0)), -jnp.inf)
    k_init, k_train = jax.random.split(key)
    params = {"in": (jax.random.uniform(k_init, (num_nodes, dim)) - 0.5) / dim,
              "out": jnp.zeros((num_nodes, dim))}
    tx = optax.adam(learning_rate)
    opt_state = tx.init(params)
    losses = []
    for e in range(epochs):
        params, opt_state, loss = _epoch(params, opt_state, centers, contexts, valid, logits,
                                         jax.random.fold_in(k_train, e), batch, negatives, tx)
        losses.append(float(loss))
    return params, losses


# ----------------------------------------------------------------------------- sparse SGD (word2vec-style)
#
# Adam above updates the whole [N, D] table (and its two moments) every step: fine for Cora, far too
# slow for a million nodes. The trainer below is word2vec's: plain SGD on the rows a batch touches
# (gather, row gradients, scatter-add), learning rate decayed linearly to lr * 1e-4, negatives
# drawn from the unigram^0.75 distribution by inverse CDF (O(log N) per draw, not O(N)). It runs
# several graphs at once (a leading `parts` axis, vmapped), each with its own walk count and step
# budget, so partitioned embedding trains every part in one program.
# On CPU the whole chunk is one native kernel (lib/native/sgns.cc: the same draws and batched
# updates in a C++ loop, ~3x fewer seconds per pair than XLA's gathers and scatter-adds in a scan,
# benchmarks/results/sgns_native.json); `_sgd_steps` is its pure-JAX twin (GPU/TPU, TESSERA_NATIVE=0).


class SGNSConfig(NamedTuple):
    dim: int = 64
    window: int = 5
    negatives: int = 5
    epochs: int = 1
    batch: int = 1024
    lr: float = 0.025


def check_sgns(cfg: SGNSConfig) -> SGNSConfig:
    for name in ("dim", "window", "negatives", "epochs", "batch"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise WalkError(f"{name}={v!r} must be an integer >= 1")
    if not np.isfinite(cfg.lr) or cfg.lr <= 0:
        raise WalkError(f"lr={cfg.lr!r} must be a finite number > 0")
    return cfg


def negative_cdf(nodes: np.ndarray, mask: np.ndarray, num_nodes: int) -> np.ndarray:
    """[N] float32 CDF of unigram(walk counts)^0.75 (nodes never visited are never drawn)."""
    counts = np.bincount(np.asarray(nodes)[np.asarray(mask)], minlength=num_nodes).astype(np.float64)
    w = counts ** 0.75
    return (np.cumsum(w) / max(w.sum(), 1e-30)).astype(np.float32)


def sgns_steps(mask: np.ndarray, cfg: SGNSConfig) -> int:
    """SGD steps for `epochs` passes: every token of the walks with, on average, (window + 1) contexts
    (word2vec's reduced window), `batch` pairs a step."""
    return max(1, -(-cfg.epochs * int(np.asarray(mask).sum()) * (cfg.window + 1) // cfg.batch))


def sgns_init(key, num_nodes: int, dim: int) -> dict:
    return {"in": (jax.random.uniform(key, (num_nodes, dim)) - 0.5) / dim, "out": jnp.zeros((num_nodes, dim))}


def _row_loss(u, v, vn, w):
    pos = jax.nn.log_sigmoid(jnp.sum(u * v, -1))
    neg = jnp.sum(jax.nn.log_sigmoid(-jnp.einsum("bd,bkd->bk", u, vn)), -1)
    return -jnp.sum(w * (pos + neg))


def _offset_cdf(window: int):
    # word2vec draws a window b ~ U{1..window} per token and uses every offset <= b: offset o is used
    # with probability proportional to window - o + 1
    w = np.arange(window, 0, -1, dtype=np.float64)
    return jnp.asarray(np.cumsum(w) / w.sum(), jnp.float32)


def _sgd_steps(tables, nodes, mask, num_walks, cdf, total, key, first, count: int, cfg: SGNSConfig):
    """`count` SGD steps (global step indices first .. first + count - 1) of one graph; steps at or
    beyond `total` leave the tables as they are. Returns (tables, summed loss, valid pairs).

    Random draws come from a counter hash of (seed, lane, step, draw) (lib.graph.walks' murmur
    finaliser), not threefry: threefry's cost per draw was a large share of a step on CPU."""
    w_len = nodes.shape[1]
    off_cdf = _offset_cdf(cfg.window)
    lanes = walks_lib._stream(walks_lib._seed(key), jnp.arange(cfg.batch, dtype=jnp.uint32))
    draws = jnp.arange(cfg.negatives, dtype=jnp.uint32)[None, :] + jnp.uint32(4)

    def step(carry, t):
        tables, loss_sum, n_pairs = carry
        u = lambda d: walks_lib._uniform01(lanes, t, d)
        w = jnp.minimum((u(0) * num_walks).astype(jnp.int32), num_walks - 1)
        p = jnp.minimum((u(1) * w_len).astype(jnp.int32), w_len - 1)
        o = jnp.searchsorted(off_cdf, u(2)).astype(jnp.int32) + 1
        q = p + jnp.where(u(3) < 0.5, o, -o)
        qc = jnp.clip(q, 0, w_len - 1)
        valid = (q == qc) & mask[w, p] & mask[w, qc] & (t < total)
        c, x = nodes[w, p], nodes[w, qc]
        neg = jnp.minimum(jnp.searchsorted(cdf, walks_lib._uniform01(lanes[:, None], t, draws)), cdf.shape[0] - 1)
        uu, v, vn = tables["in"][c], tables["out"][x], tables["out"][neg]
        wv = valid.astype(jnp.float32)
        loss, (gu, gv, gvn) = jax.value_and_grad(_row_loss, argnums=(0, 1, 2))(uu, v, vn, wv)
        lr = cfg.lr * jnp.maximum(1.0 - t.astype(jnp.float32) / total.astype(jnp.float32), 1e-4)
        new_in = tables["in"].at[c].add(-lr * gu)
        new_out = tables["out"].at[x].add(-lr * gv).at[neg.reshape(-1)].add(-lr * gvn.reshape(-1, gvn.shape[-1]))
        return ({"in": new_in, "out": new_out}, loss_sum + loss, n_pairs + jnp.sum(wv)), None

    zero = jnp.zeros_like(total, jnp.float32)  # per graph: varies over the mesh like the tables (shard_map)
    init = (tables, zero, zero)
    (tables, loss_sum, n_pairs), _ = jax.lax.scan(step, init, first + jnp.arange(count))
    return tables, loss_sum, n_pairs


def _sgns_chunk_jax(tables, nodes, mask, num_walks, cdf, total, key, first, count: int, cfg: SGNSConfig):
    fn = functools.partial(_sgd_steps, count=count, cfg=cfg)
    return jax.vmap(fn, in_axes=(0, 0, 0, 0, 0, 0, 0, None))(tables, nodes, mask, num_walks, cdf, total, key, first)


KERNEL = ("sgns", (("tessera_sgns", "TesseraSgns"),))


def _sgns_chunk_native(tables, nodes, mask, num_walks, cdf, total, key, first, count: int, cfg: SGNSConfig):
    """The same steps by lib/native/sgns.cc (CPU only: call it through `native.cpu_or`): one custom
    call loops over the graphs and steps, updating the tables in place (aliased results)."""
    p, n, d = tables["in"].shape
    f32 = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)
    call = jax.ffi.ffi_call("tessera_sgns", (f32(p, n, d), f32(p, n, d), f32(p), f32(p)),
                            vmap_method="sequential", input_output_aliases={0: 0, 1: 1})
    seeds = jax.vmap(walks_lib._seed)(key)
    out = call(tables["in"], tables["out"], nodes.astype(jnp.int32), mask.astype(jnp.bool_),
               num_walks.astype(jnp.int32), cdf.astype(jnp.float32), total.astype(jnp.int32), seeds,
               jnp.asarray(first, jnp.int32).reshape(()), _offset_cdf(cfg.window),
               count=np.int32(count), batch=np.int32(cfg.batch), negatives=np.int32(cfg.negatives),
               lr=np.float32(cfg.lr), threads=np.int32(1))
    new_in, new_out, loss, pairs = native.varying_like(out, tables["in"], nodes, key)
    return {"in": new_in, "out": new_out}, loss, pairs


def uses_native(tables=None) -> bool:
    """Whether `sgns_chunk` traced now runs the native CPU kernel (for benchmarks and reports)."""
    ok = tables is None or jax.tree.leaves(tables)[0].dtype == jnp.float32
    return ok and native.enabled() and jax.default_backend() == "cpu" and native.load(*KERNEL)


def _sgns_chunk(tables, nodes, mask, num_walks, cdf, total, key, first, count: int, cfg: SGNSConfig):
    """`count` steps for a stack of graphs: every array has a leading [parts] axis (tables [P, N, D],
    nodes/mask [P, W, L], num_walks/total [P], cdf [P, N], keys [P]); `first` is shared. Returns
    (tables, summed loss [P], valid pairs [P]). On CPU (float32 tables) the native kernel runs."""
    args = (tables, nodes, mask, num_walks, cdf, total, key, first)
    jax_path = functools.partial(_sgns_chunk_jax, count=count, cfg=cfg)
    if tables["in"].dtype != jnp.float32 or tables["out"].dtype != jnp.float32:
        return jax_path(*args)
    return native.cpu_or(functools.partial(_sgns_chunk_native, count=count, cfg=cfg), jax_path, *args,
                         kernel=KERNEL)


# The scan carries both [N, D] tables and scatters into them every step; without region analysis
# XLA:CPU copies each table once per step (lib/loop_jit.py), which dominated small batches.
# Graphs sharded over a mesh axis (their leading axis) run under shard_map, each device its own
# graphs: the SPMD partitioner cannot split a custom call, and would gather every graph to every device.
_CHUNK = {}


def _graph_axis(tables):
    sh = getattr(tables["in"], "sharding", None)
    if not isinstance(sh, NamedSharding) or not len(sh.spec) or sh.spec[0] is None:
        return None
    axes = sh.spec[0] if isinstance(sh.spec[0], tuple) else (sh.spec[0],)
    return (sh.mesh, sh.spec[0]) if int(np.prod([sh.mesh.shape[a] for a in axes])) > 1 else None


def sgns_chunk(tables, nodes, mask, num_walks, cdf, total, key, first, count: int, cfg: SGNSConfig):
    platform = jax.default_backend()  # (a sharded result's devices() was once seen empty)
    sharded = _graph_axis(tables)
    cache = (platform, sharded)
    if cache not in _CHUNK:
        fn = _sgns_chunk
        if sharded is not None:
            mesh, axis = sharded
            part, rep = PartitionSpec(axis), PartitionSpec()

            def fn(*args, count, cfg):
                body = functools.partial(_sgns_chunk, count=count, cfg=cfg)
                return jax.shard_map(body, mesh=mesh, in_specs=(part,) * 7 + (rep,),
                                     out_specs=(part, part, part))(*args)
        _CHUNK[cache] = loop_jit.jit(fn, platform, static_argnames=("count", "cfg"))
    return _CHUNK[cache](tables, nodes, mask, num_walks, cdf, total, key, first, count=count, cfg=cfg)
