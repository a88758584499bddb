"""DFedSAM(-MGS) vs D-PSGD, DFedAvg(M) on lib.dl, and centralized FedAvg on lib.fl as the reference.

Both kinds of run read the same task keys, so with the same seed every method sees the same
client split (lib.fl.tasks: one client per node) and the same initial model.
"""

from __future__ import annotations

import ml_collections

from lib import config as config_lib
from lib.config import ConfigError
from lib.dl import engine, gossip
from lib.fl import client as client_lib
from lib.fl import engine as fl_engine
from lib.fl import runner, tasks
from lib.optim import sam
from projects.dfedsam import dfedsam


def fl_config(config) -> ml_collections.ConfigDict:
    """The FedAvg reference as lib.fl.runner reads it: the same keys, one client per node, every client
    in every round, K plain SGD steps, server SGD with lr 1 (the plain average), mesh axis 'clients'."""
    c = ml_collections.ConfigDict(config.to_dict())
    c.num_clients = config.num_nodes
    c.participation, c.clients_per_round, c.capacity = "uniform", config.num_nodes, 0
    c.local.mode, c.local.optimizer, c.local.momentum, c.local.num_epochs = "steps", "sgd", 0.0, 1
    c.server = ml_collections.ConfigDict({"optimizer": "sgd", "lr": 1.0})
    c.aggregator = "fedavg"
    c.mesh = tuple(("clients" if a == engine.AXIS else a, s) for a, s in config.mesh)
    return c


def validate(config, graph: bool = True) -> int:
    """Every key, named errors, before anything is compiled (graph=False: all but the mixing matrix,
    which train_and_evaluate checks once the data are known to hold a sample for every node).
    Returns the number of rounds."""
    engine.validate(config)
    engine.validate_task(config)
    config_lib.choice(config, "method", dfedsam.METHODS)
    sam.check_rho(config.rho, "config.rho")
    gossip.check_steps(config.mgs_steps)  # DFedSAM-MGS's Q < 1: GossipStepsError
    config_lib.in_range(config, "momentum", 0.0, 0.999)
    v = config.lr_decay
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
        raise ConfigError(f"config.lr_decay={v!r}: the per-round lr factor must be in (0, 1]")
    total = config_lib.steps(config, "total")
    if config.method == "fedavg":
        if v != 1:
            raise ConfigError(f"config.lr_decay={v!r}: the FedAvg reference (lib.fl.runner) trains at a constant lr; "
                              "use lr_decay=1")
        flc = fl_config(config)
        runner.local_config(flc)
        runner.mesh(flc)
        return total
    engine.mesh(config)
    if graph:
        engine.mixing_matrix(config)  # disconnected graph / not doubly stochastic: named error now
    return total


def _decentralized(config, workdir: str, total: int) -> dict:
    task = engine.load_task(config)  # more nodes than samples: TooManyNodesError
    name = config.method
    local = client_lib.LocalConfig(batch_size=int(config.local.batch_size), mode="steps",
                                   num_steps=dfedsam.local_steps(name, config.local.num_steps), optimizer="sgd")
    eng = engine.build(loss_fn=task.loss_fn, local=local,
                       method=dfedsam.method(name, rho=config.rho, momentum=config.momentum),
                       w=engine.mixing_matrix(config), mesh=engine.mesh(config), gossip=config.gossip.kind,
                       gossip_steps=dfedsam.gossip_steps(name, config.gossip.steps, config.mgs_steps),
                       node_batch=config.get("node_batch", "auto"))
    evaluate = engine.make_eval(task.model, task.x_test, task.y_test, config.eval_batch_size,
                                per_node=config.get("eval_nodes", True))
    lr, decay = float(config.local.lr), float(config.lr_decay)
    return engine.run(config, workdir, eng, task.data, task.params, evaluate,
                      lambda rnd: {"lr": lr * decay ** rnd}, desc=f"dfedsam/{name}/{config.topology}")


def _fedavg(config, workdir: str) -> dict:
    c = fl_config(config)
    task = tasks.load_task(c)
    sim = fl_engine.build(loss_fn=task.loss_fn, local=runner.local_config(c),
                          participation=runner.participation(c, task.label_counts),
                          server_opt=runner.server_optimizer(c), aggregator=c.aggregator, mesh=runner.mesh(c))
    state = fl_engine.init(sim, task.params, seed=c.seed)
    return runner.run(c, workdir, sim, task.data, state, tasks.make_eval(task, c.eval_batch_size), desc="dfedsam/fedavg")


def train_and_evaluate(config, workdir: str) -> dict:
    total = validate(config, graph=False)
    if config.method == "fedavg":
        return _fedavg(config, workdir)
    return _decentralized(config, workdir, total)
