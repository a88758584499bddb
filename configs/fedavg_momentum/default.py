"""Tiny FedAvg-M run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo.

python -m projects.fedavg_momentum.main --config=configs/fedavg_momentum/default.py --workdir=runs/fedavg_m
"""

from lib.fl.tasks import default_config


def get_config(arg=None):
    c = default_config("fedavg_momentum")
    del c["aggregator"]  # always the uniform mean of the round's deltas
    c.method = "fedavg_m"  # fedavg | fedavg_m | scaffold | scaffold_m
    c.beta = 0.2  # weight of the fresh gradient in a local step (1: no momentum)
    return c
