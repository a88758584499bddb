"""Communication graphs as data, the mixing matrices built on them, and their checks.

A `Topology` is a stack of adjacency matrices `adj` [P, n, n] (bool, no self loops): phase
p is used in rounds t with t % P == p, so a static graph has P = 1 and the one-peer
exponential graph has P = log2(n). `adj[p, i, j]` means node i receives from node j in
phase p (graphs may be directed; most here are undirected, i.e. `adj` is symmetric).

A mixing matrix `W` [P, n, n] (float64 on the host) gives node i's new state as
sum_j W[p, i, j] x_j. Rows sum to 1 by construction; gossip averaging needs columns to sum
to 1 too (doubly stochastic: the mean of the nodes is preserved) and a connected graph
(the nodes reach consensus). `validate` checks both and raises the named errors below before
anything is compiled.

Builders (all deterministic given their `seed`): ring, torus (2-D), exponential (static,
i receives from i - 2^k), one_peer_exponential (time-varying, one neighbour 2^(t mod log2 n)
away per round), complete, erdos_renyi, random_geometric, social (the Davis Southern Women
graph, n = 32, from networkx).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from lib.config import ConfigError

NAMES = ("ring", "torus", "exponential", "one_peer_exponential", "complete", "erdos_renyi",
         "random_geometric", "social", "random_regular")
MIXINGS = ("metropolis_hastings", "uniform_neighbour")


class TopologyError(ConfigError):
    """A topology or mixing matrix that the method cannot use (the message names what and why)."""


class DisconnectedTopologyError(TopologyError):
    """The graph (the union of its phases) does not connect every node to every other."""


class NotDoublyStochasticError(TopologyError):
    """A mixing matrix whose rows or columns do not sum to 1 (or has negative entries)."""


class Topology(NamedTuple):
    name: str
    adj: np.ndarray  # [P, n, n] bool, adj[p, i, j]: i receives from j in phase p; zero diagonal

    @property
    def num_nodes(self) -> int:
        return self.adj.shape[1]

    @property
    def num_phases(self) -> int:
        return self.adj.shape[0]

    @property
    def symmetric(self) -> bool:
        return bool(np.array_equal(self.adj, np.swapaxes(self.adj, 1, 2)))


def _from_edges(name: str, n: int, edges, directed: bool = False) -> Topology:
    a = np.zeros((n, n), bool)
    for i, j in edges:
        if i != j:
            a[i, j] = True
            if not directed:
                a[j, i] = True
    return Topology(name, a[None])


def _check_n(n, lo: int = 1, what: str = "num_nodes"):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < lo:
        raise TopologyError(f"{what}={n!r} must be an integer >= {lo}")


def ring(n: int) -> Topology:
    _check_n(n)
    return _from_edges("ring", n, [(i, (i + 1) % n) for i in range(n)])


def torus(n: int, rows: int | None = None) -> Topology:
    """2-D torus of rows x (n / rows) (rows: the largest divisor <= sqrt(n) by default)."""
    _check_n(n)
    if rows is None:
        rows = max(r for r in range(1, int(math.isqrt(n)) + 1) if n % r == 0)
    if n % rows:
        raise TopologyError(f"torus rows={rows} does not divide num_nodes={n}")
    cols = n // rows
    idx = lambda r, c: (r % rows) * cols + (c % cols)  # noqa: E731
    edges = [(idx(r, c), idx(r, c + 1)) for r in range(rows) for c in range(cols)]
    edges += [(idx(r, c), idx(r + 1, c)) for r in range(rows) for c in range(cols)]
    return _from_edges("torus", n, edges)


def _exp_offsets(n: int) -> list[int]:
    return [2 ** k for k in range(max(1, math.ceil(math.log2(n))))] if n > 1 else []


def exponential(n: int) -> Topology:
    """Static exponential graph (directed): node i receives from i - 2^k mod n, k = 0..ceil(log2 n) - 1."""
    _check_n(n)
    return _from_edges("exponential", n, [(i, (i - d) % n) for i in range(n) for d in _exp_offsets(n)],
                       directed=True)


def one_peer_exponential(n: int) -> Topology:
    """Time-varying exponential graph: in phase k node i receives only from i - 2^k mod n."""
    _check_n(n, 2)
    adj = np.zeros((len(_exp_offsets(n)), n, n), bool)
    for k, d in enumerate(_exp_offsets(n)):
        adj[k, np.arange(n), (np.arange(n) - d) % n] = True
    return Topology("one_peer_exponential", adj)


def complete(n: int) -> Topology:
    _check_n(n)
    return Topology("complete", (~np.eye(n, dtype=bool))[None])


def erdos_renyi(n: int, p: float, seed: int = 0) -> Topology:
    """G(n, p), undirected; redrawn (next seed) until connected, up to 100 draws."""
    _check_n(n)
    if not 0 < p <= 1:
        raise TopologyError(f"erdos_renyi p={p!r} must be in (0, 1]")
    for t in range(100):
        rng = np.random.default_rng([seed, t])
        u = np.triu(rng.random((n, n)) < p, 1)
        topo = Topology("erdos_renyi", (u | u.T)[None])
        if is_connected(topo):
            return topo
    raise DisconnectedTopologyError(f"erdos_renyi(n={n}, p={p}) was disconnected in 100 draws; raise p")


def random_geometric(n: int, radius: float, seed: int = 0) -> Topology:
    """n points uniform in the unit square, edges between points closer than `radius`;
    redrawn (next seed) until connected, up to 100 draws."""
    _check_n(n)
    if not radius > 0:
        raise TopologyError(f"random_geometric radius={radius!r} must be > 0")
    for t in range(100):
        pts = np.random.default_rng([seed, t]).random((n, 2))
        d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
        topo = Topology("random_geometric", ((d < radius) & ~np.eye(n, dtype=bool))[None])
        if is_connected(topo):
            return topo
    raise DisconnectedTopologyError(f"random_geometric(n={n}, radius={radius}) was disconnected in 100 draws; "
                                    "raise the radius")


def random_regular(n: int, degree: int, seed: int = 0) -> Topology:
    """A uniformly drawn k-regular graph (networkx), redrawn (next seed) until connected, up to 100
    draws; D-PSGD's graph in MoDeST (k = 10)."""
    _check_n(n)
    _check_n(degree, 1, "degree")
    if degree >= n or (n * degree) % 2:
        raise TopologyError(f"random_regular(n={n}, degree={degree}): need degree < n and n * degree even")
    import networkx as nx

    for t in range(100):
        g = nx.random_regular_graph(degree, n, seed=int(np.random.default_rng([seed, t]).integers(2**31)))
        topo = _from_edges("random_regular", n, g.edges)
        if is_connected(topo):
            return topo
    raise DisconnectedTopologyError(f"random_regular(n={n}, degree={degree}) was disconnected in 100 draws")


