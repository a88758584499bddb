"""Speed choices measured on the machine that runs them, once, and cached.

Tile sizes and thresholds tuned on one CPU do not carry to another (cache sizes, core
counts and SIMD width differ): the same MoE dropless tile was 1.09x its floor on one 2-core
x86 machine and 1.35x on another. A choice made here is measured at first use on the actual
problem shape, stored in `~/.cache/tessera/autotune.json` (or `$TESSERA_CACHE_DIR`) under
this machine's key (platform, CPU model, core count, jax version), and read back on every
later run, so a run's numerics do not change between runs on one machine.

TESSERA_AUTOTUNE=0 skips measuring and uses each call's default (the tests do this, so
that their results do not depend on the machine).
"""

from __future__ import annotations

import json
import os
import platform
import time
from typing import Callable, Sequence

import jax


def cpu_model() -> str:
    """The host CPU's model name (from /proc/cpuinfo where it exists)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key() -> str:
    dev = jax.devices()[0]
    where = cpu_model() if dev.platform == "cpu" else dev.device_kind
    return f"{dev.platform}|{where}|{os.cpu_count()} cores|jax {jax.__version__}"


def enabled() -> bool:
    return os.environ.get("TESSERA_AUTOTUNE", "1") not in ("0", "false", "off")


def cache_path() -> str:
    root = os.environ.get("TESSERA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tessera")
    return os.path.join(root, "autotune.json")


def _load() -> dict:
    try:
        with open(cache_path()) as f:
            return json.load(f)
    except (OSError, ValueError):  # missing or damaged: measure again
        return {}


def _store(entries: dict) -> None:
    path = cache_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(entries, f, indent=1, sort_keys=True)
    os.replace(tmp, path)  # atomic: concurrent runs never read half a file


def time_call(fn: Callable[[], object], repeats: int = 3) -> float:
    """Best wall time of `fn()` (blocked until ready) over `repeats` runs after one warm-up."""
    jax.block_until_ready(fn())
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t)
    return best


def choose(name: str, problem: str, candidates: Sequence, measure: Callable[[object], float], default):
    """The fastest of `candidates` for `problem` on this machine: cached, else measured by
    `measure(candidate) -> seconds` for each and cached. `default` when autotuning is off."""
    if not enabled():
        return default
    key = f"{name}|{problem}"
    machine = machine_key()
    entries = _load()
    hit = entries.get(machine, {}).get(key)
    if hit is not None and hit["choice"] in list(candidates):
        return hit["choice"]
    times = {str(c): measure(c) for c in candidates}
    best = min(candidates, key=lambda c: times[str(c)])
    entries = _load()  # re-read: another process may have added entries meanwhile
    entries.setdefault(machine, {})[key] = {"choice": best, "seconds": times}
    _store(entries)
    return best


def recorded(name: str, problem: str) -> dict | None:
    """The cache entry of a choice on this machine ({'choice', 'seconds'}), if measured."""
    return _load().get(machine_key(), {}).get(f"{name}|{problem}")
