"""lossfree_balance: smoke run of the default config, bit-exact resume (router biases, RNG), bad input."""
import os

import numpy as np
import pytest

from lib.config import ConfigError
from lib.data.common import DataError
from lib.moe.routers import MoEConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def tiny(balance="lossfree", **kw):
    from configs.lossfree_balance import default

    c = default.get_config(f"balance={balance}")
    c.model.d_model, c.model.d_ff, c.model.seq_len = 32, 64, 16
    c.batch_size, c.total, c.warmup, c.eval_batches = 8, 8, 2, 2
    c.log_every, c.eval_every, c.checkpoint_every = 2, 4, 4
    c.moe.router_kwargs.bias_rate = 0.05
    c.update_from_flattened_dict(kw)
    return c


class Interrupt(Exception):
    pass


def test_smoke_and_resume_bit_exact_with_router_bias(tmp_path, monkeypatch):
    from lib.data import text
    from projects.lossfree_balance import train

    a, b = tmp_path / "a", tmp_path / "b"
    final = train.train_and_evaluate(tiny(), str(a))
    assert final["step"] == 8 and np.isfinite(final["val_bits_per_char"])
    assert 0 < final["srp_m4"] <= 1 and 0 < final["sch2k_m4"] <= 1
    ck = load_checkpoint(a, 8)
    biases = [v["moe"]["router"]["bias"] for v in ck["moe_state"].values()]
    assert biases and all(np.abs(x).sum() > 0 for x in biases)  # updated outside the optimizer

    real = text.batch

    def dying(ids, *, seed, step, **kw):
        if step == 4:
            raise Interrupt
        return real(ids, seed=seed, step=step, **kw)

    monkeypatch.setattr(text, "batch", dying)
    with pytest.raises(Interrupt):
        train.train_and_evaluate(tiny(), str(b))
    monkeypatch.setattr(text, "batch", real)
    resumed = train.train_and_evaluate(tiny(), str(b))
    assert resumed["resumed_from"] == 4
    assert_trees_equal(ck, load_checkpoint(b, 8))
    assert metric_rows(a) == metric_rows(b)


@pytest.mark.parametrize("kw,error,match", [
    ({"moe.k": 9}, MoEConfigError, "moe.k"),
    ({"moe.router": "magic"}, MoEConfigError, "moe.router"),
    ({"moe.capacity_factor": 0.0}, MoEConfigError, "capacity_factor"),
    ({"moe.num_groups": 3}, MoEConfigError, "moe.num_groups"),
    ({"data.source": "wikitext"}, ConfigError, "data.source"),
    ({"moe.expert_parallel": True, "mesh": (("data", 2), ("expert", 4)), "moe.num_experts": 6}, MoEConfigError,
     "moe.num_experts"),
    # issue 11 item 6: total below warmup crashed inside optax; a mesh was silently ignored
    ({"total": 4, "warmup": 6}, ConfigError, "config.warmup=6 must be below config.total=4"),
    ({"mesh": (("data", 2), ("model", 4))}, ConfigError, "used only with config.moe.expert_parallel=True"),
    ({"data.max_chars": 1000}, DataError, "held-out split has 100 characters, 6 eval windows"),
])
def test_bad_config_named_before_compile(tmp_path, kw, error, match):
    from projects.lossfree_balance import train

    with pytest.raises(error, match=match):
        train.train_and_evaluate(tiny(**kw), str(tmp_path))
    assert not os.path.exists(tmp_path / "checkpoints")


def test_bad_balance_arg():
    from configs.lossfree_balance import default

    with pytest.raises(ConfigError, match="balance"):
        default.get_config("balance=magic")
