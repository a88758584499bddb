"""RevGNN project: smoke on the synthetic CSBM, bit-exact resume, bad config before compile, Cora."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows, run_main

CFG = "configs/revgnn/default.py"


def _config(**kw):
    from configs.revgnn import default
    c = default.get_config()
    c.update_from_flattened_dict(kw)  # dotted keys: "model.layers"
    return c


def test_smoke_and_resume_is_bit_exact(tmp_path):
    """Smoke through main (flags, config, loop): 20 epochs learn the CSBM; an interrupted run
    (10 epochs, then resumed to 20 in-process) equals it bit for bit."""
    from projects.revgnn import train
    a, b = tmp_path / "a", tmp_path / "b"
    short = {"epochs": 20, "checkpoint_every": 10, "log_every": 5, "eval_every": 10, "model.layers": 4}
    run_main("revgnn", CFG, a, *[f"--config.{k}={v}" for k, v in short.items()])
    final = json.load(open(a / "final_metrics.json"))
    assert final["step"] == 20 and final["test_accuracy"] > 0.6  # 3 classes, chance 0.33
    train.train_and_evaluate(_config(**{**short, "epochs": 10}), str(b))
    train.train_and_evaluate(_config(**short), str(b))
    assert json.load(open(b / "final_metrics.json"))["resumed_from"] == 10
    assert_trees_equal(load_checkpoint(a, 20), load_checkpoint(b, 20))
    assert metric_rows(a)[-1] == metric_rows(b)[-1]


def test_residual_and_gcn_run_vmapped_over_seeds():
    from projects.revgnn import train
    for m in ("residual", "gcn"):
        out = train.run_seeds(_config(**{"model.model": m, "model.layers": 2, "epochs": 1}), [0, 1])
        assert len(out["test_accuracy"]) == 2 and all(0.0 <= a <= 1.0 for a in out["test_accuracy"])


def test_reversible_training_equals_plain_autodiff():
    """Same parameters after Adam steps whether the gradient comes from the custom VJP
    (recomputation) or from plain autodiff of the same grouped network (dropout on)."""
    import jax

    from projects.revgnn import train
    kw = {"model.layers": 3, "model.dropout": 0.3, "model.input_dropout": 0.2}
    data, k = train.prepare(_config(**kw))
    states = []
    for m in ("reversible", "grouped"):
        init, step, _ = train.make_functions(_config(**kw, **{"model.model": m}), data["x"].shape[1], k)
        run = jax.jit(lambda d: jax.lax.scan(lambda s, _: (step(0, s, d)[0], None), init(0, d), None, length=2)[0])
        states.append(run(data)["params"])
    for a, b in zip(jax.tree.leaves(states[0]), jax.tree.leaves(states[1])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("key,value,match", [
    ("model.hidden", 15, "divisible by 2"), ("model.groups", 1, "groups=1 must be >= 2"),
    ("model.model", "gat", "model.model"), ("dataset", "pubmedx", "dataset"),
    ("model.dropout", 1.5, "dropout"), ("model.layers", 0, "layers"), ("learning_rate", -1.0, "learning_rate")])
def test_bad_config_named_before_compile(tmp_path, no_compiles, key, value, match):
    from projects.revgnn import train
    with pytest.raises(ConfigError, match=match):
        train.train_and_evaluate(_config(**{key: value}), str(tmp_path))
    assert no_compiles == []


@pytest.mark.data
def test_cora_deep_reversible_beats_chance(data_dir):
    from projects.revgnn import train
    c = _config(**{"dataset": "cora", "data_dir": str(data_dir), "model.layers": 8, "model.hidden": 32,
                   "model.dropout": 0.5, "model.input_dropout": 0.5, "epochs": 40})
    out = train.run_seeds(c, [0])
    assert out["test_accuracy"][0] > 0.6  # 7 classes; chance ~0.14-0.3


def test_remat_and_bf16_residual_gnn():
    """remat='block' shrinks the compiled step's temporaries of a deep residual GNN and gives the
    same loss; bf16 compute trains within a small margin of float32; bad choices are named."""
    import optax

    from lib.config import ConfigError
    from projects.revgnn import model as model_lib
    from projects.revgnn import train

    def cfg(**kw):
        c = _config()
        c.model.model, c.model.layers, c.model.hidden, c.model.dropout = "residual", 16, 32, 0.0
        for k, v in kw.items():
            if k.startswith("model_"):
                c.model[k[6:]] = v
            else:
                c[k] = v
        return c

    data, nc = train.prepare(cfg())

    def loss_and_temp(c):
        m = c.model
        params = model_lib.init(jax.random.key(0), m.model, data["x"].shape[1], m.hidden, nc, m.layers, m.groups)
        kw = dict(model=m.model, groups=m.groups, rate=0.0, input_rate=0.0, train=True,
                  dtype=jnp.bfloat16 if c.compute_dtype == "bfloat16" else jnp.float32, remat=m.remat)

        def loss(p):
            logits = model_lib.apply(p, data["adj"], data["x"], jax.random.key(1), **kw)
            return optax.softmax_cross_entropy_with_integer_labels(logits, data["y"]).mean()

        g = jax.jit(jax.value_and_grad(loss))
        temp = g.lower(params).compile().memory_analysis().temp_size_in_bytes
        return float(g(params)[0]), temp

    l_plain, t_plain = loss_and_temp(cfg())
    l_remat, t_remat = loss_and_temp(cfg(model_remat="block"))
    l_bf16, _ = loss_and_temp(cfg(compute_dtype="bfloat16"))
    assert t_remat < 0.7 * t_plain, (t_remat, t_plain)
    assert abs(l_remat - l_plain) < 1e-5
    assert abs(l_bf16 - l_plain) < 0.05 * l_plain
    with pytest.raises(ConfigError, match="config.model.remat='block' is for model='residual'"):
        train.validate(cfg(model_model="reversible", model_remat="block"))
    with pytest.raises(ConfigError, match="config.compute_dtype='int8'"):
        train.validate(cfg(compute_dtype="int8"))
