"""Reproduction at CPU scale: tinyshakespeare, 2-layer char LM (1 MoE layer, 8 experts), 150 steps per gate.

python -m projects.hetumoe.reproduce           # all gates (resumable) + results/hetumoe.json + README table
single run: python -m projects.hetumoe.main --config=configs/hetumoe/shakespeare.py:gate=base --workdir=runs/hb
Equal active expert parameters and FLOPs per token: experts of width 256 / k (default.py).
Scale vs the paper (a systems paper: throughput of trillion-scale MoE on GPU clusters): ~0.1M params,
150 x 16 x 64 = 154k characters per gate on a 2-core CPU shared with ~6 other jobs; the quality comparison of
the gates is ours, the paper reports none at this scale.
"""
from configs.hetumoe.default import hetu_config
from lib.config import parse_arg


def get_config(arg=None):
    a = parse_arg(arg, gate="switch", a2a="none", steps=150)  # steps=1000: results/hetumoe_1000.json
    c = hetu_config(a.gate, a.a2a, a.steps)
    c.data.source = "tinyshakespeare"
    c.model.num_layers, c.model.d_ff = 2, 256
    c.batch_size, c.warmup, c.eval_every, c.eval_batches, c.checkpoint_every = 16, 15, 15, 4, 50
    if a.steps > 150:
        c.eval_every, c.checkpoint_every = 25, 100
    c.log_every = 10
    return c
