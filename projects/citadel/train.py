"""Federated training whose aggregator sees only zero-sum masked updates (Citadel, SoCC 2021).

Citadel runs each data owner's training inside an enclave and lets the model owner's
aggregator see only masked updates whose masks sum to zero, optionally through a tree of
group aggregators. What is reproducible without SGX is the aggregation itself: the masked
sums decode to exactly the plain sum, and the masking costs little per round. The run:

- the task (lib.fl.tasks: data, partition, model) and local SGD of every participant;
- aggregation `secure_fedavg` (lib.fl.secagg): fixed-point encoding, pairwise zero-sum masks
  within each group (`secagg.groups` > 1: hierarchical), group sums masked again among the
  groups, `secagg.dropouts` clients per round leaving after masking and their masks
  recovered; or `fedavg` for the plain baseline on the same seed;
- the lib.train loop (checkpoints, resume, evaluation) through lib.fl.runner.
"""

from __future__ import annotations

from lib import config as config_lib
from lib.fl import aggregate, engine, runner, tasks

AGGREGATORS = ("secure_fedavg", "fedavg")


def rule_params(config) -> dict:
    return dict(config.secagg) if config.aggregator == "secure_fedavg" else {}


def validate(config) -> None:
    tasks.validate(config)
    config_lib.choice(config, "aggregator", AGGREGATORS)
    config_lib.steps(config, "total")
    runner.local_config(config)
    runner.server_optimizer(config)
    runner.mesh(config)
    # against every client slot here; engine.build checks again against the round's capacity
    aggregate.validate(config.aggregator, config.capacity or config.num_clients, **rule_params(config))


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    task = tasks.load_task(config)
    part = runner.participation(config, task.label_counts)
    sim = engine.build(loss_fn=task.loss_fn, local=runner.local_config(config), participation=part,
                       server_opt=runner.server_optimizer(config), aggregator=config.aggregator,
                       rule_params=rule_params(config), capacity=config.capacity or None,
                       mesh=runner.mesh(config))
    state = engine.init(sim, task.params, seed=config.seed)
    return runner.run(config, workdir, sim, task.data, state, tasks.make_eval(task, config.eval_batch_size),
                      desc=f"citadel/{config.aggregator}")
