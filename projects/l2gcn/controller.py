"""L²-GCN's stopping controller: an LSTM that, every `decision_step` epochs, reads the training loss
and the current layer and gives the probability that the current layer stops training; trained with
REINFORCE and a moving-average baseline.

As in the reference code (Shen-Lab/L2-GCN, `l2_gcn/net.py`, `l2_gcn/main_l2o.py`):
- one sequence per training run, across layers (the LSTM carry is not reset when a layer stops);
  decision slot t = 0 .. length-1 is global over the run;
- input at slot t: 0.1 * [loss - loss_at_slot_0 + 1, one-hot(layer)] concatenated with a learned
  embedding of (t, previous action); output: a per-slot linear head -> 2 logits (continue, stop);
- cost of an episode = final training loss + time_ratio * epochs trained (lower is better);
  baseline b <- r b + (1 - r) cost is updated *before* the advantage cost - b is taken.
Differences (deliberate): the reference feeds the loss into every entry but one of a (layers+1)-vector;
here the loss is one entry and the layer a one-hot. Its warm-up episodes (predefined actions) take the
gradient of the log-probability of a *sampled* action that was not taken; here of the action taken.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


class Controller(nn.Module):
    length: int   # decision slots per run (one linear head each)
    hidden: int = 8
    embed: int = 5

    @nn.compact
    def __call__(self, carry, feat, prev_action, t):
        e = nn.Embed(2 * self.length, self.embed, name="embed")(t * 2 + prev_action)
        carry, h = nn.LSTMCell(self.hidden, name="lstm")(carry, jnp.concatenate([feat, e], -1))
        w = self.param("head_w", nn.initializers.lecun_normal(batch_axis=(0,)), (self.length, self.hidden, 2))
        b = self.param("head_b", nn.initializers.zeros, (self.length, 2))
        return carry, h @ w[t] + b[t]


def features(loss, loss_base, layer, num_layers):
    return 0.1 * jnp.concatenate([jnp.reshape(loss - loss_base + 1.0, (1,)),
                                  jax.nn.one_hot(layer, num_layers)]).astype(jnp.float32)


def zero_carry(hidden):
    return {"c": jnp.zeros(hidden), "h": jnp.zeros(hidden)}


@functools.lru_cache(maxsize=8)
def functions(length: int, hidden: int, embed: int, num_layers: int, learning_rate: float, baseline_ratio: float):
    """(init, decide, update) for one controller shape; all jitted, all pure."""
    model = Controller(length, hidden, embed)
    tx = optax.adam(learning_rate)

    def _apply(params, carry, feat, prev, t):
        (c, h), logits = model.apply({"params": params}, (carry["c"], carry["h"]), feat, prev, t)
        return {"c": c, "h": h}, logits

    def init(key, baseline):
        params = model.init(key, (jnp.zeros(hidden), jnp.zeros(hidden)), jnp.zeros(num_layers + 1),
                            jnp.int32(0), jnp.int32(0))["params"]
        return {"params": params, "opt_state": tx.init(params), "baseline": jnp.float32(baseline),
                "stop_prob_sum": jnp.float32(0.0), "decisions": jnp.int32(0)}

    @jax.jit
    def decide(params, carry, feat, prev, t, key):
        """-> (carry, stop probability, sampled action) at slot t."""
        carry, logits = _apply(params, carry, feat, prev, t)
        return carry, jax.nn.softmax(logits)[1], jax.random.categorical(key, logits).astype(jnp.int32)

    @jax.jit
    def update(ctrl, record, cost):
        """One REINFORCE step from an episode's record (feat, prev, action, mask over `length` slots)."""
        baseline = baseline_ratio * ctrl["baseline"] + (1 - baseline_ratio) * cost
        advantage = cost - baseline

        def surrogate(params):  # re-runs the episode's decisions to get log pi(a_t | history)
            def body(carry, x):
                carry, logits = _apply(params, carry, x["feat"], x["prev"], x["t"])
                return carry, jax.nn.log_softmax(logits)[x["action"]]
            _, logp = jax.lax.scan(body, zero_carry(hidden), record)
            return jnp.sum(logp * record["mask"]) * advantage  # minimise E[cost]

        g = jax.grad(surrogate)(ctrl["params"])
        upd, opt = tx.update(g, ctrl["opt_state"], ctrl["params"])
        return {**ctrl, "params": optax.apply_updates(ctrl["params"], upd), "opt_state": opt, "baseline": baseline}
    return init, decide, update
