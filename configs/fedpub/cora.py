"""FED-PUB and its baselines on Cora / CiteSeer subgraphs, the reference scripts' settings: 100
rounds, 1 local epoch, all clients every round, hidden 128, Adam lr 0.01 (weight decay 1e-6),
tau 3 (its Cora script), 5 proxy blocks, 20 % train nodes. l1 = loc_l2 = 0: the reference
client adds its L1 mask and proximal terms from `state_dict()` tensors, which are detached, so they
never reach a gradient there; these settings train what the reference trains. The paper's penalties
with gradients (l1 = loc_l2 = 1e-3) are the `paper_l1` variant of projects/fedpub/reproduce.py.

    python -m projects.fedpub.main --config=configs/fedpub/cora.py:cora,clients=10,mode=disjoint,method=fedpub \
        --workdir=runs/fedpub_cora10

Arguments: dataset (first bare item: cora | citeseer), clients, mode, method, rounds.
"""
from configs.fedpub import default
from lib import config as config_lib


def get_config(arg=None):
    if arg and "=" not in arg.split(",")[0]:
        arg = "dataset=" + arg
    a = config_lib.parse_arg(arg, dataset="cora", clients=10, mode="disjoint", method="fedpub", rounds=100)
    c = default.get_config()
    c.dataset, c.num_clients, c.mode, c.method, c.num_rounds = a.dataset, a.clients, a.mode, a.method, a.rounds
    c.hidden = 128
    c.tau = 3.0
    c.learning_rate = 0.01
    c.l1 = 0.0
    c.loc_l2 = 0.0
    c.log_every, c.eval_every, c.checkpoint_every = 10, 5, 50
    return c
