"""`jax.jit` with the compiler options that loop-heavy rounds need on each platform.

Why: an FL or gossip round runs every client's local steps in a `while_loop` whose carry
holds the model. The loop body reads each weight (forward and backward pass) and then
writes its update into the same carried buffer. XLA:CPU's default copy insertion cannot
prove that the reads come first, so it copies every loop-carried weight once per local step
(visible in the optimised HLO as `copy(get-tuple-element ...)` of each kernel in the body).
With region analysis (`xla_cpu_copy_insertion_use_region_analysis`) it proves the in-place
update safe and drops those copies. Values are unchanged: only copies go. GPU/TPU get no
extra options. Measurements: lib/fl/README.md.
"""

from __future__ import annotations

import jax

CPU_OPTIONS = {"xla_cpu_copy_insertion_use_region_analysis": True}


def compiler_options(platform: str) -> dict:
    return dict(CPU_OPTIONS) if platform == "cpu" else {}


def jit(fn, platform: str, **jit_kwargs):
    """jax.jit(fn) compiled with `compiler_options(platform)` (e.g. mesh.devices.flat[0].platform)."""
    opts = compiler_options(platform)
    return jax.jit(fn, compiler_options=opts or None, **jit_kwargs)
