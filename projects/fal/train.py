"""Federated adversarial learning on lib.fl: clients minimise the PGD loss of their own data,
FedAvg on the server; clean / FGSM / PGD test accuracy. `config.adv.train=False` is plain FedAvg
on the same task (evaluated under the same attacks)."""

from __future__ import annotations

from lib import config as config_lib
from lib.fl import engine, runner, tasks
from projects.fal import adversarial


def _range(config):
    lo, hi = config.adv.input_range if config.adv.input_range else (-float("inf"), float("inf"))
    return float(lo), float(hi)


def validate(config) -> None:
    tasks.validate(config)
    a = config.adv
    adversarial.check(a.eps, a.alpha, a.steps)
    lo, hi = _range(config)
    if not lo < hi:
        raise config_lib.ConfigError(f"config.adv.input_range={tuple(a.input_range)} must be (low, high) with low < high")
    config_lib.steps(config, "total")
    runner.local_config(config)
    runner.server_optimizer(config)
    runner.mesh(config)


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    task = tasks.load_task(config)
    a = config.adv
    lo, hi = _range(config)
    loss = task.loss_fn
    if a.train:
        loss = adversarial.adversarial_loss(task.loss_fn, eps=a.eps, alpha=a.alpha, steps=a.steps, lo=lo, hi=hi,
                                            seed=config.seed)
    sim = engine.build(loss_fn=loss, local=runner.local_config(config),
                       participation=runner.participation(config, task.label_counts),
                       server_opt=runner.server_optimizer(config), aggregator="fedavg",
                       capacity=config.capacity or None, mesh=runner.mesh(config))
    state = engine.init(sim, task.params, seed=config.seed)
    evaluate = adversarial.make_robust_eval(task.model, task.x_test, task.y_test, task.loss_fn, eps=a.eps,
                                            alpha=a.alpha, steps=a.eval_steps, lo=lo, hi=hi,
                                            batch_size=config.eval_batch_size, seed=config.seed)
    return runner.run(config, workdir, sim, task.data, state, evaluate,
                      desc=f"fal/{'adv' if a.train else 'clean'}/eps{a.eps}")
