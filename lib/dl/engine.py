"""Decentralized training rounds as one pure jitted function of (state, data, hparams).

    round t:  every node i:  H local steps  x_i <- x_i - lr * d_i  (d_i from the node's own
              optimizer state and minibatch gradients on its own data), then Q gossip steps
              x <- W_t x over the graph, then the method's post-gossip update of the node's
              optimizer state (e.g. QG-DSGDm's momentum: the displacement gossip produced).

State (a dict pytree, checkpointable as is): `step` (= rounds done), `nodes` = {'params',
'opt'} with every leaf [n, ...] (node i's model and optimizer state in row i; laid out over
the `nodes` mesh axis by `place`), and the run's base `key`. Node i's minibatches at round t
come from fold_in(fold_in(key, t), i), so a round is a function of (state, t) only and an
interrupted run resumes bit for bit.

Local training reuses lib.fl.client: `ClientData` (every sample once in a pool, nodes as
padded index rows) and `batch_positions` (the batch of a step among a client's real
samples), so a node here draws the same minibatches an FL client with the same key would.
On CPU the nodes of a device are stepped one after another (`lax.map`), elsewhere all at
once (`vmap`) -- the choice lib.fl.engine makes for clients, for the same measured reason.

Metrics per round: loss (mean over nodes of their local minibatch losses), consensus
distance (1/n) sum_i ||x_i - mean x||^2 after gossip, bytes sent per node so far; per
evaluation: accuracy/loss of the averaged model and mean (min, max) accuracy of the nodes'
own models. A node whose local update or loss is NaN/inf stops the run with
`NonFiniteNodeError`, naming the node and the round, before the state is saved.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from lib import config as config_lib
from lib import mesh as mesh_lib
from lib import loop_jit
from lib import train as train_lib
from lib.config import ConfigError
from lib.dl import gossip as gossip_lib
from lib.dl import schedule as schedule_lib
from lib.dl import topology as topo_lib
from lib.errors import NonFiniteError
from lib.fl import client as client_lib

AXIS = gossip_lib.AXIS


class NonFiniteNodeError(NonFiniteError):
    """A node's local training produced NaN/inf; the message names the node and the round."""


class TooManyNodesError(ConfigError):
    """More nodes than training samples: some node would hold no data."""


class Method(NamedTuple):
    """A node optimizer. `optimizer` maps a gradient to the step direction d (the engine applies
    x <- x - lr d); `post_gossip(opt_state, x_start, x_end, lr, local_steps) -> opt_state` (one
    node, optional) sees where the round started and where gossip left the node;
    `grad_fn(loss_fn, params, *batch) -> (loss, grad)` (optional; default
    `jax.value_and_grad(loss_fn)(params, *batch)`) is how a local step gets its gradient, e.g.
    SAM's gradient at a perturbed point (`lib.optim.sam.grad_fn(rho)`, DFedSAM)."""

    name: str
    optimizer: optax.GradientTransformation
    post_gossip: Callable | None = None
    grad_fn: Callable | None = None


