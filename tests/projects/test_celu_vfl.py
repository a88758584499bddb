"""CELU-VFL: smoke (three methods), bit-exact resume with the workset, named errors, weighting."""

import json
import os
import signal

import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows, run_killed_after_checkpoint, run_main

CFG = "configs/celu_vfl/default.py"


def _config(**kw):
    from configs.celu_vfl import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 12, 4, 6, 6
    for k, v in kw.items():
        c[k] = v
    return c


@pytest.mark.parametrize("method", ["vanilla", pytest.param("local", marks=pytest.mark.slow)])
def test_baselines_run(tmp_path, method):
    from projects.celu_vfl import train

    final = train.train_and_evaluate(_config(method=method, total=6, eval_every=6), str(tmp_path))
    assert final["local_updates_per_round"] == (0 if method == "vanilla" else 4)
    assert np.isfinite(final["test_auc"])
    ck = load_checkpoint(tmp_path, 6)
    assert ("a" in ck["cache"]) == (method != "vanilla")  # vanilla keeps no workset
    if method == "local":
        assert ck["cache"]["a"].shape == (2, 5, 2, 32, 8)  # [party, W, party view, B, E]


def test_smoke_and_resume_is_bit_exact_with_the_workset(tmp_path):
    """CELU learns and counts its messages; stopping at round 6 and resuming to 12 = straight to 12: model,
    optimizer, workset payload, metadata and counters, bit for bit."""
    from projects.celu_vfl import train

    a, b = tmp_path / "a", tmp_path / "b"
    final = train.train_and_evaluate(_config(), str(a))
    assert final["step"] == 12 and final["method"] == "celu"
    assert final["test_auc"] > 0.9  # breast cancer: far above chance (0.5) after 12 rounds
    rows = metric_rows(a)
    local = [r["train_local_updates"] for r in rows if "train_local_updates" in r]
    assert local[-1] == 4  # steady state: R - 1 = 4 local updates per round
    ev = [r for r in rows if "virtual_time_s" in r]
    assert final["bytes_per_round"] == 2 * 32 * 8 * 4  # forward + backward, one host, B=32, E=8, float32
    assert ev[-1]["bytes_sent"] == 12 * final["bytes_per_round"]
    np.testing.assert_allclose(ev[-1]["virtual_time_s"], 12 * final["round_virtual_s"])
    # 12 communicated updates + the local ones actually made (the first rounds skip: few cached batches)
    assert 12 + 2 * 12 < ev[-1]["updates"] < 12 * 5

    train.train_and_evaluate(_config(total=6), str(b))
    resumed = train.train_and_evaluate(_config(), str(b))
    assert resumed["resumed_from"] == 6
    ca, cb = load_checkpoint(a, 12), load_checkpoint(b, 12)
    assert_trees_equal(ca, cb)
    assert int(ca["cache"]["count"]["local"]) == ev[-1]["updates"] - 12 and int(ca["cache"]["ws"]["valid"].sum()) >= 1
    assert float(np.abs(ca["cache"]["a"]).sum()) > 0
    after = lambda rows: [r for r in rows if r["step"] > 6]  # the stopped run also logged its last step
    assert after(metric_rows(a)) == after(metric_rows(b)) and after(metric_rows(a))




@pytest.mark.slow
def test_resume_after_sigkill_is_bit_exact(tmp_path):
    args = ["--config.total=12", "--config.checkpoint_every=3", "--config.eval_every=6", "--config.log_every=3"]
    a, b = tmp_path / "a", tmp_path / "b"
    run_main("celu_vfl", CFG, a, *args)
    killed = run_killed_after_checkpoint("celu_vfl", CFG, b, 6, *args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run_main("celu_vfl", CFG, b, *args)
    assert json.load(open(b / "final_metrics.json"))["resumed_from"] == 6
    assert_trees_equal(load_checkpoint(a, 12), load_checkpoint(b, 12))
    assert metric_rows(a) == metric_rows(b)


@pytest.mark.parametrize("override, error, match", [
    (dict(W=0), "CELUConfigError", r"config.W=0 must be an integer >= 1"),
    (dict(R=0), "CELUConfigError", r"config.R=0 must be an integer >= 1"),
    (dict(xi=1.5), "CELUConfigError", r"config.xi=1.5 must be a number in \[-1, 1\]"),
    (dict(xi=-2.0), "CELUConfigError", r"config.xi=-2.0"),
    (dict(method="sync"), "ConfigError", r"config.method='sync' is not allowed"),
    (dict(party_devices=3), "ConfigError", r"config.party_devices=3 must divide the 2 parties"),
])
def test_bad_config_is_a_named_error_before_compile(tmp_path, override, error, match):
    from projects.celu_vfl import train

    with pytest.raises(Exception, match=match) as e:
        train.train_and_evaluate(_config(**override), str(tmp_path))
    assert type(e.value).__name__ == error
    assert not os.path.exists(tmp_path / "checkpoints")


@pytest.mark.parametrize("override, match", [
    ("--config.wire.preset=dialup", r"WireConfigError: wire.preset='dialup'"),
    ("--config.messages.fwd_bits=16", r"TransformConfigError: messages.forward.bits=16"),
])
def test_bad_config_exits_2_with_one_line(tmp_path, override, match):
    proc = run_main("celu_vfl", CFG, tmp_path, override, check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert __import__("re").search(match, proc.stderr), proc.stderr[-2000:]


def test_bad_data_is_a_named_error(tmp_path):
    from lib.data.guest_host import MismatchedIdsError
    from projects.celu_vfl import train

    vfl = tmp_path / "vfl"
    vfl.mkdir()
    (vfl / "breast_hetero_guest.csv").write_text("id,y,a\n1,0,0.5\n2,1,0.1\n")
    (vfl / "breast_hetero_host.csv").write_text("id,b\n1,0.5\n3,0.1\n")
    with pytest.raises(MismatchedIdsError, match="only in the guest"):
        train.train_and_evaluate(_config(dataset="breast", data_dir=str(tmp_path)), str(tmp_path / "wd"))


def test_cosine_weighting():
    from projects.celu_vfl.weighting import cosine, make_weight_fn

    u = jnp.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    v = jnp.array([[2.0, 0.0], [1.0, 0.0], [0.0, -3.0], [1.0, 0.0]])
    np.testing.assert_allclose(cosine(u, v), [1.0, 2 ** -0.5, -1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(make_weight_fn(0.5)("guest", u, v), [1.0, 2 ** -0.5, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(make_weight_fn(-1.0)("host", u, v), [1.0, 2 ** -0.5, -1.0, 0.0], atol=1e-6)
