"""One federated round as a pure, jitted function of (state, data, hparams).

    sample participants -> local training (vmapped, shard_map over mesh axis `clients`)
    -> attack on Byzantine participants -> strategy (weights) -> aggregation rule
    -> strategy (post) -> server optimizer

State is a dict pytree (checkpointable as is): step (= rounds done), params, server optimizer state,
per-client states [N, ...] of the local update, participation state, strategy state
(e.g. FedAU interval statistics, FedStale memory), rule state, and the run's base key.
Every random draw uses fold_in(fold_in(key, round), purpose[, client]), so a round is a
function of (state, round) only and an interrupted run replays bit for bit.

The participants of a round are packed into `capacity` slots (static shape); empty slots
have weight 0. A round that draws more participants than `capacity` reports
`overflow` and the host loop stops with an error instead of silently dropping clients.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from lib import cpu_conv, loop_jit
from lib.config import ConfigError
from lib.errors import NonFiniteError, TesseraError
from lib.fl import aggregate, attacks
from lib.fl import client as client_lib
from lib.fl import participation as part_lib
from lib.fl import server as server_lib

# fold_in purposes (never reorder: they define the random streams of saved runs)
_PART, _LOCAL, _ATTACK, _RULE, _ROOT = 0, 1, 2, 3, 4


class NonFiniteUpdateError(NonFiniteError):
    """A round produced NaN/inf: client updates under a non-robust rule, or a rule's aggregate."""


class CapacityError(TesseraError, RuntimeError):
    """More participants in a round than the engine's client slots."""


# ----------------------------------------------------------------------------- registry access


def get_rule(name: str):
    """The aggregation rule `name` from the lib.fl.aggregate registry."""
    return aggregate.get_rule(name)


def get_attack(name: str):
    return None if name in ("none", "", None) else attacks.get_attack(name)


# ----------------------------------------------------------------------------- strategies


class Strategy(NamedTuple):
    """How client deltas become the server direction (what FedAU/FedStale change).

    prepare(sstate, deltas, ctx) -> (updates, weights [M], scale, sstate): what is fed to the
      aggregation rule; direction = scale * rule(updates, weights).
    finish(sstate, direction, deltas, ctx) -> (direction, sstate).
    ctx: dict idx [M], valid [M], num_samples [M], participating [N], round.
    """

    name: str
    init: Callable[[Any], Any]  # params -> sstate
    prepare: Callable
    finish: Callable
    # sstate -> pytree sent to every client with the model (e.g. a server momentum or control
    # variate); local updates find it as hparams["broadcast"]. None: nothing is sent.
    broadcast: Callable | None = None


def fedavg_strategy() -> Strategy:
    """Weights proportional to sample counts over the round's participants."""

    def prepare(sstate, deltas, ctx):
        w = jnp.where(ctx["valid"], ctx["num_samples"].astype(jnp.float32), 0.0)
        return deltas, w, jnp.float32(1.0), sstate

    return Strategy("fedavg", lambda params: (), prepare, lambda s, d, deltas, ctx: (d, s))


# ----------------------------------------------------------------------------- simulation


class Simulation(NamedTuple):
    local_update: Callable
    participation: part_lib.Participation
    strategy: Strategy
    rule: Callable
    rule_params: dict
    attack: Callable | None
    attack_params: dict
    byzantine: np.ndarray  # [N] bool, fixed per run
    server_opt: Any
    capacity: int
    mesh: Mesh
    num_clients: int
    stop_on_nonfinite: bool
    client_state_init: Callable[[Any], Any] | None  # params -> per-client state (one client)
    client_batch: int | str | None = "auto"  # clients vmapped at once per device (see build)
    root: dict | None = None  # FLTrust's server root set: {"index": [n_pad] pool rows, "num_samples": int}
    root_update: Callable | None = None  # the server's local update on the root set (no worker momentum)
    root_state_init: Callable | None = None


def clients_mesh(num_devices: int | None = None) -> Mesh:
    devs = jax.devices()[: num_devices or len(jax.devices())]
    return jax.make_mesh((len(devs),), ("clients",), axis_types=(AxisType.Auto,), devices=devs)


