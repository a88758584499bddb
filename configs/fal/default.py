"""Tiny federated adversarial training run on FedProx Synthetic(1, 1) (generated, ships with the code).

python -m projects.fal.main --config=configs/fal/default.py --workdir=runs/fal
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "fal"
    c.seed = 0
    c.dataset = "synthetic"  # synthetic | mnist | femnist
    c.data_dir = config_dict.placeholder(str)
    c.num_clients = 24
    c.partition = "natural"  # natural | iid | dirichlet | shards
    c.dirichlet_alpha = 0.1
    c.shards_per_client = 2
    c.synthetic_alpha, c.synthetic_beta = 1.0, 1.0
    c.model = ConfigDict({"name": "mlp", "hidden": (32,)})

    # adversarial training: PGD (L-inf ball of radius eps, steps of size alpha) on every local batch;
    # train=False: plain FedAvg, evaluated under the same attacks. input_range: () = unbounded inputs
    c.adv = ConfigDict({"train": True, "eps": 0.3, "alpha": 0.1, "steps": 5, "eval_steps": 10,
                        "input_range": ()})
    c.participation = "uniform"
    c.clients_per_round = 6
    c.participation_prob = 0.5
    c.participation_alpha = 0.1
    c.participation_floor = 0.02
    c.capacity = 0

    c.local = ConfigDict({"batch_size": 16, "mode": "steps", "num_steps": 5, "num_epochs": 1,
                          "optimizer": "sgd", "momentum": 0.0, "lr": 0.05, "prox_mu": 0.0})
    c.server = ConfigDict({"optimizer": "sgd", "lr": 1.0})
    c.mesh = (("clients", -1),)
    c.param_dtype = "float32"  # master weights and optimizer state
    c.compute_dtype = "float32"  # float32 | bfloat16 (activations and matmuls; losses stay float32)

    c.total = 20
    c.eval_batch_size = 1000
    c.log_every = 5
    c.eval_every = 10
    c.checkpoint_every = 10
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
