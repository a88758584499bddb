"""The round engine: sharding invariance, exact resume, client state, NaN stop, errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.data.synthetic_fl import synthetic
from lib.fl import client, engine, participation, server, state as state_lib


def _apply(p, x):
    return x @ p["w"] + p["b"]


LOSS = client.xent_loss(_apply)
LOCAL = client.LocalConfig(batch_size=8, mode="epochs", num_epochs=1)


@pytest.fixture(scope="module")
def fed():
    d = synthetic(num_clients=16, dim=10, num_classes=4, seed=3, min_size=5, max_size=40)
    return client.pack_clients(d.x, d.y, d.parts, 8)


def _params():
    return {"w": jnp.zeros((10, 4)), "b": jnp.zeros(4)}


def counting_update(base):
    """Wraps a local update so each client counts its participations in its client state."""

    def f(params, pool, c, cstate, key, hp):
        d, _, m = base(params, pool, c, cstate, key, hp)
        return d, cstate + 1, m

    return f


def memory_strategy(n, beta=0.5):
    """A FedStale-like strategy using lib.fl.state (memory + interval stats)."""

    def init(params):
        return {"h": state_lib.memory_init(n, params), "iv": state_lib.intervals_init(n)}

    def prepare(s, deltas, ctx):
        flat = state_lib.flatten_clients(deltas)
        h = state_lib.memory_gather(s["h"], ctx["idx"])
        w = jnp.where(ctx["valid"], state_lib.interval_weights(s["iv"])[jnp.minimum(ctx["idx"], n - 1)], 0.0)
        upd = state_lib.unflatten_clients(flat - beta * h, deltas)
        return upd, w, w.sum() / n, s

    def finish(s, direction, deltas, ctx):
        mean_h = state_lib.unflatten_clients(beta * s["h"].mean(0, keepdims=True), jax.tree.map(lambda a: a[:1], deltas))
        direction = jax.tree.map(lambda a, b: a + b[0], direction, mean_h)
        h = state_lib.memory_scatter(s["h"], ctx["idx"], ctx["valid"], state_lib.flatten_clients(deltas))
        iv = state_lib.intervals_update(s["iv"], ctx["participating"], cutoff=5)
        return direction, {"h": h, "iv": iv}

    return engine.Strategy("memory", init, prepare, finish)


def _sim(fed, ndev, part=None, **kw):
    n = fed.index.shape[0]
    part = part or participation.markov(np.linspace(0.2, 0.9, n), max_to_active=0.3)
    return engine.build(
        loss_fn=LOSS, local=LOCAL, participation=part, server_opt=server.make("fedavgm", 1.0, momentum=0.5),
        mesh=engine.clients_mesh(ndev), capacity=n, **kw)


@pytest.fixture(scope="module")
def sim8(fed):
    """One compiled simulation shared by most tests (compiles dominate test time on CPU)."""
    sim = _sim(fed, 8, strategy=memory_strategy(16), client_state_init=lambda p: jnp.int32(0),
               local_update=counting_update(client.make_local_update(LOSS, LOCAL)))
    return sim, jax.jit(engine.round_fn(sim))


def _run(step, st, data, rounds, sim=None):
    for _ in range(rounds):
        st, m = step(st, data, {"lr": 0.1})
        if sim is not None:
            engine.check_round(sim, jax.device_get(m))
    return st


def _masks(sim, seed, rounds):
    """Replays the participation stream of a run from its seed (engine's key layout)."""
    key = jax.random.PRNGKey(seed)
    ps = sim.participation.init(jax.random.fold_in(key, 2**31 - 1))
    out = []
    for r in range(rounds):
        m, ps = sim.participation.sample(ps, jax.random.fold_in(jax.random.fold_in(key, r), 0), r)
        out.append(np.asarray(m))
    return np.stack(out)


def _assert_trees_equal(a, b, exact=True):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb) > 0
    for x, y in zip(la, lb):
        if exact:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        else:
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)


