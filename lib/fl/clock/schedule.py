"""The event-driven schedule on a virtual clock (host NumPy, deterministic from the seed).

`Clock.advance(state) -> (state, Plan)` processes client arrivals and server timers in time
order until the server aggregates, and returns what the device must do for that aggregation:
which tasks to train now (`close`: every task that started on the current model version, so
that updates starting on the same version with the same local-step count run as one batch)
and which stored results to combine with which coefficients (`agg`). Timing never depends on
model values, so the schedule is a pure function of (config, seed) and can be run ahead
(`count_aggregations`) to turn a virtual-time budget into a number of server steps.

A task lives in a result slot from its start until it is aggregated (or dropped); slots hold
its client, start/finish time, model version, local steps and per-client task index (the RNG
key of its local training is fold_in(key, client, task)). The whole state is a dict of
fixed-shape NumPy arrays (`pack`/`unpack` store it exactly in a checkpoint).

Schedules (server rules), with x the global model, Delta_i = x_i - x_sent(i), u_i staleness
(versions since the task started), n_i the client's samples, s() the staleness function:
- `sync`: all clients (or `clients_per_round`, uniform each round) start together; the server
  waits for the last one; x += sum (n_i / sum n) Delta_i  (then the server optimizer).
- `fedasync` (Xie et al.): every client always trains; each arrival: x = (1 - a) x + a x_i with
  a = alpha s(u_i); the client restarts on the new model.
- `fedbuff` (Nguyen et al., as in Fraboni et al.): arrivals are buffered; every c arrivals
  x += (1/c) sum s(u_i) Delta_i (server lr eta_g); a client restarts as soon as it arrives.
- `fedfix` (Fraboni et al.): the server aggregates at times n dt the clients that arrived in
  ((n-1) dt, n dt]: x += sum ceil(tau_i/dt) p_i Delta_i, p_i = n_i / sum_j n_j, where
  ceil(tau_i/dt) is the number of periods the task spanned; those clients restart at n dt.
- `fedcompass` (Li et al., ICLR 2024; the APPFL scheduler's rules on virtual time): clients
  get a number of local steps Q in [q_min, q_max] from their estimated speed so that a
  group arrives together at T_a; the group is aggregated when its last member arrives or at
  T_l = start + 1.5 Q speed, together with the general buffer of late arrivals;
  x = (1 - sum a_i) x + sum a_i x_i, a_i = alpha s(u_i) / N. A client's first arrival is
  aggregated alone, then it joins a group.

Staleness functions: constant 1; polynomial (u+1)^-a; hinge 1 if u <= b else 1/(a(u-b)+1);
polynomial_growing (u+1)^+a (the FedCompass reference code's version: it rewards staleness).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lib.config import ConfigError
from lib.fl.clock import speeds as speeds_lib

SCHEDULES = ("sync", "fedasync", "fedbuff", "fedfix", "fedcompass")
STALENESS = ("constant", "polynomial", "hinge", "polynomial_growing")
MIXING = ("fedasync", "fedcompass")  # the server mixes models (stores x_i, not Delta_i)

FREE, RUNNING, ARRIVED = 0, 1, 2
_NOGROUP = -1


def staleness_weight(kind: str, u, a: float = 0.5, b: float = 4.0):
    u = np.asarray(u, np.float64)
    if kind == "constant":
        return np.ones_like(u)
    if kind == "polynomial":
        return (u + 1.0) ** (-a)
    if kind == "polynomial_growing":
        return (u + 1.0) ** a
    if kind == "hinge":
        return np.where(u <= b, 1.0, 1.0 / (a * np.maximum(u - b, 0.0) + 1.0))
    raise ConfigError(f"config.clock.staleness={kind!r} is unknown; choose one of {list(STALENESS)}")


class Plan(NamedTuple):
    """One server aggregation. close_*: tasks to train on the current model now (sorted by
    steps, then client). agg_*: result slots to combine; coef [K] float64; the server
    direction is sum coef_k r_k - (sum coef_k) x when `mixing` (r = local models), else
    sum coef_k r_k (r = deltas)."""

    time: float
    version: int  # the version this aggregation creates
    close_slots: np.ndarray
    close_clients: np.ndarray
    close_steps: np.ndarray
    close_tasks: np.ndarray
    agg_slots: np.ndarray
    agg_clients: np.ndarray
    agg_coef: np.ndarray
    staleness: np.ndarray
    bytes: float  # cumulative bytes sent both ways by `time`
    mixing: bool


class ClockConfig(NamedTuple):
    schedule: str
    num_clients: int
    local_steps: int
    model_bytes: float
    seed: int
    clients_per_round: int = 0  # sync: 0 = all
    buffer_size: int = 10  # fedbuff c
    dt: float = 1.0  # fedfix
    alpha: float = 0.9  # fedasync mixing / fedcompass
    staleness: str = "constant"
    staleness_a: float = 0.5
    staleness_b: float = 4.0
    q_min: int = 20  # fedcompass
    q_max: int = 100
    speed_momentum: float = 0.9
    latest_factor: float = 1.5


def validate(cfg: ClockConfig) -> None:
    """Named errors before anything compiles."""
    if cfg.schedule not in SCHEDULES:
        raise ConfigError(f"config.clock.schedule={cfg.schedule!r} is unknown; choose one of {list(SCHEDULES)}")
    staleness_weight(cfg.staleness, 0, cfg.staleness_a, cfg.staleness_b)
    if cfg.local_steps < 1:
        raise ConfigError(f"local steps={cfg.local_steps} must be >= 1")
    if cfg.schedule == "fedfix" and not (np.isfinite(cfg.dt) and cfg.dt > 0):
        raise ConfigError(f"config.clock.dt={cfg.dt!r} must be > 0 (FedFix aggregates at times n dt)")
    if cfg.schedule == "fedbuff" and not 1 <= cfg.buffer_size <= cfg.num_clients:
        raise ConfigError(f"config.clock.buffer_size={cfg.buffer_size} must be in [1, num_clients={cfg.num_clients}]: "
                          "a buffer larger than the clients never fills")
    if cfg.schedule == "sync" and not 0 <= cfg.clients_per_round <= cfg.num_clients:
        raise ConfigError(f"config.clock.clients_per_round={cfg.clients_per_round} must be in [0, {cfg.num_clients}]")
    if cfg.schedule in MIXING and not 0 < cfg.alpha <= 1:
        raise ConfigError(f"config.clock.alpha={cfg.alpha!r} must be in (0, 1]")
    if cfg.schedule == "fedcompass":
        if not 1 <= cfg.q_min <= cfg.q_max:
            raise ConfigError(f"config.clock.q_min={cfg.q_min}, q_max={cfg.q_max}: need 1 <= q_min <= q_max")
        if not 0 < cfg.speed_momentum <= 1 or not cfg.latest_factor >= 1:
            raise ConfigError("config.clock.speed_momentum must be in (0, 1] and latest_factor >= 1")


def num_slots(cfg: ClockConfig) -> int:
    """Result slots: one per client in flight, plus waiting results (FedBuff's buffer; FedCompass's
    general buffer holds at most one per client)."""
    n = cfg.num_clients
    return n + {"fedbuff": cfg.buffer_size, "fedcompass": n}.get(cfg.schedule, 0)


class Clock:
    def __init__(self, cfg: ClockConfig, speeds: speeds_lib.Speeds, stragglers: speeds_lib.Stragglers,
                 num_samples):
        validate(cfg)
        self.cfg, self.speeds, self.stragglers = cfg, speeds, stragglers
        self.num_samples = np.asarray(num_samples, np.float64)
        if self.num_samples.shape != (cfg.num_clients,):
            raise ConfigError(f"num_samples has shape {self.num_samples.shape}, expected ({cfg.num_clients},)")
        self.S = num_slots(cfg)

    # ------------------------------------------------------------------ state
    def init(self) -> dict:
        n, S = self.cfg.num_clients, self.S
        st = {
            "time": np.zeros((), np.float64), "version": np.zeros((), np.int64), "bytes": np.zeros((), np.float64),
            "round": np.zeros((), np.int64), "tick": np.ones((), np.int64), "group_counter": np.zeros((), np.int64),
            "s_status": np.zeros(S, np.int64), "s_client": np.zeros(S, np.int64), "s_start": np.zeros(S),
            "s_finish": np.zeros(S), "s_version": np.zeros(S, np.int64), "s_steps": np.zeros(S, np.int64),
            "s_task": np.zeros(S, np.int64), "s_computed": np.zeros(S, bool), "s_group": np.full(S, _NOGROUP, np.int64),
            "s_general": np.zeros(S, bool),
            "c_tasks": np.zeros(n, np.int64), "c_bad": np.zeros(n, bool), "c_speed": np.full(n, -1.0),
            "c_group": np.full(n, _NOGROUP, np.int64), "c_steps": np.full(n, self.cfg.local_steps, np.int64),
            "g_active": np.zeros(n, bool), "g_order": np.zeros(n, np.int64), "g_ta": np.zeros(n), "g_tl": np.zeros(n),
            "g_timer": np.zeros(n), "g_timer_pending": np.zeros(n, bool),
        }
        sc = self.cfg.schedule
        if sc == "sync":
            self._start_round(st)
        else:
            q = self.cfg.q_max if sc == "fedcompass" else self.cfg.local_steps
            for k in range(n):
                self._start(st, k, 0.0, q)
        return st

    def _start(self, st, k: int, t: float, steps: int) -> None:
        free = np.flatnonzero(st["s_status"] == FREE)
        if not free.size:
            raise RuntimeError("no free result slot (schedule invariant broken)")
        s = int(free[0])
        task = int(st["c_tasks"][k])
        st["c_tasks"][k] += 1
        factor, bad = speeds_lib.slowdown(self.stragglers, self.cfg.seed, k, task, bool(st["c_bad"][k]))
        st["c_bad"][k] = bad
        comm = speeds_lib.comm_time(self.speeds, k, self.cfg.model_bytes)
        dur = comm + steps * self.speeds.step_time[k] * factor + comm
        st["s_status"][s], st["s_client"][s], st["s_start"][s], st["s_finish"][s] = RUNNING, k, t, t + dur
        st["s_version"][s], st["s_steps"][s], st["s_task"][s] = st["version"], steps, task
        st["s_computed"][s], st["s_general"][s] = False, False
        st["s_group"][s] = st["c_group"][k]
        st["bytes"] += self.cfg.model_bytes  # download

    def _start_round(self, st) -> None:
        n, m = self.cfg.num_clients, self.cfg.clients_per_round
        who = np.arange(n) if m in (0, n) else np.sort(
            np.random.default_rng((self.cfg.seed, 21, int(st["round"]))).choice(n, m, replace=False))
        for k in who:
            self._start(st, int(k), float(st["time"]), self.cfg.local_steps)
        st["round"] += 1

    # ------------------------------------------------------------------ events
    def _next_arrival(self, st):
        run = st["s_status"] == RUNNING
        if not run.any():
            return np.inf, -1
        f = np.where(run, st["s_finish"], np.inf)
        cand = np.flatnonzero(f == f.min())
        s = int(cand[np.argmin(st["s_client"][cand])])
        return float(f[s]), s

    def _next_timer(self, st):
        sc = self.cfg.schedule
        if sc == "fedfix":
            return float(st["tick"]) * self.cfg.dt, -1
        if sc == "fedcompass":
            pend = st["g_active"] & st["g_timer_pending"]
            if pend.any():
                t = np.where(pend, st["g_timer"], np.inf)
                cand = np.flatnonzero(t == t.min())
                g = int(cand[np.argmin(st["g_order"][cand])])
                return float(t[g]), g
        return np.inf, -1

    def advance(self, state: dict) -> tuple[dict, Plan]:
        """Events up to and including the next aggregation; the input state is not modified."""
        st = {k: np.array(v, copy=True) for k, v in state.items()}
        while True:
            ta, s = self._next_arrival(st)
            tt, g = self._next_timer(st)
            if not np.isfinite(min(ta, tt)):
                raise RuntimeError("the schedule has no pending event (invariant broken)")
            if ta <= tt:  # arrivals first on ties: a client done at n dt (or at T_l) is on time
                st["time"] = np.float64(ta)
                plan = self._arrive(st, s)
            else:
                st["time"] = np.float64(tt)
                plan = self._timer(st, g)
            if plan is not None:
                return st, plan

    def _arrive(self, st, s: int):
        k, t = int(st["s_client"][s]), float(st["time"])
        st["s_status"][s] = ARRIVED
        st["bytes"] += self.cfg.model_bytes  # upload
        sc = self.cfg.schedule
        if sc == "sync":
            if (st["s_status"] == RUNNING).any():
                return None
            arrived = np.flatnonzero(st["s_status"] == ARRIVED)
            w = self.num_samples[st["s_client"][arrived]]
            plan = self._aggregate(st, arrived, w / w.sum())
            self._start_round(st)
            return plan
        if sc == "fedasync":
            plan = self._aggregate(st, np.array([s]), self.cfg.alpha * self._s(st, np.array([s])))
            self._start(st, k, t, self.cfg.local_steps)
            return plan
        if sc == "fedbuff":
            arrived = np.flatnonzero(st["s_status"] == ARRIVED)
            plan = None
            if arrived.size >= self.cfg.buffer_size:
                arrived = arrived[np.lexsort((st["s_client"][arrived], st["s_finish"][arrived]))]
                plan = self._aggregate(st, arrived, self._s(st, arrived) / self.cfg.buffer_size)
            self._start(st, k, t, self.cfg.local_steps)
            return plan
        if sc == "fedfix":
            return None  # waits for the next tick
        return self._compass_arrive(st, s, k, t)

    def _timer(self, st, g: int):
        if self.cfg.schedule == "fedfix":
            t = float(st["time"])
            st["tick"] += 1
            arrived = np.flatnonzero(st["s_status"] == ARRIVED)
            if not arrived.size:
                return None
            arrived = arrived[np.argsort(st["s_client"][arrived], kind="stable")]
            periods = np.maximum(np.ceil((t - st["s_start"][arrived]) / self.cfg.dt - 1e-9), 1.0)
            p = self.num_samples / self.num_samples.sum()
            plan = self._aggregate(st, arrived, periods * p[st["s_client"][arrived]])
            for k in plan.agg_clients:
                self._start(st, int(k), t, self.cfg.local_steps)
            return plan
        st["g_timer_pending"][g] = False
        return self._group_aggregation(st, g)

    def _s(self, st, slots):
        u = st["version"] - st["s_version"][slots]
        return staleness_weight(self.cfg.staleness, u, self.cfg.staleness_a, self.cfg.staleness_b)

    def _aggregate(self, st, slots, coef) -> Plan:
        cur = st["version"]
        close = np.flatnonzero((st["s_status"] != FREE) & (st["s_version"] == cur) & ~st["s_computed"])
        close = close[np.lexsort((st["s_client"][close], st["s_steps"][close]))]
        st["s_computed"][close] = True
        slots = np.asarray(slots, np.int64)
        plan = Plan(time=float(st["time"]), version=int(cur) + 1, close_slots=close,
                    close_clients=st["s_client"][close].copy(), close_steps=st["s_steps"][close].copy(),
                    close_tasks=st["s_task"][close].copy(), agg_slots=slots,
                    agg_clients=st["s_client"][slots].copy(), agg_coef=np.asarray(coef, np.float64),
                    staleness=(cur - st["s_version"][slots]).astype(np.int64), bytes=float(st["bytes"]),
                    mixing=self.cfg.schedule in MIXING)
        st["s_status"][slots] = FREE
        st["version"] += 1
        return plan

    # ------------------------------------------------------------------ FedCompass
    def _compass_coef(self, st, slots):
        return self.cfg.alpha * self._s(st, slots) / self.cfg.num_clients

    def _compass_arrive(self, st, s: int, k: int, t: float):
        c = self.cfg
        elapsed = t - float(st["s_start"][s])
        sp = elapsed / float(st["s_steps"][s])
        first = st["c_speed"][k] < 0
        st["c_speed"][k] = sp if first else (1 - c.speed_momentum) * st["c_speed"][k] + c.speed_momentum * sp
        g = int(st["c_group"][k])
        if g == _NOGROUP:  # first arrival: aggregated alone
            plan = self._aggregate(st, np.array([s]), self._compass_coef(st, np.array([s])))
            self._assign_group(st, k)
            self._start(st, k, t, int(st["c_steps"][k]))
            return plan
        if t > st["g_tl"][g]:  # late: to the general buffer; the client gets the current model now
            st["c_group"][k] = _NOGROUP
            if not self._group_running(st, g).any():
                st["g_active"][g] = False
            old = np.flatnonzero((st["s_status"] == ARRIVED) & st["s_general"] & (st["s_client"] == k))
            st["s_status"][old] = FREE  # one general-buffer entry per client: the newest replaces it
            st["s_general"][s] = True
            self._assign_group(st, k)
            self._start(st, k, t, int(st["c_steps"][k]))
            return None
        if not self._group_running(st, g).any():
            return self._group_aggregation(st, g)
        return None

    def _group_running(self, st, g):
        """Clients of group g still training (their running task belongs to g)."""
        return (st["s_status"] == RUNNING) & (st["s_group"] == g) & (st["c_group"][st["s_client"]] == g)

    def _group_arrived(self, st, g):
        return (st["s_status"] == ARRIVED) & (st["s_group"] == g) & ~st["s_general"]

    def _group_aggregation(self, st, g: int):
        arrived = np.flatnonzero(self._group_arrived(st, g))
        if not st["g_active"][g] or not arrived.size:
            return None
        arrived = arrived[np.lexsort((st["s_client"][arrived], st["s_finish"][arrived]))]  # arrival order
        general = np.flatnonzero((st["s_status"] == ARRIVED) & st["s_general"])
        general = general[~np.isin(st["s_client"][general], st["s_client"][arrived])]  # group entry wins
        dropped = np.flatnonzero((st["s_status"] == ARRIVED) & st["s_general"])
        st["s_status"][np.setdiff1d(dropped, general)] = FREE
        general = general[np.lexsort((st["s_client"][general], st["s_finish"][general]))]
        slots = np.concatenate([general, arrived])
        plan = self._aggregate(st, slots, self._compass_coef(st, slots))
        t = float(st["time"])
        clients = st["s_client"][arrived]
        st["g_ta"][g] = st["g_tl"][g] = 0.0
        order = np.argsort(st["c_speed"][clients], kind="stable")  # fastest first
        for k in clients[order]:
            st["c_group"][k] = _NOGROUP
            self._assign_group(st, int(k))
            self._start(st, int(k), t, int(st["c_steps"][k]))
        if not self._group_running(st, g).any():
            st["g_active"][g] = False
        return plan

    def _new_group(self, st, k: int, steps: int) -> None:
        t, sp = float(st["time"]), float(st["c_speed"][k])
        g = int(np.flatnonzero(~st["g_active"])[0])
        st["g_active"][g], st["g_order"][g] = True, st["group_counter"]
        st["group_counter"] += 1
        st["g_ta"][g] = t + steps * sp
        st["g_tl"][g] = st["g_timer"][g] = t + steps * sp * self.cfg.latest_factor
        st["g_timer_pending"][g] = True
        st["c_group"][k], st["c_steps"][k] = g, steps

    def _assign_group(self, st, k: int) -> None:
        c, t, sp = self.cfg, float(st["time"]), float(st["c_speed"][k])
        groups = np.flatnonzero(st["g_active"])
        groups = groups[np.argsort(st["g_order"][groups])]
        if not groups.size:
            return self._new_group(st, k, c.q_max)
        best, best_q = -1, -1
        for g in groups:  # join: the group giving the most steps within [q_min, q_max] (ties: newest)
            q = int(np.floor((st["g_ta"][g] - t) / sp))
            if q < c.q_min or q < best_q or q > c.q_max:
                continue
            best, best_q = int(g), q
        if best >= 0:
            st["c_group"][k], st["c_steps"][k] = best, best_q
            return None
        q_new = -1
        for g in groups:  # create: arrive one fastest-member round after an open group's T_l
            if t < st["g_tl"][g]:
                members = np.concatenate([st["s_client"][self._group_running(st, g)],
                                          st["s_client"][self._group_arrived(st, g)]])
                fastest = float(st["c_speed"][members].min()) if members.size else np.inf
                q = int(np.floor((st["g_tl"][g] + fastest * c.q_max - t) / sp)) if np.isfinite(fastest) else c.q_max + 1
                if q <= c.q_max:
                    q_new = max(q_new, q)
        if 0 <= q_new < c.q_min:
            q_new = c.q_min
        if q_new < 0:
            q_new = c.q_max
        return self._new_group(st, k, q_new)


def count_aggregations(clock: Clock, time_budget: float, state: dict | None = None, limit: int = 10_000_000) -> int:
    """Aggregations with time <= time_budget (the schedule run ahead, no training)."""
    st = clock.init() if state is None else state
    n = 0
    while n < limit:
        st, plan = clock.advance(st)
        if plan.time > time_budget:
            return n
        n += 1
    raise ConfigError(f"more than {limit} aggregations within time_budget={time_budget}: lower it")


def pack(state: dict) -> dict:
    """The clock state as uint32 arrays (64-bit values as two words): checkpointed exactly
    whether or not JAX runs with 64-bit types."""
    out = {}
    for k, v in state.items():
        v = np.ascontiguousarray(v)
        if v.dtype == bool:
            out[k] = v.astype(np.uint32)
        else:
            out[k] = v.reshape(v.shape + (1,)).view(np.uint32)
    return out


def unpack(packed: dict, template: dict) -> dict:
    out = {}
    for k, t in template.items():
        a = np.ascontiguousarray(np.asarray(packed[k]), dtype=np.uint32)
        out[k] = a.astype(bool) if t.dtype == bool else a.view(t.dtype).reshape(t.shape)
    return out
