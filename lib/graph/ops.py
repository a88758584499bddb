"""Message passing on receiver-sorted segments.

On CPU, `spmm` (float32) runs the native XLA FFI kernel lib/native/spmm.cc: the
receiver-sorted edges are CSR rows, each row summed in registers (no atomics), row blocks of
equal cost on XLA's thread pool, vectorised over features; its VJP is the same kernel on the
sender-sorted layout (A^T). It is chosen with `lib.native.cpu_or`, so GPU/TPU, a missing
compiler or TESSERA_NATIVE=0 run the pure-JAX path described below (same values; tests in
tests/lib/graph/test_native_spmm.py). `propagate` (traced edge weights, GAT) stays pure JAX.

`Adjacency` holds a weighted sparse matrix A in two layouts: edges sorted by receiver and
by sender. Each aggregation is one gather (rows of h along edges) and one scatter-add.
On XLA:CPU the random-index gather is the expensive half (the scatter-add is several times
cheaper), so by default (`gather_sorted=True`) `spmm` gathers with *sorted* indices in both
passes: the forward uses the sender-sorted layout (gather h[sender] sorted, scatter to
receivers) and its custom VJP uses the receiver-sorted layout for A^T g (gather g[receiver]
sorted, scatter to senders). Plain autodiff would instead gather randomly in one of the two
passes. `gather_sorted=False` gives the receiver-sorted segment sum (indices_are_sorted
scatter) in the forward pass, the usual choice on accelerators. For symmetric A (GCN
normalisation of an undirected graph) both layouts are the same arrays with roles swapped.

Large edge lists are processed in chunks of `edge_chunk(F)` edges inside a `fori_loop`
(`_aggregate`): each chunk gathers, weights and scatter-adds ~8 MB of messages into the
output carried by the loop. The [E, F] message array is never materialised, so the
temporaries stay cache-sized and are reused across chunks. On XLA:CPU (2M edges, 16 wide) one
aggregation is about 2x faster than the one-shot gather + scatter under load, and the whole GCN
training step 0.72x (loaded) to 0.91x (idle machine) of the one-shot step (benchmarks/gnn.py). Every edge is summed into its receiver in
the same order as the one-shot version, so results are the same.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lib import native


@struct.dataclass
class Adjacency:
    senders: jax.Array     # [E] int32, sorted by receiver
    receivers: jax.Array   # [E] int32, non-decreasing
    weights: jax.Array     # [E] float32, 0 on padding
    mask: jax.Array        # [E] bool, False on padding
    t_senders: jax.Array   # transpose layout (sorted by original sender); == senders if symmetric
    t_receivers: jax.Array
    t_weights: jax.Array
    num_nodes: int = struct.field(pytree_node=False)
    symmetric: bool = struct.field(pytree_node=False, default=False)
    gather_sorted: bool = struct.field(pytree_node=False, default=True)

    def by_sender(self):
        """(senders sorted, receivers, weights) of A's edges in sender order."""
        if self.symmetric:  # the transpose of A is A: swap roles of the receiver-sorted arrays
            return self.receivers, self.senders, self.weights
        return self.t_receivers, self.t_senders, self.t_weights


CHUNK_BYTES = 1 << 23  # message bytes per chunk of edges (8 MiB)


