"""Client speeds, communication and stragglers: what a task costs in virtual seconds.

A task of client k that runs Q local steps takes

    down_k + Q * step_time_k * slowdown + up_k,   comm_k = latency_k + bytes / bandwidth_k

where `slowdown` is 1 unless the client straggles on that task (Bernoulli or Gilbert-Elliott).
Everything here is host NumPy and deterministic: a task's straggler draw comes from
`default_rng((seed, client, task))`, so it does not depend on the order events are processed.

Speed models (`step_times`):
- `fedfix`: FedFix's scenario F-X (Fraboni et al.): client i of M needs tau_i = 1 - i (X/100)/(M-1)
  times the slowest client's time (F-80: the fastest is 5x faster than the slowest).
- `two_groups`: a fraction of the clients is `slow_factor` times slower.
- `lognormal`: step time = base * exp(sigma z), z ~ N(0, 1) per client (seeded).
- `constant`: every client takes `step_time`.
- `trace`: a recorded CSV (see `read_trace`).
"""

from __future__ import annotations

import csv
import os
from typing import NamedTuple

import numpy as np

from lib.config import ConfigError

SPEED_MODELS = ("constant", "fedfix", "two_groups", "lognormal", "trace")
STRAGGLERS = ("none", "bernoulli", "gilbert_elliott")
TRACE_COLUMNS = ("client", "step_time", "bandwidth", "latency")


class TraceError(ConfigError):
    """A speed trace file that is missing, malformed, or lacks clients."""


class Speeds(NamedTuple):
    """Per-client costs [N]: seconds per local step, bytes/s each way, seconds of latency per message."""

    step_time: np.ndarray
    bandwidth: np.ndarray
    latency: np.ndarray


def _pos(name: str, value, allow_zero: bool = False) -> float:
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ConfigError(f"config.clock.{name}={value!r} must be {'>= 0' if allow_zero else '> 0'} and finite")
    return v


def fedfix_taus(num_clients: int, x: float) -> np.ndarray:
    """tau_i = 1 - i (X/100)/(M-1), i = 0..M-1 (scenario F-X; X in [0, 100))."""
    if not 0 <= x < 100:
        raise ConfigError(f"config.clock.speed_x={x!r}: the F-X spread must be in [0, 100) (tau would reach 0)")
    if num_clients == 1:
        return np.ones(1)
    return 1.0 - np.arange(num_clients) * (x / 100.0) / (num_clients - 1)


def read_trace(path: str, num_clients: int) -> dict[str, np.ndarray]:
    """A CSV with a header; columns `client` (0..N-1) and `step_time` (seconds per local step)
    are required, `bandwidth` (bytes/s) and `latency` (seconds per message) optional (empty cells
    or absent columns take the config's values, returned as NaN here). Extra columns are ignored.
    Every client 0..N-1 must appear exactly once."""
    if not os.path.isfile(path):
        raise TraceError(f"config.clock.trace_path={path!r}: no such file (CSV with columns {', '.join(TRACE_COLUMNS)})")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "client" not in rows[0] or "step_time" not in rows[0]:
        raise TraceError(f"trace {path}: needs a header with at least 'client' and 'step_time' columns")
    out = {k: np.full(num_clients, np.nan) for k in TRACE_COLUMNS[1:]}
    seen = np.zeros(num_clients, bool)
    for line, r in enumerate(rows, start=2):
        try:
            k = int(r["client"])
        except (TypeError, ValueError):
            raise TraceError(f"trace {path} line {line}: client={r['client']!r} is not an integer") from None
        if not 0 <= k < num_clients:
            continue  # clients beyond the run's population are not used
        if seen[k]:
            raise TraceError(f"trace {path} line {line}: client {k} appears twice")
        seen[k] = True
        for col in TRACE_COLUMNS[1:]:
            cell = (r.get(col) or "").strip()
            if cell:
                try:
                    out[col][k] = float(cell)
                except ValueError:
                    raise TraceError(f"trace {path} line {line}: {col}={cell!r} is not a number") from None
    if not seen.all():
        miss = np.flatnonzero(~seen)
        raise TraceError(f"trace {path} lacks {miss.size} of the run's {num_clients} clients "
                         f"(e.g. {miss[:5].tolist()}); it must list every client 0..{num_clients - 1}")
    return out


