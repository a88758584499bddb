"""Deep RevGNN (64 reversible blocks, 2 groups, hidden 64) on Cora (public split), one seed.
Seed tables for Cora and CiteSeer: projects/revgnn/reproduce.py.

python -m projects.revgnn.main --config=configs/revgnn/cora.py --workdir=runs/revgnn_cora
Arg: dataset name (cora | citeseer), e.g. --config=configs/revgnn/cora.py:citeseer
"""
from configs.revgnn import default


def get_config(arg=None):
    c = default.get_config()
    c.dataset = arg or "cora"
    c.model.layers = 64
    c.model.hidden = 64
    c.model.groups = 2
    c.model.dropout = 0.5
    c.model.input_dropout = 0.5
    c.learning_rate = 0.005
    c.weight_decay = 5e-4
    c.epochs = 200
    c.log_every = 50
    c.eval_every = 50
    c.checkpoint_every = 100
    return c
