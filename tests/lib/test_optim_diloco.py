"""lib.optim.diloco against a NumPy transcription of the paper's outer step (and optax's Nesterov
SGD), the one-step-delayed form, and lib.fl.clock.collective's timeline."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lib.config import ConfigError
from lib.fl.clock import collective
from lib.optim import diloco


def _numpy_rounds(x0, workers, lr, mu, nesterov, delay):
    """Transcription: delta_r = x_r - mean_i x_i^(r) (workers given as offsets from the round's
    start), m <- mu m + delta, x <- x - lr (delta + mu m); delay 1 applies delta_{r-1} at round r."""
    x, m, pending, out = x0.copy(), np.zeros_like(x0), None, []
    for offs in workers:
        delta = x - (x + offs).mean(0)
        use = delta if delay == 0 else pending
        if delay == 1:
            pending = delta
        if use is not None:
            m = mu * m + use
            x = x - lr * (use + mu * m if nesterov else m)
        out.append(x.copy())
    return out


@pytest.mark.parametrize("delay", [0, 1])
@pytest.mark.parametrize("nesterov", [True, False])
def test_outer_step_matches_numpy(delay, nesterov):
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((3, 5)).astype(np.float32)
    workers = [rng.standard_normal((4, 3, 5)).astype(np.float32) for _ in range(5)]
    want = _numpy_rounds(x0.astype(np.float64), [w.astype(np.float64) for w in workers], 0.7, 0.9, nesterov, delay)
    x, st = {"w": jnp.asarray(x0)}, diloco.init({"w": jnp.asarray(x0)})
    step = jax.jit(lambda x, st, wp: diloco.update(x, st, diloco.pseudo_gradient(x, wp), lr=0.7, momentum=0.9,
                                                     nesterov=nesterov, delay=delay))
    for offs, w in zip(workers, want):
        x, st = step(x, st, {"w": x["w"][None] + offs})
        np.testing.assert_allclose(np.asarray(x["w"]), w, rtol=1e-5, atol=1e-5)
    assert bool(st.has_pending) == (delay == 1)


def test_synchronous_outer_step_is_optax_nesterov_sgd():
    rng = np.random.default_rng(1)
    p = {"a": jnp.asarray(rng.standard_normal(7), jnp.float32)}
    tx = optax.sgd(0.7, momentum=0.9, nesterov=True)
    po, so = p, tx.init(p)
    pd, sd = p, diloco.init(p)
    for _ in range(4):
        g = {"a": jnp.asarray(rng.standard_normal(7), jnp.float32)}
        u, so = tx.update(g, so)
        po = optax.apply_updates(po, u)
        pd, sd = diloco.apply(pd, sd, g, lr=0.7, momentum=0.9)
        np.testing.assert_allclose(np.asarray(pd["a"]), np.asarray(po["a"]), rtol=1e-6, atol=1e-6)


def test_lr1_no_momentum_is_parameter_averaging():
    x = {"w": jnp.arange(4.0)}
    wp = {"w": jnp.stack([jnp.arange(4.0) + 1, jnp.arange(4.0) - 3])}
    new, _ = diloco.update(x, diloco.init(x), diloco.pseudo_gradient(x, wp), lr=1.0, momentum=0.0)
    np.testing.assert_allclose(np.asarray(new["w"]), np.asarray(wp["w"].mean(0)))


def test_named_errors():
    for lr, mu in ((0.0, 0.9), (-1.0, 0.9), (float("nan"), 0.9), (0.7, 1.0), (0.7, -0.1)):
        with pytest.raises(ConfigError):
            diloco.check(lr, mu)
    with pytest.raises(ConfigError, match="delay=2"):
        diloco.update({"w": jnp.zeros(1)}, diloco.init({"w": jnp.zeros(1)}), {"w": jnp.zeros(1)}, lr=1.0,
                      momentum=0.0, delay=2)
    with pytest.raises(ConfigError, match="bandwidth"):
        collective.ring_allreduce(10.0, 4, 0.0, 0.0)
    with pytest.raises(ConfigError, match="k=0"):
        collective.ring_allreduce(10.0, 0, 1.0, 0.0)


def test_ring_allreduce_and_timeline():
    t, sent = collective.ring_allreduce(1000.0, 4, 100.0, 0.5)
    assert sent == 1500.0 and t == pytest.approx(6 * 0.5 + 15.0)
    assert collective.ring_allreduce(1000.0, 1, 100.0, 0.5) == (0.0, 0.0)
    # synchronous: compute then communicate, every round
    np.testing.assert_allclose(collective.round_starts(3, 2.0, 1.0, 0), [0, 3, 6, 9])
    # delayed, communication shorter than compute: fully hidden
    np.testing.assert_allclose(collective.round_starts(3, 2.0, 1.0, 1), [0, 2, 4, 6])
    # delayed, communication longer than compute: the link is the bottleneck (one all-reduce at a time)
    np.testing.assert_allclose(collective.round_starts(4, 1.0, 3.0, 1), [0, 1, 4, 7, 10])