def build(*, loss_fn, local: client_lib.LocalConfig, participation: part_lib.Participation,
          server_opt, aggregator: str = "fedavg", rule_params=None, attack: str = "none",
          attack_params=None, byzantine=None, strategy: Strategy | None = None,
          capacity: int | None = None, mesh: Mesh | None = None,
          stop_on_nonfinite: bool | None = None, client_state_init=None,
          local_update=None, client_batch: int | str | None = "auto", defenses=(),
          root=None, client_attack: bool = False) -> Simulation:
    """Validates everything (named errors, before any compile) and returns a Simulation.

    client_batch: how many of a device's clients train at once (vmapped); the groups run one
    after another (lax.map). None vmaps all of them. "auto" (the default) picks per
    platform: all of them on GPU/TPU, one at a time on CPU. On XLA:CPU a vmapped client
    step is slower per client than a plain one: a convolution over per-client weights
    becomes a grouped convolution (~3-4x slower per client, measured) and per-client
    matmuls become batched dots (~2x slower for the MLP, measured); the sequential loop
    has no dispatch cost, so it also beats a Python loop of jitted steps. The result is
    the same up to float rounding in every mode.

    defenses: lib.fl.aggregate defense stages in front of the rule, names or (name, params)
    pairs (bucketing, nnm, dnc, fltrust; momentum is client side: it wraps the local update
    and its per-client state). fltrust needs `root`, the server's root set as pool rows
    {"index": [n_pad] int, "num_samples": int}; the server trains on it like a client every
    round (key fold_in(round key, 4)) and the stage compares each update with that.

    On CPU the loss is also wrapped with `lib.cpu_conv.canonical_conv_grads`, so that
    convolution gradients inside the local-step loop run on XLA's fast path (see
    lib/cpu_conv.py for the cause and the measurement).

    client_attack: the Byzantine clients attack inside their own local update (it finds
    client["byzantine"] and client["round"] in its slot, e.g. lib.fl.backdoor.local_update),
    so `byzantine` may be set with attack='none'."""
    n = participation.num_clients
    mesh = mesh or clients_mesh()
    if "clients" not in mesh.axis_names:
        raise ConfigError(f"mesh axes {mesh.axis_names} have no 'clients' axis")
    ndev = mesh.shape["clients"]
    cap = capacity or participation.max_participants
    if cap < 1:
        raise ConfigError(f"capacity={cap} must be >= 1 (or 0: from the participation model)")
    if cap > n:
        raise ConfigError(f"capacity={cap} exceeds num_clients={n}")
    per_round = cap
    cap = -(-cap // ndev) * ndev  # a multiple of the devices on the clients axis
    rule = get_rule(aggregator)
    byz = np.zeros(n, bool) if byzantine is None else np.asarray(byzantine, bool)
    if byz.shape != (n,):
        raise ConfigError(f"byzantine mask has shape {byz.shape}, expected ({n},)")
    rp = dict(rule_params or {})
    byz_per_round = int(np.ceil(byz.sum() * per_round / n - 1e-9))  # expected Byzantine participants
    # n, f, the Byzantine clients and the rule's parameters, before compile
    # the defense stages' f (NNM's n - f neighbours, DnC's c f): the rule's f, or for rules
    # without one the expected Byzantine participants
    f_rule = rp.pop("f", byz_per_round if defenses else 0)
    aggregate.validate_defended(aggregator, cap, f_rule, byzantine=byz_per_round, defenses=defenses, **rp)
    names = [d if isinstance(d, str) else d[0] for d in defenses or ()]
    if "fltrust" in names:
        if root is None or int(np.asarray(root["num_samples"])) < 1:
            raise aggregate.RootSetError("fltrust: the server root set is empty (give root with num_samples >= 1)")
        root = {"index": np.asarray(root["index"], np.int32), "num_samples": np.int32(root["num_samples"])}
    else:
        root = None
    if names:
        rule = aggregate.defended(aggregator, aggregate.rule_params(aggregator, f=f_rule, **rp), defenses, f=f_rule)
        rule_params = {}
    if client_batch != "auto" and client_batch is not None and (
            not isinstance(client_batch, int) or isinstance(client_batch, bool) or client_batch < 1):
        raise ConfigError(f"client_batch={client_batch!r} must be an int >= 1, None (all of a device's "
                          "clients at once) or 'auto' (chosen per platform)")
    atk = get_attack(attack)
    if byz.any() and atk is None and not client_attack:
        raise ConfigError("Byzantine clients are set but attack='none' (and no client_attack)")
    if stop_on_nonfinite is None:
        stop_on_nonfinite = not aggregate.is_robust(aggregator)
    local_update = local_update or default_local_update(loss_fn, local, mesh)
    root_update, root_state_init = local_update, client_state_init
    mom = aggregate.client_defense(defenses)
    if mom is not None:
        local_update, client_state_init = aggregate.worker_momentum(local_update, client_state_init, **mom)
    return Simulation(
        local_update=local_update,
        participation=participation, strategy=strategy or fedavg_strategy(), rule=rule,
        rule_params=dict(rule_params or {}), attack=atk, attack_params=dict(attack_params or {}),
        byzantine=byz, server_opt=server_opt, capacity=cap, mesh=mesh, num_clients=n,
        stop_on_nonfinite=stop_on_nonfinite, client_state_init=client_state_init,
        client_batch=client_batch, root=root, root_update=root_update, root_state_init=root_state_init)


def _rule_kwargs(sim: Simulation, root_delta):
    return {**sim.rule_params, **({"root": root_delta} if sim.root is not None else {})}


def _rule_state_init(sim: Simulation, params):
    """Rules may carry state; its shape is found by tracing the rule once (no compile)."""
    upd = jax.tree.map(lambda p: jnp.zeros((sim.capacity,) + p.shape, p.dtype), params)
    w = jnp.zeros((sim.capacity,), jnp.float32)
    root = jax.tree.map(jnp.zeros_like, params)
    _, st = jax.eval_shape(lambda: sim.rule(upd, w, None, jax.random.PRNGKey(0), **_rule_kwargs(sim, root)))
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), st)


