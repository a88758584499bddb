"""`jax.jit` with the compiler options that loop-heavy rounds need on each platform.

Why: an FL or gossip round runs every client's local steps in a `while_loop` whose carry
holds the model. The loop body reads each weight (forward and backward pass) and then
writes its update into the same carried buffer. XLA:CPU's default copy insertion cannot
prove that the reads come first, so it copies every loop-carried weight once per local step
(visible in the optimised HLO as `copy(get-tuple-element ...)` of each kernel in the body).
With region analysis (`xla_cpu_copy_insertion_use_region_analysis`) it proves the in-place
update safe and drops those copies. On CPU it also keeps large freed host buffers for the
next execution (lib/host_memory.py): a round's temp buffer is bigger than glibc's mmap
threshold and was otherwise page-faulted in afresh on every call. Values are unchanged.
GPU/TPU get neither. Measurements: lib/fl/README.md ("Measured performance").
"""

from __future__ import annotations

import jax

from lib import host_memory

CPU_OPTIONS = {"xla_cpu_copy_insertion_use_region_analysis": True}


def compiler_options(platform: str) -> dict:
    return dict(CPU_OPTIONS) if platform == "cpu" else {}


def jit(fn, platform: str, **jit_kwargs):
    """jax.jit(fn) compiled with `compiler_options(platform)` (e.g. mesh.devices.flat[0].platform)."""
    opts = compiler_options(platform)
    if platform == "cpu":
        host_memory.reuse_large_buffers()
    return jax.jit(fn, compiler_options=opts or None, **jit_kwargs)
