"""FedAvg-M / SCAFFOLD-M on lib.fl: task, participation, the method's local update and strategy,
lib.train loop (checkpoints, resume, evaluation)."""

from __future__ import annotations

from lib import config as config_lib
from lib.fl import engine, runner, scaffold, tasks
from projects.fedavg_momentum import momentum


def validate(config) -> None:
    tasks.validate(config)
    momentum.check(config.method, config.beta)
    local = runner.local_config(config)
    scaffold.check_local(local, config.method)
    config_lib.steps(config, "total")
    runner.server_optimizer(config)
    runner.mesh(config)


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    task = tasks.load_task(config)
    local = runner.local_config(config)
    mesh = runner.mesh(config)
    sim = engine.build(loss_fn=task.loss_fn, local=local, participation=runner.participation(config, task.label_counts),
                       server_opt=runner.server_optimizer(config), aggregator="fedavg",
                       strategy=momentum.strategy(config.method, config.num_clients, local.num_steps),
                       local_update=momentum.local_update(config.method, config.beta, task.loss_fn, local, mesh),
                       client_state_init=momentum.client_state_init(config.method),
                       capacity=config.capacity or None, mesh=mesh)
    state = engine.init(sim, task.params, seed=config.seed)
    return runner.run(config, workdir, sim, task.data, state, tasks.make_eval(task, config.eval_batch_size),
                      desc=f"{config.method}/beta{config.beta}")
