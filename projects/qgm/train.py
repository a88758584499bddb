"""QG-DSGDm(-N) vs DSGD and DSGDm-N on lib.dl: task, topology, node optimizer, lib.train loop."""

from __future__ import annotations

from lib import config as config_lib
from lib.config import ConfigError
from lib.dl import engine
from projects.qgm import qgm


def validate(config, graph: bool = True) -> int:
    """Every key, named errors, before anything is compiled (graph=False: all but the mixing matrix,
    which train_and_evaluate checks once the data are known to hold a sample for every node).
    Returns the number of rounds."""
    engine.validate(config)
    engine.validate_task(config)
    config_lib.choice(config, "method", qgm.METHODS)
    config_lib.in_range(config, "momentum", 0.0, 0.999)
    config_lib.positive(config, "weight_decay", allow_zero=True)
    config_lib.positive(config, "warmup_rounds", allow_zero=True)
    for f in config.lr_decay_at:
        if not 0 < f < 1:
            raise ConfigError(f"config.lr_decay_at={tuple(config.lr_decay_at)!r}: fractions of the run in (0, 1)")
    total = config_lib.steps(config, "total")
    qgm.method(config.method, config.momentum, config.weight_decay)
    engine.mesh(config)
    if graph:
        engine.mixing_matrix(config)  # disconnected graph / not doubly stochastic: named error now
    return total


def lr_schedule(config, total: int):
    """The paper's recipe: linear warm-up over `warmup_rounds`, x0.1 at each fraction of `lr_decay_at`."""
    base, warm = float(config.local.lr), int(config.warmup_rounds)
    marks = [int(f * total) for f in config.lr_decay_at]

    def lr(rnd: int) -> dict:
        v = base * min(1.0, (rnd + 1) / warm) if warm else base
        return {"lr": v * 0.1 ** sum(rnd >= m for m in marks)}

    return lr


def train_and_evaluate(config, workdir: str) -> dict:
    total = validate(config, graph=False)
    task = engine.load_task(config)  # more nodes than samples: TooManyNodesError
    method = qgm.method(config.method, config.momentum, config.weight_decay)
    eng = engine.build_from_config(config, task, method, w=engine.mixing_matrix(config))
    evaluate = engine.make_eval(task.model, task.x_test, task.y_test, config.eval_batch_size,
                                per_node=config.get("eval_nodes", True))
    return engine.run(config, workdir, eng, task.data, task.params, evaluate, lr_schedule(config, total),
                      desc=f"qgm/{config.method}/{config.topology}")
