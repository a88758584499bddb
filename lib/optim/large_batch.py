"""Large-batch optimizers as the LAMB paper states them (You et al., ICLR 2020), on optax.

LAMB (paper Algorithm 2): Adam direction plus weight decay, scaled per layer by the trust
ratio ||x|| / ||u||. LARS (paper Algorithm 1): momentum on (g + wd * x), scaled per layer
by ||x|| / ||m||. phi is the identity, as in the reference implementation.

Exclusions. Biases and normalization parameters get neither weight decay nor the trust
ratio. `optax.lamb(mask=...)` masks only the weight decay: its trust ratio still rescales
every leaf, so a bias (tiny norm, update of order lr) would have its steps shrunk to
almost nothing. Here the trust ratio is wrapped in the same mask, so excluded leaves
take the plain Adam (or momentum) step. (optax.lars has both masks, but applies the ratio
to the gradient before momentum, not to the momentum as the paper's Algorithm 1 does.)

A "layer" is a pytree leaf. Parameters stacked over layers (nn.scan) get one ratio for
the whole stack; use per-layer leaves if that matters.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import optax

from lib.config import ConfigError

EXCLUDED_NAMES = ("bias", "scale", "embedding_bias")


def adaptation_mask(params, excluded: tuple[str, ...] = EXCLUDED_NAMES):
    """Pytree of bools: True where weight decay and the trust ratio apply.

    Excluded: leaves named like biases / norm scales, and any leaf under a module whose
    name contains 'norm' (LayerNorm, BatchNorm, GroupNorm ...).
    """

    def keep(path, leaf):
        names = [str(getattr(p, "key", getattr(p, "name", p))) for p in path]
        if names and names[-1] in excluded:
            return False
        return not any("norm" in n.lower() for n in names[:-1])

    return jax.tree_util.tree_map_with_path(keep, params)


def lamb(learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-6,
         weight_decay: float = 0.0, mask: Callable = adaptation_mask) -> optax.GradientTransformation:
    return optax.chain(
        optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
        optax.add_decayed_weights(weight_decay, mask=mask),
        optax.masked(optax.scale_by_trust_ratio(), mask),
        optax.scale_by_learning_rate(learning_rate),
    )


def lars(learning_rate, momentum: float = 0.9, weight_decay: float = 0.0,
         mask: Callable = adaptation_mask) -> optax.GradientTransformation:
    return optax.chain(
        optax.add_decayed_weights(weight_decay, mask=mask),
        optax.ema(decay=momentum, debias=False),  # m = b1 m + (1 - b1)(g + wd x)
        optax.masked(optax.scale_by_trust_ratio(), mask),
        optax.scale_by_learning_rate(learning_rate),
    )


def warmup_poly_decay(peak: float, warmup_steps: int, total_steps: int, power: float = 1.0,
                      end: float = 0.0) -> optax.Schedule:
    """Linear warmup from 0 to `peak`, then polynomial decay to `end` at `total_steps`."""
    warmup_steps = min(warmup_steps, total_steps)
    decay = optax.polynomial_schedule(peak, end, power, max(total_steps - warmup_steps, 1))
    if warmup_steps == 0:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup_steps), decay], [warmup_steps])


LR_SCALING = ("sqrt", "linear", "none")


def scale_lr(base_lr: float, batch_size: int, base_batch_size: int, rule: str) -> float:
    """LR for `batch_size` from one tuned at `base_batch_size`.

    The LAMB paper scales LAMB's learning rate with the square root of the batch size;
    linear scaling (Goyal et al.) is the usual rule for momentum SGD / LARS.
    """
    if rule not in LR_SCALING:
        raise ConfigError(f"config.lr_scaling={rule!r} is not allowed; choose one of {list(LR_SCALING)}")
    ratio = batch_size / base_batch_size
    return base_lr * {"sqrt": math.sqrt(ratio), "linear": ratio, "none": 1.0}[rule]


OPTIMIZERS = ("lamb", "lars", "adamw", "sgd")


def make(name: str, schedule, *, weight_decay: float = 0.0, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-6, momentum: float = 0.9) -> optax.GradientTransformation:
    """One of OPTIMIZERS; AdamW and SGD use the same exclusion mask for weight decay."""
    if name == "lamb":
        return lamb(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    if name == "lars":
        return lars(schedule, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, mask=adaptation_mask)
    if name == "sgd":
        return optax.chain(optax.add_decayed_weights(weight_decay, mask=adaptation_mask),
                           optax.sgd(schedule, momentum=momentum))
    raise ConfigError(f"config.optimizer={name!r} is not allowed; choose one of {list(OPTIMIZERS)}")
