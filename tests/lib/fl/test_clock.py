"""lib.fl.clock: speed models, stragglers, the event schedules' rules, named errors, exact state
packing, and the batched executor against one-client-at-a-time local training."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from lib.config import ConfigError
from lib.fl.clock import run as crun
from lib.fl.clock import schedule as sched
from lib.fl.clock import speeds as sp


def _config(**clock):
    c = ConfigDict({"num_clients": 8, "seed": 0, "local": {"num_steps": 3, "mode": "steps"},
                    "server": {"optimizer": "sgd", "lr": 1.0}, "clock": crun.default_clock()})
    c.clock.update(clock)
    return c


def _clock(n=8, samples=None, **clock):
    c = _config(**clock)
    c.num_clients = n
    return crun.make_clock(c, {"w": np.zeros(250, np.float32)}, samples if samples is not None else np.arange(n) + 10)


def _plans(clock, k):
    st, out = clock.init(), []
    for _ in range(k):
        st, p = clock.advance(st)
        out.append(p)
    return out


def test_fedfix_speed_scenario():
    tau = sp.fedfix_taus(5, 80)
    np.testing.assert_allclose(tau, [1.0, 0.8, 0.6, 0.4, 0.2])  # F-80: the fastest needs 20 % of the slowest's time
    s = sp.make_speeds(ConfigDict({"speed": "fedfix", "speed_x": 80, "step_time": 2.0}), 5, 0)
    np.testing.assert_allclose(s.step_time, 2.0 * tau)


@pytest.mark.parametrize("clock, match", [
    ({"step_time": 0.0}, "step_time=0.0"), ({"step_time": -1.0}, "step_time"), ({"bandwidth": 0.0}, "bandwidth"),
    ({"bandwidth": -5.0}, "bandwidth"), ({"schedule": "fedfix", "dt": 0.0}, "dt=0.0"),
    ({"schedule": "fedfix", "dt": -1.0}, "dt"), ({"schedule": "fedbuff", "buffer_size": 9}, "buffer_size=9"),
    ({"schedule": "fedasync", "alpha": 0.0}, "alpha"), ({"schedule": "nope"}, "schedule='nope'"),
    ({"staleness": "nope"}, "staleness='nope'"), ({"speed": "trace", "trace_path": "/nonexistent.csv"}, "no such file"),
    ({"straggler": "gilbert_elliott", "ge_p_good_bad": 1.5}, "ge_p_good_bad"), ({"time_budget": 0.0}, "time_budget"),
    ({"speed": "lognormal", "step_time": float("nan")}, "step_time"),
])
def test_named_errors_before_compile(clock, match):
    with pytest.raises(ConfigError, match=match):
        crun.validate(_config(**clock))


def test_trace_file(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("client,step_time,bandwidth,extra\n0,0.5,1000,x\n1,2.0,,y\n2,1.0,500,z\n7,9.0,1,w\n")
    s = sp.make_speeds(ConfigDict({"speed": "trace", "trace_path": str(path), "bandwidth": 2000.0, "latency": 0.1}), 3, 0)
    np.testing.assert_allclose(s.step_time, [0.5, 2.0, 1.0])
    np.testing.assert_allclose(s.bandwidth, [1000, 2000, 500])  # empty cell: the config's value
    np.testing.assert_allclose(s.latency, [0.1] * 3)  # absent column: the config's value
    with pytest.raises(sp.TraceError, match=r"lacks 2 of the run's 5 clients \(e.g. \[3, 4\]\)"):
        sp.make_speeds(ConfigDict({"speed": "trace", "trace_path": str(path)}), 5, 0)
    path.write_text("client,step_time\n0,1.0\n1,0\n")
    with pytest.raises(ConfigError, match="client 1 has step_time=0.0"):
        sp.make_speeds(ConfigDict({"speed": "trace", "trace_path": str(path)}), 2, 0)


def test_task_time_is_compute_plus_two_messages():
    clock = _clock(n=2, speed="constant", step_time=0.5, bandwidth=1000.0, latency=0.25, schedule="sync")
    (p,) = _plans(clock, 1)
    assert p.time == pytest.approx(2 * (0.25 + 1000 / 1000) + 3 * 0.5)  # model 250 floats = 1000 bytes each way
    assert p.bytes == 4 * 1000  # 2 clients x (download + upload)


def test_schedule_is_deterministic_and_depends_on_the_seed():
    kw = dict(speed="lognormal", straggler="gilbert_elliott", schedule="fedbuff", buffer_size=3)
    a, b = _plans(_clock(**kw), 40), _plans(_clock(**kw), 40)
    for x, y in zip(a, b):
        assert x.time == y.time and np.array_equal(x.agg_clients, y.agg_clients)
        assert np.array_equal(x.close_tasks, y.close_tasks) and np.array_equal(x.agg_coef, y.agg_coef)
    c = _config(**kw)
    c.seed = 1
    other = _plans(crun.make_clock(c, {"w": np.zeros(250, np.float32)}, np.arange(8) + 10), 40)
    assert [p.time for p in other] != [p.time for p in a]


def test_sync_fedbuff_fedasync_rules():
    n_i = np.arange(8) + 10.0
    for p in _plans(_clock(schedule="sync", speed="fedfix"), 3):  # everyone, no staleness, weights n_i / sum n
        assert p.staleness.max() == 0 and set(p.agg_clients) == set(range(8))
        np.testing.assert_allclose(p.agg_coef, n_i[p.agg_clients] / n_i.sum())
    sync = _plans(_clock(schedule="sync", speed="fedfix", step_time=1.0), 2)
    assert sync[0].time == pytest.approx(3.0) and sync[1].time == pytest.approx(6.0)  # waits for the slowest
    sub = _plans(_clock(schedule="sync", clients_per_round=3), 4)
    assert all(p.agg_clients.size == 3 for p in sub) and len({tuple(p.agg_clients) for p in sub}) > 1
    buf = _plans(_clock(schedule="fedbuff", buffer_size=3, staleness="polynomial"), 20)
    for p in buf:
        assert p.agg_clients.size == 3
        np.testing.assert_allclose(p.agg_coef, (p.staleness + 1.0) ** -0.5 / 3)
    assert max(p.staleness.max() for p in buf) > 0
    fa = _plans(_clock(schedule="fedasync", speed="fedfix", alpha=0.6), 10)
    assert fa[0].agg_clients[0] == 7 and fa[0].mixing  # the fastest client (tau = 0.2) arrives first
    assert all(p.agg_clients.size == 1 for p in fa)


def test_fedfix_aggregates_on_the_grid_with_period_weights():
    n_i = np.arange(8) + 10.0
    plans = _plans(_clock(schedule="fedfix", speed="fedfix", step_time=0.9, dt=1.0), 6)
    for p in plans:
        assert p.time == pytest.approx(round(p.time))  # only at n dt
    # the slowest client (tau = 1, 2.7 s per task) is aggregated every 3 periods with weight 3 p_i
    slow = [p for p in plans if 0 in p.agg_clients]
    assert [p.time for p in slow][:2] == [3.0, 6.0]
    late = _plans(_clock(schedule="fedfix", speed="constant", step_time=1.0, dt=1.0), 2)
    assert late[0].time == 4.0  # 3 s of compute plus the messages: just past 3 dt, so aggregated at 4 dt
    k = list(slow[0].agg_clients).index(0)
    assert slow[0].agg_coef[k] == pytest.approx(3 * n_i[0] / n_i.sum())


def test_gilbert_elliott_stragglers_are_bursty():
    st = sp.Stragglers("gilbert_elliott", 0.0, 5.0, 0.1, 0.3)
    bad, states = False, []
    for t in range(4000):
        f, bad = sp.slowdown(st, 0, 3, t, bad)
        states.append(bad)
        assert f == (5.0 if bad else 1.0)
    s = np.array(states)
    assert abs(s.mean() - 0.1 / 0.4) < 0.04  # stationary P(bad) = p_gb / (p_gb + p_bg)
    assert abs(s[1:][s[:-1]].mean() - 0.7) < 0.05  # stays bad w.p. 1 - p_bg: bursts, unlike Bernoulli
    ber = sp.Stragglers("bernoulli", 0.25, 3.0, 0, 0)
    draws = np.array([sp.slowdown(ber, 0, 3, t, False)[0] for t in range(4000)])
    assert abs((draws == 3.0).mean() - 0.25) < 0.03


def test_fedcompass_groups_clients_by_speed():
    clock = _clock(n=8, schedule="fedcompass", speed="two_groups", slow_factor=3.0, q_min=5, q_max=20)
    plans = _plans(clock, 30)
    seen = set()
    for p in plans:  # a client's first arrival is aggregated alone
        if set(p.agg_clients.tolist()) - seen:
            assert p.agg_clients.size == 1
        seen |= set(p.agg_clients.tolist())
    assert seen == set(range(8))
    later = plans[8:]
    assert max(p.agg_clients.size for p in later) >= 3  # groups arrive together
    for p in later:
        assert ((p.close_steps >= 5) & (p.close_steps <= 20)).all()
    st = clock.init()
    for _ in range(30):
        st, _ = clock.advance(st)
    fast = clock.speeds.step_time < clock.speeds.step_time.max()
    steps = st["c_steps"]
    assert steps[fast].mean() > steps[~fast].mean()  # faster clients get more local steps


def test_staleness_functions():
    u = np.arange(6)
    assert np.all(np.diff(sched.staleness_weight("polynomial", u, 0.5)) < 0)
    assert np.all(np.diff(sched.staleness_weight("polynomial_growing", u, 0.5)) > 0)  # the reference code's sign
    np.testing.assert_allclose(sched.staleness_weight("hinge", u, 1.0, 2.0), [1, 1, 1, 1 / 2, 1 / 3, 1 / 4])


def test_pack_is_exact():
    clock = _clock(schedule="fedcompass", speed="lognormal", q_min=2, q_max=6)
    st = clock.init()
    for _ in range(12):
        st, _ = clock.advance(st)
    back = sched.unpack({k: jnp.asarray(v) for k, v in sched.pack(st).items()}, st)  # via JAX (no x64)
    for k in st:
        assert back[k].dtype == st[k].dtype and np.array_equal(back[k], st[k]), k
    a, b = clock.advance(st)[1], clock.advance(back)[1]
    assert a.time == b.time and np.array_equal(a.agg_coef, b.agg_coef)


@pytest.mark.parametrize("schedule", ["fedcompass", pytest.param("fedbuff", marks=pytest.mark.slow)])
def test_batched_updates_equal_one_client_at_a_time(schedule):
    """The executor's batched training (tasks on one version and step count share a call, padded)
    and aggregation equal the engine's local update called per task plus the aggregation in NumPy."""
    from lib.fl import engine, runner, tasks

    c = tasks.default_config("clock")
    c.total = None
    c.num_clients = 10
    c.model.hidden = (8,)
    c.clock = crun.default_clock()
    c.clock.update({"schedule": schedule, "buffer_size": 3, "q_min": 2, "q_max": 6, "max_batch": 8,
                    "staleness": "polynomial", "step_time": 0.1})
    c.server.lr = 1.0 if schedule == "fedcompass" else 0.7
    task = tasks.load_task(c)
    clock, ex = crun.build(c, task)
    data = engine.put_data(ex.sim, task.data)
    hp = runner.hparams(c)
    local = jax.jit(engine.default_local_update(task.loss_fn, runner.local_config(c), ex.sim.mesh))
    state = ex.init(task.params, 0)
    ref = jax.tree.map(np.asarray, task.params)
    stored, st = {}, sched.unpack(state["clock"], clock.init())
    key = jax.random.fold_in(state["key"], 1)
    biggest = 0
    for _ in range(12):
        st, plan = clock.advance(st)
        biggest = max(biggest, plan.close_slots.size)
        for s, k, t, q in zip(plan.close_slots, plan.close_clients, plan.close_tasks, plan.close_steps):
            cl = {"index": task.data.index[k], "num_samples": task.data.num_samples[k]}
            d, _, _ = local(jax.tree.map(jnp.asarray, ref), {"x": task.data.x, "y": task.data.y}, cl, (),
                            jax.random.fold_in(jax.random.fold_in(key, int(k)), int(t)), {**hp, "num_steps": int(q)})
            d = jax.tree.map(np.asarray, d)
            stored[int(s)] = jax.tree.map(lambda a, b: a + b, ref, d) if plan.mixing else d
        direction = jax.tree.map(lambda *rs: sum(float(w) * r for w, r in zip(plan.agg_coef, rs)),
                                 *[stored[int(s)] for s in plan.agg_slots])
        if plan.mixing:
            direction = jax.tree.map(lambda d, p: d - plan.agg_coef.sum() * p, direction, ref)
        ref = jax.tree.map(lambda p, d: p + c.server.lr * d, ref, direction)
        state, _ = ex.apply(state, plan, data, hp)
        for got, want in zip(jax.tree.leaves(state["params"]), jax.tree.leaves(ref)):
            np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=2e-6)
    assert biggest > 1  # some call trained several tasks of one version and step count together
