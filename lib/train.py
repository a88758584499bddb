"""The generic training loop: jitted step, periodic log / eval / checkpoint, non-finite stop.

A project builds its pieces and hands them over:

    final = train.run(config, workdir, state=state, step_fn=step, batch_fn=batches,
                      num_steps=n, eval_fn=evaluate)

- `state` is a dict pytree with an int32 scalar `step`; everything else in it (params,
  optimizer state, RNG key, per-client state, router biases...) is the project's. It is
  restored from the workdir's latest checkpoint (or `config.init_from`) before the loop.
- `step_fn(state, batch) -> (state, metrics)` is the project's jitted step; metrics
  must hold a scalar `loss`.
- `batch_fn(step) -> batch`: batches are a pure function of the step, so the iterator
  needs no state of its own beyond the step that is already in the checkpoint.
  `batch_fn=None` for loops with no external input (e.g. federated rounds that sample
  their own clients from the state's RNG).
- `eval_fn(state) -> metrics` runs every `eval_every` steps and at the end.

Steps are counted as checkpoints are: "the state at step k" is the state after k
updates. Every step, the new state (its float leaves on the device) and the loss are checked; an
evaluation's metrics too. The first non-finite value stops the run with a
`NonFiniteError` that names that step: the loss at step k is the loss of the state at
step k (computed by the update to k + 1), so a checkpoint of a state whose loss turns
out non-finite is moved aside (`checkpoints/<k>.nonfinite`); a non-finite state is never
saved. The workdir is locked for the run (lib.workdir), and config.json is written only
once the config is validated and the saved state fits it.

Config keys read (all optional): seed, total, log_every, eval_every, checkpoint_every,
keep_checkpoints, init_from (checked by `check_common` before anything is built).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from lib import checkpoint as checkpoint_lib
from lib import config as config_lib
from lib import metrics as metrics_lib
from lib import workdir as workdir_lib
from lib.config import ConfigError
from lib.errors import NonFiniteError, WorkdirError


def _cfg(config, key, default):
    return config.get(key, default) if config is not None and config.get(key) is not None else default


def _int_key(config, key: str, default: int, lo: int) -> int:
    value = _cfg(config, key, default)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ConfigError(f"config.{key}={value!r} must be an integer >= {lo}")
    return int(value)


def check_common(config) -> dict:
    """Validates the keys every project shares (named errors, before anything is built) and
    returns the loop's settings: log_every >= 1, eval_every >= 0, checkpoint_every >= 0
    (0: only at the end), keep_checkpoints >= 1, seed in [0, 2^32), total > 0."""
    out = {
        "log_every": _int_key(config, "log_every", 50, 1),
        "eval_every": _int_key(config, "eval_every", 0, 0),
        "checkpoint_every": _int_key(config, "checkpoint_every", 1000, 0),
        "keep_checkpoints": _int_key(config, "keep_checkpoints", 3, 1),
        "init_from": _cfg(config, "init_from", None),
    }
    if config is None:
        return out
    if "seed" in config:
        seed = config.seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
            raise ConfigError(f"config.seed={seed!r} must be an integer in [0, 2^32)")
    if config.get("total") is not None:
        amount, unit = config_lib.parse_duration("total", config.total)
        if amount <= 0:
            raise ConfigError(f"config.total={config.total!r} must be > 0 {unit}")
    if out["init_from"] is not None and not isinstance(out["init_from"], str):
        raise ConfigError(f"config.init_from={out['init_from']!r} must be a workdir or checkpoint folder")
    return out


def _scalars(metrics) -> dict:
    out = {}
    for k, v in metrics.items():
        v = np.asarray(v)
        if v.ndim == 0:
            out[k] = v.item()
    return out


def _checked(x) -> bool:
    """Float leaves on the device. Host-resident parts of a state (numpy arrays, e.g. the
    per-client states of a lib.fl.population run) are not scanned every step: their owner
    checks what it changes (the FL engine checks each cohort's updates)."""
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.inexact)


@jax.jit
def _all_finite(leaves):
    flags = [jnp.all(jnp.isfinite(x)) for x in leaves]
    return jnp.stack(flags) if flags else jnp.ones((0,), bool)


def _finite_leaves(state):
    """[L] bool: checked leaf l of the state is all finite (one fused pass over them)."""
    return _all_finite([x for x in jax.tree.leaves(state) if _checked(x)])


