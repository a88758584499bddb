"""One robustness run: a rule behind defense stages (lib.fl.aggregate) under an attack
(lib.fl.attacks), through lib.fl.engine and the lib.train loop (checkpoints, bit-exact resume).

What is specific here: the defense spec string, the threat model (`knowledge`), FLTrust's
root set (drawn from the training pool), the Byzantine clients (chosen once per run from the
seed), label flipping (applied to their data before training) and the backdoor (the Byzantine
clients train on triggered batches inside their own local update; the attack success rate is
evaluated beside the accuracy).
"""

from __future__ import annotations

import jax
import numpy as np

from lib import config as config_lib
from lib.fl import aggregate, attacks, backdoor, client as client_lib, engine, runner, tasks

_BYZ_STREAM = 104729  # fold_in purpose for choosing the Byzantine clients
_ROOT_STREAM = 1299709  # numpy seed offset for FLTrust's root set


def parse_defenses(spec: str) -> list[tuple[str, dict]]:
    """"momentum:beta=0.5+nnm" -> [("momentum", {"beta": 0.5}), ("nnm", {})]; "" / "none" -> []."""
    out = []
    for part in (spec or "").split("+"):
        part = part.strip()
        if not part or part == "none":
            continue
        name, _, args = part.partition(":")
        params = {}
        for kv in filter(None, args.split(",")):
            k, eq, v = kv.partition("=")
            if not eq:
                raise config_lib.ConfigError(f"config.defenses={spec!r}: {kv!r} is not key=value")
            try:
                val = int(v)
            except ValueError:
                try:
                    val = float(v)
                except ValueError:
                    val = v
            params[k.strip()] = val
        out.append((name.strip(), params))
    return out


# the threat model's config keys, shared with every robustness project
per_round, attack_params, rule_params = runner.byzantine_per_round, runner.attack_params, runner.rule_params


def validate(config) -> None:
    """Named errors before any data load or compile."""
    tasks.validate(config)
    config_lib.choice(config, "participation", ("uniform", "bernoulli", "markov", "cyclic"))
    config_lib.steps(config, "total")
    runner.local_config(config)
    runner.server_optimizer(config)
    if not 0 <= config.byzantine_fraction < 0.5:
        raise config_lib.ConfigError(f"config.byzantine_fraction={config.byzantine_fraction} must be in [0, 0.5)")
    n, f = per_round(config)
    if config.attack != "none":
        attacks.validate(config.attack, knowledge=config.knowledge, **attack_params(config))
        if config.attack == "backdoor":
            backdoor_spec(config)
    elif config.byzantine_fraction > 0:
        raise config_lib.ConfigError("config.byzantine_fraction > 0 needs config.attack != 'none'")
    defenses = parse_defenses(config.defenses)
    rp = rule_params(config)
    aggregate.validate_defended(config.aggregator, n, rp.pop("f", f), byzantine=f, defenses=defenses, **rp)
    if any(d == "fltrust" for d, _ in defenses) and config.root_size < 1:
        raise aggregate.RootSetError(f"fltrust: config.root_size={config.root_size}: the server root set is empty")


def backdoor_spec(config) -> backdoor.Spec | None:
    """The backdoor of config.attack_params (None for other attacks); named errors for a trigger
    that does not fit the images or a target that is not a class."""
    if config.attack != "backdoor":
        return None
    return attacks.backdoor_spec(tasks.sample_shape(config), tasks.num_classes(config), **attack_params(config))


def byzantine_mask(config) -> np.ndarray:
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _BYZ_STREAM)
    return np.asarray(attacks.choose_byzantine(key, config.num_clients, config.byzantine_fraction))


def flip_client_labels(data: client_lib.ClientData, byz: np.ndarray, num_classes: int) -> client_lib.ClientData:
    """Label flipping: y -> C - 1 - y on every sample of a Byzantine client."""
    y = np.array(data.y)
    idx, ns = np.asarray(data.index), np.asarray(data.num_samples)
    for c in np.flatnonzero(byz):
        rows = idx[c, : ns[c]]
        y[rows] = np.asarray(attacks.flip_labels(y[rows], num_classes))
    return data._replace(y=y)


def root_set(config, data: client_lib.ClientData) -> dict | None:
    """FLTrust's root set: `root_size` pool rows drawn uniformly (seeded) from the training
    pool, as {"index": [n_pad], "num_samples"}; None without fltrust. Checked against the
    clients' labels (RootSetError). Drawn before label flipping, so the root labels are clean."""
    if not any(d == "fltrust" for d, _ in parse_defenses(config.defenses)):
        return None
    total = len(np.asarray(data.y))
    size = min(int(config.root_size), total)
    rows = np.random.default_rng(config.seed + _ROOT_STREAM).choice(total, size, replace=False)
    aggregate.validate_root(np.asarray(data.y)[rows], np.asarray(data.y))
    n_pad = client_lib.bucket_size(size, config.local.batch_size)
    index = np.zeros(n_pad, np.int32)
    index[:size] = rows
    return {"index": index, "num_samples": size}


def build(config, task, byz, attack=None, attack_kw=None, **overrides):
    """The Simulation of `config` (attack: the engine's update attack, default the config's)."""
    update_attack = config.attack not in ("none", "label_flip", "backdoor")
    bd = backdoor_spec(config)
    if bd is not None:
        local, mesh = runner.local_config(config), runner.mesh(config)
        overrides = dict(overrides, client_attack=True, local_update=backdoor.local_update(
            task.loss_fn, local, bd, base=lambda t: engine.default_local_update(task.loss_fn, local, mesh, t)))
    return engine.build(
        loss_fn=task.loss_fn, local=runner.local_config(config), participation=runner.participation(
            config, task.label_counts),
        server_opt=runner.server_optimizer(config), aggregator=config.aggregator, rule_params=rule_params(config),
        attack=attack or (config.attack if update_attack else "none"),
        attack_params=attack_kw if attack_kw is not None else (attack_params(config) if update_attack else None),
        byzantine=byz if (update_attack or attack or bd is not None) else None,
        capacity=config.capacity or None, mesh=runner.mesh(config),
        stop_on_nonfinite=not aggregate.is_robust(config.aggregator),
        defenses=parse_defenses(config.defenses), root=root_set(config, task.data), **overrides)


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    task = tasks.load_task(config)
    byz = byzantine_mask(config)
    sim = build(config, task, byz)
    data = task.data
    if config.attack == "label_flip":
        data = flip_client_labels(data, byz, task.num_classes)
    state = engine.init(sim, task.params, seed=config.seed)
    evaluate = tasks.make_eval(task, config.eval_batch_size, backdoor=backdoor_spec(config))
    final = runner.run(config, workdir, sim, data, state, evaluate,
                       desc=f"byz/{config.defenses or 'none'}+{config.aggregator}/{config.attack}")
    final["byzantine_clients"] = int(byz.sum())
    return final
