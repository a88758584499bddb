"""All dispatch implementations agree (outputs and gradients) where they route the same tokens."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.moe import dispatch as D
from lib.moe import routers as R

T, d, f, E = 48, 8, 16, 4


def _setup(seed=0):
    ks = jax.random.split(jax.random.PRNGKey(seed), 4)
    x = jax.random.normal(ks[0], (T, d))
    p = {"w1": jax.random.normal(ks[1], (E, d, f)) * 0.3, "w2": jax.random.normal(ks[2], (E, f, d)) * 0.3}
    return x, p, jax.random.normal(ks[3], (d, E))


def _loss(impl, cap, spec, tile=8):
    def fn(p, x, wr):
        r = R.route(spec, x @ wr, key=jax.random.PRNGKey(1), state=R.init_state(spec),
                    token_ids=jnp.arange(T))
        y, st = D.moe_apply(p, x, r, impl=impl, capacity=cap, tile=tile)
        return jnp.sum(jnp.sin(y)), (y, st)
    return jax.jit(jax.value_and_grad(fn, argnums=(0, 1, 2), has_aux=True))


def _close(a, b):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(u, v, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("name,kw", [("topk", {"k": 2}), ("dts", {}), ("lossfree", {"k": 2})])
def test_capacity_impls_agree_including_drops(name, kw):
    spec = R.make_spec(name, E, **kw)
    x, p, wr = _setup()
    cap = spec.capacity(T, 0.75)  # tight: tokens are dropped
    (l0, (y0, s0)), g0 = _loss("einsum", cap, spec)(p, x, wr)
    (l1, (y1, s1)), g1 = _loss("capacity", cap, spec)(p, x, wr)
    if name != "dts":
        assert float(s0.dropped_fraction) > 0
    assert float(s0.dropped_fraction) == float(s1.dropped_fraction)
    _close((y0, g0), (y1, g1))


@pytest.mark.parametrize("name,kw", [("topk", {"k": 2}), ("switch", {}), ("dts", {}), ("expert_choice", {"k": 2})])
def test_dropless_equals_capacity_without_drops(name, kw):
    spec = R.make_spec(name, E, **kw)
    x, p, wr = _setup(1)
    big = T * spec.slots  # nothing can be dropped
    (_, (y0, s0)), g0 = _loss("capacity", big, spec)(p, x, wr)
    assert float(s0.dropped_fraction) == 0.0
    for impl in ("einsum", "dropless_tiles", "dropless_ragged"):
        (_, (y1, s1)), g1 = _loss(impl, big, spec, tile=8)(p, x, wr)
        assert float(s1.dropped_fraction) == 0.0
        _close((y0, g0), (y1, g1))


def test_capacity_drop_priority_slot_major():
    # all 6 tokens choose expert 0 first and expert 1 second; capacity 4
    idx = jnp.array([[0, 1]] * 6, jnp.int32)
    pos = D.capacity_positions(idx, jnp.ones((6, 2), bool), 2)
    np.testing.assert_array_equal(pos[:, 0], np.arange(6))  # first choices in token order
    np.testing.assert_array_equal(pos[:, 1], np.arange(6))
    idx = jnp.array([[0, 1], [1, 0], [0, 1]], jnp.int32)
    pos = D.capacity_positions(idx, jnp.ones((3, 2), bool), 2)
    # expert 0 queue: t0 s0, t2 s0, then t1 s1 (second choices after all first choices)
    np.testing.assert_array_equal(pos, [[0, 1], [0, 2], [1, 2]])


def test_dropped_fraction_counts_over_capacity():
    x, p, _ = _setup()
    idx = jnp.zeros((T, 1), jnp.int32)  # everyone to expert 0
    r = R.Routing(index=idx, weight=jnp.ones((T, 1)), mask=jnp.ones((T, 1), bool), probs=jnp.ones((T, E)) / E,
                  aux_loss=jnp.zeros(()), z_loss=jnp.zeros(()))
    y, st = D.moe_apply(p, x, r, impl="capacity", capacity=12)
    assert float(st.dropped_fraction) == pytest.approx(1 - 12 / T)
    np.testing.assert_array_equal(np.asarray(y)[12:], 0.0)  # dropped tokens get 0 (residual adds x)


@pytest.mark.parametrize("tile", [5, 32, 200])
def test_dropless_tile_levels(tile):
    # 5: one level of 5-row tiles; 32: 32-row tiles then 8-row remainder tiles; 200: one tile > rows (96)
    spec = R.make_spec("topk", E, k=2)
    x, p, wr = _setup(2)
    (_, (y0, _)), g0 = _loss("capacity", T * 2, spec)(p, x, wr)
    (_, (y1, _)), g1 = _loss("dropless_tiles", T * 2, spec, tile=tile)(p, x, wr)
    _close((y0, g0), (y1, g1))


@pytest.mark.parametrize("dd,ff", [(3, 4), (5, 2)])  # (5, 2): the backward transposes dy, not x
def test_tile_sizes_and_gmm_sorted_matches_dense(dd, ff):
    assert D.tile_sizes(512, 10_000) == (512, 64, 8)
    assert D.tile_sizes(512, 100) == (100, 12, 8)
    assert D.tile_sizes(5, 100) == (5,)
    ks = jax.random.split(jax.random.PRNGKey(3), 3)
    x = jax.random.normal(ks[0], (40, dd))
    w = jax.random.normal(ks[1], (3, dd, ff))
    starts, ends = jnp.array([0, 13, 13]), jnp.array([13, 13, 37])  # an empty expert, 3 unused rows
    grp = np.repeat([0, 2, -1], [13, 24, 3])

    def ref(x, w):
        y = jnp.einsum("nd,ndf->nf", x, w[np.maximum(grp, 0)])
        return jnp.where(jnp.asarray(grp >= 0)[:, None], y, 0.0)

    g = jax.random.normal(ks[2], (40, ff))
    def both(f):
        return jax.jit(lambda x, w, g: (lambda y, vjp: (y, vjp(g)))(*jax.vjp(f, x, w)))

    want = both(ref)(x, w, g)
    for sizes in [(16, 4), (8,), (40,), (16, 8, 3), (12, 5), (32, 8)]:
        _close(both(lambda x, w: D.gmm_sorted(x, w, starts, ends, sizes))(x, w, g), want)


@pytest.mark.parametrize("tile", [8, 16, 512])
def test_dropless_skewed_routing_odd_tokens(tile):
    # 37 tokens (odd), slot 0 of every token to expert 0, slot 1 to expert 2 except 5 unused slots:
    # experts 1 and 3 empty, one expert holds every token; dropless == capacity with room for all
    t = 37
    x = jax.random.normal(jax.random.PRNGKey(4), (t, d))
    _, p, _ = _setup(4)
    idx = jnp.stack([jnp.zeros(t, jnp.int32), jnp.full(t, 2, jnp.int32)], 1)
    mask = jnp.ones((t, 2), bool).at[::8, 1].set(False)
    wgt = jax.random.uniform(jax.random.PRNGKey(5), (t, 2))

    def fn(impl):
        def loss(p, x, wgt):
            r = R.Routing(index=idx, weight=wgt, mask=mask, probs=jnp.ones((t, E)) / E,
                          aux_loss=jnp.zeros(()), z_loss=jnp.zeros(()))
            y, st = D.moe_apply(p, x, r, impl=impl, capacity=t, tile=tile)
            return jnp.sum(jnp.sin(y)), y
        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(p, x, wgt)

    (_, y0), g0 = fn("capacity")
    (_, y1), g1 = fn("dropless_tiles")
    assert float(jnp.abs(y0).sum()) > 0
    _close((y0, g0), (y1, g1))


def test_unknown_impl_named_error():
    with pytest.raises(R.MoEConfigError, match="moe.dispatch"):
        D.resolve_impl("scatter")


@pytest.mark.parametrize("impl", D.IMPLS)
def test_registry_modes_drop_as_declared_and_groups_match_per_group(impl):
    """resolve() gives a DispatchMode whose `drops` is what it does under a tight capacity, and whose
    apply_groups over G routing groups equals apply on each group separately (capacity is per group)."""
    mode = D.resolve(impl)
    assert mode is D.MODES[D.resolve_impl(impl)]
    spec = R.make_spec("topk", E, k=2)
    x, p, wr = _setup(2)
    g = 3
    xg = x.reshape(g, T // g, d)
    cap = spec.capacity(T // g, 0.5)
    r = jax.vmap(lambda xx: R.route(spec, xx @ wr))(xg)
    y, st = jax.jit(lambda p, xg, r: mode.apply_groups(p, xg, r, cap, 8))(p, xg, r)
    dropped = float(1 - st.kept.sum() / st.routed.sum())
    assert (dropped > 0) == mode.drops
    for i in range(g):
        ri = jax.tree.map(lambda a: a[i], r)
        yi, _ = mode.apply(p, xg[i], ri, cap, 8)
        np.testing.assert_allclose(y[i], yi, rtol=2e-5, atol=2e-5)
