"""Tiny PowerWalk run on a synthetic contextual SBM (ships with the code): the demo and the tests.

python -m projects.ppr.main --config=configs/ppr/default.py --workdir=runs/ppr_demo
"""
from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "ppr"
    c.seed = 0
    c.dataset = "csbm"  # csbm | cora | citeseer | random
    c.data_dir = config_dict.placeholder(str)
    c.csbm = ConfigDict({"num_nodes": 300, "num_classes": 3, "num_features": 4, "avg_degree": 6.0,
                         "homophily": 0.8, "feature_snr": 1.0, "train_per_class": 5, "num_val": 10,
                         "num_test": 10, "seed": 0})
    c.random = ConfigDict({"num_nodes": 20000, "num_edges": 200000, "num_features": 1, "num_classes": 2,
                           "seed": 0})
    c.alpha = 0.15  # stop (teleport) probability of the walk
    # sources: 0 = every non-isolated node (all-source PPR, exact by a dense solve); k > 0: k random
    # non-isolated nodes (exact by float64 power iteration to 1e-10)
    c.num_sources = 0
    c.walks_per_node = (16, 64)   # R: fingerprint walks per node, one table block per value
    c.max_steps = 64              # step budget of a fingerprint walk (cut walks are counted)
    c.hops = (0, 1, 2, 4, 8)      # PowerWalk decomposition hops; 0 = the source's own fingerprint
    c.timing_queries = 20         # per-query power iteration is timed on this many sources, then scaled
    c.batch = 512                 # sources per block in the batched online phase
    return c
