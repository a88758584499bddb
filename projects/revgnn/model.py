"""Deep GNNs in the DeeperGCN res+ layout (encoder -> L blocks -> norm/ReLU/dropout -> linear):

- `reversible`: grouped reversible blocks (lib/graph/reversible.py, custom VJP, recomputation in
  the backward; activation memory independent of depth);
- `grouped`: the same function differentiated by plain autodiff (stores every activation);
- `residual`: plain res+ blocks h <- h + f(h) with f at full width (standard autodiff);
- `gcn`: the Kipf & Welling GCN reference (conv -> ReLU -> dropout ... -> conv).

Every block function is f(h) = GCNConv(dropout(ReLU(LayerNorm(h)))) (pre-activation res+). The
paper's backbone uses GENConv (softmax/max aggregation with learnable temperature and an MLP);
here the conv is lib/graph's GCNConv on the symmetric-normalised adjacency with self loops.
Parameters are plain pytrees stacked [layers, groups, ...] so the blocks run under lax.scan.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from lib.graph import GCNConv
from lib.graph import reversible as rev
from lib.graph.dropout import dropout

MODELS = ("reversible", "grouped", "residual", "gcn")


def _glorot(key, fan_in, fan_out):
    lim = jnp.sqrt(6.0 / (fan_in + fan_out))
    return jax.random.uniform(key, (fan_in, fan_out), jnp.float32, -lim, lim)


def _dense(key, fan_in, fan_out):
    return {"kernel": _glorot(key, fan_in, fan_out), "bias": jnp.zeros((fan_out,), jnp.float32)}


def _block_params(key, width):
    """One f: LayerNorm + GCNConv(width) (GCNConv's parameter names: linear/kernel, bias)."""
    return {"norm": {"scale": jnp.ones((width,)), "bias": jnp.zeros((width,))},
            "conv": {"linear": {"kernel": _glorot(key, width, width)}, "bias": jnp.zeros((width,))}}


def _layer_norm(p, h, eps=1e-5):
    """Statistics in float32 whatever h's dtype; the result in h's dtype."""
    x = h.astype(jnp.float32)
    mu = x.mean(-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mu), -1, keepdims=True)
    return ((x - mu) * jax.lax.rsqrt(var + eps) * p["scale"] + p["bias"]).astype(h.dtype)


REMAT = ("none", "block")


def block_fn(rate: float, remat: str = "none"):
    """f(p, h, adj, key) = GCNConv(dropout(ReLU(LayerNorm(h)))); masks derived from `key`; runs
    in h's dtype. remat='block' recomputes each block in the backward pass (jax.checkpoint,
    nothing saved inside a block): activation memory ~ one block plus the residual stream."""
    def f(p, h, adj, key):
        h = jax.nn.relu(_layer_norm(p["norm"], h))
        if rate > 0:
            h = dropout(key, h, rate)
        return GCNConv(h.shape[-1], dtype=h.dtype).apply({"params": p["conv"]}, adj, h)
    if remat == "block":
        return jax.checkpoint(f, policy=jax.checkpoint_policies.nothing_saveable)
    return f


def init(key, model: str, in_features: int, hidden: int, num_classes: int, layers: int, groups: int):
    k_enc, k_blocks, k_head = jax.random.split(key, 3)
    if model == "gcn":
        dims = [in_features] + [hidden] * (layers - 1) + [num_classes]
        ks = jax.random.split(k_blocks, layers)
        return {"convs": [{"linear": {"kernel": _glorot(ks[i], dims[i], dims[i + 1])},
                           "bias": jnp.zeros((dims[i + 1],))} for i in range(layers)]}
    params = {"encoder": _dense(k_enc, in_features, hidden),
              "head_norm": {"scale": jnp.ones((hidden,)), "bias": jnp.zeros((hidden,))},
              "head": _dense(k_head, hidden, num_classes)}
    if model == "residual":
        ks = jax.random.split(k_blocks, layers)
        params["blocks"] = jax.vmap(lambda k: _block_params(k, hidden))(ks)  # [L, ...]
    else:
        ks = jax.random.split(k_blocks, layers * groups).reshape(layers, groups)
        params["blocks"] = jax.vmap(jax.vmap(lambda k: _block_params(k, hidden // groups)))(ks)  # [L, C, ...]
    return params


def apply(params, adj, x, key, *, model: str, groups: int, rate: float, input_rate: float,
          train: bool, shared_dropout: bool = True, dtype=jnp.float32, remat: str = "none"):
    """Logits [N, classes] (float32). `key` is used only when train=True. dtype: compute dtype of
    the hidden states (parameters stay float32); remat: see block_fn (residual and gcn models)."""
    rate = rate if train else 0.0
    input_rate = input_rate if train else 0.0
    k_in, k_blocks, k_head = jax.random.split(key, 3)
    if input_rate > 0:
        x = dropout(k_in, x, input_rate)
    if model == "gcn":
        convs = params["convs"]
        h = x
        for i, p in enumerate(convs):
            if i > 0:
                h = jax.nn.relu(h)
                if rate > 0:
                    h = dropout(jax.random.fold_in(k_blocks, i), h, rate)
            conv = lambda p, h: GCNConv(p["bias"].shape[0], dtype=dtype).apply({"params": p}, adj, h)  # noqa: E731
            h = (jax.checkpoint(conv) if remat == "block" and i > 0 else conv)(p, h.astype(dtype))
        return h.astype(jnp.float32)
    h = (x.astype(dtype) @ params["encoder"]["kernel"].astype(dtype) + params["encoder"]["bias"].astype(dtype))
    f = block_fn(rate, remat if model == "residual" else "none")
    if model == "residual":
        layers = params["blocks"]["norm"]["scale"].shape[0]
        keys = rev.layer_keys(k_blocks, layers, 1, shared_dropout)[:, 0]

        def body(h, layer):
            p, k = layer
            return h + f(p, h, adj, k), None
        h = jax.lax.scan(body, h, (params["blocks"], keys))[0]
    else:
        layers = params["blocks"]["norm"]["scale"].shape[0]
        keys = rev.layer_keys(k_blocks, layers, groups, shared_dropout)
        stack = rev.reversible_stack if model == "reversible" else rev.grouped_stack
        h = stack(f, params["blocks"], h, adj, keys, groups=groups)
    h = jax.nn.relu(_layer_norm(params["head_norm"], h))
    if rate > 0:
        h = dropout(k_head, h, rate)
    out = h @ params["head"]["kernel"].astype(h.dtype) + params["head"]["bias"].astype(h.dtype)
    return out.astype(jnp.float32)
