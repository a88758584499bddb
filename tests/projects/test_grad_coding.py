"""Sequential gradient coding project: the (B, W, lambda) model check, M-SGC decodes every job exactly
by its deadline (and never waits for a straggler of a conforming pattern), the masters' waits, equal
steps in every mode, smoke, bit-exact resume, named errors."""
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(mode="sgc", **kw):
    from configs.grad_coding import default

    c = default.get_config(mode)
    c.num_jobs = 16
    for key, v in kw.items():
        node, *rest = key.split("__")
        if rest:
            c[node][rest[0]] = v
        else:
            c[key] = v
    return c


def test_bursty_model_check():
    from projects.grad_coding.schemes import conforms

    h = np.zeros((4, 5), bool)
    h[0, [2, 3]] = True
    assert conforms(h, 2, 3, 1)
    assert not conforms(h, 1, 3, 1)  # a burst of 2 > B = 1
    h[1, 4] = True
    assert not conforms(h, 2, 3, 1)  # two distinct stragglers in the last 3 rounds > lambda = 1
    assert conforms(h, 2, 3, 2)
    h[0, 4] = True
    assert not conforms(h, 2, 3, 2)  # worker 0 at rounds 2 and 4: span 3 > B = 2


def _conforming(n, rounds, b, w, lam, p, rng):
    from projects.grad_coding.schemes import conforms

    hist = np.zeros((n, 0), bool)
    for _ in range(rounds):
        col = np.zeros(n, bool)
        for i in rng.permutation(n):
            col[i] = rng.random() < p
            if col[i] and not conforms(np.concatenate([hist[:, -(w - 1):], col[:, None]], 1), b, w, lam):
                col[i] = False
        hist = np.concatenate([hist, col[:, None]], 1)
    return hist.T


@pytest.mark.parametrize("n,b,w,lam,code", [(6, 1, 2, 1, "cyclic"), (6, 2, 3, 2, "cyclic"), (8, 2, 4, 3, "cyclic"),
                                             (8, 3, 4, 2, "cyclic"), (5, 1, 4, 4, "cyclic"), (6, 2, 3, 2, "fractional")])
def test_msgc_conforming_patterns_decode_exactly_without_waiting(n, b, w, lam, code):
    """The design guarantee: for every (B, W, lambda)-conforming pattern the master declares every slow
    worker a straggler (never waits for one) and each job decodes to the plain sum of its units."""
    from projects.grad_coding import schemes

    for trial in range(4):
        sc = schemes.MSGC(n, b, w, lam, code)
        jobs = 20
        pat = _conforming(n, jobs + sc.T, b, w, lam, 0.3, np.random.default_rng(trial))
        r = schemes.simulate("sgc", sc, jobs, lambda t, units, m: (units * (1 + 9 * pat[t]), pat[t]), tol=0.5,
                             design=(b, w, lam))
        np.testing.assert_array_equal(r.stragglers, pat)
        assert r.job_round.tolist() == [j + sc.T for j in range(jobs)]
        for j in range(jobs):
            e, a = schemes.job_matrices("sgc", sc, r, j, np.float64)
            np.testing.assert_allclose(a @ e, 1.0, atol=1e-9)


@pytest.mark.parametrize("n,b,w,lam", [(6, 1, 2, 1), (6, 2, 3, 2), (8, 2, 4, 3), (8, 3, 5, 3), (8, 1, 4, 4)])
def test_srsgc_conforming_patterns_decode_exactly_without_waiting(n, b, w, lam):
    """Scheme 1 with s = ceil(B lambda / (W - 1 + B)): no waits under conforming patterns either; jobs
    decode exactly by round t + T = t + W - 1."""
    from projects.grad_coding import schemes

    for trial in range(4):
        sc = schemes.SRSGC(n, b, w, lam, "cyclic", units_per_worker=2)
        assert sc.s < lam or lam == 1
        jobs = 20
        pat = _conforming(n, jobs + sc.T, b, w, lam, 0.3, np.random.default_rng(trial))
        r = schemes.simulate("srsgc", sc, jobs, lambda t, units, m: (units * (1 + 9 * pat[t]), pat[t]), tol=0.5,
                             design=(b, w, lam))
        np.testing.assert_array_equal(r.stragglers[:jobs], pat[:jobs])  # (tail rounds: idle workers)
        assert np.all(r.job_round - np.arange(jobs) <= sc.T)
        for j in range(jobs):
            e, a = schemes.job_matrices("srsgc", sc, r, j, np.float64)
            np.testing.assert_allclose(a @ e, 1.0, atol=1e-9)


