"""Client participation models: which clients take part in round t.

Every model is a pair of pure functions held in a `Participation`:
`init(key) -> pstate` and `sample(pstate, key, round) -> (mask [N] bool, pstate)`.
`probs` is the true per-round participation probability of each client (the simulator
knows it; a server using `known_prob` weights is an oracle, FedAU estimates it).

Models (the participation settings of FedAU, Wang & Ji, ICLR 2024; projects/fedau/README.md):
- `uniform`: exactly m of N clients, uniformly without replacement.
- `bernoulli`: client n independently with probability p_n.
- `markov`: two-state chain per client, to-active q_n = min(q_max, p_n/(1-p_n)), to-inactive
  q_n(1/p_n - 1), so that its stationary probability is p_n; started from stationarity.
- `cyclic`: active round(P p_n) consecutive rounds out of every P, random phase per client.

`fedau_probs` is FedAU's data-correlated recipe for p_n.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lib.config import ConfigError

NAMES = ("uniform", "bernoulli", "markov", "cyclic")


class Participation(NamedTuple):
    name: str
    num_clients: int
    probs: np.ndarray  # [N] float32, true marginal participation probability
    init: Callable[[jax.Array], Any]
    sample: Callable[[Any, jax.Array, jax.Array], tuple[jax.Array, Any]]
    max_participants: int  # a bound used to size the per-round client batch (may be exceeded)


def _check_probs(probs, num_clients) -> np.ndarray:
    p = np.asarray(probs, np.float32)
    if p.shape != (num_clients,):
        raise ConfigError(f"participation probs have shape {p.shape}, expected ({num_clients},)")
    if not np.all((p > 0) & (p <= 1)):
        raise ConfigError(f"participation probs must lie in (0, 1]; got min {p.min()}, max {p.max()}")
    return p


def uniform(num_clients: int, num_sampled: int) -> Participation:
    if not 0 < num_sampled <= num_clients:
        raise ConfigError(
            f"clients_per_round={num_sampled} must be in [1, num_clients={num_clients}]"
        )

    def sample(pstate, key, rnd):
        del rnd
        scores = jax.random.uniform(key, (num_clients,))
        _, idx = jax.lax.top_k(scores, num_sampled)
        return jnp.zeros((num_clients,), bool).at[idx].set(True), pstate

    probs = np.full((num_clients,), num_sampled / num_clients, np.float32)
    return Participation("uniform", num_clients, probs, lambda key: (), sample, num_sampled)


def _bound(p: np.ndarray) -> int:
    """Participants per round that is exceeded with tiny probability (mean + 6 sd)."""
    mean, var = float(p.sum()), float((p * (1 - p)).sum())
    return int(min(len(p), np.ceil(mean + 6 * np.sqrt(var) + 2)))


def bernoulli(probs) -> Participation:
    p = _check_probs(probs, len(probs))
    pj = jnp.asarray(p)

    def sample(pstate, key, rnd):
        del rnd
        return jax.random.uniform(key, p.shape) < pj, pstate

    return Participation("bernoulli", len(p), p, lambda key: (), sample, _bound(p))


def markov(probs, max_to_active: float = 0.05) -> Participation:
    p = _check_probs(probs, len(probs))
    if not 0 < max_to_active <= 1:
        raise ConfigError(f"markov max_to_active={max_to_active} must be in (0, 1]")
    full = p >= 1.0
    q_on = np.where(full, 1.0, np.minimum(max_to_active, p / np.maximum(1 - p, 1e-12)))
    q_off = np.where(full, 0.0, q_on * (1.0 / p - 1.0))
    q_on_j, q_off_j, pj = jnp.asarray(q_on, jnp.float32), jnp.asarray(q_off, jnp.float32), jnp.asarray(p)

    def init(key):  # stationary start
        return jax.random.uniform(key, p.shape) < pj

    def sample(active, key, rnd):
        del rnd
        u = jax.random.uniform(key, p.shape)
        active = jnp.where(active, u >= q_off_j, u < q_on_j)
        return active, active

    return Participation("markov", len(p), p, init, sample, _bound(p))


def cyclic(probs, period: int = 100) -> Participation:
    p = _check_probs(probs, len(probs))
    if period < 1:
        raise ConfigError(f"cyclic period={period} must be >= 1")
    on = np.maximum(1, np.round(period * p)).astype(np.int32)
    true_p = (on / period).astype(np.float32)  # what the pattern actually realises
    on_j = jnp.asarray(on)

    def init(key):
        return jax.random.randint(key, p.shape, 0, period, dtype=jnp.int32)

    def sample(phase, key, rnd):
        del key
        return ((rnd + phase) % period) < on_j, phase

    bound = int(min(len(p), (on.sum() // period) * 3 + 8))
    # A cyclic pattern can synchronise by chance: size for the worst case when small.
    bound = len(p) if len(p) <= 64 else max(bound, _bound(true_p))
    return Participation("cyclic", len(p), true_p, init, sample, bound)


def fedau_probs(label_counts, rng: np.random.Generator, alpha: float = 0.1, floor: float = 0.02):
    """FedAU's heterogeneous p_n, correlated with each client's labels (FedAU's experimental setup).

    multiplier ~ Dirichlet(alpha 1_C); p_n = (label_dist_n . multiplier) * (alpha C), clipped
    to [floor, 1].
    """
    counts = np.asarray(label_counts, np.float64)
    dist = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    c = counts.shape[1]
    mult = rng.dirichlet(alpha * np.ones(c))
    return np.clip(dist @ mult * (alpha * c), floor, 1.0).astype(np.float32)


def make(name: str, num_clients: int, *, clients_per_round: int = 0, probs=None, period: int = 100,
         max_to_active: float = 0.05) -> Participation:
    """Builds a model by name; errors name the value and the allowed choices."""
    if name not in NAMES:
        raise ConfigError(f"participation={name!r} is unknown; choose one of {list(NAMES)}")
    if name == "uniform":
        return uniform(num_clients, clients_per_round)
    if probs is None:
        raise ConfigError(f"participation={name!r} needs per-client probs")
    if len(probs) != num_clients:
        raise ConfigError(f"participation probs have {len(probs)} entries for {num_clients} clients")
    if name == "bernoulli":
        return bernoulli(probs)
    if name == "markov":
        return markov(probs, max_to_active)
    return cyclic(probs, period)
