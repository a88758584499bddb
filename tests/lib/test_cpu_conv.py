"""lib.cpu_conv: the same values and gradients as XLA's own, and only canonical convolutions
(the ones XLA:CPU runs on its fast path) inside a training loop."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from lib.cpu_conv import canonical_conv_grads

CASES = [  # strides, padding, rhs dilation, dimension numbers, input shape, kernel shape
    ((1, 1), "SAME", (1, 1), ("NHWC", "HWIO", "NHWC"), (4, 9, 9, 3), (3, 3, 3, 5)),
    ((2, 2), "SAME", (1, 1), ("NHWC", "HWIO", "NHWC"), (4, 9, 9, 3), (3, 3, 3, 5)),
    ((2, 1), ((1, 2), (0, 1)), (2, 1), ("NHWC", "HWIO", "NHWC"), (4, 11, 10, 3), (3, 2, 3, 5)),
    ((1, 1), "VALID", (1, 1), ("NCHW", "OIHW", "NCHW"), (4, 3, 9, 9), (5, 3, 3, 3)),
    ((3,), "SAME", (1,), ("NWC", "WIO", "NWC"), (2, 17, 3), (4, 3, 2)),
    ((1, 2, 1), "SAME", (1, 1, 2), ("NDHWC", "DHWIO", "NDHWC"), (2, 5, 6, 7, 2), (2, 3, 2, 2, 3)),
]


@pytest.mark.parametrize("strides,padding,dilation,dn,xs,ws", CASES)
def test_values_and_gradients_match_xla(strides, padding, dilation, dn, xs, ws):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=xs), jnp.float32)
    w = jnp.asarray(rng.normal(size=ws), jnp.float32)

    def f(x, w):
        y = lax.conv_general_dilated(x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=dn)
        return jnp.sum(jnp.sin(y) * jnp.arange(y.size, dtype=y.dtype).reshape(y.shape) / y.size)

    g = canonical_conv_grads(f)
    np.testing.assert_allclose(g(x, w), f(x, w), rtol=1e-6)
    want = jax.grad(f, (0, 1))(x, w)
    got = jax.grad(g, (0, 1))(x, w)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _loop_convs(loss):
    import flax.linen as nn
    import optax

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(4, (3, 3))(x[..., None]))
            x = nn.max_pool(nn.relu(nn.Conv(6, (3, 3))(x)), (2, 2), (2, 2))
            return nn.Dense(3)(x.reshape(x.shape[0], -1))

    net = Net()
    x, y = jnp.ones((2, 8, 8)), jnp.zeros((2,), jnp.int32)
    p = net.init(jax.random.PRNGKey(0), x)["params"]

    def base(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(net.apply({"params": p}, x), y).mean()

    fn = loss(base)

    def loop(p):
        body = lambda i, p: jax.tree.map(lambda a, g: a - 0.1 * g, p, jax.grad(fn)(p, x, y))  # noqa: E731
        return jax.lax.fori_loop(0, 3, body, p)

    hlo = jax.jit(loop).lower(p).compile().as_text()
    return re.findall(r"convolution\([^\n]*dim_labels=([^,\s]+)", hlo)


def test_only_canonical_convolutions_inside_a_training_loop():
    """XLA:CPU's fast path needs b01f_01io->b01f; its own canonicalisation skips loop bodies."""
    plain = _loop_convs(lambda f: f)
    fixed = _loop_convs(canonical_conv_grads)
    assert plain and any(d != "b01f_01io->b01f" for d in plain)  # the problem exists
    assert fixed and all(d == "b01f_01io->b01f" for d in fixed), fixed
