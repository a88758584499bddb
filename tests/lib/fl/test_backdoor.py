"""Backdoor attacks (lib.fl.backdoor) and personalized evaluation (lib.fl.tasks)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError

from lib.fl import aggregate, backdoor, client, engine, participation, server, tasks

SPEC = backdoor.Spec(trigger=backdoor.Trigger(row=3, col=5, size=4, value=1.0), target=2, poison_fraction=0.5)


@pytest.mark.parametrize("shape", [(28, 28), (784,), (28, 28, 3)])
def test_trigger_is_stamped_exactly(shape):
    x = jax.random.uniform(jax.random.PRNGKey(0), (3,) + shape) * 0.5
    got = np.asarray(backdoor.stamp(x, SPEC.trigger)).reshape(3, 28, 28, -1)
    want = np.asarray(x).reshape(3, 28, 28, -1).copy()
    want[:, 3:7, 5:9, :] = 1.0
    np.testing.assert_array_equal(got, want)
    assert (got == 1.0).sum() == 3 * 16 * want.shape[-1]  # nothing else reached 1.0 (x < 0.5)


@pytest.mark.parametrize("kw,err,match", [
    (dict(trigger=backdoor.Trigger(row=26, col=0, size=4)), backdoor.TriggerError, "does not fit in the 28x28"),
    (dict(trigger=backdoor.Trigger(row=0, col=0, size=29)), backdoor.TriggerError, "does not fit"),
    (dict(trigger=backdoor.Trigger(row=0, col=0, size=0)), backdoor.TriggerError, "size=0"),
    (dict(target=10), backdoor.TargetClassError, r"target=10 must be a class in \[0, 10\)"),
    (dict(poison_fraction=1.5), backdoor.PoisonFractionError, r"poison_fraction=1.5 must be in \[0, 1\]"),
    (dict(poison_fraction=-0.1), backdoor.PoisonFractionError, "poison_fraction"),
    (dict(boost=0.0), backdoor.BackdoorConfigError, "boost=0.0"),
    (dict(start_round=5, end_round=3), backdoor.BackdoorConfigError, "end_round=3"),
])
def test_bad_spec_named(kw, err, match):
    with pytest.raises(err, match=match):
        backdoor.validate(SPEC._replace(**kw), (28, 28), 10)


def test_poisoned_fraction_counts():
    x = jnp.zeros((10, 28, 28))
    y = jnp.arange(10) % 2 + 5  # labels 5, 6: never the target 2
    bmask = jnp.arange(10) < 7  # 7 real samples
    for frac, k in [(0.0, 0), (0.5, 3), (0.3, 2), (1.0, 7)]:
        xb, yb = backdoor.poison_batch(x, y, bmask, SPEC._replace(poison_fraction=frac), jnp.asarray(True))
        hit = np.asarray(yb) == 2
        assert hit.sum() == k and hit[:k].all()
        trig = np.asarray(xb)[:, 3:7, 5:9].reshape(10, -1).min(1) == 1.0
        np.testing.assert_array_equal(trig, hit)
    xb, yb = backdoor.poison_batch(x, y, bmask, SPEC, jnp.asarray(False))
    np.testing.assert_array_equal(yb, y)
    np.testing.assert_array_equal(xb, x)


def test_timing_window():
    spec = SPEC._replace(start_round=3, end_round=11, every=2)
    on = [bool(backdoor.active(spec, r)) for r in range(14)]
    assert [r for r, o in enumerate(on) if o] == [3, 5, 7, 9]
    forever = SPEC._replace(start_round=4)
    assert [bool(backdoor.active(forever, r)) for r in (3, 4, 100)] == [False, True, True]


class _Const(nn.Module):
    """Logits with argmax `cls` for every input."""
    cls: int

    @nn.compact
    def __call__(self, x):
        b = self.param("b", lambda k: jax.nn.one_hot(self.cls, 10))
        return jnp.broadcast_to(b, (x.shape[0], 10)) + 0.0 * x.reshape(x.shape[0], -1)[:, :1]


@pytest.mark.parametrize("cls,want", [(2, 1.0), (7, 0.0)])
def test_asr_of_constant_models(cls, want):
    rng = np.random.default_rng(0)
    xt, yt = rng.uniform(size=(50, 28, 28)).astype(np.float32), rng.integers(0, 10, 50).astype(np.int32)
    m = _Const(cls)
    p = m.init(jax.random.PRNGKey(0), xt[:1])["params"]
    task = tasks.Task(None, xt, yt, None, 10, m, p, None)
    out = tasks.make_eval(task, 16, backdoor=SPEC)(p)
    assert out["backdoor_asr"] == want
    assert out["test_accuracy"] == pytest.approx(np.mean(yt == cls))


def _fed(n=6, per=24, dim=16):
    """n clients of `per` samples each (equal FedAvg weights), as jax arrays."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n * per, dim)).astype(np.float32)
    y = rng.integers(0, 4, n * per).astype(np.int32)
    parts = [np.arange(k * per, (k + 1) * per) for k in range(n)]
    return client.ClientData(*map(jnp.asarray, client.pack_clients(x, y, parts, 8)))


