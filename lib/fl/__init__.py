"""Federated learning simulation (what is here and how a project uses it: lib/fl/README.md)."""
