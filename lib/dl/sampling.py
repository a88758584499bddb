"""Node sampling and churn (MoDeST / Plexus), on the host: who trains and who aggregates in round k.

Sampling. In round k every node orders the peers it knows to be online by md5("<peer id>-<k>")
(hex digest order). The hash needs no coordination: any node with the same membership view
computes the same order. The first `s` peers are round k's sample (its trainers); the first `a`
of that order that are *available* (online and answering a ping) are round k's aggregators.

Unresponsive nodes. A fixed fraction of the nodes (drawn once from the seed) never answer:
they stay in everyone's membership view, so they are sampled like any other node, but they
never train or send, and the ping check keeps them out of the aggregator role.

Arrival and the success fraction. An aggregator waits for ceil(sf * s) updates or a timeout.
Updates of the responsive trainers arrive in an order drawn from md5("<peer id>-<k>-arrival")
(simulated latency, deterministic); the aggregator averages the first ceil(sf * s) of them
and drops the later ones. When fewer answer, it times out and averages what it got (and keeps
the previous model when nothing came).

Churn. `online` [n] bool evolves once per round by a churn spec:
  - 'none'    nobody joins or leaves;
  - 'events'  explicit (round, 'join' | 'leave', node) triples;
  - 'random'  at round k an online node leaves with prob `leave_prob`, an offline node joins
              with prob `join_prob` (draws from (seed, k), so a resumed run replays them).
The online mask is part of the checkpointed train state, so a resume continues the same churn.

Everything here is NumPy on the host and deterministic from (seed, round, node ids); the
round itself (`lib.dl.sampled`) gets static-shape index arrays and masks.
"""

from __future__ import annotations

import hashlib
import math
from typing import NamedTuple, Sequence

import numpy as np

from lib.config import ConfigError

CHURN_KINDS = ("none", "events", "random")
CHURN_ACTIONS = ("join", "leave")


class SampleSizeError(ConfigError):
    """The sample (or the aggregator set) is larger than the nodes that are online."""


class SuccessFractionError(ConfigError):
    """The success fraction sf is outside (0, 1]."""


class UnknownChurnError(ConfigError):
    """A churn spec that is not one of CHURN_KINDS, or an event that is malformed."""


# ----------------------------------------------------------------------------- hashing


def _digest(text: str) -> bytes:
    return hashlib.md5(text.encode()).digest()


def hash_order(peers: Sequence[int], rnd: int, salt: str = "") -> np.ndarray:
    """The peers sorted by md5("<peer>-<rnd><salt>") (ties, impossible in practice, by id)."""
    peers = sorted(int(p) for p in peers)
    return np.asarray(sorted(peers, key=lambda p: (_digest(f"{p}-{rnd}{salt}"), p)), np.int32)


# ----------------------------------------------------------------------------- validation


