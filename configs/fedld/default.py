"""Tiny FedLD run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo.

python -m projects.fedld.main --config=configs/fedld/default.py --workdir=runs/fedld
"""

from ml_collections import ConfigDict

from lib.fl.tasks import default_config


def get_config(arg=None):
    c = default_config("fedld")
    del c["aggregator"]  # the method's server: equal-weight mean, or FedLD's principal aggregate
    c.method = "fedld"  # fedavg | fedprox (set local.prox_mu > 0) | fedld
    c.fedld = ConfigDict({"lambda_m": 0.1,  # weight of log(1 + ||softmax(Z)||_F^2) (authors' README)
                          "k_proportion": 0.8,  # principal directions kept: floor(0.8 m)
                          "gamma": 0.99,  # history decay (only its zero test matters)
                          "principal": True})  # False: the margin loss with the plain mean (ablation)
    c.num_clients = 10
    c.clients_per_round = 10
    c.local.momentum = 0.5
    c.total = 10
    c.log_every = 5
    c.eval_every = 5
    c.checkpoint_every = 5
    return c
