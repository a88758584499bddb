"""Communication schedules: on which rounds the nodes gossip, and an optional final global merge.

A schedule is data computed on the host before anything is compiled: a boolean mask over the
run's rounds (`mask[t]`: round t ends with gossip). The engine feeds `mask[t]` to the round
as a traced hyperparameter (`hparams['gossip']`, 1.0 or 0.0), so changing the schedule never
recompiles; a round with 0.0 keeps every node's model where its local steps left it.

    every      every round gossips (the D-SGD default)
    every_k    rounds k-1, 2k-1, ...: the last round of each block of k (T // k rounds)
    budgeted   `budget` rounds spread evenly over the run: round ceil((j+1) T / B) - 1, j < B
               (the last round always gossips)
    late       the whole budget spent in the last `budget` rounds (no gossip before)
    ramp       `budget` rounds whose density grows towards the end: the j-th sits at
               T ((j+1)/B)^(1/p) - 1 (p = `ramp_power` >= 1; p = 1 is `budgeted`, p -> inf `late`),
               then moved as little as needed so that positions are distinct

`final_merge` adds one step after the last round that replaces every node's model by the exact
mean of all nodes' models (an all-reduce, as a server would do). Its bytes are counted as a
ring all-reduce of the model: every node sends 2 (n - 1) / n model copies (reduce-scatter, then
all-gather), the bandwidth-optimal all-reduce.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from lib.config import ConfigError

KINDS = ("every", "every_k", "budgeted", "late", "ramp")


class ScheduleError(ConfigError):
    """A communication schedule that cannot be built (unknown kind, k < 1, budget outside [1, rounds])."""


class Schedule(NamedTuple):
    kind: str
    mask: np.ndarray  # [T] bool: round t gossips
    final_merge: bool

    @property
    def num_rounds(self) -> int:
        return int(self.mask.shape[0])

    @property
    def num_gossip_rounds(self) -> int:
        return int(self.mask.sum())

    @property
    def num_steps(self) -> int:
        """Engine steps: the rounds, plus one for the final merge."""
        return self.num_rounds + int(self.final_merge)

    def gossips(self, t: int) -> bool:
        return bool(self.mask[t])


def _int(name: str, v, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo or (hi is not None and v > hi):
        rng = f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer >= {lo}"
        raise ScheduleError(f"schedule {name}={v!r} must be {rng}")
    return int(v)


def _ramp(total: int, budget: int, power: float) -> np.ndarray:
    ideal = [math.ceil(total * ((j + 1) / budget) ** (1.0 / power)) - 1 for j in range(budget)]
    pos = np.clip(np.asarray(ideal, np.int64), 0, total - 1)
    for j in range(budget - 2, -1, -1):  # distinct: push earlier ones left as little as needed
        pos[j] = min(pos[j], pos[j + 1] - 1)
    return pos  # pos[0] >= 0 since pos[j] >= j after the pass when budget <= total (ideal[j] >= j)


def make(kind: str, num_rounds: int, *, k: int = 1, budget: int | None = None, ramp_power: float = 2.0,
         final_merge: bool = False) -> Schedule:
    """The schedule of `kind` over `num_rounds` rounds (named errors for bad input)."""
    if kind not in KINDS:
        raise ScheduleError(f"schedule kind={kind!r} is unknown; choose one of {list(KINDS)}")
    total = _int("num_rounds", num_rounds, 1)
    mask = np.zeros(total, bool)
    if kind == "every":
        mask[:] = True
    elif kind == "every_k":
        k = _int("k", k, 1)
        mask[k - 1::k] = True
    else:
        if budget is None:
            raise ScheduleError(f"schedule kind={kind!r} needs a budget (number of gossip rounds)")
        b = _int("budget", budget, 1, total)
        if kind == "budgeted":
            mask[[math.ceil((j + 1) * total / b) - 1 for j in range(b)]] = True
        elif kind == "late":
            mask[total - b:] = True
        else:
            if isinstance(ramp_power, bool) or not isinstance(ramp_power, (int, float)) or not ramp_power >= 1:
                raise ScheduleError(f"schedule ramp_power={ramp_power!r} must be a number >= 1")
            mask[_ramp(total, b, float(ramp_power))] = True
    return Schedule(kind, mask, bool(final_merge))


def from_config(config, num_rounds: int) -> Schedule:
    """From `config.schedule` = {kind, k, budget, ramp_power, final_merge} (absent: every round, no merge)."""
    s = config.get("schedule")
    if s is None:
        return make("every", num_rounds)
    budget = s.get("budget")
    return make(s.get("kind", "every"), num_rounds, k=s.get("k", 1), budget=budget,
                ramp_power=s.get("ramp_power", 2.0), final_merge=bool(s.get("final_merge", False)))


def merge_bytes_per_node(model_bytes: int, num_nodes: int) -> float:
    """Bytes each node sends in the final merge: a ring all-reduce, 2 (n - 1) / n model copies."""
    return 2.0 * (num_nodes - 1) / num_nodes * model_bytes


def bytes_through(per_round: np.ndarray, sched: Schedule, steps_done: int, model_bytes: int) -> np.ndarray:
    """[n] float: bytes each node has sent after `steps_done` engine steps. `per_round`: [P, n]
    (gossip.bytes_per_round, phase t % P at round t); only gossiping rounds count, and the final
    merge (step T) adds an all-reduce of the model."""
    p, n = per_round.shape
    t = min(int(steps_done), sched.num_rounds)
    rounds = np.nonzero(sched.mask[:t])[0]
    sent = per_round[rounds % p].sum(0).astype(np.float64) if len(rounds) else np.zeros(n)
    if sched.final_merge and steps_done > sched.num_rounds:
        sent = sent + merge_bytes_per_node(model_bytes, n)
    return sent