@pytest.mark.parametrize("master", ["design", "feasible"])
def test_msgc_any_pattern_decodes_exactly(master):
    """Arbitrary (non-conforming, Gilbert-Elliott-like) stragglers: the master waits where it must,
    every job still decodes exactly; the `design` master's declared history conforms."""
    from projects.grad_coding import schemes

    n, b, w, lam = 8, 2, 3, 2
    rng = np.random.default_rng(1)
    bad, slow = np.zeros(n, bool), []
    for _ in range(80):
        bad = np.where(bad, rng.random(n) > 0.4, rng.random(n) < 0.15)
        slow.append(bad.copy())
    slow = np.array(slow)
    sc = schemes.MSGC(n, b, w, lam)
    r = schemes.simulate("sgc", sc, 80 - sc.T, lambda t, u, m: (u * (1 + 4 * slow[t]), slow[t]), tol=0.5,
                         design=(b, w, lam), master=master)
    assert not (r.stragglers & ~slow).any()  # only slow workers are declared
    assert (slow & ~r.stragglers).any()  # this pattern exceeds the design somewhere: the master waited
    for j in range(80 - sc.T):
        e, a = schemes.job_matrices("sgc", sc, r, j, np.float64)
        np.testing.assert_allclose(a @ e, 1.0, atol=1e-9)
    if master == "design":
        for t in range(len(r.stragglers)):
            assert schemes.conforms(r.stragglers[max(0, t - w + 1):t + 1].T, b, w, lam)


def test_gc_master_waits_for_the_fastest_n_minus_s():
    from projects.grad_coding import schemes

    n, s = 6, 2
    fin = np.array([[1.0, 9.0, 2.0, 8.0, 7.0, 3.0]])
    gc = schemes.GC(n, s, "cyclic", units_per_worker=2)
    r = schemes.simulate("gc", gc, 1, lambda t, u, m: (fin[t], fin[t] > 5))
    assert r.stragglers[0].tolist() == [False, True, False, True, False, False]
    assert r.round_end[0] == 7.0
    e, a = schemes.job_matrices("gc", gc, r, 0, np.float64)
    np.testing.assert_allclose(a @ e, 1.0, atol=1e-9)
    un = schemes.GC(n, 0, "uncoded", units_per_worker=2)
    assert schemes.simulate("uncoded", un, 1, lambda t, u, m: (fin[t], fin[t] > 5)).round_end[0] == 9.0


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    from projects.grad_coding import train

    out = {}
    for mode in ("uncoded", "gc", "sgc", "srsgc"):
        wd = tmp_path_factory.mktemp(mode)
        out[mode] = (wd, train.train_and_evaluate(_config(mode, eval_every=4, checkpoint_every=4), str(wd)))
    return out


def test_smoke_and_equal_steps_in_every_mode(full):
    """Decoding is exact, so every mode takes the same steps (to float rounding); only time differs."""
    wd, final = full["sgc"]
    assert final["step"] == 16 and final["test_accuracy"] > final["initial_test_accuracy"] + 0.2
    evals = [r for r in metric_rows(wd) if "test_accuracy" in r]
    assert [r["step"] for r in evals] == [4, 8, 12, 16]
    assert np.all(np.diff([r["virtual_time"] for r in evals]) > 0)
    ref = load_checkpoint(full["uncoded"][0], 16)["params"]
    for mode in ("gc", "sgc", "srsgc"):
        got = load_checkpoint(full[mode][0], 16)["params"]
        for x, y in zip(np.asarray(ref["head"]["kernel"]).ravel(), np.asarray(got["head"]["kernel"]).ravel()):
            assert abs(x - y) <= 1e-4 * max(1.0, abs(x))
        assert abs(full[mode][1]["test_accuracy_mean"] - full["uncoded"][1]["test_accuracy_mean"]) < 0.01
    assert full["sgc"][1]["delay_T"] == 2 and full["gc"][1]["delay_T"] == 0


def test_interrupted_and_resumed_equals_uninterrupted(full, tmp_path):
    from projects.grad_coding import train

    wd, final = full["sgc"]
    train.train_and_evaluate(_config("sgc", eval_every=4, checkpoint_every=4, stop_after_steps=8), str(tmp_path))
    resumed = train.train_and_evaluate(_config("sgc", eval_every=4, checkpoint_every=4), str(tmp_path))
    assert resumed["resumed_from"] == 8
    assert_trees_equal(load_checkpoint(wd, 16), load_checkpoint(tmp_path, 16))
    rows = lambda d: [r for r in metric_rows(d) if r["step"] > 8]  # noqa: E731
    assert rows(wd) == rows(tmp_path)


def test_named_errors_before_compile():
    from projects.grad_coding import train

    bad = [(dict(mode="mds"), "mode"), (dict(num_workers=0), "num_workers=0"), (dict(sgc__B=3), "B=3"),
           (dict(sgc__W=1), "W=1"), (dict(sgc__lam=6), "lam=6"), (dict(sgc__tol=-1.0), "tol"),
           (dict(sgc__master="oracle"), "master"), (dict(lrs=(0.1, 0.2)), "T \\+ 1 = 3"),
           (dict(lrs=(0.1, -1.0, 0.1)), "lrs"), (dict(clock__bandwidth=0.0), "bandwidth"),
           (dict(clock__ge_p_good_bad=1.5), "ge_p_good_bad"), (dict(dataset="cifar10"), "dataset"),
           (dict(num_jobs=0), "num_jobs"), (dict(mode="srsgc", lrs=(0.1, 0.2)), "T \\+ 1 = 3")]
    for kw, match in bad:
        with pytest.raises(ConfigError, match=match):
            train.validate(_config(**kw))
    for kw, match in [(dict(gc__s=6), "s=6"), (dict(gc__s=-1), "s=-1"), (dict(gc__code="fractional", gc__s=3),
                                                                          "does not divide")]:
        with pytest.raises(ConfigError, match=match):
            train.validate(_config("gc", **kw))
