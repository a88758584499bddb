"""The graph a project's `config.dataset` names: 'csbm' (a contextual SBM generated from
`config.csbm`), 'random' (a generated large graph from `config.random`), or a Planetoid set
('cora', 'citeseer') read from `<data root>/planetoid`."""

from __future__ import annotations

from lib import config as config_lib
from lib.data import planetoid
from lib.graph.synthetic import csbm, random_graph


def load(config):
    if config.dataset == "csbm":
        return csbm(**config.csbm.to_dict())
    if config.dataset == "random":
        return random_graph(**config.random.to_dict())
    return planetoid.load(config.dataset, f"{config_lib.data_dir(config)}/planetoid")
