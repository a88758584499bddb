"""Width-split sub-networks (GIST's independent subnetwork training) for stacks of dense maps.

A model here is a list of layers `{"w": [d_l, d_{l+1}], "b": [d_{l+1}]}` with widths
`dims = (d_0, ..., d_L)`: d_0 the input features, d_1..d_{L-1} the hidden widths, d_L the
outputs. A partition draws, for every hidden width, a random permutation cut into m equal,
disjoint groups (and, with `split_input`, for the input features too; the outputs are never
split). Sub-network j keeps only its groups: layer l's weight is `w[in_j][:, out_j]`, so the m
sub-networks share no hidden unit and can train independently (vmapped on one device or one
per device) with 1/m of the hidden width each. `merge` writes every sub-network's slices back
into the full model; the leaves no partition splits (the output bias) are averaged over the m
sub-networks, as in the reference code.

Input features that do not fill m equal groups (d_0 mod m of them) are left out of that
round: each round draws a new permutation, so every feature is trained in most rounds.
Hidden widths must be divisible by m (`SubnetError` otherwise, and when m exceeds a width).
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from lib.errors import TesseraError


class SubnetError(TesseraError, ValueError):
    """A width split that cannot be made (m < 1, m larger than a width, a width not divisible by m)."""


def check_split(dims: Sequence[int], m: int, split_input: bool) -> None:
    """Named errors before anything is compiled."""
    dims = [int(d) for d in dims]
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise SubnetError(f"number of sub-networks m={m!r} must be a positive integer")
    if len(dims) < 2:
        raise SubnetError(f"dims={dims} needs at least an input and an output width")
    for i, d in enumerate(dims[1:-1], start=1):
        if m > d:
            raise SubnetError(f"m={m} sub-networks is larger than hidden width d_{i}={d}: every "
                              "sub-network needs at least one hidden unit")
        if d % m:
            raise SubnetError(f"hidden width d_{i}={d} is not divisible by m={m} (the sub-networks "
                              "get equal, disjoint slices)")
    if split_input and m > dims[0]:
        raise SubnetError(f"m={m} is larger than the {dims[0]} input features (split_input=True)")


def partition(key, dims: Sequence[int], m: int, split_input: bool) -> list[jax.Array]:
    """Index groups for widths d_0..d_{L-1}: int32 [m, d_l // m] (input unsplit: [m, d_0], every
    group all features). Pure function of `key`."""
    out = []
    for i, d in enumerate(dims[:-1]):
        if i == 0 and not split_input:
            out.append(jnp.broadcast_to(jnp.arange(d, dtype=jnp.int32), (m, d)))
            continue
        perm = jax.random.permutation(jax.random.fold_in(key, i), d).astype(jnp.int32)
        out.append(perm[:(d // m) * m].reshape(m, d // m))
    return out


def _out_groups(groups, layer: int, num_layers: int, d_out: int, m: int):
    """Column groups of layer `layer`: the next width's groups, or all outputs for the last layer."""
    if layer == num_layers - 1:
        return jnp.broadcast_to(jnp.arange(d_out, dtype=jnp.int32), (m, d_out))
    return groups[layer + 1]


def extract(params: list[dict], groups: list[jax.Array]) -> list[dict]:
    """The m sub-networks, stacked on a leading axis: layer l `w` [m, |in_j|, |out_j|], `b` [m, |out_j|]."""
    m = groups[0].shape[0]
    subs = []
    for l, p in enumerate(params):
        rows = groups[l]
        cols = _out_groups(groups, l, len(params), p["w"].shape[1], m)
        subs.append({"w": jax.vmap(lambda r, c: p["w"][r][:, c])(rows, cols),
                     "b": jax.vmap(lambda c: p["b"][c])(cols)})
    return subs


def merge(params: list[dict], subs: list[dict], groups: list[jax.Array], split_input: bool) -> list[dict]:
    """Sub-networks written back: disjoint slices copied into place, leaves with no split axis (the
    output bias; the whole weight of a one-layer model on unsplit inputs) averaged over the m."""
    m = groups[0].shape[0]
    out = []
    for l, (p, s) in enumerate(zip(params, subs)):
        last = l == len(params) - 1
        rows_split = l > 0 or split_input
        if last and not rows_split:
            w = jnp.mean(s["w"], 0)
        else:
            cols = _out_groups(groups, l, len(params), p["w"].shape[1], m)
            w = p["w"].at[groups[l][:, :, None], cols[:, None, :]].set(s["w"])
        b = jnp.mean(s["b"], 0) if last else p["b"].at[groups[l + 1]].set(s["b"])
        out.append({"w": w, "b": b})
    return out
