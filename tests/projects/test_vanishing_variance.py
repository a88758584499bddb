"""Vanishing variance: averaging k independent inits shrinks each layer's std by ~1/sqrt(k), the
correction restores it (and is the identity on identical models); smoke; bit-exact resume;
named errors before compile."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.models.mlp import MLP
from projects.vanishing_variance import correction
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _inits(k, hidden=(128, 128)):
    model = MLP(hidden=hidden, num_classes=10)
    x = jnp.zeros((1, 784))
    return jax.vmap(lambda i: model.init(jax.random.PRNGKey(i), x)["params"])(jnp.arange(k))


@pytest.mark.parametrize("k", [2, 8])
def test_averaging_independent_inits_collapses_the_variance_and_the_correction_restores_it(k):
    models = _inits(k)
    init_std = correction.layer_stds(jax.tree.map(lambda a: a[0], models))
    plain = correction.layer_stds(correction.average_models(models, corrected=False))
    fixed = correction.layer_stds(correction.average_models(models, corrected=True))
    for name, s0 in init_std.items():
        if "kernel" not in name:  # biases start at 0: nothing to collapse
            continue
        assert plain[name] == pytest.approx(s0 / np.sqrt(k), rel=0.05), name
        assert fixed[name] == pytest.approx(s0, rel=0.02), name


def test_correction_is_identity_on_identical_models_and_keeps_the_layer_mean():
    one = jax.tree.map(lambda a: a[0], _inits(1, hidden=(32,)))
    same = jax.tree.map(lambda a: jnp.stack([a, a, a]), one)
    out = correction.average_models(same, corrected=True)
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(one)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    models = _inits(5, hidden=(32,))
    m = jnp.asarray(np.random.default_rng(0).dirichlet(np.ones(5), size=3), jnp.float32)  # 3 merges of 5 models
    fixed = correction.corrected_average(models, m)
    k = np.asarray(models["head"]["kernel"]).reshape(5, -1)
    bar = np.asarray(m) @ k
    f = np.asarray(fixed["head"]["kernel"]).reshape(3, -1)
    np.testing.assert_allclose(f.mean(1), bar.mean(1), atol=1e-6)
    np.testing.assert_allclose(f.std(1), np.sqrt(np.asarray(m) @ k.var(1)), rtol=1e-4)


def _config(arg=None, **kw):
    from configs.vanishing_variance import default

    c = default.get_config(arg)
    c.total, c.log_every, c.eval_every, c.checkpoint_every, c.num_nodes = 6, 1, 3, 3, 8
    for key, v in kw.items():
        c[key] = v
    return c


def test_resume_is_bit_exact_and_the_correction_keeps_the_weight_scale(tmp_path):
    """The uninterrupted corrected run is the smoke test of configs/vanishing_variance/default.py."""
    from projects.vanishing_variance import train

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    full = train.train_and_evaluate(_config(), str(a))
    assert full["step"] == 6 and 0 < full["accuracy"] <= 1
    train.train_and_evaluate(_config(total=3), str(b))
    assert train.train_and_evaluate(_config(), str(b))["resumed_from"] == 3
    assert_trees_equal(load_checkpoint(a, 6), load_checkpoint(b, 6))
    assert metric_rows(a)[3:] == metric_rows(b)[3:]
    plain = train.train_and_evaluate(_config("merge=average"), str(c))
    assert plain["weight_std_dense_0_kernel"] < 0.6 * full["weight_std_dense_0_kernel"]


def test_named_errors_before_compile():
    from projects.vanishing_variance import train

    for kw, arg in [({}, "merge=median"), ({}, "method=dpsgd"), ({}, "method=fl"), ({"num_nodes": 1}, None),
                    ({"test_subset": -1}, None)]:
        with pytest.raises(ConfigError):
            train.validate(_config(arg, **kw))
