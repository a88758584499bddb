"""FedStale project: the mix matches the paper's formula; smoke of default.py; bit-exact resume."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.fedstale import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 6, 1, 3, 3
    for k, v in kw.items():
        c[k] = v
    return c


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_mix_matches_formula_over_rounds(beta):
    """Three rounds of the Strategy + weighted-mean rule against a NumPy transcription of
    d_t = sum_S (q/p)(D - beta h) + beta sum_all q h; h_S <- D_S."""
    from lib.fl.aggregate import get_rule
    from projects.fedstale import stale

    rng = np.random.default_rng(0)
    n, dim = 5, 3
    counts = np.array([10, 20, 30, 15, 25])
    probs = np.array([0.5, 0.8, 0.3, 1.0, 0.6], np.float32)
    q = counts / counts.sum()
    s = stale.strategy(beta, counts, probs=probs)
    st = s.init({"w": jnp.zeros(dim)})
    h = np.zeros((n, dim))
    for rnd, members in enumerate([[0, 2], [1, 2, 4], [0, 3]]):
        part = np.zeros(n, bool)
        part[members] = True
        idx = np.full(n, n)
        idx[: len(members)] = members
        ctx = {"idx": jnp.asarray(idx), "valid": jnp.asarray(idx < n), "participating": jnp.asarray(part)}
        delta = rng.normal(size=(n, dim)).astype(np.float32)  # slot-ordered deltas
        upd, w, scale, st = s.prepare(st, {"w": jnp.asarray(delta)}, ctx)
        agg, _ = get_rule("fedavg")(upd, w, None, jax.random.PRNGKey(0))
        d, st = s.finish(st, jax.tree.map(lambda a: scale * a, agg), {"w": jnp.asarray(delta)}, ctx)
        want = beta * (q[:, None] * h).sum(0)
        for slot, k in enumerate(members):
            want = want + q[k] / probs[k] * (delta[slot] - beta * h[k])
        for slot, k in enumerate(members):
            h[k] = delta[slot]
        np.testing.assert_allclose(np.asarray(d["w"]), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(st["h"]), h, rtol=1e-6)


def test_errors():
    from projects.fedstale import stale

    with pytest.raises(ConfigError, match="beta=1.5"):
        stale.strategy(1.5, [1, 2], probs=[0.5, 0.5])
    with pytest.raises(ConfigError, match="probs='oracle'"):
        stale.strategy(0.5, [1, 2], probs=[0.5, 0.5], prob_source="oracle")


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    from projects.fedstale import train

    a, b = tmp_path / "a", tmp_path / "b"
    # the uninterrupted run is also the smoke test (estimated p, bfloat16 memory)
    cfg = dict(probs="estimated", memory_dtype="bfloat16")
    full = train.train_and_evaluate(_config(**cfg), str(a))
    assert full["step"] == 6 and np.isfinite(full["test_loss"])
    train.train_and_evaluate(_config(total=3, **cfg), str(b))
    final = train.train_and_evaluate(_config(**cfg), str(b))
    assert final["resumed_from"] == 3
    sa, sb = load_checkpoint(a, 6), load_checkpoint(b, 6)
    h = np.asarray(sa["strategy"]["h"])
    assert str(h.dtype) == "bfloat16" and np.abs(h.astype(np.float32)).sum() > 0  # memory is checkpointed
    assert_trees_equal(sa, sb)
    assert metric_rows(a)[3:] == metric_rows(b)[3:]


def test_label_swap_changes_only_swapped_clients_and_is_an_involution():
    from lib.fl import tasks
    from projects.fedstale import hetero

    y = np.arange(10)
    np.testing.assert_array_equal(hetero.swap_pairs(y, 10), [1, 0, 3, 2, 5, 4, 7, 6, 9, 8])
    np.testing.assert_array_equal(hetero.swap_pairs(np.arange(5), 5), [1, 0, 3, 2, 4])  # odd: last stays
    c = _config(label_swap=0.25)
    task = tasks.load_task(c)
    sw = hetero.swapped_clients(c.num_clients, c.label_swap, c.seed)
    assert sw.sum() == 6 and np.array_equal(sw, hetero.swapped_clients(c.num_clients, 0.25, c.seed))
    out = hetero.swap_client_labels(task.data, sw, task.num_classes)
    idx, ns = np.asarray(task.data.index), np.asarray(task.data.num_samples)
    y0, y1 = np.asarray(task.data.y), np.asarray(out.y)
    for k in range(c.num_clients):
        rows = idx[k, : ns[k]]
        np.testing.assert_array_equal(y1[rows], hetero.swap_pairs(y0[rows], 10) if sw[k] else y0[rows])
    assert (y1 != y0).any()


def test_participation_groups():
    from projects.fedstale import hetero, train

    p = hetero.group_probs(24, (1.0, 0.5), seed=0)
    assert sorted(np.unique(p, return_counts=True)[1]) == [12, 12] and set(p) == {1.0, 0.5}
    c = _config(participation_groups=(1.0, 0.5), label_swap=0.5)
    part = train.participation(c, None)
    np.testing.assert_array_equal(part.probs, p)
    with pytest.raises(ConfigError, match="participation_groups"):
        train.validate(_config(participation_groups=(1.0, 0.0)))
    with pytest.raises(ConfigError, match="label_swap"):
        train.validate(_config(label_swap=1.5))
    with pytest.raises(ConfigError, match="uniform"):
        train.validate(_config(participation_groups=(1.0, 0.5), participation="uniform"))


def test_groups_and_label_swap_smoke(tmp_path):
    from projects.fedstale import train

    out = train.train_and_evaluate(_config(participation_groups=(1.0, 0.5), label_swap=0.5, total=2), str(tmp_path))
    assert out["step"] == 2 and np.isfinite(out["test_loss"])
