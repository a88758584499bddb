"""Tiny cross-device FedAvg run: a generated population of 2,000 clients, 20 per round.

python -m projects.fedavg.main --config=configs/fedavg/default.py --workdir=runs/fedavg_demo

The population (FedProx's Synthetic(1, 1), 2-8 samples per client) is generated on first
use into the cache folder ($TESSERA_CACHE_DIR, else ~/.cache/tessera) and reused after.
"""

from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "fedavg"
    c.seed = 0
    # population: "synthetic" (generated from the keys below) or "folder" (population.path)
    c.population = ConfigDict({"kind": "synthetic", "path": config_dict.placeholder(str),
                               "num_clients": 2000, "eval_clients": 200, "min_samples": 2, "max_samples": 8,
                               "alpha": 1.0, "beta": 1.0, "dim": 60, "num_classes": 10, "data_seed": 0,
                               # 0 = FedProx's recipe (no labelling rule shared across clients); > 0 adds one
                               "spread": 0.5})
    c.cohort = 20  # clients per round, drawn uniformly from the training clients
    c.model = ConfigDict({"hidden": (32,)})  # () = multinomial logistic regression (FedProx's model)
    c.local = ConfigDict({"batch_size": 4, "mode": "epochs", "num_steps": 1, "num_epochs": 1,
                          "optimizer": "sgd", "momentum": 0.0, "lr": 0.05, "prox_mu": 0.0})
    c.server = ConfigDict({"optimizer": "sgd", "lr": 1.0})
    c.aggregator = "fedavg"
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
