"""Tiny backdoor run on FedProx Synthetic(1, 1) (generated, ships with the code) with 64
features read as 8x8 images: tests and demo. 10 % of 20 clients are attackers; they stamp a
2x2 trigger on half of each batch, relabel it to class 0 and boost their delta 3x.

python -m projects.backdoor_heterogeneity.main --config=configs/backdoor_heterogeneity/default.py --workdir=runs/bd_demo
"""

from ml_collections import ConfigDict, config_dict

from lib.fl import tasks


def get_config(arg=None):
    c = tasks.default_config("backdoor_heterogeneity")
    c.synthetic_dim = 64  # 8x8 "images" for the trigger
    c.num_clients = 20
    c.clients_per_round = 10
    c.partition = "natural"  # natural | iid | dirichlet | shards (dirichlet_alpha: the heterogeneity)
    c.aggregator = "fedavg"  # any rule of lib.fl.aggregate; its f is set from byzantine_fraction
    c.rule_params = ConfigDict({}, type_safe=False)
    c.byzantine_fraction = 0.1  # the attackers, chosen once per run from the seed
    c.attacker_data = "own"  # own | iid (the attacker's data distribution)
    c.backdoor = ConfigDict({
        "trigger": {"row": 0, "col": 0, "size": 2, "value": 3.0},  # size x size block set to value
        "target": 0,
        "poison_fraction": 0.5,  # of every batch an attacker draws
        "boost": 3.0,  # 1: none; 0: model replacement n / eta
        "disguise_norm": 0.0,  # 0: none; else the sent delta is scaled down to this L2 norm
        "start_round": 0, "end_round": -1, "every": 1,  # attack window (end < 0: to the end)
    })
    c.total = 6
    c.log_every = 2
    c.eval_every = 3
    c.checkpoint_every = 3
    c.init_from = config_dict.placeholder(str)
    return c
