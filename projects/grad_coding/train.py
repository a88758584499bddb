"""Sequential gradient coding vs classic gradient coding vs uncoded data-parallel training, on a
virtual clock with Gilbert-Elliott (bursty) stragglers.

M models are trained concurrently (one learning rate each, a small sweep): job t is one full-batch
gradient step of model t mod M. In every mode the job's batch (D samples) is split into the same
n K units of `unit_size` samples (K from the M-SGC layout, schemes.MSGC); the modes differ in which
worker computes which units in which round, and in when the master can decode:
- `uncoded`: worker i computes partition i (K units); the master waits for all n.
- `gc`: gradient coding (lib.fl.clock.coding, cyclic or fractional repetition) tolerating
  `gc.s` stragglers: each worker computes s + 1 partitions; the master waits for the fastest
  workers that decode (n - s for cyclic repetition).
- `sgc`: M-SGC with delay T = W - 2 + B (schemes.py); job t is decoded at the end of round t + T.
- `srsgc`: SR-SGC (scheme 1), GC(s = ceil(B lambda / (W - 1 + B))) with selective re-attempts,
  T = W - 1; job t is decoded in the first round it can be (jobs may finish out of order; an
  evaluation after step k is placed at the time jobs 0..k-1 are all done).

The schedule (which tasks, who straggled, the master's waits, every job's decoding coefficients)
is host NumPy, a pure function of the config, computed ahead (`plan`). The device step is the
master's decode made concrete: the units' gradients G [U, ...] of the job's model (vmapped), the
workers' messages E G (E: each result slot as a combination of units, zero for lost ones), the
decoded sum a^T (E G) (E as each message's nonzero units and coefficients), divided by D, one SGD step of that model. The decoded gradient equals the
plain batch gradient up to float rounding, so all modes take the same steps; they differ in
virtual time. One loop step (lib.train) is one completed job.

A worker's round costs download (latency + model bytes / bandwidth) + units x unit_size x seconds
per sample x slowdown + one upload of its messages (latency + messages x gradient bytes /
bandwidth); the slowdown is `clock.straggler_slowdown` while the worker is in the Gilbert-Elliott
bad state (lib.fl.clock.speeds, one transition per round). Stragglers' work of a round is lost.
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
from lib.data import mnist as mnist_data
from lib.fl.clock import coding, speeds
from lib.models.mlp import MLP
from projects.grad_coding import schemes

MODES = ("uncoded", "gc", "sgc", "srsgc")
DATASETS = mnist_data.FLAT_DATASETS


def validate(config) -> None:
    """Named errors before anything is built or compiled."""
    config_lib.choice(config, "mode", MODES)
    config_lib.choice(config, "dataset", DATASETS)
    n = config_lib.integer(config, "num_workers", 1)
    for key, lo in (("num_jobs", 1), ("unit_size", 1), ("eval_batch_size", 1)):
        config_lib.integer(config, key, lo)
    sg = config.sgc
    schemes.check_params(n, sg.B, sg.W, sg.lam, sg.code)
    if config.mode == "srsgc":
        build_scheme(config)  # its GC(s) must exist for n
    if not (np.isfinite(sg.tol) and sg.tol >= 0):
        raise ConfigError(f"config.sgc.tol={sg.tol!r} must be >= 0 (a worker is a straggler only beyond "
                          "(1 + tol) x the round's fastest)")
    config_lib.choice(config, "sgc.master", schemes.MASTERS)
    if config.mode == "gc":
        if config.gc.code == "uncoded":
            raise ConfigError("config.gc.code='uncoded': use config.mode='uncoded'")
        coding.check(config.gc.code, n, config.gc.s)
    lrs = tuple(config.lrs)
    if not lrs or not all(isinstance(v, (int, float)) and np.isfinite(v) and v > 0 for v in lrs):
        raise ConfigError(f"config.lrs={config.lrs!r} must be a non-empty tuple of positive learning rates "
                          "(one model per entry)")
    t_sgc = {"sgc": sg.W - 2 + sg.B, "srsgc": sg.W - 1}.get(config.mode, 0)
    if len(lrs) < t_sgc + 1:
        raise ConfigError(f"config.lrs has {len(lrs)} models; {config.mode} with B={sg.B}, W={sg.W} has delay "
                          f"T={t_sgc} and needs at least T + 1 = {t_sgc + 1} models (a model's next job starts "
                          "after its previous gradient is applied)")
    if not all(isinstance(h, int) and h > 0 for h in config.model.hidden):
        raise ConfigError(f"config.model.hidden={config.model.hidden!r} must be positive ints")
    speeds.make_speeds(config.clock, n, config.seed)
    speeds.make_stragglers(config.clock)


def build_scheme(config):
    """The codes are a fixed design (code seed 0), the same in every run and seed."""
    n, sg = config.num_workers, config.sgc
    msgc = schemes.MSGC(n, sg.B, sg.W, sg.lam, sg.code, 0)
    if config.mode == "sgc":
        return msgc
    if config.mode == "srsgc":
        return schemes.SRSGC(n, sg.B, sg.W, sg.lam, sg.code, msgc.units_per_worker, 0)
    if config.mode == "gc":
        return schemes.GC(n, config.gc.s, config.gc.code, msgc.units_per_worker, 0)
    return schemes.GC(n, 0, "uncoded", msgc.units_per_worker, 0)


@functools.lru_cache(maxsize=8)
def environment(st: speeds.Stragglers, seed: int, n: int, num_rounds: int) -> np.ndarray:
    """[rounds, n] compute-time multipliers: the same in every mode (seeded per worker and round)."""
    slowdown = np.ones((num_rounds, n))
    bad = np.zeros(n, bool)
    for r in range(num_rounds):
        for i in range(n):
            slowdown[r, i], bad[i] = speeds.slowdown(st, seed, i, r, bool(bad[i]))
    slowdown.setflags(write=False)
    return slowdown


def decode_error(config, scheme, rounds) -> float:
    """max over jobs and units of |a^T E - 1| with E in float32 as on the device (0: exact)."""
    return float(max(np.abs(rounds.coef[j].astype(np.float32) @ schemes.job_matrices(config.mode, scheme, rounds, j)[0]
                            - 1).max() for j in range(config.num_jobs)))


def plan(config, num_params: int) -> dict:
    """The whole run on the virtual clock (host NumPy, deterministic from the config)."""
    n = config.num_workers
    scheme = build_scheme(config)
    sp = speeds.make_speeds(config.clock, n, config.seed)
    st = speeds.make_stragglers(config.clock)
    slowdown = environment(st, config.seed, n, config.num_jobs + scheme.T)
    grad_bytes = model_bytes = 4.0 * num_params
    down = sp.latency + model_bytes / sp.bandwidth

    def worker_time(r, units, messages):
        compute = units * config.unit_size * sp.step_time * slowdown[r]
        return down + compute + sp.latency + messages * grad_bytes / sp.bandwidth, slowdown[r] > 1

    sg = config.sgc
    rounds = schemes.simulate(config.mode, scheme, config.num_jobs, worker_time, tol=sg.tol,
                              design=(sg.B, sg.W, sg.lam), master=sg.master)
    done_by = np.maximum.accumulate(rounds.job_time)  # jobs 0..k all decoded
    tasks = scheme.T + 1 if config.mode == "sgc" else 1  # per worker and round (srsgc: one, new job or re-attempt)
    return {"scheme": scheme, "rounds": rounds, "batch": scheme.units * config.unit_size, "done_by": done_by,
            "load_per_round": scheme.load_units() * tasks / scheme.units,
            "bytes_per_round": n * (model_bytes + grad_bytes * tasks)}


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    x_tr, y_tr, x_te, y_te = mnist_data.load_flat(config.dataset, config_lib.data_dir(config), config.seed)
    lrs = jnp.asarray(tuple(config.lrs), jnp.float32)
    m_models = len(config.lrs)
    model = MLP(hidden=tuple(config.model.hidden), num_classes=10)
    keys = jax.random.split(jax.random.PRNGKey(config.seed), m_models)
    params = jax.vmap(lambda k: model.init(k, x_tr[:1])["params"])(keys)  # [M, ...] one model per lr
    num_params = sum(x.size for x in jax.tree.leaves(params)) // m_models
    p = plan(config, num_params)
    scheme, rounds, batch = p["scheme"], p["rounds"], p["batch"]
    if batch > len(x_tr):
        raise ConfigError(f"a job's batch n K unit_size = {batch} exceeds the {len(x_tr)} training samples; "
                          "lower config.unit_size")
    units, u = scheme.units, config.unit_size

    def unit_loss(w, x, y):  # summed over the unit's samples
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": w}, x), y).sum()

    @jax.jit
    def step_fn(state, b):
        m = state["step"] % m_models
        w = jax.tree.map(lambda a: a[m], state["params"])
        losses, g_units = jax.vmap(jax.value_and_grad(unit_loss), in_axes=(None, 0, 0))(w, b["x"], b["y"])
        # workers' messages: message r = sum_k val[r, k] (gradient of unit idx[r, k])
        msgs = jax.tree.map(lambda g: jnp.einsum("rk,rk...->r...", b["enc_val"], g[b["enc_idx"]]), g_units)
        grad = jax.tree.map(lambda c: jnp.tensordot(b["dec"], c, axes=1) / batch, msgs)  # master's decode
        new_w = jax.tree.map(lambda a, d: a - lrs[m] * d, w, grad)
        new = jax.tree.map(lambda a, nw: a.at[m].set(nw), state["params"], new_w)
        return {"step": state["step"] + 1, "params": new}, {"loss": losses.sum() / batch}

    def batch_fn(step):
        idx = np.random.default_rng([config.seed, 1, step]).choice(len(x_tr), batch, replace=False)
        enc, dec = schemes.job_matrices(config.mode, scheme, rounds, step)
        enc_idx, enc_val = schemes.sparse_rows(enc, scheme.nnz)
        return {"x": x_tr[idx].reshape(units, u, -1), "y": y_tr[idx].reshape(units, u),
                "enc_idx": enc_idx, "enc_val": enc_val, "dec": dec.astype(np.float32)}

    @jax.jit
    def correct(ws, x, y):
        logits = jax.vmap(lambda w: model.apply({"params": w}, x))(ws)
        return jnp.sum(jnp.argmax(logits, -1) == y[None], axis=1)

    def accuracies(ws) -> np.ndarray:
        n = config.eval_batch_size
        tot = sum(np.asarray(correct(ws, x_te[i:i + n], y_te[i:i + n])) for i in range(0, len(x_te), n))
        return tot / len(x_te)

    def eval_fn(state):
        s = int(jax.device_get(state["step"]))
        acc = accuracies(state["params"])
        out = {"test_accuracy": float(acc.max()), "test_accuracy_mean": float(acc.mean()),
               "virtual_time": float(p["done_by"][s - 1]) if s else 0.0}
        out.update({f"test_accuracy_m{k}": float(a) for k, a in enumerate(acc)})
        return out

    initial = accuracies(params)
    state = {"step": jnp.int32(0), "params": params}

    def summary(final):
        nr = len(rounds.round_end)
        return {"initial_test_accuracy": float(initial.max()), "virtual_time": float(p["done_by"][-1]),
                "rounds": nr, "mean_round_time": float(rounds.round_end[-1] / nr),
                "declared_stragglers_per_round": float(rounds.stragglers.sum() / nr),
                "slow_workers_per_round": float(rounds.slow.sum() / nr), "batch": batch,
                "load_per_round": p["load_per_round"], "bytes_per_round": p["bytes_per_round"],
                "delay_T": scheme.T, "num_models": m_models, "decode_error": decode_error(config, scheme, rounds)}

    return train_lib.run(config, workdir, state=state, step_fn=step_fn, batch_fn=batch_fn,
                         num_steps=config.get("stop_after_steps") or config.num_jobs, eval_fn=eval_fn,
                         summary_fn=summary, desc=f"grad_coding/{config.mode}")
