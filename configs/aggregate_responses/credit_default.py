"""Aggregate responses on UCI credit default (guest + host features joined, 24,000 train / 6,000 test):
a logistic model fitted from bag-averaged default labels.

python -m projects.aggregate_responses.main --config=configs/aggregate_responses/credit_default.py:bag_size=16,rho=0.5 \\
    --workdir=runs/agg_credit
"""

from configs.aggregate_responses import default


def get_config(arg=None):
    c = default.get_config(arg)
    c.dataset = "default_credit"
    c.lr = 0.05
    c.total = 300
    return c
