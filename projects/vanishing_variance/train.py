"""Gossip learning (lib.dl.gossip_learning) with plain or variance-corrected averaging, and the FL
reference (lib.dl.sampled with a fixed server), on lib.fl.tasks' node data.

`accuracy` is the mean over nodes of each node's own model's test accuracy (gossip) or the
server model's (fl); `weight_std_*` is the per-layer weight std of node 0's model, which shows
the variance collapse (or its absence) as training goes.
"""

from __future__ import annotations

import jax
import numpy as np

from lib import config as config_lib
from lib import train as train_lib
from lib.config import ConfigError
from lib.dl import engine, gossip_learning, sampled
from projects.vanishing_variance import correction

METHODS = ("gossip", "fl")
MERGES = {"average": gossip_learning.average, "corrected": correction.corrected_average}


def validate(config) -> int:
    """Named errors before any data is read or anything compiled. Returns the rounds."""
    config_lib.choice(config, "method", METHODS)
    config_lib.choice(config, "merge", tuple(MERGES))
    if not isinstance(config.independent_init, bool):
        raise ConfigError(f"config.independent_init={config.independent_init!r} must be a bool")
    config_lib.integer(config, "num_nodes", 2, "gossip needs a peer")
    engine.validate_task(config)
    config_lib.positive(config, "local.lr")
    for k in ("local.batch_size", "local.num_steps"):
        config_lib.integer(config, k, 1)
    config_lib.integer(config, "test_subset", 0, "0: the whole test set")
    if config.method == "fl":
        if config.merge != "average" or config.independent_init:
            raise ConfigError("config.method='fl' has one server model: use merge='average', independent_init=False")
        _sampler(config)
    return config_lib.steps(config, "total")


def _sampler(config):
    return sampled.build_sampler(num_nodes=config.num_nodes, sample_size=config.sample_size, seed=config.seed,
                                 fixed_server=True)


def _eval(task, config, per_node: bool):
    xt, yt = task.x_test, task.y_test
    if config.test_subset and config.test_subset < len(yt):
        keep = np.sort(np.random.default_rng([config.seed, 11]).choice(len(yt), config.test_subset, replace=False))
        xt, yt = xt[keep], yt[keep]
    ev = engine.make_eval(task.model, xt, yt, config.eval_batch_size, per_node=per_node)

    def evaluate(nodes_params):
        out = ev(nodes_params)
        stds = correction.layer_stds(jax.tree.map(lambda a: a[0], nodes_params))
        out.update({f"weight_std{k.replace('[', '_').replace(']', '').replace(chr(39), '')}": v
                    for k, v in stds.items() if "kernel" in k})
        return {**out, "accuracy": out["node_accuracy_mean" if per_node else "test_accuracy"]}

    return evaluate


def train_and_evaluate(config, workdir: str) -> dict:
    total = validate(config)
    task = engine.load_task(config)
    local = engine.local_config(config)
    lr = float(config.local.lr)
    hparams = lambda rnd: {"lr": lr}  # noqa: E731
    desc = f"vanishing_variance/{config.method}/{config.merge}"
    if config.method == "fl":
        smp = _sampler(config)
        step = sampled.make_step(smp, task.loss_fn, local, task.data, task.params, hparams, config.node_batch)
        ev = _eval(task, config, per_node=False)
        return train_lib.run(config, workdir, state=sampled.init(smp, task.params), step_fn=step, num_steps=total,
                             eval_fn=lambda st: ev(jax.tree.map(lambda a: a[None], st["model"])), desc=desc)
    x0 = task.data.x[:1]
    params_fn = lambda k: task.model.init(k, x0)["params"]  # noqa: E731  the task's model, any key
    state = gossip_learning.init(params_fn, config.num_nodes, config.seed, independent=config.independent_init)
    step = gossip_learning.make_step(task.loss_fn, local, task.data, task.params, hparams,
                                     merge=MERGES[config.merge], node_batch=config.node_batch)
    ev = _eval(task, config, per_node=True)
    return train_lib.run(config, workdir, state=state, step_fn=step, num_steps=total,
                         eval_fn=lambda st: ev(st["nodes"]), desc=desc)
