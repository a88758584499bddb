"""CELU-VFL vs vanilla VFL on UCI credit-card default (FATE guest/host split in the data root's vfl/:
guest 13 features + label, host 10 features; 24,000 train / 6,000 test, stratified).

    python -m projects.celu_vfl.main --config=configs/celu_vfl/credit_default.py:method=celu --workdir=runs/celu_credit
    python -m projects.celu_vfl.reproduce     # all three methods -> projects/celu_vfl/results/

Scale vs the paper: the authors' code runs Wide&Deep on Criteo/Avazu (batch 4096, embeddings of
10^6 hashed ids, two servers over a real WAN); here the same method on a 30k-row table with small
Wide&Deep bottoms on one CPU, and the WAN is the wire model (lib/vfl/wire.py preset 'wan').
"""

from configs.celu_vfl import default
from lib.config import parse_arg


def get_config(arg=None):
    a = parse_arg(arg, method="celu", total=600, seed=0, W=5, R=5, lr=0.05)
    c = default.get_config()
    c.dataset = "default_credit"
    c.method = a.method
    c.seed = a.seed
    c.W, c.R, c.lr = a.W, a.R, a.lr
    c.model.embed_dim = 16
    c.model.bottom_hidden = (64,)
    c.batch_size = 256
    c.eval_batch_size = 2000
    c.total = a.total  # rounds
    c.log_every = 20
    c.eval_every = 10
    c.checkpoint_every = 200
    return c
