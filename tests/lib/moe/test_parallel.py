"""Expert parallelism on 8 simulated devices: EP layer == single-device layer for every router
(capacity mode) and for dropless mode; hierarchical all_to_all == flat all_to_all."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from lib.moe import layer as L
from lib.moe import parallel as PL
from lib.moe import routers as R

T, d, f, E = 128, 8, 16, 8
ROUTERS = [("switch", {}), ("gshard", {}), ("topk", {"k": 2}), ("ktop1", {"k": 2}), ("hash", {}),
           ("base", {}), ("sam", {"k": 2}), ("expert_choice", {"k": 2}),
           ("dts", {"tau_schedule": "exp", "tau_decay_steps": 10}), ("lossfree", {"k": 2})]


@pytest.fixture(scope="module")
def setup():
    ks = jax.random.split(jax.random.PRNGKey(0), 4)
    params = {"router": jax.random.normal(ks[0], (d, E)), "w1": jax.random.normal(ks[1], (E, d, f)) * 0.3,
              "w2": jax.random.normal(ks[2], (E, f, d)) * 0.3}
    x = jax.random.normal(ks[3], (T, d))
    meshes = {
        "dp_ep": PL.ExpertParallel(jax.make_mesh((2, 4), ("data", "expert"))),
        "hier": PL.ExpertParallel(jax.make_mesh((2, 4), ("host", "local")), expert_axes=("host", "local"),
                                  data_axes=(), hierarchical=True),
    }
    return params, x, meshes


def _vg(spec, par, x, state, ids=None):
    ids = jnp.arange(T) % 61 if ids is None else ids

    def loss(p):
        fn = L.moe_ffn if par is None else par.moe_ffn
        y, aux = fn(spec, p, state, x, key=jax.random.PRNGKey(5), step=2, token_ids=ids)
        return jnp.sum(jnp.sin(y)) + aux["loss"], aux
    return jax.jit(jax.value_and_grad(loss, has_aux=True))


@pytest.mark.parametrize("name,kw", ROUTERS)
def test_expert_parallel_equals_single_device(setup, name, kw):
    params, x, meshes = setup
    spec = L.make_moe_spec(name, E, f, router_kwargs=kw, num_groups=8, capacity_factor=1.0, aux_weight=0.1,
                           z_weight=0.01, align_weight=0.5)
    state = R.init_state(spec.router)
    if state:
        state = {"bias": jnp.linspace(-0.1, 0.1, E)}
    (l0, a0), g0 = _vg(spec, None, x, state)(params)
    # the all_to_all pattern does not depend on the router: the hierarchical mesh on a few routers only
    pars = [meshes["dp_ep"]] + ([meshes["hier"]] if name in ("gshard", "base", "dts", "lossfree") else [])
    for par in pars:
        (l1, a1), g1 = _vg(spec, par, x, state)(params)
        np.testing.assert_allclose(l1, l0, rtol=1e-5)
        np.testing.assert_array_equal(a1["load"], a0["load"])
        np.testing.assert_allclose(a1["dropped_fraction"], a0["dropped_fraction"], rtol=1e-6)
        for u, v in zip(jax.tree.leaves(g0), jax.tree.leaves(g1)):
            np.testing.assert_allclose(v, u, rtol=1e-4, atol=1e-5)


def _check_same(a, b):
    (l0, a0), g0 = a
    (l1, a1), g1 = b
    np.testing.assert_allclose(l1, l0, rtol=1e-5)
    np.testing.assert_array_equal(a1["load"], a0["load"])
    assert float(a1["dropped_fraction"]) == float(a0["dropped_fraction"]) == 0.0
    for u, v in zip(jax.tree.leaves(g0), jax.tree.leaves(g1)):
        np.testing.assert_allclose(v, u, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,kw", [("topk", {"k": 2}), ("dts", {}), ("base", {})])
def test_expert_parallel_dropless_equals_single_device(setup, name, kw):
    params, x, meshes = setup
    spec = L.make_moe_spec(name, E, f, router_kwargs=kw, num_groups=8, dispatch="dropless_tiles", tile=8,
                           aux_weight=0.1, z_weight=0.01)
    ref = _vg(spec, None, x, {})(params)
    _check_same(ref, _vg(spec, meshes["dp_ep"], x, {})(params))
    if name == "topk":
        _check_same(ref, _vg(spec, meshes["hier"], x, {})(params))


def test_expert_parallel_dropless_all_tokens_to_one_expert(setup):
    # every token hashes to the same expert: one device receives every row (the capacity-free bound);
    # capacity mode would drop most of them
    params, x, meshes = setup
    spec = L.make_moe_spec("hash", E, f, num_groups=8, dispatch="dropless", tile=16)
    ids = jnp.zeros((T,), jnp.int32)
    ref = _vg(spec, None, x, {}, ids)(params)
    assert int(np.count_nonzero(ref[0][1]["load"])) == 1
    _check_same(ref, _vg(spec, meshes["dp_ep"], x, {}, ids)(params))
    cap = L.make_moe_spec("hash", E, f, num_groups=8, dispatch="capacity")
    (_, a_cap), _ = _vg(cap, meshes["dp_ep"], x, {}, ids)(params)
    assert float(a_cap["dropped_fraction"]) > 0.5


def test_hierarchical_all_to_all_equals_flat():
    mesh = jax.make_mesh((2, 4), ("host", "local"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
    x = jnp.arange(8 * 8 * 3, dtype=jnp.float32).reshape(64, 3)  # each device: [8 dest, 3]

    def run(fn):
        return jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=P(("host", "local")),
                                     out_specs=P(("host", "local"))))(x)

    flat = run(lambda b: PL.flat_all_to_all(b, ("host", "local")))
    hier = run(lambda b: PL.hierarchical_all_to_all(b, "host", "local", 2, 4))
    np.testing.assert_array_equal(flat, hier)
    # block transpose: device s's row j arrives at device j as row s
    blocks = np.asarray(x).reshape(8, 8, 3)
    np.testing.assert_array_equal(np.asarray(flat).reshape(8, 8, 3), blocks.transpose(1, 0, 2))


def test_flax_module_expert_parallel_matches(setup):
    params, x, meshes = setup
    spec = L.make_moe_spec("switch", E, f, num_groups=8)
    xb = x.reshape(4, 32, d)
    m0, m1 = L.MoEFFN(spec), L.MoEFFN(spec, parallel=meshes["dp_ep"])
    v = m0.init(jax.random.PRNGKey(0), xb)
    y0, _ = jax.jit(lambda v: m0.apply(v, xb))(v)
    y1, _ = jax.jit(lambda v: m1.apply(v, xb))(v)
    np.testing.assert_allclose(y1, y0, rtol=1e-5, atol=1e-6)


def test_parallel_named_errors(setup):
    params, x, meshes = setup
    par = meshes["dp_ep"]
    with pytest.raises(R.MoEConfigError, match="moe.num_experts"):
        par.validate(L.make_moe_spec("switch", 6, f, num_groups=8), T)
    with pytest.raises(R.MoEConfigError, match="moe.num_groups"):
        par.validate(L.make_moe_spec("switch", E, f, num_groups=4), T)
    with pytest.raises(R.MoEConfigError, match="moe.dispatch"):
        par.validate(L.make_moe_spec("switch", E, f, num_groups=8, dispatch="einsum"), T)
    par.validate(L.make_moe_spec("switch", E, f, num_groups=8, dispatch="dropless"), T)  # supported
    with pytest.raises(R.MoEConfigError, match="mesh axis"):
        PL.ExpertParallel(jax.make_mesh((8,), ("data",)))
    with pytest.raises(R.MoEConfigError, match="capacity_factor"):
        L.make_moe_spec("switch", E, f, capacity_factor=0.0)
