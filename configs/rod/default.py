"""Tiny ROD run on a generated contextual SBM (ships with the code): the demo and the tests.

python -m projects.rod.main --config=configs/rod/default.py --workdir=runs/rod_demo
Baselines: --config.method=sgc | appnp; thinner graph: --config.sparsity.edge_keep=0.3
"""
from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "rod"
    c.seed = 0
    c.dataset = "csbm"  # csbm | cora | citeseer
    c.data_dir = config_dict.placeholder(str)
    c.csbm = ConfigDict({"num_nodes": 300, "num_classes": 3, "num_features": 24, "avg_degree": 5.0,
                         "homophily": 0.8, "feature_snr": 0.6, "train_per_class": 20, "num_val": 60,
                         "num_test": 120, "seed": 0})
    c.method = "rod"  # rod | sgc | appnp
    # the sparse setting: share of undirected edges kept (0, 1], labelled nodes kept per class (>= 1),
    # both drawn with config.seed from the data set's edges and train nodes
    c.sparsity = ConfigDict({"edge_keep": 1.0, "labels_per_class": 20})
    c.model = ConfigDict({"hidden": 16, "dropout": 0.5, "norm": "sym"})  # sym: D^-1/2 (A+I) D^-1/2; row: D^-1 (A+I)
    # ROD: students at depths 1..num_hops; kd = teacher -> student KL at `temperature`; graph = k-hop
    # random-walk pair loss on each student's hidden states (graph_batch pairs per student per step)
    # gate: how the teacher weighs the students per node: 'learned' (a . tanh(h_k) + c_k, trained on the
    # labels) or 'confidence' (softmax of -entropy/gate_tau of each student's prediction, no parameters)
    c.rod = ConfigDict({"gate": "learned", "gate_tau": 0.5, "num_hops": 3, "kd_weight": 1.0, "temperature": 1.0, "graph_weight": 0.1, "tau": 0.5,
                        "graph_batch": 64, "walks_per_node": 2})
    c.sgc = ConfigDict({"hops": 2})
    c.appnp = ConfigDict({"alpha": 0.1, "hops": 10})
    c.epochs = 30  # full-batch Adam updates
    c.learning_rate = 0.01
    c.weight_decay = 5e-4
    c.log_every = 10
    c.eval_every = 15
    c.checkpoint_every = 10
    c.keep_checkpoints = 5
    c.init_from = config_dict.placeholder(str)
    return c
