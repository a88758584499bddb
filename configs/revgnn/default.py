"""Tiny RevGNN run on a synthetic contextual SBM (ships with the code): the demo and the tests.

python -m projects.revgnn.main --config=configs/revgnn/default.py --workdir=runs/revgnn_demo
"""
from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "revgnn"
    c.seed = 0
    c.dataset = "csbm"  # csbm | cora | citeseer
    c.data_dir = config_dict.placeholder(str)
    c.csbm = ConfigDict({"num_nodes": 300, "num_classes": 3, "num_features": 32, "avg_degree": 6.0,
                         "homophily": 0.8, "feature_snr": 1.5, "train_per_class": 10, "num_val": 60,
                         "num_test": 120, "seed": 0})
    # model: reversible (custom VJP) | grouped (same function, plain autodiff) | residual (res+) | gcn
    c.model = ConfigDict({"model": "reversible", "layers": 8, "hidden": 16, "groups": 2, "dropout": 0.2,
                          "input_dropout": 0.0, "shared_dropout": True,
                          "remat": "none"})  # none | block (residual/gcn: recompute each block in backward)
    c.param_dtype = "float32"
    c.compute_dtype = "float32"  # float32 | bfloat16 (hidden states; neighbour sums and norms stay float32)
    c.learning_rate = 0.01
    c.weight_decay = 5e-4
    c.epochs = 30
    c.log_every = 10
    c.eval_every = 10
    c.checkpoint_every = 10
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c
