"""Tiny Cluster-GCN run on a synthetic contextual SBM (ships with the code): the demo and the tests.

python -m projects.cluster_gcn.main --config=configs/cluster_gcn/default.py --workdir=runs/cluster_gcn_demo
Full-batch baseline: --config.mode=full --config.model.norm=gcn --config.model.diag_lambda=0
"""
from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "cluster_gcn"
    c.seed = 0
    c.dataset = "csbm"  # csbm | cora | citeseer | random
    c.data_dir = config_dict.placeholder(str)
    c.csbm = ConfigDict({"num_nodes": 400, "num_classes": 3, "num_features": 32, "avg_degree": 6.0,
                         "homophily": 0.8, "feature_snr": 1.5, "train_per_class": 20, "num_val": 60,
                         "num_test": 120, "seed": 0})
    c.random = ConfigDict({"num_nodes": 20000, "num_edges": 400000, "num_features": 128, "num_classes": 16,
                           "seed": 0})
    c.mode = "cluster"  # cluster | full
    # num_parts METIS clusters; clusters_per_batch (q) per batch; batches_per_step stacked per step
    # (sharded over mesh axis 'data' when config.mesh is set); cache_batches: LRU of batch structures.
    c.cluster = ConfigDict({"num_parts": 8, "clusters_per_batch": 2, "batches_per_step": 1,
                            "cache_batches": 256})
    # norm: 'cluster_gcn' = (D+I)^-1 (A+I) + diag_lambda * diag(.), 'gcn' = D^-1/2 (A+I) D^-1/2
    c.model = ConfigDict({"layers": 2, "hidden": 16, "dropout": 0.5, "norm": "cluster_gcn",
                          "diag_lambda": 1.0})
    c.learning_rate = 0.01
    c.weight_decay = 5e-4  # L2 on the first layer (Kipf & Welling)
    c.epochs = 20.0  # float: a fractional value stops mid-epoch
    c.mesh = config_dict.placeholder(tuple)  # e.g. (("data", -1),): shard the stacked batches
    c.log_every = 10
    c.eval_every = 20
    c.checkpoint_every = 20
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c
