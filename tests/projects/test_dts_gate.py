"""dts_gate: smoke, bit-exact resume (DTS temperature + routing RNG through fold_in(rng, step)), bad gate."""
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def tiny(gate="dts"):
    from configs.dts_gate import default

    c = default.dts_config(gate, 8)
    c.model.d_model, c.model.d_ff, c.model.seq_len = 32, 64, 16
    c.batch_size, c.warmup, c.eval_batches = 8, 2, 2
    c.log_every, c.eval_every, c.checkpoint_every = 1, 4, 4
    if gate == "dts":
        c.moe.router_kwargs.tau_decay_steps, c.moe.router_kwargs.switch_step = 6, 6
    return c


class Interrupt(Exception):
    pass


def test_dts_smoke_schedule_and_resume_bit_exact(tmp_path, monkeypatch):
    from lib.data import text
    from lib.metrics import read_jsonl
    from projects.dts_gate import train

    a, b = tmp_path / "a", tmp_path / "b"
    final = train.train_and_evaluate(tiny(), str(a))
    assert final["step"] == 8 and np.isfinite(final["val_bits_per_char"])
    rows = read_jsonl(str(a / "metrics.jsonl"))
    taus = [r["train_tau"] for r in rows if "train_tau" in r]
    assert taus[0] == pytest.approx(1.0) and taus[-1] == pytest.approx(0.5)  # annealed, then held at tau_min
    assert all(x >= y for x, y in zip(taus, taus[1:]))
    assert float(load_checkpoint(a, 8)["tau"]) == pytest.approx(0.5)

    real = text.batch

    def dying(ids, *, seed, step, **kw):
        if step == 4:
            raise Interrupt
        return real(ids, seed=seed, step=step, **kw)

    monkeypatch.setattr(text, "batch", dying)
    with pytest.raises(Interrupt):
        train.train_and_evaluate(tiny(), str(b))
    monkeypatch.setattr(text, "batch", real)
    assert train.train_and_evaluate(tiny(), str(b))["resumed_from"] == 4
    assert_trees_equal(load_checkpoint(a, 8), load_checkpoint(b, 8))  # incl. rng, tau
    assert metric_rows(a) == metric_rows(b)  # Gumbel noise per step reproduced after resume


def test_bad_gate():
    from configs.dts_gate import default

    with pytest.raises(ConfigError, match="gate"):
        default.get_config("gate=noisy")


def test_dts_values_follow_evomoe_gpt_launcher():
    """Linear tau schedule and gate-loss weight 0 (EvoMoE's GPT launcher); top-1 after the tau decay ends."""
    from configs.dts_gate import shakespeare

    c = shakespeare.get_config("gate=dts")
    kw = c.moe.router_kwargs
    assert kw.tau_schedule == "linear" and c.moe.aux_weight == 0.0 and kw.threshold == 1e-3
    assert 0 < kw.tau_decay_steps <= kw.switch_step < c.total
    assert shakespeare.get_config("gate=switch").moe.aux_weight == 0.01
