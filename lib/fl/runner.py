"""Config -> engine pieces, and the federated loop on top of lib.train.

Config keys read: participation (uniform | bernoulli | markov | cyclic), clients_per_round,
participation_alpha, participation_floor, participation_prob, markov_max_to_active, cyclic_period,
local.{batch_size, mode, num_steps, num_epochs, optimizer, momentum, lr, prox_mu},
server.{optimizer, lr, momentum, b1, b2, tau}, aggregator, capacity, mesh, total (rounds).
"""

from __future__ import annotations

import math

import jax
import numpy as np

from lib import config as config_lib
from lib import mesh as mesh_lib
from lib import train as train_lib
from lib.fl import aggregate
from lib.fl import client as client_lib
from lib.fl import engine
from lib.fl import participation as part_lib
from lib.fl import server as server_lib


def participation(config, label_counts) -> part_lib.Participation:
    """The participation model; heterogeneous probabilities follow FedAU's recipe."""
    name = config_lib.choice(config, "participation", part_lib.NAMES)
    n = config.num_clients
    probs = None
    if name != "uniform":
        rng = np.random.default_rng(config.seed + 1000)
        probs = part_lib.fedau_probs(label_counts, rng, alpha=config.get("participation_alpha", 0.1),
                                     floor=config.get("participation_floor", 0.02))
        if config.get("participation_prob"):  # one p for everyone (e.g. FedStale's p = 0.5)
            probs = np.full(n, float(config.participation_prob), np.float32)
    return part_lib.make(name, n, clients_per_round=config.get("clients_per_round", 0), probs=probs,
                         period=config.get("cyclic_period", 100),
                         max_to_active=config.get("markov_max_to_active", 0.05))


def byzantine_per_round(config) -> tuple[int, int]:
    """(clients per round n, Byzantine clients per round f) a robust rule is set up for
    (config.clients_per_round or num_clients, byzantine_fraction)."""
    n = config.clients_per_round or config.num_clients
    return n, int(math.ceil(config.byzantine_fraction * n - 1e-9))


def attack_params(config) -> dict:
    """config.attack_params, with ALIE's (n, f) filled in from the round when its z is not given."""
    p = dict(config.attack_params)
    if config.attack == "alie" and p.get("z") is None:
        n, f = byzantine_per_round(config)
        p.setdefault("n", n)
        p.setdefault("f", max(f, 1))
    return p


def rule_params(config) -> dict:
    """config.rule_params, with the rule's f (when it takes one) set to the Byzantine clients per round."""
    _, f = byzantine_per_round(config)
    return aggregate.rule_params(config.aggregator, f=f, **dict(config.rule_params))


def local_config(config) -> client_lib.LocalConfig:
    loc = config.local
    cfg = client_lib.LocalConfig(batch_size=int(loc.batch_size), mode=loc.mode, num_steps=int(loc.num_steps),
                                 num_epochs=int(loc.get("num_epochs", 1)), optimizer=loc.optimizer,
                                 momentum=float(loc.get("momentum", 0.0)))
    client_lib.check_local_config(cfg)
    config_lib.positive(config, "local.lr")
    return cfg


def server_optimizer(config):
    s = config.server
    return server_lib.make(s.optimizer, lr=s.lr, momentum=s.get("momentum", 0.9), b1=s.get("b1", 0.9),
                           b2=s.get("b2", 0.99), tau=s.get("tau", 1e-3))


def hparams(config) -> dict:
    hp = {"lr": float(config.local.lr)}
    if config.local.get("prox_mu"):
        hp["prox_mu"] = float(config.local.prox_mu)
    return hp


def mesh(config):
    m = mesh_lib.make_mesh(config.mesh)
    if "clients" not in m.axis_names:
        raise config_lib.ConfigError(f"config.mesh={config.mesh!r} needs a 'clients' axis")
    return m


def run(config, workdir: str, sim: engine.Simulation, data, state, eval_fn, desc: str) -> dict:
    """Rounds 0..total-1 through lib.train (checkpoint/resume/eval/log). A round whose
    client updates are non-finite (non-robust rule) or that overflows the client slots
    raises before lib.train can save its state."""
    total = config_lib.steps(config, "total")
    hp = hparams(config)
    data = engine.put_data(sim, data)
    round_jit = engine.jit(sim, engine.round_fn(sim))

    def step_fn(st, _):
        st = engine.put_state(sim, st)  # a restored checkpoint arrives on one device
        new, m = round_jit(st, data, hp)
        engine.check_round(sim, jax.device_get(m), lambda idx: engine.global_model_losses(sim, st, data, idx, hp))
        return new, m

    state = engine.put_state(sim, state)
    return train_lib.run(config, workdir, state=state, step_fn=step_fn, num_steps=total,
                         eval_fn=lambda st: eval_fn(st["params"]), desc=desc)


def population_step(sim: engine.Simulation, hp: dict, byzantine=None):
    """step_fn(state, cohort) -> (state, metrics) for lib.train over a host-resident population:
    per-client host states gathered for the cohort and scattered back, the device part of
    the state through the jitted cohort round, host-side checks before anything is saved."""
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P

    from lib.fl import population as pop_lib

    round_jit = engine.jit(sim, engine.cohort_round_fn(sim))
    rep = NamedSharding(sim.mesh, P())

    def step_fn(st, cohort):
        host = jax.tree.map(np.asarray, st["clients"])  # restored checkpoints arrive as jax arrays
        dev = engine.put_state(sim, {k: v for k, v in st.items() if k != "clients"})
        ids = cohort["ids"]
        byz = np.zeros(len(ids), bool) if byzantine is None else np.asarray(byzantine, bool)[ids]
        batch = {"data": cohort["data"], "ids": jax.device_put(ids.astype(np.int32), rep),
                 "valid": jax.device_put(cohort["valid"], rep), "byzantine": jax.device_put(byz, rep),
                 "clients": jax.device_put(pop_lib.gather_states(host, ids), rep)}
        new, new_cs, m = round_jit(dev, batch, hp)
        engine.check_round(sim, jax.device_get(m))
        new["clients"] = pop_lib.scatter_states(host, ids, cohort["valid"], jax.device_get(new_cs))
        return new, m

    return step_fn


def run_population(config, workdir: str, sim: engine.Simulation, feeder, state, eval_fn, desc: str,
                   byzantine=None) -> dict:
    """Rounds over a host-resident population (lib.fl.population) through lib.train.

    state: `engine.init(sim, params, seed, host_clients=True)` (per-client states are host
    arrays, gathered for each cohort and scattered back). feeder: a population.CohortFeeder,
    which draws round r's cohort from (seed, r) and prepares round r + 1 while r runs.
    byzantine: optional host bool array [N]. Checkpoints hold the host arrays too, so a
    resumed run is bit-identical."""
    total = config_lib.steps(config, "total")
    step_fn = population_step(sim, hparams(config), byzantine)
    try:
        return train_lib.run(config, workdir, state=state, step_fn=step_fn, num_steps=total,
                             batch_fn=feeder.get, eval_fn=lambda st: eval_fn(st["params"]), desc=desc)
    finally:
        feeder.close()
