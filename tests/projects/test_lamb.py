"""The LAMB project: smoke, bit-exact resume after SIGKILL, SIGTERM, NaN stop, bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from lib.config import ConfigError
from lib.data.common import DataError, MissingDataError
from tests.helpers import REPO, assert_trees_equal, load_checkpoint, metric_rows, run_killed_after_checkpoint, run_main

CFG = "configs/lamb/default.py"
SHORT = ["--config.total=20", "--config.checkpoint_every=5", "--config.log_every=1", "--config.eval_every=5",
         "--config.batch_size=64"]


def _config(**kw):
    from configs.lamb import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = "12", 4, 6, 6
    for k, v in kw.items():
        c[k] = str(v) if k == "total" else v
    return c


def test_smoke_data_parallel_on_8_devices(tmp_path):
    from projects.lamb import train

    assert jax.device_count() == 8
    final = train.train_and_evaluate(_config(total=30), str(tmp_path))
    assert final["step"] == 30 and final["devices"] == 8
    assert final["test_accuracy"] > 0.5  # 30 LAMB steps on digits: far above chance (0.1)
    rows = metric_rows(tmp_path)
    assert rows[0]["step"] == 4 and "train_loss" in rows[0]
    assert rows[-1]["step"] == 30 and "test_accuracy" in rows[-1]
    assert os.path.exists(tmp_path / "checkpoints" / "30")




@pytest.mark.slow
def test_resume_after_sigkill_is_bit_exact(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run_main("lamb", CFG, a, *SHORT)
    killed = run_killed_after_checkpoint("lamb", CFG, b, 10, *SHORT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not os.path.exists(b / "final_metrics.json")
    resumed = run_main("lamb", CFG, b, *SHORT)
    assert json.load(open(b / "final_metrics.json"))["resumed_from"] == 10, resumed.stderr[-2000:]
    assert_trees_equal(load_checkpoint(a, 20), load_checkpoint(b, 20))  # params, opt state, step
    assert metric_rows(a) == metric_rows(b)  # losses, accuracies, lr: every logged step


@pytest.mark.slow
def test_sigterm_saves_and_exits_cleanly_then_resumes(tmp_path):
    args = [sys.executable, "-m", "projects.lamb.main", f"--config={CFG}", f"--workdir={tmp_path}",
            "--config.total=100000", "--config.checkpoint_every=100000", "--config.log_every=1",
            "--config.eval_every=0"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size > 0):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "Preempted" in out
    steps = sorted(int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit())
    assert steps and 0 < steps[-1] < 100000
    saved = steps[-1]
    run_main("lamb", CFG, tmp_path, f"--config.total={saved + 5}", "--config.eval_every=0")
    final = json.load(open(tmp_path / "final_metrics.json"))
    assert final["resumed_from"] == saved and final["steps_run"] == 5


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    from lib.errors import NonFiniteError
    from projects.lamb import train

    cfg = _config(optimizer="sgd", base_lr=1e12, total=50, checkpoint_every=1, eval_every=0, log_every=1)
    with pytest.raises(NonFiniteError, match=r"at step (\d+).*Last good checkpoint: step (\d+)") as e:
        train.train_and_evaluate(cfg, str(tmp_path))
    import re

    bad, good = map(int, re.search(r"at step (\d+).*step (\d+) in", str(e.value)).groups())
    assert good == bad - 1
    saved = sorted(int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit())
    assert saved[-1] == good  # nothing written from the poisoned state
    leaves = jax.tree.leaves(load_checkpoint(tmp_path, good)["params"])
    assert all(np.isfinite(np.asarray(x)).all() for x in leaves)


def test_damaged_checkpoint_and_changed_config_lose_nothing(tmp_path):
    """Issue 11 items 1 and 2 as reported: a deleted step folder made every checkpoint
    'unreadable' (retrained from 0), and --config.optimizer=sgd on a finished LAMB workdir
    retrained SGD from 0 over its metrics."""
    import shutil

    from lib.checkpoint import CheckpointMismatchError
    from projects.lamb import train

    train.train_and_evaluate(_config(), str(tmp_path))  # 12 steps, checkpoints 6 and 12
    shutil.rmtree(tmp_path / "checkpoints" / "12" / "default")
    final = train.train_and_evaluate(_config(), str(tmp_path))
    assert final["resumed_from"] == 6 and final["steps_run"] == 6
    assert (tmp_path / "checkpoints" / "12.corrupt").is_dir() and (tmp_path / "checkpoints" / "12" / "default").is_dir()
    before = {f: (tmp_path / f).read_bytes() for f in ("config.json", "metrics.jsonl", "final_metrics.json")}
    with pytest.raises(CheckpointMismatchError, match=r"checkpoint step 12 .*does not fit this config.*--config.init_from"
                                                      r".*differs from the saved config.json in: .*optimizer"):
        train.train_and_evaluate(_config(optimizer="sgd"), str(tmp_path))
    assert before == {f: (tmp_path / f).read_bytes() for f in before}


@pytest.mark.parametrize("overrides,error,match", [
    ({"optimizer": "adam"}, ConfigError, r"config.optimizer='adam' is not allowed.*'lamb'"),
    ({"dataset": "cifar"}, ConfigError, r"config.dataset='cifar'.*\['digits', 'mnist'\]"),
    ({"lr_scaling": "cube"}, ConfigError, r"config.lr_scaling='cube'"),
    ({"mesh": (("data", 3),)}, ConfigError, r"config.mesh=\[\('data', 3\)\] does not divide the 8 devices"),
    ({"batch_size": 100}, ConfigError, r"config.batch_size=100 is not divisible by the 'data' mesh axis size 8"),
    ({"base_lr": -0.1}, ConfigError, r"config.base_lr=-0.1 must be"),
    ({"total": "ten"}, ConfigError, r"config.total='ten' is not a duration"),
    ({"dataset": "mnist", "data_dir": "/nonexistent"}, MissingDataError, r"/nonexistent/mnist/mnist.npz"),
    ({"b1": 2.0}, ConfigError, r"config.b1=2.0 must be in \[0, 1\)"),
    ({"batch_size": 4096}, ConfigError, r"config.batch_size=4096 is larger than the training set \(1348 examples\)"),
])
def test_bad_input_is_named_before_any_compile(tmp_path, no_compiles, overrides, error, match):
    from projects.lamb import train

    with pytest.raises(error, match=match):
        train.train_and_evaluate(_config(**overrides), str(tmp_path))
    assert no_compiles == []


def test_malformed_data_file_is_named(tmp_path, no_compiles):
    from projects.lamb import train

    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "mnist.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="mnist.npz is not a readable .npz"):
        train.train_and_evaluate(_config(dataset="mnist", data_dir=str(tmp_path)), str(tmp_path / "w"))
    assert no_compiles == []


def test_cli_unknown_key_wrong_type_and_wrong_project(tmp_path):
    p = run_main("lamb", CFG, tmp_path, "--config.optimzer=sgd", check=False)
    assert p.returncode == 2 and "unknown config key" in p.stderr and 'Did you mean "optimizer"' in p.stderr
    p = run_main("lamb", CFG, tmp_path, "--config.batch_size=big", check=False)
    assert p.returncode != 0 and "--config.batch_size=big" in p.stderr and "int" in p.stderr
    wrong = tmp_path / "other.py"
    wrong.write_text("from configs.lamb.default import get_config as g\n"
                     "def get_config(arg=None):\n    c = g(arg)\n    c.project = 'fedau'\n    return c\n")
    p = run_main("lamb", str(wrong), tmp_path, check=False)
    assert p.returncode == 2 and "config.project='fedau' but this is projects/lamb" in p.stderr
    assert not os.path.exists(tmp_path / "checkpoints")