def social() -> Topology:
    """The Davis Southern Women graph (18 women + 14 events = 32 nodes, bipartite), from networkx;
    nodes ordered by descending degree (ties by name)."""
    try:
        import networkx as nx
    except ImportError:  # pragma: no cover - networkx is a dependency
        raise TopologyError("topology 'social' needs networkx (pip install networkx)") from None
    g = nx.davis_southern_women_graph()
    order = sorted(g.nodes, key=lambda v: (-g.degree(v), str(v)))
    pos = {v: i for i, v in enumerate(order)}
    return _from_edges("social", len(order), [(pos[u], pos[v]) for u, v in g.edges])


def make(name: str, n: int, *, seed: int = 0, p: float = 0.3, radius: float = 0.4,
         rows: int | None = None, degree: int = 4) -> Topology:
    """The topology `name` over n nodes (named error for an unknown name or a bad n)."""
    if name not in NAMES:
        raise TopologyError(f"topology={name!r} is unknown; choose one of {list(NAMES)}")
    if name == "social":
        if n != 32:
            raise TopologyError(f"topology='social' (Davis Southern Women) has 32 nodes, not num_nodes={n}")
        return social()
    if name == "one_peer_exponential" and (n < 2 or n & (n - 1)):
        raise TopologyError(f"topology='one_peer_exponential' needs num_nodes a power of 2 >= 2 (exact average "
                            f"after log2(n) rounds), not {n}")
    builders = {"ring": lambda: ring(n), "torus": lambda: torus(n, rows), "exponential": lambda: exponential(n),
                "one_peer_exponential": lambda: one_peer_exponential(n), "complete": lambda: complete(n),
                "erdos_renyi": lambda: erdos_renyi(n, p, seed), "random_geometric": lambda: random_geometric(n, radius, seed),
                "random_regular": lambda: random_regular(n, degree, seed)}
    return builders[name]()


# ----------------------------------------------------------------------------- mixing matrices


def metropolis_hastings(topo: Topology) -> np.ndarray:
    """W_ij = 1 / (1 + max(deg_i, deg_j)) on edges, W_ii = 1 - sum_j W_ij: symmetric and
    doubly stochastic on any undirected graph."""
    if not topo.symmetric:
        raise TopologyError(f"metropolis_hastings needs an undirected graph; {topo.name!r} is directed "
                            "(use mixing='uniform_neighbour')")
    deg = topo.adj.sum(-1)  # [P, n]
    w = np.where(topo.adj, 1.0 / (1.0 + np.maximum(deg[:, :, None], deg[:, None, :])), 0.0)
    return _with_diagonal(w)


