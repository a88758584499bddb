"""Test setup: 8 simulated CPU devices before JAX is imported; data root; markers."""
import os

# Test programs are tiny, so XLA:CPU's compile (LLVM optimisation and codegen) is most of the suite's
# time: a cheaper backend pipeline cuts the suite's CPU time by about a third (measured on the gist
# and frl test files: 39 -> 26 s and 37 -> 24 s). The HLO passes, and so the numerics, are unchanged;
# the user's own runs keep XLA's defaults.
_FAST_COMPILE = ("--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
                 "--xla_cpu_parallel_codegen_split_count=1")
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8 " + _FAST_COMPILE
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# speed choices take their defaults, so results do not depend on the machine (tests/lib/test_autotune.py
# turns measuring on)
os.environ["TESSERA_AUTOTUNE"] = "0"

import pathlib  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


def data_root() -> pathlib.Path:
    return pathlib.Path(os.environ.get("TESSERA_DATA_DIR", REPO / "data"))


def pytest_collection_modifyitems(config, items):
    """Skip `data` tests when the data root is absent, `gpu` tests without a GPU. Tests
    marked `slow` go first, so that under pytest-xdist they start early instead of
    leaving one worker running them alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable
    have_data = data_root().is_dir()
    try:
        import jax

        have_gpu = any(d.platform == "gpu" for d in jax.devices())
    except Exception:  # pragma: no cover
        have_gpu = False
    for item in items:
        if item.get_closest_marker("data") and not have_data:
            item.add_marker(pytest.mark.skip(reason=f"data root {data_root()} not found"))
        if item.get_closest_marker("gpu") and not have_gpu:
            item.add_marker(pytest.mark.skip(reason="no GPU"))


@pytest.fixture
def data_dir() -> pathlib.Path:
    return data_root()


@pytest.fixture
def no_compiles():
    """The XLA compile events that happen while the test runs (bad input must cause none)."""
    from jax import monitoring

    events = []
    listener = lambda name, *a, **k: events.append(name) if "compile" in name else None  # noqa: E731
    monitoring.register_event_duration_secs_listener(listener)
    yield events
    monitoring.unregister_event_duration_listener(listener)
