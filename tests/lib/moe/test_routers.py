"""Router semantics: selection, weights, masks, losses, named errors, loss-free bias, DTS schedule."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.moe import routers as R

E, T = 8, 64


def _logits(seed=1, scale=2.0):
    return jax.random.normal(jax.random.PRNGKey(seed), (T, E)) * scale


ALL = [("switch", {}), ("gshard", {}), ("topk", {"k": 3}), ("ktop1", {"k": 2}), ("hash", {}),
       ("base", {}), ("sam", {"k": 2, "group_size": 4}), ("expert_choice", {"k": 2}),
       ("dts", {"tau_schedule": "exp", "tau_decay_steps": 10}), ("lossfree", {"k": 2})]


@pytest.mark.parametrize("name,kw", ALL)
def test_shapes_and_masks(name, kw):
    spec = R.make_spec(name, E, **kw)
    r = R.route(spec, _logits(), state=R.init_state(spec), key=jax.random.PRNGKey(0), step=3,
                token_ids=jnp.arange(T))
    assert r.index.shape == r.weight.shape == r.mask.shape == (T, spec.slots)
    assert int(r.index.min()) >= 0 and int(r.index.max()) < E
    assert np.all(np.asarray(r.weight)[~np.asarray(r.mask)] == 0)
    assert np.isfinite(float(r.aux_loss)) and np.isfinite(float(r.z_loss))


def test_topk_selects_largest_probs():
    lg = _logits()
    r = R.route(R.make_spec("topk", E, k=2), lg)
    p = jax.nn.softmax(lg, -1)
    np.testing.assert_array_equal(np.sort(r.index, 1), np.sort(np.argsort(-p, 1)[:, :2], 1))
    np.testing.assert_allclose(r.weight, np.take_along_axis(np.asarray(p), np.asarray(r.index), 1), rtol=1e-6)


def test_gshard_random_second_expert_drops_some_and_normalizes():
    spec = R.make_spec("gshard", E)
    r = R.route(spec, _logits(scale=3.0), key=jax.random.PRNGKey(0))
    assert 0 < int(r.mask[:, 1].sum()) < T  # some second choices dropped, some kept
    assert bool(jnp.all(r.mask[:, 0]))
    re = R.route(spec, _logits(scale=3.0), train=False)  # eval: keep both
    assert bool(jnp.all(re.mask))
    np.testing.assert_allclose(re.weight.sum(1), 1.0, rtol=1e-5)


def test_ktop1_one_expert_per_group():
    r = R.route(R.make_spec("ktop1", E, k=2), _logits())
    assert bool(jnp.all(r.index[:, 0] < 4)) and bool(jnp.all(r.index[:, 1] >= 4))


def test_hash_is_fixed_map_of_token_ids():
    spec = R.make_spec("hash", E, vocab_size=50)
    ids = jnp.array([3, 7, 3, 49, 7] * 4)
    a = R.route(spec, _logits()[:20], token_ids=ids)
    b = R.route(spec, -_logits()[:20], token_ids=ids)  # logits are ignored
    np.testing.assert_array_equal(a.index, b.index)
    assert int(a.index[0, 0]) == int(a.index[2, 0])
    np.testing.assert_array_equal(a.weight, 1.0)
    with pytest.raises(R.MoEConfigError, match="token_ids"):
        R.route(spec, _logits())


def test_base_is_exactly_balanced_and_prefers_high_scores():
    spec = R.make_spec("base", E)
    r = R.route(spec, _logits(scale=5.0))
    np.testing.assert_array_equal(np.bincount(np.asarray(r.index[:, 0]), minlength=E), T // E)
    # a strongly preferred token-expert pair with room is kept
    lg = jnp.zeros((T, E)).at[jnp.arange(T), jnp.arange(T) % E].set(10.0)
    r = R.route(spec, lg)
    np.testing.assert_array_equal(r.index[:, 0], np.arange(T) % E)


def test_base_unbalanced_token_count():
    r = R.route(R.make_spec("base", E), _logits()[:30])
    assert np.bincount(np.asarray(r.index[:, 0]), minlength=E).max() <= 4  # ceil(30/8)


def test_sam_experts_in_one_group():
    r = R.route(R.make_spec("sam", E, k=2, group_size=4), _logits())
    assert bool(jnp.all(r.index[:, 0] // 4 == r.index[:, 1] // 4))


def test_sam_alignment_loss_hand_computed():
    # group sums 0.36 | 0.64 -> group 1; top-2 inside it: 0.33, 0.31 (tau = 0.31); expert 0 (0.35, outside)
    # outranks a chosen expert by 0.04, expert 1 (0.01) does not
    probs = jnp.array([[0.35, 0.01, 0.33, 0.31], [0.1, 0.2, 0.3, 0.4]])
    r = R.route(R.make_spec("sam", 4, k=2, group_size=2), jnp.log(probs))
    np.testing.assert_array_equal(r.index, [[2, 3], [3, 2]])
    np.testing.assert_allclose(r.align_loss, 0.04 / 2, rtol=1e-5)  # mean over the 2 tokens
    r1 = R.route(R.make_spec("sam", 4, k=1, group_size=2), jnp.log(probs))
    np.testing.assert_allclose(r1.align_loss, 0.02 / 2, rtol=1e-5)  # tau = 0.33
    r0 = R.route(R.make_spec("topk", 4, k=2), jnp.log(probs))
    assert float(r0.align_loss) == 0.0  # other routers: zero


def test_sam_alignment_loss_gradient_and_layer_weight():
    from lib.moe import layer as L
    spec = R.make_spec("sam", E, k=2, group_size=4)
    lg = _logits() * 3.0
    align = jax.jit(lambda z: R.route(spec, z).align_loss)
    a0 = float(align(lg))
    assert a0 > 0
    g = jax.grad(align)(lg)
    assert float(align(lg - 0.5 * g / jnp.linalg.norm(g))) < a0  # descent lowers it
    # the layer adds align_weight * align_loss to its loss and reports the term
    ks = jax.random.split(jax.random.PRNGKey(4), 3)
    d, f = 6, 8
    params = {"router": jax.random.normal(ks[0], (d, E)), "w1": jax.random.normal(ks[1], (E, d, f)),
              "w2": jax.random.normal(ks[2], (E, f, d))}
    x = jax.random.normal(jax.random.PRNGKey(5), (32, d))
    aux = {w: jax.jit(lambda p, x, w=w: L.moe_ffn(
        L.make_moe_spec("sam", E, f, router_kwargs={"k": 2, "group_size": 4}, align_weight=w, aux_weight=0.0),
        p, {}, x)[1])(params, x) for w in (0.0, 2.0)}
    assert float(aux[2.0]["align_loss"]) > 0
    np.testing.assert_allclose(aux[2.0]["loss"] - aux[0.0]["loss"], 2.0 * aux[2.0]["align_loss"], rtol=1e-5)
    with pytest.raises(R.MoEConfigError, match="align_weight"):
        L.make_moe_spec("sam", E, f, router_kwargs={"k": 2}, align_weight=-1.0)


def test_expert_choice_each_expert_takes_capacity_tokens():
    spec = R.make_spec("expert_choice", E, k=2, capacity_factor=1.0)
    r = R.route(spec, _logits())
    np.testing.assert_array_equal(r.mask.sum(0), R.ec_capacity(spec, T))


def test_dts_threshold_anneal_and_switch():
    spec = R.make_spec("dts", E, tau_schedule="exp", tau_max=2.0, tau_min=0.5, tau_decay_steps=100,
                       switch_step=50, threshold=1e-3)
    assert float(R.dts_temperature(spec, 0)) == pytest.approx(2.0)
    assert float(R.dts_temperature(spec, 50)) == pytest.approx(1.0, rel=1e-5)
    assert float(R.dts_temperature(spec, 1000)) == pytest.approx(0.5)
    lin = R.make_spec("dts", E, tau_schedule="linear", tau_max=2.0, tau_min=0.5, tau_decay_steps=100)
    assert float(R.dts_temperature(lin, 50)) == pytest.approx(1.25)
    key = jax.random.PRNGKey(0)
    soft = R.route(spec, _logits(scale=0.5), key=key, step=10)
    hard = R.route(spec, _logits(scale=0.5), key=key, step=60)
    assert float(soft.mask.sum(1).mean()) > 2  # dense early: several experts over the threshold
    np.testing.assert_array_equal(hard.mask.sum(1), 1)
    # the kept gates are the Gumbel-softmax values above the threshold
    assert float(jnp.where(soft.mask, soft.weight, 1.0).min()) > 1e-3
    ev = R.route(spec, _logits(), train=False)
    np.testing.assert_array_equal(ev.mask.sum(1), 1)
    np.testing.assert_array_equal(jnp.argmax(ev.mask, 1), jnp.argmax(_logits(), 1))


def test_lossfree_bias_changes_selection_not_weights():
    spec = R.make_spec("lossfree", E, k=1)
    lg = _logits()
    st = R.init_state(spec)
    st_big = {"bias": st["bias"].at[5].set(10.0)}
    r = R.route(spec, lg, state=st_big)
    np.testing.assert_array_equal(r.index[:, 0], 5)
    np.testing.assert_allclose(r.weight[:, 0], jax.nn.softmax(lg, -1)[:, 5], rtol=1e-6)
    g = jax.grad(lambda b: R.route(spec, lg, state={"bias": b}).weight.sum())(st["bias"])
    np.testing.assert_array_equal(g, 0.0)


def test_lossfree_update_rules():
    spec = R.make_spec("lossfree", 4, k=1, bias_rate=0.1)
    st = R.init_state(spec)
    load = jnp.array([10.0, 2.0, 4.0, 4.0])  # mean 5
    np.testing.assert_allclose(R.update_state(spec, st, load)["bias"], [-0.1, 0.1, 0.1, 0.1])
    prop = R.make_spec("lossfree", 4, bias_rule="proportional", bias_rate=0.1)
    np.testing.assert_allclose(R.update_state(prop, st, load)["bias"], [-0.1, 0.06, 0.02, 0.02], rtol=1e-6)
    dec = R.make_spec("lossfree", 4, bias_rule="proportional_decay", bias_rate=0.1, bias_decay_steps=10)
    np.testing.assert_allclose(R.update_state(dec, st, load, step=10)["bias"], [-0.05, 0.03, 0.01, 0.01],
                               rtol=1e-6)


def test_lossfree_bias_balances_skewed_router():
    spec = R.make_spec("lossfree", E, k=2, bias_rate=0.01)
    lg = _logits() + jnp.arange(E) * 0.5  # router prefers high experts
    st = R.init_state(spec)
    from lib.moe.routers import load_counts
    cv0 = None
    for _ in range(300):
        r = R.route(spec, lg, state=st)
        load = load_counts(r.index, r.mask, E)
        cv = float(load.std() / load.mean())
        cv0 = cv if cv0 is None else cv0
        st = R.update_state(spec, st, load)
    assert cv < 0.5 * cv0


def test_switch_loss_uniform_is_one_and_collapse_is_large():
    u = R.route(R.make_spec("switch", E), jnp.zeros((T, E)).at[jnp.arange(T), jnp.arange(T) % E].set(20.0))
    assert float(u.aux_loss) == pytest.approx(1.0, rel=1e-3)
    c = R.route(R.make_spec("switch", E), jnp.zeros((T, E)).at[:, 0].set(20.0))
    assert float(c.aux_loss) == pytest.approx(E, rel=1e-3)


def test_z_loss():
    lg = _logits()
    assert float(R.z_loss(lg)) == pytest.approx(float(jnp.mean(jax.nn.logsumexp(lg, -1) ** 2)), rel=1e-6)


@pytest.mark.parametrize("name,kw,key", [
    ("nope", {}, "moe.router"),
    ("topk", {"k": 9}, "moe.k"),
    ("topk", {"k": 0}, "moe.k"),
    ("ktop1", {"k": 3}, "moe.k"),
    ("sam", {"k": 3, "group_size": 2}, "moe.group_size"),
    ("topk", {"second_policy": "random", "k": 1}, "moe.second_policy"),
    ("dts", {"tau_schedule": "cosine"}, "moe.tau_schedule"),
    ("dts", {"tau_min": 2.0, "tau_max": 1.0}, "tau_min"),
    ("lossfree", {"bias_rule": "adam"}, "moe.bias_rule"),
    ("expert_choice", {"capacity_factor": 0.0}, "moe.capacity_factor"),
    ("topk", {"temperature": 1.0}, "options"),
])
def test_named_errors(name, kw, key):
    with pytest.raises(R.MoEConfigError, match=key):
        R.make_spec(name, E, **kw)


@pytest.mark.parametrize("name,kw", ALL)
def test_registry_properties_match_behaviour(name, kw):
    """Each RouterKind property is what route() does: balance loss, PRNG key, state, learned, causal."""
    spec = R.make_spec(name, E, **kw)
    kind = spec.kind
    assert kind is R.KINDS[spec.name] and (name in R.KINDS or name in R.ALIASES)
    st = R.init_state(spec)
    assert bool(st) == kind.stateful == spec.has_state
    ids = jnp.arange(T)

    def run(lg, key=jax.random.PRNGKey(0)):
        return R.route(spec, lg, state=st, key=key, step=3, token_ids=ids)

    def chosen(r, rows=slice(None)):  # the experts each token is sent to (index where the slot is used)
        return np.where(np.asarray(r.mask), np.asarray(r.index), -1)[rows]

    r = run(_logits())
    assert (float(r.aux_loss) > 0) == kind.aux_loss
    if spec.needs_key:
        with pytest.raises(R.MoEConfigError, match="key"):
            run(_logits(), key=None)
    else:
        np.testing.assert_array_equal(chosen(run(_logits(), key=None)), chosen(r))
    other = run(_logits(seed=7))  # other router logits, same tokens
    assert (not np.array_equal(chosen(other), chosen(r))) == kind.learned
    # causal: changing the logits of the second half of the tokens leaves the first half's routes
    late = run(_logits().at[T // 2:].set(_logits(seed=9)[T // 2:]))
    first = slice(0, T // 2)
    assert np.array_equal(chosen(late, first), chosen(r, first)) == kind.causal
    assert spec.residual == (name == "base")


def test_aliases_fix_their_options():
    assert R.make_spec("switch", E, k=3).k == 1  # an alias fixes k whatever the config's k
    g = R.make_spec("gshard", E, k=1)
    assert (g.name, g.k, g.normalize, g.second_policy) == ("topk", 2, True, "random")
    assert R.make_spec("gshard", E, normalize=False).normalize is False  # a default, not fixed
