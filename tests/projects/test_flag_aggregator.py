"""Flag Aggregator project: smoke of default.py, bit-exact resume, label flipping, errors."""
import jax
import numpy as np
import pytest

from lib.fl import aggregate, attacks
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.flag_aggregator import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 4, 1, 2, 2
    for k, v in kw.items():
        c[k] = v
    return c


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    """Flag under sign flipping (25 % Byzantine): also the smoke test of default.py."""
    from projects.flag_aggregator import train

    a, b = tmp_path / "a", tmp_path / "b"
    full = train.train_and_evaluate(_config(), str(a))
    assert full["step"] == 4 and np.isfinite(full["test_loss"]) and full["byzantine_clients"] == 4
    train.train_and_evaluate(_config(total=2), str(b))  # "interrupted" at 2
    final = train.train_and_evaluate(_config(), str(b))
    assert final["resumed_from"] == 2
    assert_trees_equal(load_checkpoint(a, 4), load_checkpoint(b, 4))
    assert metric_rows(a)[2:] == metric_rows(b)[2:]


def test_label_flip_changes_only_byzantine_clients():
    from lib.fl import tasks
    from projects.flag_aggregator import train

    c = _config(attack="label_flip", aggregator="median", rule_params={})
    task = tasks.load_task(c)
    byz = train.byzantine_mask(c)
    flipped = train.flip_client_labels(task.data, byz, task.num_classes)
    idx, ns = np.asarray(task.data.index), np.asarray(task.data.num_samples)
    y0, y1 = np.asarray(task.data.y), np.asarray(flipped.y)
    for cl in range(c.num_clients):
        rows = idx[cl, : ns[cl]]
        expect = task.num_classes - 1 - y0[rows] if byz[cl] else y0[rows]
        np.testing.assert_array_equal(y1[rows], expect)
    assert byz.sum() == 4


def test_byzantine_choice_is_reproducible():
    from projects.flag_aggregator import train

    assert np.array_equal(train.byzantine_mask(_config()), train.byzantine_mask(_config()))
    assert not np.array_equal(train.byzantine_mask(_config()), train.byzantine_mask(_config(seed=1)))


@pytest.mark.parametrize("kw,err,match", [
    ({"aggregator": "krumm"}, aggregate.AggregatorConfigError, "krumm"),
    ({"aggregator": "bulyan", "rule_params": {}}, aggregate.AggregatorConfigError, "4f"),
    ({"attack": "lie"}, attacks.AttackConfigError, "lie"),
    ({"attack": "none"}, Exception, "needs config.attack"),
    ({"byzantine_fraction": 0.6}, Exception, "byzantine_fraction"),
])
def test_bad_config_named_before_any_work(tmp_path, kw, err, match):
    from projects.flag_aggregator import train

    with pytest.raises(err, match=match):
        train.validate(_config(**kw))


def test_fast_grid_cells_match_train_path(tmp_path):
    """fast.Runner (one compile, rule/attack/labels chosen at run time) reproduces
    train.train_and_evaluate cell by cell: a stateful rule under a traced-z attack, and a
    coordinate-wise rule under data-level label flipping."""
    from projects.flag_aggregator import fast, train

    cells = [_config(aggregator="centered_clipping", attack="alie", rule_params={}),
             _config(aggregator="median", attack="label_flip", rule_params={}),
             _config(aggregator="flag", attack="sign_flip")]
    r = fast.Runner(cells[0], [fast.variant_of(c) for c in cells])
    for i, c in enumerate(cells[:2]):
        ref = train.train_and_evaluate(c, str(tmp_path / str(i)))
        got = r.run(c)
        assert got["status"] == "ok" and got["step"] == ref["step"] == 4
        assert got["byzantine_clients"] == ref["byzantine_clients"] == 4
        np.testing.assert_allclose(got["test_loss"], ref["test_loss"], rtol=1e-5)
        assert abs(got["test_accuracy"] - ref["test_accuracy"]) < 1e-6
    assert r.compiles == 1
    # the attack is really applied: same rule, no attack vs sign flipping differ
    clean = r.run(_config(aggregator="flag", attack="none", byzantine_fraction=0.0))
    flipped = r.run(cells[2])
    assert r.compiles == 1 and clean["test_loss"] != flipped["test_loss"]


def test_grid_driver_resumes_and_records_not_applicable(tmp_path, capsys):
    """table.run_grid: Bulyan at 25 % of 16 clients is recorded as not applicable with the
    rule's named error; --limit stops early and a second call runs only the missing cells."""
    import argparse
    import json

    from projects.flag_aggregator import table

    out = tmp_path / "res"
    args = argparse.Namespace(config="configs/flag_aggregator/default.py", results=str(out),
                              rules="median,bulyan", attacks="sign_flip,ipm", fractions="0.25",
                              set=["total=2"], limit=1)
    table.run_grid(args)
    files = sorted(p.name for p in out.glob("*.json"))
    assert files == ["bulyan_ipm_0.25.json", "bulyan_sign_flip_0.25.json", "median_sign_flip_0.25.json"]
    na = json.loads((out / "bulyan_ipm_0.25.json").read_text())
    assert na["status"] == "not applicable" and "4f + 3" in na["reason"]
    first = (out / "median_sign_flip_0.25.json").read_text()
    args.limit = 0
    table.run_grid(args)
    assert (out / "median_sign_flip_0.25.json").read_text() == first  # finished cell skipped
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(rows) == 4 and len(ok) == 2 and all(0 <= r["test_accuracy"] <= 1 for r in ok)
    md = table.report_dataset(rows, "synthetic", 0.01)
    assert "| bulyan | n/a | n/a |" in md and "| median |" in md
