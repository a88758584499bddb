"""Tiny GIST run on a synthetic contextual SBM (ships with the code): the demo and the tests.

python -m projects.gist.main --config=configs/gist/default.py --workdir=runs/gist_demo
Full training of the same GCN: --config.mode=full
Sub-GCNs one per device: XLA_FLAGS=--xla_force_host_platform_device_count=2 ... --config.mesh="(('subnet',-1),)"
"""
from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "gist"
    c.seed = 0
    c.dataset = "csbm"  # csbm | cora | citeseer | random
    c.data_dir = config_dict.placeholder(str)
    c.csbm = ConfigDict({"num_nodes": 400, "num_classes": 3, "num_features": 32, "avg_degree": 6.0,
                         "homophily": 0.8, "feature_snr": 1.5, "train_per_class": 20, "num_val": 60,
                         "num_test": 120, "seed": 0})
    c.random = ConfigDict({"num_nodes": 20000, "num_edges": 400000, "num_features": 128, "num_classes": 16,
                           "seed": 0})
    c.mode = "gist"  # gist (m independent sub-GCNs per round) | full (the whole GCN)
    c.model = ConfigDict({"hidden": (32,), "dropout": 0.5, "norm": "sym"})  # sym: D^-1/2 (A+I) D^-1/2
    # m sub-GCNs; each round trains them local_epochs epochs apart, then merges (reference: m 2, 5 epochs).
    c.gist = ConfigDict({"m": 2, "local_epochs": 5, "split_input": False})
    c.epochs = 40                  # full-batch epochs (GIST: rounds x local_epochs)
    c.learning_rate = 0.01
    c.lr_decay = True              # /10 at 50 % and at 75 % of the epochs (the reference code's schedule)
    c.weight_decay = 5e-4
    c.mesh = config_dict.placeholder(tuple)  # (('subnet', -1),): sub-GCNs spread over the devices
    c.log_every = 4
    c.eval_every = 4
    c.checkpoint_every = 4
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c
