"""The test problem: L2-regularised logistic regression split over n nodes, generated from a seed.

f_i(x) = (1/m) sum_k log(1 + exp(-b_ik <a_ik, x>)) + (mu/2) ||x||^2,   F = (1/n) sum_i f_i.
Every f_i is mu-strongly convex and L-smooth with L = max_i lambda_max(A_i^T A_i / m) / 4 + mu.
Node i's features are N(c_i, I) with its own centre c_i ~ N(0, h^2 I), scaled to unit norm, and
its labels follow its own separator w + h N(0, I) (h = `heterogeneity`), so the f_i have different
minimisers. x* is found on the host by Newton's method in float64.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Problem(NamedTuple):
    a: np.ndarray  # [n, m, d] float32
    b: np.ndarray  # [n, m] float32 in {-1, 1}
    mu: float
    L: float
    x_star: np.ndarray  # [d] float64


def generate(n: int, m: int, d: int, mu: float, heterogeneity: float, seed: int) -> Problem:
    r = np.random.default_rng([seed, 7])
    w = r.normal(size=d)
    a = r.normal(size=(n, m, d)) + heterogeneity * r.normal(size=(n, 1, d))
    a /= np.linalg.norm(a, axis=-1, keepdims=True)
    wi = w[None] + heterogeneity * r.normal(size=(n, d))
    b = np.where(np.einsum("nmd,nd->nm", a, wi) + 0.1 * r.normal(size=(n, m)) > 0, 1.0, -1.0)
    L = max(np.linalg.eigvalsh(ai.T @ ai / m)[-1] for ai in a) / 4 + mu
    return Problem(a.astype(np.float32), b.astype(np.float32), float(mu), float(L), newton(a, b, mu))


def newton(a: np.ndarray, b: np.ndarray, mu: float, iters: int = 50) -> np.ndarray:
    """argmin F in float64 (F is strongly convex: Newton from 0 converges)."""
    n, m, d = a.shape
    A, y = a.reshape(n * m, d).astype(np.float64), b.reshape(-1).astype(np.float64)
    x = np.zeros(d)
    for _ in range(iters):
        z = y * (A @ x)
        s = 1 / (1 + np.exp(z))  # sigmoid(-z)
        g = -(A.T @ (y * s)) / len(y) + mu * x
        h = (A.T * (s * (1 - s))) @ A / len(y) + mu * np.eye(d)
        x = x - np.linalg.solve(h, g)
        if np.linalg.norm(g) < 1e-14:
            break
    return x


def grad_fn(p: Problem):
    """grad f_i(x) for a traced node index i."""
    a, b = jnp.asarray(p.a), jnp.asarray(p.b)

    def grad(i, x):
        ai, bi = a[i], b[i]
        s = jax.nn.sigmoid(-bi * (ai @ x))
        return -(ai.T @ (bi * s)) / ai.shape[0] + p.mu * x

    return grad