def _apply(p, x):
    return x @ p["w"] + p["b"]


LOSS = client.xent_loss(_apply)
LOCAL = client.LocalConfig(batch_size=8, mode="steps", num_steps=3)
TRIG = backdoor.Spec(backdoor.Trigger(0, 0, 2, 3.0), target=1, poison_fraction=0.5)


def _sim(spec, rule="fedavg", eta=1.0, n=6, byz=(0,), **kw):
    mask = np.zeros(n, bool)
    mask[list(byz)] = True
    return engine.build(loss_fn=LOSS, local=LOCAL, participation=participation.make("uniform", n, clients_per_round=n),
                        server_opt=server.make("sgd", lr=eta), aggregator=rule, byzantine=mask, client_attack=True,
                        mesh=engine.clients_mesh(1), local_update=backdoor.local_update(LOSS, LOCAL, spec), **kw)


def test_model_replacement_reproduces_attacker_model_under_fedavg():
    """Bagdasaryan et al.'s identity: with boost n / eta and equal weights, FedAvg's next
    global model is X + eta / n * sum of the honest deltas (X: the attacker's trained model)."""
    n, eta = 6, 0.5
    data = _fed(n)
    spec = TRIG._replace(boost=backdoor.replacement_boost(n, eta))
    sim = _sim(spec, eta=eta, n=n)
    p0 = {"w": 0.1 * jax.random.normal(jax.random.PRNGKey(2), (16, 4)), "b": jnp.zeros(4)}
    st = engine.init(sim, p0, seed=0)
    new, _ = jax.jit(engine.round_fn(sim))(engine.put_state(sim, st), engine.put_data(sim, data), {"lr": 0.1})
    # the same slots by hand: keys as the engine derives them
    key_r = jax.random.fold_in(st["key"], 0)
    pool = {"x": data.x, "y": data.y}
    plain = jax.jit(backdoor.local_update(LOSS, LOCAL, TRIG))  # boost 1: the attacker's own X - G
    deltas = []
    for c in range(n):
        cl = {"index": data.index[c], "num_samples": data.num_samples[c], "byzantine": jnp.asarray(c == 0),
              "round": jnp.asarray(0, jnp.int32)}
        k = jax.random.fold_in(jax.random.fold_in(key_r, 1), c)
        deltas.append(plain(p0, pool, cl, (), k, {"lr": 0.1})[0])
    want = jax.tree.map(lambda g, x0, *h: g + x0 + eta / n * sum(h), p0, deltas[0], *deltas[1:])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), new["params"], want)
    # and the attacker's model alone (honest deltas removed) is the new global model
    x_model = jax.tree.map(lambda g, d: g + d, p0, deltas[0])
    honest = jax.tree.map(lambda *h: eta / n * sum(h), *deltas[1:])
    jax.tree.map(lambda a, x, h: np.testing.assert_allclose(a - h, x, rtol=1e-5, atol=1e-6),
                 new["params"], x_model, honest)


