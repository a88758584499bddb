"""ROD vs SGC vs APPNP on Cora (public Planetoid split, thinned): `get_config("method=rod,edge_keep=0.3,labels=5")`.

    python -m projects.rod.main --config=configs/rod/cora.py:method=rod,edge_keep=0.3,labels=5 --workdir=runs/rod_cora

Settings (shared with configs/rod/citeseer.py): ROD 3 students (Â^1..Â^3 X), hidden 64, dropout 0.5,
learned gate, distillation weight 1 at T = 1, graph-knowledge loss off (graph_weight=0; arg graph_weight=0.1 on),
Adam lr 0.01, weight decay 5e-4, 200 full-batch epochs; SGC Â^2 X, lr 0.2, weight decay 5e-5,
100 epochs, no dropout; APPNP hidden 64, dropout 0.5, alpha 0.1, 10 hops, lr 0.01, weight decay
5e-4, 200 epochs. Accuracy of the final state (no early stopping). Results of the sweep:
projects/rod/results/, `python -m projects.rod.reproduce`.
"""
from configs.rod import default
from lib import config as config_lib


def build(dataset: str, arg=None):
    a = config_lib.parse_arg(arg, method="rod", edge_keep=1.0, labels=20, graph_weight=0.0, gate="learned")
    c = default.get_config()
    c.dataset, c.method = dataset, a.method
    c.sparsity.edge_keep, c.sparsity.labels_per_class = a.edge_keep, a.labels
    c.model.hidden, c.model.dropout, c.model.norm = 64, 0.5, "sym"
    c.rod.num_hops, c.rod.graph_batch, c.rod.walks_per_node = 3, 512, 4
    c.rod.gate = a.gate  # learned | confidence
    c.rod.graph_weight = a.graph_weight  # 0: off (at 0.1 it kept students from fitting on CiteSeer, see README)
    c.epochs, c.learning_rate, c.weight_decay = 200, 0.01, 5e-4
    if a.method == "sgc":
        c.model.dropout = 0.0
        c.epochs, c.learning_rate, c.weight_decay = 100, 0.2, 5e-5
    c.log_every, c.eval_every, c.checkpoint_every = 100, 0, 0
    return c


def get_config(arg=None):
    return build("cora", arg)
