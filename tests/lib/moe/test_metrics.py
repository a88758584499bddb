"""Routing metrics on hand-made traces."""
import numpy as np
import pytest

from lib.moe import metrics as M


def _trace(ids, e):
    ids = np.asarray(ids)
    return M.trace_from_index(ids[None, :, None], None, e)  # [1, L, E], k = 1


def test_load_cv_dropped():
    load = M.load_histogram(np.array([[0, 1], [0, 2], [0, 1]]), None, 4)
    np.testing.assert_array_equal(load, [3, 2, 1, 0])
    assert M.cv([2, 2, 2, 2]) == 0.0
    assert M.cv([4, 0, 0, 0]) == pytest.approx(np.sqrt(3))
    assert M.max_over_mean([4, 0, 0, 0]) == 4.0
    assert M.load_histogram(np.array([0, 1, 1]), np.array([1, 0, 1]), 2).tolist() == [1, 1]
    assert M.dropped_fraction(10, 7) == pytest.approx(0.3)


def test_constant_routing_is_perfectly_consistent():
    a = _trace([3] * 32, 4)
    for m in M.SEGMENTS:
        assert M.srp(a, m) == pytest.approx(1.0)
        assert M.sch(a, m, 1) == pytest.approx(1.0)


def test_alternating_two_experts_by_hand():
    a = _trace([0, 1] * 8, 4)  # L = 16
    # every window of 4 has counts (2, 2, 0, 0): threshold 1 or 2 gives S = {0, 1}:
    # matches 4, preds 8, acts 4 -> F1 = 8 / 12
    assert M.srp(a, 4) == pytest.approx(2 / 3)
    # C = 1: full look-ahead windows tie 2:2, the other expert is more recent -> miss;
    # hits at i = 0 (tie, lower id 0 requested), 13 and 15 (truncated windows favour the request)
    assert M.sch(a, 4, 1) == pytest.approx(3 / 16)
    assert M.sch(a, 4, 2) == pytest.approx(1.0)


def test_sch_lookahead_one_is_oracle():
    rng = np.random.default_rng(0)
    a = _trace(rng.integers(0, 8, 64), 8)
    assert M.sch(a, 1, 1) == pytest.approx(1.0)  # the next token's expert is always ranked first
    curve = M.sch_curve(a, 16)
    assert np.all(np.diff(curve) >= 0) and curve[-1] == pytest.approx(1.0)


def test_random_routing_less_consistent_than_blocky():
    rng = np.random.default_rng(0)
    rand = _trace(rng.integers(0, 8, 256), 8)
    blocky = _trace(np.repeat(rng.integers(0, 8, 16), 16), 8)
    assert M.srp(blocky, 16) > M.srp(rand, 16) + 0.2
    assert M.sch(blocky, 16, 2) > M.sch(rand, 16, 2) + 0.2


def test_model_level_sums_layers():
    a = _trace([0, 1] * 8, 4)
    b = _trace([2] * 16, 4)
    both = np.stack([a, b])
    # layer stats summed before F1: matches 4+4, preds 8+4, acts 4+4 (threshold 1)
    assert M.srp(both, 4) == pytest.approx(16 / 20)
    t = M.consistency_table(both, k=1, segments=(4, 16))
    assert set(t) == {4, 16} and 0 < t[4]["srp"] <= 1
