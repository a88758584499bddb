"""Tiny FedAMD run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo.

python -m projects.fedamd.main --config=configs/fedamd/default.py --workdir=runs/fedamd
"""

from lib.fl.tasks import default_config


def get_config(arg=None):
    c = default_config("fedamd")
    del c["aggregator"]  # always the uniform mean of the miners' deltas
    c.method = "fedamd"  # fedamd | fedavg | scaffold (baselines)
    c.anchor_prob = 0.2  # probability that a sampled client is an anchor (refreshes its large-batch gradient)
    return c
