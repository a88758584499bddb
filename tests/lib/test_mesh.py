import jax
import numpy as np
import pytest

from lib import mesh as M
from lib.config import ConfigError


def test_fill_minus_one_and_axis_names():
    m = M.make_mesh([("data", -1), ("expert", 4)])
    assert dict(m.shape) == {"data": 2, "expert": 4}
    assert M.make_mesh((("data", -1),)).shape["data"] == 8


@pytest.mark.parametrize("spec,match", [
    ([("data", 3)], "does not divide the 8 devices"),
    ([("data", -1), ("expert", -1)], "more than one -1"),
    ([("data", 2), ("expert", 2)], "uses 4 devices but 8"),
    ([("data", 0)], "positive or -1"),
    ([("a", 2), ("a", 4)], "repeats an axis"),
    ([], "empty"),
    ("data", r"config.mesh='data' is not a list of \(axis name, size\) pairs"),  # --config.mesh=data (issue 11)
    (("data",), r"config.mesh=\('data',\) is not a list"),
    ([("data", "2")], "is not a list of"),
])
def test_impossible_meshes_are_named(spec, match):
    with pytest.raises(ConfigError, match=match):
        M.make_mesh(spec)


def test_batch_divisibility_and_global_array():
    m = M.make_mesh([("data", -1)])
    with pytest.raises(ConfigError, match="batch_size=12 is not divisible by the 'data' mesh axis size 8"):
        M.check_batch(12, m)
    x = np.arange(32, dtype=np.float32).reshape(16, 2)
    arr = M.global_array(x, M.batch_sharding(m))
    assert len(arr.addressable_shards) == 8 and arr.addressable_shards[0].data.shape == (2, 2)
    np.testing.assert_array_equal(np.asarray(arr), x)


def test_hybrid_mesh_validates_dcn_axes():
    with pytest.raises(ConfigError, match="same axes"):
        M.make_mesh([("data", -1)], dcn=[("expert", 1)])
    # one process = one DCN granule: a dcn spec of 1 gives the plain mesh
    m = M.make_mesh([("data", -1)], dcn=[("data", 1)])
    assert m.shape["data"] == 8 and jax.process_count() == 1
