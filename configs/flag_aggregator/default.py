"""Tiny Byzantine-robust FL run on FedProx Synthetic(1, 1) (generated, ships with the code):
tests and demo. Every round all `num_clients` clients take part; floor(byzantine_fraction N)
of them, chosen once per run from `seed`, are Byzantine and run `attack`.

python -m projects.flag_aggregator.main --config=configs/flag_aggregator/default.py --workdir=runs/flag_demo
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "flag_aggregator"
    c.seed = 0
    c.dataset = "synthetic"  # synthetic | mnist | femnist
    c.data_dir = config_dict.placeholder(str)
    c.num_clients = 16
    c.partition = "natural"  # natural | iid | dirichlet | shards
    c.dirichlet_alpha = 0.5
    c.synthetic_alpha, c.synthetic_beta = 1.0, 1.0
    c.model = ConfigDict({"name": "mlp", "hidden": (32,)})

    # aggregation rule (lib.fl.aggregate) and its parameters; f is filled from the fraction
    c.aggregator = "flag"
    c.rule_params = ConfigDict({"m": 2, "lam": 0.0}, type_safe=False)
    # attack (lib.fl.attacks): none | sign_flip | gaussian | alie | ipm | label_flip
    c.attack = "sign_flip"
    c.attack_params = ConfigDict({}, type_safe=False)
    c.byzantine_fraction = 0.25

    c.participation = "uniform"
    c.clients_per_round = 16  # full participation: f per round is exact
    c.capacity = 0
    c.local = ConfigDict({"batch_size": 16, "mode": "steps", "num_steps": 5, "num_epochs": 1,
                          "optimizer": "sgd", "momentum": 0.0, "lr": 0.05, "prox_mu": 0.0})
    c.server = ConfigDict({"optimizer": "sgd", "lr": 1.0})
    c.mesh = (("clients", -1),)
    c.param_dtype = "float32"  # master weights and optimizer state
    c.compute_dtype = "float32"  # float32 | bfloat16 (activations and matmuls; losses stay float32)

    c.total = 10  # rounds
    c.eval_batch_size = 1000
    c.log_every = 5
    c.eval_every = 5
    c.checkpoint_every = 5
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