def edge_chunk(row_elems: int, chunk_bytes: int | None = None) -> int:
    """Edges per chunk for messages of `row_elems` float32 elements (a power of two >= 1024)."""
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    c = max(chunk_bytes // (4 * max(int(row_elems), 1)), 1024)
    return 1 << (int(c).bit_length() - 1)


def _aggregate_once(out, h, gather_idx, scatter_idx, weights, gather_sorted, scatter_sorted):
    msg = h.at[gather_idx].get(mode="promise_in_bounds", indices_are_sorted=gather_sorted)
    msg = msg * weights.reshape(weights.shape + (1,) * (h.ndim - 1)).astype(h.dtype)
    return out.at[scatter_idx].add(msg, mode="promise_in_bounds", indices_are_sorted=scatter_sorted)


def _aggregate(h, gather_idx, scatter_idx, weights, num_nodes, gather_sorted, scatter_sorted,
               chunk=None):
    """out[scatter_idx[e]] += weights[e] * h[gather_idx[e]], in chunks of `chunk` edges."""
    e = gather_idx.shape[0]
    c = edge_chunk(int(np.prod(h.shape[1:], dtype=np.int64))) if chunk is None else int(chunk)
    out = jnp.zeros((num_nodes,) + h.shape[1:], h.dtype)
    k = e // c
    if k <= 1:
        return _aggregate_once(out, h, gather_idx, scatter_idx, weights, gather_sorted, scatter_sorted)

    def body(i, out):
        sl = lambda a: jax.lax.dynamic_slice_in_dim(a, i * c, c)
        return _aggregate_once(out, h, sl(gather_idx), sl(scatter_idx), sl(weights),
                               gather_sorted, scatter_sorted)

    # the loop starts from the first chunk's sum, not from zeros: inside shard_map the carry then
    # varies over the same mesh axes as the messages (a zeros carry would not, and scan refuses that)
    out = jax.lax.fori_loop(1, k, body, body(0, out))
    if k * c < e:  # static tail
        out = _aggregate_once(out, h, gather_idx[k * c:], scatter_idx[k * c:], weights[k * c:],
                              gather_sorted, scatter_sorted)
    return out


def _sorted_aggregate(h, senders, receivers, weights, num_nodes):
    # one shot (no loop): plain autodiff through it also differentiates the edge weights
    out = jnp.zeros((num_nodes,) + h.shape[1:], h.dtype)
    return _aggregate_once(out, h, senders, receivers, weights, False, True)


KERNEL = ("spmm", (("tessera_spmm", "TesseraSpmm"),))


def csr_native(rows, cols, weights, h, num_rows: int):
    """out[i] = sum_{e: rows[e]=i} weights[e] h[cols[e]] by the native CPU kernel
    lib/native/spmm.cc (rows sorted: one contiguous run of edges per output row, summed in
    registers; row blocks of equal cost on XLA's thread pool; vectorised over features).
    float32 only; h's trailing dims are flattened into one feature dim. Edges whose row or
    column is out of range contribute nothing. CPU only: call it through `native.cpu_or`."""
    f = int(np.prod(h.shape[1:], dtype=np.int64))
    call = jax.ffi.ffi_call("tessera_spmm", jax.ShapeDtypeStruct((num_rows, f), jnp.float32),
                            vmap_method="sequential")
    out = call(rows.astype(jnp.int32), cols.astype(jnp.int32), weights.astype(jnp.float32),
               h.reshape(h.shape[0], f))
    out = native.varying_like(out, rows, cols, weights, h)  # inside shard_map
    return out.reshape((num_rows,) + h.shape[1:])


def _forward_jax(adj: Adjacency, h):
    if adj.gather_sorted:
        s, r, w = adj.by_sender()
        return _aggregate(h, s, r, w, adj.num_nodes, True, False)
    return _aggregate(h, adj.senders, adj.receivers, adj.weights, adj.num_nodes, False, True)


def _transpose_jax(adj: Adjacency, g):
    if adj.gather_sorted:
        return _aggregate(g, adj.receivers, adj.senders, adj.weights, adj.num_nodes, True, False)
    s, r, w = adj.by_sender()
    return _aggregate(g, r, s, w, adj.num_nodes, False, True)


def _forward_native(adj: Adjacency, h):  # rows = receivers (sorted), columns = senders
    return csr_native(adj.receivers, adj.senders, adj.weights, h, adj.num_nodes)


def _transpose_native(adj: Adjacency, g):  # A^T g: rows = senders (sender-sorted layout)
    s, r, w = adj.by_sender()
    return csr_native(s, r, w, g, adj.num_nodes)


def _use_native(h) -> bool:
    return h.dtype == jnp.float32


def uses_native(h=None) -> bool:
    """Whether `spmm` on float32 features traced now would run the native CPU kernel
    (CPU backend, TESSERA_NATIVE not 0, kernel built). For benchmarks and reports."""
    return native.enabled() and jax.default_backend() == "cpu" and native.load(*KERNEL)


def _apply(adj: Adjacency, h):
    if not _use_native(h):
        return _forward_jax(adj, h)
    return native.cpu_or(_forward_native, _forward_jax, adj, h, kernel=KERNEL)


def _apply_transpose(adj: Adjacency, g):
    if not _use_native(g):
        return _transpose_jax(adj, g)
    return native.cpu_or(_transpose_native, _transpose_jax, adj, g, kernel=KERNEL)


@jax.custom_vjp
def spmm(adj: Adjacency, h: jax.Array) -> jax.Array:
    """out[i] = sum_{e: receiver(e)=i} w_e h[sender(e)]  (A h with fixed edge weights).

    On CPU (float32) by the native kernel lib/native/spmm.cc on the receiver-sorted CSR,
    its VJP A^T g on the sender-sorted layout; elsewhere, or with TESSERA_NATIVE=0, the
    pure-JAX chunked gather/scatter below. Both give the same values (tests)."""
    return _apply(adj, h)


def _spmm_fwd(adj, h):
    return _apply(adj, h), adj


def _spmm_bwd(adj, g):
    # d h = A^T g: out[s] = sum_e w_e g[r]; edge weights are graph constants (no cotangent).
    return None, _apply_transpose(adj, g)


spmm.defvjp(_spmm_fwd, _spmm_bwd)


def propagate(h, senders, receivers, weights, num_nodes):
    """A h with differentiable (e.g. attention) edge weights; plain autodiff."""
    return _sorted_aggregate(h, senders, receivers, weights, num_nodes)


def segment_softmax(logits, receivers, mask, num_nodes):
    """Softmax of edge logits [E, H] over the incoming edges of each receiver."""
    neg = jnp.finfo(logits.dtype).min
    logits = jnp.where(mask[:, None], logits, neg)
    mx = jax.ops.segment_max(logits, receivers, num_nodes, indices_are_sorted=True)
    ex = jnp.where(mask[:, None], jnp.exp(logits - mx[receivers]), 0.0)
    den = jax.ops.segment_sum(ex, receivers, num_nodes, indices_are_sorted=True)
    return ex / jnp.maximum(den[receivers], 1e-16)


def to_dense(adj: Adjacency) -> np.ndarray:
    """Dense A (host, for tests)."""
    a = np.zeros((adj.num_nodes, adj.num_nodes), np.float64)
    np.add.at(a, (np.asarray(adj.receivers), np.asarray(adj.senders)), np.asarray(adj.weights))
    return a