def init(sim: Simulation, params, seed: int, host_clients: bool = False) -> dict:
    """The round-0 state. host_clients=True (populations, `cohort_round_fn`): per-client
    states are NumPy arrays [N, ...] that stay on the host, and there is no participation
    state (the host draws the cohort)."""
    key = jax.random.PRNGKey(seed)
    if sim.client_state_init is not None:
        one = sim.client_state_init(params)
        if host_clients:
            cstates = jax.tree.map(lambda a: np.repeat(np.asarray(a)[None], sim.num_clients, 0), one)
        else:
            cstates = jax.tree.map(lambda a: jnp.broadcast_to(a, (sim.num_clients,) + a.shape), one)
    else:
        cstates = ()
    if host_clients:
        return {"step": jnp.asarray(0, jnp.int32), "params": params, "server_opt": sim.server_opt.init(params),
                "clients": cstates, "strategy": sim.strategy.init(params), "rule": _rule_state_init(sim, params),
                "key": key}
    return {
        "step": jnp.asarray(0, jnp.int32),  # = rounds done (named as lib.train expects)
        "params": params,
        "server_opt": sim.server_opt.init(params),
        "clients": cstates,
        "participation": sim.participation.init(jax.random.fold_in(key, 2**31 - 1)),
        "strategy": sim.strategy.init(params),
        "rule": _rule_state_init(sim, params),
        "key": key,
    }


def default_local_update(loss_fn, local: client_lib.LocalConfig, mesh: Mesh, batch_transform=None):
    """client.make_local_update with the platform's speed choices (CPU: canonical conv grads);
    projects that wrap the local update (e.g. to keep per-client statistics) start from this.
    batch_transform: see client.make_local_update (lib.fl.backdoor uses it)."""
    fast_loss = cpu_conv.canonical_conv_grads(loss_fn) if _platform(mesh) == "cpu" else loss_fn
    return client_lib.make_local_update(fast_loss, local, batch_transform=batch_transform)


def _platform(mesh: Mesh) -> str:
    return mesh.devices.flat[0].platform


def jit(sim: Simulation, fn, **jit_kwargs):
    """jax.jit for a round (or a loop of rounds) of `sim`, with the platform's compiler
    options for loop-heavy programs (lib/loop_jit.py)."""
    return loop_jit.jit(fn, _platform(sim.mesh), **jit_kwargs)


def resolve_client_batch(sim: Simulation) -> int | None:
    """The clients trained at once per device (None = all, vmapped); see `build`."""
    if sim.client_batch != "auto":
        return sim.client_batch
    return 1 if _platform(sim.mesh) == "cpu" else None


