"""Vanishing variance in decentralized training: variance-corrected averaging for gossip learning."""
