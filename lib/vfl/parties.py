"""Parties on a `party` mesh axis: bottom models, the guest's top model, and the messages
between them, written as per-device programs for `jax.shard_map`.

Layout. Party 0 is the guest (labels, its bottom model, the top model); parties 1..P-1 are
hosts (a bottom model each). Every per-party array has a leading party axis sharded over the
mesh axis `party`: with P devices on that axis each party sits on its own device (or host, in
a multi-process run); with fewer, each device holds P / size parties. Features are padded to
the widest party (zero columns get zero gradients), so the bottoms stack into one pytree.
The top model is stored with the same leading axis: slot 0 (the guest's) is the model, the
hosts' slots stay zero and unused (hosts hold no top model and no labels: `y` is zero on them).

Messages. A communicated step is exactly the VFL protocol:
  1. each host computes A_p = bottom_p(X_p) and sends transform(A_p) (all_gather over `party`);
  2. the guest computes the loss on top([A_0, A_1..]), updates its bottom and top models and
     sends D_p = dL/dA_p back (psum_scatter: each host receives only its own slice);
  3. each host backpropagates D_p through its bottom and updates it.
Only the guest runs the top model (lax.cond on the party index). `message_bytes` counts
what crosses the wire per step; the collectives carry exactly those arrays (tested).

Local updates (for CELU-VFL and similar) reuse a cached (A, D) pair without communication:
`local_update` takes a per-instance weighting function so the method decides how to treat
stale messages.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from lib.config import ConfigError
from lib.vfl import transforms
from lib.vfl.models import Top, WideDeep

AXIS = "party"


def party_mesh(num_parties: int, num_devices: int | None = None, devices=None) -> Mesh:
    """A 1-D mesh `party` over `num_devices` devices (default: one per party if there are
    enough devices, else 1); the party count must be a multiple of it."""
    devices = list(devices if devices is not None else jax.devices())
    n = num_devices or (num_parties if len(devices) >= num_parties else 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or num_parties % n or n > len(devices):
        raise ConfigError(f"config.party_devices={n!r} must divide the {num_parties} parties and be at most the "
                          f"{len(devices)} devices available")
    return Mesh(np.array(devices[:n]), (AXIS,))


def _slot0(tree):
    return jax.tree.map(lambda t: t[0], tree)


def _set_slot0(tree, new, pred):
    return jax.tree.map(lambda t, n: t.at[0].set(jnp.where(pred, n, t[0])), tree, new)


def _cond(pred, guest, host):
    """guest() on the guest's device, host() elsewhere (a per-device branch, not a select)."""
    return lax.cond(pred, lambda _: guest(), lambda _: host(), None)


def _where(pred, a, b):
    return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


@dataclasses.dataclass(frozen=True)
class MessageSpec:
    """What a communicated step sends: bits per element each way and noise on activations."""
    fwd_bits: int = transforms.FULL_BITS
    bwd_bits: int = transforms.FULL_BITS
    noise_sigma: float = 0.0
    noise_clip: float = 1.0

    def check(self):
        transforms.check(self.fwd_bits, self.noise_sigma, self.noise_clip, "messages.forward")
        transforms.check(self.bwd_bits, 0.0, 1.0, "messages.backward")


