"""Cheap grid cells: one compile for a whole robustness grid (rules, attacks, fractions).

A robustness cell is a whole federated run (rounds 0..total-1) followed by one test
evaluation. `train.train_and_evaluate` does one cell through lib.train (checkpoints,
logging, periodic eval): right for one run, but on 2 CPU cores each cell then pays the
process start, the data load, a fresh compile of the round and of the eval, and orbax.
Here the data set is loaded once per process and a cell is one jitted call:

* the rounds run in a `lax.fori_loop` inside one jit (no per-round dispatch or host sync);
* the attack is a run-time argument: `switch_attack` picks sign_flip / gaussian / alie /
  ipm / identity with `lax.switch` on an integer, and its parameters (scale, sigma, z,
  epsilon) and the Byzantine mask are traced arrays, so every attack of a
  (rule, fraction) pair shares one compile. Label flipping is data level: the client
  labels are a run-time argument too (flipped for the Byzantine clients), with the
  identity update attack;
* the rule is a run-time argument too: `switch_rule` holds every (rule, static
  parameters) variant of the grid (f and beta depend on the fraction, so Krum at 10 % and
  at 20 % are two variants) as `lax.switch` branches, so the local training, the attacks
  and the round loop compile once per data set, and a cell runs only its own branch.

The round itself is `lib.fl.engine.round_fn` unchanged, with the same keys and streams as
`train.train_and_evaluate`, so a cell reproduces that run's final parameters up to float
rounding (checked in tests/projects/test_flag_aggregator.py). No checkpoints are written
inside a cell: the grid is resumable per cell (a finished cell's JSON is skipped).
"""

from __future__ import annotations

import copy
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lib.fl import aggregate, attacks, engine, runner, tasks
from projects.flag_aggregator import train

# run-time attack ids (label_flip is the identity update attack on flipped labels)
ATTACK_IDS = {"none": 0, "label_flip": 0, "sign_flip": 1, "gaussian": 2, "alie": 3, "ipm": 4}


def switch_attack(updates, byz_mask, key, *, attack_id, scale, sigma, z, epsilon, present=None):
    """lib.fl.attacks chosen by a traced integer (see ATTACK_IDS)."""
    branches = [
        lambda: updates,
        lambda: attacks.sign_flip(updates, byz_mask, key, present=present, scale=scale),
        lambda: attacks.gaussian(updates, byz_mask, key, present=present, sigma=sigma),
        lambda: attacks.alie(updates, byz_mask, key, present=present, z=z),
        lambda: attacks.ipm(updates, byz_mask, key, present=present, epsilon=epsilon),
    ]
    return jax.lax.switch(attack_id, branches)


def cell_config(config, rule: str, attack: str, fraction: float, rule_params=None):
    c = copy.deepcopy(config)
    c.aggregator, c.attack, c.byzantine_fraction = rule, attack, float(fraction)
    if rule_params is not None:
        c.rule_params = rule_params
    return c


def attack_args(config) -> dict:
    """The traced attack parameters of `config` (defaults of lib.fl.attacks otherwise)."""
    p = dict(config.attack_params)
    z = 0.0
    if config.attack == "alie":
        ap = train.attack_params(config)
        z = ap["z"] if ap.get("z") is not None else attacks.alie_z(ap["n"], ap["f"])
    return {"attack_id": jnp.int32(ATTACK_IDS[config.attack]), "scale": jnp.float32(p.get("scale", 1.0)),
            "sigma": jnp.float32(p.get("sigma", 1.0)), "z": jnp.float32(z),
            "epsilon": jnp.float32(p.get("epsilon", 0.1))}


def variant_of(c) -> tuple:
    """(rule name, its keyword parameters as a sorted tuple) of a cell config: hashable."""
    return (c.aggregator, tuple(sorted(train.rule_params(c).items())))


def switch_rule(variants):
    """One rule that runs lib.fl.aggregate rule variants[rule_id] (rule_id traced).

    variants: [(name, ((param, value), ...)), ...] with static parameters. The state is the
    union every branch can carry: {'center': last aggregate} (centered clipping's state,
    zeros at first exactly as lib.fl.engine initialises it); the other rules pass it on
    untouched, so a stateless rule behaves as it does alone."""
    fns = [(name, functools.partial(aggregate.get_rule(name), **dict(params))) for name, params in variants]

    def rule(updates, weights, state, key, *, rule_id):
        if state is None or "center" not in state:
            state = {"center": jax.tree.map(lambda u: jnp.zeros(u.shape[1:], u.dtype), updates)}

        def branch(name, fn):
            def run():
                if name == "centered_clipping":
                    agg, st = fn(updates, weights, state, key)
                    return agg, {"center": st["center"]}
                agg, _ = fn(updates, weights, None, key)
                return agg, state
            return run

        if len(fns) == 1:
            return branch(*fns[0])()
        return jax.lax.switch(rule_id, [branch(n, f) for n, f in fns])

    return rule


