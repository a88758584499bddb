"""lib.dl.schedule: which rounds gossip, the engine's no-gossip rounds and final merge, bytes, named errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.dl import engine, gossip, schedule as S, topology as T
from lib.fl import client as client_lib


def test_schedule_rules():
    assert S.make("every", 7).mask.all()
    np.testing.assert_array_equal(np.nonzero(S.make("every_k", 10, k=3).mask)[0], [2, 5, 8])
    b = S.make("budgeted", 10, budget=4)
    np.testing.assert_array_equal(np.nonzero(b.mask)[0], [2, 4, 7, 9])  # ceil((j+1) 10/4) - 1
    np.testing.assert_array_equal(np.nonzero(S.make("late", 10, budget=3).mask)[0], [7, 8, 9])
    assert S.make("budgeted", 5, budget=5).mask.all() and S.make("late", 5, budget=5).mask.all()
    for total in (10, 37, 100):
        for budget in (1, 3, total // 2, total):
            for kind in ("budgeted", "late", "ramp"):
                m = S.make(kind, total, budget=budget, ramp_power=3.0).mask
                assert m.sum() == budget and m[-1], (kind, total, budget)  # budget respected, last round gossips
    r1 = S.make("ramp", 50, budget=10, ramp_power=1.0).mask
    np.testing.assert_array_equal(r1, S.make("budgeted", 50, budget=10).mask)  # power 1 = uniform
    pos = np.nonzero(S.make("ramp", 100, budget=10, ramp_power=3.0).mask)[0]
    assert pos[0] == 46 and np.all(np.diff(np.diff(pos)) <= 0)  # 100 * 0.1^(1/3) = 46.4; later rounds denser
    s = S.make("late", 10, budget=2, final_merge=True)
    assert s.num_steps == 11 and s.num_gossip_rounds == 2


@pytest.mark.parametrize("kw, match", [
    (dict(kind="sometimes", num_rounds=10), "unknown"),
    (dict(kind="every_k", num_rounds=10, k=0), "k=0"),
    (dict(kind="late", num_rounds=10, budget=11), "budget=11"),
    (dict(kind="budgeted", num_rounds=10, budget=0), "budget=0"),
    (dict(kind="late", num_rounds=10), "needs a budget"),
    (dict(kind="ramp", num_rounds=10, budget=3, ramp_power=0.5), "ramp_power"),
])
def test_named_errors(kw, match):
    kind, t = kw.pop("kind"), kw.pop("num_rounds")
    with pytest.raises(S.ScheduleError, match=match):
        S.make(kind, t, **kw)


def test_bytes_count_only_gossip_rounds_and_the_merge():
    w = gossip.validated(T.ring(8), "metropolis_hastings")
    g = gossip.build(w)
    one = {"w": np.zeros((10, 3), np.float32)}  # 120 bytes
    per = gossip.bytes_per_round(g, one)  # each node: 2 neighbours x 120
    s = S.make("budgeted", 10, budget=4, final_merge=True)
    assert S.bytes_through(per, s, 10, 120)[0] == 4 * 2 * 120
    assert S.bytes_through(per, s, 3, 120)[0] == 1 * 2 * 120  # rounds 0..2: only round 2 gossiped
    assert S.bytes_through(per, s, 11, 120)[0] == 4 * 2 * 120 + 2 * 7 / 8 * 120  # + ring all-reduce
    every = S.make("every", 10)
    np.testing.assert_array_equal(S.bytes_through(per, every, 10, 120), gossip.bytes_through(g, one, 10))


def _problem(n=8, per=16, dim=4, classes=3):
    r = np.random.default_rng(0)
    x = r.normal(size=(n * per, dim)).astype(np.float32)
    y = r.integers(0, classes, n * per).astype(np.int32)
    data = client_lib.pack_clients(x, y, [np.arange(i * per, (i + 1) * per) for i in range(n)], 8)
    params = {"w": jnp.asarray(r.normal(size=(dim, classes)) * 0.1, jnp.float32)}

    def loss_fn(p, xb, yb):
        return -jnp.take_along_axis(jax.nn.log_softmax(xb @ p["w"]), yb[:, None], 1)[:, 0]

    return data, params, loss_fn


def test_no_gossip_round_leaves_models_unmixed_and_merge_is_the_mean():
    data, params, loss_fn = _problem()
    w = gossip.validated(T.ring(8), "metropolis_hastings")
    eng = engine.build(loss_fn=loss_fn, local=client_lib.LocalConfig(batch_size=8, num_steps=2),
                       method=engine.dsgd(), w=w, mesh=engine.nodes_mesh(2), gossip="ppermute")
    st0 = engine.place(eng, engine.init(eng, params, seed=1))
    d = engine.put_data(eng, data)
    f = jax.jit(engine.round_fn(eng))
    ident = np.eye(8)[None]
    eng_id = engine.build(loss_fn=loss_fn, local=eng.local, method=engine.dsgd(), w=ident, mesh=engine.nodes_mesh(2),
                          gossip="dense")
    f_id = jax.jit(engine.round_fn(eng_id))
    a, _ = f(st0, d, {"lr": jnp.float32(0.3), "gossip": jnp.float32(0.0)})
    b, _ = f_id(st0, d, {"lr": jnp.float32(0.3)})  # local steps only (W = I)
    np.testing.assert_array_equal(np.asarray(a["nodes"]["params"]["w"]), np.asarray(b["nodes"]["params"]["w"]))
    on, _ = f(a, d, {"lr": jnp.float32(0.3), "gossip": jnp.float32(1.0)})
    plain, _ = f(a, d, {"lr": jnp.float32(0.3)})  # a schedule's gossip round = the engine's usual round
    np.testing.assert_array_equal(np.asarray(on["nodes"]["params"]["w"]), np.asarray(plain["nodes"]["params"]["w"]))
    xs = np.asarray(on["nodes"]["params"]["w"])
    assert np.abs(xs - xs.mean(0)).max() > 1e-4  # not yet in consensus
    merged, m = jax.jit(engine.merge_fn(eng))(on)
    out = np.asarray(merged["nodes"]["params"]["w"])
    np.testing.assert_allclose(out, np.broadcast_to(xs.mean(0), xs.shape), rtol=1e-6, atol=1e-7)
    assert np.all(out == out[0]) and int(merged["step"]) == int(on["step"]) + 1 and float(m["consensus_distance"]) < 1e-12
