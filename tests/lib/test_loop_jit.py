"""lib.loop_jit: the CPU compile options for loop-heavy rounds change no value and do what they
claim (no per-step copy of a loop-carried weight in the loop body)."""

import re
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
