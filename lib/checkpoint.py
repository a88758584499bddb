"""Checkpointing: the only module that imports orbax.

One small interface for every project:

    ckpt = Checkpointer(workdir, every=500, keep=3, init_from=config.init_from)
    state, source = ckpt.restore(fresh_state)      # workdir latest -> init_from -> fresh
    ...
    ckpt.maybe_save(step, state)                   # async, every `every` steps
    if ckpt.preempted(): ckpt.save(step, state); ckpt.close(); sys.exit(0)

`state` is any pytree of arrays: params, optimizer state, RNG key, the data iterator's
position, per-client state. Iterators in tessera are pure functions of (seed, step), so
saving the step saves the iterator; a resumed run is bit-identical to an uninterrupted one.

Safety: orbax writes each checkpoint to a temporary folder and renames it when complete,
so a run killed mid-save leaves no partial checkpoint behind. If the latest checkpoint is
unreadable anyway (disk corruption, a truncated file), restore falls back to the previous
one and says so.
"""

from __future__ import annotations

import os
import signal
import threading

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging


def _is_workdir_with_checkpoints(path: str) -> str:
    sub = os.path.join(path, "checkpoints")
    return sub if os.path.isdir(sub) else path


class Checkpointer:
    def __init__(self, workdir: str, every: int, keep: int = 3, init_from: str | None = None,
                 init_keys=("params",), handle_sigterm: bool = True):
        self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
        self.every = int(every)
        self.init_from = init_from or None
        self.init_keys = tuple(init_keys)
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=True, enable_async_checkpointing=True,
                cleanup_tmp_directories=True,
            ),
        )
        self._preempted = threading.Event()
        self._old_handler = None
        if handle_sigterm and threading.current_thread() is threading.main_thread():
            self._old_handler = signal.signal(signal.SIGTERM, self._on_sigterm)

    # -- signals -------------------------------------------------------------------------
    def _on_sigterm(self, signum, frame):
        logging.warning("SIGTERM received: the run will save a checkpoint and exit.")
        self._preempted.set()

    def preempted(self) -> bool:
        """True once any process got SIGTERM (agreed across processes)."""
        flag = self._preempted.is_set()
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils
            flag = bool(np.any(multihost_utils.process_allgather(np.array(flag))))
        return flag

    # -- save ----------------------------------------------------------------------------
    def save(self, step: int, state) -> None:
        if step in (self._manager.all_steps() or []):
            return
        self._manager.save(int(step), args=ocp.args.StandardSave(state), force=True)

    def maybe_save(self, step: int, state) -> bool:
        if self.every > 0 and step % self.every == 0:
            self.save(step, state)
            return True
        return False

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
        if self._old_handler is not None:
            signal.signal(signal.SIGTERM, self._old_handler)
            self._old_handler = None

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    # -- restore -------------------------------------------------------------------------
    def restore(self, template):
        """(state, source): the latest good checkpoint in the workdir, else `init_from`, else template.

        With `init_from`, only the top-level keys in `init_keys` (default: params) are taken
        from that checkpoint; the rest (optimizer, step, RNG) starts fresh.
        """
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        for step in reversed(self.all_steps()):
            try:
                state = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
                logging.info("Restored checkpoint step %d from %s", step, self.directory)
                return state, "workdir"
            except Exception as e:  # a corrupted checkpoint: fall back to the previous one
                logging.error("Checkpoint step %d in %s is unreadable (%s: %s); trying the previous one.",
                              step, self.directory, type(e).__name__, e)
        if self.init_from:
            src = _is_workdir_with_checkpoints(self.init_from)
            if not os.path.isdir(src):
                raise FileNotFoundError(f"config.init_from={self.init_from!r}: no such checkpoint folder")
            with ocp.CheckpointManager(src, options=ocp.CheckpointManagerOptions(read_only=True)) as mngr:
                step = mngr.latest_step()
                if step is None:
                    raise FileNotFoundError(f"config.init_from={self.init_from!r} holds no checkpoint")
                loaded = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
            missing = [k for k in self.init_keys if k not in template]
            if missing:
                raise KeyError(f"init_keys {missing} are not in the train state (keys: {list(template)})")
            state = dict(template)
            for k in self.init_keys:
                state[k] = loaded[k]
            logging.info("Initialised %s from %s step %d", self.init_keys, src, step)
            return state, "init_from"
        return template, "fresh"
