"""Feature age: the synthetic pair's least-MSE curve, the age data sets, linear forecasters reach the
least MSE, smoke + bit-exact resume, named errors, the real series."""

import numpy as np
import pytest

from tests.helpers import assert_trees_equal, load_checkpoint


def _config(path="default", **kw):
    import importlib

    c = importlib.import_module(f"configs.feature_age.{path}").get_config()
    c.total, c.log_every, c.checkpoint_every = 40, 20, 20
    for k, v in kw.items():
        c[k] = v
    return c


def test_least_mse_matches_a_long_simulation():
    from projects.feature_age import series

    p = dict(a=0.6, b=0.9, period=4, seasonal_weight=1.0)
    y = series.synthetic(200_000, seed=1, **p)[:, 0]
    y = (y - y.mean()) / y.std()
    ages = np.arange(1, 13)
    rho = np.array([np.mean(y[d:] * y[:-d]) for d in ages])
    np.testing.assert_allclose(1 - rho ** 2, series.least_mse(ages, **p), atol=0.02)
    curve = series.least_mse(ages, **p)
    assert curve[3] < curve[1] < curve[2]  # age 4 (one period) beats age 2: not monotone
    markov = series.least_mse(ages, **{**p, "seasonal_weight": 0.0})
    assert np.all(np.diff(markov) > 0)  # the Markov series: older is always worse


def test_age_datasets_take_the_features_of_each_age():
    from projects.feature_age import series

    x = np.arange(60, dtype=float).reshape(30, 2)  # row t = [2t, 2t + 1]
    ages = np.array([1, 3])
    inputs, y = series.age_datasets(x, 1, ages, window=2)
    assert inputs.shape == (2, 30 - 4, 4) and y[0] == x[4, 1]  # first target time max_age + window - 1 = 4
    # target t = 4, age 3, window 2: rows 0 and 1
    np.testing.assert_array_equal(inputs[1, 0], np.concatenate([x[0], x[1]]))
    np.testing.assert_array_equal(inputs[0, 0], np.concatenate([x[2], x[3]]))


def test_linear_forecasters_reach_the_least_mse(tmp_path):
    from projects.feature_age.train import train_and_evaluate

    c = _config(hidden=(), lr=0.05, weight_decay=0.0, total=150, max_age=12)
    c.synthetic.length, c.synthetic.period = 6000, 4
    final = train_and_evaluate(c, str(tmp_path))
    least = np.array(final["least_mse_by_age"])
    np.testing.assert_allclose(final["train_mse_by_age/per_age"], least, atol=0.08)
    # no age input: one linear map for every age cannot follow the curve's dips
    assert final["train_mse_by_age/pooled_no_age"][3] > least[3] + 0.2


def test_smoke_and_bit_exact_resume(tmp_path):
    from projects.feature_age.train import train_and_evaluate

    a, b = tmp_path / "a", tmp_path / "b"
    final = train_and_evaluate(_config(), str(a))
    assert len(final["test_mse_by_age/pooled"]) == 20 and final["train_samples"] > 0
    train_and_evaluate(_config(total=20), str(b))
    assert train_and_evaluate(_config(), str(b))["resumed_from"] == 20
    assert_trees_equal(load_checkpoint(a, 40), load_checkpoint(b, 40))


@pytest.mark.parametrize("override, match", [
    (dict(max_age=0, min_age=2), r"config.max_age=0 is below config.min_age=2"),
    (dict(window=0), r"config.window=0 must be an integer >= 1"),
    (dict(max_age=1190), r"leaves 10 target times in a series of 1200 steps"),
    (dict(series="weather"), r"config.series='weather'"),
    (dict(hidden=(0,)), r"config.hidden=\(0,\) must be widths >= 1"),
])
def test_bad_config_is_a_named_error(tmp_path, override, match):
    from lib.config import ConfigError
    from projects.feature_age.train import train_and_evaluate

    with pytest.raises(ConfigError, match=match):
        train_and_evaluate(_config(**override), str(tmp_path))


def test_real_series_and_their_errors(tmp_path):
    pytest.importorskip("statsmodels")
    from lib.config import ConfigError
    from projects.feature_age.train import build_data

    data, ages = build_data(_config("macrodata"))
    # 202 quarters after differencing, 12 ages: 190 target times, 7 features
    assert data["train"]["x"].shape == (12, 133, 7) and data["test"]["y"].shape == (57,)
    # standardised with the statistics of the rows the training part sees (its targets and older features)
    assert abs(float(data["train"]["y"].mean())) < 0.15 and 0.85 < float(data["train"]["y"].std()) < 1.15
    c = _config("macrodata")
    c.real.target = "gdp"
    with pytest.raises(ConfigError, match=r"config.real.target='gdp' is not among the columns"):
        build_data(c)
    c = _config("sunspots")
    c.real.log_diff = ("YEAR",)
    with pytest.raises(ConfigError, match=r"log_diff names unknown columns \['YEAR'\]"):
        build_data(c)
