"""FedCompass (Li et al., ICLR 2024) and its baselines on the virtual clock: task from
lib.fl.tasks, the schedule (lib.fl.clock's `fedcompass`: speed-aware local steps and arrival
groups) and batched client updates from lib.fl.clock, the loop from lib.train."""

from __future__ import annotations

from lib.fl import tasks
from lib.fl.clock import run as clock_run


def validate(config) -> None:
    clock_run.validate_run(config)


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)  # named errors before any data is read or anything compiled
    task = tasks.load_task(config)
    return clock_run.run(config, workdir, task, tasks.make_eval(task, config.eval_batch_size),
                         desc=f"fedcompass/{config.clock.schedule}/{config.clock.staleness}")
