"""lib.native: the C++ kernels agree with their pure-JAX paths and with NumPy, and a
missing or failing build falls back with a warning instead of an error."""

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
