"""Vertical federated learning: parties on a `party` mesh axis, explicit messages with byte
accounting, a wire model, message transforms and the stale-message workset (see README.md)."""
