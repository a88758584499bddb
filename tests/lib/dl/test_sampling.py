"""lib.dl.sampling (hash-ordered sample, aggregators, success fraction, churn), lib.dl.sampled's
round (FedAvg of the counted trainers' lib.fl.client updates) and lib.dl.gossip_learning."""
import hashlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from lib.dl import gossip_learning as gl
from lib.dl import sampled, sampling
from lib.dl import topology as T
from lib.fl import client as client_lib


def test_hash_order_is_md5_of_peer_and_round_and_needs_no_coordination():
    peers = [7, 3, 11, 0, 5]
    want = sorted(peers, key=lambda p: hashlib.md5(f"{p}-4".encode()).hexdigest())
    assert sampling.hash_order(peers, 4).tolist() == want
    assert sampling.hash_order(peers[::-1], 4).tolist() == want  # any node's view order gives the same
    assert sampling.hash_order(range(50), 1).tolist() != sampling.hash_order(range(50), 2).tolist()


def test_plan_round_sample_aggregators_success_fraction():
    n, s, a, sf = 30, 10, 2, 0.8
    online = np.ones(n, bool)
    online[[1, 2]] = False
    bad = np.zeros(n, bool)
    bad[::3] = True  # 10 unresponsive nodes
    for rnd in range(5):
        p = sampling.plan_round(rnd, online, bad, s, a, sf, prev_aggregators=a if rnd else None)
        order = sampling.hash_order(np.flatnonzero(online), rnd)
        assert p.trainers.tolist() == order[:s].tolist()
        assert p.aggregators.tolist() == [i for i in order if not bad[i]][:a]
        assert (p.responsive == ~bad[p.trainers]).all() and not (p.counted & bad[p.trainers]).any()
        assert p.counted.sum() == min(p.responsive.sum(), 8)  # ceil(0.8 * 10)
        assert p.timed_out == (p.responsive.sum() < 8)
        assert p.messages == (a * s if rnd else 0) + p.responsive.sum() * a
    # 80 % unresponsive: aggregators still found, the round times out and averages what arrived
    bad = sampling.unresponsive_mask(100, 0.8, seed=0)
    assert bad.sum() == 80
    p = sampling.plan_round(3, np.ones(100, bool), bad, 10, 1, 0.8)
    assert p.timed_out and p.counted.sum() == p.responsive.sum() < 8 and not bad[p.aggregators].any()


def test_churn_events_random_and_named_errors():
    cfg = ml_collections.ConfigDict({"kind": "events", "events": ((1, "leave", 2), (3, "join", 2))})
    ch = sampling.churn_from_config(cfg, 5)
    on = np.ones(5, bool)
    seen = []
    for r in range(5):
        on = sampling.step_churn(on, ch, r, seed=0)
        seen.append(bool(on[2]))
    assert seen == [True, False, False, True, True]
    rnd = sampling.Churn("random", leave_prob=0.3, join_prob=0.5)
    a = sampling.step_churn(np.ones(50, bool), rnd, 4, seed=1)
    assert (a == sampling.step_churn(np.ones(50, bool), rnd, 4, seed=1)).all() and 0 < a.sum() < 50
    bad = [{"kind": "flaky"}, {"kind": "events", "events": ((1, "crash", 2),)},
           {"kind": "events", "events": ((1, "leave", 9),)}, {"kind": "none", "leave_prob": 0.1},
           {"kind": "random", "leave_prob": 1.5}]
    for c in bad:
        with pytest.raises(sampling.UnknownChurnError):
            sampling.churn_from_config(ml_collections.ConfigDict(c), 5)
    with pytest.raises(sampling.SampleSizeError, match="sample_size=6 is larger than the 5 nodes"):
        sampling.check_sampling(5, 6, 1, 0.8)
    for sf in (0.0, 1.2, -1):
        with pytest.raises(sampling.SuccessFractionError):
            sampling.check_sampling(5, 2, 1, sf)
    with pytest.raises(sampling.SampleSizeError, match="only 3 nodes are online"):  # churn left too few
        sampling.plan_round(7, np.array([1, 1, 1, 0, 0], bool), np.zeros(5, bool), 4, 1, 1.0)


def _toy(n=6, per=9, dim=3, classes=2, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n * per, dim)).astype(np.float32)
    y = r.integers(0, classes, n * per).astype(np.int32)
    data = client_lib.pack_clients(x, y, [np.arange(i * per, i * per + per - i) for i in range(n)], 4)
    params = {"w": jnp.asarray(r.normal(size=(dim, classes)), jnp.float32), "b": jnp.zeros(classes)}

    def loss_fn(p, xb, yb):
        return -jnp.take_along_axis(jax.nn.log_softmax(xb @ p["w"] + p["b"]), yb[:, None], 1)[:, 0]

    return data, params, loss_fn


