"""Model FLOPs utilisation: achieved FLOP/s over the device's peak.

MFU = (model FLOPs per token x tokens per second) / peak FLOP/s of the devices used, with model
FLOPs counted from the model's matmuls (each project states its count, e.g.
lib.moe.tasks.flops_per_token), not from what the compiler emitted, so recomputation
(remat) does not count as useful work. Peaks are the vendors' dense (no sparsity) figures per
chip; a device missing from the table (CPUs, unknown accelerators) gets no MFU, only FLOP/s.
"""

from __future__ import annotations

import jax

# dense peak TFLOP/s per chip by compute dtype (vendor datasheets, SXM parts)
PEAK_TFLOPS = {
    "H200": {"bfloat16": 989.0, "float32": 67.0},
    "H100": {"bfloat16": 989.0, "float32": 67.0},
    "A100": {"bfloat16": 312.0, "float32": 19.5},
    "TPU v4": {"bfloat16": 275.0, "float32": 275.0},
    "TPU v5 lite": {"bfloat16": 197.0, "float32": 197.0},
    "TPU v5p": {"bfloat16": 459.0, "float32": 459.0},
}


def peak_tflops(device_kind: str, dtype: str) -> float | None:
    """The table's peak for a device kind string such as 'NVIDIA H200' (None if unknown)."""
    for name, peaks in PEAK_TFLOPS.items():
        if name.lower() in device_kind.lower():
            return peaks.get(dtype)
    return None


def utilisation(flops_per_token: float, tokens_per_s: float, dtype: str, devices=None) -> dict:
    """{'model_tflops_per_s', 'mfu' (None without a known peak), 'peak_tflops'} for `devices`
    (default: all devices of the run)."""
    devices = devices or jax.devices()
    achieved = flops_per_token * tokens_per_s / 1e12
    peak = peak_tflops(devices[0].device_kind, dtype)
    total = peak * len(devices) if peak else None
    return {"model_tflops_per_s": achieved, "peak_tflops": total, "mfu": achieved / total if total else None}
