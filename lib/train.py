"""The generic training loop: jitted step, periodic log / eval / checkpoint, NaN stop.

A project builds its pieces and hands them over:

    final = train.run(config, workdir, state=state, step_fn=step, batch_fn=batches,
                      num_steps=n, eval_fn=evaluate)

- `state` is a dict pytree with an int32 scalar `step`; everything else in it (params,
  optimizer state, RNG key, per-client state, router biases...) is the project's. It is
  restored from the workdir's latest checkpoint (or `config.init_from`) before the loop.
- `step_fn(state, batch) -> (state, metrics)` is the project's jitted step; metrics
  must hold a scalar `loss` (checked for NaN/inf every step).
- `batch_fn(step) -> batch`: batches are a pure function of the step, so the iterator
  needs no state of its own beyond the step that is already in the checkpoint.
  `batch_fn=None` for loops with no external input (e.g. federated rounds that sample
  their own clients from the state's RNG).
- `eval_fn(state) -> metrics` runs every `eval_every` steps and at the end.

Config keys read (all optional): log_every, eval_every, checkpoint_every, keep_checkpoints,
init_from.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Callable

import jax
import numpy as np
from absl import logging

from lib import checkpoint as checkpoint_lib
from lib import metrics as metrics_lib


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN/inf; the message names the step and the last good checkpoint."""


def _cfg(config, key, default):
    return config.get(key, default) if config is not None and config.get(key) is not None else default


def _scalars(metrics) -> dict:
    out = {}
    for k, v in jax.device_get(metrics).items():
        v = np.asarray(v)
        if v.ndim == 0:
            out[k] = v.item()
    return out


def run(config, workdir: str, *, state: dict, step_fn: Callable, num_steps: int,
        batch_fn: Callable | None = None, eval_fn: Callable | None = None,
        desc: str | None = None, examples_per_step: int | None = None) -> dict:
    """Runs (or resumes) training to `num_steps`; returns the final metrics (also in final_metrics.json)."""
    if config is not None:  # again, now with the values the project derived after overrides
        from lib.app import write_config
        write_config(config, workdir)
    log_every = int(_cfg(config, "log_every", 50))
    eval_every = int(_cfg(config, "eval_every", 0))
    ckpt = checkpoint_lib.Checkpointer(
        workdir, every=int(_cfg(config, "checkpoint_every", 1000)),
        keep=int(_cfg(config, "keep_checkpoints", 3)), init_from=_cfg(config, "init_from", None),
    )
    state, source = ckpt.restore(state)
    start = int(jax.device_get(state["step"]))
    if source == "workdir":
        logging.info("Resuming at step %d", start)
    writer = metrics_lib.MetricWriter(workdir, resume_step=start)
    bar = metrics_lib.Progress(num_steps, initial=start, desc=desc or (config.get("project") or "train"))
    last_eval: dict = {}
    train_metrics: dict = {}
    t_interval, n_interval = time.perf_counter(), 0
    t0 = time.perf_counter()

    try:
        for step in range(start, num_steps):
            batch = batch_fn(step) if batch_fn is not None else None
            new_state, m = step_fn(state, batch)
            train_metrics = _scalars(m)
            loss = train_metrics.get("loss")
            if loss is None or not math.isfinite(loss):
                ckpt.wait()
                good = ckpt.latest_step()
                raise NonFiniteLossError(
                    f"loss is {loss} at step {step + 1} (the update from step {step} to {step + 1}); "
                    f"stopping without saving. Last good checkpoint: "
                    f"{'step %d in %s' % (good, ckpt.directory) if good is not None else 'none'}"
                )
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
                t_interval, n_interval = time.perf_counter(), 0
            if eval_fn is not None and ((eval_every and done % eval_every == 0) or done == num_steps):
                last_eval = _scalars(eval_fn(state))
                writer.write(done, last_eval)
            ckpt.maybe_save(done, state)
            if ckpt.preempted():
                ckpt.save(done, state)
                ckpt.close()
                writer.close()
                bar.close()
                logging.warning("Preempted: saved step %d to %s; exiting.", done, ckpt.directory)
                print(f"Preempted: checkpoint at step {done} saved; resume by running the same command.")
                sys.exit(0)
        if num_steps > 0:
            ckpt.save(num_steps, state)
        if eval_fn is not None and not last_eval:
            last_eval = _scalars(eval_fn(state))
    finally:
        ckpt.close()
        writer.close()
        bar.close()

    wall = time.perf_counter() - t0
    final = {
        "step": num_steps, **{f"train_{k}": v for k, v in train_metrics.items()}, **last_eval,
        "wall_time_s": wall, "steps_run": num_steps - start, "resumed_from": start,
        "devices": jax.device_count(), "device_kind": jax.devices()[0].device_kind,
        "processes": jax.process_count(),
    }
    if jax.process_index() == 0:
        with open(os.path.join(workdir, "final_metrics.json"), "w") as f:
            json.dump(final, f, indent=2, sort_keys=True)
        shown = ", ".join(f"{k}={v:.4f}" for k, v in last_eval.items() if isinstance(v, float))
        rate = (num_steps - start) / wall if wall > 0 else float("nan")
        print(f"[{desc or config.get('project')}] done: step {num_steps}, {num_steps - start} steps in "
              f"{wall:.1f} s ({rate:.1f} steps/s); {shown}", flush=True)
    return final
