"""Expert parallelism: experts sharded over mesh axis(es), tokens exchanged with all_to_all in shard_map.

Tokens (routing groups) are sharded over data axes x expert axes; expert weights over the expert
axes (replicated over data axes); the router is replicated. Each device routes its own groups into
capacity buffers [E, g*C, d], one all_to_all sends expert e's rows to the device holding e, the
local experts run, and the inverse all_to_all brings the rows back for the combine.

Hierarchical all_to_all (HetuMoE section 1.2, on a two-level mesh hosts x local devices): instead of
one flat exchange over all H*L devices (H*L*(H*L-1) small messages), first exchange within the host
(fast links) so that every device holds all rows its host sends to its local-rank peers, then one
aggregated exchange between hosts among devices of the same local rank. HetuMoE funnels the
inter-host step through one leader per host; in SPMD every local rank acts as the leader for its
slice (the Tutel 2DH form), which is the same data movement without the leader bottleneck. The
block transpose out[s] = x_s[me] is an involution, so the same function serves the way back.

Dropless under expert parallelism (dispatch 'dropless', 'dropless_tiles', 'dropless_ragged'): each
device sorts its R = local tokens * slots rows by expert, so the rows for peer p are one contiguous
run. The per-peer send buffer has a static, capacity-free bound of R rows (the most that could ever
go to one peer), so nothing is dropped and no overflow can happen, whatever the routing. Each row
travels with its local expert id (an int all_to_all); the receiver sorts the rows it got by local
expert and runs the grouped matmul on exactly the rows that arrived (the empty buffer rows cost no
matmul work), then the rows go back by the inverse all_to_all and are combined on the sending
device. The price of the bound is communication and receive memory: n_expert x R rows per device
instead of ~R. (A tighter bound needs exchanged counts and `jax.lax.ragged_all_to_all`, which is
the better choice on GPU/TPU; not implemented here.) Results equal the single-device dropless layer.
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from lib.moe import dispatch as D
from lib.moe import layer as L
from lib.moe.routers import MoEConfigError


def flat_all_to_all(x, axes: tuple[str, ...]):
    """x [N, ...] with N = devices over `axes`: out[s] = x_s[me] (block transpose)."""
    return jax.lax.all_to_all(x, axes if len(axes) > 1 else axes[0], 0, 0, tiled=True)


def hierarchical_all_to_all(x, host_axis: str, local_axis: str, hosts: int, local: int):
    """Same result as flat_all_to_all over (host, local), in two stages: within host, then between hosts."""
    xs = x.reshape(hosts, local, *x.shape[1:])  # [dest host, dest local, ...]
    xs = jax.lax.all_to_all(xs, local_axis, 1, 1, tiled=True)  # intra-host: axis 1 -> source local
    xs = jax.lax.all_to_all(xs, host_axis, 0, 0, tiled=True)  # inter-host: axis 0 -> source host
    return xs.reshape(x.shape)


@dataclasses.dataclass(frozen=True)
class ExpertParallel:
    """Expert + data parallel MoE FFN on `mesh`. hierarchical needs expert_axes = (host, local)."""

    mesh: jax.sharding.Mesh
    expert_axes: tuple[str, ...] = ("expert",)
    data_axes: tuple[str, ...] = ("data",)
    hierarchical: bool = False

    def __post_init__(self):
        names = self.mesh.axis_names
        for a in self.expert_axes + self.data_axes:
            if a not in names:
                raise MoEConfigError("mesh axis", a, f"axes of the mesh {names}")
        if self.hierarchical and len(self.expert_axes) != 2:
            raise MoEConfigError("moe.hierarchical_a2a", True, "expert_axes = (host_axis, local_axis)")

    @property
    def n_expert(self) -> int:
        return math.prod(self.mesh.shape[a] for a in self.expert_axes)

    @property
    def n_devices(self) -> int:
        return self.n_expert * math.prod(self.mesh.shape[a] for a in self.data_axes)

    def a2a(self, x):
        if self.hierarchical:
            h, l = self.expert_axes
            return hierarchical_all_to_all(x, h, l, self.mesh.shape[h], self.mesh.shape[l])
        return flat_all_to_all(x, self.expert_axes)

    def validate(self, spec: L.MoESpec, tokens: int):
        e = spec.router.num_experts
        if e % self.n_expert:
            raise MoEConfigError("moe.num_experts", e, f"a multiple of the expert-axis size {self.n_expert}")
        if spec.num_groups % self.n_devices:
            raise MoEConfigError("moe.num_groups", spec.num_groups,
                                 f"a multiple of the number of devices {self.n_devices}")
        if not spec.mode.expert_parallel:
            raise MoEConfigError("moe.dispatch", spec.dispatch,
                                 "'capacity' or a dropless mode under expert parallelism")
        spec.validate(tokens)

    def moe_ffn(self, spec: L.MoESpec, params, state, x, *, key=None, step=0, token_ids=None, train=True):
        """Same contract as layer.moe_ffn; x [T, d] (any sharding; it is resharded by groups)."""
        t, d = x.shape
        self.validate(spec, t)
        g, e, n_ep = spec.num_groups, spec.router.num_experts, self.n_expert
        cap = spec.group_capacity(t)
        xg = x.reshape(g, t // g, d)
        keys = L.group_keys(key, g)
        ids_g = None if token_ids is None else token_ids.reshape(g, t // g)
        tok = P(self.data_axes + self.expert_axes)  # groups over every device, data-major
        ex = P(self.expert_axes)
        has_keys, has_ids = keys is not None, ids_g is not None

        def exchange_capacity(r, xg, w1, w2):
            sl, stats = jax.vmap(lambda rr: D.make_slots(rr, e, cap))(r)
            buf = jax.vmap(lambda xx, s: D.to_buffer(xx, s, e, cap))(xg, sl)  # [g, E, C, d]
            gl = buf.shape[0]
            buf = buf.transpose(1, 0, 2, 3).reshape(n_ep, e // n_ep, gl * cap, d)
            recv = self.a2a(buf)  # [src device, E_local, g*C, d]
            rows = recv.transpose(1, 0, 2, 3).reshape(e // n_ep, n_ep * gl * cap, d)
            y = D.expert_ffn({"w1": w1, "w2": w2}, rows)
            y = y.reshape(e // n_ep, n_ep, gl * cap, d).transpose(1, 0, 2, 3)
            back = self.a2a(y).reshape(e, gl, cap, d).transpose(1, 0, 2, 3)  # [g, E, C, d]
            return jax.vmap(D.from_buffer)(back, sl), stats

        def exchange_dropless(r, xg, w1, w2):
            gl, tg = xg.shape[:2]
            flat = jax.tree.map(lambda a: a.reshape((gl * tg,) + a.shape[2:]) if a.ndim >= 2 else a, r)
            y, stats = self.dropless_exchange({"w1": w1, "w2": w2}, xg.reshape(gl * tg, d), flat, spec.mode,
                                              spec.tile)
            return y.reshape(gl, tg, d), jax.tree.map(lambda a: a[None], stats)

        def local(router_w, w1, w2, state, xg, keys, ids_g, step):
            r = L.route_groups(spec, router_w, state, xg, keys if has_keys else None, step,
                               ids_g if has_ids else None, train)
            if spec.mode.drops:
                out, stats = exchange_capacity(r, xg, w1, w2)
            else:
                out, stats = exchange_dropless(r, xg, w1, w2)
            if spec.router.residual:
                out = out + (1.0 - r.weight.sum(-1, keepdims=True)).astype(xg.dtype) * xg
            aux = L.summarize(spec, r, stats)
            all_axes = self.data_axes + self.expert_axes
            aux = {k: (jax.lax.pmean(v, all_axes) if k in L.MEAN_KEYS else jax.lax.psum(v, all_axes))
                   for k, v in aux.items()}
            return out, aux

        dummy = jnp.zeros((g,), jnp.int32)
        args = (params["router"], params["w1"], params["w2"], state, xg,
                keys if has_keys else dummy, ids_g if has_ids else dummy, jnp.asarray(step))
        specs = (P(), ex, ex, P(), tok, tok, tok, P())
        args = tuple(self._place(a, s) for a, s in zip(args, specs))
        fn = jax.shard_map(
            local, mesh=self.mesh,
            in_specs=specs, out_specs=(tok, P()))
        y, aux = fn(*args)
        y = self._place(y, P())  # back to replicated so callers need not know the layout
        return y.reshape(t, d), L.finalize(aux)

    def dropless_exchange(self, experts, x, r, mode: D.DispatchMode, tile: int):
        """Inside shard_map: dropless expert mixture of this device's rows x [T, d] under routing r
        ([T, S]) with experts sharded over the expert axes (w1/w2 hold the local experts); `mode` (a
        dropless DispatchMode) runs the expert FFNs on the rows that arrived."""
        t, s = r.index.shape
        e_loc = experts["w1"].shape[0]
        n_ep = self.n_expert
        e = e_loc * n_ep
        rows = t * s  # the per-peer bound: every row this device has
        lay = D.sort_rows(r.index, r.mask, e)
        # rows for peer p are the sorted run [first[p], first[p] + count[p])
        count = lay.sizes.reshape(n_ep, e_loc).sum(1)
        first = lay.starts.reshape(n_ep, e_loc)[:, 0]
        j = jnp.arange(rows, dtype=jnp.int32)
        valid = j[None, :] < count[:, None]  # [n_ep, rows]
        sorted_row = jnp.minimum(first[:, None] + j[None, :], rows - 1)
        src = jnp.where(valid, lay.src[sorted_row], rows).reshape(-1)  # send row -> token slot
        peer = r.index // e_loc
        loc = jnp.where(r.mask, peer * rows + lay.loc - first[peer], n_ep * rows)  # token slot -> send row
        eid_flat = jnp.take(r.index.reshape(-1), jnp.minimum(src, rows - 1))
        eid = jnp.where(src < rows, eid_flat % e_loc, e_loc).reshape(n_ep, rows)  # local expert, e_loc: empty
        send = D.dispatch_rows(x, src, loc, s).reshape(n_ep, rows, -1)
        recv = self.a2a(send).reshape(n_ep * rows, -1)  # rows from every peer
        recv_eid = self.a2a(eid).reshape(n_ep * rows, 1)
        used = recv_eid < e_loc
        lay2 = D.sort_rows(recv_eid, used, e_loc)
        xs = D.dispatch_rows(recv, lay2.src, lay2.loc, 1)
        ys = mode.sorted_ffn(experts, xs, lay2, tile)
        y_recv = D.combine_rows(ys, used.astype(ys.dtype), lay2.src, lay2.loc)  # back to arrival order
        back = self.a2a(y_recv.reshape(n_ep, rows, -1)).reshape(n_ep * rows, -1)
        w = jnp.where(r.mask, r.weight, 0.0).astype(x.dtype)
        n = r.mask.sum().astype(jnp.float32)
        return D.combine_rows(back, w, src, loc), D.Stats(load=D._load(r, e), kept=n, routed=n)

    def _place(self, tree, spec):
        """Reshard to `spec` (explicit-sharding meshes need jax.reshard, auto meshes a constraint)."""
        sh = jax.sharding.NamedSharding(self.mesh, spec)
        explicit = all(t == jax.sharding.AxisType.Explicit for t in self.mesh.axis_types)
        f = (lambda a: jax.reshard(a, sh)) if explicit else (lambda a: jax.lax.with_sharding_constraint(a, sh))
        return jax.tree.map(f, tree)
