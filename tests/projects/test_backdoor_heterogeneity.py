"""backdoor_heterogeneity: smoke of default.py (ASR beside accuracy), bit-exact resume, the
attacker's IID data, and named errors before any compile."""
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.backdoor_heterogeneity import default

    c = default.get_config()
    for k, v in kw.items():
        node, *path = k.split(".")
        if path:
            c[node][path[0]] = v
        else:
            c[k] = v
    return c


@pytest.mark.slow  # three short runs, one compile each: ~35 s on 2 cores
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    from projects.backdoor_heterogeneity import train

    a, b = tmp_path / "a", tmp_path / "b"
    full = train.train_and_evaluate(_config(), str(a))  # also the smoke test
    assert full["step"] == 6 and full["attackers"] == 2 and 0 <= full["backdoor_asr"] <= 1
    assert np.isfinite(full["test_loss"]) and full["test_accuracy"] > 0.2
    evals = [r for r in metric_rows(a) if "backdoor_asr" in r]
    assert [r["step"] for r in evals] == [3, 6]
    train.train_and_evaluate(_config(total=3), str(b))  # "interrupted" at round 3
    final = train.train_and_evaluate(_config(), str(b))
    assert final["resumed_from"] == 3
    assert_trees_equal(load_checkpoint(a, 6), load_checkpoint(b, 6))
    assert [r for r in metric_rows(a) if r["step"] == 6] == [r for r in metric_rows(b) if r["step"] == 6]
    assert final["backdoor_asr"] == full["backdoor_asr"]


def test_attacker_iid_data_and_heterogeneity_index():
    from lib.fl import tasks
    from projects.backdoor_heterogeneity import train

    c = _config(attacker_data="iid")
    task = tasks.load_task(c)
    byz = train.attacker_mask(c)
    d = train.with_attacker_data(c, task.data, byz)
    for k in range(c.num_clients):
        n = int(task.data.num_samples[k])
        same = np.array_equal(d.index[k, :n], task.data.index[k, :n])
        assert same != bool(byz[k])  # only the attackers' rows change
        assert len(set(d.index[k, :n].tolist())) == n  # without replacement
    assert train.heterogeneity_index(np.array([[5, 5], [5, 5]])) == 0.0
    assert train.heterogeneity_index(np.array([[4, 0], [0, 4]])) == pytest.approx(0.5)


@pytest.mark.parametrize("key,value,match", [
    ("backdoor.trigger", {"row": 6, "col": 0, "size": 4, "value": 1.0}, "does not fit in the 8x8 image"),
    ("backdoor.target", 10, r"target=10 must be a class in \[0, 10\)"),
    ("backdoor.poison_fraction", 1.2, r"poison_fraction=1.2 must be in \[0, 1\]"),
    ("backdoor.boost", -1.0, "boost=-1.0"),
    ("backdoor.end_round", 0, "end_round=0 must be > start_round=0"),
    ("attacker_data", "uniform", "config.attacker_data='uniform'"),
    ("byzantine_fraction", 0.6, "byzantine_fraction=0.6"),
    ("aggregator", "krumm", "krumm"),
    ("dataset", "cifar", "config.dataset='cifar'"),
])
def test_bad_config_named_before_compile(tmp_path, no_compiles, key, value, match):
    from projects.backdoor_heterogeneity import train

    with pytest.raises(ConfigError, match=match):
        train.train_and_evaluate(_config(**{key: value}), str(tmp_path))
    assert no_compiles == []