def dsgd(momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> Method:
    """D-PSGD / DSGD (momentum 0) and DSGDm(-N): local heavy-ball or Nesterov momentum m <- mu m + g,
    d = m (or g + mu m); the buffer is the node's own and is not gossiped."""
    if not 0 <= momentum < 1:
        raise ConfigError(f"momentum={momentum!r} must be in [0, 1)")
    parts = [optax.add_decayed_weights(weight_decay)] if weight_decay else []
    if momentum:
        parts.append(optax.trace(decay=momentum, nesterov=nesterov))
    name = "dsgd" if not momentum else ("dsgdm_n" if nesterov else "dsgdm")
    return Method(name, optax.chain(*parts) if parts else optax.identity())


class Engine(NamedTuple):
    method: Method
    loss_fn: Callable  # per-sample loss(params, x, y) -> [B]
    local: client_lib.LocalConfig
    gossip: gossip_lib.Gossip
    mesh: Mesh
    num_nodes: int
    node_batch: int | None  # nodes stepped at once per device (None: all, vmapped)


def nodes_mesh(num_devices: int | None = None) -> Mesh:
    devs = jax.devices()[: num_devices or len(jax.devices())]
    return jax.make_mesh((len(devs),), (AXIS,), axis_types=(AxisType.Auto,), devices=devs)


def build(*, loss_fn, local: client_lib.LocalConfig, method: Method, w: np.ndarray, mesh: Mesh | None = None,
          gossip: str = "auto", gossip_steps: int = 1, node_batch: int | str | None = "auto") -> Engine:
    """Validates (named errors, before any compile) and returns an Engine. `w`: a validated
    mixing matrix [n, n] or [P, n, n] (`gossip.validated`)."""
    client_lib.check_local_config(local)
    if local.mode != "steps":
        raise ConfigError(f"local mode={local.mode!r}: decentralized rounds take a fixed number of local steps "
                          "(local.mode='steps')")
    mesh = mesh or nodes_mesh()
    g = gossip_lib.build(w, kind=gossip, steps=gossip_steps, mesh=mesh)  # checks nodes axis, n % devices, Q
    if node_batch == "auto":
        node_batch = 1 if mesh.devices.flat[0].platform == "cpu" else None
    elif node_batch is not None and (isinstance(node_batch, bool) or not isinstance(node_batch, int) or node_batch < 1):
        raise ConfigError(f"node_batch={node_batch!r} must be an int >= 1, None (all at once) or 'auto'")
    return Engine(method, loss_fn, local, g, mesh, g.num_nodes, node_batch)


def init(eng: Engine, params, seed: int) -> dict:
    """Round-0 state: every node starts from the same `params` (as the papers do)."""
    n = eng.num_nodes
    stack = lambda t: jax.tree.map(lambda a: jnp.broadcast_to(a, (n,) + a.shape), t)  # noqa: E731
    return {"step": jnp.asarray(0, jnp.int32),
            "nodes": {"params": stack(params), "opt": stack(eng.method.optimizer.init(params))},
            "key": jax.random.PRNGKey(seed)}


def place(eng: Engine, state: dict) -> dict:
    """The state as global arrays on the mesh: every leaf under `nodes` split over the `nodes`
    axis (lib.mesh.place_state), the rest replicated. Checkpoint restore reads into this layout."""
    rules = [(mesh_lib.path_names(path), P(AXIS))
             for path, _ in jax.tree_util.tree_flatten_with_path({"nodes": state["nodes"]})[0]]
    return mesh_lib.place_state(state, eng.mesh, rules)


def put_data(eng: Engine, data: client_lib.ClientData) -> client_lib.ClientData:
    """The pool replicated, each node's index row and sample count on its node's device."""
    rep, node = NamedSharding(eng.mesh, P()), NamedSharding(eng.mesh, P(AXIS))
    return client_lib.ClientData(mesh_lib.global_array(data.x, rep), mesh_lib.global_array(data.y, rep),
                                 mesh_lib.global_array(np.asarray(data.index), node),
                                 mesh_lib.global_array(np.asarray(data.num_samples), node))


# ----------------------------------------------------------------------------- the round


def _node_update(eng: Engine):
    cfg, opt, loss_fn = eng.local, eng.method.optimizer, eng.loss_fn
    b = cfg.batch_size
    grad_fn = eng.method.grad_fn or (lambda f, p, *batch: jax.value_and_grad(f)(p, *batch))

    def update(params, opt_state, index, num_samples, key, pool, lr):
        n_pad = index.shape[0]

        def batch_loss(p, xb, yb, bmask):
            per = loss_fn(p, xb, yb)
            return jnp.sum(jnp.where(bmask, per, 0.0)) / jnp.maximum(jnp.sum(bmask), 1)

        def body(s, carry):
            p, o, acc = carry
            pos, bmask = client_lib.batch_positions(key, s, num_samples, n_pad, cfg)
            rows = jnp.where(bmask, index[pos], index[0])
            xb = jnp.where(bmask.reshape((-1,) + (1,) * (pool["x"].ndim - 1)), pool["x"][rows], 0)
            loss, g = grad_fn(batch_loss, p, xb, pool["y"][rows], bmask)
            d, o = opt.update(g, o, p)
            p = jax.tree.map(lambda a, u: (a - lr * u).astype(a.dtype), p, d)
            return p, o, acc + loss

        if n_pad % b:
            raise ValueError(f"padded node data size {n_pad} is not a multiple of batch size {b}")
        p, o, loss_sum = jax.lax.fori_loop(0, cfg.num_steps, body, (params, opt_state, jnp.float32(0.0)))
        return p, o, loss_sum / cfg.num_steps

    return update


def _sharded_local(eng: Engine):
    update = _node_update(eng)

    def per_device(params, opt_state, index, num_samples, keys, pool, lr):
        if eng.node_batch is None:
            return jax.vmap(update, in_axes=(0, 0, 0, 0, 0, None, None))(params, opt_state, index, num_samples, keys,
                                                                        pool, lr)
        one = lambda a: update(*a, pool, lr)  # noqa: E731
        return jax.lax.map(one, (params, opt_state, index, num_samples, keys),
                           batch_size=None if eng.node_batch == 1 else eng.node_batch)

    n = P(AXIS)
    return jax.shard_map(per_device, mesh=eng.mesh, in_specs=(n, n, n, n, n, P(), P()), out_specs=(n, n, n),
                         check_vma=False)  # no collectives inside


def _per_node_finite(tree, n):
    return jnp.stack([jnp.all(jnp.isfinite(l.reshape(n, -1)), axis=1) for l in jax.tree.leaves(tree)
                      if jnp.issubdtype(l.dtype, jnp.inexact)]).all(0)


def node_mean(leaf) -> jax.Array:
    """The mean over the leading (nodes) axis, in float32, as a [1, n] @ [n, D] product: XLA:CPU
    reduces over the major axis ~50x slower than this (measured on [64, 784, 200]: 0.55 s vs 0.011 s)."""
    n = leaf.shape[0]
    flat = leaf.reshape(n, -1).astype(jnp.float32)
    m = jnp.dot(jnp.full((1, n), 1.0 / n, jnp.float32), flat, precision=jax.lax.Precision.HIGHEST)
    return m.reshape(leaf.shape[1:])


def consensus_distance(params) -> jax.Array:
    """(1/n) sum_i ||x_i - mean_j x_j||^2 over all leaves (leaves [n, ...])."""
    leaves = jax.tree.leaves(params)
    n = leaves[0].shape[0]
    return sum(jnp.sum((l.astype(jnp.float32) - node_mean(l)[None]) ** 2) for l in leaves) / n


def round_fn(eng: Engine):
    """Returns the pure round(state, data, hparams) -> (state, metrics); jit it."""
    local = _sharded_local(eng)
    n = eng.num_nodes
    node = NamedSharding(eng.mesh, P(AXIS))

    def one_round(state, data: client_lib.ClientData, hparams):
        rnd = state["step"]
        lr = jnp.asarray(hparams["lr"], jnp.float32)
        key_r = jax.random.fold_in(state["key"], rnd)
        keys = jax.lax.with_sharding_constraint(jax.vmap(lambda i: jax.random.fold_in(key_r, i))(jnp.arange(n)), node)
        x0, opt = state["nodes"]["params"], state["nodes"]["opt"]
        x_half, opt, loss = local(x0, opt, data.index, data.num_samples, keys, {"x": data.x, "y": data.y}, lr)
        ok = _per_node_finite(x_half, n) & jnp.isfinite(loss)
        x1 = gossip_lib.mix(eng.gossip, x_half, rnd)
        if "gossip" in hparams:  # a communication schedule (lib.dl.schedule): traced 1/0, no recompile
            x1 = jax.tree.map(lambda m, h: jnp.where(hparams["gossip"] > 0, m, h), x1, x_half)
        if eng.method.post_gossip is not None:
            opt = jax.vmap(eng.method.post_gossip, in_axes=(0, 0, 0, None, None))(opt, x0, x1, lr, eng.local.num_steps)
        nodes = jax.lax.with_sharding_constraint({"params": x1, "opt": opt}, jax.tree.map(lambda _: node, state["nodes"]))
        metrics = {"round": rnd, "loss": jnp.mean(jnp.where(ok, loss, 0.0)),
                   "first_nonfinite_node": jnp.where(ok.all(), -1, jnp.argmin(ok)),
                   "nonfinite_nodes": jnp.sum(~ok), "consensus_distance": consensus_distance(x1)}
        return {**state, "step": rnd + 1, "nodes": nodes}, metrics

    return one_round


def merge_fn(eng: Engine):
    """The final global merge (lib.dl.schedule): every node's model <- the exact mean of all nodes'
    models (an all-reduce); optimizer states untouched; counts as one step. Its `loss` metric is 0
    (no local training happens in it)."""
    node = NamedSharding(eng.mesh, P(AXIS))

    def merge(state):
        x = state["nodes"]["params"]
        avg = jax.tree.map(lambda l: jnp.broadcast_to(node_mean(l).astype(l.dtype), l.shape), x)
        nodes = jax.lax.with_sharding_constraint({**state["nodes"], "params": avg},
                                                 jax.tree.map(lambda _: node, state["nodes"]))
        metrics = {"round": state["step"], "loss": jnp.float32(0.0), "first_nonfinite_node": jnp.int32(-1),
                   "nonfinite_nodes": jnp.int32(0), "consensus_distance": consensus_distance(avg)}
        return {**state, "step": state["step"] + 1, "nodes": nodes}, metrics

    return merge


def check_round(metrics) -> None:
    """Host-side check before anything is saved: a node whose local update went non-finite."""
    bad = int(metrics["first_nonfinite_node"])
    if bad >= 0:
        rnd = int(metrics["round"])
        raise NonFiniteNodeError(
            f"round {rnd}: node {bad}'s local training produced a non-finite (NaN/inf) model or loss "
            f"({int(metrics['nonfinite_nodes'])} node(s) did) before gossip could spread it; check local.lr and "
            f"node {bad}'s data", step=rnd + 1)


# ----------------------------------------------------------------------------- evaluation


def make_eval(model, x_test, y_test, batch_size: int = 1000, per_node: bool = True):
    """eval(nodes_params) -> averaged model's test_accuracy/test_loss and, per_node, the nodes'
    own models' node_accuracy_mean/min/max (each node on the whole test set)."""
    n = len(y_test)
    bs = min(batch_size, n)
    nb = -(-n // bs)
    pad = nb * bs - n
    xt = np.concatenate([x_test, np.zeros((pad,) + x_test.shape[1:], x_test.dtype)])
    yt = np.concatenate([y_test, np.zeros(pad, y_test.dtype)])
    mask = np.arange(nb * bs) < n
    xb, yb, mb = (jnp.asarray(a.reshape((nb, bs) + a.shape[1:])) for a in (xt, yt, mask))

    def sums(params):
        def body(acc, b):
            logits = model.apply({"params": params}, b[0]).astype(jnp.float32)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, b[1])
            ok = jnp.argmax(logits, -1) == b[1]
            return (acc[0] + jnp.sum(ce * b[2]), acc[1] + jnp.sum(ok * b[2])), None

        (loss, correct), _ = jax.lax.scan(body, (jnp.float32(0), jnp.float32(0)), (xb, yb, mb))
        return loss / n, correct / n

    @jax.jit
    def run(nodes_params):
        avg = jax.tree.map(lambda l: node_mean(l).astype(l.dtype), nodes_params)
        out = dict(zip(("test_loss", "test_accuracy"), sums(avg)))
        if per_node:
            _, acc = jax.lax.map(sums, nodes_params)
            out.update(node_accuracy_mean=jnp.mean(acc), node_accuracy_min=jnp.min(acc),
                       node_accuracy_max=jnp.max(acc))
        return out

    def evaluate(nodes_params):
        return {k: float(v) for k, v in jax.device_get(run(nodes_params)).items()}

    return evaluate


# ----------------------------------------------------------------------------- from config


def validate(config) -> None:
    """The engine's config keys (named errors, before any data is read or anything compiled):
    num_nodes, topology (+ topology_p, topology_radius), mixing, gossip.kind, gossip.steps,
    local.{batch_size, num_steps, lr}, mesh, node_batch."""
    config_lib.positive(config, "num_nodes")
    config_lib.choice(config, "topology", topo_lib.NAMES)
    config_lib.choice(config, "mixing", topo_lib.MIXINGS)
    config_lib.choice(config, "gossip.kind", gossip_lib.KINDS)
    gossip_lib.check_steps(config.gossip.steps)
    config_lib.positive(config, "local.lr")
    for k in ("local.batch_size", "local.num_steps"):
        v = config_lib.get(config, k)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"config.{k}={v!r} must be an integer >= 1")


