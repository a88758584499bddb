"""Adaptive SGD (Ma et al., IPDPSW 2022) on simulated heterogeneous GPUs, against static equal
batches and plain asynchronous training, on a virtual clock.

- `adaptive`: batch sizes proportional to speed (schedule.speed_batches), every worker runs
  `local_steps` SGD steps on its own batches (lr scaled linearly with its batch when
  lr_scaling='linear'), then the models are merged with weights b_g / sum b (merge='normalised';
  'equal' is the ablation with plain averaging).
- `static`: equal batches; the fast workers wait for the slowest each round; plain averaging.
- `async`: equal batches, no waiting: every upload is applied on arrival, x += (x_g - x_pulled) / k,
  and the worker pulls the current model (its update is stale by the uploads in between).

Workers are stacked on a leading axis and vmapped (sync methods; padded batches with masks, so
unequal batch sizes compile once). One loop step (lib.train) is one merge round (sync) or one
upload (async). Evaluations at every `clock.eval_every_time` virtual seconds record the model after
the last step at or before that time (rows: first_mark .. virtual_time, the marks they stand for, as
lib.fl.clock's, so lib.fl.clock.report tabulates them; `bytes`: models sent down and up, all workers). Per-worker seconds per sample, bandwidths and latencies come from
lib.fl.clock.speeds (`clock.step_time` is the slowest worker's seconds per sample here).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib import train as train_lib
from lib.config import ConfigError
from lib.data import mnist as mnist_data
from lib.fl.clock import speeds
from lib.models.mlp import MLP
from projects.adaptive_sgd import schedule

METHODS = ("adaptive", "static", "async")
DATASETS = mnist_data.FLAT_DATASETS


def validate(config) -> None:
    config_lib.choice(config, "method", METHODS)
    config_lib.choice(config, "dataset", DATASETS)
    config_lib.choice(config, "lr_scaling", ("linear", "none"))
    for key, lo in (("num_workers", 1), ("global_batch", 1), ("local_steps", 1), ("eval_batch_size", 1)):
        config_lib.integer(config, key, lo)
    config_lib.positive(config, "lr")
    config_lib.choice(config, "merge", ("normalised", "equal"))
    config_lib.positive(config, "clock.time_budget")
    config_lib.positive(config, "clock.eval_every_time")
    if not all(isinstance(h, int) and h > 0 for h in config.model.hidden):
        raise ConfigError(f"config.model.hidden={config.model.hidden!r} must be positive ints")
    plan(config, num_params=1)


def plan(config, num_params: int) -> dict:
    """The whole run on the virtual clock: batches, weights, lrs, step times, eval steps."""
    k = config.num_workers
    sp = speeds.make_speeds(config.clock, k, config.seed)
    sec = sp.step_time  # seconds per sample
    comm = sp.latency + 4.0 * num_params / sp.bandwidth
    if config.method == "adaptive":
        b = schedule.speed_batches(sec, config.global_batch)
    else:
        b = schedule.equal_batches(k, config.global_batch)
    lr = config.lr * (b * k / config.global_batch if config.lr_scaling == "linear" else np.ones(k))
    if config.method == "async":
        times, workers = schedule.async_arrivals(b, sec, comm, config.local_steps, config.clock.time_budget)
    else:
        rt = schedule.sync_round_time(b, sec, comm, config.local_steps)
        times = rt * np.arange(1, int(np.floor(config.clock.time_budget / rt + 1e-9)) + 1)
        workers = np.full(len(times), -1)
    if len(times) == 0:
        raise ConfigError(f"config.clock.time_budget={config.clock.time_budget} ends before the first "
                          f"{'upload' if config.method == 'async' else 'merge'}; raise it")
    every = config.clock.eval_every_time
    marks = np.arange(1, int(np.floor(config.clock.time_budget / every + 1e-9)) + 1) * every
    eval_at = {}  # step -> the marks it stands for (the model after the last step at or before each mark)
    for m in marks:
        s = int(np.searchsorted(times, m + 1e-9, side="right"))
        eval_at.setdefault(s, []).append(float(m))
    weights = schedule.merge_weights(b) if config.merge == "normalised" else np.full(k, 1.0 / k)
    per_step = 2 * 4.0 * num_params * (1 if config.method == "async" else k)  # models down and up
    return {"batches": b, "weights": weights, "lrs": lr, "times": times, "workers": workers,
            "eval_at": eval_at, "sec_per_sample": sec, "bytes_per_step": per_step}


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    x_tr, y_tr, x_te, y_te = mnist_data.load_flat(config.dataset, config_lib.data_dir(config), config.seed)
    k, tau = config.num_workers, config.local_steps
    model = MLP(hidden=tuple(config.model.hidden), num_classes=10)
    params = model.init(jax.random.PRNGKey(config.seed), x_tr[:1])["params"]
    p = plan(config, sum(x.size for x in jax.tree.leaves(params)))
    bmax = int(p["batches"].max())
    mask = (np.arange(bmax)[None] < p["batches"][:, None]).astype(np.float32)  # [k, bmax]
    lrs, weights = jnp.asarray(p["lrs"], jnp.float32), jnp.asarray(p["weights"], jnp.float32)

    def loss_fn(w, x, y, m):
        ce = optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": w}, x), y)
        return jnp.sum(ce * m) / jnp.sum(m)

    def local(w, lr, xs, ys, m):  # tau SGD steps of one worker; xs [tau, bmax, D]
        def body(w, b):
            loss, g = jax.value_and_grad(loss_fn)(w, b[0], b[1], m)
            return jax.tree.map(lambda a, d: a - lr * d, w, g), loss
        return jax.lax.scan(body, w, (xs, ys))

    def indices(step: int, g: int, n: int):
        return np.random.default_rng([config.seed, step, g]).integers(0, len(x_tr), (tau, n))

    if config.method == "async":
        state = {"step": jnp.int32(0), "params": params,
                 "pulled": jax.tree.map(lambda a: jnp.broadcast_to(a, (k, *a.shape)), params)}
        b = int(p["batches"][0])

        @jax.jit
        def step_fn(state, batch):
            g = batch["worker"]
            start = jax.tree.map(lambda a: a[g], state["pulled"])
            w, losses = local(start, lrs[g], batch["x"], batch["y"], jnp.ones(b))
            new = jax.tree.map(lambda x, a, s: x + (a - s) / k, state["params"], w, start)
            pulled = jax.tree.map(lambda pl, n: pl.at[g].set(n), state["pulled"], new)
            return {"step": state["step"] + 1, "params": new, "pulled": pulled}, {"loss": losses.mean()}

        def batch_fn(step):
            g = int(p["workers"][step])
            idx = indices(step, g, b)
            return {"worker": jnp.int32(g), "x": x_tr[idx], "y": y_tr[idx]}
    else:
        state = {"step": jnp.int32(0), "params": params}

        @jax.jit
        def step_fn(state, batch):
            w, losses = jax.vmap(local, in_axes=(None, 0, 0, 0, 0))(state["params"], lrs, batch["x"], batch["y"],
                                                                    batch["mask"])
            new = jax.tree.map(lambda a: jnp.tensordot(weights, a, axes=1), w)  # normalised merge
            return {"step": state["step"] + 1, "params": new}, {"loss": jnp.sum(weights * losses.mean(1))}

        def batch_fn(step):
            idx = np.stack([indices(step, g, bmax) for g in range(k)])  # [k, tau, bmax]; padding masked
            return {"x": x_tr[idx], "y": y_tr[idx], "mask": mask}

    @jax.jit
    def correct(w, x, y):
        return jnp.sum(jnp.argmax(model.apply({"params": w}, x), -1) == y)

    def accuracy(w) -> float:
        n = config.eval_batch_size
        return float(sum(int(correct(w, x_te[i:i + n], y_te[i:i + n])) for i in range(0, len(x_te), n))) / len(x_te)

    def eval_fn(state):
        s = int(jax.device_get(state["step"]))
        if s not in p["eval_at"]:
            return {}
        marks = p["eval_at"][s]
        return {"test_accuracy": accuracy(state["params"]), "first_mark": marks[0], "virtual_time": marks[-1],
                "model_time": float(p["times"][s - 1]) if s else 0.0, "bytes": s * p["bytes_per_step"]}

    initial = accuracy(params)

    def summary(final):
        return {"initial_test_accuracy": initial, "initial_eval": {"test_accuracy": initial, "virtual_time": 0.0},
                "aggregations": final["step"], "batches": p["batches"].tolist(), "lrs": p["lrs"].tolist(),
                "virtual_time": float(p["times"][-1]), "updates": len(p["times"])}

    with config.unlocked():
        config.eval_every = 1  # eval_fn decides (virtual-time marks)
    return train_lib.run(config, workdir, state=state, step_fn=step_fn, batch_fn=batch_fn,
                         num_steps=config.get("stop_after_steps") or len(p["times"]), eval_fn=eval_fn,
                         summary_fn=summary, desc=f"adaptive_sgd/{config.method}")
