"""Decentralized learning: topologies, mixing matrices, gossip over a `nodes` mesh axis, the engine."""