def test_sharded_8_devices_equals_1_device(fed, sim8):
    assert len(jax.devices()) == 8
    sim, step = sim8
    st8 = _run(step, engine.init(sim, _params(), seed=0), engine.put_data(sim, fed), 3, sim)
    sim1 = _sim(fed, 1, strategy=memory_strategy(16), client_state_init=lambda p: jnp.int32(0),
                local_update=counting_update(client.make_local_update(LOSS, LOCAL)))
    st1 = _run(jax.jit(engine.round_fn(sim1)), engine.init(sim1, _params(), seed=0), engine.put_data(sim1, fed), 3)
    # same participants and client keys; per-client math identical up to float reassociation
    _assert_trees_equal(st8["participation"], st1["participation"])
    _assert_trees_equal(st8["clients"], st1["clients"])
    _assert_trees_equal(st8["params"], st1["params"], exact=False)
    _assert_trees_equal(st8["strategy"], st1["strategy"], exact=False)


def test_client_batch_auto_is_sequential_on_cpu(sim8):
    sim, _ = sim8
    assert sim.client_batch == "auto" and engine.resolve_client_batch(sim) == 1
    assert engine.resolve_client_batch(sim._replace(client_batch=None)) is None


@pytest.mark.parametrize("client_batch", ["auto", 3])
def test_client_batch_groups_equal_all_vmapped(fed, sim8, client_batch):
    """Clients trained in sequential groups (lax.map) == all vmapped at once (2 clients per device
    on 8 devices: groups of 1 (the CPU default), and 3 which leaves a remainder)."""
    sim, _ = sim8
    simv = sim._replace(client_batch=None)
    st_all = _run(jax.jit(engine.round_fn(simv)), engine.init(simv, _params(), seed=0), engine.put_data(simv, fed), 2)
    simg = sim._replace(client_batch=client_batch)
    st_g = _run(jax.jit(engine.round_fn(simg)), engine.init(simg, _params(), seed=0), engine.put_data(simg, fed), 2)
    _assert_trees_equal(st_all["clients"], st_g["clients"])
    _assert_trees_equal(st_all["params"], st_g["params"], exact=False)


def test_interrupted_and_resumed_run_is_bit_identical(fed, sim8, tmp_path):
    from lib.checkpoint import Checkpointer

    sim, step = sim8
    data = engine.put_data(sim, fed)
    fresh = engine.init(sim, _params(), seed=1)
    full = _run(step, fresh, data, 4, sim)

    ck = Checkpointer(str(tmp_path), every=2, handle_sigterm=False)
    part = _run(step, fresh, data, 2, sim)
    ck.save(2, part)
    ck.close()
    del part
    ck2 = Checkpointer(str(tmp_path), every=2, handle_sigterm=False)
    restored, source = ck2.restore(engine.init(sim, _params(), seed=1))
    ck2.close()
    assert source == "workdir" and int(restored["step"]) == 2
    resumed = _run(step, engine.put_state(sim, restored), data, 2, sim)
    _assert_trees_equal(full, resumed, exact=True)
    # per-client state scattered back correctly: counter == participations; FedAU stats agree
    masks = _masks(sim, 1, 4)
    np.testing.assert_array_equal(np.asarray(full["clients"]), masks.sum(0))
    assert masks.sum(0).min() < 4 and masks.sum() > 0
    iv = full["strategy"]["iv"]
    np.testing.assert_array_equal(np.asarray(iv.count), (masks.sum(0) + 0))  # cutoff 5 > 4 rounds


def test_round_is_pure_function_of_state(fed, sim8):
    sim, step = sim8
    data = engine.put_data(sim, fed)
    st = engine.init(sim, _params(), seed=2)
    a, _ = step(st, data, {"lr": 0.1})
    b, _ = step(st, data, {"lr": 0.1})
    _assert_trees_equal(a, b)
    c, _ = step(a, data, {"lr": 0.1})
    assert not np.array_equal(np.asarray(c["params"]["w"]), np.asarray(a["params"]["w"]))