def _host(x) -> np.ndarray:
    if getattr(x, "is_fully_addressable", True):
        return np.asarray(jax.device_get(x))
    return np.asarray(x.addressable_data(0))  # replicated across processes


def _first_bad_leaf(state, flags) -> str:
    names = [jax.tree_util.keystr(p) for p, x in jax.tree_util.tree_flatten_with_path(state)[0] if _checked(x)]
    bad = [n for n, ok in zip(names, flags) if not ok]
    return f"{bad[0]}" + (f" and {len(bad) - 1} more" if len(bad) > 1 else "")


def _nonfinite(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)}


class _Stop:
    """Ends a run whose state went non-finite at `bad_step`: checkpoints of that state or
    later are moved aside; the error names the step and the last good checkpoint."""

    def __init__(self, ckpt):
        self.ckpt = ckpt

    def __call__(self, bad_step: int, what: str, cls=NonFiniteError):
        self.ckpt.wait()
        for s in self.ckpt.all_steps():
            if s >= bad_step:
                self.ckpt.set_aside(s, "nonfinite", f"holds the state of step {s}, which went non-finite")
        good = self.ckpt.latest_step()
        if good is None:
            raise cls(f"{what}; the run stops and saves nothing from it. Last good checkpoint: none "
                      "(a rerun starts from step 0). Lower the learning rate (or fix the input) and rerun.")
        raise cls(f"{what}; the run stops and saves nothing from it. Last good checkpoint: step {good} in "
                  f"{self.ckpt.directory}. Lower the learning rate (or fix the input) and rerun: it resumes there.")


def run(config, workdir: str, *, state: dict, step_fn: Callable, num_steps: int,
        batch_fn: Callable | None = None, eval_fn: Callable | None = None,
        desc: str | None = None, examples_per_step: int | None = None,
        summary_fn: Callable[[dict], dict] | None = None) -> dict:
    """Runs (or resumes) training to `num_steps`; returns the final metrics (also in final_metrics.json).

    The final metrics carry the last log interval's `steps_per_sec` (and `examples_per_sec` given
    `examples_per_step`); `summary_fn(final)` may add derived entries (e.g. MFU) before the file is written.
    """
    loop = check_common(config)
    num_steps = int(num_steps)
    if num_steps < 1:
        raise ConfigError(f"the run has {num_steps} steps (config.total={_cfg(config, 'total', None)!r}); need >= 1")
    with workdir_lib.lock(workdir):
        return _run(config, os.path.abspath(workdir), loop, state=state, step_fn=step_fn, num_steps=num_steps,
                    batch_fn=batch_fn, eval_fn=eval_fn, desc=desc, examples_per_step=examples_per_step,
                    summary_fn=summary_fn)


def _changed_keys(config, workdir: str) -> list[str]:
    old = config_lib.read_config(workdir)
    if config is None or old is None:
        return []
    return config_lib.changed_keys(old, config_lib.as_json_dict(config))


