"""The MoE feed-forward layer: a pure function and a flax module around it.

Tokens are routed in `num_groups` independent groups (capacity is per group, as in GShard/flaxformer).
Under expert parallelism each device routes its own groups, so the single-device layer with the same
`num_groups` computes exactly the same function (tests/lib/moe/test_parallel.py).

Router state (the loss-free bias) lives in the flax collection 'moe_state', outside the optimizer;
the layer sows the per-step expert load into 'intermediates' and the train step calls
`routers.update_state` with it after the optimizer update.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.moe import dispatch as D
from lib.moe import routers as R
from lib.moe.routers import MoEConfigError, RouterSpec


@dataclasses.dataclass(frozen=True)
class MoESpec:
    router: RouterSpec
    d_ff: int
    dispatch: str = "capacity"
    capacity_factor: float = 1.25
    num_groups: int = 1
    tile: int = 512  # dropless_tiles bulk tile rows (then tile/4, tile/16, ... for the remainder)
    aux_weight: float = 0.01  # Switch load-balance loss weight
    z_weight: float = 0.0  # router z-loss weight
    align_weight: float = 0.0  # SAM alignment loss weight (routers.sam_alignment_loss; 0 for others)

    @functools.cached_property
    def mode(self) -> D.DispatchMode:
        """The dispatch implementation, resolved once (per platform for 'dropless')."""
        return D.resolve(self.dispatch)

    def validate(self, tokens: int | None = None) -> "MoESpec":
        _ = self.mode  # an unknown dispatch is a named error here
        if not self.capacity_factor > 0:
            raise MoEConfigError("moe.capacity_factor", self.capacity_factor, "> 0")
        if self.d_ff < 1 or self.num_groups < 1 or self.tile < 1:
            raise MoEConfigError("moe.d_ff/num_groups/tile", (self.d_ff, self.num_groups, self.tile), ">= 1")
        if self.aux_weight < 0 or self.z_weight < 0 or self.align_weight < 0:
            raise MoEConfigError("moe.aux_weight/z_weight/align_weight",
                                 (self.aux_weight, self.z_weight, self.align_weight), ">= 0")
        if tokens is not None and tokens % self.num_groups:
            raise MoEConfigError("moe.num_groups", self.num_groups, f"a divisor of the token count {tokens}")
        return self

    def group_capacity(self, tokens: int) -> int:
        return self.router.capacity(tokens // self.num_groups, self.capacity_factor)


def make_moe_spec(router: str, num_experts: int, d_ff: int, *, router_kwargs: dict | None = None,
                  **kw) -> MoESpec:
    return MoESpec(router=R.make_spec(router, num_experts, **(router_kwargs or {})), d_ff=d_ff,
                   **kw).validate()


def group_keys(key, num_groups: int):
    """One routing key per group: fold_in(key, group)."""
    if key is None:
        return None
    return jax.vmap(lambda g: jax.random.fold_in(key, g))(jnp.arange(num_groups))


def route_groups(spec: MoESpec, router_w, state, xg, keys, step, ids_g, train):
    """Route every group: xg [G, Tg, d] -> Routing with a leading G axis."""
    def one(x, key, ids):
        return R.route(spec.router, x @ router_w, state=state, key=key, step=step, token_ids=ids,
                       train=train)

    return jax.vmap(one, in_axes=(0, 0 if keys is not None else None, 0 if ids_g is not None else None))(
        xg, keys, ids_g)


MEAN_KEYS = ("aux_loss", "z_loss", "align_loss", "loss")  # averaged over groups/devices; the rest summed


def summarize(spec: MoESpec, r: R.Routing, stats: D.Stats) -> dict:
    """Scalars and the load vector; groups are summed (load, counts) or averaged (losses)."""
    aux = jnp.mean(r.aux_loss)
    z = jnp.mean(r.z_loss)
    align = jnp.zeros((), jnp.float32) if r.align_loss is None else jnp.mean(r.align_loss)
    return {"aux_loss": aux, "z_loss": z, "align_loss": align,
            "loss": spec.aux_weight * aux + spec.z_weight * z + spec.align_weight * align,
            "load": stats.load.sum(0), "kept": stats.kept.sum(), "routed": stats.routed.sum()}


def finalize(aux: dict) -> dict:
    aux = dict(aux)
    aux["dropped_fraction"] = 1.0 - aux["kept"] / jnp.maximum(aux["routed"], 1.0)
    return aux


def moe_ffn(spec: MoESpec, params: dict, state: dict, x: jax.Array, *, key=None, step=0, token_ids=None,
            train: bool = True):
    """Single-device MoE FFN on x [T, d]; params {'router': [d, E], 'w1', 'w2'}. Returns (y, aux)."""
    t, d = x.shape
    spec.validate(t)
    g = spec.num_groups
    xg = x.reshape(g, t // g, d)
    ids_g = None if token_ids is None else token_ids.reshape(g, t // g)
    r = route_groups(spec, params["router"], state, xg, group_keys(key, g), step, ids_g, train)
    experts = {"w1": params["w1"], "w2": params["w2"]}
    y, stats = spec.mode.apply_groups(experts, xg, r, spec.group_capacity(t), spec.tile)
    if spec.router.residual:  # BASE: alpha * expert(x) + (1 - alpha) * x
        y = y + (1.0 - r.weight.sum(-1, keepdims=True)).astype(x.dtype) * xg
    aux = finalize(summarize(spec, r, stats))
    aux["index"] = r.index.reshape(t, -1)  # routing trace (single device only) for SRP/SCH
    aux["mask"] = r.mask.reshape(t, -1)
    return y.reshape(t, d), aux


class MoEFFN(nn.Module):
    """Flax MoE FFN on [B, L, d]. `parallel` (a lib.moe.parallel.ExpertParallel) enables expert parallelism."""

    spec: MoESpec
    parallel: Any = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, token_ids=None, step=0, train: bool = True):
        b, l, d = x.shape
        e, f = self.spec.router.num_experts, self.spec.d_ff
        params = {
            "router": self.param("router", nn.initializers.normal(0.02), (d, e)),
            "w1": self.param("w1", nn.initializers.variance_scaling(1.0, "fan_in", "normal", in_axis=1,
                                                                    out_axis=2), (e, d, f)),
            "w2": self.param("w2", nn.initializers.variance_scaling(1.0, "fan_in", "normal", in_axis=1,
                                                                    out_axis=2), (e, f, d)),
        }
        state = self.variable("moe_state", "router", lambda: R.init_state(self.spec.router)).value
        key = self.make_rng("route") if (self.spec.router.needs_key and train) else None
        ids = None if token_ids is None else token_ids.reshape(-1)
        xt = x.reshape(-1, d).astype(self.dtype)
        # expert matmuls in the compute dtype; the router weight stays float32, so the router's
        # logits (x @ router, promoted) and its softmax are float32 (bf16 ties flip top-k choices)
        params = {**params, "w1": params["w1"].astype(self.dtype), "w2": params["w2"].astype(self.dtype)}
        if self.parallel is None:
            y, aux = moe_ffn(self.spec, params, state, xt, key=key, step=step, token_ids=ids, train=train)
        else:
            y, aux = self.parallel.moe_ffn(self.spec, params, state, xt, key=key, step=step, token_ids=ids,
                                           train=train)
        self.sow("intermediates", "load", aux["load"])
        if "index" in aux:
            self.sow("intermediates", "index", aux.pop("index").reshape(b, l, -1))
            self.sow("intermediates", "mask", aux.pop("mask").reshape(b, l, -1))
        return y.reshape(b, l, d).astype(x.dtype), aux
