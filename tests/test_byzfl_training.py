"""benchmarks/byzfl_training.py's mapping, where it is deterministic: full-batch clients (batch =
client size) from the same weights take the same server steps in lib.fl and in ByzFL's framework.
Skipped where torch / byzfl are not installed (CI)."""

import dataclasses
import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
if importlib.util.find_spec("byzfl") is None:
    pytest.skip("byzfl is not installed", allow_module_level=True)

from benchmarks import byzfl_training as bt  # noqa: E402
from lib.fl import client as client_lib, engine, tasks  # noqa: E402
from lib.models.mlp import MLP  # noqa: E402

N, F, B, LR = 8, 2, 8, 0.1  # N = the 8 simulated devices: one client slot each, no padded slot


def _task(seed=0, batch=B):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (N * B, 784)).astype(np.float32)
    y = rng.integers(0, 10, N * B).astype(np.int32)
    parts = [np.arange(k * B, (k + 1) * B) for k in range(N)]
    model = MLP(hidden=(100,), num_classes=10)
    params = model.init(jax.random.PRNGKey(seed), jnp.zeros((1, 784), jnp.float32))["params"]

    def loss_fn(p, xb, yb):
        import optax

        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, xb), yb)

    counts = np.stack([np.bincount(y[p], minlength=10) for p in parts])
    return tasks.Task(client_lib.pack_clients(x, y, parts, batch), x[:16], y[:16], counts, 10, model, params, loss_fn)


def _config(batch=B):
    c = bt.base_config(rounds=3, lr=LR, batch=batch)
    c.num_clients = c.clients_per_round = N
    c.byzantine_fraction = F / N
    c.mesh = (("clients", -1),)  # tests run on 8 simulated CPU devices
    return c


CASES = bt.cases(LR, n=N, f=F, cc_tau=0.05)
MEDIAN_CLEAN = dataclasses.replace(CASES["median / sign_flip"], name="median / none", attack="none", attack_params={},
                                   byz_attack=("NoAttack", {}), byzantine=False)


@pytest.mark.parametrize("case,rounds", [
    (CASES["fedavg / none"], 1), (MEDIAN_CLEAN, 1), (CASES["trimmed_mean / alie"], 1),
    (CASES["krum / ipm 0.1"], 1), (CASES["momentum 0.9 + nnm + cclip / alie"], 3)], ids=lambda v: v.name if isinstance(v, bt.Case) else str(v))
def test_same_server_steps(case, rounds, batch=B, replay=False):
    task = _task(batch=batch)
    config = bt.case_config(_config(batch), case)
    sim, byz = bt.build_ours(config, task)
    state = engine.init(sim, task.params, seed=0)
    step = engine.jit(sim, engine.round_fn(sim))
    data = engine.put_data(sim, task.data)
    byzfl, _ = bt._import_byzfl()
    honest = [int(k) for k in np.flatnonzero(~byz)]
    batches = bt.our_batches(task.data, 0, honest, rounds, batch) if replay else None
    peer = bt.ByzflRun(case, task.data, honest, (task.x_test, task.y_test), LR, batch, int(byz.sum()),
                       bt.torch_state(task.params, torch), seed=0, replay=batches)
    for r in range(rounds):
        before = bt.torch_state(state["params"], torch)
        state, _ = step(state, data, {"lr": np.float32(LR)})
        peer.round()
        ours = bt.torch_state(state["params"], torch)
        theirs = peer.server.get_dict_parameters()
        for name in ours:
            d_ours, d_theirs = (ours[name] - before[name]).numpy(), (theirs[name] - before[name]).numpy()
            assert np.abs(d_ours).max() > 1e-4, (r, name)  # the step is not trivially zero
            np.testing.assert_allclose(d_ours, d_theirs, atol=1e-5, err_msg=f"round {r} {name}")
        # keep both on exactly the same model, so later rounds test the rule state and momentum only
        peer.server.set_model_state({k: v.clone() for k, v in ours.items()})
        peer._broadcast()


def test_replayed_batches():
    """Mini-batches (batch 4 of 8 samples): ByzFL fed `our_batches` takes our engine's steps."""
    test_same_server_steps(CASES["trimmed_mean / alie"], rounds=2, batch=4, replay=True)
