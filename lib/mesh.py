"""Device meshes from config, and the shardings every project uses.

`config.mesh` is a list of `(axis, size)` with at most one size -1, filled with what is
left of the device count: `[('data', -1)]`, `[('data', 2), ('expert', 4)]`. Across
hosts/slices, `config.mesh_dcn` (same axis names) says how many hosts each axis spans;
the mesh is then built with the hybrid (ICI x DCN) device order so that collectives of
the inner axes stay inside a host.

Meshes use `AxisType.Auto`, the classic GSPMD mode: jitted functions take
`NamedSharding` in/out and XLA places the collectives; `jax.shard_map` is used where a
project wants the per-device program explicitly (MoE all_to_all, FL clients).
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from lib.config import ConfigError


def _sizes(spec: Sequence[tuple[str, int]], total: int, what: str) -> tuple[list[str], list[int]]:
    names = [str(a) for a, _ in spec]
    sizes = [int(s) for _, s in spec]
    if len(set(names)) != len(names):
        raise ConfigError(f"{what}={list(spec)} repeats an axis name")
    if sizes.count(-1) > 1:
        raise ConfigError(f"{what}={list(spec)} has more than one -1")
    if any(s == 0 or s < -1 for s in sizes):
        raise ConfigError(f"{what}={list(spec)}: sizes must be positive or -1")
    known = math.prod(s for s in sizes if s != -1)
    if total % known:
        raise ConfigError(
            f"{what}={list(spec)} does not divide the {total} devices available "
            f"(product of fixed sizes is {known})"
        )
    if -1 in sizes:
        sizes[sizes.index(-1)] = total // known
    elif known != total:
        raise ConfigError(f"{what}={list(spec)} uses {known} devices but {total} are available")
    return names, sizes


def _pairs(spec, what: str) -> list[tuple[str, int]]:
    """`[(axis, size), ...]` or a ConfigError naming the value (e.g. `--config.mesh=data`)."""
    ok = isinstance(spec, (list, tuple)) and all(
        isinstance(x, (list, tuple)) and len(x) == 2 and isinstance(x[0], str)
        and isinstance(x[1], (int, np.integer)) and not isinstance(x[1], bool) for x in spec)
    if not ok:
        raise ConfigError(f"{what}={spec!r} is not a list of (axis name, size) pairs; e.g. (('data', -1),) "
                          "or (('data', 2), ('expert', 4))")
    return [tuple(x) for x in spec]


def make_mesh(spec, dcn=None, devices=None) -> Mesh:
    """Mesh from `[(axis, size), ...]`; validates before anything is compiled."""
    devices = list(devices if devices is not None else jax.devices())
    spec = _pairs(spec, "config.mesh")
    if not spec:
        raise ConfigError("config.mesh is empty; e.g. [('data', -1)]")
    if not dcn:
        names, sizes = _sizes(spec, len(devices), "config.mesh")
        arr = mesh_utils.create_device_mesh(sizes, devices)
        return Mesh(arr, names, axis_types=(AxisType.Auto,) * len(names))
    dcn = _pairs(dcn, "config.mesh_dcn")
    if [a for a, _ in dcn] != [a for a, _ in spec]:
        raise ConfigError(f"config.mesh_dcn={dcn} must name the same axes, in order, as config.mesh={spec}")
    num_slices = len({getattr(d, "slice_index", d.process_index) for d in devices})
    dnames, dsizes = _sizes(dcn, num_slices, "config.mesh_dcn")
    per_slice = len(devices) // num_slices
    names, sizes = _sizes(spec, per_slice, "config.mesh (per host/slice)")
    arr = mesh_utils.create_hybrid_device_mesh(
        sizes, dsizes, devices, process_is_granule=not hasattr(devices[0], "slice_index")
    )
    return Mesh(arr, names, axis_types=(AxisType.Auto,) * len(names))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, axis: str | Sequence[str] = "data") -> NamedSharding:
    """Leading (batch) dimension split over `axis` (or several axes), the rest replicated."""
    return NamedSharding(mesh, P(axis))


def check_batch(batch_size: int, mesh: Mesh, axis: str = "data", key: str = "batch_size") -> None:
    size = mesh.shape[axis]
    if batch_size % size:
        raise ConfigError(
            f"config.{key}={batch_size} is not divisible by the '{axis}' mesh axis size {size}"
        )


def global_array(global_value: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global jax.Array from a host value every process can compute in full.

    Each process materialises only the slices its own devices hold, so the same code
    gives the same global batch on 1 process x 8 devices and on 2 processes x 4.
    """
    global_value = np.asarray(global_value)
    return jax.make_array_from_callback(global_value.shape, sharding, lambda idx: global_value[idx])


def put_tree(tree, sharding: NamedSharding):
    return jax.tree.map(lambda x: global_array(np.asarray(x), sharding), tree)


def path_names(path) -> tuple[str, ...]:
    """The key names of a jax key path (dict keys, attribute names, sequence indices as strings)."""
    out = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                out.append(str(getattr(k, attr)))
                break
    return tuple(out)


def place_state(tree, mesh: Mesh, rules: Sequence[tuple[tuple[str, ...], P]] = ()):
    """Every leaf of a train state as a global array on `mesh`.

    A leaf whose key path ends with a rule's names (e.g. `('moe', 'w1')`, which also matches the
    optimizer's moments of that parameter) gets the rule's PartitionSpec; every other leaf is
    replicated. Build the state this way before `lib.train.run`: checkpoint restore reads every
    leaf straight into the sharding of this state, so a resumed run (on this mesh or a different
    one) hands the step exactly the layout a fresh run does.
    """
    rules = [(tuple(names), spec) for names, spec in rules]

    def place(path, x):
        names = path_names(path)
        spec = next((s for suffix, s in rules if names[-len(suffix):] == suffix), P())
        return global_array(np.asarray(jax.device_get(x)), NamedSharding(mesh, spec))

    return jax.tree_util.tree_map_with_path(place, tree)
