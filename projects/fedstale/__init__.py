"""FedStale: convex mix of fresh and stale client updates (Rodio & Neglia, arXiv 2405.04171)."""