class Runner:
    """Loads the task of `config` once; `run(cell_config)` runs one cell.

    All rule variants of a grid (`variants`, see `variant_of`) and all attacks share one
    compiled round loop; a cell whose variant is not in the list adds it and recompiles
    (`compiles` counts the compiles).
    """

    def __init__(self, config, variants=()):
        tasks.validate(config)
        self.base = config
        self.task = tasks.load_task(config)
        self.eval = tasks.make_eval(self.task, config.eval_batch_size)
        self.part = runner.participation(config, self.task.label_counts)
        self.local = runner.local_config(config)
        self.mesh = runner.mesh(config)
        self.variants = list(dict.fromkeys(variants))
        self._compiled = None
        self.compiles = 0

    def _loop(self, c):
        v = variant_of(c)
        if v not in self.variants:
            self.variants.append(v)
            self._compiled = None
        if self._compiled is not None:
            return self._compiled
        for name, params in self.variants:  # named errors (e.g. Bulyan's n >= 4f + 3) before compile
            cap = c.capacity or self.part.max_participants
            aggregate.validate(name, cap, **dict(params))
        sim0 = engine.build(
            loss_fn=self.task.loss_fn, local=self.local, participation=self.part,
            server_opt=runner.server_optimizer(c), aggregator="fedavg",
            capacity=c.capacity or None, mesh=self.mesh, stop_on_nonfinite=False)
        sim0 = sim0._replace(attack=switch_attack, rule=switch_rule(self.variants),
                             rule_params={"rule_id": jnp.int32(0)})
        total = int(c.total)

        @functools.partial(engine.jit, sim0)
        def loop(state, data, hp, byz, aargs, rule_id):
            one = engine.round_fn(sim0._replace(byzantine=byz, attack_params=aargs,
                                                rule_params={"rule_id": rule_id}))

            def body(_, carry):
                st, first_bad = carry
                st, m = one(st, data, hp)
                hit = (first_bad < 0) & (m["first_nonfinite_client"] >= 0)
                return st, jnp.where(hit, m["round"], first_bad)

            st, first_bad = jax.lax.fori_loop(0, total, body, (state, jnp.int32(-1)))
            finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(l)) for l in jax.tree.leaves(st["params"])]))
            return st, first_bad, finite

        self._compiled = (sim0, loop, total)
        self.compiles += 1
        return self._compiled

    def run(self, c) -> dict:
        """One cell: {'status', 'test_accuracy', 'test_loss', 'step', 'byzantine_clients', ...}.

        Raises AggregatorConfigError / AttackConfigError / ConfigError before any compile."""
        train.validate(c)
        for k in ("dataset", "num_clients", "partition", "seed", "model", "local", "clients_per_round",
                  "participation", "dirichlet_alpha", "eval_batch_size", "mesh", "server", "capacity"):
            if c.get(k) != self.base.get(k):
                raise ValueError(f"cell config changes {k!r}: use another Runner")
        sim, loop, total = self._loop(c)
        if int(c.total) != total:
            raise ValueError(f"cell config has total={c.total}, the compiled loop {total}: use another Runner")
        byz = train.byzantine_mask(c)
        data = self.task.data
        if c.attack == "label_flip":
            data = train.flip_client_labels(data, byz, self.task.num_classes)
        upd_byz = byz if c.attack not in ("none", "label_flip") else np.zeros_like(byz)
        data = engine.put_data(sim, data)
        state = engine.put_state(sim, engine.init(sim, self.task.params, seed=c.seed))
        rule_id = jnp.int32(self.variants.index(variant_of(c)))
        st, first_bad, finite = loop(state, data, runner.hparams(c), jnp.asarray(upd_byz), attack_args(c), rule_id)
        first_bad, finite = int(first_bad), bool(finite)
        out = {"step": int(st["step"]), "byzantine_clients": int(byz.sum()), "params": st["params"]}
        if not aggregate.is_robust(c.aggregator) and first_bad >= 0:
            out.update(status="diverged", reason=f"round {first_bad}: a client sent a non-finite update "
                                                 f"and {c.aggregator} is not robust to it")
        elif not finite:
            out.update(status="diverged", reason="final parameters are not finite")
        else:
            out.update(status="ok", **self.eval(st["params"]))
        return out


def not_applicable(c) -> str | None:
    """The rule's named error when the cell cannot run (e.g. Bulyan with n < 4f + 3)."""
    try:
        train.validate(c)
    except aggregate.AggregatorConfigError as e:
        return str(e)
    return None