def test_window_and_disguise_on_the_local_update():
    data = _fed(2)
    pool = {"x": data.x, "y": data.y}
    p0 = {"w": jnp.zeros((16, 4)), "b": jnp.zeros(4)}
    spec = TRIG._replace(boost=5.0, start_round=2, end_round=4)
    bd = jax.jit(backdoor.local_update(LOSS, LOCAL, spec))
    honest = jax.jit(client.make_local_update(LOSS, LOCAL))
    key = jax.random.PRNGKey(3)
    base = {"index": data.index[0], "num_samples": data.num_samples[0]}
    ref = honest(p0, pool, base, (), key, {"lr": 0.1})[0]
    for rnd, byz in [(1, True), (4, True), (2, False)]:  # outside the window, or honest: the plain update
        d = bd(p0, pool, {**base, "byzantine": jnp.asarray(byz), "round": jnp.asarray(rnd)}, (), key, {"lr": 0.1})[0]
        jax.tree.map(np.testing.assert_array_equal, d, ref)
    atk = {**base, "byzantine": jnp.asarray(True), "round": jnp.asarray(3)}
    d = bd(p0, pool, atk, (), key, {"lr": 0.1})[0]
    unboosted = jax.jit(backdoor.local_update(LOSS, LOCAL, spec._replace(boost=1.0)))(p0, pool, atk, (), key, {"lr": 0.1})[0]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, 5.0 * b, rtol=1e-6), d, unboosted)
    assert not np.allclose(unboosted["b"], ref["b"])  # poisoned training differs from clean training
    dis = jax.jit(backdoor.local_update(LOSS, LOCAL, spec._replace(disguise_norm=0.01)))(p0, pool, atk, (), key,
                                                                                       {"lr": 0.1})[0]
    norm = np.sqrt(sum(float(jnp.sum(v ** 2)) for v in jax.tree.leaves(dis)))
    assert norm == pytest.approx(0.01, rel=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a * np.sqrt(sum(float(jnp.sum(v ** 2))
                                                                       for v in jax.tree.leaves(d))) / 0.01, b,
                                                         rtol=1e-4, atol=1e-7), dis, d)


def _slot_deltas(spec, data, p0, n):
    """Every slot's sent delta (client 0 the attacker) from the backdoor local update, vmapped."""
    upd = backdoor.local_update(LOSS, LOCAL, spec)
    pool = {"x": data.x, "y": data.y}
    cl = {"index": data.index, "num_samples": data.num_samples, "byzantine": jnp.arange(n) == 0,
          "round": jnp.zeros(n, jnp.int32)}
    keys = jax.random.split(jax.random.PRNGKey(5), n)
    return jax.jit(jax.vmap(lambda c, k: upd(p0, pool, c, (), k, {"lr": 0.1})[0]))(cl, keys)


@pytest.mark.slow  # one compile per rule (~14 s on 2 cores)
def test_composes_with_every_rule_of_the_registry():
    """The attack is client side, so every rule takes the attacker's boosted delta like any
    other update: each rule's aggregate is finite, and the robust ones keep most of the boost
    out (the aggregate is far smaller than FedAvg's)."""
    n = 7
    data = _fed(n)
    p0 = {"w": jnp.zeros((16, 4)), "b": jnp.zeros(4)}
    deltas = _slot_deltas(TRIG._replace(boost=50.0), data, p0, n)
    w = jnp.ones(n)
    params = {"multi_krum": dict(f=1), "krum": dict(f=1), "bulyan": dict(f=1), "trimmed_mean": dict(beta=0.2),
              "centered_clipping": dict(tau=0.1)}
    size = {}
    for rule in aggregate.RULES:
        if rule == "secure_fedavg":  # a plain mean of masked updates: refuses Byzantine clients by name
            with pytest.raises(ConfigError, match="cannot withstand 1 Byzantine"):
                _sim(TRIG, rule=rule, n=n)
            continue
        agg, _ = aggregate.get_rule(rule)(deltas, w, None, jax.random.PRNGKey(0),
                                          **aggregate.rule_params(rule, **params.get(rule, {})))
        flat = np.concatenate([np.ravel(v) for v in jax.tree.leaves(agg)])
        assert np.isfinite(flat).all(), rule
        size[rule] = np.linalg.norm(flat)
    for rule in ("median", "trimmed_mean", "krum", "multi_krum", "bulyan", "geometric_median", "centered_clipping"):
        assert size[rule] < 0.3 * size["fedavg"], (rule, size)