def _run(config, workdir, loop, *, state, step_fn, num_steps, batch_fn, eval_fn, desc, examples_per_step,
         summary_fn) -> dict:
    log_every, eval_every = loop["log_every"], loop["eval_every"]
    ckpt = checkpoint_lib.Checkpointer(workdir, every=loop["checkpoint_every"], keep=loop["keep_checkpoints"],
                                       init_from=loop["init_from"])
    writer = bar = None
    stop = _Stop(ckpt)
    try:
        try:
            state, source = ckpt.restore(state)
        except checkpoint_lib.CheckpointMismatchError as e:
            changed = _changed_keys(config, workdir)
            if not changed:
                raise
            raise checkpoint_lib.CheckpointMismatchError(
                f"{e} (this config differs from the saved config.json in: {', '.join(changed)})") from None
        start = int(jax.device_get(state["step"]))
        if start > num_steps:
            raise WorkdirError(
                f"the checkpoint in {ckpt.directory} is at step {start}, past this run's {num_steps} steps: "
                "raise config.total, or pass a new --workdir")
        if source == "workdir":
            logging.info("Resuming at step %d", start)
            changed = _changed_keys(config, workdir)
            if changed:
                logging.warning("Resuming at step %d with a config that differs from the saved config.json in: %s",
                                start, ", ".join(changed))
        if not _host(_finite_leaves(state)).all():
            raise NonFiniteError(f"the {source} train state at step {start} is not finite "
                                 f"({_first_bad_leaf(state, _host(_finite_leaves(state)))})")
        if config is not None:  # validated, derived values filled in, and the saved state fits it
            config_lib.write_config(config, workdir)
        writer = metrics_lib.MetricWriter(workdir, resume_step=start)
        bar = metrics_lib.Progress(num_steps, initial=start,
                                   desc=desc or (config.get("project") if config is not None else None) or "train")
        last_eval: dict = {}
        train_metrics: dict = {}
        rates: dict = {}  # the last log interval's throughput (steady state once past the first interval)
        t_interval, n_interval = time.perf_counter(), 0
        t0 = time.perf_counter()

        def evaluate(done):
            out = _scalars(jax.device_get(eval_fn(state)))
            bad = _nonfinite(out)
            if bad:
                stop(done, f"evaluation of the state at step {done} gave non-finite {bad}")
            return out

        for step in range(start, num_steps):
            batch = batch_fn(step) if batch_fn is not None else None
            try:
                new_state, m = step_fn(state, batch)
            except NonFiniteError as e:  # raised inside the step (e.g. FL: a client's update)
                stop(step if e.step is None else e.step, str(e).rstrip("."), type(e))
            flags, m = jax.device_get((_finite_leaves(new_state), m))
            flags = _host(flags)
            train_metrics = _scalars(m)
            loss = train_metrics.get("loss")
            if loss is None:
                raise ValueError(f"step_fn metrics have no scalar 'loss' (keys: {sorted(train_metrics)})")
            if not math.isfinite(loss):
                stop(step, f"the training loss is {loss} at step {step} (the loss of the state at step {step} "
                           f"on the batch of step {step}; that state is finite)")
            if not flags.all():
                stop(step + 1, f"the train state became non-finite at step {step + 1} (the update from step {step}, "
                               f"whose loss was {loss:.4g}): {_first_bad_leaf(new_state, flags)}")
            state = new_state
            done = step + 1
            n_interval += 1
            bar.update(1, loss=loss)
            if done % log_every == 0 or done == num_steps:
                dt = time.perf_counter() - t_interval
                row = {f"train_{k}" if not k.startswith("train_") else k: v for k, v in train_metrics.items()}
                row["steps_per_sec"] = n_interval / dt
                if examples_per_step:
                    row["examples_per_sec"] = n_interval * examples_per_step / dt
                writer.write(done, row)
                rates = {k: row[k] for k in ("steps_per_sec", "examples_per_sec") if k in row}
                t_interval, n_interval = time.perf_counter(), 0
            if eval_fn is not None and ((eval_every and done % eval_every == 0) or done == num_steps):
                out = evaluate(done)
                if out:  # an eval_fn may skip a step by returning {} (lib.fl.clock: evaluates on virtual-time marks)
                    last_eval = out
                    writer.write(done, out)
            ckpt.maybe_save(done, state)
            if ckpt.preempted():
                ckpt.save(done, state)
                ckpt.close()
                writer.close()
                bar.close()
                logging.warning("Preempted: saved step %d to %s; exiting.", done, ckpt.directory)
                print(f"Preempted: checkpoint at step {done} saved; resume by running the same command.")
                sys.exit(0)
        if eval_fn is not None and not last_eval:
            last_eval = evaluate(num_steps)
        ckpt.save(num_steps, state)
    finally:
        ckpt.close()
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()

    wall = time.perf_counter() - t0
    final = {
        "step": num_steps, **{f"train_{k}": v for k, v in train_metrics.items()}, **last_eval,
        "wall_time_s": wall, "steps_run": num_steps - start, "resumed_from": start,
        "devices": jax.device_count(), "device_kind": jax.devices()[0].device_kind,
        "processes": jax.process_count(), **rates,
    }
    if summary_fn is not None:
        final.update(summary_fn(final))
    if jax.process_index() == 0:
        path = os.path.join(workdir, "final_metrics.json")
        with open(path + ".tmp", "w") as f:
            json.dump(final, f, indent=2, sort_keys=True)
        os.replace(path + ".tmp", path)
        shown = ", ".join(f"{k}={v:.4f}" for k, v in last_eval.items() if isinstance(v, float))
        rate = (num_steps - start) / wall if wall > 0 else float("nan")
        name = desc or (config.get("project") if config is not None else "train")
        print(f"[{name}] done: step {num_steps}, {num_steps - start} steps in "
              f"{wall:.1f} s ({rate:.1f} steps/s); {shown}", flush=True)
    return final
