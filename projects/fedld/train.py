"""FedLD vs FedAvg / FedProx on lib.fl, one config key apart (`config.method`):

    fedavg    plain CE, equal-weight mean of the participants' deltas
    fedprox   CE + mu/2 ||w - w_global||^2 (config.local.prox_mu), the same mean
    fedld     margin-controlled loss (fedld.lambda_m) + principal-gradient aggregation
              (fedld.principal=False: the plain mean, an ablation)

Besides the final accuracy the run reports how stable it is: the mean and spread of the last
`stability_window` evaluations (evaluate every round or few for that)."""

from __future__ import annotations

from lib import config as config_lib
from lib.fl import engine, runner, tasks
from projects.fedld import fedld


def validate(config) -> None:
    tasks.validate(config)
    f = config.fedld
    fedld.check(config.method, f.lambda_m, f.k_proportion, f.gamma, config.local.prox_mu)
    config_lib.steps(config, "total")
    runner.local_config(config)
    runner.server_optimizer(config)
    runner.mesh(config)


def build(config, task):
    local, mesh = runner.local_config(config), runner.mesh(config)
    is_ld = config.method == "fedld"
    principal = is_ld and bool(config.fedld.get("principal", True))
    if is_ld:
        loss = fedld.margin_loss(lambda p, x: task.model.apply({"params": p}, x), float(config.fedld.lambda_m))
        update = engine.default_local_update(loss, local, mesh, batch_transform=fedld.mark_padding)
    else:
        loss, update = task.loss_fn, None
    return engine.build(loss_fn=loss, local=local, participation=runner.participation(config, task.label_counts),
                        server_opt=runner.server_optimizer(config), aggregator="fedavg",
                        strategy=fedld.strategy(float(config.fedld.k_proportion), float(config.fedld.gamma),
                                                principal=principal),
                        local_update=update, capacity=config.capacity or None, mesh=mesh)


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    task = tasks.load_task(config)
    sim = build(config, task)
    state = engine.init(sim, task.params, seed=config.seed)
    return runner.run(config, workdir, sim, task.data, state, tasks.make_eval(task, config.eval_batch_size),
                      desc=f"fedld/{config.method}")
