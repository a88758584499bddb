"""Citadel project: masked aggregation trains the same model as plain FedAvg; bit-exact resume."""
import jax
import numpy as np
import pytest

from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.citadel import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 6, 1, 3, 3
    for k, v in kw.items():
        c[k] = v
    return c


def test_secure_run_matches_plain_fedavg_and_resumes_bit_exact(tmp_path):
    from projects.citadel import train

    plain = train.train_and_evaluate(_config(aggregator="fedavg"), str(tmp_path / "plain"))
    full = train.train_and_evaluate(_config(), str(tmp_path / "a"))
    assert full["step"] == 6 and np.isfinite(full["test_loss"])
    # same seed, same clients: the masked sums decode to the plain mean up to 2^-24 per client
    pa, pb = load_checkpoint(tmp_path / "plain", 6)["params"], load_checkpoint(tmp_path / "a", 6)["params"]
    flat = lambda p: np.concatenate([np.ravel(x) for x in jax.tree.leaves(p)])
    diff = np.abs(flat(pa) - flat(pb)).max()
    assert 0 < diff < 1e-5  # not the same code path, but the same model
    assert abs(full["test_loss"] - plain["test_loss"]) < 1e-4
    # interrupted at 3 and resumed == uninterrupted, bit for bit
    train.train_and_evaluate(_config(total=3), str(tmp_path / "b"))
    final = train.train_and_evaluate(_config(), str(tmp_path / "b"))
    assert final["resumed_from"] == 3
    assert_trees_equal(load_checkpoint(tmp_path / "a", 6), load_checkpoint(tmp_path / "b", 6))
    assert metric_rows(tmp_path / "a")[3:] == metric_rows(tmp_path / "b")[3:]


def test_dropouts_and_named_errors(tmp_path):
    from lib.fl.secagg import SecAggConfigError
    from lib.config import ConfigError
    from projects.citadel import train

    out = train.train_and_evaluate(_config(total=2, secagg=dict(frac_bits=24, groups=2, dropouts=1, threshold=0)),
                                   str(tmp_path))
    assert out["step"] == 2 and np.isfinite(out["test_loss"])
    with pytest.raises(SecAggConfigError, match="recovery threshold"):  # 8 per round in 2 groups of 4
        train.train_and_evaluate(_config(secagg=dict(frac_bits=24, groups=2, dropouts=2, threshold=3)),
                                 str(tmp_path / "x"))
    with pytest.raises(ConfigError, match="aggregator"):
        train.validate(_config(aggregator="median"))
