"""MoDeST / Plexus: decentralized sampling vs D-PSGD, gossip learning and FL."""
