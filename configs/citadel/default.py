"""Tiny secure-aggregation run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo.

python -m projects.citadel.main --config=configs/citadel/default.py --workdir=runs/citadel_demo
"""

from ml_collections import ConfigDict

from lib.fl.tasks import default_config


def get_config(arg=None):
    c = default_config("citadel")
    c.num_clients = 16
    c.dirichlet_alpha = 0.5
    c.clients_per_round = 8
    c.aggregator = "secure_fedavg"  # secure_fedavg | fedavg (the plain baseline)
    # fixed-point bits, hierarchical groups (1 = flat), clients leaving after masking per round,
    # survivors needed per group to recover their masks (0: a majority of the group), mask partners
    # on each side of a client (0: every other client)
    c.secagg = ConfigDict({"frac_bits": 24, "groups": 2, "dropouts": 0, "threshold": 0, "neighbours": 2})
    return c
