import jax
import jax.numpy as jnp
import numpy as np

from lib.graph import build_adjacency
from lib.graph.synthetic import csbm
from lib.quant.gnn import QGCNConv, QGINConv, protect_mask


def _setup():
    g = csbm(num_nodes=200, num_val=20, num_test=40)
    adj = jax.tree.map(jnp.asarray, build_adjacency(g, "gcn"))
    return g, adj, jnp.asarray(g.x)


def test_protect_mask_probability_grows_with_degree():
    deg = jnp.concatenate([jnp.ones(5000), jnp.full(5000, 50.0)])
    m = protect_mask(jax.random.key(0), deg, jnp.ones(10000, bool), 0.0, 0.5)
    lo, hi = float(m[:5000].mean()), float(m[5000:].mean())
    assert lo < 0.3 < hi and abs(hi - 0.5) < 0.03


def test_qgcn_int8_close_to_float_and_int4_coarser():
    g, adj, x = _setup()
    outs = {}
    for bits in (32, 8, 4):
        m = QGCNConv(8, bits_w=min(bits, 8), bits_a=min(bits, 8))
        p = QGCNConv(8).init(jax.random.key(0), adj, x)
        outs[bits] = m.apply(p, adj, x) if bits < 32 else None
    from lib.graph import GCNConv
    ref = GCNConv(8).apply({"params": {"linear": {"kernel": p["params"]["linear"]["kernel"]},
                                       "bias": p["params"]["bias"]}}, adj, x)
    e8 = float(jnp.abs(outs[8] - ref).mean() / jnp.abs(ref).mean())
    e4 = float(jnp.abs(outs[4] - ref).mean() / jnp.abs(ref).mean())
    assert e8 < 0.05 and e8 < e4


def test_int_matmul_path_matches_fake_quant_at_inference():
    g, adj, x = _setup()
    p = QGCNConv(8).init(jax.random.key(0), adj, x)
    a = QGCNConv(8, int_matmul=True).apply(p, adj, x)
    b = QGCNConv(8).apply(p, adj, x)
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_qgin_trains_with_ste_gradients_and_protection():
    g, adj_gcn, x = _setup()
    adj = jax.tree.map(jnp.asarray, build_adjacency(g, "sum", self_loops=False))
    m = QGINConv((16, 3), bits_w=4, bits_a=8)
    p = m.init(jax.random.key(0), adj, x)
    deg = jax.ops.segment_sum(adj.mask.astype(jnp.float32), adj.receivers, adj.num_nodes)
    prot = protect_mask(jax.random.key(1), deg, jnp.asarray(g.node_mask), 0.0, 0.1)
    y = jnp.asarray(g.y)
    def loss(p):
        o = m.apply(p, adj, x, prot, train=True)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(o), y[:, None], 1))
    grads = jax.grad(loss)(p)
    assert all(bool(jnp.isfinite(l).all()) for l in jax.tree.leaves(grads))
    assert float(jnp.abs(grads["params"]["mlp_0"]["kernel"]).sum()) > 0
