"""FedFix project: smoke of default.py, bit-exact resume mid-schedule (in process and after SIGKILL),
named errors before anything is read or compiled."""
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows, run_killed_after_checkpoint, run_main


def _config(arg="fedfix", **clock):
    from configs.fedfix import default

    c = default.get_config(arg)
    c.clock.update(clock)
    return c


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from projects.fedfix import train

    wd = tmp_path_factory.mktemp("full")
    return wd, train.train_and_evaluate(_config(), str(wd))


def test_smoke_and_virtual_time_metrics(uninterrupted):
    wd, final = uninterrupted
    assert final["aggregations"] == final["step"] == 12 and final["virtual_time"] == 6.0
    assert final["test_accuracy"] > final["initial_eval"]["test_accuracy"]
    evals = [r for r in metric_rows(wd) if "test_accuracy" in r]
    assert [(r["first_mark"], r["virtual_time"]) for r in evals] == [(2.0, 2.0), (4.0, 4.0), (6.0, 6.0)]
    assert final["initial_eval"]["virtual_time"] == 0.0
    assert all(np.diff([r["bytes"] for r in evals]) > 0)


def test_interrupted_and_resumed_equals_uninterrupted(uninterrupted, tmp_path):
    from projects.fedfix import train

    full, _ = uninterrupted
    train.train_and_evaluate(_config(time_budget=2.7), str(tmp_path))  # stops mid-schedule (tasks in flight)
    saved = load_checkpoint(tmp_path, 5)
    assert np.asarray(saved["clock"]["s_status"]).any()  # pending events are in the checkpoint
    final = train.train_and_evaluate(_config(), str(tmp_path))
    assert final["resumed_from"] == 5
    assert_trees_equal(load_checkpoint(full, 12), load_checkpoint(tmp_path, 12))
    drop = ("steps_per_sec", "examples_per_sec")
    rows = lambda wd: [r for r in metric_rows(wd, drop) if r["step"] > 5]  # noqa: E731
    assert rows(full) == rows(tmp_path)


@pytest.mark.slow
def test_sigkill_mid_schedule_resumes_bit_exact(uninterrupted, tmp_path):
    full, _ = uninterrupted
    proc = run_killed_after_checkpoint("fedfix", "configs/fedfix/default.py", tmp_path, 8)
    assert proc.returncode == -9, proc.stderr[-2000:]
    run_main("fedfix", "configs/fedfix/default.py", tmp_path)
    assert_trees_equal(load_checkpoint(full, 12), load_checkpoint(tmp_path, 12))


def test_named_errors_before_compile():
    from projects.fedfix import train

    with pytest.raises(ConfigError, match="dt=0.0"):
        train.validate(_config(dt=0.0))
    with pytest.raises(ConfigError, match="buffer_size=13"):
        train.validate(_config("fedbuff", buffer_size=13))
    with pytest.raises(ConfigError, match="server.lr=1.0"):
        c = _config("fedasync")
        c.server.lr = 0.5
        train.validate(c)
    with pytest.raises(ValueError, match="unknown config arg"):
        _config("fedfox")


def test_femnist_config_loads_and_validates():
    from configs.fedfix import femnist
    from projects.fedfix import train

    for v, (schedule, over) in femnist.VARIANTS.items():
        c = femnist.get_config(f"{v}_s1")
        assert (c.clock.schedule, c.seed, c.dataset, c.partition) == (schedule, 1, "femnist", "natural")
        assert all(c.clock[k] == val for k, val in over.items())
        c.mesh = (("clients", -1),)  # the tests' 8 CPU devices; the runs use one
        train.validate(c)
    assert femnist.get_config().clock.dt == 2.5  # FedFix-0.5 of a 5 s slowest task