@pytest.mark.parametrize("sequential", [True, False])
def test_sampled_round_is_fedavg_of_the_counted_trainers(sequential):
    data, params, loss_fn = _toy()
    local = client_lib.LocalConfig(batch_size=4, num_steps=3)
    f = jax.jit(sampled.round_fn(loss_fn, local, sequential))
    key, rnd, hp = jax.random.PRNGKey(5), 2, {"lr": jnp.float32(0.3)}
    trainers = np.array([4, 1, 5, 0], np.int32)
    counted = np.array([True, False, True, True])
    new, m = f(params, key, jnp.int32(rnd), data, jnp.asarray(trainers), jnp.asarray(counted), hp)
    upd = client_lib.make_local_update(loss_fn, local)
    pool = {"x": jnp.asarray(data.x), "y": jnp.asarray(data.y)}
    want, tot = jax.tree.map(np.zeros_like, params), 0
    for t, c in zip(trainers, counted):
        if c:
            k = jax.random.fold_in(jax.random.fold_in(key, rnd), int(t))
            row = {"index": jnp.asarray(data.index[t]), "num_samples": jnp.asarray(data.num_samples[t])}
            d, _, _ = upd(params, pool, row, None, k, hp)
            want = jax.tree.map(lambda w, p, dd: w + data.num_samples[t] * (np.asarray(p) + np.asarray(dd)),
                                want, params, d)
            tot += data.num_samples[t]
    for k in params:
        np.testing.assert_allclose(np.asarray(new[k]), want[k] / tot, rtol=1e-5, atol=1e-6)
    assert int(m["counted_updates"]) == 3
    same, _ = f(params, key, jnp.int32(rnd), data, jnp.asarray(trainers), jnp.zeros(4, bool), hp)
    assert all(np.array_equal(same[k], params[k]) for k in params)  # nothing arrived: model kept


def test_sampler_named_errors_before_compile():
    with pytest.raises(sampling.SampleSizeError, match="online at round 0"):
        sampled.build_sampler(num_nodes=10, sample_size=6, churn=sampling.Churn("none", initial_online=0.5))
    with pytest.raises(sampling.SuccessFractionError):
        sampled.build_sampler(num_nodes=10, sample_size=4, success_fraction=0)
    with pytest.raises(sampling.UnknownChurnError):
        sampled.build_sampler(num_nodes=10, sample_size=4, churn=sampling.Churn("weekly"))


def test_gossip_learning_round():
    data, params, loss_fn = _toy()
    n = 6
    m, count = gl.receive_matrix(jax.random.PRNGKey(3), n)
    r = np.asarray(m) * (1 + np.asarray(count))[:, None] - np.eye(n)
    assert np.allclose(np.asarray(m).sum(1), 1) and np.allclose(r.sum(0), 1) and np.allclose(np.diag(r), 0)
    state = gl.init(lambda k: jax.tree.map(lambda a: a + jax.random.normal(k, a.shape), params), n, 0, True)
    assert not np.allclose(state["nodes"]["w"][0], state["nodes"]["w"][1])  # independent inits
    local = client_lib.LocalConfig(batch_size=4, num_steps=2)
    new, met = jax.jit(gl.round_fn(loss_fn, local, gl.average, True))(state, data, {"lr": jnp.float32(0.1)})
    key_r = jax.random.fold_in(state["key"], 0)
    m, count = gl.receive_matrix(key_r, n)
    idle = np.asarray(count) == 0
    assert int(met["receivers"]) == n - idle.sum() and int(new["messages"]) == n
    np.testing.assert_array_equal(np.asarray(new["nodes"]["w"])[idle], np.asarray(state["nodes"]["w"])[idle])
    merged = np.einsum("ij,jab->iab", np.asarray(m), np.asarray(state["nodes"]["w"]))
    assert not np.allclose(np.asarray(new["nodes"]["w"])[~idle], merged[~idle])  # trained after merging


def test_random_regular_degree():
    topo = T.random_regular(100, 10, seed=0)
    assert (topo.adj[0].sum(1) == 10).all() and topo.symmetric and T.is_connected(topo)
    with pytest.raises(T.TopologyError):
        T.random_regular(9, 3)
