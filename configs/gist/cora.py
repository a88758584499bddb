"""GIST and full training on Cora / CiteSeer (public Planetoid split): `get_config("cora")`,
`get_config("citeseer,mode=full")`, `get_config("cora,m=4")`. A 2-layer GCN, hidden 64 (wide enough
to split four ways), 200 epochs, Adam 0.01 with the reference code's decay, dropout 0.5, weight
decay 5e-4; GIST rounds of 5 local epochs, hidden units split (the paper); `split_input=True` splits the input
features too (the reference code's default).

    python -m projects.gist.main --config=configs/gist/cora.py:cora,m=2 --workdir=runs/gist_cora
"""
from configs.gist import default
from lib import config as config_lib


def get_config(arg=None):
    if arg and "=" not in arg.split(",")[0]:  # a bare first item is the dataset: cora.py:citeseer,mode=full
        arg = "dataset=" + arg
    a = config_lib.parse_arg(arg, dataset="cora", mode="gist", m=2, hidden=64, split_input=False,
                             seed=0)
    c = default.get_config()
    c.dataset, c.mode, c.seed = a.dataset, a.mode, a.seed
    c.model.hidden = (a.hidden,)
    c.gist.m = a.m
    c.gist.split_input = a.split_input
    c.epochs = 200
    c.log_every, c.eval_every, c.checkpoint_every = 20, 20, 40
    return c