def validate_task(config) -> None:
    """The task keys (lib.fl.tasks.validate) with one client per node."""
    from lib.fl import tasks

    task_cfg = config.copy_and_resolve_references()
    with task_cfg.unlocked():
        task_cfg.num_clients = config.num_nodes
    tasks.validate(task_cfg)


def mixing_matrix(config) -> np.ndarray:
    topo = topo_lib.make(config.topology, config.num_nodes, seed=config.seed, p=config.get("topology_p", 0.3),
                         radius=config.get("topology_radius", 0.4))
    return gossip_lib.validated(topo, config.mixing)


def mesh(config) -> Mesh:
    m = mesh_lib.make_mesh(config.mesh)
    if AXIS not in m.axis_names:
        raise ConfigError(f"config.mesh={config.mesh!r} needs a '{AXIS}' axis")
    if config.num_nodes % m.shape[AXIS]:
        raise ConfigError(f"config.num_nodes={config.num_nodes} is not divisible by the '{AXIS}' mesh axis size "
                          f"{m.shape[AXIS]}")
    return m


def local_config(config) -> client_lib.LocalConfig:
    return client_lib.LocalConfig(batch_size=int(config.local.batch_size), mode="steps",
                                  num_steps=int(config.local.num_steps), optimizer="sgd")


