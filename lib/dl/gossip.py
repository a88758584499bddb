"""Gossip: node states stacked on a leading `nodes` axis, mixed as x_i <- sum_j W_ij x_j.

Two implementations of the same product, chosen per run (`build(..., kind=)`):

- `dense`: one contraction `W @ X` per leaf. Under jit with X sharded over the `nodes` mesh
  axis, XLA gathers X and every device computes its rows. Right for small n or dense W.
- `ppermute`: neighbour exchange inside `jax.shard_map` over the `nodes` axis. Device q holds
  the block of nodes [q b, (q + 1) b) (b = n / devices). The node-level edges j -> i with
  W_ij != 0 are grouped by (sending device, receiving device); the device-level transfers are
  edge-coloured so that in one colour every device sends at most once and receives at most
  once, and each colour is one `jax.lax.ppermute` of a padded [k_c, D] buffer (k_c: the most
  rows any transfer of that colour carries). Edges inside a device are local gathers (one per
  in-edge slot, no scatter), so on a single device this is a sparse W @ X in O(edges). All
  leaves travel as one flat [b, D] buffer per colour. A ring over 8 devices needs 2 colours
  of 1 row each; the traffic is O(edges), not O(n).

Both support a time-varying W (P phases, phase t % P at round t: a `lax.switch` over the
phases' static plans for ppermute, a dynamic index for dense) and Q repeated gossip steps.
They agree up to float summation order (tests/lib/dl/test_gossip.py checks this on 8
simulated devices).

Bytes accounting is at the node level: node j sends its full state (the gossiped leaves) to
each out-neighbour i != j with W_ij != 0, once per gossip step (`bytes_per_round`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from lib.config import ConfigError
from lib.dl import topology as topo_lib

KINDS = ("dense", "ppermute", "auto")
AXIS = "nodes"


class GossipStepsError(ConfigError):
    """The number of gossip steps per round Q must be an integer >= 1."""


class _Colour(NamedTuple):
    perm: tuple  # ((src_device, dst_device), ...)
    send: np.ndarray  # [d, k] int32 local row each sending device puts in slot s
    recv: np.ndarray  # [d, k] int32 local row each receiving device adds slot s into (b = dropped)
    weight: np.ndarray  # [d, k] float32 W_ij of that slot (0 = padding)


class _Local(NamedTuple):
    """Intra-device edges as K gathers: slot s gives each local row r one source row src[q, s, r]
    (itself with weight 0 when r has fewer than s + 1 local in-edges)."""
    src: np.ndarray  # [d, K, b] int32
    weight: np.ndarray  # [d, K, b] float32


class _PhasePlan(NamedTuple):
    diag: np.ndarray  # [n] W_ii
    local: _Local  # intra-device edges
    colours: tuple  # _Colour per ppermute


class Gossip(NamedTuple):
    w: np.ndarray  # [P, n, n] float32
    kind: str  # dense | ppermute
    steps: int  # Q
    mesh: Mesh | None
    plans: tuple  # _PhasePlan per phase (ppermute only)

    @property
    def num_nodes(self) -> int:
        return self.w.shape[1]

    @property
    def num_phases(self) -> int:
        return self.w.shape[0]

    @property
    def num_collectives(self) -> int:
        """ppermutes per gossip step (the largest over phases); 0 for dense."""
        return max((len(p.colours) for p in self.plans), default=0)


def _pad_rows(rows_per_dev: list[list[tuple]], d: int, b: int, k: int, which: int, pad: int) -> np.ndarray:
    out = np.full((d, k), pad, np.int32)
    for q, rows in enumerate(rows_per_dev):
        for s, r in enumerate(rows):
            out[q, s] = r[which]
    return out


def _plan_phase(w: np.ndarray, d: int) -> _PhasePlan:
    n = w.shape[0]
    b = n // d
    transfers: dict[tuple[int, int], list[tuple[int, int, float]]] = {}
    for i, j in zip(*np.nonzero(w * (1 - np.eye(n)))):  # j -> i
        transfers.setdefault((j // b, i // b), []).append((j % b, i % b, float(w[i, j])))
    # intra-device edges: per receiving row, its local in-edges in slots 0..K-1
    loc = [transfers.pop((q, q), []) for q in range(d)]
    per_row = [[[] for _ in range(b)] for _ in range(d)]
    for q, rows in enumerate(loc):
        for src, dst, wt in rows:
            per_row[q][dst].append((src, wt))
    k0 = max((len(e) for dev in per_row for e in dev), default=0)
    src = np.broadcast_to(np.arange(b, dtype=np.int32), (d, k0, b)).copy()
    wts = np.zeros((d, k0, b), np.float32)
    for q in range(d):
        for r in range(b):
            for s, (j, wt) in enumerate(per_row[q][r]):
                src[q, s, r], wts[q, s, r] = j, wt
    local = _Local(src, wts)
    # greedy edge colouring of device-level transfers: per colour each device sends <= 1, receives <= 1
    pairs = sorted(transfers, key=lambda pq: ((pq[1] - pq[0]) % d, pq[0]))
    colours: list[list[tuple[int, int]]] = []
    for pq in pairs:
        for col in colours:
            if all(pq[0] != s and pq[1] != t for s, t in col):
                col.append(pq)
                break
        else:
            colours.append([pq])
    out = []
    for col in colours:
        k = max(len(transfers[pq]) for pq in col)
        send_rows = [[] for _ in range(d)]
        recv_rows = [[] for _ in range(d)]
        for s, t in col:
            send_rows[s] = transfers[(s, t)]
            recv_rows[t] = transfers[(s, t)]
        wt = np.zeros((d, k), np.float32)
        for t, rows in enumerate(recv_rows):
            wt[t, : len(rows)] = [r[2] for r in rows]
        out.append(_Colour(tuple(col), _pad_rows(send_rows, d, b, k, 0, 0), _pad_rows(recv_rows, d, b, k, 1, b), wt))
    return _PhasePlan(np.diag(w).astype(np.float32), local, tuple(out))


def check_steps(q) -> int:
    if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or q < 1:
        raise GossipStepsError(f"gossip steps Q={q!r} must be an integer >= 1")
    return int(q)


def build(w: np.ndarray, *, kind: str = "auto", steps: int = 1, mesh: Mesh | None = None) -> Gossip:
    """A gossip plan for mixing matrix `w` ([n, n] or [P, n, n]; validate it with
    topology.validate first). kind 'auto': ppermute (neighbour exchange; on one device only
    its local gathers) when the graph is sparse (max in-degree <= n / 4), dense otherwise."""
    if kind not in KINDS:
        raise ConfigError(f"gossip kind={kind!r} is unknown; choose one of {list(KINDS)}")
    steps = check_steps(steps)
    w = np.asarray(w, np.float64)
    w = w[None] if w.ndim == 2 else w
    n = w.shape[-1]
    d = 1
    if mesh is not None:
        if AXIS not in mesh.axis_names:
            raise ConfigError(f"mesh axes {mesh.axis_names} have no '{AXIS}' axis")
        d = mesh.shape[AXIS]
        if n % d:
            raise ConfigError(f"num_nodes={n} is not divisible by the '{AXIS}' mesh axis size {d}")
    if kind == "auto":
        indeg = (w * (1 - np.eye(n)) != 0).sum(-1).max()
        kind = "ppermute" if mesh is not None and indeg <= n / 4 else "dense"
    if kind == "ppermute" and mesh is None:
        raise ConfigError("gossip kind='ppermute' needs a mesh with a 'nodes' axis")
    plans = tuple(_plan_phase(wp, d) for wp in w) if kind == "ppermute" else ()
    return Gossip(w.astype(np.float32), kind, steps, mesh, plans)


# ----------------------------------------------------------------------------- application


def _flat(tree, lead: int):
    leaves, treedef = jax.tree.flatten(tree)
    shapes = [l.shape for l in leaves]
    dtypes = [l.dtype for l in leaves]
    x = jnp.concatenate([l.reshape(lead, -1).astype(jnp.float32) for l in leaves], axis=1)

    def unflat(y):
        out, o = [], 0
        for s, dt in zip(shapes, dtypes):
            size = int(np.prod(s[1:], dtype=np.int64))
            out.append(y[:, o:o + size].reshape((lead,) + s[1:]).astype(dt))
            o += size
        return jax.tree.unflatten(treedef, out)

    return x, unflat


def _dense_once(g: Gossip, tree, phase):
    w = jnp.asarray(g.w)[phase] if g.num_phases > 1 else jnp.asarray(g.w[0])
    return jax.tree.map(lambda x: jnp.einsum("ij,j...->i...", w, x.astype(jnp.float32),
                                             precision=jax.lax.Precision.HIGHEST).astype(x.dtype), tree)


def _apply_colour(x, col: _Colour, q, b: int):
    buf = x[jnp.asarray(col.send)[q]]  # [k, D]
    buf = jax.lax.ppermute(buf, AXIS, perm=list(col.perm))
    w = jnp.asarray(col.weight)[q][:, None]
    return jnp.zeros_like(x).at[jnp.asarray(col.recv)[q]].add(w * buf, mode="drop")


def _ppermute_phase_fn(g: Gossip, plan: _PhasePlan, b: int):
    def mix(x, q):  # x: [b, D] this device's nodes
        diag = jax.lax.dynamic_slice(jnp.asarray(plan.diag), (q * b,), (b,))
        out = diag[:, None] * x
        for s in range(plan.local.src.shape[1]):  # gathers, no scatter: cheap on every backend
            out = out + jnp.asarray(plan.local.weight)[q, s][:, None] * x[jnp.asarray(plan.local.src)[q, s]]
        for col in plan.colours:
            out = out + _apply_colour(x, col, q, b)
        return out

    return mix


def _ppermute(g: Gossip, tree, phase):
    d = g.mesh.shape[AXIS]
    b = g.num_nodes // d
    fns = [_ppermute_phase_fn(g, p, b) for p in g.plans]

    def per_device(tree, phase):
        x, unflat = _flat(tree, b)
        q = jax.lax.axis_index(AXIS)

        def once(_, x):
            if len(fns) == 1:
                return fns[0](x, q)
            return jax.lax.switch(phase, fns, x, q)

        x = jax.lax.fori_loop(0, g.steps, once, x) if g.steps > 1 else once(0, x)
        return unflat(x)

    spec = jax.tree.map(lambda _: P(AXIS), tree)
    return jax.shard_map(per_device, mesh=g.mesh, in_specs=(spec, P()), out_specs=spec)(tree, phase)


def mix(g: Gossip, tree, round_index) -> Any:
    """Q gossip steps of phase `round_index % P` on a pytree whose leaves are [n, ...]."""
    phase = jnp.asarray(round_index, jnp.int32) % g.num_phases
    if g.kind == "ppermute":
        return _ppermute(g, tree, phase)
    for _ in range(g.steps):  # unrolled: Q is small, and a loop carry would drop the nodes sharding
        tree = _dense_once(g, tree, phase)
    return tree


def bytes_per_round(g: Gossip, tree) -> np.ndarray:
    """[P, n] int64: bytes node j sends in one round of phase p (Q steps, its full state to each
    out-neighbour). `tree`: the gossiped state of ONE node (or its shapes/dtypes)."""
    per_node = sum(int(np.prod(l.shape, dtype=np.int64)) * np.dtype(l.dtype).itemsize for l in jax.tree.leaves(tree))
    out_deg = ((g.w * (1 - np.eye(g.num_nodes))) != 0).sum(1)  # [P, n]: column j's off-diagonal nonzeros
    return out_deg.astype(np.int64) * per_node * g.steps


def bytes_through(g: Gossip, tree, rounds: int) -> np.ndarray:
    """[n] int64: bytes each node has sent after `rounds` rounds."""
    per = bytes_per_round(g, tree)
    full, rest = divmod(int(rounds), g.num_phases)
    return full * per.sum(0) + per[:rest].sum(0)


def node_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(AXIS))


def validated(topo: topo_lib.Topology, mixing: str | np.ndarray, **kw) -> np.ndarray:
    """The mixing matrix (a name from topology.MIXINGS, or an explicit [P, n, n]) after
    topology.validate: connected and doubly stochastic unless kw relaxes it."""
    w = topo_lib.mixing(topo, mixing) if isinstance(mixing, str) else np.asarray(mixing, np.float64)
    w = w[None] if w.ndim == 2 else w
    topo_lib.validate(topo, w, **kw)
    return w