def check_sampling(num_nodes: int, sample_size: int, num_aggregators: int, success_fraction: float) -> None:
    """Named errors before anything is compiled."""
    for name, v in (("sample_size", sample_size), ("num_aggregators", num_aggregators)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise SampleSizeError(f"config.sampling.{name}={v!r} must be an integer >= 1")
    if sample_size > num_nodes:
        raise SampleSizeError(f"config.sampling.sample_size={sample_size} is larger than the {num_nodes} nodes")
    if num_aggregators > sample_size:
        raise SampleSizeError(f"config.sampling.num_aggregators={num_aggregators} is larger than the sample "
                              f"(sample_size={sample_size}); use at most as many aggregators as trainers")
    sf = success_fraction
    if isinstance(sf, bool) or not isinstance(sf, (int, float)) or not 0 < sf <= 1:
        raise SuccessFractionError(f"config.sampling.success_fraction={sf!r} must be in (0, 1]")


class Churn(NamedTuple):
    kind: str
    events: tuple = ()  # ((round, action, node), ...)
    leave_prob: float = 0.0
    join_prob: float = 0.0
    initial_online: float = 1.0  # fraction of the nodes online at round 0


def churn_from_config(c, num_nodes: int) -> Churn:
    """config.churn = {kind, events, leave_prob, join_prob, initial_online} -> Churn (named errors)."""
    kind = c.get("kind", "none")
    if kind not in CHURN_KINDS:
        raise UnknownChurnError(f"config.churn.kind={kind!r} is unknown; choose one of {list(CHURN_KINDS)}")
    events = tuple(tuple(e) for e in (c.get("events", ()) or ()))
    for e in events:
        ok = (len(e) == 3 and isinstance(e[0], int) and e[0] >= 0 and e[1] in CHURN_ACTIONS
              and isinstance(e[2], int) and 0 <= e[2] < num_nodes)
        if not ok:
            raise UnknownChurnError(f"config.churn.events has {e!r}: each event is (round >= 0, one of "
                                    f"{list(CHURN_ACTIONS)}, node in [0, {num_nodes}))")
    if events and kind != "events":
        raise UnknownChurnError(f"config.churn.events is set but config.churn.kind={kind!r}; use kind='events'")
    probs = {}
    for k in ("leave_prob", "join_prob", "initial_online"):
        v = c.get(k, 1.0 if k == "initial_online" else 0.0)
        lo_ok = v > 0 if k == "initial_online" else v >= 0
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (lo_ok and v <= 1):
            raise UnknownChurnError(f"config.churn.{k}={v!r} must be a probability"
                                    + (" in (0, 1]" if k == "initial_online" else " in [0, 1]"))
        probs[k] = float(v)
    if kind != "random" and (probs["leave_prob"] or probs["join_prob"]):
        raise UnknownChurnError(f"config.churn.leave_prob/join_prob are set but config.churn.kind={kind!r}; "
                                "use kind='random'")
    return Churn(kind, events, **probs)


# ----------------------------------------------------------------------------- membership


def initial_online(churn: Churn, num_nodes: int, seed: int) -> np.ndarray:
    """[n] bool: the nodes online before round 0 (all, or the first of a seeded permutation)."""
    on = np.zeros(num_nodes, bool)
    k = max(1, round(churn.initial_online * num_nodes))
    on[np.random.default_rng([seed, 7001]).permutation(num_nodes)[:k]] = True
    return on


def unresponsive_mask(num_nodes: int, fraction: float, seed: int) -> np.ndarray:
    """[n] bool: the round(fraction * n) nodes that never answer (a seeded draw, fixed for the run)."""
    if not 0 <= fraction < 1:
        raise ConfigError(f"config.unresponsive_fraction={fraction!r} must be in [0, 1)")
    bad = np.zeros(num_nodes, bool)
    bad[np.random.default_rng([seed, 7002]).permutation(num_nodes)[:round(fraction * num_nodes)]] = True
    return bad


def step_churn(online: np.ndarray, churn: Churn, rnd: int, seed: int) -> np.ndarray:
    """The online mask of round `rnd` from that of round rnd - 1."""
    on = np.asarray(online, bool).copy()
    if churn.kind == "events":
        for r, action, node in churn.events:
            if r == rnd:
                on[node] = action == "join"
    elif churn.kind == "random":
        u = np.random.default_rng([seed, 7003, rnd]).random(on.shape[0])
        on = np.where(on, u >= churn.leave_prob, u < churn.join_prob)
    return on


# ----------------------------------------------------------------------------- one round


class RoundPlan(NamedTuple):
    """Static-shape arrays for the jitted round plus host-side counts."""

    trainers: np.ndarray  # [s] int32 node ids, hash order
    counted: np.ndarray  # [s] bool: the trainer's update is among those the aggregators average
    responsive: np.ndarray  # [s] bool: the trainer answers (trains and sends)
    aggregators: np.ndarray  # [a] int32 node ids
    timed_out: bool  # fewer than ceil(sf * s) updates arrived
    messages: int  # model-sized messages this round (models to trainers + updates to aggregators)


def plan_round(rnd: int, online: np.ndarray, unresponsive: np.ndarray, sample_size: int, num_aggregators: int,
               success_fraction: float, prev_aggregators: int | None = None) -> RoundPlan:
    """Round `rnd`'s sample, aggregators and which updates count. `prev_aggregators`: how many
    aggregators of round rnd - 1 send the model to this sample (None: round 0, no download)."""
    live = np.flatnonzero(online)
    if sample_size > live.size:
        raise SampleSizeError(f"round {rnd}: sample_size={sample_size} but only {live.size} nodes are online "
                              "(churn left too few); lower config.sampling.sample_size or the churn rates")
    order = hash_order(live, rnd)
    trainers = order[:sample_size]
    available = order[~unresponsive[order]]
    if available.size < num_aggregators:
        raise SampleSizeError(f"round {rnd}: num_aggregators={num_aggregators} but only {available.size} online "
                              "nodes answer")
    aggregators = available[:num_aggregators].astype(np.int32)
    responsive = ~unresponsive[trainers]
    need = math.ceil(success_fraction * sample_size - 1e-9)
    arrival = hash_order(trainers[responsive], rnd, salt="-arrival")[:need]
    counted = np.isin(trainers, arrival)
    downloads = 0 if prev_aggregators is None else prev_aggregators * sample_size
    uploads = int(responsive.sum()) * num_aggregators
    return RoundPlan(trainers.astype(np.int32), counted, responsive, aggregators, int(responsive.sum()) < need,
                     downloads + uploads)


def uniform_plan(rnd: int, num_nodes: int, sample_size: int, seed: int) -> RoundPlan:
    """Federated-learning reference: s clients uniformly without replacement (seeded by round),
    one fixed server (node id -1), everybody answers; messages = s downloads + s uploads."""
    trainers = np.sort(np.random.default_rng([seed, 7004, rnd]).choice(num_nodes, sample_size, replace=False))
    ones = np.ones(sample_size, bool)
    return RoundPlan(trainers.astype(np.int32), ones, ones, np.asarray([-1], np.int32), False, 2 * sample_size)