def test_nan_update_stops_with_round_and_client(fed, sim8):
    sim, step = sim8
    bad_client = int(np.flatnonzero(_masks(sim, 0, 1)[0])[0])
    x = np.array(fed.x)
    x[fed.index[bad_client, : fed.num_samples[bad_client]]] = np.nan
    saved = []
    with pytest.raises(engine.NonFiniteUpdateError, match=f"round 0: client {bad_client} "):
        engine.run(sim, engine.init(sim, _params(), seed=0), engine.put_data(sim, fed._replace(x=x)),
                   lambda r: {"lr": 0.1}, 3, step=step, on_round=lambda s, m: saved.append(int(s["step"])))
    assert saved == []  # nothing was checkpointed from the poisoned state
    # a robust rule tolerates it (the run is not stopped by the engine)
    assert not sim._replace(stop_on_nonfinite=False).stop_on_nonfinite


def _fragile_loss(params, x, y):
    """Cross-entropy that turns NaN once |w| > 1e3: a model that diverged (linear softmax
    regression alone never overflows)."""
    return LOSS(params, x, y) + 0.0 * jnp.sqrt(1e3 - jnp.max(jnp.abs(params["w"])))  # NaN value and gradient


@pytest.fixture(scope="module")
def fragile(fed):
    """One compiled simulation (server lr 1e6) for the three causes of a non-finite update."""
    sim = engine.build(loss_fn=_fragile_loss, local=LOCAL, participation=participation.uniform(16, 16),
                       server_opt=server.make("sgd", 1e6), mesh=engine.clients_mesh(1))
    return sim, jax.jit(engine.round_fn(sim))


@pytest.mark.parametrize("local_lr,nan_client,match,bad_step", [
    (0.1, None, r"round 1: the global model of round 1 \(finite parameters\) already gives a non-finite loss "
                r"on the finite data of 16 of 16 participants.*server side diverged", 1),
    (1e5, None, r"round 0: client \d+ sent a non-finite \(NaN/inf\) update \(\d+ of 16 participants did\) from a "
                r"global model whose loss on every participant's data is finite: local training diverged", 1),
    (0.1, 5, r"round 0: client 5 sent a non-finite \(NaN/inf\) update \(1 of 16 participants did\): its data "
             r"holds NaN/inf", 1),
])
def test_divergence_is_named_server_or_client_side(fed, fragile, local_lr, nan_client, match, bad_step):
    """Issue 11 item 3: fedau with server.lr=1e6 blamed 'client 2' for a server-side divergence.
    Server lr 1e6 makes the global model diverge at round 1; local lr 1e5 makes local training
    diverge at round 0; NaN data makes one client's update NaN at round 0."""
    sim, step = fragile
    if nan_client is not None:
        x = np.array(fed.x)
        x[fed.index[nan_client, : fed.num_samples[nan_client]]] = np.nan
        fed = fed._replace(x=x)
    with pytest.raises(engine.NonFiniteUpdateError, match=match) as e:
        engine.run(sim, engine.init(sim, _params(), 0), engine.put_data(sim, fed), lambda r: {"lr": local_lr}, 4,
                   step=step)
    assert e.value.step == bad_step


@pytest.fixture(scope="module")
def median_sim(fed):
    sim = engine.build(loss_fn=LOSS, local=LOCAL, participation=participation.uniform(16, 16), aggregator="median",
                       server_opt=server.make("sgd"), mesh=engine.clients_mesh(1))
    return sim, jax.jit(engine.round_fn(sim))


def _nan_clients(fed, clients):
    x = np.array(fed.x)
    for c in clients:
        x[fed.index[c, : fed.num_samples[c]]] = np.nan
    return fed._replace(x=x)


