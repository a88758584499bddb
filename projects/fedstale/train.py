"""FedStale on lib.fl: task, participation, engine with the FedStale strategy, lib.train loop."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from lib import config as config_lib
from lib.fl import engine, runner, tasks
from projects.fedstale import stale


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


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    task = tasks.load_task(config)
    part = runner.participation(config, task.label_counts)
    strat = stale.strategy(config.beta, np.asarray(task.data.num_samples), probs=part.probs,
                           prob_source=config.probs, memory_dtype=jnp.dtype(config.memory_dtype))
    sim = engine.build(loss_fn=task.loss_fn, local=runner.local_config(config), participation=part,
                       server_opt=runner.server_optimizer(config), aggregator=config.aggregator,
                       strategy=strat, capacity=config.capacity or None, mesh=runner.mesh(config))
    state = engine.init(sim, task.params, seed=config.seed)
    return runner.run(config, workdir, sim, task.data, state, tasks.make_eval(task, config.eval_batch_size),
                      desc=f"fedstale/beta{config.beta}")
