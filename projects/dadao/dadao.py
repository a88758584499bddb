"""DADAO (Nabli & Oyallon, ICML 2023): decoupled accelerated decentralized asynchronous optimization.

Every node i holds six vectors (X, X~, Y, Y~, Z, Z~), stacked here as V[6, n, d] in that order;
Y = Z = X~ = Y~ = Z~ = 0 at the start. Two independent Poisson clocks drive the run: gradient
events (rate lambda_grad over the graph: a uniformly drawn node takes one gradient) and
communication events (rate lambda_mix: a uniformly drawn edge exchanges one message each way).
Between a node's events its six vectors follow the linear ODE dV_i/dt = M V_i, integrated exactly
at the node's next event (V_i <- expm(M tau) V_i, tau = time since its last event), so a node
needs no clock of its own beyond the time of its last event.

With nu = mu / 2, s = sqrt(nu / L):
  alpha = s/4,  alpha~ = eta = eta~ = s/8,  theta = 1/(2 s)
  dX = eta (X~ - X)           dX~ = eta~ (X - X~)
  dY = alpha (Y~ - Y)         dY~ = -theta (nu X~ + Y + Z)
  dZ = alpha (Z~ - Z)         dZ~ = alpha~ (Z - Z~)
gradient event at i (after the flow):  r = grad f_i(X_i) - nu X_i - Y~_i
  X_i -= r / (4 L);  X~_i -= r / (4 sqrt(L nu));  Y~_i += (s/4 + 1) r
edge event (i, j) (after both nodes' flows):  p = (Y_i + Z_i) - (Y_j + Z_j)   [= pi_ij (Y + Z) at i]
  Z_i -= p/2, Z_j += p/2;  Z~_i -= beta~ p, Z~_j += beta~ p,  beta~ = 2 chi1* sqrt(L / nu)
where chi1* = chi1 / lambda_mix and chi1, chi2 are those of the Laplacian of the edge-sampling
probabilities (Lap / |E|): chi1 = 1 / its smallest positive eigenvalue, chi2 = the largest
effective resistance max_(ij) 1/2 (e_i - e_j)^T (Lap/|E|)^+ (e_i - e_j). The recommended
lambda_mix = sqrt(2 chi1 chi2) makes 2 chi1* chi2* = 1 (chi* = chi / lambda_mix).

The baseline (`gossip_gd`) runs on the same clocks: a gradient event is x_i -= grad f_i(x_i) / L,
an edge event averages x_i and x_j (randomized gossip). With a constant step it converges only to a
neighbourhood of x* whose size grows with the heterogeneity of the f_i (the DGD bias).

Events: event e (counted from the start of the run) draws everything it needs from
fold_in(key, e): the waiting time Exp(lambda_grad + lambda_mix), whether it is a gradient event
(probability lambda_grad / (lambda_grad + lambda_mix): the superposition of the two clocks), the
node and the edge. A run is a `lax.scan` over fixed-size chunks of events, so it is reproducible
from the seed and resumes bit for bit from any chunk boundary.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

METHODS = ("dadao", "gossip_gd", "adom_plus", "adom_plus_mc")  # the last two: adom.py


class Spectral(NamedTuple):
    chi1: float
    chi2: float
    num_edges: int


def spectral(edges: np.ndarray, n: int) -> Spectral:
    """chi1, chi2 of the edge-sampling Laplacian Lap / |E| (edges [E, 2], undirected, each once)."""
    lap = np.zeros((n, n))
    for i, j in edges:
        lap[i, i] += 1
        lap[j, j] += 1
        lap[i, j] -= 1
        lap[j, i] -= 1
    lap /= len(edges)
    ev = np.linalg.eigvalsh(lap)
    pinv = np.linalg.pinv(lap)
    res = [0.5 * (pinv[i, i] + pinv[j, j] - 2 * pinv[i, j]) for i, j in edges]
    return Spectral(float(1.0 / ev[1]), float(max(res)), len(edges))


def recommended_lambda_mix(sp: Spectral) -> float:
    return float(np.sqrt(2.0 * sp.chi1 * sp.chi2))


class Constants(NamedTuple):
    ode: np.ndarray  # [6, 6] M
    nu: float
    gamma: float  # 1 / (4 L)
    gamma_t: float  # 1 / (4 sqrt(L nu))
    delta: float  # s/4 + 1
    beta: float  # 1/2
    beta_t: float  # 2 chi1* sqrt(L / nu)


def constants(mu: float, L: float, chi1_star: float) -> Constants:
    nu = mu / 2.0
    s = np.sqrt(nu / L)
    alpha, alpha_t, eta, eta_t, theta = s / 4, s / 8, s / 8, s / 8, 1 / (2 * s)
    m = np.zeros((6, 6))
    m[0, 0], m[0, 1] = -eta, eta
    m[1, 0], m[1, 1] = eta_t, -eta_t
    m[2, 2], m[2, 3] = -alpha, alpha
    m[3, 1], m[3, 2], m[3, 4] = -theta * nu, -theta, -theta
    m[4, 4], m[4, 5] = -alpha, alpha
    m[5, 4], m[5, 5] = alpha_t, -alpha_t
    return Constants(m, nu, 1 / (4 * L), 1 / (4 * np.sqrt(L * nu)), s / 4 + 1, 0.5, 2 * chi1_star * np.sqrt(L / nu))


class Clocks(NamedTuple):
    lambda_grad: float
    lambda_mix: float
    num_nodes: int
    edges: np.ndarray  # [E, 2] int32


def draw(clocks: Clocks, key, e):
    """Event e's (waiting time, is_grad, node, edge index): a function of (key, e) only."""
    k = jax.random.split(jax.random.fold_in(key, e), 4)
    rate = clocks.lambda_grad + clocks.lambda_mix
    dt = jax.random.exponential(k[0], dtype=jnp.float32) / rate
    is_grad = jax.random.uniform(k[1]) < clocks.lambda_grad / rate
    node = jax.random.randint(k[2], (), 0, clocks.num_nodes)
    edge = jax.random.randint(k[3], (), 0, clocks.edges.shape[0])
    return dt, is_grad, node, edge


