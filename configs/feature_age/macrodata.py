"""Feature age on a real multivariate series: US quarterly macro data (statsmodels' `macrodata`,
1959Q1-2009Q3, FRED / BLS). Target: the inflation rate `infl`; features (aged together): growth of
real GDP, consumption, investment and M1 (100 x log differences), the T-bill rate, unemployment and
inflation itself. Ages 1-12 quarters.

python -m projects.feature_age.main --config=configs/feature_age/macrodata.py --workdir=runs/age_macro
"""

from configs.feature_age import synthetic


def get_config(arg=None):
    c = synthetic.get_config(arg)  # the same model and steps
    c.series = "real"
    growth = ("realgdp", "realcons", "realinv", "m1")
    c.real.source = "statsmodels:macrodata"
    c.real.columns = growth + ("tbilrate", "unemp", "infl")
    c.real.log_diff = growth
    c.real.target = "infl"
    c.min_age, c.max_age = 1, 12
    # 133 training quarters: the (64, 64) MLP of the other settings fits them exactly (train MSE ~0)
    # and forecasts badly; a small one with more weight decay does not
    c.hidden = (8,)
    c.weight_decay = 1e-2
    return c
