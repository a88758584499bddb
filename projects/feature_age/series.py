"""The series, and the supervised data set of each feature age.

A series is [T, F] (F features, one of them the target). For age Delta and window u, the sample
with target time t has input x = features at t-Delta-u+1 .. t-Delta (u x F values) and output
y = target at t. Every age uses the same target times t in [max_age + u - 1, T), so per-age data sets
differ only in how old their features are.

Synthetic pair (`synthetic`): y = z + s with z an AR(1) (z_t = a z_{t-1} + e_t, Markov) and s a
seasonal AR (s_t = b s_{t-p} + e'_t); the observed feature is y itself. With `seasonal_weight` 0 the
series is z alone: Markov, and the least MSE of a forecast from one value y_{t-Delta} grows with
Delta. With s present the series is not Markov: y_{t-p} says more about y_t than y_{t-p/2} does, so
the curve is not monotone. For a Gaussian series the best forecast from y_{t-Delta} is linear, with
least MSE var(y) (1 - rho(Delta)^2): `least_mse` gives it (window 1), in units of var(y).
"""

from __future__ import annotations

import numpy as np

from lib.config import ConfigError
from lib.data import timeseries


class AgeError(ConfigError):
    """The ages / window do not fit the series (or are not integers >= 0 / >= 1)."""


def synthetic(length: int, *, a: float, b: float, period: int, seasonal_weight: float, seed: int) -> np.ndarray:
    """[length, 1] y = z + w s (z AR(1) coefficient a, s seasonal AR(period) coefficient b), unit-
    variance innovations; a burn-in of 50 periods is dropped so the series starts stationary."""
    rng = np.random.default_rng(seed)
    burn = 50 * max(period, 1) + 200
    n = length + burn
    e, f = rng.normal(size=n), rng.normal(size=n)
    z, s = np.zeros(n), np.zeros(n)
    for t in range(1, n):
        z[t] = a * z[t - 1] + e[t]
        s[t] = (b * s[t - period] if t >= period else 0.0) + f[t]
    return (z + seasonal_weight * s)[burn:, None]


def least_mse(ages, *, a: float, b: float, period: int, seasonal_weight: float) -> np.ndarray:
    """Least MSE of forecasting y_t from y_{t-Delta} alone, / var(y), for each Delta in `ages`."""
    ages = np.asarray(ages)
    vz, vs = 1 / (1 - a * a), seasonal_weight ** 2 / (1 - b * b)
    cov = vz * a ** ages + vs * np.where(ages % period == 0, b ** (ages // period), 0.0)
    rho = cov / (vz + vs)
    return 1 - rho ** 2


def _log_diff(x: np.ndarray) -> np.ndarray:
    if (x <= 0).any():
        raise ConfigError("config.real.log_diff names a column with values <= 0 (log differences need positive values)")
    return np.diff(np.log(x), axis=0)


def real(config, data_dir: str | None) -> tuple[np.ndarray, int, tuple]:
    """([T, F] series, target column index, column names) from config.real: `source`, `columns`
    (None: all), `log_diff` (columns replaced by 100 x their log differences: growth rates),
    `target` (a column name)."""
    c = config.real
    x, names = timeseries.load(c.source, tuple(c.columns) if c.columns else None, data_dir)
    if c.target not in names:
        raise ConfigError(f"config.real.target={c.target!r} is not among the columns {list(names)}")
    unknown = [n for n in c.log_diff if n not in names]
    if unknown:
        raise ConfigError(f"config.real.log_diff names unknown columns {unknown}; the columns are {list(names)}")
    if c.log_diff:
        cols = [names.index(n) for n in c.log_diff]
        growth = 100 * _log_diff(x[:, cols])
        x = x[1:].copy()  # the first row has no difference
        x[:, cols] = growth
    return x, names.index(c.target), names


def check_ages(min_age, max_age, window, length: int | None = None) -> None:
    for name, v, lo in (("min_age", min_age, 0), ("max_age", max_age, 0), ("window", window, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise AgeError(f"config.{name}={v!r} must be an integer >= {lo}")
    if max_age < min_age:
        raise AgeError(f"config.max_age={max_age} is below config.min_age={min_age}")
    if length is not None and length - (max_age + window - 1) < 20:
        raise AgeError(f"max_age + window - 1 = {max_age + window - 1} leaves {length - (max_age + window - 1)} "
                       f"target times in a series of {length} steps; need >= 20 (lower max_age or window)")


def age_datasets(x: np.ndarray, target: int, ages: np.ndarray, window: int):
    """(inputs [A, N, window * F], targets [N]) for the common target times t = max_age + window - 1 .. T-1."""
    t0 = int(ages.max()) + window - 1
    ts = np.arange(t0, len(x))
    idx = ts[None, :, None] - ages[:, None, None] - np.arange(window)[::-1][None, None, :]  # [A, N, u]
    inputs = x[idx].reshape(len(ages), len(ts), window * x.shape[1])
    return inputs, x[ts, target]
