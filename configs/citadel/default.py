"""Tiny secure-aggregation run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo.

python -m projects.citadel.main --config=configs/citadel/default.py --workdir=runs/citadel_demo
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "citadel"
    c.seed = 0
    c.dataset = "synthetic"  # synthetic | mnist | femnist
    c.data_dir = config_dict.placeholder(str)
    c.num_clients = 16
    c.partition = "natural"  # natural | iid | dirichlet | shards
    c.dirichlet_alpha = 0.5
    c.shards_per_client = 2
    c.synthetic_alpha, c.synthetic_beta = 1.0, 1.0
    c.model = ConfigDict({"name": "mlp", "hidden": (32,)})

    c.aggregator = "secure_fedavg"  # secure_fedavg | fedavg (the plain baseline)
    # fixed-point bits, hierarchical groups (1 = flat), clients leaving after masking per round,
    # survivors needed per group to recover their masks (0: a majority of the group), mask partners
    # on each side of a client (0: every other client)
    c.secagg = ConfigDict({"frac_bits": 24, "groups": 2, "dropouts": 0, "threshold": 0, "neighbours": 2})
    c.participation = "uniform"
    c.clients_per_round = 8
    c.participation_prob = 0.5
    c.participation_alpha = 0.1
    c.participation_floor = 0.02
    c.capacity = 0

    c.local = ConfigDict({"batch_size": 16, "mode": "steps", "num_steps": 5, "num_epochs": 1,
                          "optimizer": "sgd", "momentum": 0.0, "lr": 0.05, "prox_mu": 0.0})
    c.server = ConfigDict({"optimizer": "sgd", "lr": 1.0})
    c.mesh = (("clients", -1),)
    c.param_dtype = "float32"
    c.compute_dtype = "float32"

    c.total = 20
    c.eval_batch_size = 1000
    c.log_every = 5
    c.eval_every = 10
    c.checkpoint_every = 10
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
