"""lib.train.run: the non-finite guard names the first bad step and never saves a bad state;
the workdir lock; config.json only after validation; the keys every project shares."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from lib import train, workdir
from lib.checkpoint import CheckpointMismatchError
from lib.config import ConfigError
from lib.errors import NonFiniteError, WorkdirError
from tests.helpers import REPO


def _config(**kw):
    c = {"project": "t", "seed": 0, "total": 6, "log_every": 1, "eval_every": 0, "checkpoint_every": 1,
         "keep_checkpoints": 10, "init_from": None, "lr": 1.0}
    return ConfigDict({**c, **kw})


def _state(n=3):
    return {"step": jnp.int32(0), "params": {"w": jnp.ones(n)}}


def _step(bad_state_at=None, bad_loss_at=None):
    """w <- w + 1; the state after update k is at step k. Poison the state at step
    `bad_state_at`, or report a NaN loss for the state at step `bad_loss_at`."""
    @jax.jit
    def step(state, batch):
        s = state["step"]
        w = state["params"]["w"] + 1.0
        if bad_state_at is not None:
            w = jnp.where(s + 1 == bad_state_at, w.at[1].set(jnp.inf), w)
        loss = jnp.sum(state["params"]["w"])
        if bad_loss_at is not None:
            loss = jnp.where(s == bad_loss_at, jnp.nan, loss)
        return {"step": s + 1, "params": {"w": w}}, {"loss": loss}
    return step


def _saved(tmp_path):
    return sorted(int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit())


def test_nonfinite_state_names_its_step_and_is_never_saved(tmp_path):
    with pytest.raises(NonFiniteError, match=r"train state became non-finite at step 4 \(the update from step 3.*"
                                             r"\['params'\]\['w'\].*Last good checkpoint: step 3 in"):
        train.run(_config(), str(tmp_path), state=_state(), step_fn=_step(bad_state_at=4), num_steps=6)
    assert _saved(tmp_path) == [1, 2, 3]


def test_nonfinite_loss_names_the_state_it_belongs_to_and_sets_its_checkpoint_aside(tmp_path):
    """The loss of the state at step 3 is computed by the update to step 4; checkpoint 3,
    saved before that was known, is moved aside (issue 11 item 3: it used to be 'last good')."""
    with pytest.raises(NonFiniteError, match=r"training loss is nan at step 3 .*Last good checkpoint: step 2 in"):
        train.run(_config(), str(tmp_path), state=_state(), step_fn=_step(bad_loss_at=3), num_steps=6)
    assert _saved(tmp_path) == [1, 2] and (tmp_path / "checkpoints" / "3.nonfinite").is_dir()


def test_nonfinite_eval_at_the_end_is_an_error_and_not_saved(tmp_path):
    """Issue 11 item 3: a run whose final evaluation was NaN used to exit 0 and save it."""
    with pytest.raises(NonFiniteError, match=r"evaluation of the state at step 3 gave non-finite \{'test_loss': nan\}"):
        train.run(_config(checkpoint_every=0), str(tmp_path), state=_state(), step_fn=_step(), num_steps=3,
                  eval_fn=lambda st: {"test_loss": jnp.float32(jnp.nan), "n": 3})
    assert _saved(tmp_path) == [] and not (tmp_path / "final_metrics.json").exists()


@pytest.mark.parametrize("bad_step,kept", [(4, [1, 2, 3]), (5, [1, 2, 3, 4])])
def test_nonfinite_error_raised_inside_the_step_keeps_checkpoints_before_its_step(tmp_path, bad_step, kept):
    """E.g. the FL engine's NonFiniteUpdateError from the update of state 4: `step` 4 when
    the global model of round 4 was already broken, 5 when only the update from it was."""
    inner = _step()

    def step(state, batch):
        if int(state["step"]) == 4:
            raise NonFiniteError("round 4: diverged", step=bad_step)
        return inner(state, batch)

    with pytest.raises(NonFiniteError, match=f"round 4: diverged; .*Last good checkpoint: step {kept[-1]} in"):
        train.run(_config(), str(tmp_path), state=_state(), step_fn=step, num_steps=6)
    assert _saved(tmp_path) == kept and (tmp_path / "checkpoints" / "4.nonfinite").is_dir() == (bad_step == 4)


def test_resume_after_a_nonfinite_stop_with_a_fixed_config(tmp_path):
    with pytest.raises(NonFiniteError):
        train.run(_config(), str(tmp_path), state=_state(), step_fn=_step(bad_loss_at=3), num_steps=6)
    final = train.run(_config(), str(tmp_path), state=_state(), step_fn=_step(), num_steps=6)
    assert final["resumed_from"] == 2 and final["steps_run"] == 4 and _saved(tmp_path)[-1] == 6


@pytest.mark.parametrize("key,value,match", [
    ("seed", -1, r"config.seed=-1 must be an integer in \[0, 2\^32\)"),
    ("log_every", 0, "config.log_every=0 must be an integer >= 1"),
    ("keep_checkpoints", 0, "config.keep_checkpoints=0 must be an integer >= 1"),
    ("checkpoint_every", -5, "config.checkpoint_every=-5"),
    ("total", 0, "config.total=0 must be > 0 steps"),
    ("total", "0ep", "config.total='0ep' must be > 0 epochs"),
])
def test_shared_keys_are_checked_before_anything_runs(tmp_path, key, value, match):
    (tmp_path / "config.json").write_text('{"kept": true}')
    with pytest.raises(ConfigError, match=match):
        train.run(_config(**{key: value}), str(tmp_path), state=_state(), step_fn=_step(), num_steps=3)
    assert json.loads((tmp_path / "config.json").read_text()) == {"kept": True}  # the previous one stays


def test_changed_config_is_a_named_error_and_touches_nothing(tmp_path):
    """Issue 11 item 2: a state that does not fit the config used to restart silently from step 0
    and overwrite config.json, metrics.jsonl and final_metrics.json."""
    train.run(_config(), str(tmp_path), state=_state(3), step_fn=_step(), num_steps=4)
    before = {f: (tmp_path / f).read_bytes() for f in ("config.json", "metrics.jsonl", "final_metrics.json")}
    with pytest.raises(CheckpointMismatchError, match=r"step 4 .*params/w: saved float32\[3\], this config gives "
                       r"float32\[5\].*new --workdir.*saved config.json in: lr"):
        train.run(_config(lr=2.0), str(tmp_path), state=_state(5), step_fn=_step(), num_steps=4)
    assert before == {f: (tmp_path / f).read_bytes() for f in before}
    assert _saved(tmp_path) == [1, 2, 3, 4]


def test_checkpoint_past_total_is_a_named_error(tmp_path):
    train.run(_config(), str(tmp_path), state=_state(), step_fn=_step(), num_steps=4)
    with pytest.raises(WorkdirError, match="at step 4, past this run's 2 steps"):
        train.run(_config(), str(tmp_path), state=_state(), step_fn=_step(), num_steps=2)


_HOLD = """
import sys, time
from lib import workdir
workdir.acquire(sys.argv[1])
print("held", flush=True)
time.sleep(600)
"""


def test_second_run_on_a_live_workdir_fails_at_once_and_a_stale_lock_is_taken_over(tmp_path):
    """Issue 11 item 4: two runs on one workdir both used to run and interleave metrics.jsonl."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t = time.perf_counter()
        with pytest.raises(workdir.WorkdirLockedError, match=f"workdir {tmp_path} is in use by a live run "
                                                             f"\\(pid {holder.pid} on"):
            train.run(_config(), str(tmp_path), state=_state(), step_fn=_step(), num_steps=3)
        assert not (tmp_path / "metrics.jsonl").exists() and not (tmp_path / "checkpoints").exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # dies holding the lock: a stale lock
        holder.wait()
    final = train.run(_config(), str(tmp_path), state=_state(), step_fn=_step(), num_steps=3)
    assert final["steps_run"] == 3
    assert (tmp_path / ".lock.0").read_text() == ""  # released cleanly


def test_lock_is_reentrant_within_a_process(tmp_path):
    with workdir.lock(str(tmp_path)):
        with workdir.lock(str(tmp_path)):
            pass
        assert str(tmp_path / ".lock.0") in workdir._HELD  # still held by the outer one
    assert not workdir._HELD
