"""ADOM+ (Kovalev, Shulgin, Richtárik, Rogozin, Gasnikov, NeurIPS 2021), the synchronous accelerated
primal-dual baseline of the DADAO paper, transcribed from the DADAO authors' released implementation.

One iteration: every node takes one gradient at X_g, and one gossip round with W = I - Lap/lambda_max
(or, with multi-consensus, the product of q = ceil(chi ln 2) such rounds, after which the constants
use chi = 2). chi = lambda_max / lambda_min+ of the graph Laplacian. Constants (mu, L of the f_i):

  tau1 = 1/(sqrt(L/mu) + 1/2), tau2 = sqrt(mu/L), sigma2 = tau2/(16 chi), sigma1 = 1/(1/sigma2 + 1/2),
  eta = 1/(L tau2), alpha = nu = mu/2, beta = 1/(2L), delta = 1/(17L), gamma = nu/(14 sigma2 chi^2),
  theta = nu/(4 sigma2), zeta = 1/2.

An iteration counts as n gradient events and q |E| communication events (each edge once per gossip
round), as the DADAO authors count it. Initial Y = M = Z = 0 (the released code draws Y and M at random).

One change for float32: M's mean over nodes grows linearly with the iterations (W keeps it, and the
message adds to it) and, in float32, drowns the rest of M, so that the error stalls near 1e-4 (measured;
in float64 the same iteration converges to 1e-17). M enters only through (I - W) M and W M, and with W
symmetric and doubly stochastic its mean never reaches X, Y or Z; we subtract it after every iteration,
which leaves the X iterates unchanged in exact arithmetic.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Plan(NamedTuple):
    w: np.ndarray  # [n, n] the (multi-)gossip matrix applied once per iteration
    chi: float  # the chi the constants use
    rounds: int  # gossip rounds per iteration (q)


def plan(edges: np.ndarray, n: int, multi_consensus: bool) -> Plan:
    lap = np.zeros((n, n))
    for i, j in edges:
        lap[[i, j], [i, j]] += 1
        lap[i, j] -= 1
        lap[j, i] -= 1
    ev = np.linalg.eigvalsh(lap)
    chi = ev[-1] / ev[1]
    one = np.eye(n) - lap / ev[-1]
    if not multi_consensus:
        return Plan(one, float(chi), 1)
    q = int(math.ceil(chi * math.log(2)))
    return Plan(np.linalg.matrix_power(one, q), 2.0 if q > 1 else float(chi), q)


def init_state(x0: np.ndarray, seed: int) -> dict:
    z = jnp.zeros(x0.shape, jnp.float32)
    x = jnp.asarray(x0, jnp.float32)
    return {"step": jnp.asarray(0, jnp.int32), "x": x, "y": z, "z": z, "m": z, "xf": x, "yf": z, "zf": z,
            "t": jnp.float32(0.0), "events": jnp.asarray(0, jnp.int32), "grad_events": jnp.asarray(0, jnp.int32),
            "comm_events": jnp.asarray(0, jnp.int32), "key": jax.random.PRNGKey(seed)}


def chunk_fn(grad_fn: Callable, mu: float, L: float, p: Plan, num_edges: int, x_star: np.ndarray, iters: int):
    n = p.w.shape[0]
    tau1, tau2 = 1 / (math.sqrt(L / mu) + 0.5), math.sqrt(mu / L)
    sigma2 = tau2 / (16 * p.chi)
    sigma1 = 1 / (1 / sigma2 + 0.5)
    eta, alpha, beta, delta, nu = 1 / (L * tau2), mu / 2, 1 / (2 * L), 1 / (17 * L), mu / 2
    gamma, theta, zeta = nu / (14 * sigma2 * p.chi ** 2), nu / (4 * sigma2), 0.5
    c1 = (1 + eta * alpha) / ((1 + theta * beta) * (1 + eta * alpha) + theta * eta)
    c2 = theta * beta + eta * theta / (1 + eta * alpha)
    c3 = theta * (beta * nu + eta * (nu + alpha) / (1 + eta * alpha))
    c4 = theta / (1 + eta * alpha)
    c5 = 1 / (1 + eta * alpha)
    w = jnp.asarray(p.w, jnp.float32)
    lap = jnp.eye(n, dtype=jnp.float32) - w
    grads = jax.vmap(grad_fn)
    idx = jnp.arange(n)
    xs = jnp.asarray(x_star, jnp.float32)
    mm = lambda a, b: jnp.dot(a, b, precision=jax.lax.Precision.HIGHEST)  # noqa: E731

    def it(s, _):
        xg = tau1 * s["x"] + (1 - tau1) * s["xf"]
        g = grads(idx, xg)
        yg = sigma1 * s["y"] + (1 - sigma1) * s["yf"]
        zg = sigma1 * s["z"] + (1 - sigma1) * s["zf"]
        y = c1 * (s["y"] + c2 * g - c3 * xg - c4 * s["x"] - (theta / nu) * (yg + zg))
        x = c5 * (s["x"] + eta * alpha * xg - eta * (g - nu * xg - y))
        msg = (gamma / nu) * (yg + zg) + s["m"]
        z = s["z"] + gamma * delta * (zg - s["z"]) - mm(lap, msg)
        m = mm(w, msg)
        m = m - jnp.mean(m, axis=0, keepdims=True)  # see the module docstring: a no-op in exact arithmetic
        new = {**s, "x": x, "y": y, "z": z, "m": m, "xf": xg + tau2 * (x - s["x"]),
               "yf": yg + sigma2 * (y - s["y"]), "zf": zg - zeta * mm(lap, yg + zg)}
        return new, None

    def run_chunk(state):
        s, _ = jax.lax.scan(it, state, None, length=iters)
        ng, nc = iters * n, iters * p.rounds * num_edges
        dist2 = jnp.mean(jnp.sum((s["x"] - xs[None]) ** 2, axis=1))
        new = {**s, "step": state["step"] + 1, "events": state["events"] + ng + nc,
               "grad_events": state["grad_events"] + ng, "comm_events": state["comm_events"] + nc}
        metrics = {"loss": dist2, "dist2": dist2, "time": s["t"], "grad_events": new["grad_events"],
                   "comm_events": new["comm_events"], "consensus": jnp.mean(jnp.sum((s["x"] - s["x"].mean(0)) ** 2, 1))}
        return new, metrics

    return run_chunk
