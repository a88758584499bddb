"""Forecasting from features of age Delta: one forecaster per age vs one pooled across ages.

Three models are trained side by side, full batch, in one jitted step (lib.train.run: checkpoints,
bit-exact resume):
- `per_age`: one MLP per age Delta in [min_age, max_age], each on its own age's data (all of them
  vmapped: their parameters carry a leading [ages] axis);
- `pooled`: one MLP on every age's data together, with the age as an extra input ((Delta - min_age)
  / (max_age - min_age), the paper's suggestion (ii));
- `pooled_no_age`: the same pooled data without the age input (an ablation: pooling alone).

Series and targets are standardised with the training part's mean and std (the first
`train_fraction` of target times; the rest is the test set), so MSEs are in units of the target's
variance and the synthetic series' least MSE (series.least_mse) can be drawn beside them.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib import train as train_lib
from lib.config import ConfigError
from projects.feature_age import series as series_lib

SERIES = ("synthetic", "real")
MODELS = ("per_age", "pooled", "pooled_no_age")


class Forecaster(nn.Module):
    hidden: tuple

    @nn.compact
    def __call__(self, x):
        for i, w in enumerate(self.hidden):
            x = nn.relu(nn.Dense(w, name=f"dense_{i}")(x))
        return nn.Dense(1, name="out")(x)[..., 0]


def validate(config) -> None:
    config_lib.choice(config, "series", SERIES)
    series_lib.check_ages(config.min_age, config.max_age, config.window)
    config_lib.in_range(config, "train_fraction", 0.05, 0.95)
    config_lib.positive(config, "lr")
    config_lib.positive(config, "weight_decay", allow_zero=True)
    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in config.hidden):
        raise ConfigError(f"config.hidden={tuple(config.hidden)!r} must be widths >= 1 (empty: a linear forecaster)")
    if config.series == "synthetic":
        s = config.synthetic
        config_lib.integer(config, "synthetic.length", 50)
        config_lib.integer(config, "synthetic.period", 1)
        for k in ("synthetic.a", "synthetic.b"):
            config_lib.in_range(config, k, -0.999, 0.999)
        if s.seasonal_weight < 0:
            raise ConfigError(f"config.synthetic.seasonal_weight={s.seasonal_weight!r} must be >= 0 (0: Markov)")


def load_series(config) -> tuple[np.ndarray, int]:
    if config.series == "synthetic":
        s = config.synthetic
        return series_lib.synthetic(s.length, a=s.a, b=s.b, period=s.period, seasonal_weight=s.seasonal_weight,
                                    seed=config.seed), 0
    x, target, _ = series_lib.real(config, config_lib.data_dir(config))
    return x, target


def build_data(config):
    """Standardised (train, test) dicts of per-age inputs [A, N, D] and targets [N]; and the ages."""
    x, target = load_series(config)
    series_lib.check_ages(config.min_age, config.max_age, config.window, len(x))
    ages = np.arange(config.min_age, config.max_age + 1)
    t0 = int(ages.max()) + config.window - 1
    n_train = int(round(config.train_fraction * (len(x) - t0)))
    split_row = t0 + n_train  # rows before it are all the training part ever sees
    mean, std = x[:split_row].mean(0), x[:split_row].std(0)
    std = np.where(std > 0, std, 1.0)
    inputs, targets = series_lib.age_datasets((x - mean) / std, target, ages, config.window)
    parts = {"train": slice(0, n_train), "test": slice(n_train, None)}
    return {k: {"x": jnp.asarray(inputs[:, s], jnp.float32), "y": jnp.asarray(targets[s], jnp.float32)}
            for k, s in parts.items()}, ages


def _with_age(x, ages):
    """[A, N, D] -> [A, N, D + 1]: the normalised age appended to every input."""
    span = max(int(ages.max() - ages.min()), 1)
    a = jnp.asarray((ages - ages.min()) / span, jnp.float32)
    return jnp.concatenate([x, jnp.broadcast_to(a[:, None, None], x.shape[:2] + (1,))], -1)


def make_model_fns(model: Forecaster, ages: np.ndarray):
    """predict(params, x [A, N, D]) -> {name: [A, N]} for the three models."""
    per_age = jax.vmap(model.apply)

    def predict(params, x):
        return {"per_age": per_age(params["per_age"], x),
                "pooled": model.apply(params["pooled"], _with_age(x, ages)),
                "pooled_no_age": model.apply(params["pooled_no_age"], x)}

    return predict


def per_age_mse(pred: dict, y) -> dict:
    """{name: [A]} mean squared error of each model at each age."""
    return {k: jnp.mean((p - y[None]) ** 2, axis=1) for k, p in pred.items()}


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    data, ages = build_data(config)
    model = Forecaster(tuple(config.hidden))
    d = data["train"]["x"].shape[-1]
    k_age, k_pool, k_plain = jax.random.split(jax.random.key(config.seed), 3)
    params = {
        "per_age": jax.vmap(lambda k: model.init(k, jnp.zeros((1, d))))(jax.random.split(k_age, len(ages))),
        "pooled": model.init(k_pool, jnp.zeros((1, d + 1))),
        "pooled_no_age": model.init(k_plain, jnp.zeros((1, d))),
    }
    tx = optax.adamw(config.lr, weight_decay=config.weight_decay)
    state = {"step": jnp.int32(0), "params": params, "opt": tx.init(params)}
    predict = make_model_fns(model, ages)
    train = data["train"]

    @jax.jit
    def step_fn(state, _):
        def loss_fn(p):
            mse = per_age_mse(predict(p, train["x"]), train["y"])
            # per_age: each model's own MSE (summed, so no model's gradient sees another's data);
            # pooled: the MSE over all ages' samples together
            return mse["per_age"].sum() + mse["pooled"].mean() + mse["pooled_no_age"].mean(), mse

        (loss, mse), g = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        upd, opt = tx.update(g, state["opt"], state["params"])
        new = {"step": state["step"] + 1, "params": optax.apply_updates(state["params"], upd), "opt": opt}
        return new, {"loss": loss, **{f"train_mse/{k}": v.mean() for k, v in mse.items()}}

    evaluate = jax.jit(lambda p: {part: per_age_mse(predict(p, data[part]["x"]), data[part]["y"])
                                  for part in ("train", "test")})
    last = {}

    def eval_fn(state):
        curves = jax.device_get(evaluate(state["params"]))
        last["curves"] = curves
        return {f"test_mse/{k}": float(np.mean(v)) for k, v in curves["test"].items()}

    def summary(final):
        curves = last["curves"]
        out = {"ages": ages.tolist(), "train_samples": int(train["y"].shape[0]),
               "test_samples": int(data["test"]["y"].shape[0])}
        for part in ("train", "test"):
            for k in MODELS:
                out[f"{part}_mse_by_age/{k}"] = [float(v) for v in curves[part][k]]
        if config.series == "synthetic" and config.window == 1:
            s = config.synthetic
            out["least_mse_by_age"] = series_lib.least_mse(ages, a=s.a, b=s.b, period=s.period,
                                                           seasonal_weight=s.seasonal_weight).tolist()
        return out

    return train_lib.run(config, workdir, state=state, step_fn=step_fn, num_steps=config_lib.steps(config, "total"),
                         eval_fn=eval_fn, summary_fn=summary, desc=f"feature_age/{config.series}")
