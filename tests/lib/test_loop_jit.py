"""lib.loop_jit / lib.host_memory: the CPU speed choices for loop-heavy rounds change no value
and do what they claim (no per-step weight copy in the loop body; large buffers reused)."""

import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

from lib import loop_jit


def _train_loop(ws, x):
    """Four SGD steps of a two-layer net: the second weight is read by the backward pass
    (for the first layer's gradient) before its own update is written."""

    def loss(ws):
        return jnp.sum(jnp.tanh(jnp.tanh(x @ ws[0]) @ ws[1]) ** 2)

    def body(_, ws):
        return jax.tree.map(lambda a, b: a - 0.01 * b, ws, jax.grad(loss)(ws))

    return jax.lax.fori_loop(0, 4, body, ws)


def _body_copies_of(hlo: str, shape: str) -> int:
    """copies of a `shape` tensor inside non-entry computations (the loop body)."""
    count, in_entry = 0, False
    for line in hlo.splitlines():
        if line and not line.startswith(" "):
            in_entry = line.startswith("ENTRY")
        if not in_entry and re.search(rf"= f32\[{shape}\]\S* copy\(", line):
            count += 1
    return count


def test_cpu_loop_has_no_weight_copy_per_step_and_same_values():
    ws = (jax.random.normal(jax.random.PRNGKey(0), (256, 512)), jax.random.normal(jax.random.PRNGKey(2), (512, 128)))
    x = jax.random.normal(jax.random.PRNGKey(1), (16, 256))
    plain = jax.jit(_train_loop)
    tuned = loop_jit.jit(_train_loop, "cpu")
    assert _body_copies_of(plain.lower(ws, x).compile().as_text(), "512,128") >= 1  # what the option removes
    assert _body_copies_of(tuned.lower(ws, x).compile().as_text(), "512,128") == 0
    for a, b in zip(plain(ws, x), tuned(ws, x)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_no_options_off_cpu():
    assert loop_jit.compiler_options("gpu") == {} and loop_jit.compiler_options("tpu") == {}


def _faults_per_large_alloc(env_value: str) -> float:
    code = textwrap.dedent("""
        import resource, numpy as np
        from lib import host_memory
        host_memory.reuse_large_buffers()
        for _ in range(2):
            np.ones(1 << 24, np.float32).sum()  # 64 MiB, above glibc's largest mmap threshold
        r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            np.ones(1 << 24, np.float32).sum()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 5)
    """)
    env = {"TESSERA_HOST_MALLOC": env_value, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         cwd=__file__.rsplit("/tests/", 1)[0])
    return float(out.stdout.strip())


def test_host_memory_reuses_large_buffers():
    if not sys.platform.startswith("linux"):
        return
    default = _faults_per_large_alloc("default")
    tuned = _faults_per_large_alloc("")
    assert default > 100  # every 64 MiB block was mapped afresh
    assert tuned < 0.1 * default
