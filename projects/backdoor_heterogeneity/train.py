"""One backdoor run: attackers (Byzantine clients of lib.fl.engine) run lib.fl.backdoor's
poisoned local update against a rule of lib.fl.aggregate; the lib.train loop evaluates clean
accuracy and attack success rate (ASR) side by side, checkpoints and resumes bit for bit.

What is specific to this study (Zawad et al., AAAI 2021): the heterogeneity of the split
(Dirichlet alpha, FEMNIST writers) and its index, the attacker's data distribution
(`attacker_data`: its own shard, or an IID sample of the pool), the attack's timing window
and its disguise.
"""

from __future__ import annotations

import jax
import numpy as np

from lib import config as config_lib
from lib.fl import aggregate, attacks, backdoor, engine, runner, tasks

_BYZ_STREAM = 104729  # fold_in purpose for choosing the attackers
_DATA_STREAM = 7919  # numpy seed offset for the attackers' IID data
ATTACKER_DATA = ("own", "iid")


def spec(config) -> backdoor.Spec:
    """The attack of config.backdoor; boost 0 means model replacement, n / eta."""
    b = config.backdoor
    boost = float(b.boost)
    if boost == 0:
        n, _ = runner.byzantine_per_round(config)
        boost = backdoor.replacement_boost(n, config.server.lr)
    t = b.trigger
    return backdoor.Spec(trigger=backdoor.Trigger(int(t.row), int(t.col), int(t.size), float(t.value)),
                         target=b.target, poison_fraction=float(b.poison_fraction), boost=boost,
                         disguise_norm=float(b.disguise_norm), start_round=int(b.start_round),
                         end_round=int(b.end_round), every=int(b.every))


def validate(config) -> None:
    """Named errors before any data load or compile."""
    tasks.validate(config)
    config_lib.steps(config, "total")
    runner.local_config(config)
    runner.server_optimizer(config)
    runner.mesh(config)
    config_lib.choice(config, "attacker_data", ATTACKER_DATA)
    if not 0 <= config.byzantine_fraction < 0.5:
        raise config_lib.ConfigError(f"config.byzantine_fraction={config.byzantine_fraction} (the attackers) must be "
                                     "in [0, 0.5)")
    if config.backdoor.boost < 0:
        raise backdoor.BackdoorConfigError(f"config.backdoor.boost={config.backdoor.boost} must be > 0 "
                                           "(or 0: model replacement, n / eta)")
    backdoor.validate(spec(config), tasks.sample_shape(config), tasks.num_classes(config))
    n, f = runner.byzantine_per_round(config)
    rp = runner.rule_params(config)
    aggregate.validate(config.aggregator, n, rp.pop("f", f), byzantine=f, **rp)


def attacker_mask(config) -> np.ndarray:
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _BYZ_STREAM)
    return np.asarray(attacks.choose_byzantine(key, config.num_clients, config.byzantine_fraction))


def with_attacker_data(config, data, byz):
    """attacker_data='iid': each attacker's rows become a uniform sample (seeded, without
    replacement, same size) of the whole training pool: data from the global distribution
    instead of its own skewed shard. 'own': unchanged."""
    if config.attacker_data == "own":
        return data
    rng = np.random.default_rng(config.seed + _DATA_STREAM)
    index = np.array(data.index)
    total = len(np.asarray(data.y))
    for c in np.flatnonzero(byz):
        k = int(data.num_samples[c])
        index[c, :k] = rng.choice(total, k, replace=False)
    return data._replace(index=index)


def heterogeneity_index(label_counts) -> float:
    """Mean total-variation distance between a client's label distribution and the pooled one
    (0: IID; near 1: each client sees classes nobody else has)."""
    c = np.asarray(label_counts, np.float64)
    p = c / np.maximum(c.sum(1, keepdims=True), 1)
    g = c.sum(0) / c.sum()
    return float(np.mean(0.5 * np.abs(p - g).sum(1)))


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    task = tasks.load_task(config)
    byz = attacker_mask(config)
    sp = spec(config)
    local = runner.local_config(config)
    mesh = runner.mesh(config)
    update = backdoor.local_update(task.loss_fn, local, sp,
                                   base=lambda t: engine.default_local_update(task.loss_fn, local, mesh, t))
    sim = engine.build(loss_fn=task.loss_fn, local=local, participation=runner.participation(config, task.label_counts),
                       server_opt=runner.server_optimizer(config), aggregator=config.aggregator,
                       rule_params=runner.rule_params(config), byzantine=byz, client_attack=True,
                       capacity=config.capacity or None, mesh=mesh, local_update=update)
    data = with_attacker_data(config, task.data, byz)
    state = engine.init(sim, task.params, seed=config.seed)
    final = runner.run(config, workdir, sim, data, state, tasks.make_eval(task, config.eval_batch_size, backdoor=sp),
                       desc=f"backdoor/{config.aggregator}/{config.partition}")
    final["attackers"] = int(byz.sum())
    final["boost"] = sp.boost
    final["heterogeneity_index"] = heterogeneity_index(task.label_counts)
    return final
