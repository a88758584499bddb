"""The chunked pure-JAX aggregation (lib.graph.ops._aggregate, what spmm runs off the native CPU
kernel, e.g. on GPU) works inside jax.shard_map, where its loop carry must vary over the mesh axis,
and gives each device's result."""
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from lib import mesh as mesh_lib
from lib.graph import ops


def test_chunked_aggregate_inside_shard_map():
    n, e = 50, 5000  # 4 chunks of 1024 edges + a tail
    rng = np.random.default_rng(0)
    r = np.sort(rng.integers(0, n, e)).astype(np.int32)
    g = rng.integers(0, n, e).astype(np.int32)
    w = jnp.asarray(rng.random(e), jnp.float32)
    h = jnp.asarray(rng.standard_normal((8, n, 4)), jnp.float32)
    mesh = mesh_lib.make_mesh([("x", -1)])  # 8 simulated devices

    def per_device(h):
        return ops._aggregate(h[0], g, r, w, n, False, True, chunk=1024)[None]
    out = jax.shard_map(per_device, mesh=mesh, in_specs=P("x"), out_specs=P("x"))(h)
    for i in range(8):
        want = np.zeros((n, 4), np.float32)
        np.add.at(want, r, np.asarray(w)[:, None] * np.asarray(h[i])[g])
        np.testing.assert_allclose(np.asarray(out[i]), want, rtol=1e-5, atol=1e-5)
