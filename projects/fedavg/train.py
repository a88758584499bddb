"""FedAvg (McMahan et al., AISTATS 2017) over a client population far larger than memory.

Cross-device federated learning samples a small cohort per round from millions of clients
that each hold a few samples. The run is built from lib pieces:

- the population (lib.fl.population): samples on the host, memory-mapped from a folder,
  generated on first use for the synthetic kind; held-out clients for evaluation;
- the round (lib.fl.engine.cohort_round_fn): local SGD of the cohort on the devices
  (`clients` mesh axis), FedAvg weights (sample counts), the server step;
- the host loop (lib.fl.runner.run_population): cohort r drawn from (seed, r) and gathered
  one round ahead, per-client state gathered and scattered, checkpoint / resume / eval.

The per-client state is what a cross-device study keeps about every client: how often it
was selected and its last local training loss. It lives in host arrays [N] (checkpointed),
never on the devices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib import precision
from lib.config import ConfigError
from lib.fl import engine, population, runner, tasks
from lib.fl import participation as part_lib
from lib.models.mlp import MLP

KINDS = ("synthetic", "folder")


def validate(config) -> None:
    p = config.population
    config_lib.choice(config, "population.kind", KINDS)
    if p.kind == "folder" and not p.path:
        raise ConfigError("config.population.kind='folder' needs config.population.path (a population folder)")
    if p.kind == "synthetic":
        for key in ("num_clients", "min_samples", "max_samples", "dim", "num_classes"):
            config_lib.positive(config, f"population.{key}")
        if p.min_samples > p.max_samples:
            raise ConfigError(f"config.population.min_samples={p.min_samples} > max_samples={p.max_samples}")
        n = p.num_clients
        if not 0 < p.eval_clients < n:
            raise ConfigError(f"config.population.eval_clients={p.eval_clients} must be in [1, num_clients={n})")
        if not 0 < config.cohort <= n - p.eval_clients:
            raise ConfigError(f"config.cohort={config.cohort} must be in [1, {n - p.eval_clients}] "
                              f"(num_clients - eval_clients: the clients that train)")
    config_lib.positive(config, "cohort")
    precision.policy(config)
    config_lib.steps(config, "total")
    runner.local_config(config)
    runner.server_optimizer(config)
    runner.mesh(config)
    engine.get_rule(config.aggregator)


def load_population(config) -> population.Population:
    p = config.population
    if p.kind == "folder":
        return population.load(p.path)
    return population.synthetic_cached(num_clients=p.num_clients, seed=p.data_seed, alpha=p.alpha, beta=p.beta,
                                       dim=p.dim, num_classes=p.num_classes, min_samples=p.min_samples,
                                       max_samples=p.max_samples, spread=p.spread)


def held_out(pop: population.Population, num_eval: int) -> tuple[np.ndarray, np.ndarray]:
    """The samples of the last `num_eval` clients (never drawn into a cohort) as a test set."""
    lo = int(pop.offsets[pop.num_clients - num_eval])
    return np.asarray(pop.x[lo:]), np.asarray(pop.y[lo:], np.int32)


def with_client_stats(local_update):
    """Wraps a local update so each client's state counts its selections and keeps its last loss."""

    def update(params, pool, client, cstate, key, hparams):
        delta, _, m = local_update(params, pool, client, cstate, key, hparams)
        return delta, {"selected": cstate["selected"] + 1, "last_loss": m["train_loss"]}, m

    return update


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    pop = load_population(config)
    num_eval = config.population.eval_clients
    num_train = pop.num_clients - num_eval
    if not 0 < config.cohort <= num_train:
        raise ConfigError(f"config.cohort={config.cohort} must be in [1, {num_train}] for this population "
                          f"({pop.num_clients} clients, {num_eval} held out)")
    prec = precision.policy(config)
    model = MLP(hidden=tuple(config.model.hidden), num_classes=pop.num_classes, dtype=prec.compute_dtype,
                param_dtype=prec.param_dtype)
    params = model.init(jax.random.fold_in(jax.random.PRNGKey(config.seed), 17), jnp.asarray(pop.x[:1]))["params"]

    def loss_fn(p, xb, yb):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, xb), yb)

    mesh = runner.mesh(config)
    local = runner.local_config(config)
    sim = engine.build(loss_fn=loss_fn, local=local,
                       participation=part_lib.uniform(pop.num_clients, config.cohort),
                       server_opt=runner.server_optimizer(config), aggregator=config.aggregator, mesh=mesh,
                       capacity=config.cohort, local_update=with_client_stats(
                           engine.default_local_update(loss_fn, local, mesh)),
                       client_state_init=lambda p: {"selected": jnp.int32(0), "last_loss": jnp.float32(jnp.nan)})
    feeder = population.CohortFeeder(pop, cohort=config.cohort, capacity=sim.capacity, batch_size=local.batch_size,
                                     seed=config.seed, num_train=num_train, place=lambda d: engine.put_data(sim, d))
    state = engine.init(sim, params, seed=config.seed, host_clients=True)
    x_test, y_test = held_out(pop, num_eval)
    task = tasks.Task(None, x_test, y_test, None, pop.num_classes, model, params, loss_fn)
    evaluate = tasks.make_eval(task, config.eval_batch_size)
    final = runner.run_population(config, workdir, sim, feeder, state, evaluate,
                                  desc=f"fedavg/{pop.num_clients} clients/cohort {config.cohort}")
    final["population"] = pop.num_clients
    return final
