"""FedAU vs the baselines for unknown participation (projects/fedau/weights.py).

Builds the run from lib pieces: task (data, partition, model) from lib.fl.tasks, the
participation model and its heterogeneous, data-correlated p_n from lib.fl.participation,
the round engine from lib.fl.engine with this project's weighting strategy, the loop
(checkpoint, resume, eval) from lib.train.
"""

from __future__ import annotations

from lib import config as config_lib
from lib.fl import engine, runner, tasks
from projects.fedau import weights


def validate(config) -> None:
    tasks.validate(config)
    config_lib.choice(config, "weighting", weights.METHODS)
    config_lib.choice(config, "participation", ("uniform", "bernoulli", "markov", "cyclic"))
    config_lib.positive(config, "fedau_cutoff")
    config_lib.steps(config, "total")
    runner.local_config(config)
    runner.server_optimizer(config)
    runner.mesh(config)
    engine.get_rule(config.aggregator)  # unknown rule: named error before any data or compile


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    task = tasks.load_task(config)
    part = runner.participation(config, task.label_counts)
    strat = weights.strategy(config.weighting, config.num_clients, probs=part.probs, cutoff=config.fedau_cutoff)
    sim = engine.build(loss_fn=task.loss_fn, local=runner.local_config(config), participation=part,
                       server_opt=runner.server_optimizer(config), aggregator=config.aggregator,
                       strategy=strat, capacity=config.capacity or None, mesh=runner.mesh(config))
    state = engine.init(sim, task.params, seed=config.seed)
    final = runner.run(config, workdir, sim, task.data, state, tasks.make_eval(task, config.eval_batch_size),
                       desc=f"fedau/{config.weighting}/{config.participation}")
    final["mean_participation"] = float(part.probs.mean())
    return final
