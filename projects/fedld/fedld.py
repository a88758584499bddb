"""FedLD (Zeng et al., *Tackling Data Heterogeneity in Federated Learning via Loss
Decomposition*, MICCAI 2024, arXiv 2408.12300): a margin-controlled local loss and
principal-gradient aggregation on the server.

Local loss (authors' code): L = CE(z, y) + lambda_m log(1 + ||softmax(Z)||_F^2), the Frobenius
norm over the whole B x C batch of probabilities. The term is smallest when every prediction
is spread out, so it caps how confident (how large the logit margins of) the local model gets
on its own skewed labels.

Server, per parameter tensor, with G [m, d] the stacked deltas of the m participants:
  - in the first round, or while the tensor's history is all zero: the mean of G;
  - else (1/m) G G^T = E diag(s) E^T (s descending), v_j = G^T e_j, k = floor(k_proportion m),
    each client's delta replaced by r_i = sum_{j<k} sign<g_i, v_j> (s_j / sum s) ||g_i|| v_j / ||v_j||
    (its projection on each of the k principal directions, rescaled to a share s_j / sum s of its
    norm), and the aggregate is mean_i r_i;
  - scalars (one-element tensors) always take the mean;
  - history <- gamma history + (1 - gamma) aggregate (the first round sets history = mean).
The code also flips each v_j to the side most clients' deltas lie on; r_i is unchanged by that
flip (sign and direction flip together), so it is not needed here. Where <g_i, v_j> = 0 the
code divides 0 by 0 (NaN); here that term is 0.

On the engine this is a strategy: `prepare` hands the rule (fedavg) the deltas with equal
weights, `finish` replaces the rule's mean by the principal aggregate of the same deltas.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib.config import ConfigError
from lib.fl import engine

METHODS = ("fedavg", "fedprox", "fedld")


def check(method: str, lambda_m, k_proportion, gamma, prox_mu) -> None:
    if method not in METHODS:
        raise ConfigError(f"config.method={method!r} is unknown; choose one of {METHODS}")
    if not (isinstance(lambda_m, (int, float)) and lambda_m >= 0):
        raise ConfigError(f"config.fedld.lambda_m={lambda_m!r} must be >= 0 (the margin term's weight)")
    if not (isinstance(k_proportion, (int, float)) and 0 < k_proportion <= 1):
        raise ConfigError(f"config.fedld.k_proportion={k_proportion!r} must be in (0, 1] (the share of principal "
                          "directions kept)")
    if not (isinstance(gamma, (int, float)) and 0 <= gamma < 1):
        raise ConfigError(f"config.fedld.gamma={gamma!r} must be in [0, 1) (the history's decay)")
    if method == "fedprox" and not prox_mu > 0:
        raise ConfigError(f"config.local.prox_mu={prox_mu!r}: fedprox needs prox_mu > 0")
    if method != "fedprox" and prox_mu:
        raise ConfigError(f"config.local.prox_mu={prox_mu!r} is only for method='fedprox'")


# ----------------------------------------------------------------------------- local loss


def mark_padding(xb, yb, bmask, client, hparams):
    """batch_transform for the engine's local update: padded rows get label -1, so the batch
    term of the loss can leave them out (the loss only sees x and y)."""
    return xb, jnp.where(bmask, yb, -1)


def margin_loss(apply_fn, lambda_m: float):
    """Per-sample loss whose mean over the batch's real rows is
    mean CE + lambda_m log(1 + ||softmax(Z)||_F^2) (the norm over the real rows): every row
    carries the batch term, so the engine's masked mean gives it exactly once."""

    def loss(params, x, y):
        real = y >= 0
        logits = apply_fn(params, x)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.maximum(y, 0))
        p = jax.nn.softmax(logits.astype(jnp.float32), -1)
        frob2 = jnp.sum(jnp.where(real[:, None], p * p, 0.0))
        return ce + lambda_m * jnp.log1p(frob2)

    return loss


# ----------------------------------------------------------------------------- server


def principal_leaf(g, valid, k_proportion: float):
    """The principal aggregate of one tensor's deltas g [M, ...] over the valid slots [M]."""
    shape = g.shape[1:]
    w = valid.astype(jnp.float32)
    m = jnp.maximum(jnp.sum(w), 1.0)
    G = g.reshape(g.shape[0], -1).astype(jnp.float32) * w[:, None]  # absent slots: zero rows
    if G.shape[1] == 1:  # scalars: the mean
        return (jnp.sum(G, 0) / m).reshape(shape)
    H = G @ G.T / m
    evals, evecs = jnp.linalg.eigh(H)  # ascending
    s = jnp.maximum(evals[::-1], 0.0)  # descending, as the SVD of the PSD matrix
    E = evecs[:, ::-1]
    V = G.T @ E  # [d, M]: v_j = G^T e_j
    vnorm = jnp.linalg.norm(V, axis=0)
    k = jnp.floor(m * k_proportion + 1e-4)
    keep = (jnp.arange(g.shape[0]) < k) & (vnorm > 0)
    share = jnp.where(keep, s / jnp.maximum(jnp.sum(s), 1e-30) / jnp.where(keep, vnorm, 1.0), 0.0)
    gnorm = jnp.linalg.norm(G, axis=1)
    C = jnp.sign(G @ V) * share[None, :] * gnorm[:, None]  # [M, M]: r_i = sum_j C_ij v_j
    agg = (w @ C) @ V.T / m
    return agg.reshape(shape)


def strategy(k_proportion: float, gamma: float, principal: bool = True) -> engine.Strategy:
    """FedLD's server (principal=True) or the plain equal-weight mean (FedAvg/FedProx here:
    the same equal weights, so the methods differ only in what they introduce)."""

    def init(params):
        return {"history": jax.tree.map(jnp.zeros_like, params), "started": jnp.asarray(False)}

    def prepare(sstate, deltas, ctx):
        return deltas, ctx["valid"].astype(jnp.float32), jnp.float32(1.0), sstate

    def finish(sstate, mean, deltas, ctx):
        if not principal:
            return mean, sstate
        valid = ctx["valid"]
        w = valid.astype(jnp.float32)
        m = jnp.maximum(jnp.sum(w), 1.0)

        def one(g, h):
            plain = jnp.tensordot(w, g.astype(jnp.float32), axes=1) / m
            use_pc = sstate["started"] & jnp.any(h != 0)
            agg = jnp.where(use_pc, principal_leaf(g, valid, k_proportion), plain)
            new_h = jnp.where(sstate["started"], gamma * h + (1.0 - gamma) * agg, plain)
            return agg.astype(g.dtype), new_h

        out = jax.tree.map(one, deltas, sstate["history"])
        agg = jax.tree.map(lambda o: o[0], out, is_leaf=lambda o: isinstance(o, tuple))
        hist = jax.tree.map(lambda o: o[1], out, is_leaf=lambda o: isinstance(o, tuple))
        return agg, {"history": hist, "started": jnp.asarray(True)}

    return engine.Strategy("fedld" if principal else "mean", init, prepare, finish)
