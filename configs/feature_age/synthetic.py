"""Feature age on the generated Markov / non-Markov pair, at reproduction size.

python -m projects.feature_age.main --config=configs/feature_age/synthetic.py --workdir=runs/age_nonmarkov
python -m projects.feature_age.main --config=configs/feature_age/synthetic.py:markov=True --workdir=runs/age_markov
The sweep over these and the real series: python -m projects.feature_age.report --run
"""

from configs.feature_age import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.hidden = (64, 64)
    c.weight_decay = 1e-3
    c.total = 4000
    return c
