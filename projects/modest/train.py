"""MoDeST vs FL (fixed server), D-PSGD (k-regular graph) and gossip learning, all on lib pieces.

    modest  lib.dl.sampled with lib.dl.sampling's hash-ordered sample, aggregators, success
            fraction, unresponsive nodes and churn
    fl      lib.dl.sampled with a uniform sample and one fixed server (the reference)
    dpsgd   lib.dl.engine (DSGD, no momentum) on a random k-regular graph, Metropolis-Hastings W
    gossip  lib.dl.gossip_learning (synchronous rounds, plain averaging merge)

Every method trains with lib.fl.client's local update (local.num_steps SGD steps of
local.batch_size, constant lr) on the same node data (lib.fl.tasks, one client per node).
Evaluation: `accuracy` is the model's test accuracy (modest, fl) or the mean over nodes of each
node's own model's test accuracy (dpsgd, gossip); bytes are model size x messages.
"""

from __future__ import annotations

import jax
import numpy as np

from lib import config as config_lib
from lib import train as train_lib
from lib.config import ConfigError
from lib.dl import engine, gossip, gossip_learning, sampled, sampling
from lib.dl import topology as topo_lib

METHODS = ("modest", "fl", "dpsgd", "gossip")


def validate(config) -> int:
    """Every key, named errors, before any data is read or anything compiled. Returns the rounds."""
    config_lib.choice(config, "method", METHODS)
    engine.validate(config)
    engine.validate_task(config)
    s = config.sampling
    sampling.check_sampling(config.num_nodes, s.sample_size, s.num_aggregators, s.success_fraction)
    churn = sampling.churn_from_config(config.churn, config.num_nodes)
    bad = sampling.unresponsive_mask(config.num_nodes, config.unresponsive_fraction, config.seed)
    if config.method != "modest" and (bad.any() or churn.kind != "none"):
        raise ConfigError(f"config.method={config.method!r}: unresponsive nodes and churn are modelled for "
                          "method='modest' only; set unresponsive_fraction=0 and churn.kind='none'")
    if config.method == "modest":
        sampler(config)  # the sample against the nodes online at round 0
    config_lib.integer(config, "test_subset", 0, "0: the whole test set")
    if config.method == "dpsgd":
        engine.mesh(config)
        mixing_matrix(config)
    return config_lib.steps(config, "total")


def mixing_matrix(config) -> np.ndarray:
    topo = topo_lib.make(config.topology, config.num_nodes, seed=config.seed, p=config.get("topology_p", 0.3),
                         radius=config.get("topology_radius", 0.4), degree=config.topology_degree)
    return gossip.validated(topo, config.mixing)


def sampler(config) -> sampled.Sampler:
    s = config.sampling
    return sampled.build_sampler(num_nodes=config.num_nodes, sample_size=s.sample_size,
                                 num_aggregators=s.num_aggregators, success_fraction=s.success_fraction,
                                 churn=sampling.churn_from_config(config.churn, config.num_nodes),
                                 unresponsive_fraction=config.unresponsive_fraction, seed=config.seed,
                                 fixed_server=config.method == "fl")


def _eval(task, config, per_node: bool):
    xt, yt = task.x_test, task.y_test
    if config.test_subset and config.test_subset < len(yt):  # a seeded draw (MNIST's first half is easier)
        keep = np.sort(np.random.default_rng([config.seed, 11]).choice(len(yt), config.test_subset, replace=False))
        xt, yt = xt[keep], yt[keep]
    ev = engine.make_eval(task.model, xt, yt, config.eval_batch_size, per_node=per_node)

    def evaluate(nodes_params):
        out = ev(nodes_params)
        return {**out, "accuracy": out["node_accuracy_mean" if per_node else "test_accuracy"]}

    return evaluate


def train_and_evaluate(config, workdir: str) -> dict:
    total = validate(config)
    task = engine.load_task(config)  # more nodes than samples: TooManyNodesError
    local = engine.local_config(config)
    lr = float(config.local.lr)
    hparams = lambda rnd: {"lr": lr}  # noqa: E731  constant, as the paper's runs
    desc = f"modest/{config.method}"
    if config.method in ("modest", "fl"):
        smp = sampler(config)
        step = sampled.make_step(smp, task.loss_fn, local, task.data, task.params, hparams, config.node_batch)
        ev = _eval(task, config, per_node=False)
        return train_lib.run(config, workdir, state=sampled.init(smp, task.params), step_fn=step, num_steps=total,
                             eval_fn=lambda st: ev(jax.tree.map(lambda a: a[None], st["model"])), desc=desc)
    if config.method == "gossip":
        state = gossip_learning.init(lambda _: task.params, config.num_nodes, config.seed, independent=False)
        step = gossip_learning.make_step(task.loss_fn, local, task.data, task.params, hparams,
                                         node_batch=config.node_batch)
        ev = _eval(task, config, per_node=True)
        return train_lib.run(config, workdir, state=state, step_fn=step, num_steps=total,
                             eval_fn=lambda st: ev(st["nodes"]), desc=desc)
    eng = engine.build_from_config(config, task, engine.dsgd(), w=mixing_matrix(config))
    return engine.run(config, workdir, eng, task.data, task.params, _eval(task, config, per_node=True), hparams,
                      desc=desc)
