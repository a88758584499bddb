"""FedStale on lib.fl: task, participation, engine with the FedStale strategy, lib.train loop."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from lib import config as config_lib
from lib.fl import engine, participation as part_lib, runner, tasks
from projects.fedstale import hetero, stale


def validate(config) -> None:
    tasks.validate(config)
    config_lib.in_range(config, "beta", 0.0, 1.0)
    config_lib.choice(config, "probs", stale.PROBS)
    config_lib.choice(config, "memory_dtype", ("float32", "bfloat16"))
    config_lib.choice(config, "participation", ("uniform", "bernoulli", "markov", "cyclic"))
    config_lib.steps(config, "total")
    runner.local_config(config)
    runner.server_optimizer(config)
    runner.mesh(config)
    engine.get_rule(config.aggregator)  # unknown rule: named error before any data or compile
    hetero.swapped_clients(config.num_clients, config.get("label_swap", 0.0), config.seed)
    if config.get("participation_groups"):
        hetero.group_probs(config.num_clients, config.participation_groups, config.seed)
        if config.participation == "uniform":
            raise config_lib.ConfigError("config.participation_groups needs a per-client participation model "
                                         "(bernoulli | markov | cyclic), not 'uniform'")


def participation(config, label_counts):
    """runner.participation, or the paper's groups (config.participation_groups, e.g. (1.0, 0.5))."""
    if not config.get("participation_groups"):
        return runner.participation(config, label_counts)
    probs = hetero.group_probs(config.num_clients, config.participation_groups, config.seed)
    return part_lib.make(config.participation, config.num_clients, probs=probs,
                         period=config.get("cyclic_period", 100),
                         max_to_active=config.get("markov_max_to_active", 0.05))


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    task = tasks.load_task(config)
    data = task.data
    if config.get("label_swap", 0.0) > 0:
        swapped = hetero.swapped_clients(config.num_clients, config.label_swap, config.seed)
        data = hetero.swap_client_labels(data, swapped, task.num_classes)
    part = participation(config, task.label_counts)
    strat = stale.strategy(config.beta, np.asarray(task.data.num_samples), probs=part.probs,
                           prob_source=config.probs, memory_dtype=jnp.dtype(config.memory_dtype))
    sim = engine.build(loss_fn=task.loss_fn, local=runner.local_config(config), participation=part,
                       server_opt=runner.server_optimizer(config), aggregator=config.aggregator,
                       strategy=strat, capacity=config.capacity or None, mesh=runner.mesh(config))
    state = engine.init(sim, task.params, seed=config.seed)
    return runner.run(config, workdir, sim, data, state, tasks.make_eval(task, config.eval_batch_size),
                      desc=f"fedstale/beta{config.beta}")
