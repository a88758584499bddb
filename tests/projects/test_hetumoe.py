"""hetumoe: smoke of the gate family and of the expert-parallel run with the hierarchical all_to_all."""
import numpy as np
import pytest

from lib.config import ConfigError


def tiny(gate, a2a="none"):
    from configs.hetumoe import default

    c = default.hetu_config(gate, a2a, 3)
    c.model.d_model, c.model.seq_len = 32, 16
    c.batch_size, c.warmup, c.eval_batches = 8, 1, 1
    c.log_every, c.eval_every, c.checkpoint_every = 1, 0, 3
    return c


@pytest.mark.parametrize("gate", ["base", "hash"])
def test_gate_smoke(tmp_path, gate):
    from projects.hetumoe import train

    final = train.train_and_evaluate(tiny(gate), str(tmp_path))
    assert final["step"] == 3 and np.isfinite(final["val_bits_per_char"])
    if gate == "base":
        assert final["val_load_cv"] == pytest.approx(0.0, abs=1e-6) or final["train_load_cv"] == pytest.approx(0.0)


def test_expert_parallel_configs_build_hierarchical_mesh():
    """The a2a=flat|hierarchical configs resolve to an 8-device host x local expert-parallel layer.

    (Numerical equality of hierarchical and flat all_to_all, and of the expert-parallel and single-device
    layers, is tested in tests/lib/moe/test_parallel.py; a full EP training run costs minutes of compile
    on 2 shared cores, so it is not repeated here.)"""
    from lib.moe import tasks

    for a2a in ("flat", "hierarchical"):
        spec, par = tasks.validate(tiny("sam", a2a))
        assert par.n_expert == 8 and par.expert_axes == ("host", "local")
        assert par.hierarchical == (a2a == "hierarchical")
        assert spec.router.name == "sam" and spec.router.group_size == 4


def test_bad_args():
    from configs.hetumoe import default

    with pytest.raises(ConfigError, match="gate"):
        default.get_config("gate=top3")
    with pytest.raises(ConfigError, match="a2a"):
        default.get_config("a2a=ring")


def test_equal_active_width_and_expert_choice_config():
    """Every gate gets experts of width 256 / k (equal active expert params per token); expert-choice builds."""
    from configs.hetumoe import default
    from lib.moe import routers, tasks

    for gate in default.GATES:
        assert gate in routers.ROUTERS
        c = default.get_config(f"gate={gate}")
        spec, _ = tasks.validate(c)
        assert spec.d_ff * default.K[gate] == default.ACTIVE_FF
        assert (c.moe.aux_weight == 0.0) == (gate in default.NO_AUX)
        assert spec.router.kind.aux_loss == (gate not in default.NO_AUX)  # NO_AUX: gates without a balance loss
    spec, _ = tasks.validate(default.get_config("gate=expert_choice"))
    assert spec.router.name == "expert_choice" and not spec.router.kind.causal


def test_stateful_router_refused_before_compile(tmp_path, no_compiles):
    """The hetumoe trainer updates no router state: a loss-free bias router is a named error, not a frozen bias."""
    from lib.moe.routers import MoEConfigError
    from projects.hetumoe import train

    c = tiny("switch")
    c.moe.router = "lossfree"
    with pytest.raises(MoEConfigError, match="moe.router.*without state"):
        train.train_and_evaluate(c, str(tmp_path))
    assert no_compiles == []


def test_a2a_check_hierarchical_equals_flat():
    """projects/hetumoe/a2a_check.py (the README's a2a numbers) on a tiny layer: both exchanges agree."""
    from projects.hetumoe import a2a_check

    res = a2a_check.check(tokens=64, d_model=8, d_ff=16, reps=1)
    assert res["hierarchical_vs_flat"]["max_abs_diff_output"] < 1e-5
    assert res["hierarchical_vs_flat"]["max_abs_diff_grad"] < 1e-5
    assert res["flat_vs_single_device"]["max_abs_diff_output"] < 1e-4
    assert set(res["timing"]) == {"single_device", "flat", "hierarchical"}
