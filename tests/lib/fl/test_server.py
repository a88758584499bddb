"""Server optimizers against hand computations of their update rules."""
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.fl import server

D1 = np.array([0.5, -1.0, 2.0], np.float32)
D2 = np.array([-0.25, 0.5, 1.0], np.float32)
X0 = np.array([1.0, 2.0, 3.0], np.float32)


def _two_steps(name, **kw):
    opt = server.make(name, **kw)
    p, s = {"w": jnp.asarray(X0)}, opt.init({"w": jnp.asarray(X0)})
    p, s = server.apply(opt, p, s, {"w": jnp.asarray(D1)})
    p, s = server.apply(opt, p, s, {"w": jnp.asarray(D2)})
    return np.asarray(p["w"])


def test_sgd_and_fedavgm():
    np.testing.assert_allclose(_two_steps("sgd", lr=0.5), X0 + 0.5 * (D1 + D2), rtol=1e-6)
    m1 = D1
    m2 = 0.9 * m1 + D2
    np.testing.assert_allclose(_two_steps("fedavgm", lr=0.5, momentum=0.9), X0 + 0.5 * (m1 + m2), rtol=1e-6)


@pytest.mark.parametrize("name", ["fedadam", "fedyogi", "fedadagrad"])
def test_adaptive_hand_computed(name):
    lr, b1, b2, tau = 0.1, 0.9, 0.99, 1e-2
    x, m, v = X0.astype(np.float64), np.zeros(3), np.full(3, tau**2)
    for d in (D1, D2):  # Reddi et al. 2021, Alg. 2, Delta = d
        m = b1 * m + (1 - b1) * d
        if name == "fedadam":
            v = b2 * v + (1 - b2) * d * d
        elif name == "fedyogi":
            v = v - (1 - b2) * d * d * np.sign(v - d * d)
        else:
            v = v + d * d
        x = x + lr * m / (np.sqrt(v) + tau)
    np.testing.assert_allclose(_two_steps(name, lr=lr, b1=b1, b2=b2, tau=tau), x, rtol=1e-5)


def test_errors():
    with pytest.raises(ConfigError, match="fedsgdx"):
        server.make("fedsgdx")
    with pytest.raises(ConfigError, match="lr=0"):
        server.make("sgd", lr=0)