def _local_with_finite(local_update):
    """local_update whose metrics also say whether the client's delta is finite: checked where
    the delta is made, instead of one more pass over the stacked deltas of the cohort."""

    def run(params, pool, client, cstate, key, hparams):
        delta, cs, m = local_update(params, pool, client, cstate, key, hparams)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(l)) for l in jax.tree.leaves(delta)]))
        return delta, cs, {**m, "delta_finite": finite}

    return run


def _sharded_local(sim: Simulation):
    local_update = _local_with_finite(sim.local_update)

    def per_device(params, pool, clients, cstates, keys, hparams):
        cb = resolve_client_batch(sim)
        if cb is None:
            return jax.vmap(local_update, in_axes=(None, None, 0, 0, 0, None))(
                params, pool, clients, cstates, keys, hparams)
        one = lambda c: local_update(params, pool, c[0], c[1], c[2], hparams)  # noqa: E731
        return jax.lax.map(one, (clients, cstates, keys), batch_size=None if cb == 1 else cb)

    c = P("clients")
    return jax.shard_map(per_device, mesh=sim.mesh, in_specs=(P(), P(), c, c, c, P()),
                         out_specs=(c, c, c), check_vma=False)  # no collectives inside


def local_training(sim: Simulation):
    """The engine's local training of a batch of client slots, for callers that pick the
    clients themselves (lib.fl.clock): fn(params, pool, clients, cstates, keys, hparams) ->
    (deltas, cstates, metrics), with clients = {"index": [B, n_pad], "num_samples": [B]} and
    B a multiple of the devices on the mesh's 'clients' axis (platform choices included)."""
    return _sharded_local(sim)


def _client_hparams(sim: Simulation, state, hparams):
    if sim.strategy.broadcast is None:
        return hparams
    return {**hparams, "broadcast": sim.strategy.broadcast(state["strategy"])}


def _train_and_aggregate(sim: Simulation, local, state, pool, clients, cstates, idx, valid, byz, key_r, ctx):
    """Local training of the slots idx[valid] (global client ids), attack, strategy, rule and
    server step: everything of a round after the participants are known."""
    keys = jax.vmap(lambda c: jax.random.fold_in(jax.random.fold_in(key_r, _LOCAL), c))(idx)
    # what a local update may know of its own slot: whether it is a Byzantine client, and the round
    clients = {**clients, "byzantine": byz & valid,
               "round": jnp.broadcast_to(jnp.asarray(ctx["round"], jnp.int32), valid.shape)}
    deltas, new_cs, cm = local(state["params"], pool, clients, cstates, keys, _client_hparams(sim, state, ctx["hparams"]))

    bad = valid & ~cm["delta_finite"]
    first_bad = jnp.where(bad.any(), idx[jnp.argmax(bad)], -1)
    loss_ok = valid & jnp.isfinite(cm["train_loss"])  # a robust rule's run goes on past NaN clients

    if sim.attack is not None:
        # padded slots (valid False) are neither Byzantine nor honest: `present` keeps them out
        deltas = sim.attack(deltas, byz & valid, jax.random.fold_in(key_r, _ATTACK), present=valid,
                            **sim.attack_params)

    ctx = {**ctx, "idx": idx, "valid": valid, "num_samples": clients["num_samples"]}
    updates, weights, scale, sstate = sim.strategy.prepare(state["strategy"], deltas, ctx)
    root_delta = None
    if sim.root is not None:
        rc = {"index": jnp.asarray(sim.root["index"]), "num_samples": jnp.asarray(sim.root["num_samples"])}
        rs = sim.root_state_init(state["params"]) if sim.root_state_init is not None else ()
        root_delta, _, _ = sim.root_update(state["params"], pool, rc, rs, jax.random.fold_in(key_r, _ROOT),
                                           ctx["hparams"])
    agg, rstate = sim.rule(updates, weights, state["rule"], jax.random.fold_in(key_r, _RULE),
                           **_rule_kwargs(sim, root_delta))
    direction = jax.tree.map(lambda a: scale * a, agg)
    direction, sstate = sim.strategy.finish(sstate, direction, deltas, ctx)
    agg_finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(l)) for l in jax.tree.leaves(direction)]))
    params, sopt = server_lib.apply(sim.server_opt, state["params"], state["server_opt"], direction)
    metrics = {"first_nonfinite_client": first_bad, "nonfinite_clients": jnp.sum(bad), "aggregate_finite": agg_finite,
               "participant_index": jnp.where(valid, idx, sim.num_clients),
               "loss": jnp.sum(jnp.where(loss_ok, cm["train_loss"], 0.0)) / jnp.maximum(jnp.sum(loss_ok), 1)}
    new_state = {**state, "step": ctx["round"] + 1, "params": params, "server_opt": sopt, "strategy": sstate,
                 "rule": rstate}
    return new_state, new_cs, metrics


