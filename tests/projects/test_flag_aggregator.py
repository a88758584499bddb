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
