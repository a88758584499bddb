"""DeepWalk on a generated graph (contextual SBM, 1,000 nodes), whole or in 4 parts (runs anywhere).

python -m projects.network_embedding.main --config=configs/network_embedding/default.py --workdir=runs/ne
python -m projects.network_embedding.main --config=configs/network_embedding/default.py:method=partitioned --workdir=runs/ne_parts
"""

from ml_collections import ConfigDict, config_dict

from lib.config import parse_arg


def get_config(arg=None):
    a = parse_arg(arg, method="whole", num_parts=4, seed=0)
    c = ConfigDict()
    c.project = "network_embedding"
    c.seed = a.seed
    c.dataset = "csbm"  # csbm | cora | citeseer (data root planetoid/) | random (generated, speed only)
    c.data_dir = config_dict.placeholder(str)
    c.csbm = ConfigDict({"num_nodes": 1000, "num_classes": 4, "avg_degree": 8.0, "homophily": 0.8})
    c.random = ConfigDict({"num_nodes": 1_000_000, "num_edges": 10_000_000})
    c.method = a.method  # whole | partitioned
    c.num_parts = a.num_parts  # METIS parts (partitioned); the border subgraph is one more
    c.halo = 0  # widen the border set by this many hops (more anchors for the merge)
    c.walk = "deepwalk"  # deepwalk (uniform) | node2vec (p, q)
    c.p, c.q = 1.0, 1.0
    c.walks_per_node = 5
    c.walk_length = 20  # steps; a walk holds walk_length + 1 nodes
    c.sgns = ConfigDict({"dim": 32, "window": 5, "negatives": 5, "epochs": 1, "batch": 512, "lr": 0.025})
    c.link_holdout = 0.1  # undirected edges held out for link prediction (0: none)
    c.chunk = 200  # SGD steps per lib.train step (checkpoints fall between chunks)
    c.total = config_dict.placeholder(int)  # None: every chunk (ceil(largest subgraph's SGD steps / chunk))
    c.log_every = 5
    c.eval_every = 0
    c.checkpoint_every = 5
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
