"""D-SGD under a communication budget, with an optional single global merge at the end (Zhu et al.,
ICLR 2026). Everything is lib/dl: the node optimizer is plain D-SGD (`engine.dsgd`), the schedule
(every round, budget spread uniformly, budget spent late, ...) and the final merge are
`lib/dl/schedule.py`, run by `engine.run`. The server-based baseline is the same loop on the
complete graph with Metropolis-Hastings weights (W = 11^T / n: every round is an exact average,
i.e. parallel SGD / FedAvg with one local step)."""

from __future__ import annotations

from lib import config as config_lib
from lib.dl import engine, schedule as schedule_lib


def validate(config, graph: bool = True) -> schedule_lib.Schedule:
    """Every key, named errors, before anything is compiled; returns the communication schedule."""
    engine.validate(config)
    engine.validate_task(config)
    config_lib.positive(config, "weight_decay", allow_zero=True)
    total = config_lib.steps(config, "total")
    sched = schedule_lib.from_config(config, total)
    engine.mesh(config)
    if graph:
        engine.mixing_matrix(config)  # disconnected graph / not doubly stochastic: named error now
    return sched


def train_and_evaluate(config, workdir: str) -> dict:
    sched = validate(config, graph=False)
    task = engine.load_task(config)  # more nodes than samples: TooManyNodesError
    method = engine.dsgd(weight_decay=config.weight_decay)
    eng = engine.build_from_config(config, task, method, w=engine.mixing_matrix(config))
    evaluate = engine.make_eval(task.model, task.x_test, task.y_test, config.eval_batch_size, per_node=True)
    lr = float(config.local.lr)
    return engine.run(config, workdir, eng, task.data, task.params, evaluate, lambda rnd: {"lr": lr},
                      desc=f"single_merge/{config.schedule.kind}/{config.topology}", schedule=sched)
