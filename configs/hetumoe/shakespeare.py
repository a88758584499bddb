"""Reproduction at CPU scale: tinyshakespeare, 4-layer char LM, 8 experts, 300 steps per gate.

python -m projects.hetumoe.reproduce
Scale vs the paper (systems paper: throughput on GPU clusters, trillion-scale): ~0.2M params on a 2-core CPU;
the quality comparison of gates at equal active params is ours, not a paper number.
"""
from configs.hetumoe.default import hetu_config
from lib.config import parse_arg


def get_config(arg=None):
    a = parse_arg(arg, gate="switch", a2a="none")
    c = hetu_config(a.gate, a.a2a, 300)
    c.data.source = "tinyshakespeare"
    c.model.num_layers, c.model.d_ff = 4, 256
    c.batch_size, c.warmup, c.eval_every, c.eval_batches, c.checkpoint_every = 32, 30, 50, 8, 100
    return c
