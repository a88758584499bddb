"""Byzantine attacks: a registry by name, validation before compile.

Update-level attacks share one signature, ``attack(updates, byz_mask, key, *, present=None,
**params) -> updates``: ``updates`` is a pytree with a leading client axis [K, ...], ``byz_mask``
[K] bool marks the Byzantine slots; only those rows are replaced. ``present`` [K] bool marks
the slots that hold a client this round (the engine pads cohorts to a fixed size; None: all):
the honest clients are present & ~byz_mask, so padded slots never enter an attack's
statistics. Omniscient attacks (ALIE, IPM, ...) see every update and compute their statistics
from the honest clients only.
Label flipping is a data-level attack (``flip_labels``), applied to a Byzantine client's
labels before local training. The backdoor is the other data-level attack: its clients
train on triggered, relabelled batches inside their own local update (lib.fl.backdoor;
``backdoor_spec`` turns this registry's parameters into its Spec, run with
``engine.build(local_update=backdoor.local_update(...), client_attack=True)``).

Names: sign_flip(scale), gaussian(sigma), alie(n, f or z), ipm(epsilon), label_flip,
min_max(perturbation), min_sum(perturbation), agr_tailored(rule, rule_params, perturbation),
fang(rule, b), mimic, backdoor(target, size,
row, col, value, poison_fraction, boost, disguise_norm).

Knowledge (``AttackSpec.knowledge``, checked by ``validate(..., knowledge=...)`` against a
threat model before compile): "own" (the Byzantine client's own data/update only),
"omniscient" (every honest update of the round), "full" (omniscient and the server's
aggregation rule and its parameters).
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


def _honest(byz_mask, present):
    return ~byz_mask if present is None else present & ~byz_mask


def _honest_moments(updates, byz_mask, present=None):
    """Per-coordinate mean and (population) std over the honest clients."""
    h = _honest(byz_mask, present).astype(jnp.float32)
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


def sign_flip(updates, byz_mask, key, *, present=None, scale=1.0):
    """Byzantine clients send -scale times their own update (scale 1: sign flipping;
    the Flag paper's "reverse" attack is scale 10)."""
    del key
    return _replace(updates, byz_mask, jax.tree.map(lambda u: -scale * u, updates))


def gaussian(updates, byz_mask, key, *, present=None, sigma=1.0):
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


def alie(updates, byz_mask, key, *, present=None, n=None, f=None, z=None):
    """A little is enough: every Byzantine client sends mu - z sigma, the honest
    clients' per-coordinate mean and std (z from n and f, see `alie_z`, or given)."""
    del key
    if z is None:
        if n is None or f is None:
            raise AttackConfigError("alie needs z, or n and f to compute it")
        z = alie_z(n, f)
    mu, sd = _honest_moments(updates, byz_mask, present)
    bad = jax.tree.map(lambda m, s, u: jnp.broadcast_to(m - z * s, u.shape), mu, sd, updates)
    return _replace(updates, byz_mask, bad)


def ipm(updates, byz_mask, key, *, present=None, epsilon=0.1):
    """Inner-product manipulation (Xie et al. 2020): every Byzantine client sends
    -epsilon times the honest clients' mean."""
    del key
    mu, _ = _honest_moments(updates, byz_mask, present)
    bad = jax.tree.map(lambda m, u: jnp.broadcast_to(-epsilon * m, u.shape), mu, updates)
    return _replace(updates, byz_mask, bad)


# ----------------------------------------------------------------------------- adaptive attacks


def _honest_matrix(updates, byz_mask, present=None):
    """[K, D] float32 rows of every slot, the honest mask h [K] and the unflatten of one row."""
    leaves, treedef = jax.tree.flatten(updates)
    k = leaves[0].shape[0]
    shapes = [l.shape[1:] for l in leaves]
    x = jnp.concatenate([l.reshape(k, -1).astype(jnp.float32) for l in leaves], axis=1)

    def unflatten(v):
        out, o = [], 0
        for shp in shapes:
            z = int(np.prod(shp, dtype=np.int64))
            out.append(v[..., o:o + z].reshape(v.shape[:-1] + shp))
            o += z
        return jax.tree.unflatten(treedef, out)

    return x, _honest(byz_mask, present), unflatten


_HI = jax.lax.Precision.HIGHEST
PERTURBATIONS = ("std", "unit", "sign")


def _perturbation(x, h, kind):
    """Honest mean mu [D] and the direction p [D] of Shejwalkar & Houmansadr: -std, -mu/||mu||, -sign(mu)."""
    hf = h.astype(jnp.float32)
    nh = jnp.maximum(jnp.sum(hf), 1.0)
    mu = jnp.dot(hf, x, precision=_HI) / nh
    if kind == "std":
        var = jnp.dot(hf, (x - mu) ** 2, precision=_HI) / nh
        return mu, -jnp.sqrt(var)
    if kind == "unit":
        return mu, -mu / jnp.maximum(jnp.linalg.norm(mu), 1e-30)
    return mu, -jnp.sign(mu)


def largest_feasible(feasible, *, start=1.0, bisections=60, max_steps=300):
    """The largest gamma >= 0 with feasible(gamma), for a feasible set [0, gamma*] (feasible(0)
    holds): bracketing (double from `start` while feasible, else halve until feasible), then
    `bisections` bisections of [last feasible, first infeasible]. No cap: the bracket grows
    until the constraint fails (float32 overflow fails it too, at ~1e38)."""
    start = jnp.float32(start)
    f0 = feasible(start)
    # up: lo feasible, hi = 2 lo; stop at the first infeasible hi
    lo_up = jax.lax.while_loop(
        lambda c: feasible(c[0] * 2) & (c[1] < max_steps),
        lambda c: (c[0] * 2, c[1] + 1), (start, jnp.int32(0)))[0]
    # down: hi infeasible, lo = hi / 2; stop at the first feasible lo
    hi_dn = jax.lax.while_loop(
        lambda c: ~feasible(c[0] / 2) & (c[1] < max_steps),
        lambda c: (c[0] / 2, c[1] + 1), (start, jnp.int32(0)))[0]
    lo = jnp.where(f0, lo_up, hi_dn / 2)
    hi = jnp.where(f0, lo_up * 2, hi_dn)

    def bis(_, c):
        lo, hi = c
        mid = (lo + hi) / 2
        ok = feasible(mid)
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    lo, _ = jax.lax.fori_loop(0, bisections, bis, (lo, hi))
    return jnp.where(feasible(lo), lo, 0.0)


def _opt_gamma(x, h, mu, p, objective):
    """gamma of min-max / min-sum from [K]-sized quantities: ||mu + g p - x_i||^2 =
    a_i + 2 g b_i + g^2 c with a_i = ||mu - x_i||^2, b_i = p.(mu - x_i), c = ||p||^2."""
    xp = jnp.dot(x, p, precision=_HI)
    sq = jnp.sum(x * x, 1)
    mm = jnp.dot(mu, mu, precision=_HI)
    xm = jnp.dot(x, mu, precision=_HI)
    a = jnp.maximum(sq - 2 * xm + mm, 0.0)
    b = jnp.dot(mu, p, precision=_HI) - xp
    c = jnp.dot(p, p, precision=_HI)
    g = jnp.dot(x, x.T, precision=_HI)
    d2 = jnp.maximum(sq[:, None] + sq[None, :] - 2 * g, 0.0)
    hh = h[:, None] & h[None, :]
    if objective == "min_max":
        bound = jnp.max(jnp.where(hh, d2, 0.0))
        feas = lambda t: jnp.max(jnp.where(h, a + 2 * t * b + t * t * c, -jnp.inf)) <= bound
    else:
        bound = jnp.max(jnp.where(h, jnp.sum(jnp.where(hh, d2, 0.0), 1), 0.0))
        feas = lambda t: jnp.sum(jnp.where(h, a + 2 * t * b + t * t * c, 0.0)) <= bound
    return largest_feasible(feas)


def _opt_attack(objective):
    def attack(updates, byz_mask, key, *, present=None, perturbation="unit"):
        del key
        x, h, unflatten = _honest_matrix(updates, byz_mask, present)
        mu, p = _perturbation(x, h, perturbation)
        gamma = _opt_gamma(x, h, mu, p, objective)
        m = mu + gamma * p
        bad = jax.tree.map(lambda l, u: jnp.broadcast_to(l, u.shape), unflatten(m), updates)
        return _replace(updates, byz_mask, bad)
    return attack


min_max = _opt_attack("min_max")
min_max.__name__ = "min_max"
min_max.__doc__ = """Min-max, AGR-agnostic (Shejwalkar & Houmansadr, NDSS 2021, "Manipulating the
Byzantine"). Knowledge: omniscient (all honest updates of the round). Every Byzantine client
sends m = mu + gamma p, mu the honest mean, p one of `perturbation` = "std" (-sigma, the
honest coordinate-wise std), "unit" (-mu/||mu||) or "sign" (-sign(mu)); gamma is the largest
value with max_i ||m - g_i|| <= max_{i,j} ||g_i - g_j|| over honest i, j (m no farther from
any honest update than the two farthest honest updates are from each other). gamma: bracketing
from 1 (doubling / halving) then 60 bisections (`largest_feasible`), no upper cap."""
min_sum = _opt_attack("min_sum")
min_sum.__name__ = "min_sum"
min_sum.__doc__ = """Min-sum, AGR-agnostic (Shejwalkar & Houmansadr, NDSS 2021). Knowledge: omniscient.
As `min_max` but gamma is the largest value with sum_i ||m - g_i||^2 <= max_j sum_i ||g_j - g_i||^2
(m's summed squared distance to the honest updates no larger than any honest update's)."""


TAILORED_RULES = ("fedavg", "median", "trimmed_mean", "krum", "multi_krum", "bulyan", "geometric_median",
                  "centered_clipping")


def agr_tailored(updates, byz_mask, key, *, present=None, rule="trimmed_mean", rule_params=None, perturbation="unit",
                 grid=25, span=64.0):
    """AGR-tailored attack (Shejwalkar & Houmansadr, NDSS 2021, Section IV-B): the rule in the
    loop. Knowledge: full (every honest update, the rule `rule` and its parameters
    `rule_params`, e.g. {"f": 4} or {"beta": 0.2}). Every Byzantine client sends
    m = mu + gamma p (mu the honest mean, p from `perturbation` as in `min_max`), with gamma
    maximising the deviation the rule's output suffers, ||rule(updates with the Byzantine
    rows = m) - mu||, the paper's objective.

    Search (ours): the paper climbs gamma from 10 by halving steps; here the objective is
    evaluated on `grid` (odd) values gamma_0 span^t, t evenly spaced in [-1, 1], gamma_0 the
    AGR-agnostic min-max gamma of the same round, and the best is taken: never weaker (by
    the objective) than min-max, and the rule's discontinuities (Krum's selection flips)
    cannot trap a local search. The rule runs with unit weights and no server state
    (centered clipping starts from 0, not from the previous aggregate, which the attacker
    does not see); defense stages in front of the rule are not modelled."""
    del key
    from lib.fl import aggregate  # lib.fl.aggregate does not import this module; keep it so

    x, h, unflatten = _honest_matrix(updates, byz_mask, present)
    mu, p = _perturbation(x, h, perturbation)
    g0 = _opt_gamma(x, h, mu, p, "min_max")
    g0 = jnp.where(g0 > 0, g0, 1.0)
    gammas = g0 * jnp.float32(span) ** jnp.linspace(-1.0, 1.0, grid)
    fn, kw = aggregate.get_rule(rule), dict(rule_params or {})
    ones = (jnp.ones((x.shape[0],), bool) if present is None else present).astype(jnp.float32)

    def deviation(gamma):
        rows = jnp.where(byz_mask[:, None], (mu + gamma * p)[None, :], x)
        out, _ = fn({"u": rows}, ones, None, jax.random.PRNGKey(0), **kw)
        dev = jnp.linalg.norm(out["u"] - mu)
        return jnp.where(jnp.isfinite(dev), dev, -1.0)

    best = gammas[jnp.argmax(jax.lax.map(deviation, gammas))]
    m = mu + best * p
    bad = jax.tree.map(lambda l, u: jnp.broadcast_to(l, u.shape), unflatten(m), updates)
    return _replace(updates, byz_mask, bad)


FANG_RULES = ("krum", "multi_krum", "bulyan", "trimmed_mean", "median")


def _krum_picks_byzantine(d2, byz, present, f):
    """Whether Krum on the distance matrix d2 [K, K] (n present, f assumed Byzantine) selects a
    Byzantine slot: score_i = sum of its n - f - 2 smallest distances to others."""
    k = d2.shape[0]
    n = jnp.sum(present)
    d = jnp.where(present[:, None] & present[None, :] & ~jnp.eye(k, dtype=bool), d2, jnp.inf)
    srt = jnp.sort(d, axis=1)
    m = jnp.maximum(n - f - 2, 1)
    score = jnp.sum(jnp.where(jnp.arange(k)[None, :] < m, jnp.where(jnp.isfinite(srt), srt, 0.0), 0.0), 1)
    score = jnp.where(present, score, jnp.inf)
    return byz[jnp.argmin(score)]


def fang(updates, byz_mask, key, *, present=None, rule="krum", f=None, b=2.0, threshold=1e-5):
    """Full-knowledge local model poisoning (Fang, Cao, Jia & Gong, USENIX Security 2020).
    Knowledge: full (every honest update, the rule `rule` and its f). Applied to the updates
    (deltas), so "the global model" is the zero update and the benign change direction is
    s = sign(mu), mu the honest mean.

    rule in krum / multi_krum / bulyan (the paper attacks Bulyan with its Krum attack): all
    Byzantine clients send -lambda s; lambda starts at the paper's upper bound
    lambda_0 = min_i sum_{l in G_i} ||g_l - g_i|| / ((n - 2c - 1) sqrt(d)) + max_i ||g_i|| / sqrt(d)
    (G_i: the n - c - 2 honest updates nearest g_i, c Byzantine, n clients) and is halved until
    Krum (with `f`, default c) selects a Byzantine update or lambda < threshold.

    rule in trimmed_mean / median: per coordinate j, with s_j = sign(mu_j) and the honest
    max_j / min_j, each Byzantine client sends an independent uniform draw (from `key`) in
    [max_j, b max_j] (max_j > 0) or [max_j / b, max_j] if s_j < 0, and in [min_j / b, min_j]
    (min_j > 0) or [b min_j, min_j] if s_j > 0: just beyond the honest extreme opposite to the
    change direction. b = 2 as in the paper."""
    x, h, unflatten = _honest_matrix(updates, byz_mask, present)
    k, d = x.shape
    hf = h.astype(jnp.float32)
    mu = jnp.dot(hf, x, precision=_HI) / jnp.maximum(jnp.sum(hf), 1.0)
    s = jnp.sign(mu)
    if rule in ("krum", "multi_krum", "bulyan"):
        c = jnp.sum(byz_mask)
        present = jnp.ones((k,), bool) if present is None else present
        n = jnp.sum(present).astype(jnp.int32)
        fk = c if f is None else jnp.int32(f)
        sq = jnp.sum(x * x, 1)
        g = jnp.dot(x, x.T, precision=_HI)
        d2 = jnp.maximum(sq[:, None] + sq[None, :] - 2 * g, 0.0)
        dh = jnp.where(h[:, None] & h[None, :] & ~jnp.eye(k, dtype=bool), jnp.sqrt(d2), jnp.inf)
        near = jnp.sort(dh, axis=1)
        cnt = jnp.maximum(n - c - 2, 1)
        sums = jnp.sum(jnp.where((jnp.arange(k)[None, :] < cnt) & jnp.isfinite(near), near, 0.0), 1)
        lam0 = (jnp.min(jnp.where(h, sums, jnp.inf)) / (jnp.maximum(n - 2 * c - 1, 1) * jnp.sqrt(d))
                + jnp.max(jnp.where(h, jnp.sqrt(sq), 0.0)) / jnp.sqrt(d))
        xs = jnp.dot(x, s, precision=_HI)  # s.g_i
        ss = jnp.dot(s, s, precision=_HI)

        def dist(lam):  # distances with every Byzantine row replaced by -lam s
            dm = lam * lam * ss + 2 * lam * xs + sq  # ||-lam s - g_i||^2
            bb = byz_mask[:, None] & byz_mask[None, :]
            hb = h[:, None] & byz_mask[None, :]
            out = jnp.where(bb, 0.0, d2)
            out = jnp.where(hb, dm[:, None], out)
            return jnp.where(hb.T, dm[None, :], out)

        lam = jax.lax.while_loop(
            lambda l: (~_krum_picks_byzantine(dist(l), byz_mask, present, fk)) & (l >= threshold),
            lambda l: l / 2, lam0)
        m = -lam * s
        bad = jax.tree.map(lambda l, u: jnp.broadcast_to(l, u.shape), unflatten(m), updates)
        return _replace(updates, byz_mask, bad)
    if rule in ("trimmed_mean", "median"):
        hi = jnp.max(jnp.where(h[:, None], x, -jnp.inf), 0)
        lo = jnp.min(jnp.where(h[:, None], x, jnp.inf), 0)
        r = jax.random.uniform(key, (k, d), jnp.float32)  # one draw per (client, coordinate)
        above_lo = jnp.where(hi > 0, hi, hi / b)
        above_hi = jnp.where(hi > 0, b * hi, hi)
        below_lo = jnp.where(lo > 0, lo / b, b * lo)
        below_hi = lo
        up = above_lo + r * (above_hi - above_lo)
        down = below_lo + r * (below_hi - below_lo)
        bad = jnp.where(s[None, :] < 0, up, down)
        return _replace(updates, byz_mask, unflatten(bad))
    raise AttackConfigError(f"fang: rule={rule!r} is not one of {FANG_RULES}")


def mimic(updates, byz_mask, key, *, present=None):
    """Mimic (Karimireddy, He & Jaggi, ICLR 2022, "Byzantine-robust learning on heterogeneous
    datasets via bucketing"). Knowledge: omniscient. Every Byzantine client sends a copy of one
    honest client's update, the one i* = argmax_i |(g_i - mu) . v| with v the top principal
    direction of the centred honest updates (so its data is over-represented along the
    direction of largest heterogeneity). Deviation: the paper estimates v online over the
    first rounds and then keeps i*; here it is chosen afresh each round (stateless)."""
    del key
    x, h, unflatten = _honest_matrix(updates, byz_mask, present)
    hf = h.astype(jnp.float32)
    mu = jnp.dot(hf, x, precision=_HI) / jnp.maximum(jnp.sum(hf), 1.0)
    xc = jnp.where(h[:, None], x - mu, 0.0)
    gc = jnp.dot(xc, xc.T, precision=_HI)
    _, vecs = jnp.linalg.eigh(gc)
    u = vecs[:, -1]  # (g_i - mu) . v = sigma_1 u_i
    star = jnp.argmax(jnp.where(h, jnp.abs(u), -1.0))
    bad = jax.tree.map(lambda l: jnp.broadcast_to(l[star], l.shape), updates)
    return _replace(updates, byz_mask, bad)


def mimic_target(updates, byz_mask, present=None):
    """The honest slot that `mimic` copies (for tests and logs)."""
    x, h, _ = _honest_matrix(updates, byz_mask, present)
    hf = h.astype(jnp.float32)
    mu = jnp.dot(hf, x, precision=_HI) / jnp.maximum(jnp.sum(hf), 1.0)
    xc = jnp.where(h[:, None], x - mu, 0.0)
    _, vecs = jnp.linalg.eigh(jnp.dot(xc, xc.T, precision=_HI))
    return jnp.argmax(jnp.where(h, jnp.abs(vecs[:, -1]), -1.0))


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
    knowledge: str = "own"  # what the attacker must see: own | omniscient | full (KNOWLEDGE)


KNOWLEDGE = ("own", "omniscient", "full")


class AttackKnowledgeError(AttackConfigError):
    """The attack needs more knowledge than the threat model grants."""


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


def _chk_opt(perturbation="unit"):
    if perturbation not in PERTURBATIONS:
        raise AttackConfigError(f"min_max/min_sum: perturbation={perturbation!r} must be one of {PERTURBATIONS}")


def _chk_fang(rule="krum", f=None, b=2.0, threshold=1e-5):
    if rule not in FANG_RULES:
        raise AttackConfigError(f"fang: rule={rule!r} must be one of {FANG_RULES} (the rule it is tailored to)")
    if not b > 1:
        raise AttackConfigError(f"fang: b={b} must be > 1")
    if f is not None and f < 0:
        raise AttackConfigError(f"fang: f={f} must be >= 0")
    if not threshold > 0:
        raise AttackConfigError(f"fang: threshold={threshold} must be > 0")


def _chk_tailored(rule="trimmed_mean", rule_params=None, perturbation="unit", grid=25, span=64.0):
    if rule not in TAILORED_RULES:
        raise AttackConfigError(f"agr_tailored: rule={rule!r} must be one of {TAILORED_RULES} (the rule it attacks)")
    _chk_opt(perturbation)
    if not (isinstance(grid, int) and grid >= 3 and grid % 2 == 1) or not span > 1:
        raise AttackConfigError(f"agr_tailored: grid={grid!r} must be an odd int >= 3 and span={span} > 1")


def _chk_backdoor(target=0, size=4, row=-1, col=-1, value=1.0, poison_fraction=0.5, boost=1.0,
                  disguise_norm=0.0):
    # what needs no data; the trigger's fit and the target class: backdoor_spec / backdoor.validate
    if not (isinstance(target, (int, np.integer)) and target >= 0):
        raise AttackConfigError(f"backdoor: target={target!r} must be a class index >= 0")
    if not 0.0 <= poison_fraction <= 1.0:
        raise AttackConfigError(f"backdoor: poison_fraction={poison_fraction} must be in [0, 1]")
    if not boost > 0 or not disguise_norm >= 0:
        raise AttackConfigError(f"backdoor: boost={boost} must be > 0 and disguise_norm={disguise_norm} >= 0")


def backdoor_spec(sample_shape, num_classes: int, *, target=0, size=4, row=-1, col=-1, value=1.0,
                  poison_fraction=0.5, boost=1.0, disguise_norm=0.0):
    """The lib.fl.backdoor.Spec of the registry's `backdoor` parameters, checked against the
    task (TriggerError / TargetClassError). row, col = -1: the trigger's corner is placed so the
    size x size block touches the bottom-right corner of the image (BadNets' placement)."""
    from lib.fl import backdoor  # imports lib.fl.tasks, which must not import this module at load

    h, w = backdoor.image_hw(sample_shape)
    t = backdoor.Trigger(row=h - size if row < 0 else row, col=w - size if col < 0 else col, size=size,
                         value=float(value))
    spec = backdoor.Spec(trigger=t, target=target, poison_fraction=float(poison_fraction), boost=float(boost),
                         disguise_norm=float(disguise_norm))
    backdoor.validate(spec, sample_shape, num_classes)
    return spec


ATTACKS: dict[str, AttackSpec] = {
    "sign_flip": AttackSpec(sign_flip, dict(scale=1.0), _chk_scale),
    "gaussian": AttackSpec(gaussian, dict(sigma=1.0), _chk_sigma),
    "alie": AttackSpec(alie, dict(n=None, f=None, z=None), _chk_alie, "omniscient"),
    "ipm": AttackSpec(ipm, dict(epsilon=0.1), _chk_ipm, "omniscient"),
    "label_flip": AttackSpec(None, {}, _chk_none),
    "min_max": AttackSpec(min_max, dict(perturbation="unit"), _chk_opt, "omniscient"),
    "min_sum": AttackSpec(min_sum, dict(perturbation="unit"), _chk_opt, "omniscient"),
    "fang": AttackSpec(fang, dict(rule="krum", f=None, b=2.0, threshold=1e-5), _chk_fang, "full"),
    "mimic": AttackSpec(mimic, {}, _chk_none, "omniscient"),
    "agr_tailored": AttackSpec(agr_tailored, dict(rule="trimmed_mean", rule_params=None, perturbation="unit", grid=25,
                                                  span=64.0), _chk_tailored, "full"),
    "backdoor": AttackSpec(None, dict(target=0, size=4, row=-1, col=-1, value=1.0, poison_fraction=0.5, boost=1.0,
                                      disguise_norm=0.0), _chk_backdoor),
}


def _spec_of(name):
    if name not in ATTACKS:
        raise AttackConfigError(f"attack={name!r} is unknown; choose one of {sorted(ATTACKS)} (or 'none')")
    return ATTACKS[name]


def get_attack(name: str) -> Callable | None:
    """The update-level attack `name` (None for the data-level label_flip and backdoor)."""
    return _spec_of(name).fn


def is_data_level(name: str) -> bool:
    return _spec_of(name).fn is None


def knowledge(name: str) -> str:
    return _spec_of(name).knowledge


def validate(name: str, knowledge: str | None = None, **params: Any) -> None:
    """AttackConfigError for an unknown name, unknown parameter or bad value;
    AttackKnowledgeError when the threat model `knowledge` (one of KNOWLEDGE; None: no limit)
    denies what the attack must see."""
    spec = _spec_of(name)
    if knowledge is not None:
        if knowledge not in KNOWLEDGE:
            raise AttackConfigError(f"threat model knowledge={knowledge!r} must be one of {KNOWLEDGE}")
        if KNOWLEDGE.index(spec.knowledge) > KNOWLEDGE.index(knowledge):
            raise AttackKnowledgeError(
                f"attack={name!r} needs {spec.knowledge!r} knowledge but the threat model grants only {knowledge!r}")
    unknown = set(params) - set(spec.defaults)
    if unknown:
        raise AttackConfigError(
            f"attack={name!r}: unknown parameter(s) {sorted(unknown)}; allowed {sorted(spec.defaults)}")
    spec.check(**{**spec.defaults, **params})
