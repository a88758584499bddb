"""Native CPU kernels: XLA FFI custom calls for what XLA:CPU does poorly.

Each kernel is a C++ file beside this module. On first use it is compiled with the
system C++ compiler (``$CXX``, else ``g++``/``c++``/``clang++``) against jaxlib's FFI
headers into a per-user cache (``$TESSERA_CACHE_DIR``, else ``~/.cache/tessera``),
loaded with ctypes and registered as an XLA FFI target for the CPU platform.

Every caller keeps its pure-JAX path and picks it with ``jax.lax.platform_dependent``
(see `cpu_or`): on GPU/TPU, when no compiler is found, when the build fails (a warning
names the compiler error), or with ``TESSERA_NATIVE=0`` the XLA path runs instead, so
results never depend on whether a kernel was built — tests check both paths agree.

The build uses ``-march=native``; the cache key includes the source, the flags, the
compiler, jaxlib's version and this CPU's feature flags, so a cache shared between
machines never hands one a binary built for another.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import pathlib
import platform
import shutil
import subprocess
import tempfile
import warnings

import jax

HERE = pathlib.Path(__file__).resolve().parent
FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC")


def enabled() -> bool:
    """False when TESSERA_NATIVE=0 (read at trace time: a jitted function keeps its path)."""
    return os.environ.get("TESSERA_NATIVE", "1") != "0"


def _compiler() -> str | None:
    for c in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if c and shutil.which(c):
            return shutil.which(c)
    return None


def _cpu_flags() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _cache_dir() -> pathlib.Path:
    """$TESSERA_CACHE_DIR, else ~/.cache/tessera, else (not writable) the system temp dir."""
    root = os.environ.get("TESSERA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tessera")
    path = pathlib.Path(root) / "native"
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    return pathlib.Path(tempfile.gettempdir()) / f"tessera-native-{os.getuid() if hasattr(os, 'getuid') else 0}"


def _build(name: str, cxx: str) -> pathlib.Path:
    src = HERE / f"{name}.cc"
    include = jax.ffi.include_dir()
    ident = hashlib.sha256()
    for part in (src.read_bytes(), (HERE / "common.h").read_bytes(), " ".join(FLAGS).encode(),
                 cxx.encode(), jax.__version__.encode(), _cpu_flags().encode()):
        ident.update(part)
    out = _cache_dir() / f"{name}-{ident.hexdigest()[:16]}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # build under a temporary name, then rename: concurrent first uses (pytest -n) are safe
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        cmd = [cxx, *FLAGS, "-isystem", include, "-I", str(HERE), str(src), "-o", tmp]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


@functools.lru_cache(maxsize=None)
def load(name: str, targets: tuple[tuple[str, str], ...]) -> bool:
    """Builds `name`.cc once per process and registers its (target, symbol) pairs for CPU.
    Returns False, with one warning naming the reason, when that is impossible."""
    cxx = _compiler()
    if cxx is None:
        warnings.warn(f"tessera native kernel {name!r}: no C++ compiler found (set $CXX); "
                      "using the pure-JAX path", RuntimeWarning, stacklevel=2)
        return False
    try:
        lib = ctypes.cdll.LoadLibrary(str(_build(name, cxx)))
        for target, symbol in targets:
            jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)), platform="cpu")
    except (OSError, RuntimeError, AttributeError) as e:
        warnings.warn(f"tessera native kernel {name!r} unavailable, using the pure-JAX path: {e}",
                      RuntimeWarning, stacklevel=2)
        return False
    return True


def varying_like(out, *inputs):
    """Inside shard_map, an FFI call's result is typed as invariant across the mesh axes
    even when its inputs vary (per-device data); mark it varying over the axes the inputs
    vary over, so that it matches the pure-JAX twin (platform_dependent needs equal types)."""
    axes = set()
    for x in inputs:
        mat = getattr(jax.typeof(x), "manual_axis_type", None)  # jax >= 0.10 (was `.vma`)
        axes |= set(mat.varying if mat is not None else getattr(jax.typeof(x), "vma", ()) or ())
    if not axes:
        return out
    return jax.tree.map(lambda o: jax.lax.pcast(o, tuple(sorted(axes)), to="varying"), out)


def cpu_or(native, fallback, *args, kernel: tuple[str, tuple[tuple[str, str], ...]]):
    """native(*args) when lowering for CPU and the kernel is built, else fallback(*args).

    The choice between CPU and other platforms is made by XLA at lowering
    (`jax.lax.platform_dependent`); the build is attempted at trace time, only when
    tracing for a CPU backend and `enabled()`."""
    if not (enabled() and jax.default_backend() == "cpu" and load(*kernel)):
        return fallback(*args)
    return jax.lax.platform_dependent(*args, cpu=native, default=fallback)