class VerticalModel:
    """Bottom models for every party, the guest's top model, their optimizers, the messages."""

    def __init__(self, feature_dims: Sequence[int], *, embed_dim: int, bottom_hidden=(64,), top_hidden=(),
                 tx_bottom: optax.GradientTransformation, tx_top: optax.GradientTransformation,
                 batch_size: int, messages: MessageSpec = MessageSpec(), mesh: Mesh | None = None):
        if len(feature_dims) < 2:
            raise ConfigError(f"vertical FL needs a guest and at least one host; got {len(feature_dims)} part(y/ies)")
        messages.check()
        self.feature_dims = tuple(int(d) for d in feature_dims)
        self.num_parties, self.d = len(self.feature_dims), max(self.feature_dims)
        self.embed_dim, self.batch_size, self.messages = embed_dim, batch_size, messages
        self.bottom, self.top = WideDeep(embed_dim, tuple(bottom_hidden)), Top(tuple(top_hidden))
        self.tx_bottom, self.tx_top = tx_bottom, tx_top
        self.mesh = mesh if mesh is not None else party_mesh(self.num_parties)
        self.sharded = NamedSharding(self.mesh, P(AXIS))
        self.replicated = NamedSharding(self.mesh, P())

    # ------------------------------------------------------------------ bytes

    def message_bytes(self, batch_size: int | None = None) -> dict:
        """Bytes on the wire per communicated step, all hosts together (the guest's own
        activations and derivatives stay on the guest)."""
        n = (batch_size or self.batch_size) * self.embed_dim
        hosts = self.num_parties - 1
        fwd = hosts * transforms.message_bytes(n, self.messages.fwd_bits)
        bwd = hosts * transforms.message_bytes(n, self.messages.bwd_bits)
        return {"forward": fwd, "backward": bwd, "total": fwd + bwd}

    # ------------------------------------------------------------------ state and data

    def init(self, key) -> dict:
        """{'bottom', 'top', 'opt_bottom', 'opt_top'}, each with a leading party axis, placed on the mesh."""
        x0 = jnp.zeros((1, self.d), jnp.float32)
        bottoms = [self.bottom.init(jax.random.fold_in(key, p), x0)["params"] for p in range(self.num_parties)]
        bottom = jax.tree.map(lambda *xs: jnp.stack(xs), *bottoms)
        acts = jnp.zeros((self.num_parties, 1, self.embed_dim), jnp.float32)
        top0 = self.top.init(jax.random.fold_in(key, 10_000), acts)["params"]
        top = jax.tree.map(lambda t: jnp.concatenate([t[None], jnp.zeros((self.num_parties - 1,) + t.shape, t.dtype)]),
                           top0)
        state = {"bottom": bottom, "top": top, "opt_bottom": jax.vmap(self.tx_bottom.init)(bottom),
                 "opt_top": jax.vmap(self.tx_top.init)(top)}
        return jax.device_put(state, self.sharded)

    def place_data(self, x: Sequence[np.ndarray], y: np.ndarray) -> dict:
        """Per-party features padded to the widest party, [P, N, d]; labels [P, N] on the guest only."""
        if len(x) != self.num_parties or any(a.shape[1] != d for a, d in zip(x, self.feature_dims)):
            raise ConfigError(f"data has feature dims {[a.shape[1] for a in x]}; the model was built for "
                              f"{list(self.feature_dims)}")
        n = len(y)
        xs = np.zeros((self.num_parties, n, self.d), np.float32)
        for p, a in enumerate(x):
            xs[p, :, :a.shape[1]] = a
        ys = np.zeros((self.num_parties, n), np.float32)
        ys[0] = y
        return {"x": jax.device_put(xs, self.sharded), "y": jax.device_put(ys, self.sharded)}

    # ------------------------------------------------------------------ per-device programs

    def _ids(self, local: int):
        ax = lax.axis_index(AXIS)
        return ax * local + jnp.arange(local), ax == 0

    def _bottoms(self, bottom, x):
        return jax.vmap(lambda p, xx: self.bottom.apply({"params": p}, xx))(bottom, x)

    def _guest_losses(self, top0, acts, y):
        return optax.sigmoid_binary_cross_entropy(self.top.apply({"params": top0}, acts), y)

    def comm_update(self, state: dict, data: dict, idx, key):
        """One communicated step (inside shard_map over `party`). Returns (state, loss, messages):
        `messages['a']` the activations as the guest received them [P, B, E] (replicated: every
        device gets the gathered array), `messages['a_own']` each local party's activations as it
        computed them [L, B, E], `messages['d']` the derivatives the guest computed [P, B, E] (zero off
        the guest device), `messages['d_own']` what each local party received [L, B, E]."""
        m = self.messages
        local = data["x"].shape[0]
        gid, is_guest = self._ids(local)
        x = data["x"][:, idx]
        a, vjp = jax.vjp(lambda bp: self._bottoms(bp, x), state["bottom"])
        keys = jax.vmap(lambda g: jax.random.fold_in(key, g))(gid)
        sent = jax.vmap(lambda aa, k: transforms.apply(aa, k, bits=m.fwd_bits, sigma=m.noise_sigma,
                                                       clip=m.noise_clip))(a, keys)
        sent = jnp.where((gid == 0)[:, None, None], a, sent)  # the guest's own activations are not sent
        a_all = lax.all_gather(sent, AXIS, axis=0, tiled=True)  # forward messages
        top0 = _slot0(state["top"])
        y = data["y"][0, idx]

        def guest():
            loss, (g_top, d_all) = jax.value_and_grad(
                lambda tp, acts: self._guest_losses(tp, acts, y).mean(), argnums=(0, 1))(top0, a_all)
            return loss, g_top, d_all

        def host():
            return jnp.zeros((), jnp.float32), jax.tree.map(jnp.zeros_like, top0), jnp.zeros_like(a_all)

        loss, g_top, d_all = _cond(is_guest, guest, host)
        pids = jnp.arange(self.num_parties)
        bkeys = jax.vmap(lambda g: jax.random.fold_in(key, self.num_parties + g))(pids)
        d_sent = jax.vmap(lambda dd, k: transforms.quantize(dd, m.bwd_bits, k))(d_all, bkeys)
        d_sent = jnp.where((pids == 0)[:, None, None], d_all, d_sent)
        d_sent = jnp.where(is_guest, d_sent, 0.0)
        d_own = lax.psum_scatter(d_sent, AXIS, scatter_dimension=0, tiled=True)  # backward messages
        (g_bottom,) = vjp(d_own)
        upd, opt_b = jax.vmap(self.tx_bottom.update)(g_bottom, state["opt_bottom"], state["bottom"])
        upd_t, opt_t0 = self.tx_top.update(g_top, _slot0(state["opt_top"]), top0)
        new = {"bottom": optax.apply_updates(state["bottom"], upd), "opt_bottom": opt_b,
               "top": _set_slot0(state["top"], optax.apply_updates(top0, upd_t), is_guest),
               "opt_top": _set_slot0(state["opt_top"], opt_t0, is_guest)}
        loss = lax.psum(jnp.where(is_guest, loss, 0.0), AXIS)
        return new, loss, {"a": a_all, "a_own": a, "d": d_sent, "d_own": d_own}

    def local_update(self, state: dict, data: dict, idx, cached: dict, ok,
                     weight_fn: Callable[[str, jax.Array, jax.Array], jax.Array] | None = None):
        """One local update from a cached pair, no communication (inside shard_map over `party`).

        `cached['a']`, `cached['d']`: [L, P, B, E], each local party's view of the cached step
        (the guest's: every party's received activations and the derivatives it computed; host p's:
        its own activations and received derivatives in slot p). The guest recomputes its own
        activations, keeps the hosts' cached ones, and descends mean_k(w_k * loss_k); a host recomputes
        its activations and backpropagates w_k * D_k. `weight_fn(role, fresh, cached) -> [B]` gives w
        (role 'guest': the gradient wrt the hosts' activations vs the cached derivatives, per instance
        flattened to [B, F]; role 'host': fresh vs cached activations); None: w = 1. `ok` False: no-op.
        Returns (state, metrics)."""
        wf = weight_fn or (lambda role, u, v: jnp.ones(u.shape[:1], jnp.float32))
        local = data["x"].shape[0]
        gid, is_guest = self._ids(local)
        x = data["x"][:, idx]
        own_a = cached["a"][jnp.arange(local), gid]
        own_d = cached["d"][jnp.arange(local), gid]

        def host_one(bp, xx, a_c, d_c):
            a_new, vjp = jax.vjp(lambda p: self.bottom.apply({"params": p}, xx), bp)
            w = lax.stop_gradient(wf("host", a_new, a_c))
            return vjp(w[:, None] * d_c)[0], w

        g_bottom, w_host = jax.vmap(host_one)(state["bottom"], x, own_a, own_d)
        top0, bottom0 = _slot0(state["top"]), _slot0(state["bottom"])
        y = data["y"][0, idx]
        acts_c, d_c = cached["a"][0], cached["d"][0]

        def guest():
            def losses(bp, tp, acts):
                acts = acts.at[0].set(self.bottom.apply({"params": bp}, x[0]))
                return self._guest_losses(tp, acts, y)

            g_acts = jax.grad(lambda acts: losses(bottom0, top0, acts).mean())(acts_c)
            flat = lambda t: jnp.transpose(t[1:], (1, 0, 2)).reshape(t.shape[1], -1)  # [B, hosts * E]
            w = lax.stop_gradient(wf("guest", flat(g_acts), flat(d_c)))
            loss, (gb, gt) = jax.value_and_grad(lambda bp, tp: jnp.mean(w * losses(bp, tp, acts_c)),
                                                argnums=(0, 1))(bottom0, top0)
            return gb, gt, w, loss

        def host():
            return (jax.tree.map(jnp.zeros_like, bottom0), jax.tree.map(jnp.zeros_like, top0),
                    jnp.zeros_like(w_host[0]), jnp.zeros((), jnp.float32))

        gb0, gt0, w_guest, loss = _cond(is_guest, guest, host)
        g_bottom = _set_slot0(g_bottom, gb0, is_guest)
        upd, opt_b = jax.vmap(self.tx_bottom.update)(g_bottom, state["opt_bottom"], state["bottom"])
        upd_t, opt_t0 = self.tx_top.update(gt0, _slot0(state["opt_top"]), top0)
        new = {"bottom": optax.apply_updates(state["bottom"], upd), "opt_bottom": opt_b,
               "top": _set_slot0(state["top"], optax.apply_updates(top0, upd_t), is_guest),
               "opt_top": _set_slot0(state["opt_top"], opt_t0, is_guest)}
        new = _where(ok, new, state)
        is_host = (gid != 0)[:, None].astype(jnp.float32)
        w_host_sum = lax.psum(jnp.sum(w_host * is_host), AXIS)
        kept_host = lax.psum(jnp.sum((w_host > 0) * is_host), AXIS)
        n_host = (self.num_parties - 1) * w_host.shape[1]
        metrics = {"local_loss": lax.psum(jnp.where(is_guest, loss, 0.0), AXIS),
                   "guest_weight": lax.psum(jnp.where(is_guest, w_guest.mean(), 0.0), AXIS),
                   "guest_kept": lax.psum(jnp.where(is_guest, (w_guest > 0).mean(), 0.0), AXIS),
                   "host_weight": w_host_sum / n_host, "host_kept": kept_host / n_host}
        return new, metrics

    def predict(self, state: dict, data: dict, idx):
        """Guest logits [B] (replicated) for the samples `idx` (inside shard_map over `party`)."""
        local = data["x"].shape[0]
        _, is_guest = self._ids(local)
        a_all = lax.all_gather(self._bottoms(state["bottom"], data["x"][:, idx]), AXIS, axis=0, tiled=True)
        top0 = _slot0(state["top"])
        logits = _cond(is_guest, lambda: self.top.apply({"params": top0}, a_all),
                       lambda: jnp.zeros(idx.shape, jnp.float32))
        return lax.psum(logits, AXIS)

    # ------------------------------------------------------------------ wrappers

    def shard(self, fn, in_specs, out_specs):
        """`jax.shard_map` of a per-device program over this model's party mesh."""
        # check_vma=False: the guest-only branch (lax.cond on the party index) is per-device by design
        return jax.shard_map(fn, mesh=self.mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)

    def make_predict(self):
        """jitted (state, data, idx [B]) -> logits [B]."""
        return jax.jit(self.shard(self.predict, (P(AXIS), P(AXIS), P()), P()))

    def make_vanilla_step(self):
        """jitted (state, data, idx, key) -> (state, loss): vanilla VFL, one communicated step."""
        def step(state, data, idx, key):
            new, loss, _ = self.comm_update(state, data, idx, key)
            return new, loss
        return jax.jit(self.shard(step, (P(AXIS), P(AXIS), P(), P()), (P(AXIS), P())))

    def make_vanilla_epoch(self):
        """jitted (state, data, idx [S, B], key) -> (state, losses [S]): S vanilla steps in one program
        (lax.scan inside the shard_map; step s uses fold_in(key, s), as make_vanilla_step would)."""
        def epoch(state, data, idx, key):
            def body(st, xs):
                i, s = xs
                st, loss, _ = self.comm_update(st, data, i, jax.random.fold_in(key, s))
                return st, loss
            return lax.scan(body, state, (idx, jnp.arange(idx.shape[0])))
        return jax.jit(self.shard(epoch, (P(AXIS), P(AXIS), P(), P()), (P(AXIS), P())))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half."""
    from scipy.stats import rankdata

    scores, labels = np.asarray(scores, np.float64), np.asarray(labels) > 0.5
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))
