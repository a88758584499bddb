"""The masked GCN of FED-PUB: two GCN layers and a linear classifier, each weight matrix multiplied
element-wise by a learnable mask (initialised to ones). Masks stay on the client (the server's
aggregate never overwrites them) and carry an L1 penalty, so each client learns which part of
the shared weights it uses. At evaluation masks with |m| < prune_threshold are zeroed (the
reference code prunes at the L1 coefficient, 1e-3). `masked=False` is the plain GCN of the
FedAvg and local baselines (no mask leaves at all).

Parameters are a plain dict {conv1, conv2, clsif} of {w, b[, mask]}; the functions take one
client's parameters and graph and are vmapped over clients by the trainer.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lib.graph.layers import spmm32

LAYERS = ("conv1", "conv2", "clsif")


def init(key, num_features: int, hidden: int, num_classes: int, masked: bool) -> dict:
    """Glorot weights and zero biases for the GCN layers (PyG's GCNConv), torch.nn.Linear's
    uniform(+-1/sqrt(fan_in)) for the classifier; masks of ones."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    glorot = jax.nn.initializers.glorot_uniform()
    bound = 1.0 / jnp.sqrt(hidden)
    p = {"conv1": {"w": glorot(k1, (num_features, hidden)), "b": jnp.zeros(hidden)},
         "conv2": {"w": glorot(k2, (hidden, hidden)), "b": jnp.zeros(hidden)},
         "clsif": {"w": jax.random.uniform(k3, (hidden, num_classes), minval=-bound, maxval=bound),
                   "b": jax.random.uniform(k4, (num_classes,), minval=-bound, maxval=bound)}}
    if masked:
        for name in LAYERS:
            p[name]["mask"] = jnp.ones_like(p[name]["w"])
    return p


def effective_weight(layer: dict, train: bool, prune_threshold: float):
    if "mask" not in layer:
        return layer["w"]
    m = layer["mask"]
    if not train:
        m = jnp.where(jnp.abs(m) < prune_threshold, 0.0, m)
    return layer["w"] * m


def _dropout(key, h, rate: float, train: bool):
    if not train or rate == 0.0:
        return h
    keep = jax.random.bernoulli(key, 1.0 - rate, h.shape)
    return jnp.where(keep, h / (1.0 - rate), 0.0)


def hidden_repr(p, adj, x, *, train: bool, key=None, dropout: float = 0.5, prune_threshold: float = 1e-3):
    """Output of the second GCN layer (before its ReLU): what the functional embedding averages."""
    w1 = effective_weight(p["conv1"], train, prune_threshold)
    w2 = effective_weight(p["conv2"], train, prune_threshold)
    k1 = k2 = None
    if train:
        k1, k2 = jax.random.split(key)
    h = jax.nn.relu(spmm32(adj, x @ w1) + p["conv1"]["b"])
    h = _dropout(k1, h, dropout, train)
    return spmm32(adj, h @ w2) + p["conv2"]["b"], k2


def logits(p, adj, x, *, train: bool, key=None, dropout: float = 0.5, prune_threshold: float = 1e-3):
    h, k2 = hidden_repr(p, adj, x, train=train, key=key, dropout=dropout, prune_threshold=prune_threshold)
    h = _dropout(k2, jax.nn.relu(h), dropout, train)
    return h @ effective_weight(p["clsif"], train, prune_threshold) + p["clsif"]["b"]


def functional_embedding(p, proxy_adj, proxy_x, proxy_mask, prune_threshold: float):
    """Mean over the proxy graph's real nodes of the client's second-layer output (eval mode)."""
    h, _ = hidden_repr(p, proxy_adj, proxy_x, train=False, prune_threshold=prune_threshold)
    m = proxy_mask.astype(h.dtype)[:, None]
    return jnp.sum(h * m, 0) / jnp.sum(m)


def masked_ce(out, y, mask):
    ce = optax.softmax_cross_entropy_with_integer_labels(out, y)
    m = mask.astype(ce.dtype)
    return jnp.sum(ce * m) / jnp.maximum(jnp.sum(m), 1.0)


def safe_norm(d):
    """||d||_2 with a zero (not NaN) gradient at d = 0 (local training starts exactly there)."""
    s = jnp.sum(d * d)
    pos = s > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1.0)), 0.0)


def sparsity(p, prune_threshold: float):
    """Fraction of mask entries pruned at evaluation (0 for an unmasked model)."""
    masks = [p[n]["mask"] for n in LAYERS if "mask" in p[n]]
    if not masks:
        return jnp.float32(0.0)
    pruned = sum(jnp.sum(jnp.abs(m) < prune_threshold) for m in masks)
    return pruned / sum(m.size for m in masks)
