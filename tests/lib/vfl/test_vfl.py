"""lib/vfl: the party step equals joint backprop, byte accounting, transforms, wire, workset."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P

from lib.config import ConfigError
from lib.vfl import parties, transforms, wire, workset

B, E = 16, 4
DIMS = (5, 3, 2)


def _data(n=64, dims=DIMS, seed=0):
    rng = np.random.default_rng(seed)
    x = [rng.normal(size=(n, d)).astype(np.float32) for d in dims]
    return x, (rng.random(n) < 0.3).astype(np.float32)


def _model(devices, dims=DIMS, **kw):
    return parties.VerticalModel(dims, embed_dim=E, bottom_hidden=(8,), top_hidden=(6,), tx_bottom=optax.sgd(0.1),
                                 tx_top=optax.sgd(0.1), batch_size=B, mesh=parties.party_mesh(len(dims), devices), **kw)


def _joint_loss(vm, bottoms, top, x, y):
    acts = jnp.stack([vm.bottom.apply({"params": b}, jnp.pad(xx, ((0, 0), (0, vm.d - xx.shape[1]))))
                      for b, xx in zip(bottoms, x)])
    return optax.sigmoid_binary_cross_entropy(vm.top.apply({"params": top}, acts), y).mean()


@pytest.mark.parametrize("devices", [3, 1])
def test_vanilla_step_is_joint_backprop(devices):
    """Split learning with explicit messages = one SGD step on the joint model, whichever way the
    parties are laid out on devices (one per device, or all three on one)."""
    x, y = _data()
    vm = _model(devices)
    state, data = vm.init(jax.random.PRNGKey(0)), vm.place_data(x, y)
    idx = jnp.arange(B) * 3 % 64
    new, loss = vm.make_vanilla_step()(state, data, idx, jax.random.PRNGKey(1))
    s = jax.device_get(state)
    bottoms = [jax.tree.map(lambda t: t[p], s["bottom"]) for p in range(3)]
    top = jax.tree.map(lambda t: t[0], s["top"])
    xb = [jnp.asarray(a[np.asarray(idx)]) for a in x]
    ref, (gb, gt) = jax.value_and_grad(lambda b, t: _joint_loss(vm, b, t, xb, jnp.asarray(y[np.asarray(idx)])),
                                       argnums=(0, 1))(bottoms, top)
    np.testing.assert_allclose(float(loss), float(ref), rtol=1e-6)
    got = jax.device_get(new)
    for p in range(3):
        want = jax.tree.map(lambda w, g: w - 0.1 * g, bottoms[p], gb[p])
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6),
                     jax.tree.map(lambda t: t[p], got["bottom"]), want)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6),
                 jax.tree.map(lambda t: t[0], got["top"]), jax.tree.map(lambda w, g: w - 0.1 * g, top, gt))
    assert all(float(jnp.abs(t[1:]).max()) == 0 for t in jax.tree.leaves(got["top"]))  # hosts hold no top model
    logits = vm.make_predict()(new, data, idx)
    assert logits.shape == (B,) and np.isfinite(np.asarray(logits)).all()


def _exchange(vm, state, data, idx, key):
    def f(state, data, idx, key):
        new, loss, msg = vm.comm_update(state, data, idx, key)
        return msg["a"], msg["d"], msg["a_own"], msg["d_own"]
    return jax.jit(vm.shard(f, (P("party"), P("party"), P(), P()), (P(), P("party"), P("party"), P("party"))))(
        state, data, idx, key)


def test_bytes_counted_are_the_bytes_exchanged():
    x, y = _data()
    vm = _model(3)
    state, data = vm.init(jax.random.PRNGKey(0)), vm.place_data(x, y)
    a_all, d_all, a_own, d_own = _exchange(vm, state, data, jnp.arange(B), jax.random.PRNGKey(1))
    # forward: the hosts' slots of what the guest received; backward: what each host received
    fwd = sum(np.asarray(a_all)[p].nbytes for p in (1, 2))
    bwd = sum(np.asarray(d_own)[p].nbytes for p in (1, 2))
    assert vm.message_bytes() == {"forward": fwd, "backward": bwd, "total": fwd + bwd} == \
        {"forward": 2 * B * E * 4, "backward": 2 * B * E * 4, "total": 4 * B * E * 4}
    np.testing.assert_array_equal(np.asarray(a_all), np.asarray(a_own))  # no transform: sent = computed
    np.testing.assert_array_equal(np.asarray(d_all)[:3], np.asarray(d_own))  # each host got its own slice
    q = _model(3, messages=parties.MessageSpec(fwd_bits=8, bwd_bits=4))
    assert q.message_bytes() == {"forward": 2 * (B * E + 8), "backward": 2 * (B * E // 2 + 8),
                                 "total": 2 * (B * E + 8) + 2 * (B * E // 2 + 8)}
    a_q, _, a_own_q, _ = _exchange(q, state, data, jnp.arange(B), jax.random.PRNGKey(1))
    a_q, a_own_q = np.asarray(a_q), np.asarray(a_own_q)
    np.testing.assert_array_equal(a_q[0], a_own_q[0])  # the guest's own activations are never sent
    scale = (a_own_q[1].max() - min(a_own_q[1].min(), 0)) / 255
    assert 0 < np.abs(a_q[1] - a_own_q[1]).max() <= scale * 1.001  # int8 with stochastic rounding


def test_local_update_from_a_fresh_cache_equals_the_comm_update():
    """A local update at w = 1 from the pair just communicated (same params) is the same update."""
    x, y = _data()
    vm = _model(3)
    state, data = vm.init(jax.random.PRNGKey(0)), vm.place_data(x, y)
    idx = jnp.arange(B) + 7

    def f(state, data, idx, key):
        new, loss, msg = vm.comm_update(state, data, idx, key)
        gid = jax.lax.axis_index("party") * 1 + jnp.arange(1)
        own = (jnp.arange(3)[None, :] == gid[:, None])[..., None, None]
        view_a = jnp.where(gid[:, None, None, None] == 0, msg["a"][None], own * msg["a_own"][:, None])
        view_d = jnp.where(gid[:, None, None, None] == 0, msg["d"][None], own * msg["d_own"][:, None])
        local, m = vm.local_update(state, data, idx, {"a": view_a, "d": view_d}, jnp.bool_(True))
        return new, local, m

    new, local, m = jax.jit(vm.shard(f, (P("party"), P("party"), P(), P()), (P("party"), P("party"), P())))(
        state, data, idx, jax.random.PRNGKey(3))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), jax.device_get(new), jax.device_get(local))
    assert float(m["guest_weight"]) == 1.0 and float(m["host_kept"]) == 1.0


def test_mesh_and_transform_errors():
    with pytest.raises(ConfigError, match="must divide the 3 parties"):
        parties.party_mesh(3, 2)
    with pytest.raises(ConfigError, match="at least one host"):
        parties.VerticalModel((4,), embed_dim=2, tx_bottom=optax.sgd(1), tx_top=optax.sgd(1), batch_size=2)
    with pytest.raises(transforms.TransformConfigError, match="messages.forward.bits=12"):
        _model(3, messages=parties.MessageSpec(fwd_bits=12))
    with pytest.raises(transforms.TransformConfigError, match="noise_sigma=-1"):
        transforms.check(32, -1, 1.0)
    with pytest.raises(transforms.TransformConfigError, match="bag_size=65 is larger than the data"):
        transforms.check_bag_size(65, 64)
    with pytest.raises(transforms.TransformConfigError, match="does not divide"):
        transforms.check_bag_size(5, 64)


def test_transforms():
    y = jnp.arange(8.0)
    np.testing.assert_array_equal(transforms.bag_average(y, 4), [1.5] * 4 + [5.5] * 4)
    np.testing.assert_array_equal(transforms.bag_average(y, 1), y)
    x = jnp.ones((1000, 4)) * 3.0  # row norm 6
    noisy = transforms.gaussian_noise(x, 0.5, 1.0, jax.random.PRNGKey(0))
    np.testing.assert_allclose(float(noisy.mean()), 0.5, atol=0.03)  # clipped to norm 1: entries 0.5
    np.testing.assert_allclose(float(noisy.std()), 0.5, atol=0.03)  # sigma * clip
    assert transforms.gaussian_noise(x, 0.0, 1.0, jax.random.PRNGKey(0)) is x
    v = jnp.full((20000,), 0.3)
    q = transforms.quantize(jnp.concatenate([v, jnp.array([0.0, 1.0])]), 2, jax.random.PRNGKey(1))
    assert {round(float(v), 4) for v in np.unique(np.asarray(q))} <= {0.0, 0.3333, 0.6667, 1.0}
    np.testing.assert_allclose(float(q[:-2].mean()), 0.3, atol=0.01)  # stochastic rounding is unbiased
    assert transforms.message_bytes(100, 32) == 400 and transforms.message_bytes(100, 3) == 38 + 8


def test_wire_model():
    w = wire.make("wan", compute_s=0.01)
    assert w.message_s(0) == 0
    np.testing.assert_allclose(w.message_s(1_250_000), 0.025 + 0.1)  # 10 Mbit over 100 Mbit/s
    np.testing.assert_allclose(w.round_s(1000, 1000), 2 * (0.025 + 8e-5) + 0.01)
    np.testing.assert_allclose(w.round_s(1000, 1000, local_updates=4), 2 * (0.025 + 8e-5) + 0.01)  # overlapped
    np.testing.assert_allclose(w.round_s(1000, 1000, local_updates=100), 101 * 0.01)  # compute-bound
    assert wire.make("lan").message_s(1000) < w.message_s(1000) / 100
    with pytest.raises(wire.WireConfigError, match="wire.preset='adsl'"):
        wire.make("adsl")
    with pytest.raises(wire.WireConfigError, match="bandwidth_bps=0"):
        wire.make("wan", bandwidth_bps=0)


def test_workset_rules():
    ws = workset.init(3)
    slots = []
    for step in range(4):
        ws, s = workset.insert(ws, step)
        slots.append(int(s))
    assert slots[:3] == sorted(slots[:3]) and slots[3] == slots[0]  # the oldest (tau 0) is overwritten
    assert sorted(np.asarray(ws["tau"]).tolist()) == [1, 2, 3]
    assert np.asarray(workset.expire(ws, 5, 4)["valid"]).tolist() == [t >= 2 for t in np.asarray(ws["tau"])]
    # sampling avoids the entries used in the last avoid_recent=2 local updates
    drawn = []
    for n in range(6):
        s, ok = workset.sample(ws, jax.random.PRNGKey(n), n, 2)
        assert bool(ok)
        drawn.append(int(s))
        ws = workset.mark_used(ws, s, ok, n, max_uses=100)
    assert all(drawn[i] != drawn[i + 1] for i in range(5))
    # an entry used max_uses times is evicted; with nothing left, ok is False
    ws = workset.init(1)
    ws, _ = workset.insert(ws, 0)
    for n in range(2):
        s, ok = workset.sample(ws, jax.random.PRNGKey(n), n, 1)
        assert bool(ok)
        ws = workset.mark_used(ws, s, ok, n, max_uses=2)
    assert not bool(workset.sample(ws, jax.random.PRNGKey(9), 2, 1)[1])
    payload = jnp.zeros((2, 3, 4))
    out = workset.write(payload, jnp.int32(1), jnp.ones((2, 4)), axis=1)
    assert float(workset.read(out, 1, axis=1).sum()) == 8 and float(out.sum()) == 8


def test_auc():
    assert parties.auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
