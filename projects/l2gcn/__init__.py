"""L-GCN (You et al., CVPR 2020): layer-wise GCN training on precomputed propagations vs full-batch GCN."""
