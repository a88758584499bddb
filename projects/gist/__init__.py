"""GIST: independent subnetwork training for GCNs."""