def test_round_under_a_robust_rule():
    """A whole engine round with Krum: the boosted attacker is not the one selected."""
    n = 6
    data = _fed(n)
    p0 = {"w": jnp.zeros((16, 4)), "b": jnp.zeros(4)}
    moved = {}
    for rule, rp in (("fedavg", {}), ("krum", {"f": 1})):
        sim = _sim(TRIG._replace(boost=50.0), rule=rule, n=n, rule_params=rp)
        new, _ = jax.jit(engine.round_fn(sim))(engine.put_state(sim, engine.init(sim, p0, seed=0)),
                                               engine.put_data(sim, data), {"lr": 0.1})
        moved[rule] = np.linalg.norm(np.concatenate([np.ravel(v) for v in jax.tree.leaves(new["params"])]))
    assert np.isfinite(moved["krum"]) and moved["krum"] < 0.2 * moved["fedavg"]


def test_personalized_eval_matches_a_loop():
    rng = np.random.default_rng(0)
    n, dim = 4, 16
    xt = rng.normal(size=(60, dim)).astype(np.float32)
    yt = rng.integers(0, 4, 60).astype(np.int32)
    counts = np.array([[5, 0, 0, 1], [1, 1, 1, 1], [0, 3, 0, 0], [0, 0, 0, 0]])
    parts = tasks.split_test_by_labels(yt, counts, seed=0)
    assert len(parts[3]) == 0 and not np.isin(np.flatnonzero(yt == 2), parts[2]).any()
    assert sorted(np.concatenate(parts)) == sorted(np.flatnonzero(np.isin(yt, [0, 1, 2, 3])))  # each once
    for c in range(4):  # dealt in proportion to the training counts of class c
        m = (yt == c).sum()
        got = [np.sum(yt[p] == c) for p in parts]
        assert sum(got) == m and all(abs(g - m * counts[k, c] / counts[:, c].sum()) < 1 for k, g in enumerate(got))

    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(4)(x)

    m = M()
    cp = jax.vmap(lambda k: m.init(k, xt[:1])["params"])(jax.random.split(jax.random.PRNGKey(0), n))
    task = tasks.Task(None, xt, yt, counts, 4, m, None, None)
    out = tasks.make_personalized_eval(task, parts, batch_size=4)(cp)
    accs, hits, tot = [], 0, 0
    for k in range(n):
        if not len(parts[k]):
            continue
        pk = jax.tree.map(lambda a: a[k], cp)
        pred = np.argmax(np.asarray(m.apply({"params": pk}, xt[parts[k]])), -1)
        accs.append(np.mean(pred == yt[parts[k]]))
        hits, tot = hits + np.sum(pred == yt[parts[k]]), tot + len(parts[k])
    assert out["personal_accuracy"] == pytest.approx(hits / tot)
    assert out["personal_accuracy_mean"] == pytest.approx(np.mean(accs))
    assert out["personal_accuracy_min"] == pytest.approx(min(accs))
    assert np.isnan(out["personal_accuracy_per_client"][3])
    # a client's own model matters: swapping the models changes the result
    swapped = jax.tree.map(lambda a: a[::-1], cp)
    assert tasks.make_personalized_eval(task, parts, batch_size=4)(swapped)["personal_accuracy_per_client"][:3] != \
        out["personal_accuracy_per_client"][:3]
