"""Precision policy: named errors, bf16 trains like float32, activations take half the memory,
float32 master weights restore exactly."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from ml_collections import ConfigDict

from lib import precision
from lib.config import ConfigError
from lib.models.cnn import SmallCNN
from lib.models.mlp import MLP


def test_policy_names_bad_dtypes():
    assert precision.policy(ConfigDict({})) == (jnp.float32, jnp.float32)
    p = precision.policy(ConfigDict({"param_dtype": "float32", "compute_dtype": "bfloat16"}))
    assert p.compute_dtype == jnp.bfloat16 and p.is_mixed
    with pytest.raises(ConfigError, match="config.compute_dtype='int8' is not a floating dtype"):
        precision.policy(ConfigDict({"compute_dtype": "int8"}))
    with pytest.raises(ConfigError, match="config.param_dtype='bf16'"):
        precision.policy(ConfigDict({"param_dtype": "bf16"}))
    with pytest.raises(ConfigError, match="int4 layers runs in float32 only"):
        precision.require_float32(ConfigDict({"compute_dtype": "bfloat16"}), "int4 layers")


def _train(model, x, y, steps=60, lr=0.5):
    params = model.init(jax.random.PRNGKey(0), x[:2])["params"]

    @jax.jit
    def step(p):
        def loss(p):
            return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x), y).mean()

        l, g = jax.value_and_grad(loss)(p)
        return jax.tree.map(lambda a, b: a - lr * b, p, g), l

    losses = []
    for _ in range(steps):
        params, l = step(params)
        losses.append(float(l))
    return params, losses


def test_bf16_mlp_trains_like_float32():
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = jnp.asarray(d.data[:512] / 16.0, jnp.float32), jnp.asarray(d.target[:512])
    p32, l32 = _train(MLP(hidden=(64,), num_classes=10), x, y)
    p16, l16 = _train(MLP(hidden=(64,), num_classes=10, dtype=jnp.bfloat16), x, y)
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(p16))  # master weights
    assert l16[-1] < 0.5 * l16[0]  # it trains
    assert abs(l16[-1] - l32[-1]) < 0.05 * l32[0]  # and stays close to float32


def test_bf16_halves_activation_memory():
    """The activations saved for the backward pass (the vjp residuals) take half the bytes.
    (XLA:CPU computes bf16 convolutions in float32 internally, so its temporaries do not
    shrink on CPU; the residuals are what a GPU/TPU holds between forward and backward.)"""
    x = jnp.ones((64, 28, 28), jnp.float32)
    y = jnp.zeros((64,), jnp.int32)

    def saved_bytes(dtype):
        model = SmallCNN(num_classes=10, features=(32, 64), hidden=128, dtype=dtype)
        params = model.init(jax.random.PRNGKey(0), x[:1])["params"]
        loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x), y).mean()  # noqa: E731
        _, vjp = jax.vjp(loss, params)
        param_ids = {id(a) for a in jax.tree.leaves(params)}
        return sum(a.nbytes for a in jax.tree.leaves(vjp) if id(a) not in param_ids)

    ratio = saved_bytes(jnp.bfloat16) / saved_bytes(jnp.float32)
    assert 0.4 < ratio < 0.65, ratio


def test_bf16_params_checkpoint_restore_exactly(tmp_path):
    from lib.checkpoint import Checkpointer
    from tests.helpers import assert_trees_equal

    model = MLP(hidden=(8,), num_classes=3, dtype=jnp.bfloat16)
    params = model.init(jax.random.PRNGKey(1), jnp.ones((1, 5)))["params"]
    state = {"step": jnp.int32(1), "params": params}
    ck = Checkpointer(str(tmp_path), every=1, handle_sigterm=False)
    ck.save(1, state)
    ck.close()
    ck = Checkpointer(str(tmp_path), every=1, handle_sigterm=False)
    restored, source = ck.restore(jax.tree.map(jnp.zeros_like, state))
    ck.close()
    assert source == "workdir"
    assert_trees_equal(restored, state)
