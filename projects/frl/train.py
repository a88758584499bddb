"""FRL and its weight-training baselines on lib.fl, one config key apart (`config.method`):

    frl           frozen random MLP, edge scores trained locally, rankings voted (ranking.py);
                  malicious clients submit the reversed collective ranking
    fedavg | trimmed_mean | multi_krum
                  the same MLP shape with trained weights (and biases) through the engine's
                  rule; malicious clients run `config.attack` (lib.fl.attacks, default min_max)

The same clients are malicious in every method (`attacks.choose_byzantine` on the run's seed).
Results carry the upload per client and round in bits (`upload_bits`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib.config import ConfigError
from lib.fl import aggregate, attacks, engine, runner, tasks
from projects.frl import ranking

METHODS = ("frl", "fedavg", "trimmed_mean", "multi_krum")
_BYZ_STREAM = 7


def validate(config) -> None:
    """Named errors before any data is read or anything compiled."""
    tasks.validate(config)
    config_lib.choice(config, "method", METHODS)
    ranking.check(config.frl.sparsity, config.frl.mask)
    if config.model.name != "mlp":
        raise ConfigError(f"config.model.name={config.model.name!r}: FRL here is an MLP (model.name='mlp')")
    f = config.byzantine_fraction
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f < 0.5:
        raise ConfigError(f"config.byzantine_fraction={f!r} must be in [0, 0.5)")
    config_lib.steps(config, "total")
    runner.local_config(config)
    runner.server_optimizer(config)
    runner.mesh(config)
    if config.method == "frl":
        if config.server.optimizer != "sgd" or float(config.server.lr) != 1.0:
            raise ConfigError("config.server must be sgd with lr 1 for frl: the vote sets the new scores")
        return
    if f > 0:
        attacks.validate(config.attack, knowledge="full", **runner.attack_params(config))
    n, nb = runner.byzantine_per_round(config)
    rp = _rule_params(config)
    aggregate.validate_defended(config.method, n, rp.pop("f", nb), byzantine=nb, defenses=(), **rp)


def _rule_params(config) -> dict:
    _, f = runner.byzantine_per_round(config)
    rp = aggregate.rule_params(config.method, f=f, **dict(config.rule_params))
    if config.method == "trimmed_mean" and "beta" not in config.rule_params:
        rp["beta"] = max(0.1, float(config.byzantine_fraction))  # trims at least the malicious clients
    return rp


def byzantine_mask(config) -> np.ndarray:
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _BYZ_STREAM)
    return np.asarray(attacks.choose_byzantine(key, config.num_clients, config.byzantine_fraction))


def _sizes(config, task):
    return (int(np.prod(task.x_test.shape[1:])),) + tuple(config.model.hidden) + (task.num_classes,)


def build_frl(config, task, byz):
    """(Simulation, initial scores, eval_fn, upload bits) of an FRL run."""
    sp, mk = float(config.frl.sparsity), config.frl.mask
    weights, scores = ranking.init_network(jax.random.fold_in(jax.random.PRNGKey(config.seed), 17),
                                           _sizes(config, task), sp)

    def loss_fn(s, xb, yb):
        return optax.softmax_cross_entropy_with_integer_labels(ranking.apply(weights, s, xb, sp, mk), yb)

    local, mesh = runner.local_config(config), runner.mesh(config)
    sim = engine.build(loss_fn=loss_fn, local=local, participation=runner.participation(config, task.label_counts),
                       server_opt=runner.server_optimizer(config), aggregator="fedavg",
                       strategy=ranking.strategy(scores, byz), local_update=ranking.local_update(loss_fn, local, mesh),
                       capacity=config.capacity or None, mesh=mesh)
    sorted_init = ranking.sorted_initial(scores)
    xb, yb, mb = tasks.eval_batches(task.x_test, task.y_test, config.eval_batch_size)

    @jax.jit
    def sums(params):
        # the global scores are a permutation of the initial values: re-snap params to them
        s = jax.tree.map(lambda p, v: ranking.scores_from_votes(ranking.positions(p), v), params, sorted_init)

        def body(acc, b):
            x, y, m = b
            logits = ranking.apply(weights, s, x, sp, mk)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
            return (acc[0] + jnp.sum(jnp.where(m, ce, 0.0)), acc[1] + jnp.sum((jnp.argmax(logits, -1) == y) & m)), None

        (loss, correct), _ = jax.lax.scan(body, (jnp.float32(0), jnp.float32(0)), (xb, yb, mb))
        return loss / len(task.y_test), correct / len(task.y_test)

    def evaluate(params):
        loss, acc = jax.device_get(sums(params))
        return {"test_loss": float(loss), "test_accuracy": float(acc)}

    return sim, scores, evaluate, ranking.upload_bits(scores)


def build_baseline(config, task, byz):
    attack = config.attack if byz.any() else "none"
    sim = engine.build(loss_fn=task.loss_fn, local=runner.local_config(config),
                       participation=runner.participation(config, task.label_counts),
                       server_opt=runner.server_optimizer(config), aggregator=config.method,
                       rule_params=_rule_params(config), attack=attack,
                       attack_params=runner.attack_params(config) if byz.any() else None,
                       byzantine=byz if byz.any() else None, capacity=config.capacity or None,
                       mesh=runner.mesh(config), stop_on_nonfinite=not aggregate.is_robust(config.method))
    bits = 32 * sum(int(np.size(p)) for p in jax.tree.leaves(task.params))
    return sim, task.params, tasks.make_eval(task, config.eval_batch_size), bits


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    task = tasks.load_task(config)
    byz = byzantine_mask(config)
    build = build_frl if config.method == "frl" else build_baseline
    sim, params, evaluate, bits = build(config, task, byz)
    state = engine.init(sim, params, seed=config.seed)
    final = runner.run(config, workdir, sim, task.data, state, evaluate,
                       desc=f"{config.method}/byz{config.byzantine_fraction}")
    final["malicious_clients"] = int(byz.sum())
    final["upload_bits_per_client_round"] = bits
    final["weights"] = sum(int(np.size(p)) for p in jax.tree.leaves(params))
    return final
