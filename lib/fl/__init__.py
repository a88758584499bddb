"""Federated learning simulation (see DESIGN.md, lib/fl)."""
