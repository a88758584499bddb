"""Fits a model from bag-averaged responses with the interpolating loss (losses.py), optionally
with label differential privacy on the aggregates, and evaluates it on instance-level test data.

Data (config.dataset):
- `linear`: x ~ N(0, I_d), y = x.theta + sigma * noise, theta ~ N(0, I_d / d); n train, 10,000 test.
  Model: linear. Test metric: instance-level MSE and the excess risk |theta_hat - theta|^2.
- `default_credit`: UCI credit default, the guest's and host's features joined (lib.data.guest_host);
  responses are the 0/1 default labels. Model: logistic (p = sigmoid(x.theta + b)), squared loss on
  p. Test metrics: AUC and Brier score.

Bags: the training set is shuffled (by seed) and cut into bags of `bag_size` (a remainder smaller
than a bag is dropped). Label DP (`dp_epsilon` > 0): the Laplace mechanism on each bag mean, scale
range / (k * epsilon), where `range` is the response range (1 for 0/1 labels; 2 * clip for the
linear data, whose responses are clipped to [-clip, clip] first); every sample is in one bag, so
this is epsilon-label-DP.

Training: full-batch Adam for `total` steps (lib.train.run: checkpoints, bit-exact resume).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib import train as train_lib
from lib.config import ConfigError
from lib.data import guest_host
from lib.vfl.parties import auc
from projects.aggregate_responses import losses

DATASETS = ("linear", "default_credit")


class BagConfigError(ConfigError):
    """A bag setting (bag size, rho, epsilon) is invalid."""


def validate(config) -> None:
    config_lib.choice(config, "dataset", DATASETS)
    k = config.bag_size
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise BagConfigError(f"config.bag_size={k!r} must be an integer >= 1")
    rho = config.rho
    if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not 0 <= rho <= 1:
        raise BagConfigError(f"config.rho={rho!r} must be a number in [0, 1] (0: bag loss, 1: instance loss / k)")
    eps = config.dp_epsilon
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not np.isfinite(eps) or eps < 0:
        raise BagConfigError(f"config.dp_epsilon={eps!r} must be a finite number >= 0 (0: no privacy noise)")
    for key in ("lr", "clip", "linear.n", "linear.d", "linear.sigma"):
        config_lib.positive(config, key, allow_zero=key == "linear.sigma")


def load(config):
    """(x_train, y_train, x_test, y_test, response_range)."""
    if config.dataset == "linear":
        c = config.linear
        rng = np.random.default_rng(config.seed)
        theta = rng.normal(size=c.d) / np.sqrt(c.d)
        x = rng.normal(size=(c.n + 10_000, c.d)).astype(np.float32)
        y = (x @ theta + c.sigma * rng.normal(size=len(x))).astype(np.float32)
        return x[:c.n], y[:c.n], x[c.n:], y[c.n:], theta.astype(np.float32)
    data = guest_host.load(config_lib.data_dir(config), config.dataset)
    train, test = guest_host.split(data, 0.2, config.seed)
    return np.concatenate(train.x, 1), train.y, np.concatenate(test.x, 1), test.y, None


def make_bags(y: np.ndarray, k: int, seed: int, epsilon: float, response_range: float, clip: float | None):
    """(order [m * k] sample indices in bag order, ybar [m] observed bag means)."""
    if k > len(y):
        raise BagConfigError(f"config.bag_size={k} is larger than the data ({len(y)} training samples)")
    rng = np.random.default_rng([seed, 1])
    order = rng.permutation(len(y))[: len(y) // k * k]
    yb = y[order] if clip is None else np.clip(y[order], -clip, clip)
    ybar = yb.reshape(-1, k).mean(1)
    if epsilon > 0:
        ybar = ybar + rng.laplace(scale=response_range / (k * epsilon), size=ybar.shape)
    return order, ybar.astype(np.float32)


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    x, y, xt, yt, theta = load(config)
    linear = config.dataset == "linear"
    clip = config.clip if linear else None
    order, ybar = make_bags(y, config.bag_size, config.seed, config.dp_epsilon, 2 * config.clip if linear else 1.0,
                            clip)
    xb, ybar, k, rho = jnp.asarray(x[order]), jnp.asarray(ybar), config.bag_size, config.rho
    total = config_lib.steps(config, "total")
    tx = optax.adam(config.lr)
    params = {"w": jnp.zeros((x.shape[1],), jnp.float32), "b": jnp.zeros((), jnp.float32)}
    state = {"step": jnp.int32(0), "params": params, "opt_state": tx.init(params)}

    def predict(p, xx):
        z = xx @ p["w"] + p["b"]
        return z if linear else jax.nn.sigmoid(z)

    @jax.jit
    def step_fn(state, _):
        def loss_fn(p):
            return losses.interpolated_loss(predict(p, xb), ybar, k, rho)
        loss, g = jax.value_and_grad(loss_fn)(state["params"])
        upd, opt = tx.update(g, state["opt_state"], state["params"])
        f = predict(state["params"], xb)
        return ({"step": state["step"] + 1, "params": optax.apply_updates(state["params"], upd), "opt_state": opt},
                {"loss": loss, "bag_loss": losses.bag_loss(f, ybar, k),
                 "within_bag_variance": losses.within_bag_variance(f, k)})

    def eval_fn(state):
        p = jax.device_get(state["params"])
        f = np.asarray(predict(p, jnp.asarray(xt)))
        out = {"test_mse": float(np.mean((f - yt) ** 2))}
        if linear:
            out["excess_risk"] = float(np.sum((p["w"] - theta) ** 2) + p["b"] ** 2)
        else:
            out["test_auc"] = auc(f, yt)
        return out

    def summary(final):
        return {"bags": int(len(ybar)), "bag_size": k, "rho": rho, "dp_epsilon": config.dp_epsilon}

    return train_lib.run(config, workdir, state=state, step_fn=step_fn, num_steps=total, eval_fn=eval_fn,
                         summary_fn=summary, desc=f"agg/{config.dataset}/k{k}/rho{rho}")
