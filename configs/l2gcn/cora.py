"""L-GCN and full-batch GCN on Cora / CiteSeer (public Planetoid split):
`get_config("cora")`, `get_config("citeseer,mode=full")`. L-GCN settings of the reference code's
Cora config: 2 layers, hidden 16, lr 0.005, batch 256, 80 epochs per layer. Full batch: Kipf &
Welling's 200 epochs, lr 0.01.

    python -m projects.l2gcn.main --config=configs/l2gcn/cora.py:cora --workdir=runs/lgcn_cora
"""
from configs.l2gcn import default
from lib import config as config_lib


def get_config(arg=None):
    if arg and "=" not in arg.split(",")[0]:  # a bare first item is the dataset: cora.py:citeseer,mode=full
        arg = "dataset=" + arg
    a = config_lib.parse_arg(arg, dataset="cora", mode="layerwise")
    c = default.get_config()
    c.dataset, c.mode = a.dataset, a.mode
    c.model.hidden = 16
    c.epochs_per_layer = (80, 80)
    c.batch_size = 256
    c.learning_rate = 0.005 if a.mode == "layerwise" else 0.01
    c.full_epochs = 200
    c.log_every, c.eval_every, c.checkpoint_every = 50, 1000, 1000
    return c
