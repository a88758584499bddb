"""One robustness run: a rule (lib.fl.aggregate, incl. Flag) under an attack (lib.fl.attacks).

Built from lib pieces like every FL project: task (data, partition, model) from lib.fl.tasks,
participation, engine and the lib.train loop from lib.fl.runner. What is specific here:
the Byzantine clients (chosen once per run from the seed), the attack (update level inside
the round, or label flipping applied to the Byzantine clients' data), and the rule's f.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from lib import config as config_lib
from lib.fl import aggregate, attacks, client as client_lib, engine, runner, tasks

_BYZ_STREAM = 7919  # fold_in purpose for choosing the Byzantine clients


def byzantine_count(config) -> int:
    return int(math.floor(config.byzantine_fraction * config.num_clients + 1e-9))


# the threat model's config keys, shared with every robustness project
per_round, attack_params, rule_params = runner.byzantine_per_round, runner.attack_params, runner.rule_params


def validate(config) -> None:
    """Named errors before any data load or compile."""
    tasks.validate(config)
    config_lib.choice(config, "participation", ("uniform", "bernoulli", "markov", "cyclic"))
    config_lib.steps(config, "total")
    runner.local_config(config)
    runner.server_optimizer(config)
    if not 0 <= config.byzantine_fraction < 0.5:
        raise config_lib.ConfigError(f"config.byzantine_fraction={config.byzantine_fraction} must be in [0, 0.5)")
    n, f = per_round(config)
    if config.attack != "none":
        attacks.validate(config.attack, **attack_params(config))
    elif config.byzantine_fraction > 0:
        raise config_lib.ConfigError("config.byzantine_fraction > 0 needs config.attack != 'none'")
    aggregate.validate(config.aggregator, n, byzantine=f, **rule_params(config))


def byzantine_mask(config) -> np.ndarray:
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _BYZ_STREAM)
    return np.asarray(attacks.choose_byzantine(key, config.num_clients, config.byzantine_fraction))


def flip_client_labels(data: client_lib.ClientData, byz: np.ndarray, num_classes: int) -> client_lib.ClientData:
    """Label flipping: y -> C - 1 - y on every sample of a Byzantine client."""
    y = np.array(data.y)
    idx = np.asarray(data.index)
    ns = np.asarray(data.num_samples)
    for c in np.flatnonzero(byz):
        rows = idx[c, : ns[c]]
        y[rows] = np.asarray(attacks.flip_labels(y[rows], num_classes))
    return data._replace(y=y)


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    task = tasks.load_task(config)
    byz = byzantine_mask(config)
    data = task.data
    update_attack = config.attack not in ("none", "label_flip")
    if config.attack == "label_flip":
        data = flip_client_labels(data, byz, task.num_classes)
    part = runner.participation(config, task.label_counts)
    sim = engine.build(
        loss_fn=task.loss_fn, local=runner.local_config(config), participation=part,
        server_opt=runner.server_optimizer(config), aggregator=config.aggregator,
        rule_params=rule_params(config),
        attack=config.attack if update_attack else "none",
        attack_params=attack_params(config) if update_attack else None,
        byzantine=byz if update_attack else None,
        capacity=config.capacity or None, mesh=runner.mesh(config),
        stop_on_nonfinite=not aggregate.is_robust(config.aggregator))
    state = engine.init(sim, task.params, seed=config.seed)
    final = runner.run(config, workdir, sim, data, state, tasks.make_eval(task, config.eval_batch_size),
                       desc=f"flag/{config.aggregator}/{config.attack}/{config.byzantine_fraction}")
    final["byzantine_clients"] = int(byz.sum())
    return final
