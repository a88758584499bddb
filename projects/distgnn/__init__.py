"""DistGNN: vertex-cut full-batch GraphSAGE with delayed partial aggregates."""
