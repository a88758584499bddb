"""Config -> virtual-clock FL run: the host schedule (schedule.Clock) drives exact jitted
client updates (the engine's local training) and the server step, through lib.train.

One lib.train step = one server aggregation. Per step the host advances the clock to the next
aggregation; the device then trains, in batches, every task that started on the current model
(same version and same local-step count share one call; batches are padded to a few bucket
sizes), stores each result in the task's slot, and applies the aggregation:
direction = sum_k coef_k r_k (- (sum_k coef_k) x for model-mixing schedules), then the server
optimizer. The train state holds the params, server optimizer state, the result slots, their
training losses, the run key and the clock state (packed exactly), so a resumed run replays
the same events and bits.

Config keys (config.clock): schedule, speed, step_time, speed_x, slow_fraction, slow_factor,
lognormal_sigma, trace_path, bandwidth, latency, straggler, straggler_prob, straggler_slowdown,
ge_p_good_bad, ge_p_bad_good, clients_per_round, buffer_size, dt, alpha, staleness, staleness_a,
staleness_b, q_min, q_max, speed_momentum, latest_factor, time_budget, eval_every_time, max_batch.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from ml_collections import ConfigDict

from lib import train as train_lib
from lib.config import ConfigError
from lib.errors import NonFiniteError
from lib.fl import engine
from lib.fl import participation as part_lib
from lib.fl import runner as fl_runner
from lib.fl import server as server_lib
from lib.fl import tasks as tasks_lib
from lib.fl.clock import schedule as sched
from lib.fl.clock import speeds as speeds_lib

_LOCAL = 1  # fold_in purpose of local training (as lib.fl.engine)


def default_clock() -> ConfigDict:
    """Every config.clock key, at values that run anywhere."""
    return ConfigDict({
        "schedule": "fedbuff", "speed": "fedfix", "step_time": 1.0, "speed_x": 80.0, "slow_fraction": 0.5,
        "slow_factor": 4.0, "lognormal_sigma": 0.5, "trace_path": "", "bandwidth": 1e9, "latency": 0.0,
        "straggler": "none", "straggler_prob": 0.1, "straggler_slowdown": 5.0, "ge_p_good_bad": 0.05,
        "ge_p_bad_good": 0.5, "clients_per_round": 0, "buffer_size": 5, "dt": 1.0, "alpha": 0.9,
        "staleness": "constant", "staleness_a": 0.5, "staleness_b": 4.0, "q_min": 20, "q_max": 100,
        "speed_momentum": 0.9, "latest_factor": 1.5, "time_budget": 100.0, "eval_every_time": 10.0,
        "max_batch": 64})


def model_bytes(params) -> float:
    return float(sum(np.asarray(p).size * np.dtype(p.dtype).itemsize for p in jax.tree.leaves(params)))


def clock_config(config, params) -> sched.ClockConfig:
    c = config.clock
    return sched.ClockConfig(
        schedule=c.schedule, num_clients=int(config.num_clients), local_steps=int(config.local.num_steps),
        model_bytes=model_bytes(params), seed=int(config.seed), clients_per_round=int(c.clients_per_round),
        buffer_size=int(c.buffer_size), dt=float(c.dt), alpha=float(c.alpha), staleness=c.staleness,
        staleness_a=float(c.staleness_a), staleness_b=float(c.staleness_b), q_min=int(c.q_min), q_max=int(c.q_max),
        speed_momentum=float(c.speed_momentum), latest_factor=float(c.latest_factor))


def apply_variant(c: ConfigDict, arg: str | None, variants: dict, default: str) -> ConfigDict:
    """Config arg '<variant>[_s<seed>]' (default `default`): sets c.clock.schedule and the clock
    overrides of variants[variant] = (schedule, {key: value}), and the seed if given."""
    name, seed = arg or default, None
    head, _, tail = name.rpartition("_s")
    if head and tail.isdigit():
        name, seed = head, int(tail)
    if name not in variants:
        raise ValueError(f"unknown config arg {arg!r}; variants: {list(variants)} (optionally + '_s<seed>')")
    schedule, over = variants[name]
    c.clock.schedule = schedule
    c.clock.update(over)
    if seed is not None:
        c.seed = seed
    return c


def validate_run(config) -> None:
    """Everything a clock run reads (task, local training, server, mesh, clock keys): named errors
    before any data is read or anything compiled."""
    tasks_lib.validate(config)
    fl_runner.local_config(config)
    fl_runner.server_optimizer(config)
    fl_runner.mesh(config)
    validate(config)


def validate(config) -> None:
    """The clock keys, before any data is read or anything compiled."""
    c = config.clock
    cfg = clock_config(config, {})
    sched.validate(cfg)
    speeds_lib.make_stragglers(c)
    speeds_lib.make_speeds(c, int(config.num_clients), int(config.seed))  # speeds, bandwidths, the trace file
    for key in ("time_budget", "eval_every_time"):
        v = c.get(key)
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v > 0):
            raise ConfigError(f"config.clock.{key}={v!r} must be > 0 (virtual seconds)")
    if int(c.max_batch) < 1:
        raise ConfigError(f"config.clock.max_batch={c.max_batch!r} must be >= 1")
    if config.local.mode != "steps":
        raise ConfigError(f"config.local.mode={config.local.mode!r}: the clock counts local steps; use 'steps'")
    if c.schedule in sched.MIXING and (config.server.optimizer != "sgd" or float(config.server.lr) != 1.0):
        raise ConfigError(f"config.clock.schedule={c.schedule!r} mixes models (x = (1-a) x + a x_i): "
                          "server.optimizer must be 'sgd' with server.lr=1.0")


def make_clock(config, params, num_samples) -> sched.Clock:
    return sched.Clock(clock_config(config, params), speeds_lib.make_speeds(config.clock, config.num_clients, config.seed),
                       speeds_lib.make_stragglers(config.clock), num_samples)


def _buckets(n: int, unit: int, cap: int) -> list[int]:
    """Sizes unit * 2^j up to the first >= cap."""
    out, b = [], unit
    while True:
        out.append(b)
        if b >= cap:
            return out
        b *= 2


def _bucket(n: int, sizes) -> int:
    for s in sizes:
        if s >= n:
            return s
    return sizes[-1]


class Executor:
    """The device half: batched local training into result slots, and the server step."""

    def __init__(self, sim: engine.Simulation, clock: sched.Clock, server_opt, max_batch: int = 64):
        self.sim, self.clock, self.server_opt = sim, clock, server_opt
        self.mixing = clock.cfg.schedule in sched.MIXING
        self.ndev = sim.mesh.shape["clients"]
        self.train_sizes = _buckets(max_batch, self.ndev, max(max_batch, self.ndev))
        self.max_train = self.train_sizes[-1]
        self.agg_sizes = _buckets(clock.S, 1, clock.S)
        local = engine.local_training(sim)
        mixing, S = self.mixing, clock.S

        @functools.partial(engine.jit, sim, donate_argnums=(1, 2))  # the platform's options for local-step loops
        def train(params, results, losses, data, slots, clients, tasks, steps, key, hparams):
            n = data.num_samples.shape[0]
            safe = jnp.minimum(clients, n - 1)
            batch = {"index": data.index[safe], "num_samples": data.num_samples[safe]}
            base = jax.random.fold_in(key, _LOCAL)
            keys = jax.vmap(lambda c, t: jax.random.fold_in(jax.random.fold_in(base, c), t))(safe, tasks)
            deltas, _, m = local(params, {"x": data.x, "y": data.y}, batch, (), keys, {**hparams, "num_steps": steps})
            r = deltas if not mixing else jax.tree.map(lambda d, p: p[None] + d, deltas, params)
            at = jnp.where(clients < n, slots, S)  # padding rows write nowhere
            results = jax.tree.map(lambda a, b: a.at[at].set(b, mode="drop"), results, r)
            return results, losses.at[at].set(m["train_loss"], mode="drop")

        @jax.jit
        def aggregate(params, sopt, results, losses, slots, coef):
            coef = coef.astype(jnp.float32)
            safe = jnp.minimum(slots, S - 1)
            direction = jax.tree.map(lambda a: jnp.tensordot(coef, a[safe], axes=1), results)
            if mixing:
                total = jnp.sum(coef)
                direction = jax.tree.map(lambda d, p: d - total * p, direction, params)
            new, sopt = server_lib.apply(self.server_opt, params, sopt, direction)
            valid = coef != 0
            loss = jnp.sum(jnp.where(valid, losses[safe], 0.0)) / jnp.maximum(jnp.sum(valid), 1)
            finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(l)) for l in jax.tree.leaves(direction)]))
            return new, sopt, loss, finite

        self._train, self._aggregate = train, aggregate

    def init(self, params, seed: int) -> dict:
        S = self.clock.S
        return {"step": jnp.asarray(0, jnp.int32), "params": params, "server_opt": self.server_opt.init(params),
                "results": jax.tree.map(lambda p: jnp.zeros((S,) + p.shape, p.dtype), params),
                "result_loss": jnp.zeros((S,), jnp.float32), "key": jax.random.PRNGKey(seed),
                "clock": sched.pack(self.clock.init())}

    def apply(self, state: dict, plan: sched.Plan, data, hparams) -> tuple[dict, dict]:
        """Trains plan.close_* (grouped by steps, padded) and applies the aggregation."""
        params, results, losses = state["params"], state["results"], state["result_loss"]
        n = self.clock.cfg.num_clients
        steps = plan.close_steps
        for q in np.unique(steps):
            idx = np.flatnonzero(steps == q)
            for lo in range(0, idx.size, self.max_train):
                part = idx[lo: lo + self.max_train]
                b = _bucket(part.size, self.train_sizes)
                pad = b - part.size
                slots = np.concatenate([plan.close_slots[part], np.zeros(pad, np.int64)]).astype(np.int32)
                clients = np.concatenate([plan.close_clients[part], np.full(pad, n)]).astype(np.int32)
                tasks = np.concatenate([plan.close_tasks[part], np.zeros(pad, np.int64)]).astype(np.int32)
                results, losses = self._train(params, results, losses, data, slots, clients, tasks,
                                              np.int32(q), state["key"], hparams)
        k = _bucket(plan.agg_slots.size, self.agg_sizes)
        pad = k - plan.agg_slots.size
        slots = np.concatenate([plan.agg_slots, np.zeros(pad, np.int64)]).astype(np.int32)
        coef = np.concatenate([plan.agg_coef, np.zeros(pad)]).astype(np.float32)
        params, sopt, loss, finite = self._aggregate(params, state["server_opt"], results, losses, slots, coef)
        new = {**state, "step": state["step"] + 1, "params": params, "server_opt": sopt, "results": results,
               "result_loss": losses}
        return new, {"loss": loss, "aggregate_finite": finite}


def build(config, task, local_update=None):
    """(clock, executor, template clock state) for a task (lib.fl.tasks.Task) and config.
    local_update: a project's own local update (default: the engine's)."""
    validate(config)
    clock = make_clock(config, task.params, np.asarray(task.data.num_samples))
    sim = engine.build(loss_fn=task.loss_fn, local=fl_runner.local_config(config),
                       participation=part_lib.make("uniform", config.num_clients, clients_per_round=1),
                       server_opt=optax.identity(), mesh=fl_runner.mesh(config), local_update=local_update)
    server_opt = fl_runner.server_optimizer(config)
    return clock, Executor(sim, clock, server_opt, int(config.clock.max_batch))


def eval_steps(clock: sched.Clock, time_budget: float, every: float) -> tuple[int, dict]:
    """(aggregations within the budget, {step: [virtual-time marks]}): the model evaluated at mark
    m = j * every is the one after the last aggregation at or before m (step 0: the initial model)."""
    st = clock.init()
    times = []
    while True:
        st, plan = clock.advance(st)
        if plan.time > time_budget:
            break
        times.append(plan.time)
    times = np.asarray(times)
    marks = {}
    for j in range(0, int(np.floor(time_budget / every + 1e-9)) + 1):
        m = j * every
        marks.setdefault(int(np.searchsorted(times, m, side="right")), []).append(m)  # steps done by time m
    return len(times), marks


def run(config, workdir: str, task, eval_fn, desc: str, local_update=None) -> dict:
    """The whole run through lib.train; final metrics gain virtual_time and bytes."""
    clock, ex = build(config, task, local_update)
    total, marks = eval_steps(clock, float(config.clock.time_budget), float(config.clock.eval_every_time))
    if total < 1:
        raise ConfigError(f"config.clock.time_budget={config.clock.time_budget} ends before the first aggregation")
    template = clock.init()
    data = engine.put_data(ex.sim, task.data)
    hp = fl_runner.hparams(config)

    def step_fn(state, _):
        state = engine.put_state(ex.sim, state)  # a restored checkpoint arrives on one device
        st = sched.unpack(jax.device_get(state["clock"]), template)
        st, plan = clock.advance(st)
        new, m = ex.apply(state, plan, data, hp)
        new["clock"] = sched.pack(st)
        if not bool(m["aggregate_finite"]):
            raise NonFiniteError(f"aggregation {int(state['step'])} (virtual time {plan.time:.4g}) is not finite",
                                 step=int(state["step"]) + 1)
        return new, {"loss": m["loss"], "virtual_time": plan.time, "bytes": plan.bytes,
                     "updates": int(plan.agg_slots.size), "trained": int(plan.close_slots.size),
                     "staleness_mean": float(plan.staleness.mean()), "staleness_max": int(plan.staleness.max())}

    def evaluate(state):
        step = int(jax.device_get(state["step"]))
        if step not in marks and step != total:
            return {}
        st = sched.unpack(jax.device_get(state["clock"]), template)
        out = dict(eval_fn(state["params"]))
        ms = marks.get(step, [float(config.clock.time_budget)])
        out.update({"virtual_time": float(ms[-1]), "first_mark": float(ms[0]),  # marks first..last, every e
                    "last_aggregation_time": float(st["time"]), "bytes": float(st["bytes"])})
        return out

    state = engine.put_state(ex.sim, ex.init(task.params, int(config.seed)))
    cfg = config.copy_and_resolve_references()
    with cfg.unlocked():
        cfg.eval_every = 1  # evaluate() picks the virtual-time marks itself
    # the initial model (mark 0) is evaluated here: lib.train evaluates after steps only
    init_eval = ({**eval_fn(task.params), "virtual_time": float(marks[0][-1]), "first_mark": 0.0, "bytes": 0.0}
                 if 0 in marks else None)
    final = train_lib.run(cfg, workdir, state=state, step_fn=step_fn, num_steps=total, eval_fn=evaluate, desc=desc)
    final["aggregations"] = total
    if init_eval is not None:
        final["initial_eval"] = init_eval
    if jax.process_index() == 0:  # the clock's extras join lib.train's final_metrics.json
        import json
        import os

        path = os.path.join(workdir, "final_metrics.json")
        with open(path + ".tmp", "w") as f:
            json.dump(final, f, indent=2, sort_keys=True, default=float)
        os.replace(path + ".tmp", path)
    return final
