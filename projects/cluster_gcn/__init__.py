"""Cluster-GCN (Chiang et al., KDD 2019): METIS-cluster minibatches vs full-batch GCN."""
