"""Config helpers: `parse_arg`, validation with named errors, durations in steps, config.json I/O.

Configs are data (`get_config(arg=None) -> ConfigDict`). Everything derived from them
(steps from epochs, learning rates scaled by batch size, ...) is computed here or in a
project's train.py, after command-line overrides, never inside `get_config`.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from typing import Any, Iterable

import ml_collections

from lib.errors import TesseraError


class ConfigError(TesseraError, ValueError):
    """A config value is invalid. The message names the key, the value and what is allowed."""


# ----------------------------------------------------------------------------- parse_arg


def _convert(key: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        low = raw.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"config arg {key!r}: {raw!r} is not a bool (use true/false)")
    for typ in (int, float):
        if isinstance(default, typ):
            try:
                return typ(raw)
            except ValueError:
                raise ConfigError(f"config arg {key!r}: {raw!r} is not {typ.__name__}") from None
    return raw


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
    """Parses `key=value,key2=value2` (the part after `:` in `--config=path.py:...`).

    Every key must be one of `defaults`; values take the type of their default.
    A bare `arg` with no `=` is allowed when exactly one default exists.

    >>> parse_arg("batch=4096,opt=lamb", batch=512, opt="adamw").batch
    4096
    """
    out = ml_collections.ConfigDict(dict(defaults))
    if not arg:
        return out
    for item in arg.split(","):
        if not item:
            continue
        if "=" not in item:
            if len(defaults) != 1:
                raise ConfigError(
                    f"config arg {item!r} has no '=' (expected key=value; keys: {sorted(defaults)})"
                )
            key, raw = next(iter(defaults)), item
        else:
            key, raw = item.split("=", 1)
        if key not in defaults:
            raise ConfigError(f"unknown config arg {key!r}; allowed: {sorted(defaults)}")
        out[key] = _convert(key, raw, defaults[key])
    return out


# ----------------------------------------------------------------------------- validation


def choice(config, key: str, allowed: Iterable[str]) -> str:
    """Returns config[key] (dotted path allowed) if it is one of `allowed`, else ConfigError."""
    allowed = list(allowed)
    value = get(config, key)
    if value not in allowed:
        raise ConfigError(f"config.{key}={value!r} is not allowed; choose one of {allowed}")
    return value


def positive(config, key: str, allow_zero: bool = False):
    value = get(config, key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        need = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"config.{key}={value!r} must be a finite number {need}")
    return value


def integer(config, key: str, lo: int, what: str = "") -> int:
    """Returns config[key] as an int if it is an integer (not a bool) >= lo, else ConfigError."""
    value = get(config, key)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise ConfigError(f"config.{key}={value!r} must be an integer >= {lo}" + (f" ({what})" if what else ""))
    return int(value)


def in_range(config, key: str, lo: float, hi: float):
    value = get(config, key)
    if not (isinstance(value, (int, float)) and lo <= value <= hi):
        raise ConfigError(f"config.{key}={value!r} must be in [{lo}, {hi}]")
    return value


def divisible(config, key: str, by: int, why: str):
    value = get(config, key)
    if value % by:
        raise ConfigError(f"config.{key}={value} must be divisible by {by} ({why})")
    return value


def get(config, key: str):
    """config['a.b.c'] with an error that names the missing key."""
    node = config
    for part in key.split("."):
        if part not in node:
            raise ConfigError(f"config.{key} is missing (config has: {sorted(node.keys())})")
        node = node[part]
    return node


# ----------------------------------------------------------------------------- durations

_UNITS = {"": "steps", "s": "steps", "st": "steps", "step": "steps", "steps": "steps",
          "e": "epochs", "ep": "epochs", "epoch": "epochs", "epochs": "epochs",
          "r": "rounds", "round": "rounds", "rounds": "rounds"}


def parse_duration(key: str, value) -> tuple[float, str]:
    """`500`, `"500"`, `"500 steps"`, `"2.5ep"`, `"30 epochs"`, `"200 rounds"` -> (amount, unit)."""
    if isinstance(value, bool):
        raise ConfigError(f"config.{key}={value!r} is not a duration")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"config.{key}={value!r} must be a duration >= 0")
        return float(value), "steps"
    m = re.fullmatch(r"\s*([0-9.eE+-]+?)\s*([A-Za-z]*)\s*", str(value))
    unit = _UNITS.get(m.group(2).lower()) if m else None
    try:
        amount = float(m.group(1)) if m else float("nan")
    except ValueError:
        amount = float("nan")
    if unit is None or not math.isfinite(amount) or amount < 0:
        raise ConfigError(
            f"config.{key}={value!r} is not a duration; use e.g. 500, '500 steps', '30ep', '200 rounds'"
        )
    return amount, unit


def steps(config, key: str, steps_per_epoch: int | None = None, default: int | None = None) -> int:
    """The duration `config[key]` in steps (called after overrides, so `--config.total=3ep` works).

    Epochs need `steps_per_epoch`; a round is one step of a round-based (federated) loop.
    """
    if key not in config or config[key] is None:
        if default is not None:
            return default
        raise ConfigError(f"config.{key} is missing: a duration such as 500, '30ep' or '200 rounds'")
    amount, unit = parse_duration(key, config[key])
    if unit == "epochs":
        if not steps_per_epoch:
            raise ConfigError(f"config.{key}={config[key]!r} is in epochs, which this loop cannot count")
        return int(math.ceil(amount * steps_per_epoch))
    return int(amount)


# ----------------------------------------------------------------------------- data root


def data_dir(config) -> str:
    """`config.data_dir`, else $TESSERA_DATA_DIR, else ./data."""
    value = config.get("data_dir") if hasattr(config, "get") else None
    return value or os.environ.get("TESSERA_DATA_DIR") or os.path.join(os.getcwd(), "data")


# ----------------------------------------------------------------------------- config.json


def write_config(config, workdir: str) -> None:
    """`<workdir>/config.json` (process 0 only), replaced atomically: a write that fails or
    is interrupted leaves the previous file as it was. Called once the run has validated
    its config and restored its state (lib.train.run), never before."""
    import jax

    if jax.process_index() != 0:
        return
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "config.json")
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(config.to_json_best_effort(indent=2, sort_keys=True))
    os.replace(tmp, path)


def read_config(workdir: str) -> dict | None:
    """The config.json a previous run wrote to `workdir` (None if there is none or it is unreadable)."""
    try:
        with open(os.path.join(workdir, "config.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose value differs between two config dicts (as written to config.json)."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k, "<absent>"), new.get(k, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed_keys(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}")
    return out


def as_json_dict(config) -> dict:
    """The config as config.json holds it (tuples become lists, placeholders None)."""
    return json.loads(config.to_json_best_effort())
