"""Tiny FED-PUB run on a generated contextual SBM (ships with the code): the demo and the tests.
4 disjoint METIS clients, 20 rounds, hidden 32.

python -m projects.fedpub.main --config=configs/fedpub/default.py --workdir=runs/fedpub_demo
Baselines: --config.method=fedavg | local; overlapping clients: --config.mode=overlapping
(num_clients a multiple of clients_per_community).
"""
from ml_collections import ConfigDict, config_dict


def get_config(arg=None):
    c = ConfigDict()
    c.project = "fedpub"
    c.seed = 0               # model init, proxy graph, dropout
    c.data_seed = 1234       # train/val/test split, METIS, overlapping halves (the paper's generators: 1234)
    c.dataset = "csbm"       # csbm | cora | citeseer
    c.data_dir = config_dict.placeholder(str)
    c.csbm = ConfigDict({"num_nodes": 600, "num_classes": 4, "num_features": 32, "avg_degree": 6.0,
                         "homophily": 0.8, "feature_snr": 1.0, "train_per_class": 20, "num_val": 100,
                         "num_test": 200, "seed": 0})  # its own split is replaced by ratio_train below
    c.method = "fedpub"      # fedpub | fedavg | local
    c.mode = "disjoint"      # disjoint | overlapping
    c.num_clients = 4
    c.clients_per_community = 5  # overlapping: clients drawn from each METIS community
    c.ratio_train = 0.2      # train share of the LCC's nodes; test and val split the rest evenly
    c.num_rounds = 20
    c.local_epochs = 1       # full-batch steps per round
    c.hidden = 32
    c.dropout = 0.5
    c.learning_rate = 0.05  # the reference uses 0.01 with 100 rounds (configs/fedpub/cora.py)
    c.weight_decay = 1e-6
    c.l1 = 1e-3              # L1 on the masks (fedpub)
    c.loc_l2 = 1e-3          # ||theta - theta_received||_2 proximal term (fedpub)
    c.prune_threshold = 1e-3  # masks with |m| below it are zeroed at evaluation, in [0, 1)
    c.tau = 10.0             # similarity scale in exp(tau * cos) (the reference default; 3 in its Cora script)
    c.num_proxy_blocks = 5   # proxy random graph: blocks of 100 nodes
    c.log_every = 5
    c.eval_every = 5
    c.checkpoint_every = 5
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c
