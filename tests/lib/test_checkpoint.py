import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.checkpoint import Checkpointer


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
    with pytest.raises(FileNotFoundError, match="init_from"):
        Checkpointer(str(tmp_path / "c"), every=1, init_from=str(tmp_path / "nope"),
                     handle_sigterm=False).restore(_state(0))
