"""DistGNN on Cora / CiteSeer (public Planetoid split), 8 vertex-cut partitions (one per device):
`get_config("cora,mode=cd-r,delay=5")`, `get_config("citeseer,mode=single")`. GraphSAGE (mean),
hidden 64, dropout 0.5, Adam(W) 0.01, weight decay 5e-4, 200 epochs.

    XLA_FLAGS=--xla_force_host_platform_device_count=8 \
      python -m projects.distgnn.main --config=configs/distgnn/cora.py:cora,mode=cd-r,delay=5 --workdir=runs/dg
"""
from configs.distgnn import default
from lib import config as config_lib


def get_config(arg=None):
    if arg and "=" not in arg.split(",")[0]:  # a bare first item is the dataset
        arg = "dataset=" + arg
    a = config_lib.parse_arg(arg, dataset="cora", mode="cd-0", delay=5, seed=0)
    c = default.get_config()
    c.dataset, c.mode, c.delay, c.seed = a.dataset, a.mode, a.delay, a.seed
    c.model.hidden = (64,)
    c.epochs = 200
    c.log_every, c.eval_every, c.checkpoint_every = 20, 20, 50
    return c