def init_state(method: str, x0: np.ndarray, n: int, seed: int) -> dict:
    """x0 [n, d]: every node's starting point. State: V [6 or 1, n, d], t_last [n] (each node's last event,
    relative to the current time t: <= 0), t, counts, event index."""
    v = np.zeros((6 if method == "dadao" else 1, n, x0.shape[1]), np.float32)
    v[0] = x0
    return {"step": jnp.asarray(0, jnp.int32), "v": jnp.asarray(v), "t_last": jnp.zeros(n, jnp.float32),
            "t": jnp.float32(0.0), "events": jnp.asarray(0, jnp.int32), "grad_events": jnp.asarray(0, jnp.int32),
            "comm_events": jnp.asarray(0, jnp.int32), "key": jax.random.PRNGKey(seed)}


def _expm(m: np.ndarray, tau):
    return jax.scipy.linalg.expm(jnp.asarray(m, jnp.float32) * tau)


def chunk_fn(method: str, grad_fn: Callable, clocks: Clocks, c: Constants | None, L: float, x_star: np.ndarray,
             chunk: int):
    """Returns the pure chunk(state) -> (state, metrics): `chunk` events in a lax.scan; jit it.
    grad_fn(i, x) -> grad f_i(x) (node index traced)."""
    edges = jnp.asarray(clocks.edges, jnp.int32)
    xs = jnp.asarray(x_star, jnp.float32)

    def flow(v, t_last, i, t):  # node i's exact ODE flow from its last event to t
        e = _expm(c.ode, t - t_last[i])
        return v.at[:, i].set(e @ v[:, i]), t_last.at[i].set(t)

    def dadao_grad(v, t_last, i, t):
        v, t_last = flow(v, t_last, i, t)
        x = v[0, i]
        r = grad_fn(i, x) - c.nu * x - v[3, i]
        v = v.at[0, i].add(-c.gamma * r).at[1, i].add(-c.gamma_t * r).at[3, i].add(c.delta * r)
        return v, t_last

    def dadao_edge(v, t_last, i, j, t):
        v, t_last = flow(v, t_last, i, t)
        v, t_last = flow(v, t_last, j, t)
        p = (v[2, i] + v[4, i]) - (v[2, j] + v[4, j])
        v = v.at[4, i].add(-c.beta * p).at[4, j].add(c.beta * p)
        v = v.at[5, i].add(-c.beta_t * p).at[5, j].add(c.beta_t * p)
        return v, t_last

    def gd_grad(v, t_last, i, t):
        return v.at[0, i].add(-grad_fn(i, v[0, i]) / L), t_last

    def gd_edge(v, t_last, i, j, t):
        avg = 0.5 * (v[0, i] + v[0, j])
        return v.at[0, i].set(avg).at[0, j].set(avg), t_last

    on_grad, on_edge = (dadao_grad, dadao_edge) if method == "dadao" else (gd_grad, gd_edge)

    def event(carry, e):
        key, v, t_last, t = carry
        dt, is_grad, node, edge = draw(clocks, key, e)
        t = t + dt
        i, j = edges[edge, 0], edges[edge, 1]
        v, t_last = jax.lax.cond(is_grad, lambda: on_grad(v, t_last, node, t), lambda: on_edge(v, t_last, i, j, t))
        return (key, v, t_last, t), is_grad

    def run_chunk(state):
        e0 = state["events"]
        # times inside a chunk count from its start (float32 keeps ~1e-6 of a chunk's span, where an absolute
        # clock at t ~ 1e4 would round every waiting time to ~1e-3); t_last is stored relative to the chunk end
        (_, v, t_last, dt), is_grad = jax.lax.scan(event, (state["key"], state["v"], state["t_last"], jnp.float32(0)),
                                                   e0 + jnp.arange(chunk, dtype=jnp.int32))
        t_last, t = t_last - dt, state["t"] + dt
        ng = jnp.sum(is_grad.astype(jnp.int32))
        dist2 = jnp.mean(jnp.sum((v[0] - xs[None]) ** 2, axis=1))
        new = {**state, "step": state["step"] + 1, "v": v, "t_last": t_last, "t": t, "events": e0 + chunk,
               "grad_events": state["grad_events"] + ng, "comm_events": state["comm_events"] + chunk - ng}
        metrics = {"loss": dist2, "dist2": dist2, "time": t, "grad_events": new["grad_events"],
                   "comm_events": new["comm_events"], "consensus": jnp.mean(jnp.sum((v[0] - v[0].mean(0)) ** 2, 1))}
        return new, metrics

    return run_chunk
