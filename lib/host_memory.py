"""Keep large host buffers in the process heap between XLA:CPU executions (glibc only).

Why: XLA:CPU allocates each execution's buffers (the preallocated temp buffer, loop carries,
outputs) with malloc. glibc serves blocks above its mmap threshold (at most 32 MiB) with a
fresh mmap and unmaps them on free, so every round of a simulation whose temp buffer exceeds
that (the stacked client deltas of a cohort, a CNN's loop carry) pays a page fault per 4 KiB
of it, on every call (threads other than the main one allocate from arenas of at most 64 MiB,
which fall back to mmap for anything larger whatever the threshold). Measured (2-core AMD
EPYC, jax 0.10.2, one FedAvg round of 20 clients x 4 steps): the LEAF CNN round (a ~1 GB temp
buffer) took ~170,000 minor faults (0.5-0.6 s of system time), the MLP 784-200-200-10 round
~4,300. `reuse_large_buffers()` puts every thread on the main heap, turns mmap off and never
trims the top of the heap, so the same pages serve the next round: 0 faults per round.
Values are unchanged. It must run before JAX's threads first allocate, so `import lib` calls
it (a thread keeps the arena it started on).

Cost: the resident size stays near the run's peak (freed memory is kept for reuse). Set
TESSERA_HOST_MALLOC=default to leave glibc's settings alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8  # mallopt parameters (glibc malloc.h)
_done = False


def reuse_large_buffers() -> bool:
    """Idempotent; returns True when glibc's malloc was tuned (False: not glibc, or opted out)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("TESSERA_HOST_MALLOC", "") == "default":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # one arena: other threads' arenas are mmapped heaps of at most 64 MiB that fall back to
    # mmap for anything larger; no mmap; never trim (-1) the top of the heap.
    _done = all(mallopt(p, v) for p, v in ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1)))
    return _done


def tuned() -> bool:
    """Whether `reuse_large_buffers` is in effect in this process."""
    return _done
