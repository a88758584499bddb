"""Scaling study: Cluster-GCN vs full-batch GCN training step on growing random graphs
(lib.graph.synthetic.random_graph: uniform random undirected edges, Gaussian features).

nice -n 10 python -m projects.cluster_gcn.scaling            # -> projects/cluster_gcn/results/scaling.json
nice -n 10 python -m projects.cluster_gcn.scaling --sizes 20000,50000

For each size the graph has avg_degree * N directed edges. Cluster-GCN keeps the cluster size
fixed (nodes_per_part nodes per METIS part, clusters_per_batch parts per batch), as the paper does
when it scales, so its batch (and step memory) stays the same size while the graph grows.
Memory = XLA's compiled memory analysis of the jitted train step (arguments + outputs + temporaries
- aliased); time = wall seconds per epoch (full: 1 step; Cluster-GCN: all batches of an epoch,
host batch building included and also reported separately).
"""
from configs.cluster_gcn import default


def get_config(arg=None):
    c = default.get_config()
    c.dataset = "random"
    c.sizes = (20000, 50000, 100000, 200000)
    c.avg_degree = 20          # 100k nodes -> 2M directed edges (the lib/graph benchmark's graph)
    c.random.num_features = 128
    c.random.num_classes = 16
    c.model.layers = 2
    c.model.hidden = 128
    c.model.dropout = 0.5
    c.nodes_per_part = 250     # METIS parts of ~250 nodes
    c.cluster.clusters_per_batch = 20  # 20 parts per batch: ~5000-node batches
    c.cluster.cache_batches = 0        # time the batch building every step (no cache)
    c.timed_full_steps = 3     # full-batch epochs timed (median) after one warm-up
    c.timed_cluster_epochs = 1  # Cluster-GCN epochs timed after one warm-up step
    return c
