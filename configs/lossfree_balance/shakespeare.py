"""Reproduction at CPU scale: tinyshakespeare, 4-layer char LM (2 MoE layers, 8 experts, top-2), 300 steps.

python -m projects.lossfree_balance.reproduce   # runs balance = lossfree, aux, none; writes results + README
single run: python -m projects.lossfree_balance.main --config=configs/lossfree_balance/shakespeare.py:balance=aux \
    --workdir=runs/lfb_aux
Scale vs the paper (Wang et al.: 1B-3B params, 100B-200B tokens): ~0.2M params, 300 x 32 x 64 = 0.6M tokens.
"""
from configs.lossfree_balance.default import balance_config
from lib.config import parse_arg


def get_config(arg=None):
    c = balance_config(parse_arg(arg, balance="lossfree").balance)
    c.data.source = "tinyshakespeare"
    c.model.num_layers = 4
    c.model.d_ff = 256
    c.batch_size = 32
    c.total = 300
    c.warmup = 30
    c.eval_every = 50
    c.eval_batches = 8
    c.log_every = 10
    c.checkpoint_every = 100
    return c
