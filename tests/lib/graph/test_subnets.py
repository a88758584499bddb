"""Width-split sub-networks (lib/graph/subnets.py): disjoint groups that cover every hidden unit,
extract + merge is the identity, a 2-layer model is the sum of its sub-networks on unsplit inputs,
merge writes exactly each sub-network's slices, named errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.graph import subnets


def _params(dims, seed=0):
    rng = np.random.default_rng(seed)
    return [{"w": jnp.asarray(rng.standard_normal((a, b)), jnp.float32),
             "b": jnp.asarray(rng.standard_normal(b), jnp.float32)} for a, b in zip(dims[:-1], dims[1:])]


@pytest.mark.parametrize("split_input", [False, True])
def test_groups_are_disjoint_and_cover_hidden_units(split_input):
    dims, m = (10, 12, 8, 3), 4
    groups = subnets.partition(jax.random.key(0), dims, m, split_input)
    for i, g in enumerate(groups):
        g = np.asarray(g)
        if i == 0 and not split_input:
            assert g.shape == (m, 10) and (g == np.arange(10)).all()
            continue
        assert g.shape == (m, dims[i] // m)
        assert len(np.unique(g)) == g.size  # disjoint
        if i > 0:
            assert sorted(g.ravel()) == list(range(dims[i]))  # hidden widths fully covered
    other = subnets.partition(jax.random.key(1), dims, m, split_input)
    assert not all(np.array_equal(a, b) for a, b in zip(groups[1:], other[1:]))  # new draw per key


@pytest.mark.parametrize("split_input", [False, True])
def test_extract_then_merge_is_identity(split_input):
    dims = (9, 8, 6, 4)
    params = _params(dims)
    groups = subnets.partition(jax.random.key(3), dims, 2, split_input)
    subs = subnets.extract(params, groups)
    assert subs[0]["w"].shape == ((2, 4, 4) if split_input else (2, 9, 4))
    assert subs[1]["w"].shape == (2, 4, 3) and subs[2]["w"].shape == (2, 3, 4)
    back = subnets.merge(params, subs, groups, split_input)
    for p, q in zip(params, back):
        np.testing.assert_array_equal(p["w"], q["w"])
        np.testing.assert_array_equal(p["b"], q["b"])


def test_two_layer_model_is_the_sum_of_its_subnetworks():
    """Unsplit inputs: relu(x W0 + b0) W1 + b1 = sum_j (sub_j(x) - b1) + b1, the identity that makes
    the merged model the sum of what the sub-networks learned."""
    dims, m = (7, 12, 5), 3
    params = _params(dims, 1)
    x = jnp.asarray(np.random.default_rng(2).standard_normal((20, 7)), jnp.float32)

    def mlp(ps, x):
        return jax.nn.relu(x @ ps[0]["w"] + ps[0]["b"]) @ ps[1]["w"] + ps[1]["b"]

    groups = subnets.partition(jax.random.key(0), dims, m, False)
    subs = subnets.extract(params, groups)
    per = [mlp(jax.tree.map(lambda a: a[j], subs), x) for j in range(m)]
    np.testing.assert_allclose(mlp(params, x), sum(p - params[1]["b"] for p in per) + params[1]["b"],
                               rtol=1e-5, atol=1e-5)


def test_merge_writes_each_subnetworks_slices_and_averages_the_output_bias():
    dims, m = (6, 4, 2), 2
    params = _params(dims)
    groups = subnets.partition(jax.random.key(5), dims, m, True)
    subs = subnets.extract(params, groups)
    subs = jax.tree.map(lambda a: a + jnp.arange(m, dtype=a.dtype).reshape((m,) + (1,) * (a.ndim - 1)) + 10, subs)
    out = subnets.merge(params, subs, groups, True)
    g0, g1 = (np.asarray(g) for g in groups)
    w0 = np.asarray(params[0]["w"]).copy()
    for j in range(m):
        w0[np.ix_(g0[j], g1[j])] += 10 + j  # only the diagonal blocks move
    np.testing.assert_array_equal(out[0]["w"], w0)
    b1 = np.asarray(params[1]["b"]) + 10 + (m - 1) / 2  # mean over sub-networks
    np.testing.assert_allclose(out[1]["b"], b1, rtol=1e-6)


def test_named_errors():
    with pytest.raises(subnets.SubnetError, match="larger than hidden width"):
        subnets.check_split((10, 4, 3), 8, False)
    with pytest.raises(subnets.SubnetError, match="not divisible"):
        subnets.check_split((10, 6, 3), 4, False)
    with pytest.raises(subnets.SubnetError, match="positive integer"):
        subnets.check_split((10, 6, 3), 0, False)
    with pytest.raises(subnets.SubnetError, match="input features"):
        subnets.check_split((3, 8, 3), 4, True)
    subnets.check_split((3, 8, 3), 4, False)  # inputs unsplit: fine
