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