def round_fn(sim: Simulation):
    """Returns the pure round(state, data, hparams) -> (state, metrics); jit it."""
    local = _sharded_local(sim)
    n, cap = sim.num_clients, sim.capacity
    byz = jnp.asarray(sim.byzantine)

    def one_round(state, data: client_lib.ClientData, hparams):
        rnd = state["step"]
        key_r = jax.random.fold_in(state["key"], rnd)
        part, pstate = sim.participation.sample(state["participation"], jax.random.fold_in(key_r, _PART), rnd)
        count = jnp.sum(part)
        (idx,) = jnp.nonzero(part, size=cap, fill_value=n)
        valid = idx < n
        safe = jnp.minimum(idx, n - 1)
        clients = {"index": data.index[safe], "num_samples": data.num_samples[safe]}
        cstates = jax.tree.map(lambda a: a[safe], state["clients"])
        ctx = {"participating": part, "round": rnd, "hparams": hparams}
        new_state, new_cs, m = _train_and_aggregate(
            sim, local, state, {"x": data.x, "y": data.y}, clients, cstates, safe, valid, byz[safe], key_r, ctx)
        scatter = jnp.where(valid, idx, n)
        new_state["clients"] = jax.tree.map(lambda a, b: a.at[scatter].set(b, mode="drop"), state["clients"], new_cs)
        new_state["participation"] = pstate
        metrics = {"round": rnd, "participants": count, "overflow": count > cap, **m}
        return new_state, metrics

    return one_round


def cohort_round_fn(sim: Simulation):
    """Returns the pure cohort_round(state, cohort, hparams) -> (state, client_states, metrics)
    for populations kept on the host (lib.fl.population): the host picks the cohort and
    gathers its data and per-client states; nothing in here is population-sized.

    cohort: {"data": ClientData of the cohort ([M * n_pad] pool rows, index [cap, n_pad],
    num_samples [cap]), "ids": [cap] int32 global client ids, "valid": [cap] bool (slots past
    the cohort are padding), "byzantine": [cap] bool, "clients": per-client states [cap, ...]}.
    The strategy sees no population-wide `participating` mask (ctx has None there)."""
    local = _sharded_local(sim)
    cap = sim.capacity

    def cohort_round(state, cohort, hparams):
        rnd = state["step"]
        key_r = jax.random.fold_in(state["key"], rnd)
        data, valid = cohort["data"], cohort["valid"]
        clients = {"index": data.index, "num_samples": data.num_samples}
        ctx = {"participating": None, "round": rnd, "hparams": hparams}
        new_state, new_cs, m = _train_and_aggregate(
            sim, local, state, {"x": data.x, "y": data.y}, clients, cohort["clients"], cohort["ids"], valid,
            cohort["byzantine"], key_r, ctx)
        count = jnp.sum(valid)
        metrics = {"round": rnd, "participants": count, "overflow": count > cap, **m}
        return new_state, new_cs, metrics

    return cohort_round


def global_model_losses(sim: Simulation, state, data: client_lib.ClientData, idx, hparams):
    """Per slot: (the round's global model's loss on that client's data, whether that data
    is finite). The loss comes from local training with lr 0, so nothing moves. Computed
    only to name a divergence."""
    n = sim.num_clients
    safe = jnp.minimum(jnp.asarray(idx), n - 1)
    clients = {"index": data.index[safe], "num_samples": data.num_samples[safe]}
    keys = jax.vmap(lambda c: jax.random.fold_in(state["key"], c))(safe)
    cstates = jax.tree.map(lambda a: a[safe], state["clients"])
    hp = {**_client_hparams(sim, state, hparams), "lr": jnp.zeros_like(jnp.asarray(hparams["lr"], jnp.float32))}
    _, _, cm = _sharded_local(sim)(state["params"], {"x": data.x, "y": data.y}, clients, cstates, keys, hp)
    x = jnp.asarray(data.x)
    real = jnp.arange(data.index.shape[1])[None, :] < clients["num_samples"][:, None]  # [cap, n_pad]
    row_ok = jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=1)  # [T]
    data_ok = jnp.all(jnp.where(real, row_ok[clients["index"]], True), axis=1)
    return cm["train_loss"], data_ok


