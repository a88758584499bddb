"""Feature age on a real series with a cycle: yearly sunspot numbers 1700-2008 (statsmodels'
`sunspots`); the ~11-year cycle makes old values informative again. Ages 1-20 years, window 1.

python -m projects.feature_age.main --config=configs/feature_age/sunspots.py --workdir=runs/age_sun
"""

from configs.feature_age import synthetic


def get_config(arg=None):
    c = synthetic.get_config(arg)  # the same model and steps
    c.series = "real"
    c.real.source = "statsmodels:sunspots"
    c.real.columns = ("SUNACTIVITY",)
    c.real.target = "SUNACTIVITY"
    c.min_age, c.max_age = 1, 20
    return c
