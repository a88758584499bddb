"""The entry point every project's `main.py` calls.

    # projects/<name>/main.py (three lines): import lib.app and the project's train
    # module, then call app.run(train.train_and_evaluate) under `if __name__ == "__main__"`.

Flags: `--config=configs/<name>/x.py[:key=value,...]` (locked: overriding a key the
config does not have is an error), `--config.key=value` overrides, `--workdir`.
When launched as several processes (SLURM, TPU VM, Open MPI, or our
`launch/multiprocess_cpu.sh`, which sets JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
JAX_PROCESS_ID), `jax.distributed.initialize()` runs before anything touches a device.

Errors: every named error (`lib.errors.TesseraError`: a bad config value or file, a bad
data file, a workdir in use, a checkpoint that does not fit, a diverged run) is printed
as one line `ClassName: message` on stderr and the process exits with code 2, whether it
comes from the flags, the config file's get_config or the run; TESSERA_DEBUG=1 shows the
traceback instead. The workdir is locked before the run starts (lib.workdir), so a
second run on a live workdir fails at once.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from absl import app as absl_app
from absl import flags, logging
from ml_collections import config_flags

from lib import errors
from lib import train as train_lib
from lib import workdir as workdir_lib
from lib.config import ConfigError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/lamb/default.py[:arg]",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and config.json.")


def _launched_as_several_processes() -> bool:
    env = os.environ
    if env.get("TESSERA_DISTRIBUTED") == "1":
        return True
    if int(env.get("JAX_NUM_PROCESSES", "1")) > 1:
        return True
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_JOB_ID" in env:
        return True
    if int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
        return True
    return "TPU_WORKER_HOSTNAMES" in env and "," in env["TPU_WORKER_HOSTNAMES"]


def initialize_distributed() -> None:
    """`jax.distributed.initialize()` when this is one of several processes; no-op otherwise."""
    if not _launched_as_several_processes():
        return
    import jax

    env = os.environ
    if "JAX_COORDINATOR_ADDRESS" in env and "JAX_PROCESS_ID" in env:
        jax.distributed.initialize(
            coordinator_address=env["JAX_COORDINATOR_ADDRESS"],
            num_processes=int(env["JAX_NUM_PROCESSES"]),
            process_id=int(env["JAX_PROCESS_ID"]),
        )
    else:  # SLURM, Open MPI and TPU VMs are detected by JAX itself
        jax.distributed.initialize()
    logging.info("jax.distributed: process %d of %d, %d local / %d global devices",
                 jax.process_index(), jax.process_count(), jax.local_device_count(), jax.device_count())


def project_of(fn: Callable) -> str | None:
    parts = fn.__module__.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "projects" else None


def check_project(config, expected: str | None) -> None:
    got = config.get("project")
    if expected is not None and got != expected:
        raise ConfigError(
            f"config.project={got!r} but this is projects/{expected}: pass a config from configs/{expected}/ "
            "(or, in a fork, set config.project to the new project's name)"
        )


def _quiet_libraries() -> None:
    """Keep INFO lines from orbax/jax internals out of the console (warnings still show)."""
    import logging as std_logging

    def keep(record) -> bool:
        return record.levelno >= std_logging.WARNING or not any(
            s in record.pathname for s in ("/orbax/", "/jax/", "/etils/"))

    logging.get_absl_handler().addFilter(keep)


def fail(e: BaseException) -> None:
    """Reports a named error as one line on stderr and exits with code 2 (the traceback
    instead, with TESSERA_DEBUG=1)."""
    if errors.debug():
        raise e
    print(errors.one_line(e), file=sys.stderr, flush=True)
    sys.exit(errors.EXIT_CODE)


def run(train_fn: Callable, project: str | None = None) -> None:
    """Parses flags, initialises distributed JAX, checks the config, locks the workdir,
    calls train_fn(config, workdir). config.json is written by lib.train once the project
    has validated the config (an invalid override never replaces the previous one)."""
    project = project or project_of(train_fn)

    def main(argv):
        if len(argv) > 1:
            raise absl_app.UsageError(f"Unexpected arguments: {argv[1:]}")
        if _CONFIG.value is None:
            raise absl_app.UsageError("--config is required, e.g. --config=configs/lamb/default.py")
        if not _WORKDIR.value:
            raise absl_app.UsageError("--workdir is required")
        _quiet_libraries()
        initialize_distributed()
        config = _CONFIG.value
        workdir = os.path.abspath(_WORKDIR.value)
        try:
            check_project(config, project)
            train_lib.check_common(config)
            with workdir_lib.lock(workdir):  # a second run on this workdir fails here, at once
                train_fn(config, workdir)
        except errors.TesseraError as e:  # bad input or a diverged run: one line, not a traceback
            fail(e)

    absl_app.run(main, flags_parser=_parse_flags)


def _config_path(argv) -> str | None:
    for i, a in enumerate(argv[1:], 1):
        if a.startswith("--config="):
            return a.split("=", 1)[1].split(":", 1)[0]
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1].split(":", 1)[0]
    return None


def _innermost_named(e: BaseException | None):
    found, seen = None, set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, errors.TesseraError):
            found = e
        e = e.__cause__ or e.__context__
    return found


def _parse_flags(argv):
    """absl's parser, with bad `--config` files and `--config.*` overrides reported as one
    line (exit code 2), not a traceback."""
    path = _config_path(argv)
    if path is not None and not os.path.isfile(path):
        fail(ConfigError(f"--config={path}: no such file (give a config file such as "
                         "configs/<project>/default.py, relative to the repository root)"))
    try:
        return flags.FLAGS(argv)
    except (errors.TesseraError, flags.Error) as e:
        # get_config's own error (e.g. a bad `:key=value` argument); config_flags re-raises
        # it with a traceback as its message, so the original is found in the chain
        named = _innermost_named(e)
        fail(named if named is not None else ConfigError(f"bad flag: {e}"))
    except (AttributeError, KeyError) as e:  # override of a key the (locked) config lacks
        bad = [a.split("=")[0] for a in argv[1:] if a.startswith("--config.")]
        msg = " ".join(str(e).replace("\\n", " ").replace("'", " ").replace("\\", "").split())
        fail(ConfigError(f"unknown config key in {bad}: {msg}"))
    except (OSError, SyntaxError, ImportError, NameError, TypeError, ValueError) as e:  # the config file itself
        if errors.debug():
            raise
        fail(ConfigError(f"--config={path}: cannot be loaded ({type(e).__name__}: {e})"))