def make_speeds(clock, num_clients: int, seed: int) -> Speeds:
    """config.clock -> Speeds; named errors for non-positive speeds, bandwidths, latencies < 0."""
    name = clock.get("speed", "constant")
    if name not in SPEED_MODELS:
        raise ConfigError(f"config.clock.speed={name!r} is unknown; choose one of {list(SPEED_MODELS)}")
    base = _pos("step_time", clock.get("step_time", 1.0))
    bw = np.full(num_clients, _pos("bandwidth", clock.get("bandwidth", 1e9)))
    lat = np.full(num_clients, _pos("latency", clock.get("latency", 0.0), allow_zero=True))
    if name == "constant":
        st = np.full(num_clients, base)
    elif name == "fedfix":
        st = base * fedfix_taus(num_clients, float(clock.get("speed_x", 80)))
    elif name == "two_groups":
        frac = float(clock.get("slow_fraction", 0.5))
        if not 0 <= frac <= 1:
            raise ConfigError(f"config.clock.slow_fraction={frac!r} must be in [0, 1]")
        factor = _pos("slow_factor", clock.get("slow_factor", 4.0))
        slow = np.random.default_rng((seed, 11)).permutation(num_clients) < round(frac * num_clients)
        st = np.where(slow, base * factor, base)
    elif name == "lognormal":
        sigma = _pos("lognormal_sigma", clock.get("lognormal_sigma", 0.5), allow_zero=True)
        st = base * np.exp(sigma * np.random.default_rng((seed, 12)).standard_normal(num_clients))
    else:
        tr = read_trace(clock.get("trace_path") or "", num_clients)
        st = tr["step_time"]
        bw = np.where(np.isnan(tr["bandwidth"]), bw, tr["bandwidth"])
        lat = np.where(np.isnan(tr["latency"]), lat, tr["latency"])
    for what, arr, zero_ok in (("step_time", st, False), ("bandwidth", bw, False), ("latency", lat, True)):
        bad = ~np.isfinite(arr) | (arr < 0) | ((arr == 0) & (not zero_ok))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ConfigError(f"client {k} has {what}={float(arr[k])!r} (speed model {name!r}); {what} must be "
                              f"{'>= 0' if zero_ok else '> 0'} for every client")
    return Speeds(st.astype(np.float64), bw.astype(np.float64), lat.astype(np.float64))


class Stragglers(NamedTuple):
    kind: str
    prob: float  # bernoulli: P(straggle) per task
    slowdown: float  # compute time multiplier while straggling
    p_good_bad: float  # gilbert_elliott: P(good -> bad) per task
    p_bad_good: float  # gilbert_elliott: P(bad -> good) per task


def make_stragglers(clock) -> Stragglers:
    kind = clock.get("straggler", "none")
    if kind not in STRAGGLERS:
        raise ConfigError(f"config.clock.straggler={kind!r} is unknown; choose one of {list(STRAGGLERS)}")
    vals = {k: float(clock.get(k, d)) for k, d in (("straggler_prob", 0.1), ("ge_p_good_bad", 0.05),
                                                   ("ge_p_bad_good", 0.5))}
    for k, v in vals.items():
        if not 0 <= v <= 1:
            raise ConfigError(f"config.clock.{k}={v!r} is a probability: it must be in [0, 1]")
    slow = float(clock.get("straggler_slowdown", 5.0))
    if not slow >= 1:
        raise ConfigError(f"config.clock.straggler_slowdown={slow!r} must be >= 1 (a multiplier of compute time)")
    return Stragglers(kind, vals["straggler_prob"], slow, vals["ge_p_good_bad"], vals["ge_p_bad_good"])


def slowdown(st: Stragglers, seed: int, client: int, task: int, bad_before: bool) -> tuple[float, bool]:
    """(compute-time multiplier of this task, the client's Gilbert-Elliott state after it).
    Gilbert-Elliott: the two-state chain moves once per task (good -> bad w.p. p_good_bad,
    bad -> good w.p. p_bad_good) and the task straggles in the bad state (bursty stragglers)."""
    if st.kind == "none":
        return 1.0, False
    u = np.random.default_rng((seed, 13, client, task)).random()
    if st.kind == "bernoulli":
        return (st.slowdown if u < st.prob else 1.0), False
    bad = (u >= st.p_bad_good) if bad_before else (u < st.p_good_bad)
    return (st.slowdown if bad else 1.0), bool(bad)


def comm_time(speeds: Speeds, client: int, num_bytes: float) -> float:
    return float(speeds.latency[client] + num_bytes / speeds.bandwidth[client])
