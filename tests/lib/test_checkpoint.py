import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.checkpoint import CheckpointMismatchError, Checkpointer
from lib.config import ConfigError


def _state(step, scale=1.0):
    return {"step": jnp.int32(step), "params": {"w": jnp.full((4, 3), scale)}, "rng": jax.random.PRNGKey(step)}


def test_save_restore_keep_and_fresh(tmp_path):
    ck = Checkpointer(str(tmp_path), every=2, keep=2, handle_sigterm=False)
    assert ck.restore(_state(0))[1] == "fresh"
    for s in range(1, 7):
        ck.maybe_save(s, _state(s, float(s)))
    ck.wait()
    assert ck.all_steps() == [4, 6]  # every 2, keep 2
    ck.close()
    state, src = Checkpointer(str(tmp_path), every=2, handle_sigterm=False).restore(_state(0))
    assert src == "workdir" and int(state["step"]) == 6
    np.testing.assert_array_equal(state["params"]["w"], np.full((4, 3), 6.0))
    np.testing.assert_array_equal(state["rng"], jax.random.PRNGKey(6))


def test_corrupted_latest_falls_back_to_previous(tmp_path):
    ck = Checkpointer(str(tmp_path), every=1, keep=3, handle_sigterm=False)
    ck.save(1, _state(1, 1.0))
    ck.save(2, _state(2, 2.0))
    ck.close()
    latest = tmp_path / "checkpoints" / "2"
    for root, _, files in os.walk(latest):
        for f in files:
            with open(os.path.join(root, f), "wb") as fh:
                fh.write(b"\x00garbage")
    state, src = Checkpointer(str(tmp_path), every=1, handle_sigterm=False).restore(_state(0))
    assert src == "workdir" and int(state["step"]) == 1
    np.testing.assert_array_equal(state["params"]["w"], np.ones((4, 3)))


def test_partial_checkpoint_is_ignored(tmp_path):
    ck = Checkpointer(str(tmp_path), every=1, handle_sigterm=False)
    ck.save(3, _state(3, 3.0))
    ck.close()
    # what a run killed mid-save leaves: an unfinalised temporary folder
    os.makedirs(tmp_path / "checkpoints" / "4.orbax-checkpoint-tmp-123" / "default")
    state, _ = Checkpointer(str(tmp_path), every=1, handle_sigterm=False).restore(_state(0))
    assert int(state["step"]) == 3


def test_init_from_takes_only_params(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    ck = Checkpointer(str(a), every=1, handle_sigterm=False)
    ck.save(5, _state(5, 5.0))
    ck.close()
    ck = Checkpointer(str(b), every=1, init_from=str(a), handle_sigterm=False)
    state, src = ck.restore(_state(0, 0.0))
    ck.close()
    assert src == "init_from" and int(state["step"]) == 0
    np.testing.assert_array_equal(state["params"]["w"], np.full((4, 3), 5.0))
    np.testing.assert_array_equal(state["rng"], jax.random.PRNGKey(0))
    with pytest.raises(ConfigError, match="init_from.*no such checkpoint folder"):
        Checkpointer(str(tmp_path / "c"), every=1, init_from=str(tmp_path / "nope"),
                     handle_sigterm=False).restore(_state(0))


def test_init_from_needs_only_the_params_to_fit(tmp_path):
    """Another optimizer's run (different state apart from params) can seed this one."""
    a, b = tmp_path / "a", tmp_path / "b"
    ck = Checkpointer(str(a), every=1, handle_sigterm=False)
    ck.save(5, {**_state(5, 5.0), "opt": {"mu": jnp.ones(7)}})
    ck.close()
    state, src = Checkpointer(str(b), every=1, init_from=str(a), handle_sigterm=False).restore(
        {**_state(0, 0.0), "opt": {"trace": jnp.zeros(2)}})
    assert src == "init_from" and state["opt"]["trace"].shape == (2,)
    np.testing.assert_array_equal(state["params"]["w"], np.full((4, 3), 5.0))
    with pytest.raises(CheckpointMismatchError, match=r"params/w: saved float32\[4, 3\], this config gives float32\[2, 3\]"):
        Checkpointer(str(tmp_path / "c"), every=1, init_from=str(a), handle_sigterm=False).restore(
            {"step": jnp.int32(0), "params": {"w": jnp.zeros((2, 3))}})


def test_damaged_latest_step_is_set_aside_and_saved_again(tmp_path):
    """Issue 11 item 1: a deleted item folder in the latest step used to make every step look
    unreadable (one orbax manager reused after a failed restore) and the run restarted at 0."""
    ck = Checkpointer(str(tmp_path), every=1, keep=3, handle_sigterm=False)
    for s in (1, 2, 3):
        ck.save(s, _state(s, float(s)))
    ck.close()
    import shutil
    shutil.rmtree(tmp_path / "checkpoints" / "3" / "default")
    ck = Checkpointer(str(tmp_path), every=1, keep=3, handle_sigterm=False)
    state, src = ck.restore(_state(0))
    assert src == "workdir" and int(state["step"]) == 2
    np.testing.assert_array_equal(state["params"]["w"], np.full((4, 3), 2.0))
    assert (tmp_path / "checkpoints" / "3.corrupt").is_dir() and ck.all_steps() == [1, 2]
    ck.save(3, _state(3, 30.0))  # the next save of that step writes it anew
    ck.close()
    state, _ = Checkpointer(str(tmp_path), every=1, handle_sigterm=False).restore(_state(0))
    np.testing.assert_array_equal(state["params"]["w"], np.full((4, 3), 30.0))


def test_state_that_does_not_fit_is_a_named_error_not_a_restart(tmp_path):
    """Issue 11 item 2: a readable checkpoint of another config is not 'unreadable'."""
    ck = Checkpointer(str(tmp_path), every=1, handle_sigterm=False)
    ck.save(4, _state(4, 4.0))
    ck.close()
    other = {"step": jnp.int32(0), "params": {"w": jnp.zeros((4, 5)), "b": jnp.zeros(5)}, "rng": jax.random.PRNGKey(0)}
    with pytest.raises(CheckpointMismatchError, match=r"step 4 .*params/w: saved float32\[4, 3\], this config gives "
                       r"float32\[4, 5\].*1 leaves only in this config's state \(e.g. params/b\).*new --workdir.*init_from"):
        Checkpointer(str(tmp_path), every=1, handle_sigterm=False).restore(other)
    assert Checkpointer(str(tmp_path), every=1, handle_sigterm=False).all_steps() == [4]  # nothing moved or lost


def test_keep_zero_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="keep_checkpoints=0"):
        Checkpointer(str(tmp_path), every=1, keep=0, handle_sigterm=False)
