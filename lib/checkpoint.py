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

Safety:
- orbax writes each checkpoint to a temporary folder and renames it when complete, so a
  run killed mid-save leaves no partial checkpoint behind.
- Restore tries the steps newest first, each with a fresh reader (an orbax manager that
  failed once is not trusted again). A step that cannot be read (disk corruption, a
  deleted or truncated file) is reported, moved aside to `checkpoints/<step>.corrupt`
  (kept for inspection, invisible to orbax) and the previous step is tried; the next save
  of that step writes it anew.
- A readable step whose tree (keys, shapes, dtypes) differs from the state this config
  builds is not damage: it is a `CheckpointMismatchError` that says how to start over,
  never a silent restart from scratch.
"""

from __future__ import annotations

import contextlib
import logging as std_logging
import os
import signal
import threading

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from lib.config import ConfigError
from lib.errors import WorkdirError

_ITEM = "default"  # the item folder orbax's CheckpointManager writes a StandardSave into


class CheckpointMismatchError(WorkdirError):
    """A readable checkpoint holds a train state that does not fit the current config."""


def _is_workdir_with_checkpoints(path: str) -> str:
    sub = os.path.join(path, "checkpoints")
    return sub if os.path.isdir(sub) else path


def _key_name(k) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def _leaves(tree) -> dict:
    """{'a/b/0': (shape, dtype name)} for every array leaf (orbax metadata or arrays)."""
    flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: hasattr(x, "shape") and hasattr(x, "dtype"))[0]
    return {"/".join(_key_name(k) for k in path): (tuple(v.shape), np.dtype(v.dtype).name)
            for path, v in flat if hasattr(v, "shape")}


def tree_differences(saved, expected) -> list[str]:
    """What differs between a checkpoint's tree (metadata) and a template: leaves whose
    shape/dtype changed, leaves only in the checkpoint, leaves only in the template."""
    a, b = _leaves(saved), _leaves(expected)
    changed = [f"{k}: saved {a[k][1]}{list(a[k][0])}, this config gives {b[k][1]}{list(b[k][0])}"
               for k in sorted(set(a) & set(b)) if a[k] != b[k]]
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    out = changed[:2] + ([f"{len(changed) - 2} more changed"] if len(changed) > 2 else [])
    if only_a:
        out.append(f"{len(only_a)} leaves only in the checkpoint (e.g. {only_a[0]})")
    if only_b:
        out.append(f"{len(only_b)} leaves only in this config's state (e.g. {only_b[0]})")
    return out


@contextlib.contextmanager
def _quiet():
    """Orbax warns on stderr about files it probes for; a damaged step is reported by us."""
    logger = std_logging.getLogger("absl")
    level = logger.level
    logger.setLevel(std_logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _sync(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices(name)


class Checkpointer:
    def __init__(self, workdir: str, every: int, keep: int = 3, init_from: str | None = None,
                 init_keys=("params",), handle_sigterm: bool = True):
        if int(keep) < 1:
            raise ConfigError(f"config.keep_checkpoints={keep!r} must be >= 1 (0 would keep no checkpoint at all)")
        if int(every) < 0:
            raise ConfigError(f"config.checkpoint_every={every!r} must be >= 0 (0: only at the end)")
        self.workdir = os.path.abspath(workdir)
        self.directory = os.path.join(self.workdir, "checkpoints")
        self.every = int(every)
        self.init_from = init_from or None
        self.init_keys = tuple(init_keys)
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=int(keep), create=True, enable_async_checkpointing=True,
                cleanup_tmp_directories=True,
            ),
        )
        # orbax removes unfinished temporary folders in a background thread that close() does
        # not join: a run that stops early (bad input) then dies with an error at exit, and a
        # restore could race with it. Wait for it here (private, hence guarded).
        getattr(self._manager, "_maybe_await_cleanup_tmp_directory", lambda: None)()
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

    def set_aside(self, step: int, suffix: str, why: str) -> str:
        """Moves checkpoint `step` to `<step>.<suffix>` (a name orbax ignores) and returns
        the new path; the step is then free to be saved again."""
        self._manager.wait_until_finished()
        src = os.path.join(self.directory, str(step))
        dst, i = f"{src}.{suffix}", 1
        while os.path.exists(dst):
            dst, i = f"{src}.{suffix}{i}", i + 1
        _sync(f"tessera_set_aside_{step}_a")
        if jax.process_index() == 0 and os.path.exists(src):
            os.rename(src, dst)
        _sync(f"tessera_set_aside_{step}_b")
        self._manager.reload()
        logging.error("Checkpoint step %d in %s %s; moved it to %s.", step, self.directory, why, dst)
        return dst

    # -- restore -------------------------------------------------------------------------
    def _metadata(self, step: int):
        """The saved tree's metadata, read by a fresh reader; None if it cannot be read."""
        with _quiet(), ocp.StandardCheckpointer() as reader:
            md = reader.metadata(os.path.join(self.directory, str(step), _ITEM))
        tree = getattr(md, "item_metadata", None)
        if tree is None:
            raise FileNotFoundError(f"no readable tree metadata in {os.path.join(self.directory, str(step), _ITEM)}")
        return tree

    def _read(self, step: int, abstract):
        with _quiet(), ocp.StandardCheckpointer() as reader:
            return reader.restore(os.path.join(self.directory, str(step), _ITEM), abstract)

    def restore(self, template):
        """(state, source): the latest good checkpoint in the workdir, else `init_from`, else template.

        With `init_from`, only the top-level keys in `init_keys` (default: params) are taken
        from that checkpoint; the rest (optimizer, step, RNG) starts fresh. Raises
        CheckpointMismatchError when a readable checkpoint does not fit `template`.
        """
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        for step in reversed(self.all_steps()):
            try:
                saved = self._metadata(step)
            except Exception as e:  # damaged: set it aside and try the previous step
                self.set_aside(step, "corrupt", f"is unreadable ({type(e).__name__}: {' '.join(str(e).split())[:300]})")
                continue
            diff = tree_differences(saved, abstract)
            if diff:
                raise CheckpointMismatchError(
                    f"checkpoint step {step} in {self.directory} holds a train state that does not fit this "
                    f"config ({'; '.join(diff)}): it was saved with a different config. To start over, use a new "
                    f"--workdir (add --config.init_from={self.workdir} to start from its parameters), or rerun "
                    f"with the config in {os.path.join(self.workdir, 'config.json')}")
            try:
                state = self._read(step, abstract)
            except Exception as e:
                self.set_aside(step, "corrupt", f"is unreadable ({type(e).__name__}: {' '.join(str(e).split())[:300]})")
                continue
            logging.info("Restored checkpoint step %d from %s", step, self.directory)
            return state, "workdir"
        if self.init_from:
            return self._restore_init_from(template, abstract), "init_from"
        return template, "fresh"

    def _restore_init_from(self, template, abstract):
        src = _is_workdir_with_checkpoints(self.init_from)
        if not os.path.isdir(src):
            raise ConfigError(f"config.init_from={self.init_from!r}: no such checkpoint folder")
        missing = [k for k in self.init_keys if k not in template]
        if missing:
            raise ConfigError(f"init_keys {missing} are not in the train state (keys: {list(template)})")
        with _quiet(), ocp.CheckpointManager(src, options=ocp.CheckpointManagerOptions(read_only=True)) as mngr:
            steps = sorted(mngr.all_steps())
        if not steps:
            raise ConfigError(f"config.init_from={self.init_from!r} holds no checkpoint")
        step, path = steps[-1], os.path.join(src, str(steps[-1]), _ITEM)
        with _quiet(), ocp.StandardCheckpointer() as reader:
            saved = getattr(reader.metadata(path), "item_metadata", None)
            if saved is None:
                raise ConfigError(f"config.init_from={self.init_from!r}: checkpoint step {step} is unreadable")
            part = {k: abstract[k] for k in self.init_keys}
            diff = tree_differences({k: saved[k] for k in self.init_keys if k in saved}, part)
            if diff:
                raise CheckpointMismatchError(
                    f"config.init_from={self.init_from!r}: step {step} does not fit this config's "
                    f"{'/'.join(self.init_keys)} ({'; '.join(diff)})")
            # the other keys may differ freely: they are read as saved (on one device) and dropped
            one = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
            target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=one), dict(saved),
                                  is_leaf=lambda x: hasattr(x, "shape") and hasattr(x, "dtype"))
            loaded = reader.restore(path, {**target, **part})
        state = dict(template)
        for k in self.init_keys:
            state[k] = loaded[k]
        logging.info("Initialised %s from %s step %d", self.init_keys, src, step)
        return state
