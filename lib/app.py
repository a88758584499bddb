"""The entry point every project's `main.py` calls.

    # projects/<name>/main.py (three lines): import lib.app and the project's train
    # module, then call app.run(train.train_and_evaluate) under `if __name__ == "__main__"`.

Flags: `--config=configs/<name>/x.py[:key=value,...]` (locked: overriding a key the
config does not have is an error), `--config.key=value` overrides, `--workdir`.
When launched as several processes (SLURM, TPU VM, Open MPI, or our
`launch/multiprocess_cpu.sh`, which sets JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
JAX_PROCESS_ID), `jax.distributed.initialize()` runs before anything touches a device.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Callable

from absl import app as absl_app
from absl import flags, logging
from ml_collections import config_flags

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


def write_config(config, workdir: str) -> None:
    import jax

    if jax.process_index() != 0:
        return
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=2, sort_keys=True))


def _quiet_libraries() -> None:
    """Keep INFO lines from orbax/jax internals out of the console (warnings still show)."""
    import logging as std_logging

    def keep(record) -> bool:
        return record.levelno >= std_logging.WARNING or not any(
            s in record.pathname for s in ("/orbax/", "/jax/", "/etils/"))

    logging.get_absl_handler().addFilter(keep)


def run(train_fn: Callable, project: str | None = None) -> None:
    """Parses flags, initialises distributed JAX, checks the config, calls train_fn(config, workdir)."""
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
        try:
            check_project(config, project)
        except ConfigError as e:
            logging.error("%s", e)
            print(f"ConfigError: {e}", file=sys.stderr)
            sys.exit(2)
        workdir = os.path.abspath(_WORKDIR.value)
        write_config(config, workdir)
        try:
            train_fn(config, workdir)
        except ConfigError as e:  # bad input: a clean message, not a traceback
            print(f"ConfigError: {e}", file=sys.stderr)
            sys.exit(2)

    absl_app.run(main, flags_parser=_parse_flags)


def _parse_flags(argv):
    """absl's parser, with bad `--config.*` overrides reported as one line, not a traceback."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        print(f"FATAL Flags parsing error: {e}", file=sys.stderr)
        sys.exit(1)
    except (AttributeError, KeyError) as e:  # override of a key the (locked) config lacks
        bad = [a.split("=")[0] for a in argv[1:] if a.startswith("--config.")]
        msg = " ".join(str(e).replace("\\n", " ").replace("'", " ").replace("\\", "").split())
        print(f"ConfigError: unknown config key in {bad}: {msg}", file=sys.stderr)
        sys.exit(2)


def read_config(workdir: str) -> dict:
    with open(os.path.join(workdir, "config.json")) as f:
        return json.load(f)