def test_robust_rule_goes_on_past_a_few_nonfinite_clients(fed, median_sim):
    sim, step = median_sim
    assert not sim.stop_on_nonfinite
    st, m = step(engine.init(sim, _params(), 0), engine.put_data(sim, _nan_clients(fed, [3])), {"lr": 0.1})
    engine.check_round(sim, jax.device_get(m))
    assert int(m["nonfinite_clients"]) == 1 and bool(m["aggregate_finite"])
    assert np.isfinite(float(m["loss"]))  # the round's loss is over the finite clients (lib.train checks it)


def test_robust_rule_whose_aggregate_is_not_finite_stops(fed, median_sim):
    """Issue 11 item 7: only fedavg runs stopped on non-finite values; a robust rule with more
    non-finite clients than it withstands went on with inf parameters."""
    sim, step = median_sim
    with pytest.raises(engine.NonFiniteUpdateError, match="round 0: client 0 .*more than the robust rule withstands"):
        engine.run(sim, engine.init(sim, _params(), 0), engine.put_data(sim, _nan_clients(fed, range(12))),
                   lambda r: {"lr": 0.1}, 2, step=step)


def test_capacity_overflow_is_an_error(fed):
    sim = engine.build(loss_fn=LOSS, local=LOCAL, participation=participation.bernoulli(np.full(16, 0.9)),
                       server_opt=server.make("sgd"), capacity=8, mesh=engine.clients_mesh(1))
    st = engine.init(sim, _params(), seed=0)
    with pytest.raises(engine.CapacityError, match="round 0: 1[0-9] clients participated"):
        engine.run(sim, st, engine.put_data(sim, fed), lambda r: {"lr": 0.1}, 1)


def test_bad_config_named_errors(fed):
    part = participation.uniform(16, 4)
    common = dict(loss_fn=LOSS, local=LOCAL, participation=part, server_opt=server.make("sgd"))
    with pytest.raises(Exception, match="krumm"):
        engine.build(aggregator="krumm", **common)
    with pytest.raises(ValueError, match="teleport"):  # ConfigError or lib.fl.attacks.AttackConfigError
        engine.build(attack="teleport", **common)
    with pytest.raises(ConfigError, match="capacity=17"):
        engine.build(capacity=17, **common)
    with pytest.raises(ConfigError, match="client_batch=0"):
        engine.build(client_batch=0, **common)
    with pytest.raises(ConfigError, match="clients_per_round=20"):
        participation.uniform(16, 20)


def test_attack_applies_to_byzantine_participants_only(fed, monkeypatch):
    """With a sign-flip attack on every client, one FedAvg round moves the other way."""
    calls = []

    def sign_flip(updates, byz_mask, key, present=None, scale=1.0):
        calls.append(byz_mask.shape)
        return jax.tree.map(lambda u: jnp.where(byz_mask.reshape((-1,) + (1,) * (u.ndim - 1)), -scale * u, u), updates)

    monkeypatch.setattr(engine, "get_attack", lambda name: sign_flip if name == "sign_flip" else None)
    part = participation.uniform(16, 16)
    common = dict(loss_fn=LOSS, local=LOCAL, participation=part, server_opt=server.make("sgd"),
                  mesh=engine.clients_mesh(1))
    honest = engine.build(**common)
    byz = np.zeros(16, bool)
    byz[:8] = True
    attacked = engine.build(attack="sign_flip", byzantine=np.ones(16, bool), **common)
    outs = []
    for sim in (honest, attacked):
        st, m = jax.jit(engine.round_fn(sim))(engine.init(sim, _params(), 0), engine.put_data(sim, fed), {"lr": 0.1})
        outs.append(np.asarray(st["params"]["w"]))
    assert calls
    # every participant flipped: the server step is exactly reversed (params start at 0)
    assert np.abs(outs[0]).sum() > 0
    np.testing.assert_allclose(outs[1], -outs[0], rtol=1e-6, atol=1e-7)
    with pytest.raises(ConfigError, match="Byzantine clients are set but attack='none'"):
        engine.build(byzantine=byz, **common)
