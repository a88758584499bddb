"""Loss-free balancing vs Switch aux loss vs none: tiny char LM on Python's pydoc_data topics (ships with Python).

python -m projects.lossfree_balance.main --config=configs/lossfree_balance/default.py:balance=lossfree --workdir=runs/lfb
balance: lossfree (top-k on score + bias, bias updated outside the optimizer) | aux (Switch loss 0.01) | none.
What the tests run: ~40 steps, well under a minute on 2 CPU cores. Every key and its neutral value:
lib/moe/tasks.py `default_config`.
"""
from ml_collections import ConfigDict

from lib.config import ConfigError, parse_arg
from lib.moe.tasks import default_config

BALANCE = ("lossfree", "aux", "none")


def balance_config(balance: str):
    if balance not in BALANCE:
        raise ConfigError(f"config arg balance={balance!r}; allowed: {BALANCE}")
    c = default_config(project="lossfree_balance")
    if balance == "lossfree":
        c.moe.router = "lossfree"
        # bias_rate u: 1e-3 in Wang et al. for long runs; larger here for a few hundred steps
        c.moe.router_kwargs = ConfigDict({"bias_rate": 0.01, "bias_rule": "sign"})
    elif balance == "aux":
        c.moe.aux_weight = 0.01
    return c


def get_config(arg=None):
    return balance_config(parse_arg(arg, balance="lossfree").balance)
