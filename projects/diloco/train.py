"""DiLoCo (Douillard et al. 2023), its one-step-delayed variant, and synchronous data parallelism,
on a character-level LM, with a WAN cost model on the virtual clock.

One step of the loop (lib.train) is one round of H inner steps per worker:
- `diloco`: k workers (stacked on a leading axis, vmapped) start from the global model x, run H
  AdamW steps on their own data shard (each keeps its AdamW state across rounds), and the outer
  Nesterov SGD step (lib.optim.diloco) is applied to delta = x - mean_i x_i. One all-reduce per round.
- `diloco_delayed`: the same, but round r's delta is applied one round late, so its all-reduce
  overlaps round r+1's inner steps (lib.optim.diloco.delayed_update).
- `sync_dp`: the baseline with the same compute and data: H synchronous AdamW steps per round on
  the mean of the k workers' gradients (one all-reduce per inner step).

Virtual time (lib.fl.clock.collective): a round costs H x the slowest worker's step time of compute
and one ring all-reduce of the fp32 model per sync (per-worker speeds and links from
lib.fl.clock.speeds). Evaluations carry `virtual_time` and `bytes` (sent per worker so far).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib import train as train_lib
from lib.config import ConfigError
from lib.data import text
from lib.fl.clock import collective, speeds
from lib.models.lm import TransformerLM
from lib.optim import diloco as outer_lib

METHODS = ("diloco", "diloco_delayed", "sync_dp")
DELAY = {"diloco": 0, "diloco_delayed": 1}


def validate(config) -> None:
    """Every check that can fail on bad input, before data is read or anything compiled."""
    config_lib.choice(config, "method", METHODS)
    config_lib.choice(config, "dataset", text.SOURCES)
    config_lib.integer(config, "num_workers", 1, "k, the number of workers")
    config_lib.integer(config, "inner_steps", 1, "H, inner steps per round")
    config_lib.integer(config, "num_rounds", 1, "outer rounds")
    if config.get("stop_after_rounds") is not None:  # end early (an interruption) without changing the schedules
        config_lib.integer(config, "stop_after_rounds", 1, "rounds to run before stopping")
    for key in ("batch_size", "seq_len", "eval_batch_size", "eval_batches", "model.d_model", "model.num_heads",
                "model.num_layers", "model.d_ff"):
        config_lib.integer(config, key, 1, "a size")
    if config.model.d_model % config.model.num_heads:
        raise ConfigError(f"config.model.d_model={config.model.d_model} must be divisible by "
                          f"config.model.num_heads={config.model.num_heads}")
    config_lib.positive(config, "inner.lr")
    config_lib.positive(config, "inner.weight_decay", allow_zero=True)
    config_lib.positive(config, "inner.clip", allow_zero=True)
    config_lib.in_range(config, "inner.final_lr_fraction", 0.0, 1.0)
    config_lib.integer(config, "inner.warmup", 0, "inner warm-up steps")
    for key in ("inner.b1", "inner.b2"):
        v = config_lib.get(config, key)
        if not (isinstance(v, (int, float)) and 0 <= v < 1):
            raise ConfigError(f"config.{key}={v!r} must be in [0, 1)")
    outer_lib.check(config.outer.lr, config.outer.momentum)
    speeds.make_speeds(config.clock, config.num_workers, config.seed)  # step times, bandwidths, latencies


def make_optimizer(config, total_inner_steps: int):
    i = config.inner
    sched = optax.warmup_cosine_decay_schedule(0.0, i.lr, i.warmup, max(total_inner_steps, i.warmup + 1),
                                               end_value=i.lr * i.final_lr_fraction)
    chain = [optax.clip_by_global_norm(i.clip)] if i.clip > 0 else []
    return optax.chain(*chain, optax.adamw(sched, b1=i.b1, b2=i.b2, weight_decay=i.weight_decay)), sched


def shards(train_ids: np.ndarray, k: int, seq_len: int) -> list[np.ndarray]:
    """The train split cut into k contiguous shards (worker i trains on shard i only)."""
    n = len(train_ids) // k
    if n < seq_len + 2:
        raise ConfigError(f"the train split ({len(train_ids)} characters) cut into num_workers={k} shards gives "
                          f"{n} characters each, fewer than seq_len + 2 = {seq_len + 2}")
    return [train_ids[i * n:(i + 1) * n] for i in range(k)]


def round_batch(parts, *, seed: int, rnd: int, inner_steps: int, batch_size: int, seq_len: int) -> dict:
    """{'inputs', 'targets'}: [k, H, B, L] windows; worker i's from its shard, a pure function of
    (seed, round, worker)."""
    wins = []
    for i, ids in enumerate(parts):
        rng = np.random.default_rng([seed, rnd, i])
        start = rng.integers(0, len(ids) - seq_len - 1, (inner_steps, batch_size))
        wins.append(ids[start[..., None] + np.arange(seq_len + 1)])
    w = np.stack(wins)
    return {"inputs": w[..., :-1], "targets": w[..., 1:]}


def timeline(config, num_params: int) -> dict:
    """Virtual seconds and bytes per worker after each round: {start [R+1], bytes [R+1], sync_s, round_compute_s}."""
    k, h, rounds = config.num_workers, config.inner_steps, config.num_rounds
    sp = speeds.make_speeds(config.clock, k, config.seed)
    step_s = float(sp.step_time.max())  # synchronous workers wait for the slowest
    comm_s, sent = collective.ring_allreduce(4.0 * num_params, k, float(sp.bandwidth.min()), float(sp.latency.max()))
    if config.method == "sync_dp":  # one all-reduce after every inner step, nothing overlapped
        start = collective.round_starts(rounds, h * (step_s + comm_s), 0.0)
        syncs_per_round = h
    else:
        start = collective.round_starts(rounds, h * step_s, comm_s, DELAY[config.method])
        syncs_per_round = 1
    return {"start": start, "bytes": np.arange(rounds + 1) * syncs_per_round * sent, "sync_s": comm_s,
            "round_compute_s": h * step_s, "syncs_per_round": syncs_per_round}


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    k, h = config.num_workers, config.inner_steps
    corpus = text.make_corpus(config.dataset, config_lib.data_dir(config), config.val_fraction,
                              config.get("max_chars"), config.seq_len, config.eval_batch_size)
    parts = shards(corpus.train, k, config.seq_len)
    evals = text.eval_batches(corpus.val, batch_size=config.eval_batch_size, seq_len=config.seq_len,
                              max_batches=config.eval_batches)
    model = TransformerLM(corpus.vocab_size, config.model.d_model, config.model.num_heads, config.model.num_layers,
                          config.model.d_ff, max_len=config.seq_len)
    params = model.init(jax.random.PRNGKey(config.seed), jnp.zeros((1, config.seq_len), jnp.int32))["params"]
    num_params = sum(x.size for x in jax.tree.leaves(params))
    tx, sched = make_optimizer(config, h * config.num_rounds)
    times = timeline(config, num_params)

    def loss_fn(p, b):
        logits = model.apply({"params": p}, b["inputs"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, b["targets"]).mean()

    def inner(p, o, batches):  # H AdamW steps of one worker; batches [H, B, L]
        def body(carry, b):
            p, o = carry
            loss, g = jax.value_and_grad(loss_fn)(p, b)
            u, o = tx.update(g, o, p)
            return (optax.apply_updates(p, u), o), loss
        (p, o), losses = jax.lax.scan(body, (p, o), batches)
        return p, o, losses

    if config.method == "sync_dp":
        state = {"step": jnp.int32(0), "params": params, "opt_state": tx.init(params)}

        @jax.jit
        def step_fn(state, batch):
            def body(carry, b):  # b: [k, B, L]; the mean of the k workers' gradients (the all-reduce)
                p, o = carry
                losses, g = jax.vmap(jax.value_and_grad(loss_fn), in_axes=(None, 0))(p, b)
                u, o = tx.update(jax.tree.map(lambda x: x.mean(0), g), o, p)
                return (optax.apply_updates(p, u), o), losses.mean()
            seq = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), batch)  # [H, k, B, L]
            (p, o), losses = jax.lax.scan(body, (state["params"], state["opt_state"]), seq)
            lr = sched((state["step"] + 1) * h - 1)  # the last inner step's
            return {"step": state["step"] + 1, "params": p, "opt_state": o}, {"loss": losses.mean(), "inner_lr": lr}
    else:
        delay = DELAY[config.method]
        stack = lambda t: jax.tree.map(lambda x: jnp.broadcast_to(x, (k, *x.shape)), t)  # noqa: E731
        state = {"step": jnp.int32(0), "params": params, "outer": outer_lib.init(params)._asdict(),
                 "inner_opt": stack(tx.init(params))}

        @jax.jit
        def step_fn(state, batch):
            wp, wo, losses = jax.vmap(inner, in_axes=(None, 0, 0))(state["params"], state["inner_opt"], batch)
            delta = outer_lib.pseudo_gradient(state["params"], wp)
            new, outer = outer_lib.update(state["params"], outer_lib.OuterState(**state["outer"]), delta,
                                          lr=config.outer.lr, momentum=config.outer.momentum,
                                          nesterov=config.outer.nesterov, delay=delay)
            metrics = {"loss": losses.mean(), "final_inner_loss": losses[:, -1].mean(),
                       "pseudo_grad_norm": optax.global_norm(delta),
                       "worker_spread": optax.global_norm(jax.tree.map(lambda w: w - w.mean(0), wp)) / np.sqrt(k)}
            return {"step": state["step"] + 1, "params": new, "outer": outer._asdict(), "inner_opt": wo}, metrics

    @jax.jit
    def eval_loss(p, b):
        return loss_fn(p, b)

    def evaluate(p) -> float:
        return float(np.mean([jax.device_get(eval_loss(p, b)) for b in evals]))

    def eval_fn(state):
        r = int(jax.device_get(state["step"]))
        loss = evaluate(state["params"])
        return {"val_loss": loss, "val_bpc": loss / np.log(2), "virtual_time": float(times["start"][r]),
                "bytes": float(times["bytes"][r]), "round": r}

    def batch_fn(r):
        return round_batch(parts, seed=config.seed, rnd=r, inner_steps=h, batch_size=config.batch_size,
                           seq_len=config.seq_len)

    initial = evaluate(params)

    def summary(final):
        return {"initial_val_loss": initial, "num_params": int(num_params), "sync_seconds": times["sync_s"],
                "round_compute_seconds": times["round_compute_s"], "syncs_per_round": times["syncs_per_round"],
                "virtual_time": float(times["start"][-1]), "bytes": float(times["bytes"][-1])}

    return train_lib.run(config, workdir, state=state, step_fn=step_fn, batch_fn=batch_fn,
                         num_steps=config.get("stop_after_rounds") or config.num_rounds, eval_fn=eval_fn, summary_fn=summary,
                         desc=f"diloco/{config.method}/k{k}/H{h}",
                         examples_per_step=k * h * config.batch_size)
