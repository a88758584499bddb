"""The one base class of every error a user can cause, and how the entry point reports it.

Bad input (a config value, a data file, a workdir, a checkpoint that does not fit the
config) and a run that diverged raise a subclass of `TesseraError`. The message names
what is wrong (the key, the file, the record, the step), its value and what is allowed,
on one line. `lib.app` prints it as `ClassName: message` to stderr and exits with code 2;
set TESSERA_DEBUG=1 to get the traceback instead.

This module imports nothing from lib, so every lib module can derive from it.
"""

from __future__ import annotations

import os

EXIT_CODE = 2
DEBUG_ENV = "TESSERA_DEBUG"


class TesseraError(Exception):
    """Bad input or a failed run, reported as one line (no traceback) by the entry point."""


class NonFiniteError(TesseraError, FloatingPointError):
    """Training produced NaN/inf; the message names the step and what went non-finite.

    `step`, when given, is the first step whose state is not good (the state at that step
    or an update from it produced the non-finite values): lib.train keeps checkpoints
    before it and sets aside the others."""

    def __init__(self, message: str = "", step: int | None = None):
        super().__init__(message)
        self.step = step


class WorkdirError(TesseraError):
    """The workdir cannot be used (locked by a live run, or holds an incompatible run)."""


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").lower() not in ("", "0", "false", "no")


def one_line(e: BaseException) -> str:
    """`ClassName: message` with newlines folded, for stderr."""
    msg = " ".join(str(e).split())
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__