def check_round(sim: Simulation, metrics, probe: Callable | None = None) -> None:
    """Host-side checks after a round (before anything is checkpointed).

    probe(participant_index) -> `global_model_losses` of the round's state and data. When
    clients sent non-finite updates it names the cause: a client whose data holds NaN/inf;
    a global model whose loss is already non-finite on finite client data (the server side
    diverged); or else the clients' local training (it diverged from a sound global model)."""
    rnd = int(metrics["round"])
    if bool(metrics["overflow"]):
        raise CapacityError(
            f"round {rnd}: {int(metrics['participants'])} clients participated but the engine has "
            f"capacity {sim.capacity}; raise config capacity")
    bad = int(metrics["first_nonfinite_client"])
    agg_ok = bool(metrics.get("aggregate_finite", True))
    if bad >= 0 and (sim.stop_on_nonfinite or not agg_ok):
        nbad, count = int(metrics.get("nonfinite_clients", 1)), int(metrics["participants"])
        why = ("the aggregation rule is not robust to it" if sim.stop_on_nonfinite
               else "more than the robust rule withstands: its aggregate is not finite")
        head = f"round {rnd}: client {bad} sent a non-finite (NaN/inf) update ({nbad} of {count} participants did)"
        idx = np.asarray(metrics.get("participant_index", []))
        if probe is None or not idx.size:
            raise NonFiniteUpdateError(f"{head}; {why}", step=rnd + 1)
        losses, data_ok = (np.asarray(a) for a in jax.device_get(probe(idx)))
        valid = idx < sim.num_clients
        if not data_ok[idx == bad].all():
            raise NonFiniteUpdateError(f"{head}: its data holds NaN/inf values; {why}", step=rnd + 1)
        broken = valid & data_ok & ~np.isfinite(losses)
        if broken.any():
            raise NonFiniteUpdateError(
                f"round {rnd}: the global model of round {rnd} (finite parameters) already gives a non-finite loss on "
                f"the finite data of {int(broken.sum())} of {count} participants, so {nbad} sent non-finite updates: "
                f"the server side diverged (check the server optimizer and server.lr); {why}", step=rnd)
        raise NonFiniteUpdateError(
            f"{head} from a global model whose loss on every participant's data is finite: local training "
            f"diverged on the client side (check local.lr); {why}", step=rnd + 1)
    if not agg_ok:
        raise NonFiniteUpdateError(
            f"round {rnd}: the aggregation rule returned a non-finite aggregate although every client's own update "
            "was finite (Byzantine updates it does not withstand, or an overflow in float32)", step=rnd + 1)


def put_data(sim: Simulation, data: client_lib.ClientData) -> client_lib.ClientData:
    """Places the (small) client data replicated on the mesh."""
    rep = NamedSharding(sim.mesh, P())
    return client_lib.ClientData(*(jax.device_put(jnp.asarray(a), rep) for a in data))


def put_state(sim: Simulation, state):
    """Replicates a (e.g. freshly restored, host-side) state on the mesh."""
    return jax.device_put(state, NamedSharding(sim.mesh, P()))


def run(sim: Simulation, state, data, hparams_fn, num_rounds: int, step=None, on_round=None):
    """Plain host loop (projects normally use lib.train): rounds state['step'].. num_rounds-1.

    hparams_fn(round) -> dict of traced hparams; on_round(state, metrics) is called after the
    checks, so a checkpoint saved there never holds a poisoned state.
    """
    step = step or jit(sim, round_fn(sim))
    state = put_state(sim, state)
    while int(state["step"]) < num_rounds:
        new_state, metrics = step(state, data, hparams_fn(int(state["step"])))
        metrics = jax.device_get(metrics)
        check_round(sim, metrics, lambda idx: global_model_losses(sim, state, data, idx, hparams_fn(int(state["step"]))))
        state = new_state
        if on_round is not None:
            on_round(state, metrics)
    return state
