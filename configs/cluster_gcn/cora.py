"""Cluster-GCN or full-batch GCN on Cora / CiteSeer (public Planetoid split), one seed.
10-seed tables: projects/cluster_gcn/reproduce.py.

python -m projects.cluster_gcn.main --config=configs/cluster_gcn/cora.py:cora --workdir=runs/cgcn_cora
python -m projects.cluster_gcn.main --config=configs/cluster_gcn/cora.py:citeseer,mode=full --workdir=runs/gcn_citeseer
Hardware of the measured runs: 2-core CPU (shared, loaded); the numbers they reached and their wall
times are in projects/cluster_gcn/README.md, generated from projects/cluster_gcn/results/accuracy.json.
Args: dataset (cora | citeseer), mode (cluster | full). mode=full sets the Kipf & Welling GCN
(norm 'gcn', no diagonal enhancement).
"""
from configs.cluster_gcn import default
from lib.config import parse_arg


def get_config(arg=None):
    if arg and "=" not in arg.split(",")[0]:  # a bare first item is the dataset: cora.py:citeseer,mode=full
        arg = "dataset=" + arg
    a = parse_arg(arg, dataset="cora", mode="cluster")
    c = default.get_config()
    c.dataset = a.dataset
    c.mode = a.mode
    if a.mode == "full":  # Kipf & Welling: 200 epochs = 200 updates
        c.epochs = 200.0
        c.model.norm, c.model.diag_lambda = "gcn", 0.0
    else:  # 8 METIS clusters, 2 per batch: 4 updates per epoch, 50 epochs = the same 200 updates
        c.epochs = 50.0
        c.cluster.num_parts, c.cluster.clusters_per_batch = 8, 2
        c.model.norm, c.model.diag_lambda = "cluster_gcn", 1.0
    c.log_every = 50
    c.eval_every = 50
    c.checkpoint_every = 100
    return c
