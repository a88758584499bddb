"""Learning from aggregate responses on a generated linear-regression problem (runs anywhere).

python -m projects.aggregate_responses.main --config=configs/aggregate_responses/default.py --workdir=runs/agg
"""

from ml_collections import ConfigDict, config_dict

from lib.config import parse_arg


def get_config(arg=None):
    a = parse_arg(arg, bag_size=8, rho=0.5, dp_epsilon=0.0, seed=0)
    c = ConfigDict()
    c.project = "aggregate_responses"
    c.seed = a.seed
    c.dataset = "linear"  # linear | default_credit (data root vfl/)
    c.data_dir = config_dict.placeholder(str)
    c.linear = ConfigDict({"n": 2000, "d": 50, "sigma": 1.0})
    c.bag_size = a.bag_size
    c.rho = a.rho  # 0: bag loss, 1: instance loss / k
    c.dp_epsilon = a.dp_epsilon  # Laplace label DP on the bag means; 0: none
    c.clip = 3.0  # linear responses clipped to [-clip, clip] (sets the DP sensitivity)
    c.lr = 0.05
    c.total = 300  # full-batch Adam steps
    c.log_every = 100
    c.eval_every = 0
    c.checkpoint_every = 100
    c.keep_checkpoints = 2
    c.init_from = config_dict.placeholder(str)
    return c
