"""lib.optim.sam: SAM's gradient on a tiny quadratic against NumPy, rho = 0 is plain SGD (also
inside the decentralized engine's `Method.grad_fn` hook), bad rho is a named error."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.optim import sam

A = np.array([[3.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 2.0]])
B = np.array([1.0, -2.0, 0.5])
C = 0.7  # scalar leaf: L = 0.5 y^T A y - b^T y + 0.5 c z^2 over the pytree {"y": [3], "z": [1]}


def loss(p):
    y, z = p["y"], p["z"]
    return 0.5 * y @ (jnp.asarray(A, jnp.float32) @ y) - jnp.asarray(B, jnp.float32) @ y + 0.5 * C * jnp.sum(z * z)


def np_grad(y, z):
    return A @ y - B, C * z


def test_sam_gradient_matches_numpy_on_a_quadratic():
    y0, z0, rho, lr = np.array([0.3, -1.0, 2.0]), np.array([1.5]), 0.05, 0.1
    p = {"y": jnp.asarray(y0, jnp.float32), "z": jnp.asarray(z0, jnp.float32)}
    l, g = sam.value_and_grad(loss, p, rho=rho)
    gy, gz = np_grad(y0, z0)
    norm = np.sqrt(np.sum(gy ** 2) + np.sum(gz ** 2))  # one norm over both leaves
    ya, za = y0 + rho * gy / norm, z0 + rho * gz / norm
    want_y, want_z = np_grad(ya, za)
    np.testing.assert_allclose(float(l), 0.5 * y0 @ A @ y0 - B @ y0 + 0.5 * C * z0 @ z0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(g["y"]), want_y, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(g["z"]), want_z, rtol=1e-5)
    # the perturbation moved the gradient: SAM differs from the plain gradient here
    assert np.abs(np.asarray(g["y"]) - gy).max() > 1e-3
    # three SAM-SGD steps y <- y - lr * grad L(y + rho g/||g||) vs NumPy
    f = jax.jit(lambda q: jax.tree.map(lambda a, b: a - lr * b, q, sam.grad_fn(rho)(loss, q)[1]))
    y, z = y0.copy(), z0.copy()
    for _ in range(3):
        p = f(p)
        gy, gz = np_grad(y, z)
        n = np.sqrt(np.sum(gy ** 2) + np.sum(gz ** 2))
        ay, az = np_grad(y + rho * gy / n, z + rho * gz / n)
        y, z = y - lr * ay, z - lr * az
    np.testing.assert_allclose(np.asarray(p["y"]), y, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(p["z"]), z, rtol=1e-5)


def test_rho_zero_is_plain_sgd_and_zero_gradient_stays_finite():
    p = {"y": jnp.asarray([0.3, -1.0, 2.0], jnp.float32), "z": jnp.asarray([1.5], jnp.float32)}
    l0, g0 = jax.value_and_grad(loss)(p)
    l1, g1 = jax.jit(sam.grad_fn(0.0), static_argnums=0)(loss, p)
    assert float(l0) == float(l1)
    for a, b in zip(jax.tree.leaves(g0), jax.tree.leaves(g1)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # at the minimizer g = 0: the eps keeps y_adv = y (no 0/0)
    ystar = np.linalg.solve(A, B)
    _, g = sam.value_and_grad(loss, {"y": jnp.asarray(ystar, jnp.float32), "z": jnp.zeros(1)}, rho=0.1)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(g))


def test_engine_grad_fn_hook_with_rho_zero_equals_dsgd():
    """A decentralized round with Method(grad_fn=sam.grad_fn(0)) equals the plain-gradient round."""
    from lib.dl import engine, gossip, topology as T
    from lib.fl import client as client_lib

    n, per = 4, 12
    r = np.random.default_rng(0)
    x = r.normal(size=(n * per, 3)).astype(np.float32)
    y = r.integers(0, 2, n * per).astype(np.int32)
    data = client_lib.pack_clients(x, y, [np.arange(i * per, (i + 1) * per) for i in range(n)], 4)
    params = {"w": jnp.asarray(r.normal(size=(3, 2)), jnp.float32)}

    def loss_fn(p, xb, yb):
        return -jnp.take_along_axis(jax.nn.log_softmax(xb @ p["w"]), yb[:, None], 1)[:, 0]

    w = gossip.validated(T.ring(n), "metropolis_hastings")
    local = client_lib.LocalConfig(batch_size=4, num_steps=3)
    out = []
    for method in (engine.dsgd(), engine.Method("sam0", engine.dsgd().optimizer, grad_fn=sam.grad_fn(0.0)),
                   engine.Method("sam", engine.dsgd().optimizer, grad_fn=sam.grad_fn(0.5))):
        eng = engine.build(loss_fn=loss_fn, local=local, method=method, w=w, mesh=engine.nodes_mesh(1))
        st, _ = jax.jit(engine.round_fn(eng))(engine.place(eng, engine.init(eng, params, 1)),
                                              engine.put_data(eng, data), {"lr": jnp.float32(0.3)})
        out.append(np.asarray(st["nodes"]["params"]["w"]))
    np.testing.assert_allclose(out[1], out[0], rtol=1e-6, atol=1e-7)
    assert np.abs(out[2] - out[0]).max() > 1e-4  # the hook is used


@pytest.mark.parametrize("rho", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_rho_is_a_named_error(rho):
    with pytest.raises(sam.SAMRadiusError, match="rho"):
        sam.grad_fn(rho)
    assert issubclass(sam.SAMRadiusError, ConfigError)
