"""lib.native: the C++ kernels agree with their pure-JAX paths and with NumPy, and a
missing or failing build falls back with a warning instead of an error."""

import pathlib
import shutil
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import native
from lib.fl import _select as sel
from lib.fl import aggregate as agg

KEY = jax.random.PRNGKey(0)
HAS_CXX = native._compiler() is not None


def _reference(x, w, rule, beta=0.1):
    x = np.where(np.isnan(x), np.inf, x)
    xs = np.sort(x[w > 0], axis=0)
    n = xs.shape[0]
    if n == 0:
        return np.zeros(x.shape[1], np.float32)
    if rule == "median":
        k = (n - 1) // 2
        return xs[k] if n % 2 else (xs[k] + xs[k + 1]) / np.float32(2)
    c = int(np.floor(np.float32(beta) * np.float32(n)))
    with np.errstate(invalid="ignore"):
        return xs[c:n - c].astype(np.float64).mean(axis=0)


def _case(kind, k, d, rng):
    x = rng.standard_normal((k, d)).astype(np.float32)
    w = np.ones(k, np.float32)
    if kind == "ties":
        x = np.round(x * 2) / 2
    elif kind == "sorted":  # rows in value order: a strided sample is then exact quantiles
        x = np.sort(x, axis=0)
    elif kind == "nonfinite":
        x[rng.random((k, d)) < 0.05] = np.nan
        x[rng.random((k, d)) < 0.02] = -np.inf
    elif kind == "absent":
        w[rng.random(k) < 0.4] = 0
    elif kind == "adversarial":  # extreme rows where the kernel samples: every pivot is useless
        x[::3] = 1e30
        x[1::7] = -1e30
    elif kind == "half_nan":
        x[: k // 2 + 3] = np.nan
    elif kind == "one_present":
        w[:] = 0
        w[k // 3] = 1
    elif kind == "nobody":
        w[:] = 0
    return x, w


def _use_native(monkeypatch, flag):
    """The path is chosen at trace time and the rules are jitted: drop their cached traces
    (only theirs: jax.clear_caches() would make the rest of this worker's tests recompile)."""
    monkeypatch.setenv("TESSERA_NATIVE", flag)
    for name in ("median", "trimmed_mean"):
        agg.get_rule(name).clear_cache()


def _rule(rule, x, w):
    out, _ = agg.get_rule(rule)(jnp.asarray(x), jnp.asarray(w), None, KEY)
    return np.asarray(out)


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler")
def test_kernel_builds_where_a_compiler_exists():
    assert native.load(*sel.KERNEL)


KINDS = ["normal", "ties", "sorted", "nonfinite", "absent", "adversarial", "half_nan", "one_present", "nobody"]


@pytest.mark.parametrize("flag,ks", [("1", (129, 1000)), ("0", (129,))])
def test_order_stats_native_and_xla_paths_match_numpy(flag, ks, monkeypatch):
    """Every awkward case through the native kernel, and through the pure-JAX path
    (radix select) that runs where the kernel is unavailable. Columns: two full tiles of
    the kernel and a ragged one. One trace per shape: the cases share shapes."""
    _use_native(monkeypatch, flag)
    for k in ks:
        rng = np.random.default_rng(k)
        for kind in KINDS:
            x, w = _case(kind, k, 64 * 2 + 5, rng)
            np.testing.assert_array_equal(_rule("median", x, w), _reference(x, w, "median"), err_msg=kind)
            np.testing.assert_allclose(_rule("trimmed_mean", x, w), _reference(x, w, "trimmed_mean"),
                                       rtol=1e-5, atol=1e-6, err_msg=kind)


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler")
def test_native_path_is_the_one_lowered_on_cpu(monkeypatch):
    x = jnp.zeros((200, 8))
    hlo = lambda: jax.jit(lambda x: agg.get_rule("median")(x, jnp.ones(200), None, KEY)[0]).lower(x).as_text()
    assert "tessera_order_stats" in hlo()
    _use_native(monkeypatch, "0")
    assert "tessera_order_stats" not in hlo()


def test_kernel_under_vmap():
    x = np.random.default_rng(0).standard_normal((3, 200, 10)).astype(np.float32)
    f = jax.vmap(lambda u: agg.get_rule("median")(u, jnp.ones(200), None, KEY)[0])
    np.testing.assert_array_equal(np.asarray(f(jnp.asarray(x))), np.median(x, axis=1))


def test_failed_build_warns_and_falls_back(monkeypatch, tmp_path):
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="failed"):
        native._build("order_stats", shutil.which("false") or "/bin/false")
    with pytest.warns(RuntimeWarning, match="no_such_kernel"):
        assert not native.load("no_such_kernel", ())


@pytest.mark.parametrize("flag", ["1", "0"])
def test_rules_inside_shard_map_over_columns(flag, monkeypatch):
    """Per-device columns inside shard_map: the kernel's result must be typed as varying
    over the mesh axis like the pure-JAX twin (and that twin's loop carries too)."""
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

    _use_native(monkeypatch, flag)
    mesh = jax.make_mesh((jax.device_count(),), ("clients",), axis_types=(AxisType.Auto,))
    x = np.random.default_rng(3).standard_normal((200, 16 * jax.device_count())).astype(np.float32)
    xs = jax.device_put(x, NamedSharding(mesh, P(None, "clients")))
    for rule in ("median", "trimmed_mean"):
        f = jax.shard_map(lambda u: agg.get_rule(rule)(u, jnp.ones(200), None, KEY)[0][None], mesh=mesh,
                          in_specs=P(None, "clients"), out_specs=P(None, "clients"))
        np.testing.assert_allclose(np.asarray(jax.jit(f)(xs))[0], _reference(x, np.ones(200), rule),
                                   rtol=1e-5, atol=1e-6)


def test_unwritable_cache_falls_back_to_temp_dir(monkeypatch, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(blocker))  # mkdir below a file fails
    d = native._cache_dir()
    assert str(d).startswith(tempfile.gettempdir()) and "tessera-native" in d.name


# --------------------------------------------------------------------------- gram.cc (X X^T)


def _gram_native(x):
    return np.asarray(jax.jit(agg._gram_native)(jnp.asarray(x)))


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler")
@pytest.mark.parametrize("k,d", [(1, 9000), (7, 2 * 4096 + 37), (101, 3000 + 5), (130, 70000 + 3)])
def test_gram_kernel_matches_float64(k, d):
    """K not a multiple of the row block, K = 1, a partial last vector and panel, several
    column segments (70k columns); exactly symmetric."""
    assert native.load(*agg._GRAM_KERNEL)
    rng = np.random.default_rng(40)
    x = (0.5 + rng.standard_normal((k, d))).astype(np.float32)
    g = _gram_native(x)
    x64 = x.astype(np.float64)
    ref = x64 @ x64.T
    np.testing.assert_allclose(g, ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    np.testing.assert_array_equal(g, g.T)


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler")
def test_gram_kernel_nonfinite_row_poisons_its_row_and_column_only():
    rng = np.random.default_rng(41)
    x = rng.standard_normal((9, 5000)).astype(np.float32)
    x[3, 17] = np.nan
    x[6, 4000] = np.inf
    g = _gram_native(x)
    bad = np.zeros(9, bool)
    bad[[3, 6]] = True
    assert not np.isfinite(np.diagonal(g))[bad].any() and np.isfinite(np.diagonal(g))[~bad].all()
    ok = x[~bad].astype(np.float64)
    np.testing.assert_allclose(g[np.ix_(~bad, ~bad)], ok @ ok.T, rtol=1e-5, atol=1e-3)
    assert not np.isfinite(g[bad]).any() and not np.isfinite(g[:, bad]).any()


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler")
def test_gram_kernel_does_not_depend_on_the_thread_count(tmp_path):
    """A fresh process pinned to one core, Eigen's threading off (segments taken by the pool's
    threads in another order and number) gives the same bits."""
    import os
    import subprocess
    import sys

    x = np.random.default_rng(42).standard_normal((50, 60000)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, numpy as np, jax, jax.numpy as jnp; from lib import native; from lib.fl import aggregate as agg; "
            "native.load(*agg._GRAM_KERNEL); x = np.load(sys.argv[1]); np.save(sys.argv[2], np.asarray(jax.jit(agg._gram_native)(jnp.asarray(x))))")
    env = dict(os.environ, XLA_FLAGS="--xla_cpu_multi_thread_eigen=false")
    root = pathlib.Path(__file__).resolve().parents[2]
    subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code, str(tmp_path / "x.npy"), str(tmp_path / "g.npy")],
                   env=dict(env, PYTHONPATH=str(root)), cwd=root, check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), _gram_native(x))


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler")
def test_gram_native_path_is_the_one_lowered_on_cpu_and_krum_agrees(monkeypatch):
    x = np.random.default_rng(43).standard_normal((40, 3 * agg._GRAM_CHUNK + 11)).astype(np.float32)
    x[5] = np.nan
    hlo = lambda: jax.jit(lambda u: agg._gram_full(u)).lower(jnp.asarray(x)).as_text()  # a fresh trace
    outs = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("TESSERA_NATIVE", flag)
        for name in ("krum", "multi_krum"):
            agg.get_rule(name).clear_cache()
        assert ("tessera_gram" in hlo()) == (flag == "1")
        outs[flag] = [np.asarray(agg.get_rule(n)(jnp.asarray(x), jnp.ones(40), None, KEY)[0])
                      for n in ("krum", "multi_krum")]
    for a, b in zip(outs["1"], outs["0"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
