"""FedAMD on lib.fl: task, uniform client sampling, anchors and miners (anchor.py), lib.train loop.
`config.method='fedavg'` / `'scaffold'` run the baselines (lib.fl.scaffold for SCAFFOLD) on the same task,
seed and sampling."""

from __future__ import annotations

from lib import config as config_lib
from lib.fl import engine, runner, scaffold, tasks
from projects.fedamd import anchor

METHODS = ("fedamd", "fedavg", "scaffold")


def validate(config) -> None:
    tasks.validate(config)
    config_lib.choice(config, "method", METHODS)
    anchor.check(config.anchor_prob)
    config_lib.steps(config, "total")
    local = runner.local_config(config)
    if config.method == "scaffold":
        scaffold.check_local(local)
    runner.server_optimizer(config)
    runner.mesh(config)


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    task = tasks.load_task(config)
    local = runner.local_config(config)
    mesh = runner.mesh(config)
    extra = {}
    if config.method == "fedamd":
        extra = dict(strategy=anchor.strategy(config.num_clients), client_state_init=anchor.client_state_init,
                     local_update=anchor.local_update(task.loss_fn, local, config.anchor_prob, mesh))
    elif config.method == "scaffold":
        extra = dict(strategy=scaffold.strategy(config.num_clients, local.num_steps),
                     client_state_init=scaffold.client_state_init,
                     local_update=scaffold.local_update(task.loss_fn, local, mesh))
    sim = engine.build(loss_fn=task.loss_fn, local=local, participation=runner.participation(config, task.label_counts),
                       server_opt=runner.server_optimizer(config), aggregator="fedavg",
                       capacity=config.capacity or None, mesh=mesh, **extra)
    state = engine.init(sim, task.params, seed=config.seed)
    if config.method == "fedamd":
        state = anchor.with_initial_gradients(state, task.loss_fn, task.data)
    return runner.run(config, workdir, sim, task.data, state, tasks.make_eval(task, config.eval_batch_size),
                      desc=f"{config.method}/p{config.anchor_prob}")
