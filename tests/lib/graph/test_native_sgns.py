"""lib.graph.embedding's SGD chunk on CPU: the native kernel (lib/native/sgns.cc) draws the same
pairs and negatives as the pure-JAX twin (TESSERA_NATIVE=0's path) and ends at the same tables,
up to float summation order, on stacked graphs with cut walks, padded walks, padded nodes and a
step budget that ends inside the chunk; chunking and sharding the graphs over devices change
nothing."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from lib import native
from lib.graph import embedding as E, walks

needs_kernel = pytest.mark.skipif(native._compiler() is None, reason="no C++ compiler: only the pure-JAX path exists")
CFG = E.SGNSConfig(dim=12, window=3, negatives=4, epochs=40, batch=96, lr=0.05)  # 2 blocks of lanes


def _inputs(n_max=40, n_walks=(30, 22), length=9):
    """Two graphs of different sizes, padded to n_max nodes and 30 walks; restart walks are cut
    (mask False after they stop); the second graph's step budget is short."""
    nodes, masks, cdfs, totals = [], [], [], []
    for j, (n, w) in enumerate(zip((n_max - 5, n_max - 17), n_walks)):
        rng = np.random.default_rng(j)
        s, r = rng.integers(0, n, 4 * n), rng.integers(0, n, 4 * n)
        csr = walks.csr_from_edges(s, r, n)
        starts = rng.choice(np.flatnonzero(np.asarray(csr.degree) > 0), w)
        nd, mk, _, _ = walks.restart_walks(csr, starts, jax.random.key(j), 0.15, length)
        nd, mk = np.asarray(nd), np.asarray(mk)
        assert not mk.all()
        pad = max(n_walks) - w
        nodes.append(np.pad(nd, ((0, pad), (0, 0))))
        masks.append(np.pad(mk, ((0, pad), (0, 0))))
        cdfs.append(np.pad(E.negative_cdf(nd, mk, n), (0, n_max - n), constant_values=1.0))
        totals.append(E.sgns_steps(mk, CFG) // (1 + 2 * j))
    tables = jax.vmap(lambda k: E.sgns_init(k, n_max, CFG.dim))(jax.random.split(jax.random.key(5), 2))
    args = (jnp.asarray(np.stack(nodes)), jnp.asarray(np.stack(masks)), jnp.asarray(n_walks, jnp.int32),
            jnp.asarray(np.stack(cdfs)), jnp.asarray(totals, jnp.int32), jax.random.split(jax.random.key(6), 2))
    return tables, args, totals


def _run(path, tables, args, first, count):
    fn = {"native": E._sgns_chunk_native, "jax": E._sgns_chunk_jax}[path]
    return jax.jit(lambda *a: fn(*a, count=count, cfg=CFG))(tables, *args, jnp.int32(first))


@needs_kernel
def test_native_equals_pure_jax_over_hundreds_of_steps():
    tables, args, totals = _inputs()
    assert E.uses_native(tables)
    count = max(totals) + 20  # both budgets end inside the chunk
    assert count > 200
    nat, loss_n, pairs_n = _run("native", tables, args, 0, count)
    ref, loss_j, pairs_j = _run("jax", tables, args, 0, count)
    np.testing.assert_array_equal(pairs_n, pairs_j)  # the same draws and validity
    assert 0 < float(pairs_n[1]) < 0.7 * float(pairs_n[0])
    np.testing.assert_allclose(loss_n, loss_j, rtol=1e-5)
    for k in ("in", "out"):
        np.testing.assert_allclose(nat[k], ref[k], rtol=1e-5, atol=1e-5)
        assert float(jnp.max(jnp.abs(nat[k] - tables[k]))) > 0.1  # it did train
    # padded nodes are never drawn: their rows keep their initial values
    np.testing.assert_array_equal(nat["out"][1, -17:], tables["out"][1, -17:])


@needs_kernel
def test_native_chunks_compose_bit_exactly_and_stop_at_the_budget():
    tables, args, totals = _inputs()
    one, l1, p1 = _run("native", tables, args, 0, 60)
    half, la, pa = _run("native", tables, args, 0, 30)
    two, lb, pb = _run("native", half, args, 30, 30)
    for k in ("in", "out"):
        np.testing.assert_array_equal(one[k], two[k])
    np.testing.assert_array_equal(p1, pa + pb)
    past, loss, pairs = _run("native", one, args, max(totals), 10)
    np.testing.assert_array_equal(past["in"], one["in"])
    assert float(jnp.sum(pairs)) == 0 and float(jnp.sum(loss)) == 0


def test_native_off_runs_the_pure_jax_path(monkeypatch):
    tables, args, _ = _inputs()
    monkeypatch.setenv("TESSERA_NATIVE", "0")
    assert not E.uses_native(tables)
    got = jax.jit(lambda *a: E._sgns_chunk(*a, count=40, cfg=CFG))(tables, *args, jnp.int32(0))
    want = _run("jax", tables, args, 0, 40)
    jax.tree.map(np.testing.assert_array_equal, got, want)


@needs_kernel
def test_sgns_chunk_defaults_to_native_and_vmaps():
    tables, args, _ = _inputs()
    got = E.sgns_chunk(tables, *args, jnp.int32(0), 40, CFG)
    jax.tree.map(np.testing.assert_array_equal, got, _run("native", tables, args, 0, 40))
    two = jax.tree.map(lambda a: jnp.stack([a, a * 0.5]), tables)  # an extra leading axis
    out = jax.vmap(lambda t: E._sgns_chunk(t, *args, jnp.int32(0), count=40, cfg=CFG))(two)
    jax.tree.map(np.testing.assert_array_equal, jax.tree.map(lambda a: a[0], out), got)


@pytest.mark.parametrize("enabled", ["1", "0"])
def test_graphs_sharded_over_devices_train_as_on_one(monkeypatch, enabled):
    if jax.device_count() < 2:
        pytest.skip("needs 2 devices")
    monkeypatch.setenv("TESSERA_NATIVE", enabled)
    monkeypatch.setattr(E, "_CHUNK", {})  # the path is chosen at trace time
    tables, args, _ = _inputs()
    want = E.sgns_chunk(tables, *args, jnp.int32(0), 40, CFG)
    sharding = NamedSharding(Mesh(np.array(jax.devices()[:2]), ("graph",)), PartitionSpec("graph"))
    put = lambda a: jax.device_put(np.asarray(a), sharding)  # from the host: a copy on 2 of 8 devices
    keys = jax.random.wrap_key_data(put(jax.random.key_data(args[-1])))
    got = E.sgns_chunk(jax.tree.map(put, tables), *map(put, args[:-1]), keys, jnp.int32(0), 40, CFG)
    assert got[0]["in"].sharding.spec[0] == "graph"  # stays split: each device ran its own graph
    if enabled == "1":  # the kernel's float work per graph does not depend on its neighbours
        jax.tree.map(np.testing.assert_array_equal, got, want)
    else:  # XLA vectorises a vmap over 1 graph unlike one over 2 (as test_stacked_graphs_train_as_if_alone)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), got, want)
