"""lib.fl.clock.coding: gradient codes recover the exact sum of partition gradients from every straggler
set they tolerate; named errors for sets beyond the tolerance and for impossible parameters."""
import itertools

import numpy as np
import pytest

from lib.config import ConfigError
from lib.errors import TesseraError
from lib.fl.clock import coding


def _grads(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 3, 4))


@pytest.mark.parametrize("kind,n,s", [("cyclic", n, s) for n in (2, 5, 7) for s in range(n)]
                         + [("fractional", 6, s) for s in (0, 1, 2, 5)] + [("uncoded", 4, 0)])
def test_decode_of_encode_is_the_sum_for_every_tolerated_pattern(kind, n, s):
    b = coding.encoding(kind, n, s, seed=3)
    assert [len(x) for x in coding.support(b)] == [s + 1] * n  # each worker computes s + 1 partitions
    g = _grads(n)
    msgs = coding.encode(b, g)
    for lost in itertools.chain.from_iterable(itertools.combinations(range(n), k) for k in range(s + 1)):
        alive = np.ones(n, bool)
        alive[list(lost)] = False
        assert coding.tolerated(kind, n, s, alive)
        a = coding.decoding_vector(b, alive, s)
        assert np.all(a[~alive] == 0)  # stragglers' messages are never used
        np.testing.assert_allclose(coding.decode(a, msgs), g.sum(0), rtol=1e-9, atol=1e-9)


def test_cyclic_support_is_cyclic():
    b = coding.encoding("cyclic", 6, 2)
    for i, sup in enumerate(coding.support(b)):
        assert sorted(sup.tolist()) == sorted(((i + np.arange(3)) % 6).tolist())


def test_patterns_beyond_the_tolerance_are_named_errors():
    b = coding.encoding("cyclic", 6, 2)
    alive = np.array([1, 1, 1, 0, 0, 0], bool)  # 3 stragglers > s = 2
    assert not coding.tolerated("cyclic", 6, 2, alive)
    with pytest.raises(coding.UndecodableError, match="3 of 6 workers straggled"):
        coding.decoding_vector(b, alive, 2)
    with pytest.raises(coding.UndecodableError):  # without s: the least-squares check catches it
        coding.decoding_vector(b, alive)
    fr = coding.encoding("fractional", 6, 1)
    lucky = np.array([1, 0, 1, 0, 0, 1], bool)  # 3 stragglers, one responder per group: decodes
    assert coding.tolerated("fractional", 6, 1, lucky)
    np.testing.assert_allclose(coding.decode(coding.decoding_vector(fr, lucky), coding.encode(fr, _grads(6))),
                               _grads(6).sum(0))
    with pytest.raises(coding.UndecodableError):  # group {0, 1} has no responder
        coding.decoding_vector(fr, np.array([0, 0, 1, 1, 1, 1], bool))
    with pytest.raises(coding.UndecodableError, match="all 4"):
        coding.decoding_vector(np.eye(4), np.zeros(4, bool))
    assert issubclass(coding.UndecodableError, TesseraError)


def test_bad_parameters_are_config_errors():
    for args, match in [(("cyclic", 4, 4), "s=4"), (("cyclic", 4, -1), "s=-1"), (("fractional", 6, 3), "does not divide"),
                        (("mds", 4, 1), "unknown"), (("uncoded", 4, 1), "no stragglers"), (("cyclic", 0, 0), "n=0"),
                        (("cyclic", 4, 1.5), "integer")]:
        with pytest.raises(ConfigError, match=match):
            coding.encoding(*args)


def test_cyclic_decoding_is_float32_accurate_at_n16():
    """The kept draw's decoding coefficients stay small: float32 decoding (as on the device) is within
    1e-3 of the sum for every set of 3 stragglers of 16 (a single random draw can be off by 0.3 %)."""
    n, s = 16, 3
    b = coding.encoding("cyclic", n, s)
    b32 = b.astype(np.float32)
    worst = 0.0
    for lost in itertools.combinations(range(n), s):
        alive = np.ones(n, bool)
        alive[list(lost)] = False
        a = coding.decoding_vector(b, alive, s).astype(np.float32)
        worst = max(worst, float(np.abs(a @ b32 - 1).max()))
    assert worst < 1e-3
