"""L-GCN and full-batch GCN on Cora / CiteSeer (public Planetoid split):
`get_config("cora")`, `get_config("citeseer,mode=full")`. L-GCN settings of the reference code's
Cora config: 2 layers, hidden 16, lr 0.005, batch 256, 80 epochs per layer. Full batch: Kipf &
Welling's 200 epochs, lr 0.01. mode=l2gcn: the reference's controller settings (config/cora.yaml):
20 slots, a decision every 10 epochs, a layer stops between 40 and 100 epochs (the reference: its
35 < epochs, forced past 95, checked every 10 epochs from the first, i.e. 41..101), 50 search
episodes all with predefined stop slots (its init_round 10 x 5 = total_round 50), controller Adam lr
0.05, baseline 0.3 with ratio 0.9, time_ratio 1e-4, threshold = mean search P(stop).

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
    c.learning_rate = 0.01 if a.mode == "full" else 0.005
    c.controller.update({"length": 20, "decision_step": 10, "min_epochs": 40, "max_epochs": 100,
                         "episodes": 50, "warmup_episodes": 50, "sample_nodes": 1024})
    c.full_epochs = 200
    c.log_every, c.eval_every, c.checkpoint_every = 50, 1000, 1000
    return c