def load_task(config):
    """lib.fl.tasks.load_task with one client per node (config.num_nodes)."""
    from lib.fl import tasks

    cfg = ml_collections.ConfigDict(config.to_dict())
    cfg.num_clients = config.num_nodes
    try:
        return tasks.load_task(cfg)
    except ConfigError as e:
        if "num_samples" in str(e) or "at least one sample" in str(e):
            raise TooManyNodesError(f"config.num_nodes={config.num_nodes}: {e}") from None
        raise


def build_from_config(config, task, method: Method, w: np.ndarray | None = None) -> Engine:
    return build(loss_fn=task.loss_fn, local=local_config(config), method=method,
                 w=mixing_matrix(config) if w is None else w, mesh=mesh(config), gossip=config.gossip.kind,
                 gossip_steps=config.gossip.steps, node_batch=config.get("node_batch", "auto"))


def run(config, workdir: str, eng: Engine, data: client_lib.ClientData, params, eval_fn,
        hparams_fn: Callable[[int], dict], desc: str, schedule=None) -> dict:
    """Rounds 0..total-1 through lib.train (checkpoint, exact resume, eval, log). A round whose
    nodes went non-finite raises NonFiniteNodeError before lib.train can save it. `schedule`
    (a lib.dl.schedule.Schedule over `total` rounds): gossip only on its rounds, bytes counted
    only for those, and with `final_merge` one more step (step total) that averages all models."""
    total = config_lib.steps(config, "total")
    if schedule is not None and schedule.num_rounds != total:
        raise ConfigError(f"the communication schedule covers {schedule.num_rounds} rounds, the run {total}")
    data = put_data(eng, data)
    state = place(eng, init(eng, params, config.seed))
    round_jit = loop_jit.jit(round_fn(eng), eng.mesh.devices.flat[0].platform)
    one_node = params  # what a node gossips: its model

    if schedule is not None:
        merge_jit = jax.jit(merge_fn(eng))
        per_round = gossip_lib.bytes_per_round(eng.gossip, one_node)
        model_bytes = sum(int(np.prod(l.shape, dtype=np.int64)) * np.dtype(l.dtype).itemsize
                          for l in jax.tree.leaves(one_node))

    def step_fn(st, _):
        rnd = int(jax.device_get(st["step"]))
        if schedule is not None and rnd >= total:  # the final merge
            new, m = merge_jit(st)
            m = {**jax.device_get(m), "merge": 1.0, "gossip": 0.0}
        else:
            hp = {k: jnp.float32(v) for k, v in hparams_fn(rnd).items()}
            if schedule is not None:
                hp["gossip"] = jnp.float32(schedule.gossips(rnd))
            new, m = round_jit(st, data, hp)
            m = {**jax.device_get(m), "lr": hp["lr"]}
            if schedule is not None:
                m["gossip"] = float(hp["gossip"])
        check_round(m)
        if schedule is None:
            sent = gossip_lib.bytes_through(eng.gossip, one_node, rnd + 1)
        else:
            sent = schedule_lib.bytes_through(per_round, schedule, rnd + 1, model_bytes)
        m = {**m, "sent_mb_per_node": float(sent.mean()) / 2**20, "sent_mb_max_node": float(sent.max()) / 2**20}
        return new, m

    num_steps = total if schedule is None else schedule.num_steps
    return train_lib.run(config, workdir, state=state, step_fn=step_fn, num_steps=num_steps,
                         eval_fn=lambda st: eval_fn(st["nodes"]["params"]), desc=desc)
