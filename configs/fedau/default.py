"""Tiny FedAU run on FedProx Synthetic(1, 1) (generated, ships with the code): tests and demo.

python -m projects.fedau.main --config=configs/fedau/default.py --workdir=runs/fedau_demo
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "fedau"
    c.seed = 0
    c.dataset = "synthetic"  # synthetic | mnist | femnist
    c.data_dir = config_dict.placeholder(str)
    c.num_clients = 24
    c.partition = "natural"  # natural | iid | dirichlet | shards
    c.dirichlet_alpha = 0.1
    c.synthetic_alpha, c.synthetic_beta = 1.0, 1.0
    c.model = ConfigDict({"name": "mlp", "hidden": (32,)})

    c.weighting = "fedau"  # fedau | participating | all | known_prob
    c.fedau_cutoff = 100000  # K; FedAU's default (~infinity); README alternative 50
    c.participation = "bernoulli"  # bernoulli | markov | cyclic (p_n: FedAU's data-correlated recipe)
    c.participation_alpha = 0.1
    c.participation_floor = 0.02
    c.markov_max_to_active = 0.05
    c.cyclic_period = 100
    c.capacity = 0  # client slots per round; 0 = mean + 6 sd of the participation count

    c.local = ConfigDict({"batch_size": 16, "mode": "steps", "num_steps": 5, "num_epochs": 1,
                          "optimizer": "sgd", "momentum": 0.0, "lr": 0.05, "prox_mu": 0.0})
    c.server = ConfigDict({"optimizer": "sgd", "lr": 1.0})
    c.aggregator = "fedavg"
    c.mesh = (("clients", -1),)
    c.param_dtype = "float32"  # master weights and optimizer state
    c.compute_dtype = "float32"  # float32 | bfloat16 (activations and matmuls; losses stay float32)

    c.total = 20  # rounds
    c.eval_batch_size = 1000
    c.log_every = 5
    c.eval_every = 10
    c.checkpoint_every = 10
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
