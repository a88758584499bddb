"""Tiny federated adversarial training run on FedProx Synthetic(1, 1) (generated, ships with the code).

python -m projects.fal.main --config=configs/fal/default.py --workdir=runs/fal
"""

from ml_collections import ConfigDict

from lib.fl.tasks import default_config


def get_config(arg=None):
    c = default_config("fal")
    del c["aggregator"]  # FedAvg
    # adversarial training: PGD (L-inf ball of radius eps, steps of size alpha) on every local batch;
    # train=False: plain FedAvg, evaluated under the same attacks. input_range: () = unbounded inputs
    c.adv = ConfigDict({"train": True, "eps": 0.3, "alpha": 0.1, "steps": 5, "eval_steps": 10,
                        "input_range": ()})
    return c
