"""Tiny L-GCN run on a synthetic contextual SBM (ships with the code): the demo and the tests.

python -m projects.l2gcn.main --config=configs/l2gcn/default.py --workdir=runs/l2gcn_demo
Full-batch baseline: --config.mode=full
"""
from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "l2gcn"
    c.seed = 0
    c.dataset = "csbm"  # csbm | cora | citeseer | random
    c.data_dir = config_dict.placeholder(str)
    c.csbm = ConfigDict({"num_nodes": 400, "num_classes": 3, "num_features": 32, "avg_degree": 6.0,
                         "homophily": 0.8, "feature_snr": 1.5, "train_per_class": 20, "num_val": 60,
                         "num_test": 120, "seed": 0})
    c.random = ConfigDict({"num_nodes": 20000, "num_edges": 400000, "num_features": 128, "num_classes": 16,
                           "seed": 0})
    c.split = "public"  # public Planetoid split | full (cora/citeseer: all labelled non-val nodes before the test block)
    c.mode = "layerwise"  # layerwise (L-GCN) | full (2-layer GCN, one update per epoch) | l2gcn (learned stops)
    c.model = ConfigDict({"hidden": 16, "norm": "row"})  # row: D^-1 (A+I); sym: D^-1/2 (A+I) D^-1/2
    c.epochs_per_layer = (6, 6)  # layerwise: epochs of each layer (its length = the number of layers; l2gcn: only the length)
    c.full_epochs = 30             # full: updates (= epochs)
    c.batch_size = 16              # layerwise: training nodes per minibatch
    c.learning_rate = 0.01
    # l2gcn: the stopping controller (projects/l2gcn/learned.py); reference Cora values in configs/l2gcn/cora.py
    c.controller = ConfigDict({
        "length": 6,            # decision slots over the whole run (>= layers); one LSTM step each
        "decision_step": 2,     # epochs the current layer trains between decisions
        "min_epochs": 2,        # a layer may stop once it trained this many epochs ...
        "max_epochs": 6,        # ... and stops once it trained this many
        "threshold": 0.6,       # stop when P(stop) >= threshold (in (0, 1)) ...
        "threshold_from_search": True,  # ... or the mean P(stop) of the search (the reference code's choice)
        "episodes": 4,          # search episodes (one REINFORCE update each)
        "warmup_episodes": 2,   # first episodes follow predefined stop slots
        "sample_nodes": 40,     # training nodes per search episode (full batch)
        "hidden": 8, "embed": 5,
        "learning_rate": 0.05,
        "baseline_reward": 0.3, "baseline_ratio": 0.9,
        "time_ratio": 1e-4,     # cost = final training loss + time_ratio * epochs
    })
    c.weight_decay = 5e-4
    c.log_every = 10
    c.eval_every = 12
    c.checkpoint_every = 12
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c
