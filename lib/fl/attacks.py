"""Byzantine attacks: a registry by name, validation before compile.

Update-level attacks share one signature, ``attack(updates, byz_mask, key, **params)
-> updates``: ``updates`` is a pytree with a leading client axis [K, ...], ``byz_mask``
[K] bool marks the Byzantine slots; only those rows are replaced. Omniscient attacks
(ALIE, IPM) see every update and compute their statistics from the honest clients only.
Label flipping is a data-level attack (``flip_labels``), applied to a Byzantine client's
labels before local training.

Names: sign_flip(scale), gaussian(sigma), alie(n, f or z), ipm(epsilon), label_flip.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import norm as _normal

from lib.config import ConfigError


class AttackConfigError(ConfigError):
    """Unknown attack name or parameters the attack cannot run with."""


def _replace(updates, byz_mask, bad):
    """Rows of `updates` where byz_mask is set become the rows of `bad`."""
    def leaf(u, b):
        m = byz_mask.reshape((-1,) + (1,) * (u.ndim - 1))
        return jnp.where(m, b.astype(u.dtype), u)

    return jax.tree.map(leaf, updates, bad)


def _honest_moments(updates, byz_mask):
    """Per-coordinate mean and (population) std over the honest clients."""
    h = (~byz_mask).astype(jnp.float32)
    nh = jnp.maximum(jnp.sum(h), 1.0)

    def mom(u):
        w = h.reshape((-1,) + (1,) * (u.ndim - 1))
        mu = jnp.sum(w * u, 0) / nh
        var = jnp.sum(w * (u - mu) ** 2, 0) / nh
        return mu, jnp.sqrt(var)

    m = jax.tree.map(mom, updates)
    mu = jax.tree.map(lambda t: t[0], m, is_leaf=lambda t: isinstance(t, tuple))
    sd = jax.tree.map(lambda t: t[1], m, is_leaf=lambda t: isinstance(t, tuple))
    return mu, sd


def sign_flip(updates, byz_mask, key, *, scale=1.0):
    """Byzantine clients send -scale times their own update (scale 1: sign flipping;
    the Flag paper's "reverse" attack is scale 10)."""
    del key
    return _replace(updates, byz_mask, jax.tree.map(lambda u: -scale * u, updates))


def gaussian(updates, byz_mask, key, *, sigma=1.0):
    """Byzantine clients send N(0, sigma^2 I) noise instead of their update."""
    leaves, treedef = jax.tree.flatten(updates)
    keys = jax.random.split(key, len(leaves))
    noise = [sigma * jax.random.normal(k, l.shape, jnp.float32) for k, l in zip(keys, leaves)]
    return _replace(updates, byz_mask, jax.tree.unflatten(treedef, noise))


def alie_z(n: int, f: int) -> float:
    """z of "A little is enough" (Baruch et al. 2019): s = floor(n/2 + 1) - f supporters
    are needed, z = Phi^-1((n - s) / n)."""
    s = int(np.floor(n / 2 + 1)) - f
    return float(_normal.ppf((n - s) / n))


def alie(updates, byz_mask, key, *, n=None, f=None, z=None):
    """A little is enough: every Byzantine client sends mu - z sigma, the honest
    clients' per-coordinate mean and std (z from n and f, see `alie_z`, or given)."""
    del key
    if z is None:
        if n is None or f is None:
            raise AttackConfigError("alie needs z, or n and f to compute it")
        z = alie_z(n, f)
    mu, sd = _honest_moments(updates, byz_mask)
    bad = jax.tree.map(lambda m, s, u: jnp.broadcast_to(m - z * s, u.shape), mu, sd, updates)
    return _replace(updates, byz_mask, bad)


def ipm(updates, byz_mask, key, *, epsilon=0.1):
    """Inner-product manipulation (Xie et al. 2020): every Byzantine client sends
    -epsilon times the honest clients' mean."""
    del key
    mu, _ = _honest_moments(updates, byz_mask)
    bad = jax.tree.map(lambda m, u: jnp.broadcast_to(-epsilon * m, u.shape), mu, updates)
    return _replace(updates, byz_mask, bad)


def flip_labels(y, num_classes: int, byz=True):
    """Label flipping (data level): y -> C - 1 - y where `byz` (a bool, or broadcastable)."""
    return jnp.where(byz, num_classes - 1 - y, y)


def choose_byzantine(key, num_clients: int, fraction: float):
    """[num_clients] bool mask with floor(fraction * num_clients) Byzantine clients,
    a uniformly random subset drawn from `key` (reproducible per run)."""
    if not 0 <= fraction < 1:
        raise AttackConfigError(f"byzantine fraction={fraction} must be in [0, 1)")
    f = int(np.floor(fraction * num_clients + 1e-9))
    perm = jax.random.permutation(key, num_clients)
    return jnp.zeros((num_clients,), bool).at[perm[:f]].set(True)


# ----------------------------------------------------------------------------- registry


@dataclasses.dataclass(frozen=True)
class AttackSpec:
    fn: Callable | None  # None: data-level (label_flip)
    defaults: dict
    check: Callable[..., None]


def _chk_scale(scale=1.0):
    if not scale > 0:
        raise AttackConfigError(f"sign_flip: scale={scale} must be > 0")


def _chk_sigma(sigma=1.0):
    if not sigma >= 0:
        raise AttackConfigError(f"gaussian: sigma={sigma} must be >= 0")


def _chk_alie(n=None, f=None, z=None):
    if z is None:
        if n is None or f is None:
            raise AttackConfigError("alie: give z, or n and f")
        if not 0 < f < n:
            raise AttackConfigError(f"alie: f={f} must be in (0, n={n})")
        s = int(np.floor(n / 2 + 1)) - f
        if not 0 < (n - s) / n < 1:
            raise AttackConfigError(f"alie: n={n}, f={f} give (n - s)/n outside (0, 1)")


def _chk_ipm(epsilon=0.1):
    if not epsilon > 0:
        raise AttackConfigError(f"ipm: epsilon={epsilon} must be > 0")


def _chk_none(**params):
    pass


ATTACKS: dict[str, AttackSpec] = {
    "sign_flip": AttackSpec(sign_flip, dict(scale=1.0), _chk_scale),
    "gaussian": AttackSpec(gaussian, dict(sigma=1.0), _chk_sigma),
    "alie": AttackSpec(alie, dict(n=None, f=None, z=None), _chk_alie),
    "ipm": AttackSpec(ipm, dict(epsilon=0.1), _chk_ipm),
    "label_flip": AttackSpec(None, {}, _chk_none),
}


def _spec_of(name):
    if name not in ATTACKS:
        raise AttackConfigError(f"attack={name!r} is unknown; choose one of {sorted(ATTACKS)} (or 'none')")
    return ATTACKS[name]


def get_attack(name: str) -> Callable | None:
    """The update-level attack `name` (None for the data-level label_flip)."""
    return _spec_of(name).fn


def is_data_level(name: str) -> bool:
    return _spec_of(name).fn is None


def validate(name: str, **params: Any) -> None:
    """AttackConfigError for an unknown name, unknown parameter or bad value."""
    spec = _spec_of(name)
    unknown = set(params) - set(spec.defaults)
    if unknown:
        raise AttackConfigError(
            f"attack={name!r}: unknown parameter(s) {sorted(unknown)}; allowed {sorted(spec.defaults)}")
    spec.check(**{**spec.defaults, **params})
