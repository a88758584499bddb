"""Grouped reversible residual blocks (RevGNN, Li et al. 2021; PyG `GroupAddRev`) with
recomputation in the backward pass.

A block splits the channels of X into C groups X_1..X_C and computes

    X'_0 = sum_{i>=2} X_i,      X'_i = f_i(X'_{i-1}) + X_i   (i = 1..C)

and is inverted exactly (up to float rounding) by X_i = X'_i - f_i(X'_{i-1}), i = C..2, then
X_1 = X'_1 - f_1(sum_{i>=2} X_i). `reversible_stack` runs L such blocks with `lax.scan` over
stacked per-layer parameters (compile time independent of L) under a `jax.custom_vjp` whose
forward keeps only the stack's *output*; the backward walks the layers in reverse and, group by
group, recomputes f_i(X'_{i-1}) under `jax.vjp`: the same evaluation yields the reconstructed
input X_i = X'_i - f_i(X'_{i-1}) and the cotangents. Activation memory is therefore that of one
block, not L blocks; the cost is one extra forward evaluation of every f.

`fn(p, h, aux, key) -> same shape as h` is one group function. `p` are that group's parameters,
`aux` is non-differentiable context shared by all layers (e.g. the graph `Adjacency`), and `key`
is a PRNG key for dropout: masks are *derived* from keys, so the recomputation in the backward
uses bit-identical masks and the reconstruction is exact. Parameters are stacked with leading
axes [L, C]; keys have shape [L, C] (`layer_keys` builds them, either shared by all layers and
groups as in the paper's shared dropout, or independent per layer/group via fold_in).

`grouped_stack` is the same function under plain autodiff (the reference for the tests and the
"store every activation" baseline of the memory measurements).
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp

from lib.config import ConfigError


class ReversibleError(ConfigError):
    """Bad shapes for a reversible stack (names the value and what is allowed)."""


def check_groups(channels: int, groups: int) -> None:
    if groups < 2:
        raise ReversibleError(f"groups={groups} must be >= 2 (a reversible block needs at least two groups)")
    if channels % groups:
        raise ReversibleError(f"channels={channels} must be divisible by groups={groups}")


def _split(x, groups):
    check_groups(x.shape[-1], groups)
    return jnp.split(x, groups, axis=-1)


def _take(tree, i):
    return jax.tree.map(lambda a: a[i], tree)


def block_forward(fn: Callable, groups: int, params, x, aux, keys):
    """One grouped reversible block; params leaves [C, ...], keys [C]."""
    xs = _split(x, groups)
    prev = sum(xs[1:])
    ys = []
    for i in range(groups):
        prev = fn(_take(params, i), prev, aux, keys[i]) + xs[i]
        ys.append(prev)
    return jnp.concatenate(ys, axis=-1)


def block_inverse(fn: Callable, groups: int, params, y, aux, keys):
    """Inputs of `block_forward` from its output (no stored activations)."""
    ys = _split(y, groups)
    xs = [None] * groups
    for i in range(groups - 1, 0, -1):
        xs[i] = ys[i] - fn(_take(params, i), ys[i - 1], aux, keys[i])
    xs[0] = ys[0] - fn(_take(params, 0), sum(xs[1:]), aux, keys[0])
    return jnp.concatenate(xs, axis=-1)


def block_inverse_vjp(fn: Callable, groups: int, params, y, dy, aux, keys):
    """(x, dx, dparams) of one block from its output y and output cotangent dy.

    Each f_i is evaluated once, under jax.vjp, giving both the reconstruction of X_i and the
    cotangents of its input and parameters.
    """
    ys = _split(y, groups)
    gs = list(_split(dy, groups))
    xs = [None] * groups
    dxs = [None] * groups
    dps = [None] * groups
    for i in range(groups - 1, 0, -1):
        out, pull = jax.vjp(lambda p, h: fn(p, h, aux, keys[i]), _take(params, i), ys[i - 1])
        xs[i] = ys[i] - out
        dxs[i] = gs[i]
        dps[i], dh = pull(gs[i])
        gs[i - 1] = gs[i - 1] + dh
    out, pull = jax.vjp(lambda p, h: fn(p, h, aux, keys[0]), _take(params, 0), sum(xs[1:]))
    xs[0] = ys[0] - out
    dxs[0] = gs[0]
    dps[0], dh0 = pull(gs[0])
    for i in range(1, groups):
        dxs[i] = dxs[i] + dh0
    dparams = jax.tree.map(lambda *a: jnp.stack(a), *dps)
    return jnp.concatenate(xs, axis=-1), jnp.concatenate(dxs, axis=-1), dparams


def _scan_forward(fn, groups, params, x, aux, keys):
    def body(h, layer):
        p, k = layer
        return block_forward(fn, groups, p, h, aux, k), None
    return jax.lax.scan(body, x, (params, keys))[0]


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _reversible(fn, groups, params, x, aux, keys):
    return _scan_forward(fn, groups, params, x, aux, keys)


def _reversible_fwd(fn, groups, params, x, aux, keys):
    y = _scan_forward(fn, groups, params, x, aux, keys)
    return y, (params, y, aux, keys)  # only the output: inputs are recomputed in the backward


def _reversible_bwd(fn, groups, res, dy):
    params, y, aux, keys = res

    def body(carry, layer):
        h, g = carry
        p, k = layer
        x, dx, dp = block_inverse_vjp(fn, groups, p, h, g, aux, k)
        return (x, dx), dp
    (_, dx), dparams = jax.lax.scan(body, (y, dy), (params, keys), reverse=True)
    # aux (graph constants) and keys get no cotangent
    return dparams, dx, None, None


_reversible.defvjp(_reversible_fwd, _reversible_bwd)


def reversible_stack(fn: Callable, params, x, aux, keys, *, groups: int):
    """L grouped reversible blocks with O(1)-in-L activation memory under jax.grad.

    params: pytree with leaves [L, C, ...]; keys: PRNG keys [L, C]; aux: non-differentiable.
    """
    _check_stack(params, keys, x, groups)
    return _reversible(fn, groups, params, x, aux, keys)


def grouped_stack(fn: Callable, params, x, aux, keys, *, groups: int):
    """The same function as `reversible_stack`, differentiated by plain autodiff (stores activations)."""
    _check_stack(params, keys, x, groups)
    return _scan_forward(fn, groups, params, x, aux, keys)


def inverse_stack(fn: Callable, params, y, aux, keys, *, groups: int):
    """Inputs of a stack from its output (reverse scan of `block_inverse`)."""
    def body(h, layer):
        p, k = layer
        return block_inverse(fn, groups, p, h, aux, k), None
    return jax.lax.scan(body, y, (params, keys), reverse=True)[0]


def _check_stack(params, keys, x, groups):
    check_groups(x.shape[-1], groups)
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ReversibleError("params of a reversible stack are empty")
    lead = {tuple(a.shape[:2]) for a in leaves}
    if len(lead) != 1 or next(iter(lead))[1:] != (groups,):
        raise ReversibleError(f"every params leaf needs leading axes [layers, groups={groups}]; got {sorted(lead)}")
    if tuple(keys.shape) != next(iter(lead)):
        raise ReversibleError(f"keys shape {tuple(keys.shape)} != [layers, groups] {next(iter(lead))}")


def layer_keys(key, layers: int, groups: int, shared: bool = True):
    """[layers, groups] dropout keys. shared=True: one key everywhere (the paper's shared dropout
    mask: every layer and group drops the same channels of the same nodes in one step);
    shared=False: independent keys (jax.random.split of `key`)."""
    if shared:
        return jnp.broadcast_to(key, (layers, groups))
    return jax.random.split(key, layers * groups).reshape(layers, groups)


__all__ = ["ReversibleError", "block_forward", "block_inverse", "block_inverse_vjp", "check_groups",
           "grouped_stack", "inverse_stack", "layer_keys", "reversible_stack"]
