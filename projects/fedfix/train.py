"""FedFix (Fraboni et al.) and its baselines on the virtual clock: task from lib.fl.tasks, the
schedule and batched client updates from lib.fl.clock, the loop from lib.train.

The schedules (config.clock.schedule) are lib's: `fedfix` (aggregate every dt the clients that
arrived, weights ceil(tau_i/dt) p_i), `sync` (FedAvg), `fedasync` (Xie et al.'s mixing) and
`fedbuff` (c arrivals; c = 1 is Fraboni et al.'s asynchronous FedAvg with d_i = 1)."""

from __future__ import annotations

from lib.fl import tasks
from lib.fl.clock import run as clock_run


def validate(config) -> None:
    clock_run.validate_run(config)


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)  # named errors before any data is read or anything compiled
    task = tasks.load_task(config)
    return clock_run.run(config, workdir, task, tasks.make_eval(task, config.eval_batch_size),
                         desc=f"fedfix/{config.clock.schedule}")
