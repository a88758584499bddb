"""Local training of a set of node slots with lib.fl.client's local update (shared by the sampled
round and gossip learning).

Each slot holds a start model, a node's data row (`index`, `num_samples` of lib.fl.client's
ClientData) and a key; a slot whose `active` flag is False is not trained (its model comes back
unchanged). On CPU the slots run one after another (`lax.map`) and an inactive slot skips its
steps (`lax.cond` inside the map: a sampled-but-unresponsive node costs nothing); elsewhere they
run vmapped (the cond becomes a select, the static-shape price of running all at once), as
lib.fl.engine does for clients.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lib.fl import client as client_lib


def train_slots(local_update, params, pool, index, num_samples, keys, active, hparams, sequential: bool):
    """params: pytree of [m, ...] start models; index [m, n_pad]; num_samples, keys, active [m].
    Returns (models [m, ...] after local training, mean local loss [m] (0 where inactive))."""

    def one(p, idx, ns, k, on):
        def train(_):
            delta, _, met = local_update(p, pool, {"index": idx, "num_samples": ns}, None, k, hparams)
            return jax.tree.map(lambda a, d: (a + d).astype(a.dtype), p, delta), met["train_loss"]

        if not sequential:  # vmapped: a select, both computed
            newp, loss = train(None)
            return jax.tree.map(lambda a, b: jnp.where(on, a, b), newp, p), jnp.where(on, loss, 0.0)
        return jax.lax.cond(on, train, lambda _: (p, jnp.float32(0.0)), None)

    if sequential:
        return jax.lax.map(lambda a: one(*a), (params, index, num_samples, keys, active))
    return jax.vmap(one)(params, index, num_samples, keys, active)


def make_local_update(loss_fn, local: client_lib.LocalConfig):
    """lib.fl.client's local update (SGD, fixed steps), with its config checked."""
    client_lib.check_local_config(local)
    return client_lib.make_local_update(loss_fn, local)


def is_sequential(node_batch, platform: str) -> bool:
    """'auto': sequential on CPU, vmapped elsewhere (lib.dl.engine's rule)."""
    if node_batch == "auto":
        return platform == "cpu"
    return node_batch == 1
