"""Tiny FRL run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo.
Every client takes part every round; floor(byzantine_fraction N) of them are malicious.

python -m projects.frl.main --config=configs/frl/default.py --workdir=runs/frl
"""

from ml_collections import ConfigDict

from lib.fl.tasks import default_config


def get_config(arg=None):
    c = default_config("frl")
    del c["aggregator"]  # from the method
    c.method = "frl"  # frl | fedavg | trimmed_mean | multi_krum
    c.frl = ConfigDict({"sparsity": 0.5,  # pruned fraction of each layer's edges, in (0, 1)
                        "mask": "abs"})  # abs: keep the top |score| (the authors' code) | value: top score
    c.byzantine_fraction = 0.0  # malicious clients (fixed per run), in [0, 0.5)
    # baselines' attack (lib.fl.attacks) and rule parameters (f filled from the fraction;
    # trimmed_mean's beta defaults to max(0.1, byzantine_fraction))
    c.attack = "min_max"
    c.attack_params = ConfigDict({"perturbation": "unit"}, type_safe=False)
    c.rule_params = ConfigDict({}, type_safe=False)
    c.num_clients = 10
    c.clients_per_round = 10
    c.model.hidden = (32,)
    c.local.momentum = 0.9
    c.local.lr = 0.1
    c.total = 10
    c.log_every = 5
    c.eval_every = 5
    c.checkpoint_every = 5
    return c
