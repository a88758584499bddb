"""BiFeat project: smoke on the synthetic CSBM, bit-exact resume, bad config before compile."""
import json

import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows, run_main

CFG = "configs/bifeat/default.py"


def _config(**kw):
    from configs.bifeat import default
    c = default.get_config()
    c.update_from_flattened_dict(kw)  # dotted keys: "model.layers"
    return c


def test_smoke_compressed_features_learn(tmp_path):
    from projects.bifeat import train
    final = train.train_and_evaluate(_config(), str(tmp_path))
    assert final["step"] == 30 and final["compression_ratio"] == 32.0
    assert final["test_accuracy"] > 0.6  # 3 classes, chance 0.33


def test_vector_mode_and_quantized_gin_run(tmp_path):
    from projects.bifeat import train
    out, info = train.run_seeds(_config(**{"compression.mode": "vector", "compression.width": 8,
                                           "compression.num_codewords": 16, "epochs": 5}), [0, 1])
    assert len(out["test_accuracy"]) == 2 and info["compression_ratio"] == 64 * 4 / 8
    out, _ = train.run_seeds(_config(**{"model.layer": "gin", "model.quant": "int4", "epochs": 3}), [0])
    assert 0.0 <= out["test_accuracy"][0] <= 1.0


def test_multi_seed_program_matches_single_run(tmp_path):
    """train.run_seeds (one jitted program: lax.scan over epochs, lax.map over seeds, here two
    seeds vmapped per batch) gives the same final accuracies as the checkpointed single run."""
    from projects.bifeat import train
    cfg = _config(**{"epochs": 12, "checkpoint_every": 100})
    single = train.train_and_evaluate(cfg, str(tmp_path))
    multi, info = train.run_seeds(cfg, [0, 1], seed_batch=2)
    for k in ("train_accuracy", "val_accuracy", "test_accuracy"):
        assert multi[k][0] == pytest.approx(single[k], abs=1e-6), k
    assert info["compression_ratio"] == single["compression_ratio"]
    with pytest.raises(ConfigError, match="seed_batch"):
        train.run_seeds(cfg, [0], seed_batch=0)


def test_input_dropout_is_separate_from_hidden_dropout():
    import jax
    import numpy as np
    from projects.bifeat import train
    cfg = _config(**{"compression.mode": "none"})
    codec, data, _, num_classes = train.prepare(cfg)
    x = data["store"]

    def logits(rate, input_rate, train_mode):
        net = train.Net("gcn", 8, num_classes, rate, input_rate=input_rate)
        params = net.init(jax.random.key(0), data["adj"], x, False)
        return np.asarray(net.apply(params, data["adj"], x, train_mode, rngs={"dropout": jax.random.key(1)}))

    clean = logits(0.0, None, False)
    np.testing.assert_array_equal(logits(0.0, 0.0, True), clean)      # no dropout anywhere
    assert not np.allclose(logits(0.0, 0.5, True), clean)             # input dropout only
    assert not np.allclose(logits(0.5, 0.0, True), clean)             # hidden dropout only


def test_resume_is_bit_exact(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    short = ["--config.epochs=20", "--config.checkpoint_every=10", "--config.log_every=5", "--config.eval_every=10"]
    run_main("bifeat", CFG, a, *short)
    run_main("bifeat", CFG, b, *short[:0], "--config.epochs=10", *short[1:])
    run_main("bifeat", CFG, b, *short)
    assert json.load(open(b / "final_metrics.json"))["resumed_from"] == 10
    assert_trees_equal(load_checkpoint(a, 20), load_checkpoint(b, 20))
    assert metric_rows(a)[-1] == metric_rows(b)[-1]


@pytest.mark.parametrize("key,value,match", [("compression.bits", 9, "bits"), ("compression.mode", "zip", "mode"),
                                             ("model.layer", "mlp", "layer"),
                                             ("model.quant", "int2", "quant"),
                                             ("model.input_dropout", 1.5, "input_dropout")])
def test_bad_config_named_error(tmp_path, key, value, match):
    from projects.bifeat import train
    with pytest.raises(ConfigError, match=match):
        train.train_and_evaluate(_config(**{key: value}), str(tmp_path))