def uniform_neighbour(topo: Topology) -> np.ndarray:
    """W_ij = 1 / (1 + in_deg_i) for j in N_in(i) and for j = i: row stochastic; doubly
    stochastic when every node has the same in-degree and out-degree (ring, torus,
    exponential graphs, complete)."""
    deg = topo.adj.sum(-1, keepdims=True)
    w = np.where(topo.adj, 1.0 / (1.0 + deg), 0.0)
    return _with_diagonal(w)


def _with_diagonal(w: np.ndarray) -> np.ndarray:
    n = w.shape[-1]
    w = w * (1 - np.eye(n))
    return w + np.eye(n)[None] * (1.0 - w.sum(-1))[:, :, None]


def mixing(topo: Topology, name: str) -> np.ndarray:
    if name not in MIXINGS:
        raise TopologyError(f"mixing={name!r} is unknown; choose one of {list(MIXINGS)}")
    return metropolis_hastings(topo) if name == "metropolis_hastings" else uniform_neighbour(topo)


# ----------------------------------------------------------------------------- properties and checks


def is_connected(topo: Topology) -> bool:
    """Strongly connected union of the phases (every node reaches every node); O(edges)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    count, _ = connected_components(csr_matrix(topo.adj.any(0)), directed=True, connection="strong")
    return count == 1


def spectral_gap(w: np.ndarray) -> float:
    """1 - ||W - 11^T/n||_2 for one matrix [n, n] (1 - the second largest |eigenvalue| when W is
    symmetric); for a stack [P, n, n], that of the product over one period W_{P-1} ... W_0."""
    w = np.asarray(w, np.float64)
    if w.ndim == 3:
        prod = np.eye(w.shape[-1])
        for wp in w:
            prod = wp @ prod
        w = prod
    n = w.shape[-1]
    return float(1.0 - np.linalg.norm(w - np.full((n, n), 1.0 / n), 2))


def check_doubly_stochastic(w: np.ndarray, name: str = "W", atol: float = 1e-9) -> None:
    w = np.asarray(w, np.float64)
    w = w[None] if w.ndim == 2 else w
    if w.ndim != 3 or w.shape[1] != w.shape[2]:
        raise NotDoublyStochasticError(f"{name} has shape {w.shape}; need [n, n] or [phases, n, n]")
    if (w < -atol).any():
        p, i, j = np.argwhere(w < -atol)[0]
        raise NotDoublyStochasticError(f"{name}[{p}, {i}, {j}] = {w[p, i, j]:.4g} is negative")
    for axis, what in ((2, "row"), (1, "column")):
        s = w.sum(axis)
        if not np.allclose(s, 1.0, atol=atol * w.shape[-1], rtol=0):
            p, i = np.argwhere(~np.isclose(s, 1.0, atol=atol * w.shape[-1], rtol=0))[0]
            raise NotDoublyStochasticError(
                f"{name} (phase {p}) {what} {i} sums to {s[p, i]:.6g}, not 1: gossip would not preserve the "
                "nodes' mean (use mixing='metropolis_hastings' on an undirected graph, or a regular graph)")


def validate(topo: Topology, w: np.ndarray, *, need_connected: bool = True, need_doubly_stochastic: bool = True) -> None:
    """Named errors (before compile) for what the method needs: a connected graph, a doubly
    stochastic W of the topology's shape whose off-diagonal support is the graph's edges."""
    n, p = topo.num_nodes, topo.num_phases
    w = np.asarray(w)
    if w.shape != (p, n, n):
        raise TopologyError(f"mixing matrix has shape {w.shape}; topology {topo.name!r} needs {(p, n, n)}")
    off = w * (1 - np.eye(n))
    if (np.abs(off) > 0)[~topo.adj].any():
        ph, i, j = np.argwhere((np.abs(off) > 0) & ~topo.adj)[0]
        raise TopologyError(f"mixing matrix phase {ph} has W[{i}, {j}] = {w[ph, i, j]:.4g} but {j} -> {i} is not an "
                            f"edge of {topo.name!r}")
    if need_connected and not is_connected(topo):
        raise DisconnectedTopologyError(
            f"topology {topo.name!r} with {n} nodes is disconnected (some nodes never hear from others), so the "
            "nodes cannot reach consensus; use a connected graph (e.g. raise erdos_renyi p or the geometric radius)")
    if need_doubly_stochastic:
        check_doubly_stochastic(w, f"mixing matrix of {topo.name!r}")
