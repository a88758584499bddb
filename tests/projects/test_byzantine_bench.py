"""byzantine_bench: smoke of default.py (momentum + NNM + FLTrust under min-max), bit-exact resume,
the grid driver (resume per cell, not-applicable cells, one compile per configuration, the grid's
cell equals the lib.train run), named errors before any work."""
import json

import numpy as np
import pytest

from lib.fl import aggregate, attacks, backdoor
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.byzantine_bench import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 4, 1, 2, 2
    c.defenses = "momentum:beta=0.5+nnm+fltrust"
    for k, v in kw.items():
        c[k] = v
    return c


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    from projects.byzantine_bench import train

    a, b = tmp_path / "a", tmp_path / "b"
    full = train.train_and_evaluate(_config(), str(a))
    assert full["step"] == 4 and np.isfinite(full["test_loss"]) and full["byzantine_clients"] == 4
    train.train_and_evaluate(_config(total=2), str(b))
    final = train.train_and_evaluate(_config(), str(b))
    assert final["resumed_from"] == 2
    ca, cb = load_checkpoint(a, 4), load_checkpoint(b, 4)
    assert_trees_equal(ca, cb)
    assert metric_rows(a)[2:] == metric_rows(b)[2:]


def test_parse_defenses():
    from projects.byzantine_bench import train

    assert train.parse_defenses("momentum:beta=0.5+bucketing:s=2") == [("momentum", {"beta": 0.5}),
                                                                       ("bucketing", {"s": 2})]
    assert train.parse_defenses("none") == [] and train.parse_defenses("") == []


@pytest.mark.parametrize("kw,err,match", [
    ({"defenses": "bucketing:s=17"}, aggregate.AggregatorConfigError, "larger than the cohort"),
    ({"aggregator": "krum", "defenses": "bucketing:s=2"}, aggregate.AggregatorConfigError, r"n > 2f \+ 2"),
    ({"aggregator": "bulyan", "defenses": ""}, aggregate.AggregatorConfigError, "4f"),
    ({"defenses": "fltrust", "root_size": 0}, aggregate.RootSetError, "empty"),
    ({"attack": "fang", "attack_params": {"rule": "krum"}, "knowledge": "omniscient"},
     attacks.AttackKnowledgeError, "full"),
    ({"attack": "min_max", "attack_params": {"perturbation": "x"}}, attacks.AttackConfigError, "perturbation"),
    ({"defenses": "shield"}, aggregate.AggregatorConfigError, "unknown"),
    ({"attack": "backdoor", "attack_params": {"target": 0}}, backdoor.TriggerError, "not a square image"),
    ({"attack": "backdoor", "attack_params": {"target": 10}, "synthetic_dim": 64}, backdoor.TargetClassError,
     r"\[0, 10\)"),
    ({"attack": "backdoor", "attack_params": {"size": 9}, "synthetic_dim": 64}, backdoor.TriggerError,
     "does not fit"),
    ({"attack": "backdoor", "attack_params": {"poison_fraction": 1.5}}, attacks.AttackConfigError,
     "poison_fraction"),
])
def test_bad_config_named_before_any_work(kw, err, match):
    from projects.byzantine_bench import train

    with pytest.raises(err, match=match):
        train.validate(_config(**kw))


@pytest.mark.slow
def test_grid_cell_equals_train_run_resumes_and_records_not_applicable(tmp_path):
    import argparse

    from projects.byzantine_bench import grid, train

    out = tmp_path / "res"
    args = argparse.Namespace(config="configs/byzantine_bench/default.py", results=str(out),
                              configs="bucketing+krum,momentum+nnm+cclip", attacks="none,min_max_unit,label_flip",
                              fraction="0.25", set=["total=2"], limit=2)
    assert grid.run_grid(args) == 2
    na = json.loads((out / "bucketing+krum" / "min_max_unit_0.25_s0.json").read_text())
    assert na["status"] == "not applicable" and "2f + 2" in na["reason"]
    first = (out / "momentum+nnm+cclip" / "none_0.25_s0.json").read_text()
    args.limit = 0
    assert grid.run_grid(args) == 1  # only the missing cell
    assert (out / "momentum+nnm+cclip" / "none_0.25_s0.json").read_text() == first
    cell = json.loads((out / "momentum+nnm+cclip" / "min_max_unit_0.25_s0.json").read_text())
    c = grid.cell_config(_config(total=2), "momentum+nnm+cclip", "min_max_unit", 0.25)
    c.log_every = c.eval_every = c.checkpoint_every = 2
    ref = train.train_and_evaluate(c, str(tmp_path / "ref"))
    np.testing.assert_allclose(cell["test_loss"], ref["test_loss"], rtol=1e-5)
    md = grid.report(str(out), plot=False)
    assert "| momentum+nnm+cclip |" in md and "| bucketing+krum | n/a |" in md


@pytest.mark.slow  # two compiles (~25 s on 2 cores)
def test_backdoor_cells_report_asr_and_equal_a_train_run(tmp_path):
    """The backdoor grid cell (own compile) records the attack success rate and equals the
    lib.train run of the same configuration; the 4 attackers move the model (vs no attack)."""
    import argparse

    from projects.byzantine_bench import grid, train

    out = tmp_path / "res"
    args = argparse.Namespace(config="configs/byzantine_bench/default.py", results=str(out), configs="median",
                              attacks="none,backdoor", fraction="0.25",
                              set=["total=3", "synthetic_dim=64", "defenses=none"], limit=0)
    assert grid.run_grid(args) == 2
    cell = json.loads((out / "median" / "backdoor_0.25_s0.json").read_text())
    clean = json.loads((out / "median" / "none_0.25_s0.json").read_text())
    assert cell["status"] == "ok" and 0.0 <= cell["backdoor_asr"] <= 1.0 and cell["byzantine_clients"] == 4
    assert cell["test_loss"] != clean["test_loss"]
    c = grid.cell_config(_config(total=3, synthetic_dim=64, defenses="none"), "median", "backdoor", 0.25)
    c.log_every = c.eval_every = c.checkpoint_every = 3
    ref = train.train_and_evaluate(c, str(tmp_path / "ref"))
    np.testing.assert_allclose(cell["test_loss"], ref["test_loss"], rtol=1e-5)
    np.testing.assert_allclose(cell["backdoor_asr"], ref["backdoor_asr"], atol=1e-6)
    s = {(r["config"], r["fraction"]): r for r in grid.summarize(grid.load_rows(str(out)))}
    assert s[("median", 0.25)]["backdoor_asr"] == cell["backdoor_asr"]
    assert s[("median", 0.25)]["attacks"] == 0  # the backdoor is not in the untargeted worst case
