"""Tiny DistGNN run on a synthetic contextual SBM (ships with the code): the demo and the tests.

XLA_FLAGS=--xla_force_host_platform_device_count=8 \
  python -m projects.distgnn.main --config=configs/distgnn/default.py --workdir=runs/distgnn_demo
Modes: --config.mode=single | 0c | cd-0 | cd-r (with --config.delay=r)
"""
from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "distgnn"
    c.seed = 0
    c.dataset = "csbm"  # csbm | cora | citeseer | random
    c.data_dir = config_dict.placeholder(str)
    c.csbm = ConfigDict({"num_nodes": 400, "num_classes": 3, "num_features": 32, "avg_degree": 6.0,
                         "homophily": 0.8, "feature_snr": 1.5, "train_per_class": 20, "num_val": 60,
                         "num_test": 120, "seed": 0})
    c.random = ConfigDict({"num_nodes": 20000, "num_edges": 400000, "num_features": 128, "num_classes": 16,
                           "seed": 0})
    c.mode = "cd-r"      # single (whole graph, one device) | 0c | cd-0 | cd-r
    c.delay = 5          # cd-r: exchange partial aggregates every `delay` epochs
    c.mesh = (("graph", -1),)  # one vertex-cut partition per device
    c.model = ConfigDict({"hidden": (32,), "dropout": 0.5})  # GraphSAGE (mean) widths
    c.epochs = 40
    c.learning_rate = 0.01
    c.weight_decay = 5e-4
    c.log_every = 10
    c.eval_every = 10
    c.checkpoint_every = 10
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c
